//! TEMPORARY STUB of the router API (see API.md) backed by glibc's
//! `__libc_*` entry points, so that the FFI layer and the test suites can be
//! built while the real tiers are written. Replaced by the real router.
#![no_std]
use core::alloc::{GlobalAlloc, Layout};

extern "C" {
    fn __libc_malloc(n: usize) -> *mut u8;
    fn __libc_calloc(n: usize, m: usize) -> *mut u8;
    fn __libc_free(p: *mut u8);
    fn __libc_realloc(p: *mut u8, n: usize) -> *mut u8;
    fn __libc_memalign(a: usize, n: usize) -> *mut u8;
    fn malloc_usable_size(p: *const u8) -> usize;
}

/// Minimum alignment of every block.
pub const MIN_ALIGN: usize = 16;

/// Allocate `size` bytes.
pub fn alloc(size: usize) -> *mut u8 {
    if size > isize::MAX as usize { return core::ptr::null_mut(); }
    unsafe { __libc_malloc(size) }
}
/// Allocate zeroed.
pub fn alloc_zeroed(size: usize) -> *mut u8 {
    if size > isize::MAX as usize { return core::ptr::null_mut(); }
    unsafe { __libc_calloc(1, size) }
}
/// Allocate aligned.
pub fn alloc_aligned(size: usize, align: usize) -> *mut u8 {
    if size > isize::MAX as usize { return core::ptr::null_mut(); }
    unsafe { __libc_memalign(align.max(16), size) }
}
/// Ownership test.
pub fn owns(p: *const u8) -> bool { !p.is_null() }
/// Free.
///
/// # Safety
/// p must be null or a live block.
pub unsafe fn free(p: *mut u8) -> bool { unsafe { __libc_free(p) }; true }
/// Realloc.
///
/// # Safety
/// p must be null or a live block.
pub unsafe fn realloc(p: *mut u8, n: usize) -> *mut u8 {
    if n > isize::MAX as usize { return core::ptr::null_mut(); }
    unsafe { __libc_realloc(p, n.max(1)) }
}
/// Usable size.
///
/// # Safety
/// p must be null or a live block.
pub unsafe fn usable_size(p: *const u8) -> usize { if p.is_null() { 0 } else { unsafe { malloc_usable_size(p) } } }
/// Print stats.
pub fn print_stats() {}
/// Init.
pub fn init() {}
/// Flush the thread's caches.
pub fn thread_flush() {}

/// Global allocator.
pub struct HakMem;
unsafe impl GlobalAlloc for HakMem {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 { if l.align() <= 16 { alloc(l.size()) } else { alloc_aligned(l.size(), l.align()) } }
    unsafe fn dealloc(&self, p: *mut u8, _l: Layout) { unsafe { free(p) }; }
}
