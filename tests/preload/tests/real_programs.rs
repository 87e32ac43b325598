//! Real programs under `LD_PRELOAD=libhakmem.so`: each runs twice, without
//! and with the preload, in fresh directories, and must print exactly the
//! same stdout and exit with the same status. A missing tool fails the test
//! with the Debian package to install; nothing is skipped.

use hakmem_preload_tests::{compare_with_and_without_preload, deterministic_env, require_tool, write_file};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const PROGRAMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/programs");

fn program(name: &str) -> PathBuf {
    Path::new(PROGRAMS).join(name)
}

fn copy_program(dir: &Path, name: &str, as_name: &str) {
    let text = std::fs::read(program(name)).unwrap_or_else(|e| panic!("read {name}: {e}"));
    write_file(dir, as_name, text);
}

/// CPython running a script with threads (a worker pool and a
/// producer/consumer queue), subprocesses (child interpreters, `sort`,
/// `Popen` pipes), large dicts and strings, json, re, hashlib.
#[test]
fn python3_threads_subprocess_dicts() {
    let python = require_tool("python3", "python3");
    require_tool("sort", "coreutils");
    let c = compare_with_and_without_preload(
        "python3",
        |dir| copy_program(dir, "workload.py", "workload.py"),
        |_| {
            let mut cmd = Command::new(&python);
            cmd.arg("workload.py").env("PYTHONHASHSEED", "0").env("PYTHONDONTWRITEBYTECODE", "1");
            deterministic_env(&mut cmd);
            cmd
        },
        Duration::from_secs(180),
    );
    assert!(c.preload.0.stdout_str().ends_with("done\n"), "{}", c.preload.0.report());
}

/// git: init, 60 files, commits, branch, merge, log/diff/blame/show,
/// repack, fsck, tag — fixed identities and dates, so every hash matches.
#[test]
fn git_repository_workflow() {
    let sh = require_tool("sh", "dash");
    require_tool("git", "git");
    require_tool("sed", "sed");
    let c = compare_with_and_without_preload(
        "git",
        |dir| copy_program(dir, "git.sh", "git.sh"),
        |_| {
            let mut cmd = Command::new(&sh);
            cmd.arg("git.sh");
            deterministic_env(&mut cmd);
            cmd
        },
        Duration::from_secs(180),
    );
    assert!(c.preload.0.stdout_str().ends_with("git done\n"), "{}", c.preload.0.report());
}

/// gcc (driver, cc1, as, collect2, ld all preloaded) compiles a C program,
/// which then runs; the output and the produced executable are identical.
#[test]
fn gcc_compiles_and_runs_a_program() {
    let sh = require_tool("sh", "dash");
    require_tool("gcc", "gcc");
    let c = compare_with_and_without_preload(
        "gcc",
        |dir| copy_program(dir, "prog.c", "prog.c"),
        |_| {
            let mut cmd = Command::new(&sh);
            cmd.args(["-c", "gcc -O2 -Wall -o prog prog.c && ./prog"]);
            deterministic_env(&mut cmd);
            cmd
        },
        Duration::from_secs(180),
    );
    assert!(c.preload.0.stdout_str().ends_with("done\n"), "{}", c.preload.0.report());
    let a = std::fs::read(c.plain.1.join("prog")).expect("plain prog");
    let b = std::fs::read(c.preload.1.join("prog")).expect("preloaded prog");
    assert!(a == b, "gcc produced a different executable under LD_PRELOAD ({} vs {} bytes)", a.len(), b.len());
}

/// `cargo build` (cargo and rustc preloaded) of a small generated crate,
/// offline and without dependencies, in its own target directory; the exit
/// code of cargo and the output of the built program are compared.
#[test]
fn cargo_builds_a_crate() {
    let sh = require_tool("sh", "dash");
    let cargo = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .unwrap_or_else(|| require_tool("cargo", "cargo"));
    let c = compare_with_and_without_preload(
        "cargo",
        |dir| {
            write_file(
                dir,
                "hello/Cargo.toml",
                "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [dependencies]\n\n# not part of any enclosing workspace\n[workspace]\n",
            );
            copy_program(dir, "hello_main.rs", "hello/src/main.rs");
        },
        |dir| {
            let mut cmd = Command::new(&sh);
            cmd.args([
                "-c",
                "cd hello && \"$HK_CARGO\" build --offline --quiet; echo \"cargo exit $?\"; \
                 ./target/debug/hello",
            ])
            .env("HK_CARGO", &cargo)
            .env("CARGO_TARGET_DIR", dir.join("hello/target"))
            .env("CARGO_TERM_COLOR", "never")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("CARGO_BUILD_RUSTC_WRAPPER");
            deterministic_env(&mut cmd);
            cmd
        },
        Duration::from_secs(300),
    );
    let out = c.preload.0.stdout_str();
    assert!(out.starts_with("cargo exit 0\n") && out.contains("btree "), "{}", c.preload.0.report());
}

/// perl: hashes of arrays, regex matching and substitution, numeric and
/// string sorts, large string building.
#[test]
fn perl_hashes_regex_sort() {
    let perl = require_tool("perl", "perl");
    let c = compare_with_and_without_preload(
        "perl",
        |dir| copy_program(dir, "workload.pl", "workload.pl"),
        |_| {
            let mut cmd = Command::new(&perl);
            cmd.arg("workload.pl").env("PERL_HASH_SEED", "0").env("PERL_PERTURB_KEYS", "0");
            deterministic_env(&mut cmd);
            cmd
        },
        Duration::from_secs(180),
    );
    assert!(c.preload.0.stdout_str().ends_with("done\n"), "{}", c.preload.0.report());
}

/// Deterministic 200,000-line input for `sort`.
fn sort_input() -> String {
    let words = ["apple", "pear", "fig", "kiwi", "plum", "lime", "date", "yuzu", "quince", "mango"];
    let mut x: u64 = 0x5EED;
    let mut s = String::with_capacity(200_000 * 32);
    for _ in 0..200_000 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let w = words[((x >> 33) % words.len() as u64) as usize];
        let n = (x >> 12) % 1_000_000;
        let tag = (x >> 50) % 5000;
        s.push_str(&format!("{w}{tag} {n} {}\n", "z".repeat(((x >> 5) % 12) as usize)));
    }
    s
}

/// GNU sort of a 200,000-line file: plain, by numeric key with a small
/// buffer (external merge through temporary files, 2 threads), and unique.
#[test]
fn sort_large_file() {
    let sh = require_tool("sh", "dash");
    require_tool("sort", "coreutils");
    let input = sort_input();
    let c = compare_with_and_without_preload(
        "sort",
        |dir| write_file(dir, "data.txt", &input),
        |dir| {
            let mut cmd = Command::new(&sh);
            cmd.args([
                "-c",
                "sort data.txt && echo '--' && \
                 sort -t ' ' -k2,2n -k1,1 -S 1M --parallel=2 -T \"$TMPDIR\" data.txt && echo '--' && \
                 sort -u -r data.txt | wc -l",
            ])
            .env("TMPDIR", dir);
            deterministic_env(&mut cmd);
            cmd
        },
        Duration::from_secs(180),
    );
    let lines = c.preload.0.stdout_str().lines().count();
    assert!(lines >= 400_000, "sort printed only {lines} lines: {}", c.preload.0.report());
}
