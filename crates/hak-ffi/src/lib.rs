//! hak-ffi — hakmem's C ABI with exact glibc 2.36 semantics.
//!
//! The exported functions are `extern "C"`, `#[no_mangle]` and named
//! `hak_*`; this crate defines no `malloc` symbol. Their bodies live in
//! [`abi`] as `#[inline]` Rust functions (exported functions cannot be
//! `#[inline]`): the `hakmem-cdylib` facade calls those directly from its
//! unprefixed `malloc`, `free`, … so each exported symbol is one function with
//! no extra call, with or without LTO. Prototypes and comments for C and C++
//! callers are in `include/hakmem.h`.
//!
//! Semantics (checked against glibc 2.36 by `tests/c/semantics.c`):
//!
//! * every block is 16-byte aligned; `malloc(0)` returns a unique pointer;
//! * failure returns `NULL` with `errno = ENOMEM` and never aborts; so do
//!   requests larger than `PTRDIFF_MAX` and `calloc`/`reallocarray`
//!   multiplication overflow; success leaves `errno` untouched;
//! * `realloc(NULL, n)` = `malloc(n)`; `realloc(p, 0)` frees `p` and returns
//!   `NULL` (errno untouched); a failed `realloc` keeps the old block;
//! * `posix_memalign` returns `EINVAL` when the alignment is not a power of
//!   two multiple of `sizeof(void *)` and `ENOMEM` when out of memory; it
//!   never changes `errno` or, on failure, `*memptr`;
//! * `memalign` and `aligned_alloc` are the same function in glibc 2.36
//!   (`aligned_alloc` is an alias of `memalign` there; the `EINVAL` check for
//!   non-power-of-two alignments only arrived in glibc 2.38): alignments
//!   `<= 16` behave as `malloc`, others are rounded up to the next power of
//!   two, alignments above `SIZE_MAX / 2 + 1` fail with `EINVAL`, and
//!   impossible size/alignment combinations with `ENOMEM`;
//! * `valloc` is page-aligned; `pvalloc` is page-aligned with the size
//!   rounded up to a page multiple, `pvalloc(0)` giving one page (glibc 2.36
//!   actually returns less than a page there, a rounding bug);
//! * `free(NULL)` is a no-op; `cfree`, `free_sized` and `free_aligned_sized`
//!   are `free`;
//! * pointers hakmem does not own are forwarded to the next allocator (glibc)
//!   when it owns them, otherwise reported as
//!   `hakmem: free(): invalid pointer 0x…` and the process aborts. "glibc
//!   owns it" means the pointer lies in the program-break heap
//!   `[start_brk, sbrk(0))` (hakmem never uses `brk`); the next allocator's
//!   `free`/`malloc_usable_size` come from `dlsym(RTLD_NEXT, …)`, resolved
//!   once, lazily. Details and rejected alternatives: `src/foreign.rs`.
//!
//! Nothing in this crate allocates through Rust, panics or does std I/O.
#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]

pub mod abi;
mod foreign;
mod sys;

use libc::{c_char, c_int, c_void};

/// Version string returned by [`hak_version`] (NUL-terminated).
static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// Initialise hakmem and the FFI layer (idempotent, allocation-free).
///
/// Called from the `hakmem-cdylib` constructor and by [`hak_init`]. Records
/// the bottom of glibc's program-break heap (used to recognise glibc-owned
/// pointers) and calls `hakmem::init()`. Every entry point also works before
/// this has run.
pub fn init() {
    foreign::record_brk();
    let _ = sys::page_size();
    hakmem::init();
}

/// `malloc` with glibc semantics: see [`abi::malloc`].
#[no_mangle]
pub extern "C" fn hak_malloc(size: usize) -> *mut c_void {
    abi::malloc(size)
}

