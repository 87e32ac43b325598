//! [`HakMem`]: hakmem as a Rust global allocator.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;

use crate::aligned::alloc_aligned;
use crate::alloc::{alloc, alloc_zeroed};
use crate::free::{free, free_or_forward, usable_size};
use crate::realloc::realloc;
use crate::MIN_ALIGN;

// ---------------------------------------------------------------- GlobalAlloc

/// hakmem as a Rust global allocator:
/// `#[global_allocator] static A: hakmem::HakMem = hakmem::HakMem;`
pub struct HakMem;

/// `HakMem::dealloc` of a pointer hakmem does not own: a caller's bug
/// (`GlobalAlloc` only deallocates what it allocated), reported.
#[cold]
unsafe fn not_allocated_here(p: *mut u8) {
    hak_os::diag::fatal("dealloc(): pointer not allocated by hakmem", p as usize)
}

// SAFETY: blocks are valid for their layout (size and alignment) until
// freed; hakmem never hands out a block twice.
unsafe impl GlobalAlloc for HakMem {
    #[inline]
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.align() <= MIN_ALIGN {
            alloc(l.size())
        } else {
            alloc_aligned(l.size(), l.align())
        }
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, _l: Layout) {
        // SAFETY: p came from this allocator (anything else is reported).
        unsafe { free_or_forward(p, not_allocated_here) };
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if l.align() <= MIN_ALIGN {
            return alloc_zeroed(l.size());
        }
        let p = alloc_aligned(l.size(), l.align());
        if !p.is_null() {
            // SAFETY: the block holds l.size() bytes.
            unsafe { ptr::write_bytes(p, 0, l.size()) };
        }
        p
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        if l.align() <= MIN_ALIGN {
            // SAFETY: p came from this allocator with layout l.
            return unsafe { realloc(p, new_size) };
        }
        // SAFETY: p is live; usable_size reads the segment map only.
        if new_size <= unsafe { usable_size(p) } && new_size >= l.size() / 2 {
            return p;
        }
        let q = alloc_aligned(new_size, l.align());
        if !q.is_null() {
            // SAFETY: both blocks are live and large enough.
            unsafe {
                ptr::copy_nonoverlapping(p, q, l.size().min(new_size));
                free(p);
            }
        }
        q
    }
}
