//! hak-ffi — hakmem's C ABI with exact glibc 2.36 semantics.
//!
//! Every exported C function is generated from one list (`exports.rs`):
//! the `hak_*` symbols are the `extern "C"` functions of [`hak`]
//! (`hak::malloc` is `hak_malloc`); the unprefixed `malloc`, `free`, … are
//! defined by the `hakmem-cdylib` facade through [`plain_exports!`], so this
//! crate defines no `malloc` symbol. Each of them calls the `#[inline]` Rust
//! function of the same name in [`abi`], which holds the bodies (exported
//! functions cannot be `#[inline]`): each exported symbol is one function with
//! no extra call, with or without LTO. Prototypes and comments for C and C++
//! callers are in `include/hakmem.h`; `hakmem-preload-tests` checks that it
//! declares exactly what `libhakmem.so` exports.
//!
//! Every call into the C library is in `sys.rs`.
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

// The standard entries of the export list name their types by this path,
// which also resolves in the crate that expands `plain_exports!`.
extern crate self as hak_ffi;

pub mod abi;
mod exports;
pub mod extras;
mod foreign;
mod report;
mod sys;

pub use exports::hak;

/// Initialise hakmem and the FFI layer (idempotent, allocation-free).
///
/// Called from the `hakmem-cdylib` constructor and by `hak_init`
/// ([`abi::init`]). Records the bottom of glibc's program-break heap (used to
/// recognise glibc-owned pointers) and calls `hakmem::init()`. Every entry
/// point also works before this has run.
pub fn init() {
    foreign::record_brk();
    let _ = sys::page_size();
    hakmem::init();
}

#[cfg(test)]
mod tests {
    use crate::hak::*;
    use crate::sys::{errno, page_size, set_errno, EINVAL, ENOMEM};
    use core::ffi::{c_void, CStr};

    #[test]
    fn version_is_crate_version() {
        // SAFETY: hak_version returns a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn error_paths() {
        init();
        set_errno(0);
        assert!(malloc(usize::MAX).is_null());
        assert_eq!(errno(), ENOMEM);
        set_errno(0);
        assert!(calloc(usize::MAX / 2, 3).is_null());
        assert_eq!(errno(), ENOMEM);
        set_errno(0);
        assert!(memalign(usize::MAX, 8).is_null());
        assert_eq!(errno(), EINVAL);
        set_errno(0);
        assert!(aligned_alloc(1 << 63, 8).is_null());
        assert_eq!(errno(), ENOMEM);
        set_errno(0);
        assert!(pvalloc(usize::MAX).is_null());
        assert_eq!(errno(), ENOMEM);

        let mut m: *mut c_void = core::ptr::dangling_mut();
        set_errno(7);
        // SAFETY: `m` is a valid out-pointer.
        unsafe {
            assert_eq!(posix_memalign(&mut m, 24, 8), EINVAL);
            assert_eq!(posix_memalign(&mut m, 0, 8), EINVAL);
            assert_eq!(posix_memalign(&mut m, 64, usize::MAX), ENOMEM);
        }
        assert_eq!(m, core::ptr::dangling_mut());
        assert_eq!(errno(), 7);
    }

    #[test]
    fn sizes_and_alignment() {
        let p = malloc(0);
        let q = malloc(0);
        assert!(!p.is_null() && !q.is_null() && p != q);
        // SAFETY: p and q are live blocks.
        unsafe {
            free(p);
            free(q);
        }
        for a in [24usize, 48, 100, 4096, 5000, 1 << 20] {
            let p = memalign(a, 10);
            assert_eq!(p as usize % a.next_power_of_two(), 0, "align {a}");
            // SAFETY: p is live.
            unsafe { free(p) };
        }
        let ps = page_size();
        let p = pvalloc(0);
        assert_eq!(p as usize % ps, 0);
        // SAFETY: p is live.
        unsafe {
            assert!(malloc_usable_size(p) >= ps);
            free(p);
            assert_eq!(malloc_usable_size(core::ptr::null_mut()), 0);
        }
    }

    #[test]
    fn realloc_semantics() {
        // SAFETY: all pointers passed are null or live blocks.
        unsafe {
            let p = realloc(core::ptr::null_mut(), 8).cast::<u8>();
            assert!(!p.is_null());
            p.write_bytes(0x5a, 8);
            set_errno(0);
            assert!(realloc(p.cast(), usize::MAX).is_null());
            assert_eq!(errno(), ENOMEM);
            assert_eq!(*p.add(7), 0x5a);
            assert!(reallocarray(p.cast(), usize::MAX, 2).is_null());
            set_errno(0);
            assert!(realloc(p.cast(), 0).is_null());
            assert_eq!(errno(), 0);
        }
    }
}
