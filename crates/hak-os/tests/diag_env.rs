//! `diag` (the stderr writer) and `env`.

use std::io::Read;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};

use hak_os::{diag, env};

#[test]
fn getenv_reads_the_process_environment() {
    // PATH is set wherever the tests run; nobody in this binary modifies
    // the environment.
    let want = std::env::var_os("PATH");
    // SAFETY: the environment is not modified while the slice is used.
    let got = unsafe { env::getenv(c"PATH") };
    assert_eq!(got, want.as_ref().map(|v| v.as_bytes()));
    // SAFETY: as above.
    assert_eq!(unsafe { env::getenv(c"HAK_OS_SURELY_UNSET_VARIABLE") }, None);
}

/// A pipe: (read end as a File, write end as a raw fd).
fn pipe() -> (std::fs::File, i32) {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid out-array of two.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the read end is ours.
    (unsafe { std::fs::File::from_raw_fd(fds[0]) }, fds[1])
}

static SIGNALLED: AtomicBool = AtomicBool::new(false);
extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// 1 MiB through a 64 KiB pipe: the writer makes many partial writes, and
/// is interrupted by signals (installed without `SA_RESTART`, so a blocked
/// `write` returns `EINTR` or a partial count) while the reader lags; every
/// byte arrives, in order.
#[test]
fn write_fd_writes_everything_through_partial_writes_and_eintr() {
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        sa.sa_flags = 0;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, core::ptr::null_mut()), 0);
    }
    let (mut rd, wr) = pipe();
    let data: Vec<u8> = (0..1usize << 20).map(|i| (i * 7 % 253) as u8).collect();
    let expect = data.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let writer = std::thread::spawn(move || {
        // SAFETY: pthread_self has no preconditions.
        tx.send(unsafe { libc::pthread_self() } as usize).unwrap();
        diag::write_fd(wr, &data);
        // SAFETY: our write end, closed once.
        unsafe { libc::close(wr) };
    });
    let tid = rx.recv().unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut reads = 0u32;
    loop {
        if reads.is_multiple_of(4) && !writer.is_finished() {
            // Let the writer block on the full pipe, then interrupt it.
            std::thread::sleep(std::time::Duration::from_millis(1));
            // SAFETY: the writer thread is alive (not finished, and joined
            // only below).
            unsafe { libc::pthread_kill(tid as libc::pthread_t, libc::SIGUSR1) };
        }
        let n = rd.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
        reads += 1;
    }
    writer.join().unwrap();
    assert!(SIGNALLED.load(Ordering::SeqCst), "the writer was interrupted");
    assert_eq!(got.len(), expect.len());
    assert!(got == expect, "bytes arrived in order");
}

#[test]
fn write_fd_stops_on_a_closed_descriptor() {
    let (rd, wr) = pipe();
    drop(rd);
    // SAFETY: ignore SIGPIPE so the write reports EPIPE instead of killing us.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    diag::write_fd(wr, b"nobody reads this");
    // SAFETY: ours.
    unsafe { libc::close(wr) };
    diag::write_fd(-1, b"no such descriptor");
}

#[test]
fn line_composes_and_emits() {
    let (mut rd, wr) = pipe();
    let mut l = diag::Line::new();
    l.s("hakmem: ").u(0).s(" ").u(1234567).s(" ").x(0xbeef).b(b"\n");
    assert_eq!(l.as_bytes(), b"hakmem: 0 1234567 0xbeef\n");
    l.emit_to(wr);
    // SAFETY: ours.
    unsafe { libc::close(wr) };
    let mut s = String::new();
    rd.read_to_string(&mut s).unwrap();
    assert_eq!(s, "hakmem: 0 1234567 0xbeef\n");
    // Truncated at capacity, without panicking.
    let mut long = diag::Line::new();
    for _ in 0..100 {
        long.s("0123456789");
    }
    assert_eq!(long.as_bytes().len(), 512);
}
