//! Secure mode's guard pages (`HAKMEM_SECURE=1`): a linear overflow off
//! the end of a slab block faults at its segment's last OS page, and one
//! off the end of a big block faults at the first byte past its usable
//! size. Each case runs in a child process (the configuration is read once
//! per process, and the expected outcome is a SIGSEGV); the same child
//! without secure mode writes through, so the guard is what stops it.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

const CHILD_ENV: &str = "HAK_GUARD_CHILD";
const SEGMENT: usize = 4 << 20;
const PAGE: usize = 4096;

/// Child half: writes past a block of the size named by `HAK_GUARD_CHILD`
/// until the guard (secure mode) or the end of the mapping (default).
#[test]
fn child() {
    let Some(case) = std::env::var_os(CHILD_ENV) else { return };
    if case == "fill" {
        // Blocks of three tiers over more than a segment each (5 MiB), each
        // written whole: none lies on a guard.
        for n in [8usize, 4096, 300 << 10] {
            for _ in 0..(5 << 20) / n {
                let p = hakmem::alloc(n);
                assert!(!p.is_null());
                // SAFETY: a live block of n bytes.
                unsafe { std::ptr::write_bytes(p, 0x5a, n) };
            }
        }
        eprintln!("FILLED");
        return;
    }
    let n: usize = case.to_str().unwrap().parse().unwrap();
    let p = hakmem::alloc(n);
    assert!(!p.is_null());
    let guard = if n > 1 << 20 {
        // Big block: the page after the one holding its last byte and
        // secure mode's 8-byte trailer.
        (p as usize + n + 8).next_multiple_of(PAGE)
    } else {
        // Slab block: the segment's last OS page.
        ((p as usize + n) | (SEGMENT - 1)) + 1 - PAGE
    };
    // SAFETY: deliberate overflow; every byte up to `guard` is mapped and
    // writable (the rest of the block's segment or mapping).
    unsafe {
        for a in (p as usize + n)..guard {
            std::ptr::write_volatile(a as *mut u8, 0x41);
        }
    }
    eprintln!("REACHED THE GUARD");
    // SAFETY: deliberate: the guard page in secure mode (a fault), mapped
    // memory of the segment or mapping without it.
    unsafe { std::ptr::write_volatile(guard as *mut u8, 0x41) };
    eprintln!("WROTE PAST IT");
}

fn run(case: &str, secure: bool) -> (std::process::ExitStatus, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, case)
        .env("HAKMEM_SECURE", if secure { "1" } else { "0" })
        .output()
        .unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_linear_overflow_faults_at_the_guard_in_secure_mode_only() {
    for size in [8usize, 4096, 300 << 10, 3 << 20] {
        let (status, err) = run(&size.to_string(), true);
        assert_eq!(status.signal(), Some(libc_sigsegv()), "secure, {size} B: {status:?}\n{err}");
        assert!(err.contains("REACHED THE GUARD") && !err.contains("WROTE PAST IT"), "secure, {size} B:\n{err}");
        // Without guards the write goes through (the damage it did to the
        // segment may be reported later, at the thread's exit).
        let (status, err) = run(&size.to_string(), false);
        assert!(err.contains("WROTE PAST IT"), "default, {size} B: {status:?}\n{err}");
    }
}

/// SIGSEGV on Linux (every architecture hakmem supports).
fn libc_sigsegv() -> i32 {
    11
}

#[test]
fn blocks_filling_whole_segments_never_touch_a_guard() {
    let (status, err) = run("fill", true);
    assert!(status.success() && err.contains("FILLED"), "{status:?}\n{err}");
}
