//! `dist`: the installable tree in `target/dist/`, and the CI checks of the
//! tier crates' embedding material (examples, criterion benches).
//!
//! `target/dist/` holds what a C or C++ project needs:
//!
//! ```text
//! lib/libhakmem.so.0.1        the shared library, SONAME libhakmem.so.0.1
//! lib/libhakmem.so            -> libhakmem.so.0.1 (for -lhakmem and LD_PRELOAD)
//! lib/libhakmem.a             the static library
//! lib/pkgconfig/hakmem.pc     pkg-config file, relocatable (${pcfiledir})
//! include/hakmem.h            the C header (crates/hak-ffi/include/hakmem.h)
//! README.md                   how to link, how to preload
//! ```
//!
//! The libraries are built in the release profile by `cargo rustc` in their
//! own target directory (`target/dist-build`), with the SONAME as an extra
//! link argument: `target/release/libhakmem.so`, which `build-preload`
//! and the tests use, is left alone (same code; it has no SONAME).
//! `tests/preload/tests/dist.rs` builds a C program against the tree with
//! `pkg-config --cflags --libs hakmem`, dynamically and statically.

use crate::util::{self, Result};
use std::path::{Path, PathBuf};

/// The tier crates whose examples run and whose benches compile in CI.
const TIER_EXAMPLES: &[(&str, &str)] =
    &[("hak-tiny", "tiny_global"), ("hak-pool", "io_buffers"), ("hak-bigcache", "big_global")];

/// Runs every tier crate's example (`cargo run -p CRATE --example NAME`:
/// each asserts what it shows) and compiles the tier crates' criterion
/// benches (`cargo bench --no-run`). Part of `cargo xtask test`.
pub fn embedding_checks() -> Result<()> {
    for (krate, example) in TIER_EXAMPLES {
        println!("--> example: cargo run -p {krate} --example {example}");
        let mut cmd = util::cargo();
        cmd.args(["run", "-q", "-p", krate, "--example", example]);
        util::run(&mut cmd)?;
    }
    println!("--> tier benches compile: cargo bench --no-run -p hak-tiny -p hak-pool -p hak-bigcache");
    let mut cmd = util::cargo();
    cmd.args(["bench", "--no-run"]);
    for (krate, _) in TIER_EXAMPLES {
        cmd.args(["-p", krate]);
    }
    util::run(&mut cmd)
}

/// The SONAME of a library of version `version`: `libhakmem.so.MAJOR`, or
/// `libhakmem.so.0.MINOR` before 1.0 (where a minor release may change
/// the ABI).
fn soname(version: &str) -> String {
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or("0");
    let minor = parts.next().unwrap_or("0");
    if major == "0" {
        format!("libhakmem.so.0.{minor}")
    } else {
        format!("libhakmem.so.{major}")
    }
}

/// The pkg-config file: relocatable (paths relative to the file itself),
/// `Libs.private` from rustc's `native-static-libs` of the static library.
fn pc_file(version: &str, static_libs: &str) -> String {
    format!(
        "prefix=${{pcfiledir}}/../..\n\
         libdir=${{prefix}}/lib\n\
         includedir=${{prefix}}/include\n\
         \n\
         Name: hakmem\n\
         Description: hakmem, a general-purpose memory allocator (malloc, free, ... and the hak_* extensions)\n\
         Version: {version}\n\
         Libs: -L${{libdir}} -lhakmem\n\
         Libs.private: {static_libs}\n\
         Cflags: -I${{includedir}}\n"
    )
}

/// The README of the tree.
fn readme(version: &str, soname: &str, static_libs: &str) -> String {
    format!(
        "# hakmem {version}\n\
\n\
A general-purpose memory allocator with the C interface of glibc's malloc.\n\
\n\
```text\n\
lib/{soname}   shared library (SONAME {soname})\n\
lib/libhakmem.so -> {soname}\n\
lib/libhakmem.a   static library (needs: {static_libs})\n\
lib/pkgconfig/hakmem.pc\n\
include/hakmem.h  malloc & co. under hak_* names, and the extensions\n\
```\n\
\n\
Below, `DIST` is the absolute path of this directory.\n\
\n\
## Any program, without rebuilding it\n\
\n\
```sh\n\
LD_PRELOAD=$DIST/lib/libhakmem.so your-program args...\n\
HAKMEM_VERBOSE=1 LD_PRELOAD=$DIST/lib/libhakmem.so ls >/dev/null   # one `hakmem: mode=...` line: it is loaded\n\
```\n\
\n\
Statically linked programs and setuid programs ignore `LD_PRELOAD`.\n\
\n\
## Linking against it\n\
\n\
```sh\n\
export PKG_CONFIG_PATH=$DIST/lib/pkgconfig\n\
cc prog.c $(pkg-config --cflags --libs hakmem) -o prog\n\
LD_LIBRARY_PATH=$DIST/lib ./prog        # or link with -Wl,-rpath,$DIST/lib\n\
```\n\
\n\
Every `malloc`, `free`, `calloc`, `realloc`, ... of the program (and of the\n\
libraries it loads) then goes to hakmem. `#include <hakmem.h>` declares the\n\
extensions: `hak_version()`, `hak_owns(p)` (1 if hakmem allocated `p`),\n\
`hak_thread_flush()`, `hak_print_stats()`.\n\
\n\
Statically (the archive, not the shared library, for `-lhakmem`):\n\
\n\
```sh\n\
cc prog.c $(pkg-config --cflags hakmem) \\\n\
   $(pkg-config --static --libs hakmem | sed 's/-lhakmem/-l:libhakmem.a/') -o prog\n\
```\n\
\n\
The `pkgconfig` file is relocatable: the tree can be copied anywhere.\n\
\n\
## Configuration\n\
\n\
`HAKMEM_*` environment variables, read once at start: see docs/tuning.md\n\
in the source tree; docs/troubleshooting.md explains every message hakmem\n\
prints.\n"
    )
}

