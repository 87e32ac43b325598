//! Every call hak-ffi makes into the C library, each in one small function:
//! `errno` (read, write and the codes hak-ffi reports), the page size, the
//! stderr writer, `abort`, the program break, reading `/proc/self/stat`, the
//! calling thread's id and `dlsym(RTLD_NEXT, …)`. No other module of this
//! crate names `libc`. Nothing here allocates or panics.

use core::ffi::{c_int, CStr};
use core::sync::atomic::{AtomicUsize, Ordering};

/// `ENOMEM`: out of memory.
pub(crate) const ENOMEM: c_int = libc::ENOMEM;
/// `EINVAL`: invalid argument.
pub(crate) const EINVAL: c_int = libc::EINVAL;

/// Read the calling thread's `errno`.
#[inline]
pub(crate) fn errno() -> c_int {
    // SAFETY: `__errno_location` always returns a valid pointer to the calling
    // thread's errno slot (glibc sets it up before any user code runs).
    unsafe { *libc::__errno_location() }
}

/// Set the calling thread's `errno`.
#[inline]
pub(crate) fn set_errno(e: c_int) {
    // SAFETY: as in `errno`: the pointer is valid and thread-local.
    unsafe { *libc::__errno_location() = e }
}

/// True when the last failed call was interrupted by a signal (`EINTR`).
#[inline]
fn interrupted() -> bool {
    errno() == libc::EINTR
}

/// Cached system page size (0 = not yet read).
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The system page size (read once; 4096 if that fails).
#[inline]
pub(crate) fn page_size() -> usize {
    let ps = PAGE_SIZE.load(Ordering::Relaxed);
    if ps != 0 {
        return ps;
    }
    page_size_slow()
}

#[cold]
fn page_size_slow() -> usize {
    let r = os_page_size();
    let ps = if r > 0 && (r as usize).is_power_of_two() { r as usize } else { 4096 };
    PAGE_SIZE.store(ps, Ordering::Relaxed);
    ps
}

/// `sysconf(_SC_PAGESIZE)`: the page size, or a value `<= 0` when unknown.
#[inline]
fn os_page_size() -> isize {
    // SAFETY: `sysconf` has no preconditions; for _SC_PAGESIZE glibc returns a
    // value cached by the loader without allocating or touching errno.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as isize }
}

/// Write `msg` to stderr with `write(2)`, ignoring errors and short writes
/// after a retry on `EINTR`.
pub(crate) fn write_stderr(msg: &[u8]) {
    let mut rest = msg;
    while !rest.is_empty() {
        // SAFETY: `rest` is a valid readable slice for `rest.len()` bytes.
        let r = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if r > 0 {
            rest = rest.get(r as usize..).unwrap_or(&[]);
        } else if r < 0 && interrupted() {
            continue;
        } else {
            break;
        }
    }
}

/// Terminate the process abnormally (`abort(3)`).
pub(crate) fn abort() -> ! {
    // SAFETY: `abort` has no preconditions and never returns.
    unsafe { libc::abort() }
}

/// Current program break (`sbrk(0)`), 0 if unknown.
#[inline]
pub(crate) fn program_break() -> usize {
    // SAFETY: `sbrk(0)` only reports the current break: it does not move it,
    // does not allocate and has no preconditions.
    let b = unsafe { libc::sbrk(0) } as usize;
    if b == usize::MAX {
        0
    } else {
        b
    }
}

/// Read the start of `/proc/self/stat` into `buf` with `open`/`read`/`close`
/// (retrying on `EINTR`); returns the number of bytes read, 0 when the file
/// cannot be opened.
pub(crate) fn read_proc_self_stat(buf: &mut [u8]) -> usize {
    // SAFETY: the path is a valid NUL-terminated string; `open` does not
    // allocate.
    let fd = unsafe { libc::open(c"/proc/self/stat".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return 0;
    }
    let mut len = 0usize;
    while len < buf.len() {
        let room = &mut buf[len..];
        // SAFETY: `room` is a writable buffer of `room.len()` bytes and `fd`
        // is an open descriptor owned by this function.
        let r = unsafe { libc::read(fd, room.as_mut_ptr().cast(), room.len()) };
        if r > 0 {
            len += r as usize;
        } else if r < 0 && interrupted() {
            continue;
        } else {
            break;
        }
    }
    // SAFETY: `fd` was opened above and is closed exactly once.
    unsafe { libc::close(fd) };
    len
}

/// An identifier of the calling thread, unique among live threads and never 0
/// (`pthread_self()`).
pub(crate) fn thread_id() -> usize {
    // SAFETY: `pthread_self` has no preconditions; it reads the thread pointer.
    unsafe { libc::pthread_self() as usize }
}

/// Address of the next definition of `name` in the symbol chain
/// (`dlsym(RTLD_NEXT, name)`), 0 if there is none. `dlsym` may call
/// `malloc`/`calloc`/`free`.
pub(crate) fn dlsym_next(name: &CStr) -> usize {
    // SAFETY: RTLD_NEXT is a valid pseudo-handle and `name` is NUL-terminated.
    unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) as usize }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_is_sane() {
        let ps = page_size();
        assert!(ps.is_power_of_two() && ps >= 4096);
        assert_eq!(ps, page_size());
    }

    #[test]
    fn proc_self_stat_is_readable() {
        let mut buf = [0u8; 64];
        let n = read_proc_self_stat(&mut buf);
        assert!(n > 0 && buf[..n].iter().all(u8::is_ascii));
    }

    #[test]
    fn thread_ids_differ() {
        let me = thread_id();
        assert_ne!(me, 0);
        assert_ne!(std::thread::spawn(thread_id).join().unwrap(), me);
    }

    #[test]
    fn next_free_exists() {
        assert_ne!(dlsym_next(c"free"), 0);
        assert_eq!(dlsym_next(c"hakmem_no_such_symbol"), 0);
    }
}
