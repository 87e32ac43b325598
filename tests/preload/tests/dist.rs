//! The `cargo xtask dist` tree (`target/dist/`) as a C project uses it:
//! `c/dist_link.c` is built with `pkg-config --cflags --libs hakmem`
//! against the shared library and, with `pkg-config --static`, against the
//! static one, and without hakmem to run under `LD_PRELOAD` of the tree's
//! library. Each run must find every block it allocates owned by hakmem
//! (`hak_owns`), the version of this source tree, and the library it was
//! meant to use.
//!
//! The tree is built by running `cargo xtask dist` once per test process
//! (fast when the release build is current), or taken from `HAKMEM_DIST`
//! when that names one. Without `pkg-config` the tests are skipped with a
//! message, except under CI (`CI` set), where they fail: `.ci/run` installs
//! it.

use hakmem_preload_tests::{c_dir, fresh_dir, require_tool, scratch_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The tree's shared library as the loader finds it (its SONAME).
fn soname() -> String {
    let mut v = env!("CARGO_PKG_VERSION").split('.');
    match (v.next(), v.next()) {
        (Some("0"), Some(minor)) => format!("libhakmem.so.0.{minor}"),
        (Some(major), _) => format!("libhakmem.so.{major}"),
        _ => unreachable!("a package version has a major number"),
    }
}

/// `pkg-config`, or `None` (skip) outside CI when it is not installed.
fn pkg_config() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("pkg-config")).find(|c| c.is_file()))
        .unwrap_or_default();
    if found.is_none() && std::env::var_os("CI").is_none_or(|v| v.is_empty()) {
        eprintln!(
            "SKIPPED: pkg-config is not installed (apt-get install pkg-config); \
             under CI (CI set) this test fails instead"
        );
        return None;
    }
    Some(found.unwrap_or_else(|| require_tool("pkg-config", "pkg-config")))
}

