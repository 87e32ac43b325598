//! Secure mode's guard pages, quarantine and fault reporter
//! (`HAKMEM_SECURE=1`): a linear overflow off the end of a slab block
//! faults at its segment's last OS page, and one off the end of a big
//! block at the first byte past its usable size, and the fault is reported
//! (one line, abort); a write into a freed big block is reported as a use
//! after free; faults that are not hakmem's still reach the program's own
//! handler; the quarantine of freed big blocks stays bounded. Each case
//! runs in a child process (the configuration is read once per process);
//! the same child without secure mode writes through, so the guard is what
//! stops it.

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
    if let Some(rest) = case.to_str().unwrap().strip_prefix("handler-") {
        return own_handler(rest);
    }
    if case == "uaf" {
        let p = hakmem::alloc(3 << 20);
        assert!(!p.is_null());
        // SAFETY: a live block, then a deliberate write after its free.
        unsafe {
            p.write_bytes(1, 3 << 20);
            hakmem::free(p);
            eprintln!("FREED");
            std::ptr::write_volatile(p.add(5000), 0x41);
        }
        eprintln!("WROTE AFTER FREE");
        return;
    }
    if case == "bound" {
        return quarantine_bound();
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

/// The program's own SIGSEGV handler: says so and exits with 42.
extern "C" fn program_handler(_: i32) {
    let msg = b"PROGRAM HANDLER\n";
    // SAFETY: write(2) and _exit(2) are async-signal safe.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(42);
    }
}

fn install_program_handler() {
    // SAFETY: a plain handler for SIGSEGV, with an empty mask.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = program_handler as *const () as usize;
        libc::sigemptyset(&mut act.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGSEGV, &act, std::ptr::null_mut()), 0);
    }
}

/// `when` is `before` or `after` (the program's handler installed before
/// or after hakmem's initialisation) and the fault `foreign` (a page that
/// is not hakmem's) or `guard` (a big block's guard page).
fn own_handler(case: &str) {
    let (when, fault) = case.split_once('-').unwrap();
    if when == "before" {
        install_program_handler();
    }
    hakmem::init();
    let p = hakmem::alloc(3 << 20);
    assert!(!p.is_null());
    if when == "after" {
        install_program_handler();
    }
    let target = if fault == "foreign" {
        // SAFETY: a fresh inaccessible page of our own.
        let q = unsafe {
            libc::mmap(std::ptr::null_mut(), PAGE, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
        };
        assert_ne!(q, libc::MAP_FAILED);
        q as usize
    } else {
        (p as usize + (3 << 20) + 8).next_multiple_of(PAGE)
    };
    eprintln!("FAULTING");
    // SAFETY: deliberate fault.
    unsafe { std::ptr::write_volatile(target as *mut u8, 1) };
    eprintln!("NO FAULT");
}

/// Frees 200 big blocks of 32 MiB: the quarantine keeps at most its bound
/// (1 GiB: 28 of these 36 MiB mappings, with trailer and guard), and the process's address space grows
/// by about that, not by the 7 GiB the freed mappings add up to.
fn quarantine_bound() {
    hakmem::init();
    let vm = || {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let l = s.lines().find(|l| l.starts_with("VmSize:")).unwrap();
        l.split_whitespace().nth(1).unwrap().parse::<usize>().unwrap() << 10
    };
    let before = vm();
    for _ in 0..200 {
        let p = hakmem::alloc(32 << 20);
        assert!(!p.is_null());
        // SAFETY: a live block of 32 MiB.
        unsafe {
            p.write_bytes(7, 1 << 20);
            hakmem::free(p);
        }
    }
    let (n, bytes) = hak_bigcache::quarantined_now();
    let grown = vm().saturating_sub(before);
    eprintln!("QUARANTINED {n} {bytes} GROWN {grown}");
    assert!(n > 0 && n <= hak_bigcache::MAX_QUARANTINED, "{n} entries");
    assert!(bytes <= hak_bigcache::MAX_QUARANTINED_BYTES, "{bytes} bytes");
    assert!(grown <= hak_bigcache::MAX_QUARANTINED_BYTES + (256 << 20), "address space grew by {grown}");
    eprintln!("BOUNDED");
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
        assert_eq!(status.signal(), Some(libc::SIGABRT), "secure, {size} B: {status:?}\n{err}");
        assert!(err.contains("REACHED THE GUARD") && !err.contains("WROTE PAST IT"), "secure, {size} B:\n{err}");
        assert!(err.contains("hakmem: heap buffer overflow into a guard page at 0x"), "secure, {size} B:\n{err}");
        // Without guards the write goes through (the damage it did to the
        // segment may be reported later, at the thread's exit), or, in a
        // tier's first segments, which map only what was carved (decision
        // 0043), faults where the mapped part ends: never at a guard.
        let (status, err) = run(&size.to_string(), false);
        assert!(
            err.contains("WROTE PAST IT") || (status.signal() == Some(libc::SIGSEGV) && !err.contains("guard page")),
            "default, {size} B: {status:?}\n{err}"
        );
    }
}

#[test]
fn a_write_after_free_of_a_big_block_is_reported() {
    let (status, err) = run("uaf", true);
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}\n{err}");
    assert!(err.contains("FREED") && !err.contains("WROTE AFTER FREE"), "{err}");
    assert!(err.contains("hakmem: use after free (write or read of a freed block) at 0x"), "{err}");
}

#[test]
fn the_programs_own_handler_gets_the_faults_that_are_not_hakmems() {
    // Installed before hakmem's reporter: chained to; after it: it wins.
    for when in ["before", "after"] {
        let (status, err) = run(&format!("handler-{when}-foreign"), true);
        assert_eq!(status.code(), Some(42), "{when}: {status:?}\n{err}");
        assert!(err.contains("PROGRAM HANDLER") && !err.contains("hakmem:"), "{when}:\n{err}");
    }
    // A guard-page fault is hakmem's unless the program's handler came later.
    let (status, err) = run("handler-before-guard", true);
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}\n{err}");
    assert!(err.contains("hakmem: heap buffer overflow into a guard page at 0x"), "{err}");
    let (status, err) = run("handler-after-guard", true);
    assert_eq!(status.code(), Some(42), "{status:?}\n{err}");
    // Without secure mode nothing of hakmem's is in the way.
    let (status, err) = run("handler-before-foreign", false);
    assert_eq!(status.code(), Some(42), "{status:?}\n{err}");
}

#[test]
fn the_quarantine_of_freed_big_blocks_is_bounded() {
    let (status, err) = run("bound", true);
    assert!(status.success() && err.contains("BOUNDED"), "{status:?}\n{err}");
}

#[test]
fn blocks_filling_whole_segments_never_touch_a_guard() {
    let (status, err) = run("fill", true);
    assert!(status.success() && err.contains("FILLED"), "{status:?}\n{err}");
}
