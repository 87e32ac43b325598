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