/// Builds the libraries into `target/dist-build` with the SONAME; returns
/// the release directory and the static library's native dependencies.
fn build(soname: &str) -> Result<(PathBuf, String)> {
    let build_dir = util::target_dir().join("dist-build");
    let mut cmd = util::cargo();
    cmd.args(["rustc", "--release", "-p", "hakmem-cdylib", "--lib", "--target-dir"]).arg(&build_dir).args([
        "--",
        "-C",
        &format!("link-arg=-Wl,-soname,{soname}"),
        "--print",
        "native-static-libs",
    ]);
    eprintln!("$ {}", util::display_cmd(&cmd));
    let out = cmd.output().map_err(|e| format!("cannot run `{}`: {e}", util::display_cmd(&cmd)))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    if !out.status.success() {
        return Err(format!("`{}` failed: {}", util::display_cmd(&cmd), util::describe_status(out.status)));
    }
    // rustc prints the note only when it links; keep it for the next runs.
    let saved = build_dir.join("native-static-libs.txt");
    let libs = match stderr.lines().find_map(|l| l.split_once("native-static-libs:").map(|(_, v)| v.trim())) {
        Some(libs) => {
            std::fs::write(&saved, libs).map_err(|e| format!("{}: {e}", saved.display()))?;
            libs.to_string()
        }
        None => std::fs::read_to_string(&saved).map(|s| s.trim().to_string()).map_err(|_| {
            format!(
                "rustc printed no native-static-libs and {} is missing: remove {} and run again",
                saved.display(),
                build_dir.display()
            )
        })?,
    };
    Ok((build_dir.join("release"), libs))
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to).map(|_| ()).map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Builds the tree; returns its absolute path.
pub fn dist() -> Result<PathBuf> {
    let version = env!("CARGO_PKG_VERSION");
    let soname = soname(version);
    let (release, static_libs) = build(&soname)?;
    let dist = util::target_dir().join("dist");
    if dist.exists() {
        std::fs::remove_dir_all(&dist).map_err(|e| format!("{}: {e}", dist.display()))?;
    }
    let (lib, include, pc) = (dist.join("lib"), dist.join("include"), dist.join("lib").join("pkgconfig"));
    for d in [&lib, &include, &pc] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    copy(&release.join("libhakmem.so"), &lib.join(&soname))?;
    std::os::unix::fs::symlink(&soname, lib.join("libhakmem.so")).map_err(|e| format!("symlink: {e}"))?;
    copy(&release.join("libhakmem.a"), &lib.join("libhakmem.a"))?;
    copy(&util::root().join("crates/hak-ffi/include/hakmem.h"), &include.join("hakmem.h"))?;
    write(&pc.join("hakmem.pc"), &pc_file(version, &static_libs))?;
    write(&dist.join("README.md"), &readme(version, &soname, &static_libs))?;
    dist.canonicalize().map_err(|e| format!("{}: {e}", dist.display()))
}

pub fn dist_cmd(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        return Err(format!("dist takes no arguments (got `{a}`)"));
    }
    let dist = dist()?;
    eprintln!("xtask: hakmem installed in {}", dist.display());
    println!("{}", dist.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soname_follows_the_abi_version() {
        assert_eq!(soname("0.1.0"), "libhakmem.so.0.1");
        assert_eq!(soname("0.2.7"), "libhakmem.so.0.2");
        assert_eq!(soname("1.4.2"), "libhakmem.so.1");
    }

    #[test]
    fn pc_file_is_relocatable() {
        let pc = pc_file("0.1.0", "-lc");
        assert!(pc.starts_with("prefix=${pcfiledir}/../..\n"));
        assert!(pc.contains("\nLibs: -L${libdir} -lhakmem\n"));
        assert!(pc.contains("\nLibs.private: -lc\n"));
        assert!(pc.contains("\nCflags: -I${includedir}\n"));
        assert!(!pc.contains("/target/"), "no absolute path in a relocatable file");
    }
}
