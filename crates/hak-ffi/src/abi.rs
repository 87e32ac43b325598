//! The C allocation API with glibc 2.36 semantics, as `#[inline]` Rust-ABI
//! functions.
//!
//! These are the bodies of every exported C function: the `hak_*` symbols of
//! [`crate::hak`] and the unprefixed `malloc`, `free`, … of `hakmem-cdylib`
//! are both generated from the one list in `exports.rs`, and each calls the
//! function of the same name here. Exported functions cannot be `#[inline]`,
//! so each exported symbol is a single function with no extra call, with or
//! without LTO. Names and signatures mirror the C ones (without `hak_`).

use core::ffi::{c_char, c_int, c_void};

pub use crate::extras::{mallinfo, mallinfo2, malloc_info, malloc_stats, malloc_trim, mallopt, stats_get, stats_print};
use crate::foreign;
use crate::sys::{page_size, set_errno, EINVAL, ENOMEM};

/// Largest alignment argument `memalign`/`aligned_alloc` accept
/// (`SIZE_MAX / 2 + 1`, the largest power of two); larger ones fail with
/// `EINVAL`, like glibc.
const MAX_ALIGN_ARG: usize = usize::MAX / 2 + 1;

/// Allocate `size` bytes aligned to `align` following glibc's
/// `_mid_memalign`, reporting failure with `on_null`: `align <= 16` is a
/// plain allocation, other alignments are rounded up to a power of two;
/// `Err(EINVAL)` for an alignment above `SIZE_MAX / 2 + 1` (nothing
/// reported); null (after `on_null`) when the request cannot be satisfied.
#[inline(always)]
fn aligned_raw(align: usize, size: usize, on_null: fn()) -> Result<*mut u8, c_int> {
    if align > MAX_ALIGN_ARG {
        return Err(EINVAL);
    }
    // Cannot overflow: align <= 2^63. An alignment of 0 is 1 (a power of
    // two, as `alloc_aligned_or_report` requires).
    let a = if align.is_power_of_two() { align } else { align.max(1).next_power_of_two() };
    Ok(hakmem::alloc_aligned_or_report(size, a, on_null))
}

/// [`aligned_raw`] with the error stored in `errno` (null on failure).
#[inline]
fn aligned_errno(align: usize, size: usize) -> *mut c_void {
    match aligned_raw(align, size, set_enomem) {
        Ok(p) => p.cast(),
        Err(e) => {
            set_errno(e);
            core::ptr::null_mut()
        }
    }
}

/// `malloc`: `size` bytes, 16-byte aligned; `malloc(0)` is a unique pointer.
/// Null with `errno = ENOMEM` on failure or when `size > PTRDIFF_MAX`.
#[inline]
pub fn malloc(size: usize) -> *mut c_void {
    hakmem::alloc_or_report(size, set_enomem).cast()
}

fn set_enomem() {
    set_errno(ENOMEM);
}

fn no_report() {}

/// `free`: release `p` (null: no-op). A pointer not owned by hakmem is
/// forwarded to glibc when it lies in glibc's heap, otherwise reported on
/// stderr and the process aborts.
///
/// # Safety
/// `p` must be null or a live block returned by this allocator (or glibc's).
#[inline]
pub unsafe fn free(p: *mut c_void) {
    // SAFETY: caller's contract; hakmem hands `p` to `free_foreign` only
    // when it is non-null and not hakmem's.
    unsafe { hakmem::free_or_forward(p.cast(), free_foreign) }
}

/// `free` of a non-null pointer that is not hakmem's.
///
/// # Safety
/// `p` is non-null and not hakmem's.
unsafe fn free_foreign(p: *mut u8) {
    // SAFETY: per contract.
    unsafe { foreign::free(p, b"free") }
}

/// `calloc`: `n * size` zeroed bytes. Null with `errno = ENOMEM` on
/// multiplication overflow, a total above `PTRDIFF_MAX`, or out of memory.
#[inline]
pub fn calloc(n: usize, size: usize) -> *mut c_void {
    let p = match n.checked_mul(size) {
        Some(total) => hakmem::alloc_zeroed(total),
        None => core::ptr::null_mut(),
    };
    if p.is_null() {
        set_errno(ENOMEM);
    }
    p.cast()
}

/// `realloc`: resize `p` to `size` bytes, keeping the common prefix.
/// `realloc(NULL, n)` = `malloc(n)`; `realloc(p, 0)` frees `p` and returns
/// null without touching `errno` (glibc); on failure returns null with
/// `errno = ENOMEM` and `p` is kept. A glibc-owned `p` is migrated into
/// hakmem.
///
/// # Safety
/// `p` must be null or a live block returned by this allocator (or glibc's).
#[inline]
pub unsafe fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    let p = p.cast::<u8>();
    if p.is_null() {
        return malloc(size);
    }
    if !hakmem::owns(p) {
        // SAFETY: `p` is non-null, not hakmem's; caller's contract otherwise.
        return unsafe { foreign::realloc(p, size) }.cast();
    }
    if size == 0 {
        // SAFETY: `p` is a live hakmem block (caller's contract + owns).
        unsafe { hakmem::free(p) };
        return core::ptr::null_mut();
    }
    // The router never changes errno on success (its expected-to-fail
    // in-place `mremap` restores it), as glibc.
    // SAFETY: `p` is a live hakmem block (caller's contract + owns).
    let q = unsafe { hakmem::realloc(p, size) };
    if q.is_null() {
        set_errno(ENOMEM);
    }
    q.cast()
}

