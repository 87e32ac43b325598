//! Multi-threaded C programs under `LD_PRELOAD`.

use hakmem_preload_tests::run_c_ok;
use std::time::Duration;

/// 8 threads exchange blocks (1 B .. 2 MiB) through a mutex-protected queue;
/// each block carries a pattern derived from its address and size, checked
/// by the receiving thread (which sometimes reallocs it) before it is freed.
#[test]
fn eight_threads_exchange_blocks() {
    let r = run_c_ok("threads_queue", &[], Duration::from_secs(120));
    eprintln!("{}", r.stdout_str());
}

/// 2000 short-lived threads (4 at a time) allocate, free, hand one block to
/// the main thread and exit: RSS after all of them minus RSS after the first
/// 100 stays below 64 MiB (memory of exited threads is reused).
#[test]
fn short_lived_threads_do_not_leak() {
    let r = run_c_ok("threads_churn", &[], Duration::from_secs(120));
    eprintln!("{}", r.stdout_str());
}

/// fork() while three threads allocate: 25 children allocate and free in
/// every tier (and start a thread) and exit 0; nothing deadlocks (the run is
/// killed and fails after 60 s).
#[test]
fn fork_while_threads_allocate() {
    let r = run_c_ok("threads_fork", &[], Duration::from_secs(60));
    eprintln!("{}", r.stdout_str());
}

/// Growing big blocks with realloc while other threads allocate never
/// loses another block's registration (regression: the moved-from range used
/// to be unregistered after the kernel had freed it, wiping the entries of a
/// segment another thread had just mapped there). Default configuration and
/// without the BigCache (every free unmaps).
#[test]
fn realloc_moves_keep_other_threads_blocks() {
    let bin = hakmem_preload_tests::compile_c("realloc_race");
    for env in [None, Some(("HAKMEM_BIGCACHE", "0"))] {
        let dir = hakmem_preload_tests::fresh_dir("realloc_race");
        let mut cmd = std::process::Command::new(&bin);
        cmd.arg("1").current_dir(&dir);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let r = hakmem_preload_tests::run(cmd, hakmem_preload_tests::Preload::Yes, std::time::Duration::from_secs(60));
        assert!(r.status.success() && r.stdout_str().contains("OK"), "{env:?}: {}", r.report());
    }
}

/// fork() 50 times while two threads mix malloc, calloc, realloc,
/// aligned_alloc and free of every size and two create and join
/// short-lived threads (contexts made and torn down, blocks of exited
/// threads freed): every child allocates small and big blocks and exits 0.
#[test]
fn fork_while_threads_take_every_lock() {
    let r = run_c_ok("fork_churn", &[], Duration::from_secs(60));
    eprintln!("{}", r.stdout_str());
}

/// The peak RSS a program printed (`peak_rss_kib N`).
fn peak_rss_kib(r: &hakmem_preload_tests::Run) -> u64 {
    let out = r.stdout_str();
    out.lines()
        .find_map(|l| l.strip_prefix("peak_rss_kib ").and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no peak_rss_kib line: {}", r.report()))
}

/// 2000 threads in waves of 20, each freeing the blocks a thread of the
/// previous wave left: done within the time limit, and the peak RSS stays
/// within twice glibc's in the same program plus 16 MiB.
#[test]
fn two_thousand_threads_in_waves_keep_rss_bounded() {
    use hakmem_preload_tests::{compile_c, fresh_dir, run, Preload};
    let bin = compile_c("threads_waves");
    let mut peaks = Vec::new();
    for preload in [Preload::No, Preload::Yes] {
        let dir = fresh_dir("threads_waves");
        let mut cmd = std::process::Command::new(&bin);
        cmd.current_dir(&dir);
        let r = run(cmd, preload, Duration::from_secs(30));
        let _ = std::fs::remove_dir(&dir);
        assert!(r.status.success() && r.stdout_str().contains("\nOK"), "{preload:?}: {}", r.report());
        eprintln!("{preload:?}: {}", r.stdout_str().trim_end().replace('\n', " | "));
        peaks.push(peak_rss_kib(&r));
    }
    let (glibc, hakmem) = (peaks[0], peaks[1]);
    assert!(hakmem <= 2 * glibc + 16 * 1024, "peak RSS {hakmem} KiB under hakmem, {glibc} KiB under glibc");
}

/// malloc, calloc, realloc and free in signal handlers of threads that
/// are not inside the allocator (the main thread sleeping, a thread whose
/// first allocation is in a handler) while two threads allocate: no
/// deadlock. Also run on glibc, which validates the program.
#[test]
fn malloc_in_signal_handlers_does_not_deadlock() {
    use hakmem_preload_tests::{compile_c, fresh_dir, run, Preload};
    let bin = compile_c("signal_malloc");
    for preload in [Preload::No, Preload::Yes] {
        let dir = fresh_dir("signal_malloc");
        let mut cmd = std::process::Command::new(&bin);
        cmd.current_dir(&dir);
        let r = run(cmd, preload, Duration::from_secs(30));
        let _ = std::fs::remove_dir(&dir);
        assert!(r.status.success() && r.stdout_str().lines().last() == Some("OK"), "{preload:?}: {}", r.report());
        eprintln!("{preload:?}: {}", r.stdout_str().trim_end());
    }
}
