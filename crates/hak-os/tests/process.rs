//! `process`: abort, descriptor duplication, program break, `dlsym`,
//! reading small files.

use std::os::unix::process::ExitStatusExt;

use hak_os::process;

#[test]
fn dup_cloexec_above_a_minimum() {
    let fd = process::dup_cloexec(2, 10).expect("stderr is open");
    assert!(fd >= 10);
    // SAFETY: fcntl on our descriptor.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    assert!(flags & libc::FD_CLOEXEC != 0);
    // SAFETY: ours, closed once.
    unsafe { libc::close(fd) };
    assert_eq!(process::dup_cloexec(-1, 10), None);
}

#[test]
fn program_break_is_sbrk_0() {
    let b = process::program_break();
    assert_ne!(b, 0);
    // SAFETY: sbrk(0) only reports the break.
    assert_eq!(b, unsafe { libc::sbrk(0) } as usize);
}

#[test]
fn dlsym_next_finds_the_c_library() {
    let free = process::dlsym_next(c"free");
    assert!(!free.is_null());
    assert_eq!(free as usize, libc::free as *const () as usize, "the C library's free");
    assert!(!process::dlsym_next(c"malloc_usable_size").is_null());
    assert!(process::dlsym_next(c"hak_os_no_such_symbol").is_null());
}

#[test]
fn read_file_of_proc_self_stat() {
    let mut buf = [0u8; 1024];
    let n = process::read_file(c"/proc/self/stat", &mut buf).expect("readable");
    let text = std::str::from_utf8(&buf[..n]).unwrap();
    assert!(text.starts_with(&format!("{} (", std::process::id())), "{text}");
    assert!(text.ends_with('\n'));
    // A buffer smaller than the file is filled.
    let mut small = [0u8; 8];
    assert_eq!(process::read_file(c"/proc/self/stat", &mut small), Some(8));
    assert_eq!(&small[..], &buf[..8]);
    assert_eq!(process::read_file(c"/proc/self/stat", &mut []), Some(0));
    assert_eq!(process::read_file(c"/hak-os/no/such/file", &mut buf), None);
}

// A jump to the C library's `abort` through the `sym` operand the cdylib's
// `rust_eh_personality` uses.
core::arch::global_asm!(
    ".pushsection .text.hak_os_test_abort_jump,\"ax\",@progbits",
    ".globl hak_os_test_abort_jump",
    ".hidden hak_os_test_abort_jump",
    "hak_os_test_abort_jump:",
    "jmp {abort}",
    ".popsection",
    abort = sym hak_os::process::c_abort,
);
extern "C" {
    fn hak_os_test_abort_jump() -> !;
}

/// Child half of `abort_raises_sigabrt`.
#[test]
fn abort_child() {
    match std::env::var("HAK_OS_ABORT_CHILD").as_deref() {
        Ok("rust") => process::abort(),
        // SAFETY: jumps to abort, which has no preconditions.
        Ok("asm") => unsafe { hak_os_test_abort_jump() },
        _ => {}
    }
}

#[test]
fn abort_raises_sigabrt() {
    for how in ["rust", "asm"] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "abort_child", "--test-threads=1"])
            .env("HAK_OS_ABORT_CHILD", how)
            .output()
            .unwrap();
        assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{how}: {out:?}");
    }
}

/// Child half of `fatal_reports_and_aborts`.
#[test]
fn fatal_child() {
    if std::env::var_os("HAK_OS_FATAL_CHILD").is_some() {
        hak_os::diag::fatal("free(): invalid pointer", 0xdead0);
    }
}

#[test]
fn fatal_reports_and_aborts() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "fatal_child", "--test-threads=1"])
        .env("HAK_OS_FATAL_CHILD", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("hakmem: free(): invalid pointer 0xdead0\n"));
}

#[test]
fn usage_counts_cpu_time_and_the_faults_of_first_touches() {
    let before = process::usage();
    // Touch 2 MiB of fresh anonymous memory: 512 first touches of 4 KiB pages
    // (fewer faults with transparent huge pages, but at least one).
    let len = 2 << 20;
    // SAFETY: a private anonymous mapping, unmapped below.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    let mut x = 0u64;
    for i in (0..len).step_by(4096) {
        // SAFETY: inside the mapping.
        unsafe { *(p as *mut u8).add(i) = 1 };
        x = x.wrapping_add(i as u64);
    }
    // Burn some CPU time.
    for i in 0..20_000_000u64 {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    let after = process::usage();
    // SAFETY: the mapping made above.
    unsafe { libc::munmap(p, len) };
    assert!(after.minor_faults > before.minor_faults, "{before:?} -> {after:?}");
    assert!(after.cpu_us > before.cpu_us, "{before:?} -> {after:?}");
    std::hint::black_box(x);
}

#[test]
fn resident_bytes_grow_with_touched_memory() {
    let before = process::resident_bytes().expect("/proc/self/statm");
    let v = vec![1u8; 64 << 20];
    let during = process::resident_bytes().expect("/proc/self/statm");
    assert!(during >= before + (32 << 20), "{before} -> {during}");
    drop(std::hint::black_box(v));
}
