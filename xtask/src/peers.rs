//! The allocators `cargo xtask bench` compares (BENCHMARKS.md, "Peers"):
//! the system allocator, hakmem (the freshly built libhakmem.so), the Debian
//! packages of jemalloc, tcmalloc and mimalloc, `mimalloc-latest`, built
//! here from the C sources vendored in the crates.io package `libmimalloc-sys`,
//! and `snmalloc` and `rpmalloc`, built from the sources vendored in
//! `snmalloc-sys` and `rpmalloc-sys` ([`crate::peers_src`]).
//!
//! A peer that is not installed (or cannot be built) is skipped with the
//! reason and the command that fixes it; it is never replaced by something else.

use crate::json;
use crate::model::Allocator;
use crate::peers_src;
use crate::util::{self, Result};
use std::path::{Path, PathBuf};

/// Every allocator name `--alloc` accepts, in the order runs are interleaved.
pub const ALL: &[&str] =
    &["system", "hakmem", "jemalloc", "tcmalloc", "mimalloc", "mimalloc-latest", "snmalloc", "rpmalloc"];

/// `(name, library, Debian package)` of the peers loaded from Debian packages.
pub const DEBIAN: &[(&str, &str, &str)] = &[
    ("jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "libjemalloc2"),
    ("tcmalloc", "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"),
    ("mimalloc", "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2", "libmimalloc2.0"),
];

/// What installs every Debian peer.
pub const INSTALL: &str = "apt-get install -y libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0";

/// An allocator that was asked for but cannot be run.
pub struct Skipped {
    pub name: String,
    pub reason: String,
}

/// The allocators named in `names` (system always first: it is the baseline
/// of every ratio), in the canonical order, and those skipped.
pub fn resolve(names: &[String], hakmem_so: &Path) -> (Vec<Allocator>, Vec<Skipped>) {
    let mut allocs = Vec::new();
    let mut skipped = Vec::new();
    for &name in ALL {
        if name != "system" && !names.iter().any(|n| n == name) {
            continue;
        }
        match name {
            "system" => {
                let mut a = Allocator::system();
                let glibc = util::output_of("getconf", ["GNU_LIBC_VERSION"])
                    .unwrap_or_else(|| "glibc (version unknown)".into());
                a.info.push(("library", format!("the C library's malloc ({glibc})")));
                if let Some(v) = crate::sysinfo::dpkg_version("libc6") {
                    a.info.push(("package", "libc6".into()));
                    a.info.push(("package_version", v));
                }
                allocs.push(a);
            }
            "hakmem" => {
                allocs.push(Allocator::preloaded("hakmem", hakmem_so.to_path_buf()));
            }
            "mimalloc-latest" => match build_mimalloc_latest() {
                Ok((so, info)) => {
                    let mut a = Allocator::preloaded(name, so);
                    a.info = info;
                    allocs.push(a);
                }
                Err(e) => skipped.push(Skipped {
                    name: name.into(),
                    reason: format!("cannot build it from the crates.io package libmimalloc-sys: {e}"),
                }),
            },
            "snmalloc" | "rpmalloc" => {
                let (built, package) = if name == "snmalloc" {
                    (peers_src::build_snmalloc(), peers_src::SNMALLOC_SYS)
                } else {
                    (peers_src::build_rpmalloc(), peers_src::RPMALLOC_SYS)
                };
                match built {
                    Ok((so, info)) => {
                        let mut a = Allocator::preloaded(name, so);
                        a.info = info;
                        allocs.push(a);
                    }
                    Err(e) => skipped.push(Skipped {
                        name: name.into(),
                        reason: format!("cannot build it from the crates.io package {} {}: {e}", package.0, package.1),
                    }),
                }
            }
            _ => {
                let &(_, lib, package) =
                    DEBIAN.iter().find(|(n, _, _)| *n == name).expect("every peer of ALL is handled");
                if Path::new(lib).is_file() {
                    let mut a = Allocator::preloaded(name, lib.into());
                    let version = crate::sysinfo::dpkg_version(package);
                    a.info.push(("package", package.into()));
                    a.info.push((
                        "package_version",
                        version.unwrap_or_else(|| "unknown (not installed by dpkg?)".into()),
                    ));
                    allocs.push(a);
                } else {
                    skipped.push(Skipped {
                        name: name.into(),
                        reason: format!(
                            "{lib} is not installed (Debian package {package}); install the peers with: {INSTALL}"
                        ),
                    });
                }
            }
        }
    }
    (allocs, skipped)
}

/// Where the vendored mimalloc of `libmimalloc-sys` is.
#[derive(Debug)]
pub struct MimallocSource {
    /// Version of the crates.io package libmimalloc-sys.
    pub crate_version: String,
    /// The mimalloc tree (with include/ and src/static.c).
    pub dir: PathBuf,
    /// MI_MALLOC_VERSION from include/mimalloc.h, e.g. "30302" (3.3.2).
    pub mi_version: String,
}

/// Find the source with `cargo metadata` (which downloads the package, a
/// dev-dependency of hakmem-benches via `mimalloc`, if it is not in the cargo
/// registry yet).
pub fn locate_mimalloc_source() -> Result<MimallocSource> {
    let mut cmd = util::cargo();
    cmd.args(["metadata", "--format-version", "1", "--quiet"]);
    let out = cmd.output().map_err(|e| format!("cannot run `{}`: {e}", util::display_cmd(&cmd)))?;
    if !out.status.success() {
        return Err(format!(
            "`{}` failed (no network to crates.io?):\n{}",
            util::display_cmd(&cmd),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let meta = String::from_utf8_lossy(&out.stdout);
    mimalloc_source_from_metadata(&meta)
}

fn mimalloc_source_from_metadata(meta: &str) -> Result<MimallocSource> {
    // A package object starts with "name" then "version"; a dependency entry
    // of another package has "name" then "source"/"req".
    let at = meta
        .find(r#""name":"libmimalloc-sys","version":""#)
        .ok_or("package libmimalloc-sys is not in `cargo metadata` (it comes with the `mimalloc` dev-dependency of benches/Cargo.toml)")?;
    let crate_version =
        json::string_field_after(meta, at, "version").ok_or("no version for libmimalloc-sys in cargo metadata")?;
    let manifest = json::string_field_after(meta, at, "manifest_path")
        .ok_or("no manifest_path for libmimalloc-sys in cargo metadata")?;
    let root = Path::new(&manifest).parent().ok_or("bad manifest_path")?.join("c_src").join("mimalloc");
    // libmimalloc-sys >= 0.1.44 vendors v2 and v3 (its default); older ones one tree.
    let dir = [root.join("v3"), root.clone()]
        .into_iter()
        .find(|d| d.join("src").join("static.c").is_file())
        .ok_or_else(|| format!("no src/static.c under {}", root.display()))?;
    let header = std::fs::read_to_string(dir.join("include").join("mimalloc.h"))
        .map_err(|e| format!("{}: {e}", dir.join("include/mimalloc.h").display()))?;
    let mi_version = header
        .lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("#define MI_MALLOC_VERSION")?;
            rest.split_whitespace().next().map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into());
    Ok(MimallocSource { crate_version, dir, mi_version })
}

/// "30302" -> "3.3.2", "209" -> "2.0.9".
pub fn mi_version_dotted(v: &str) -> String {
    match v.parse::<u32>() {
        Ok(n) if n >= 10000 => format!("{}.{}.{}", n / 10000, (n / 100) % 100, n % 100),
        Ok(n) if n >= 100 => format!("{}.{}.{}", n / 100, (n / 10) % 10, n % 10),
        _ => v.to_string(),
    }
}

/// Build (or reuse) `target/bench-bin/libmimalloc-latest.so` with one `cc`
/// call on mimalloc's `src/static.c`; rebuilt when the source tree (hence the
/// crate version) or the command changes. Returns the library and its record.
pub fn build_mimalloc_latest() -> Result<(PathBuf, Vec<(&'static str, String)>)> {
    let src = locate_mimalloc_source()?;
    let cc = crate::cbuild::compiler();
    let args = [
        "-O3",
        "-DNDEBUG",
        "-DMI_MALLOC_OVERRIDE",
        "-shared",
        "-fPIC",
        "-I",
        "include",
        "-pthread",
        "src/static.c",
        "-o",
    ];
    let (so, recorded) = peers_src::build_library("mimalloc-latest", &cc, &src.dir, &args)?;
    let info = vec![
        (
            "source",
            format!(
                "mimalloc vendored in the crates.io package libmimalloc-sys (MI_MALLOC_VERSION {})",
                src.mi_version
            ),
        ),
        ("libmimalloc_sys_version", src.crate_version.clone()),
        ("mimalloc_version", mi_version_dotted(&src.mi_version)),
        ("build", recorded),
    ];
    Ok((so, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(mi_version_dotted("30302"), "3.3.2");
        assert_eq!(mi_version_dotted("20302"), "2.3.2");
        assert_eq!(mi_version_dotted("209"), "2.0.9");
        assert_eq!(mi_version_dotted("x"), "x");
    }

    #[test]
    fn metadata_without_the_crate_is_an_error() {
        let e = mimalloc_source_from_metadata(
            r#"{"packages":[{"name":"mimalloc","dependencies":[{"name":"libmimalloc-sys","source":"x"}]}]}"#,
        )
        .unwrap_err();
        assert!(e.contains("not in `cargo metadata`"), "{e}");
    }

    #[test]
    fn every_peer_is_named_in_all() {
        for (n, lib, _) in DEBIAN {
            assert!(ALL.contains(n));
            assert!(lib.starts_with("/usr/lib/x86_64-linux-gnu/"));
        }
    }
}
