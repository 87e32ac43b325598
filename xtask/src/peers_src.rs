//! Peers built here from C/C++ sources vendored by crates.io packages
//! (BENCHMARKS.md, "Peers"): `snmalloc` from `snmalloc-sys` (its
//! `override/malloc.cc` and `new.cc`, C++20, as upstream's `snmallocshim`)
//! and `rpmalloc` from `rpmalloc-sys` (`rpmalloc.c` with `ENABLE_OVERRIDE` and
//! `ENABLE_PRELOAD`, as upstream's `rpmallocwrap`). `mimalloc-latest`
//! (peers.rs) is built by [`build_library`] too.
//!
//! The packages are fetched with `cargo metadata` on a throwaway manifest in
//! `target/bench-bin/peer-src/` that names exactly the versions below: they
//! are never dependencies of the workspace, so neither CI nor `cargo bench`
//! compiles them (and no C++ compiler is needed outside `cargo xtask bench`).
//! Each library is rebuilt when its command (hence the crate version, whose
//! path it names) changes.

use crate::json;
use crate::util::{self, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The crates.io package vendoring snmalloc, and its pinned version.
pub const SNMALLOC_SYS: (&str, &str) = ("snmalloc-sys", "0.7.6");
/// The crates.io package vendoring rpmalloc, and its pinned version.
pub const RPMALLOC_SYS: (&str, &str) = ("rpmalloc-sys", "0.2.3");

/// What a Debian machine needs to build the C++ peer (snmalloc).
pub const CXX_PACKAGE: &str = "g++";

/// A crate's unpacked source, as cargo downloaded it.
#[derive(Debug)]
pub struct CrateSource {
    /// The version cargo resolved (e.g. "0.2.3+b097fd0").
    pub version: String,
    /// The directory holding its Cargo.toml.
    pub dir: PathBuf,
}

/// The unpacked source of `package` (one of [`SNMALLOC_SYS`], [`RPMALLOC_SYS`]),
/// downloaded by `cargo metadata` on the throwaway manifest if needed.
pub fn fetch(package: (&str, &str)) -> Result<CrateSource> {
    let dir = util::target_dir().join("bench-bin").join("peer-src");
    std::fs::create_dir_all(dir.join("src")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let manifest = dir.join("Cargo.toml");
    let text = peer_manifest();
    if std::fs::read_to_string(&manifest).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&manifest, &text).map_err(|e| format!("{}: {e}", manifest.display()))?;
    }
    let lib = dir.join("src").join("lib.rs");
    if !lib.is_file() {
        std::fs::write(&lib, "").map_err(|e| format!("{}: {e}", lib.display()))?;
    }
    let mut cmd = util::cargo();
    cmd.args(["metadata", "--format-version", "1", "--quiet", "--manifest-path"]).arg(&manifest);
    let out = cmd.output().map_err(|e| format!("cannot run `{}`: {e}", util::display_cmd(&cmd)))?;
    if !out.status.success() {
        return Err(format!(
            "`{}` failed (no network to crates.io?):\n{}",
            util::display_cmd(&cmd),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    source_from_metadata(&String::from_utf8_lossy(&out.stdout), package.0)
}

/// The throwaway manifest: a package of its own workspace depending on
/// exactly the pinned versions (never built, only resolved).
fn peer_manifest() -> String {
    format!(
        "# Written by `cargo xtask bench` (xtask/src/peers_src.rs): resolved with `cargo metadata`\n\
         # to download the peers' vendored sources; never built.\n\
         [package]\nname = \"hakmem-bench-peer-sources\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\n{} = \"={}\"\n{} = \"={}\"\n\n[workspace]\n",
        SNMALLOC_SYS.0, SNMALLOC_SYS.1, RPMALLOC_SYS.0, RPMALLOC_SYS.1
    )
}

fn source_from_metadata(meta: &str, name: &str) -> Result<CrateSource> {
    // A package object starts with "name" then "version"; a dependency entry
    // of another package has "name" then "source"/"req".
    let at = meta
        .find(&format!(r#""name":"{name}","version":""#))
        .ok_or_else(|| format!("package {name} is not in `cargo metadata` of the peer manifest"))?;
    let version = json::string_field_after(meta, at, "version")
        .ok_or_else(|| format!("no version for {name} in cargo metadata"))?;
    let manifest = json::string_field_after(meta, at, "manifest_path")
        .ok_or_else(|| format!("no manifest_path for {name} in cargo metadata"))?;
    let dir = Path::new(&manifest).parent().ok_or("bad manifest_path")?.to_path_buf();
    Ok(CrateSource { version, dir })
}

/// `$CXX` or `c++`.
pub fn cxx_compiler() -> String {
    std::env::var("CXX").ok().filter(|c| !c.trim().is_empty()).unwrap_or_else(|| "c++".into())
}

/// Build (or reuse) `target/bench-bin/lib<name>.so` by running `compiler`
/// with `args` (which end with `-o`) in `dir`; the output file is appended.
/// Rebuilt when the library is missing or the recorded command differs.
/// Returns the library and the command, as a reader would type it.
pub fn build_library(name: &str, compiler: &str, dir: &Path, args: &[&str]) -> Result<(PathBuf, String)> {
    let out_dir = util::target_dir().join("bench-bin");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let so = out_dir.join(format!("lib{name}.so"));
    let stamp = out_dir.join(format!("lib{name}.so.cmd"));
    let tmp = out_dir.join(format!(".lib{name}.so.tmp"));
    let mut cmd = Command::new(compiler);
    cmd.args(args).arg(&tmp).current_dir(dir);
    let recorded = format!(
        "cd {} && {}",
        util::shell_quote(&dir.to_string_lossy()),
        util::display_cmd(&cmd).replace(&*tmp.to_string_lossy(), &so.to_string_lossy())
    );
    let fresh = so.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == recorded);
    if !fresh {
        eprintln!("building {name}: {recorded}");
        let out = cmd.output().map_err(|e| format!("cannot run `{compiler}`: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!("`{recorded}` failed:\n{}", tail.join("\n")));
        }
        std::fs::rename(&tmp, &so).map_err(|e| format!("{}: {e}", so.display()))?;
        std::fs::write(&stamp, format!("{recorded}\n")).map_err(|e| format!("{}: {e}", stamp.display()))?;
    }
    Ok((so, recorded))
}

/// Flags of upstream's `snmallocshim` target (CMakeLists.txt `compile()`,
/// Release, Linux x86-64, its default options): C++20, static TLS, hidden
/// visibility with the shim's symbols exported, thread cleanup through
/// glibc's `__cxa_thread_atexit_impl`, libstdc++ linked statically.
const SNMALLOC_ARGS: &[&str] = &[
    "-std=c++20",
    "-O3",
    "-DNDEBUG",
    "-fPIC",
    "-shared",
    "-pthread",
    "-fvisibility=hidden",
    "-fomit-frame-pointer",
    "-ffunction-sections",
    "-ftls-model=initial-exec",
    "-mcx16",
    "-mprfchw",
    "-DSNMALLOC_EXPORT=__attribute__((visibility(\"default\")))",
    "-DSNMALLOC_USE_CXX11_THREAD_ATEXIT_DIRECT",
    "-DSNMALLOC_CHECK_LOADS=false",
    "-DSNMALLOC_PAGEID=false",
    "-DSNMALLOC_USE_WAIT_ON_ADDRESS=1",
    "-DSNMALLOC_PLATFORM_HAS_GETENTROPY",
    "-DSNMALLOC_PTHREAD_ATFORK_WORKS",
    "-DSNMALLOC_HAS_LINUX_RANDOM_H",
    "-DSNMALLOC_HAS_LINUX_FUTEX_H",
    "-DSNMALLOC_NO_REALLOCARRAY",
    "-DSNMALLOC_NO_REALLOCARR",
    "-Isrc",
    "src/snmalloc/override/malloc.cc",
    "src/snmalloc/override/new.cc",
    "-static-libstdc++",
    "-o",
];

/// Build (or reuse) `target/bench-bin/libsnmalloc.so`; returns it and its record.
pub fn build_snmalloc() -> Result<(PathBuf, Vec<(&'static str, String)>)> {
    let cxx = cxx_compiler();
    if util::output_of(&cxx, ["--version"]).is_none() {
        return Err(format!("no C++ compiler `{cxx}` (set $CXX, or: apt-get install -y {CXX_PACKAGE})"));
    }
    let src = fetch(SNMALLOC_SYS)?;
    let upstream = src.dir.join("upstream");
    if !upstream.join("src/snmalloc/override/malloc.cc").is_file() {
        return Err(format!("no upstream/src/snmalloc/override/malloc.cc under {}", src.dir.display()));
    }
    let (so, build) = build_library("snmalloc", &cxx, &upstream, SNMALLOC_ARGS)?;
    let compiler = util::output_of(&cxx, ["--version"]).and_then(|v| v.lines().next().map(str::to_string));
    Ok((
        so,
        vec![
            (
                "source",
                "snmalloc vendored in the crates.io package snmalloc-sys (upstream/), the snmallocshim flags".into(),
            ),
            ("snmalloc_sys_version", src.version),
            ("compiler", compiler.unwrap_or_else(|| cxx.clone())),
            ("build", build),
        ],
    ))
}

/// Flags of upstream's `rpmallocwrap` shared library (configure.py), with
/// the optimisation of a release build.
const RPMALLOC_ARGS: &[&str] = &[
    "-O3",
    "-DNDEBUG",
    "-D_GNU_SOURCE",
    "-DENABLE_OVERRIDE=1",
    "-DENABLE_PRELOAD=1",
    "-fPIC",
    "-shared",
    "-pthread",
    "rpmalloc.c",
    "-ldl",
    "-o",
];

/// Build (or reuse) `target/bench-bin/librpmalloc.so`; returns it and its record.
pub fn build_rpmalloc() -> Result<(PathBuf, Vec<(&'static str, String)>)> {
    let src = fetch(RPMALLOC_SYS)?;
    let dir = src.dir.join("rpmalloc").join("rpmalloc");
    if !dir.join("rpmalloc.c").is_file() {
        return Err(format!("no rpmalloc/rpmalloc/rpmalloc.c under {}", src.dir.display()));
    }
    let cc = crate::cbuild::compiler();
    let (so, build) = build_library("rpmalloc", &cc, &dir, RPMALLOC_ARGS)?;
    let changelog = std::fs::read_to_string(src.dir.join("rpmalloc").join("CHANGELOG")).unwrap_or_default();
    Ok((
        so,
        vec![
            ("source", "rpmalloc vendored in the crates.io package rpmalloc-sys (rpmalloc/rpmalloc/rpmalloc.c), the rpmallocwrap flags".into()),
            ("rpmalloc_sys_version", src.version.clone()),
            ("rpmalloc_version", rpmalloc_version(&changelog, &src.version)),
            ("build", build),
        ],
    ))
}

/// "1.4.3 (latest CHANGELOG entry; upstream commit b097fd0)" from the
/// vendored CHANGELOG and the crate's build metadata (`0.2.3+b097fd0`).
fn rpmalloc_version(changelog: &str, crate_version: &str) -> String {
    let latest = changelog.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("unknown");
    match crate_version.split_once('+') {
        Some((_, commit)) => format!("{latest} (latest CHANGELOG entry; upstream commit {commit})"),
        None => format!("{latest} (latest CHANGELOG entry)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_pins_both_crates_in_a_workspace_of_its_own() {
        let m = peer_manifest();
        assert!(m.contains("snmalloc-sys = \"=0.7.6\""), "{m}");
        assert!(m.contains("rpmalloc-sys = \"=0.2.3\""), "{m}");
        assert!(m.trim_end().ends_with("[workspace]"), "{m}");
    }

    #[test]
    fn sources_are_found_in_metadata() {
        let meta = r#"{"packages":[{"name":"x","dependencies":[{"name":"rpmalloc-sys","source":"s","req":"=0.2.3"}]},{"name":"rpmalloc-sys","version":"0.2.3+b097fd0","id":"i","manifest_path":"/r/rpmalloc-sys-0.2.3/Cargo.toml"}]}"#;
        let s = source_from_metadata(meta, "rpmalloc-sys").unwrap();
        assert_eq!(s.version, "0.2.3+b097fd0");
        assert_eq!(s.dir, Path::new("/r/rpmalloc-sys-0.2.3"));
        assert!(source_from_metadata(meta, "snmalloc-sys").unwrap_err().contains("not in `cargo metadata`"));
    }

    #[test]
    fn rpmalloc_version_names_changelog_and_commit() {
        assert_eq!(
            rpmalloc_version("1.4.3\n\nFixed...\n", "0.2.3+b097fd0"),
            "1.4.3 (latest CHANGELOG entry; upstream commit b097fd0)"
        );
        assert_eq!(rpmalloc_version("", "0.2.3"), "unknown (latest CHANGELOG entry)");
    }
}
