//! Process services: `abort`, a private duplicate of a descriptor, the
//! program break, the next object's definition of a symbol, reading a
//! small file into a caller's buffer, and the process's resource use
//! ([`usage`], [`resident_bytes`]: the costs the learning driver measures;
//! [`vm_bytes`]: the segment map's placement, `crate::layout`).
//!
//! Users: [`abort`] by `diag::fatal`, hak-ffi's invalid-pointer report and
//! the cdylib's panic handler, [`c_abort`] by the cdylib's
//! `rust_eh_personality` assembly; [`dup_cloexec`] by the router's stats
//! printer; [`program_break`], [`dlsym_next`] and [`read_file`] by hak-ffi's
//! foreign-pointer detection; [`usage`] and [`resident_bytes`] by the
//! router's learning driver (once per epoch, never per allocation).

use core::ffi::{c_void, CStr};

/// Ends the process at once with `SIGABRT` (`abort(3)`): no unwinding, no
/// exit handlers, no allocation.
#[inline]
pub fn abort() -> ! {
    // SAFETY: abort has no preconditions and never returns.
    unsafe { libc::abort() }
}

/// The C library's `abort` function itself, for `sym` operands of assembly
/// that jump to it directly (a Rust wrapper would add a jump):
/// `global_asm!("jmp {abort}", abort = sym hak_os::process::c_abort)`.
/// Rust code calls [`abort`].
pub use libc::abort as c_abort;

/// A duplicate of `fd` numbered `min` or higher, closed on `exec`
/// (`fcntl(fd, F_DUPFD_CLOEXEC, min)`); `None` on failure. A descriptor
/// kept this way survives a program closing its standard descriptors.
pub fn dup_cloexec(fd: i32, min: i32) -> Option<i32> {
    // SAFETY: fcntl with F_DUPFD_CLOEXEC only creates a descriptor; an
    // invalid `fd` is reported as EBADF.
    let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    (r >= 0).then_some(r)
}

/// The current program break (`sbrk(0)`: it reports the break without
/// moving it, allocates nothing); 0 if unknown.
#[inline]
pub fn program_break() -> usize {
    // SAFETY: sbrk(0) does not move the break and has no preconditions.
    let b = unsafe { libc::sbrk(0) } as usize;
    if b == usize::MAX {
        0
    } else {
        b
    }
}

/// The address of the next definition of `name` after the calling object
/// in the dynamic linker's search order (`dlsym(RTLD_NEXT, name)`): under
/// `LD_PRELOAD`, the C library's own function that hakmem's export
/// shadows; null when no later object defines it.
///
/// `dlsym` may call `malloc`/`calloc` (its error state), re-entering the
/// allocator: callers must tolerate that.
pub fn dlsym_next(name: &CStr) -> *mut c_void {
    // SAFETY: RTLD_NEXT is a valid pseudo-handle and `name` is
    // NUL-terminated.
    unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) }
}

/// Reads the file at `path` into `buf` (`open(O_RDONLY | O_CLOEXEC)`,
/// `read` until end of file or `buf` is full, retrying on `EINTR`,
/// `close`); returns the number of bytes read, `None` when the file cannot
/// be opened. A read error other than `EINTR` ends the read with what was
/// read so far. No allocation: meant for small files such as
/// `/proc/self/stat`.
pub fn read_file(path: &CStr, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: the path is NUL-terminated; open does not allocate.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut len = 0usize;
    while let Some(room) = buf.get_mut(len..).filter(|r| !r.is_empty()) {
        // SAFETY: `room` is a writable buffer of `room.len()` bytes and `fd`
        // is an open descriptor owned by this function.
        let r = unsafe { libc::read(fd, room.as_mut_ptr().cast(), room.len()) };
        if r > 0 {
            len += r as usize;
        } else if r < 0 && crate::errno() == libc::EINTR {
            continue;
        } else {
            break;
        }
    }
    // SAFETY: `fd` was opened above and is closed exactly once.
    unsafe { libc::close(fd) };
    Some(len)
}

/// The process's resource use so far (`getrusage(RUSAGE_SELF)`): CPU time
/// of all its threads and its page faults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// User plus system CPU time, in microseconds.
    pub cpu_us: u64,
    /// Page faults served without I/O (first touches of anonymous memory).
    pub minor_faults: u64,
    /// Page faults that needed I/O.
    pub major_faults: u64,
}

/// The process's [`Usage`] so far; all zeros if `getrusage` fails (it does
/// not for `RUSAGE_SELF`). One system call, no allocation.
pub fn usage() -> Usage {
    // SAFETY: an all-zero `rusage` is a valid value of the plain C struct.
    let mut ru: libc::rusage = unsafe { core::mem::zeroed() };
    // SAFETY: `ru` is a valid out-parameter.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Usage::default();
    }
    let us = |t: libc::timeval| (t.tv_sec.max(0) as u64) * 1_000_000 + t.tv_usec.max(0) as u64;
    Usage {
        cpu_us: us(ru.ru_utime) + us(ru.ru_stime),
        minor_faults: ru.ru_minflt.max(0) as u64,
        major_faults: ru.ru_majflt.max(0) as u64,
    }
}

/// The process's resident set in bytes (the second field of
/// `/proc/self/statm`, in pages), `None` when it cannot be read. One
/// `open`/`read`/`close`, no allocation.
pub fn resident_bytes() -> Option<usize> {
    statm_bytes(1)
}

/// The process's address space in bytes, every mapping counted (the first
/// field of `/proc/self/statm`, in pages: what `RLIMIT_AS` limits), `None`
/// when it cannot be read. One `open`/`read`/`close`, no allocation.
pub fn vm_bytes() -> Option<usize> {
    statm_bytes(0)
}

/// Field `n` (from 0) of `/proc/self/statm`, in bytes.
fn statm_bytes(n: usize) -> Option<usize> {
    let mut buf = [0u8; 128];
    let len = read_file(c"/proc/self/statm", &mut buf)?;
    let text = buf.get(..len)?;
    let pages = text.split(|&b| b == b' ').nth(n)?.iter().try_fold(0usize, |acc, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d < 10)?;
        acc.checked_mul(10)?.checked_add(d as usize)
    })?;
    pages.checked_mul(crate::map::page_size())
}