/// `reallocarray`: `realloc(p, n * size)` with an overflow check (overflow:
/// null, `errno = ENOMEM`, `p` kept). `n * size == 0` frees `p` like
/// `realloc(p, 0)`.
///
/// # Safety
/// As [`realloc`].
#[inline]
pub unsafe fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: forwarded contract.
        Some(total) => unsafe { realloc(p, total) },
        None => {
            set_errno(ENOMEM);
            core::ptr::null_mut()
        }
    }
}

/// `posix_memalign`: store in `*memptr` a block of `size` bytes aligned to
/// `align`. Returns 0, `EINVAL` (alignment not a power of two multiple of
/// `sizeof(void *)`) or `ENOMEM`; never changes `errno` (glibc 2.36 saves and
/// restores it), and leaves `*memptr` untouched on failure.
///
/// # Safety
/// `memptr` must be valid for a pointer-sized write.
#[inline]
pub unsafe fn posix_memalign(memptr: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_multiple_of(core::mem::size_of::<*mut c_void>()) || !align.is_power_of_two() {
        return EINVAL;
    }
    match aligned_raw(align, size, no_report) {
        Ok(p) if !p.is_null() => {
            // SAFETY: caller guarantees `memptr` is writable.
            unsafe { *memptr = p.cast() };
            0
        }
        Ok(_) => ENOMEM,
        Err(e) => e,
    }
}

/// `aligned_alloc`: identical to [`memalign`], as in glibc 2.36 where
/// `aligned_alloc` is an alias of `memalign` (the C17 `EINVAL` for a
/// non-power-of-two alignment only came with glibc 2.38).
#[inline]
pub fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    aligned_errno(align, size)
}

/// `memalign`: `size` bytes aligned to `align` rounded up to a power of two;
/// `align <= 16` behaves as `malloc`. Null with `errno = EINVAL` when
/// `align > SIZE_MAX / 2 + 1`, `ENOMEM` when it cannot be satisfied.
#[inline]
pub fn memalign(align: usize, size: usize) -> *mut c_void {
    aligned_errno(align, size)
}

/// `valloc`: `size` bytes aligned to the page size.
#[inline]
pub fn valloc(size: usize) -> *mut c_void {
    aligned_errno(page_size(), size)
}

/// `pvalloc`: page-aligned, size rounded up to a multiple of the page size;
/// `pvalloc(0)` returns one page (glibc 2.36 returns less than a page there,
/// a rounding bug in its mask). Null with `errno = ENOMEM` when the rounding
/// overflows or memory is exhausted.
#[inline]
pub fn pvalloc(size: usize) -> *mut c_void {
    let ps = page_size();
    match size.checked_add(ps - 1) {
        Some(r) => aligned_errno(ps, (r & !(ps - 1)).max(ps)),
        None => {
            set_errno(ENOMEM);
            core::ptr::null_mut()
        }
    }
}

/// `malloc_usable_size`: usable bytes of the block `p` (>= the requested
/// size); 0 for null. For a glibc-owned pointer, glibc's answer; for any
/// other foreign pointer, 0.
///
/// # Safety
/// `p` must be null or a live block returned by this allocator (or glibc's).
#[inline]
pub unsafe fn malloc_usable_size(p: *mut c_void) -> usize {
    let p = p.cast::<u8>().cast_const();
    // SAFETY: caller's contract; returns 0 for null and for foreign pointers.
    let n = unsafe { hakmem::usable_size(p) };
    if n != 0 || p.is_null() {
        return n;
    }
    // SAFETY: `p` is non-null and not hakmem's (a hakmem block always has a
    // non-zero usable size; if not, this answers 0 as well since hakmem
    // memory never lies in the break heap).
    unsafe { foreign::usable_size(p) }
}

/// `cfree`: obsolete synonym of [`free`].
///
/// # Safety
/// As [`free`].
#[inline]
pub unsafe fn cfree(p: *mut c_void) {
    // SAFETY: forwarded contract.
    unsafe { free(p) }
}

/// `free_sized` (C23): [`free`]; the size hint is ignored.
///
/// # Safety
/// As [`free`].
#[inline]
pub unsafe fn free_sized(p: *mut c_void, _size: usize) {
    // SAFETY: forwarded contract.
    unsafe { free(p) }
}

/// `free_aligned_sized` (C23): [`free`]; the alignment and size hints are
/// ignored.
///
/// # Safety
/// As [`free`].
#[inline]
pub unsafe fn free_aligned_sized(p: *mut c_void, _align: usize, _size: usize) {
    // SAFETY: forwarded contract.
    unsafe { free(p) }
}

/// `hak_init`: initialise hakmem explicitly (idempotent): [`crate::init`].
/// Not required: the shared library's constructor calls it, and every entry
/// point works before it.
#[inline]
pub fn init() {
    crate::init();
}

/// `hak_print_stats`: print per-tier statistics to stderr.
#[inline]
pub fn print_stats() {
    hakmem::print_stats();
}

/// `hak_thread_flush`: return the calling thread's cached blocks to the
/// shared pools.
#[inline]
pub fn thread_flush() {
    hakmem::thread_flush();
}

/// `hak_owns`: 1 if `p` lies in memory managed by hakmem, else 0. Never
/// dereferences `p`.
#[inline]
pub fn owns(p: *const c_void) -> c_int {
    c_int::from(!p.is_null() && hakmem::owns(p.cast()))
}

/// Version string returned by [`version`] (NUL-terminated).
static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// `hak_version`: hakmem's version as a static NUL-terminated string, e.g.
/// `"0.1.0"`.
#[inline]
pub fn version() -> *const c_char {
    VERSION.as_ptr().cast()
}
