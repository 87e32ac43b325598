//! What hakmem reports: invalid frees abort with a message, statistics on
//! request.

use hakmem_preload_tests::{compile_c, fresh_dir, run, Preload, Run};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn run_preloaded(name: &str, env: &[(&str, &str)]) -> Run {
    let bin = compile_c(name);
    let dir = fresh_dir(name);
    let mut cmd = Command::new(bin);
    cmd.current_dir(&dir);
    cmd.env_remove("HAKMEM_STATS").env_remove("HAKMEM_VERBOSE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    // The aborting programs must not leave core files behind.
    // SAFETY: setrlimit is async-signal-safe; the closure touches no memory
    // shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &zero);
            Ok(())
        });
    }
    let r = run(cmd, Preload::Yes, T);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

fn assert_aborts_with(r: &Run, message: &str) {
    assert!(!r.stdout_str().contains("survived"), "free() returned instead of aborting: {}", r.report());
    assert_eq!(r.signal(), Some(libc::SIGABRT), "expected the process to abort (SIGABRT): {}", r.report());
    assert!(r.stderr_str().contains(message), "expected {message:?} on stderr: {}", r.report());
}

/// `free()` of a pointer into a stack array aborts with
/// "hakmem: free(): invalid pointer" on stderr.
#[test]
fn free_of_foreign_pointer_aborts() {
    let r = run_preloaded("foreign", &[]);
    assert_aborts_with(&r, "hakmem: free(): invalid pointer");
}

/// A double free of an 8 MiB block is detected: SIGABRT and a "hakmem:"
/// message on stderr (not a silent corruption, not a segfault).
#[test]
fn double_free_of_big_block_aborts() {
    let r = run_preloaded("doublefree", &[]);
    assert!(r.stdout_str().contains("first free done"), "the first free failed: {}", r.report());
    assert_aborts_with(&r, "hakmem:");
}

/// A double free from a thread that does not own the block aborts with a
/// "hakmem:" message (it used to loop forever in the owner's collection of
/// the remote list, which the second push had turned into a cycle).
#[test]
fn remote_double_free_aborts() {
    let r = run_preloaded("doublefree_remote", &[]);
    assert!(r.stdout_str().contains("first free done"), "the first free failed: {}", r.report());
    assert_aborts_with(&r, "hakmem: free(): double free");
}

/// A second free of a block whose page already went back to the tier (all
/// its blocks freed) aborts instead of cutting the free list that the
/// released page keeps for its next owner.
#[test]
fn double_free_into_a_released_page_aborts() {
    let r = run_preloaded("doublefree_released", &[]);
    assert!(r.stdout_str().contains("first free done"), "the first frees failed: {}", r.report());
    assert_aborts_with(&r, "hakmem: free(): double free");
}

/// Second frees around the thread cache abort: a repeated free that finds
/// the bin just filled by the first one, and a block whose page went back
/// to the tier while the bin has room again. A block deeper in a bin
/// (`free(p); free(q); free(p)`) is only found with the cache off
/// (`HAKMEM_THREAD_CACHE_KB=0`, the page paths' checks), as in jemalloc and
/// tcmalloc, whose thread caches do not look either.
#[test]
fn double_frees_through_the_thread_cache_abort() {
    for (mode, env) in [("fullbin", None), ("released", None), ("aba", Some(("HAKMEM_THREAD_CACHE_KB", "0")))] {
        let mut vars = vec![("MODE", mode)];
        vars.extend(env);
        let r = run_preloaded("doublefree_cached", &vars);
        assert!(r.stdout_str().contains("first free done"), "{mode}: the first frees failed: {}", r.report());
        assert_aborts_with(&r, "hakmem: free(): double free");
    }
}

/// Statistics still reach the terminal when the program closes stderr in an
/// exit handler that runs before hakmem's (GNU coreutils do).
#[test]
fn stats_survive_a_closed_stderr() {
    let r = run_preloaded("stats_closed_stderr", &[("HAKMEM_STATS", "1")]);
    assert!(r.status.success(), "{}", r.report());
    assert!(r.stderr_str().contains("hakmem: tier tiny:"), "no statistics: {}", r.report());
}

/// `HAKMEM_STATS=1` makes a program print hakmem's counters on stderr at
/// exit (lines starting with "hakmem:"), without changing its stdout or exit
/// status.
#[test]
fn stats_printed_at_exit() {
    let r = run_preloaded("stats", &[("HAKMEM_STATS", "1")]);
    r.assert_success();
    assert_eq!(r.stdout_str(), "OK\n", "stdout changed: {}", r.report());
    let stderr = r.stderr_str();
    let lines = stderr.lines().filter(|l| l.starts_with("hakmem:")).count();
    assert!(lines > 0, "no `hakmem:` statistics lines on stderr with HAKMEM_STATS=1: {}", r.report());
}

/// Without `HAKMEM_STATS` a program's stderr stays clean.
#[test]
fn no_stats_without_request() {
    let r = run_preloaded("stats", &[]);
    r.assert_success();
    assert!(!r.stderr_str().contains("hakmem:"), "hakmem printed to stderr without being asked: {}", r.report());
}
