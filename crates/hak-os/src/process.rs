//! Process services: `abort`, a private duplicate of a descriptor, the
//! program break, the next object's definition of a symbol, and reading a
//! small file into a caller's buffer.
//!
//! Replaces, at merge time:
//! - [`abort`]: `libc::abort()` in hak-os's `diag::fatal`, hak-ffi's
//!   `sys::invalid_pointer` and the cdylib's `#[panic_handler]`;
//!   [`c_abort`] (the C function itself, for `sym` operands): the cdylib's
//!   `sym libc::abort` in its `rust_eh_personality` assembly.
//! - [`dup_cloexec`]: the router's `libc::fcntl(2, libc::F_DUPFD_CLOEXEC,
//!   10)` (`stats::keep_stderr`) as `dup_cloexec(2, 10)`.
//! - [`program_break`]: hak-ffi's `libc::sbrk(0)` (`foreign::current_brk`).
//! - [`dlsym_next`]: hak-ffi's `libc::dlsym(libc::RTLD_NEXT, ..)` for
//!   `free` and `malloc_usable_size` (`foreign::resolve`).
//! - [`read_file`]: hak-ffi's `open`/`read`/`close` of `/proc/self/stat`
//!   with its `EINTR` retry (`foreign::read_start_brk`).

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