/// `free` with glibc semantics: see [`abi::free`].
///
/// # Safety
/// `p` must be null or a live block returned by this allocator (or glibc's).
#[no_mangle]
pub unsafe extern "C" fn hak_free(p: *mut c_void) {
    // SAFETY: forwarded contract.
    unsafe { abi::free(p) }
}

/// `calloc` with glibc semantics: see [`abi::calloc`].
#[no_mangle]
pub extern "C" fn hak_calloc(n: usize, size: usize) -> *mut c_void {
    abi::calloc(n, size)
}

/// `realloc` with glibc semantics: see [`abi::realloc`].
///
/// # Safety
/// `p` must be null or a live block returned by this allocator (or glibc's).
#[no_mangle]
pub unsafe extern "C" fn hak_realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { abi::realloc(p, size) }
}

/// `reallocarray` with glibc semantics: see [`abi::reallocarray`].
///
/// # Safety
/// `p` must be null or a live block returned by this allocator (or glibc's).
#[no_mangle]
pub unsafe extern "C" fn hak_reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { abi::reallocarray(p, n, size) }
}

/// `posix_memalign` with glibc semantics: see [`abi::posix_memalign`].
///
/// # Safety
/// `memptr` must be valid for a pointer-sized write.
#[no_mangle]
pub unsafe extern "C" fn hak_posix_memalign(memptr: *mut *mut c_void, align: usize, size: usize) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { abi::posix_memalign(memptr, align, size) }
}

/// `aligned_alloc` with glibc 2.36 semantics: see [`abi::aligned_alloc`].
#[no_mangle]
pub extern "C" fn hak_aligned_alloc(align: usize, size: usize) -> *mut c_void {
    abi::aligned_alloc(align, size)
}

/// `memalign` with glibc semantics: see [`abi::memalign`].
#[no_mangle]
pub extern "C" fn hak_memalign(align: usize, size: usize) -> *mut c_void {
    abi::memalign(align, size)
}

/// `valloc` (page-aligned): see [`abi::valloc`].
#[no_mangle]
pub extern "C" fn hak_valloc(size: usize) -> *mut c_void {
    abi::valloc(size)
}

/// `pvalloc` (page-aligned, page-multiple size): see [`abi::pvalloc`].
#[no_mangle]
pub extern "C" fn hak_pvalloc(size: usize) -> *mut c_void {
    abi::pvalloc(size)
}

/// `malloc_usable_size`: see [`abi::malloc_usable_size`].
///
/// # Safety
/// `p` must be null or a live block returned by this allocator (or glibc's).
#[no_mangle]
pub unsafe extern "C" fn hak_malloc_usable_size(p: *mut c_void) -> usize {
    // SAFETY: forwarded contract.
    unsafe { abi::malloc_usable_size(p) }
}

/// `cfree`: obsolete synonym of `free`.
///
/// # Safety
/// As [`hak_free`].
#[no_mangle]
pub unsafe extern "C" fn hak_cfree(p: *mut c_void) {
    // SAFETY: forwarded contract.
    unsafe { abi::free(p) }
}

/// `free_sized` (C23): `free`; the size hint is ignored.
///
/// # Safety
/// As [`hak_free`].
#[no_mangle]
pub unsafe extern "C" fn hak_free_sized(p: *mut c_void, _size: usize) {
    // SAFETY: forwarded contract.
    unsafe { abi::free(p) }
}

/// `free_aligned_sized` (C23): `free`; the alignment and size hints are
/// ignored.
///
/// # Safety
/// As [`hak_free`].
#[no_mangle]
pub unsafe extern "C" fn hak_free_aligned_sized(p: *mut c_void, _align: usize, _size: usize) {
    // SAFETY: forwarded contract.
    unsafe { abi::free(p) }
}

/// Initialise hakmem explicitly (idempotent). Not required: the shared
/// library's constructor calls it, and every entry point works before it.
#[no_mangle]
pub extern "C" fn hak_init() {
    init();
}

