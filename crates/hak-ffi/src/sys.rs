//! hak-ffi's one use of the C library: `errno` (read, write and the codes
//! hak-ffi reports), which the C ABI owns. Every other system service comes
//! from the platform layer (`hak_os`) and is re-exported here under the
//! names the rest of the crate uses. Nothing here allocates or panics.

use core::ffi::{c_int, CStr};

pub(crate) use hak_os::diag::write_bytes as write_stderr;
pub(crate) use hak_os::map::page_size;
pub(crate) use hak_os::process::{abort, program_break};
pub(crate) use hak_os::thread::id as thread_id;

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

/// Read the start of `/proc/self/stat` into `buf`; returns the number of
/// bytes read, 0 when the file cannot be opened.
pub(crate) fn read_proc_self_stat(buf: &mut [u8]) -> usize {
    hak_os::process::read_file(c"/proc/self/stat", buf).unwrap_or(0)
}

/// Address of the next definition of `name` in the symbol chain
/// (`dlsym(RTLD_NEXT, name)`), 0 if there is none. `dlsym` may call
/// `malloc`/`calloc`/`free`.
pub(crate) fn dlsym_next(name: &CStr) -> usize {
    hak_os::process::dlsym_next(name) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_self_stat_is_readable() {
        let mut buf = [0u8; 64];
        let n = read_proc_self_stat(&mut buf);
        assert!(n > 0 && buf[..n].iter().all(u8::is_ascii));
    }

    #[test]
    fn next_free_exists() {
        assert_ne!(dlsym_next(c"free"), 0);
        assert_eq!(dlsym_next(c"hakmem_no_such_symbol"), 0);
    }
}
