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