/// Print per-tier statistics to stderr.
#[no_mangle]
pub extern "C" fn hak_print_stats() {
    hakmem::print_stats();
}

/// Return the calling thread's cached blocks to the shared pools.
#[no_mangle]
pub extern "C" fn hak_thread_flush() {
    hakmem::thread_flush();
}

/// 1 if `p` lies in memory managed by hakmem, else 0. Never dereferences `p`.
#[no_mangle]
pub extern "C" fn hak_owns(p: *const c_void) -> c_int {
    c_int::from(!p.is_null() && hakmem::owns(p.cast()))
}

/// hakmem's version as a static NUL-terminated string, e.g. `"0.1.0"`.
#[no_mangle]
pub extern "C" fn hak_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{errno, page_size, set_errno};
    use core::ffi::CStr;

    #[test]
    fn version_is_crate_version() {
        // SAFETY: hak_version returns a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(hak_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn error_paths() {
        hak_init();
        set_errno(0);
        assert!(hak_malloc(usize::MAX).is_null());
        assert_eq!(errno(), libc::ENOMEM);
        set_errno(0);
        assert!(hak_calloc(usize::MAX / 2, 3).is_null());
        assert_eq!(errno(), libc::ENOMEM);
        set_errno(0);
        assert!(hak_memalign(usize::MAX, 8).is_null());
        assert_eq!(errno(), libc::EINVAL);
        set_errno(0);
        assert!(hak_aligned_alloc(1 << 63, 8).is_null());
        assert_eq!(errno(), libc::ENOMEM);
        set_errno(0);
        assert!(hak_pvalloc(usize::MAX).is_null());
        assert_eq!(errno(), libc::ENOMEM);

        let mut m: *mut c_void = core::ptr::dangling_mut();
        set_errno(7);
        // SAFETY: `m` is a valid out-pointer.
        unsafe {
            assert_eq!(hak_posix_memalign(&mut m, 24, 8), libc::EINVAL);
            assert_eq!(hak_posix_memalign(&mut m, 0, 8), libc::EINVAL);
            assert_eq!(hak_posix_memalign(&mut m, 64, usize::MAX), libc::ENOMEM);
        }
        assert_eq!(m, core::ptr::dangling_mut());
        assert_eq!(errno(), 7);
    }

    #[test]
    fn sizes_and_alignment() {
        let p = hak_malloc(0);
        let q = hak_malloc(0);
        assert!(!p.is_null() && !q.is_null() && p != q);
        // SAFETY: p and q are live blocks.
        unsafe {
            hak_free(p);
            hak_free(q);
        }
        for a in [24usize, 48, 100, 4096, 5000, 1 << 20] {
            let p = hak_memalign(a, 10);
            assert_eq!(p as usize % a.next_power_of_two(), 0, "align {a}");
            // SAFETY: p is live.
            unsafe { hak_free(p) };
        }
        let ps = page_size();
        let p = hak_pvalloc(0);
        assert_eq!(p as usize % ps, 0);
        // SAFETY: p is live.
        unsafe {
            assert!(hak_malloc_usable_size(p) >= ps);
            hak_free(p);
            assert_eq!(hak_malloc_usable_size(core::ptr::null_mut()), 0);
        }
    }

    #[test]
    fn realloc_semantics() {
        // SAFETY: all pointers passed are null or live blocks.
        unsafe {
            let p = hak_realloc(core::ptr::null_mut(), 8).cast::<u8>();
            assert!(!p.is_null());
            p.write_bytes(0x5a, 8);
            set_errno(0);
            assert!(hak_realloc(p.cast(), usize::MAX).is_null());
            assert_eq!(errno(), libc::ENOMEM);
            assert_eq!(*p.add(7), 0x5a);
            assert!(hak_reallocarray(p.cast(), usize::MAX, 2).is_null());
            set_errno(0);
            assert!(hak_realloc(p.cast(), 0).is_null());
            assert_eq!(errno(), 0);
        }
    }
}