/// The dist tree: `$HAKMEM_DIST`, or built now by `cargo xtask dist`.
fn dist() -> PathBuf {
    static DIST: OnceLock<PathBuf> = OnceLock::new();
    DIST.get_or_init(|| {
        if let Some(d) = std::env::var_os("HAKMEM_DIST").filter(|d| !d.is_empty()) {
            return PathBuf::from(d);
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        // The target directory of this test run (scratch_root's parent).
        let target = scratch_root().parent().expect("scratch root is in the target dir").to_path_buf();
        let out = Command::new(cargo)
            .args(["run", "--quiet", "--package", "xtask", "--", "dist"])
            .current_dir(&root)
            .env("CARGO_TARGET_DIR", &target)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo xtask dist");
        assert!(out.status.success(), "`cargo xtask dist` failed: {}", out.status);
        let path = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
        let dist = PathBuf::from(path);
        assert!(dist.join("lib").is_dir(), "`cargo xtask dist` printed no tree: {}", dist.display());
        dist
    })
    .clone()
}

/// `pkg-config ARGS hakmem` against the `.pc` file of `dist`, split into words.
fn pkg(pkg_config: &Path, dist: &Path, args: &[&str]) -> Vec<String> {
    let out = Command::new(pkg_config)
        .args(args)
        .arg("hakmem")
        .env("PKG_CONFIG_PATH", dist.join("lib/pkgconfig"))
        .output()
        .expect("run pkg-config");
    assert!(out.status.success(), "pkg-config {args:?} hakmem failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect()
}

/// Compiles `c/dist_link.c` into `dir/name` with `cc -O2 -Wall` plus
/// `before` (flags) and `after` (libraries, after the source).
fn build(dir: &Path, name: &str, before: &[String], after: &[String]) -> PathBuf {
    let cc = require_tool("cc", "gcc");
    let bin = dir.join(name);
    let out = Command::new(cc)
        .args(["-std=gnu11", "-O2", "-Wall", "-Werror", "-I"])
        .arg(c_dir())
        .args(before)
        .arg(c_dir().join("dist_link.c"))
        .args(after)
        .arg("-ldl")
        .arg("-o")
        .arg(&bin)
        .output()
        .expect("run cc");
    assert!(
        out.status.success(),
        "compiling dist_link.c ({name}) with {before:?} ... {after:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// Runs `bin` with `env` (and no `LD_PRELOAD` or `LD_LIBRARY_PATH` of ours
/// otherwise); returns its output.
fn run(bin: &Path, env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(bin);
    cmd.env_remove("LD_PRELOAD").env_remove("LD_LIBRARY_PATH").stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the dist test program")
}

/// Asserts a successful run of this tree's version; returns the `lib` line
/// (the object that defines `hak_version`).
fn assert_ok(what: &str, out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report =
        format!("{what}: {}\nstdout:\n{stdout}\nstderr:\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.lines().last() == Some("OK"), "{report}");
    let version = format!("version {}", env!("CARGO_PKG_VERSION"));
    assert!(stdout.lines().any(|l| l == version), "expected `{version}`: {report}");
    stdout.lines().find_map(|l| l.strip_prefix("lib ")).unwrap_or_default().to_string()
}

/// Linked with `pkg-config --cflags --libs hakmem`: the program records the
/// SONAME, runs with `LD_LIBRARY_PATH` on the tree, and its blocks are
/// hakmem's; so it does from a copy of the tree elsewhere (the `.pc` file
/// is relocatable); without the library path it does not start.
#[test]
fn links_against_the_shared_library_with_pkg_config() {
    let Some(pc) = pkg_config() else { return };
    let dist = dist();
    let dir = fresh_dir("dist-shared");
    let libs = pkg(&pc, &dist, &["--libs"]);
    assert!(libs.iter().any(|w| w == "-lhakmem"), "pkg-config --libs hakmem: {libs:?}");
    let bin = build(&dir, "shared", &pkg(&pc, &dist, &["--cflags"]), &libs);
    let lib = assert_ok("shared", &run(&bin, &[("LD_LIBRARY_PATH", &dist.join("lib"))]));
    assert_eq!(Path::new(&lib), dist.join("lib").join(soname()), "hak_version came from elsewhere");

    let without = run(&bin, &[]);
    assert!(!without.status.success(), "the program started without libhakmem on the library path");
    assert!(String::from_utf8_lossy(&without.stderr).contains(&soname()), "the loader did not look for the SONAME");

    // A copy of the tree: pkg-config's paths follow it.
    let moved = dir.join("moved");
    let status = Command::new("cp").arg("-a").arg(&dist).arg(&moved).status().expect("run cp");
    assert!(status.success(), "cp -a {} failed", dist.display());
    let cflags = pkg(&pc, &moved, &["--cflags"]);
    assert!(
        cflags.iter().all(|w| !w.contains(&*dist.to_string_lossy())),
        "the .pc file names its old place: {cflags:?}"
    );
    let bin = build(&dir, "from-copy", &cflags, &pkg(&pc, &moved, &["--libs"]));
    let lib = assert_ok("from-copy", &run(&bin, &[("LD_LIBRARY_PATH", &moved.join("lib"))]));
    assert_eq!(Path::new(&lib), moved.join("lib").join(soname()));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Linked with `pkg-config --static --libs hakmem`, `-lhakmem` naming the
/// archive (`-l:libhakmem.a`, as the tree's README shows): hakmem is part of
/// the executable, which needs no library path.
#[test]
fn links_against_the_static_library_with_pkg_config() {
    let Some(pc) = pkg_config() else { return };
    let dist = dist();
    let dir = fresh_dir("dist-static");
    let libs: Vec<String> = pkg(&pc, &dist, &["--static", "--libs"])
        .into_iter()
        .map(|w| if w == "-lhakmem" { "-l:libhakmem.a".to_string() } else { w })
        .collect();
    assert!(libs.iter().any(|w| w == "-l:libhakmem.a"), "pkg-config --static --libs hakmem: {libs:?}");
    let bin = build(&dir, "static", &pkg(&pc, &dist, &["--cflags"]), &libs);
    let lib = assert_ok("static", &run(&bin, &[]));
    assert_eq!(Path::new(&lib), bin, "hak_version is not in the executable itself");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A program built without hakmem runs on it with `LD_PRELOAD` of the
/// tree's `lib/libhakmem.so`, and does not without it.
#[test]
fn preloads_the_shared_library() {
    let Some(_) = pkg_config() else { return };
    let dist = dist();
    let dir = fresh_dir("dist-preload");
    let bin = build(&dir, "plain", &["-DDIST_PRELOAD".to_string()], &[]);
    let so = dist.join("lib/libhakmem.so");
    let lib = assert_ok("preloaded", &run(&bin, &[("LD_PRELOAD", &so)]));
    assert_eq!(Path::new(&lib), so, "hak_version came from elsewhere");
    let plain = run(&bin, &[]);
    assert!(
        !plain.status.success() && String::from_utf8_lossy(&plain.stdout).contains("not preloaded"),
        "without LD_PRELOAD the program should find no hakmem: {plain:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
