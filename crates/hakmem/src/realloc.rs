//! `realloc`: in place when the block has room, by `mremap` for blocks in a
//! mapping of their own, else by copy.

use core::ptr;

use hak_os::{map, segmap};

use crate::alloc::{alloc, alloc_big, route};
use crate::free::free;
use crate::{Tier, MIN_ALIGN};

/// A block that `realloc` grows to at least this many bytes moves into a
/// mapping of its own (the big tier), whatever its size class: from then on
/// it grows with `mremap` (page tables move, bytes are not copied) and,
/// within its mapping's segments, in place without a system call. A block
/// grown by `realloc` is usually a vector that keeps growing; copying it
/// from one L2.5 class to the next cost a copy of every byte at each step
/// and left each step's 1 MiB page resident (`realloc-grow`'s peak RSS).
/// glibc's first mmap threshold is 128 KiB; twice that keeps the number of
/// mappings (each at least one 4 MiB segment of address space and a VMA)
/// low for programs that grow many medium buffers. A mapped block stays
/// mapped while `realloc` keeps it at half this size or more, so a buffer
/// whose size swings around the threshold is not copied back and forth.
pub const REALLOC_MAP_MIN: usize = 256 * 1024;

/// `realloc` moves no more blocks into mappings of their own while the big
/// tier holds this many live blocks (16 GiB of address space, a small part
/// of Linux's default limit of 65 530 mappings per process): past it,
/// growing blocks stay in their size classes.
pub const REALLOC_MAP_MAX_LIVE: usize = 4096;

/// Resizes `p` to `new_size` bytes, keeping `min(old, new)` bytes of content.
/// `p` null behaves as [`alloc`]. A slab block stays in place when it has
/// room and would not waste more than half of it; a slab block grown to
/// [`REALLOC_MAP_MIN`] bytes or more gets a mapping of its own, and a
/// mapped block stays in its mapping (resized in place or by `mremap`)
/// while the new size is at least half of [`REALLOC_MAP_MIN`]. Returns
/// null on failure, leaving `p` intact; errno changes only when it returns
/// null (a failed attempt with a fallback leaves it alone). A `new_size`
/// of 0 returns a minimal block (the C layer implements glibc's
/// `realloc(p, 0)`).
///
/// # Safety
/// `p` is null or a live hakmem block owned by the caller.
pub unsafe fn realloc(p: *mut u8, new_size: usize) -> *mut u8 {
    if crate::secure::on() {
        // SAFETY: forwarded contract.
        return unsafe { crate::secure::realloc(p, new_size) };
    }
    if p.is_null() {
        return alloc(new_size);
    }
    if new_size > isize::MAX as usize {
        return ptr::null_mut();
    }
    let e = crate::free::entry(p);
    // The destination of a move: a mapping of its own for a growing slab
    // block (when one can be had), else whatever `alloc` gives.
    let mut q = ptr::null_mut();
    let old = if e & segmap::TAG_SLAB != 0 {
        // SAFETY: slab entry for p.
        let bs = unsafe { (*(*hak_slab::seg_of_entry(e)).page_of(p as usize)).block_size() };
        if new_size <= bs && new_size >= bs / 2 {
            return p;
        }
        if new_size > bs && new_size >= REALLOC_MAP_MIN && hak_bigcache::live() < REALLOC_MAP_MAX_LIVE {
            q = attempt(|| alloc_big(new_size, MIN_ALIGN, false));
        }
        bs
    } else if e & segmap::TAG_BIG != 0 {
        if new_size >= REALLOC_MAP_MIN / 2 || route(new_size).0 == Tier::Big {
            // SAFETY: big entry for a live block we own.
            let r = attempt(|| unsafe { hak_bigcache::realloc(e, p, new_size) });
            if !r.is_null() {
                if crate::sites::on() {
                    crate::sites::on_realloc_big(p, r, new_size);
                }
                return r;
            }
        }
        // SAFETY: big entry for p.
        unsafe { hak_bigcache::usable_size(e, p) }
    } else {
        hak_os::diag::fatal("realloc(): invalid pointer", p as usize);
    };
    if q.is_null() {
        q = alloc(new_size);
        if q.is_null() {
            return q;
        }
    }
    // SAFETY: both blocks are live and hold at least the copied length.
    unsafe {
        ptr::copy_nonoverlapping(p, q, old.min(new_size));
        free(p);
    }
    q
}

/// Runs `f`, an allocation the caller can do without (it has a fallback):
/// when `f` fails, errno is left as it was.
#[inline]
pub(crate) fn attempt(f: impl FnOnce() -> *mut u8) -> *mut u8 {
    let mut q = ptr::null_mut();
    map::quiet(|| {
        q = f();
        !q.is_null()
    });
    q
}
