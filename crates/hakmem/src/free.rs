//! Freeing: the segment-map lookup, the thread's block cache, the page
//! below it (the owner's fast path, else the slow paths), big blocks,
//! pointers that are not hakmem's, double-free reports and the usable size.

use core::ptr;

use hak_os::segmap;
use hak_slab::{Cache, Push};

use crate::ctx::{count_returned, live, upkeep, ThreadCtx};
use crate::tls;

/// Whether `p` lies in memory hakmem manages (one segment-map lookup, and
/// for a big block's segment a look at its record; `p`'s memory is never
/// read).
#[inline]
pub fn owns(p: *const u8) -> bool {
    entry(p) != 0
}

/// The segment-map entry of `p`, or 0 when `p` is not hakmem's, for any
/// address (`segmap::lookup_any`: one that lies beyond the map or in the
/// band its table leaves unmapped reads 0 instead of faulting). A big
/// mapping ends inside its last segment (decision 0048), whose entry names
/// it for the whole segment, so an address past the mapping's end is
/// another library's memory or nothing. The free fast path needs neither
/// test (its pointers are an allocator's; slab segments are hakmem's
/// whole).
#[inline]
pub(crate) fn entry(p: *const u8) -> usize {
    let e = segmap::lookup_any(p as usize);
    // SAFETY: `e` is `p`'s entry, tagged big.
    if e & segmap::TAG_BIG != 0 && !unsafe { hak_bigcache::covers(e, p) } {
        return 0;
    }
    e
}

/// Frees `p`. Returns true when `p` was null or hakmem's (now freed), false
/// when `p` is not hakmem's (it is left untouched). Aborts with a message on
/// a detected double free (see the thread cache's limits in `hak_slab::Cache`)
/// and on a pointer into the middle of a big block (looked up exactly). A
/// slab pointer that starts no block is caught on the fast path only in the
/// `strict-free` build (`Push::Invalid`, hak-slab's cache; decision 0038);
/// otherwise its segment and page are found by address, as jemalloc's and
/// tcmalloc's thread caches do.
///
/// # Safety
/// `p` is null, a live hakmem block, or not hakmem memory at all.
#[inline(always)]
pub unsafe fn free(p: *mut u8) -> bool {
    let e = segmap::lookup(p as usize);
    // SAFETY: forwarded contract.
    if unsafe { free_slab(e, p) } {
        return true;
    }
    // SAFETY: forwarded contract.
    unsafe { free_other(e, p) }
}

/// [`free`] for the C layer: a non-null pointer that is not hakmem's goes
/// to `foreign` (tail-called), so that the fast path does not return a
/// result for its caller to test.
///
/// # Safety
/// As [`free`]; `foreign` accepts any non-null pointer that is not
/// hakmem's.
#[inline(always)]
pub unsafe fn free_or_forward(p: *mut u8, foreign: unsafe fn(*mut u8)) {
    let e = segmap::lookup(p as usize);
    // SAFETY: forwarded contract.
    if unsafe { free_slab(e, p) } {
        return;
    }
    // SAFETY: forwarded contract.
    unsafe { free_other_or_forward(p, e, foreign) }
}

/// The slab part of [`free`]: frees `p` if its segment-map entry `e` is a
/// slab segment's (true), else does nothing (false).
///
/// # Safety
/// As [`free`], with `e` the entry of `p`.
#[inline(always)]
unsafe fn free_slab(e: usize, p: *mut u8) -> bool {
    if e & segmap::TAG_SLAB == 0 {
        return false;
    }
    // SAFETY: slab entries point to live segment records; p lies in it.
    unsafe {
        let seg = &*hak_slab::seg_of_entry(e);
        let c = tls::ctx();
        // A dormant record's bins are full: the push writes nothing.
        match Cache::push_at(ptr::addr_of_mut!((*c).cache), seg.bin_of(p as usize), p) {
            Push::Cached => true,
            Push::Full => free_past_full_bin(p, seg),
            Push::Suspect => free_suspect(p, seg),
            Push::DoubleFree | Push::Invalid => refused(p, seg),
        }
    }
}

/// [`free_slab`] of a block that carries the cache's key (`Push::Suspect`):
/// a double free if its bin holds it or it lies on the free list of a page
/// of ours (carved, never handed out: a free of a free block, such as
/// `free(p + 16)` of an 8-byte block); else (the program's data equal to
/// the key) cached or freed past the bin. Out of line, reading the context
/// again, as [`free_past_full_bin`].
///
/// # Safety
/// As [`free_past_full_bin`].
#[cold]
#[inline(never)]
unsafe fn free_suspect(p: *mut u8, seg: &hak_slab::SegMeta) -> bool {
    // SAFETY: forwarded contract; `c` is this thread's context (whose
    // heaps own pages under its address) or a dormant record (no key is
    // its address, so it never gets here).
    unsafe {
        let c = tls::ctx();
        let cache = ptr::addr_of_mut!((*c).cache);
        let bin = seg.bin_of(p as usize);
        if Cache::bin_holds(cache, bin, p) || Cache::page_holds(seg.page_of(p as usize), p, c as usize) {
            double_free(p)
        }
        match Cache::push_unchecked(cache, bin, p) {
            Push::Cached => true,
            _ => free_past_full_bin(p, seg),
        }
    }
}

/// [`free`] of a block whose bin is full (or of a thread without a
/// context): counts towards the upkeep (so a thread that only frees still
/// drains its cache), then frees to the page. Out of line, and reading the
/// context again, so that the fast path neither saves registers nor keeps
/// the context's address.
///
/// # Safety
/// The calling thread is in no other operation on its context; `p` is a
/// live block of `seg`.
#[cold]
#[inline(never)]
unsafe fn free_past_full_bin(p: *mut u8, seg: &hak_slab::SegMeta) -> bool {
    if crate::secure::on() {
        // SAFETY: forwarded contract.
        return unsafe { free_secure(seg, p) };
    }
    // SAFETY: forwarded contract.
    unsafe {
        // With `HAKMEM_TRANSFER`: a full bin goes to its slot's transfer, for
        // a thread whose bin of the class is empty (decision 0052), and
        // takes the block, when the block is another heap's (a free of our
        // own goes to our page cheaply, and a thread freeing its own blocks
        // keeps the page path's checks).
        let c = tls::ctx();
        if crate::ctx::TRANSFER.load(core::sync::atomic::Ordering::Relaxed)
            && live(c)
            && !(*c).heaps.get_unchecked(seg.tier_index as usize).owns(seg.page_of(p as usize))
        {
            let cache = ptr::addr_of_mut!((*c).cache);
            let bin = seg.bin_of(p as usize);
            if Cache::give(cache, bin) && Cache::push_unchecked(cache, bin, p) == Push::Cached {
                // A bin's worth of frees: the upkeep if it is due (a thread
                // that only frees reaches no other).
                crate::ctx::upkeep_if_due(c);
                return true;
            }
        }
        // On a page list now: a bin that still holds `p` reports it; a block
        // on a page list already is a double free (decision 0042).
        if !Cache::to_page(p) {
            double_free(p)
        }
        free_below_cache(seg, p)
    }
}

/// [`free_past_full_bin`] in secure mode (every free): the block is checked
/// and marked free first. Out of line, so that the default path keeps its
/// frame.
///
/// # Safety
/// As [`free_past_full_bin`], except that `p` need only lie in `seg`.
#[cold]
#[inline(never)]
unsafe fn free_secure(seg: &hak_slab::SegMeta, p: *mut u8) -> bool {
    // SAFETY: p lies in seg; once checked it is a live block of seg.
    unsafe {
        crate::secure::check_free_slab(seg, p);
        free_below_cache(seg, p)
    }
}

/// The body of [`free_past_full_bin`].
///
/// # Safety
/// As [`free_past_full_bin`].
#[inline(always)]
unsafe fn free_below_cache(seg: &hak_slab::SegMeta, p: *mut u8) -> bool {
    let c = tls::ctx();
    // SAFETY: `c` is this thread's context or a dormant record; p is a
    // live block of seg.
    unsafe { count_returned(c, seg, p) };
    if !live(c) {
        // No context, so no page of its own: a remote free (a consumer
        // thread takes this path for every free).
        // SAFETY: p is a live block of seg.
        unsafe { hak_slab::free_remote(seg.page_of(p as usize), p) };
        return true;
    }
    tls::on_tick!(tls::block(), {
        // SAFETY: a live context of this thread, between two operations.
        unsafe { upkeep(c) };
    });
    // SAFETY: per contract, with the thread's live context.
    unsafe { free_to_page(c, seg, p) };
    true
}

/// Frees slab block `p` of segment `seg` to its page, below the thread
/// cache: the owner's fast path, else the slow paths.
///
/// # Safety
/// `p` is a live block of `seg`; `c` is the calling thread's live context
/// (or its context being torn down, which is still live to [`live`]).
#[inline(always)]
pub(crate) unsafe fn free_to_page(c: *mut ThreadCtx, seg: &hak_slab::SegMeta, p: *mut u8) {
    // SAFETY: per contract.
    unsafe {
        let pg = seg.page_of(p as usize);
        // All heaps of a context share its address as owner token.
        if !hak_slab::free_fast(pg, p, c as usize) {
            free_slab_slow(c, seg, pg, p);
        }
    }
}

/// The report of a free the cache refused ([`Push::DoubleFree`] or
/// [`Push::Invalid`]: which one is decided again here, out of line). It
/// never returns, but is not declared `-> !`: the fast path reaches it with
/// a tail jump, not a call whose stack alignment the compiler hoisted into
/// the fast path's prologue (decision 0042).
///
/// # Safety
/// `p` lies in `seg`.
#[cold]
#[inline(never)]
unsafe fn refused(p: *mut u8, seg: &hak_slab::SegMeta) -> bool {
    // SAFETY: per contract; any thread may ask a page for a block index.
    let start = unsafe { (*seg.page_of(p as usize)).block_index(p as usize) }.is_some();
    if core::hint::black_box(true) {
        if !start {
            invalid_free(p)
        }
        double_free(p)
    }
    true
}

#[cold]
#[inline(never)]
fn double_free(p: *mut u8) -> ! {
    hak_os::diag::fatal("free(): double free detected", p as usize)
}

/// The report of a slab pointer that starts no block (the message of
/// secure mode's exact check, `crate::secure`).
#[cold]
#[inline(never)]
fn invalid_free(p: *mut u8) -> ! {
    hak_os::diag::fatal("free(): invalid pointer (not a block start) detected at", p as usize)
}

#[cold]
#[inline(never)]
unsafe fn free_slab_slow(c: *mut ThreadCtx, seg: &hak_slab::SegMeta, pg: *mut hak_slab::Page, p: *mut u8) {
    debug_assert!(live(c));
    // SAFETY: p is a live block of pg; c is this thread's context.
    unsafe { (*c).heaps.get_unchecked_mut(seg.tier_index as usize).free_slow(pg, p) }
}

#[cold]
unsafe fn free_other(e: usize, p: *mut u8) -> bool {
    // SAFETY: `e` is `p`'s entry, tagged big.
    if e & segmap::TAG_BIG != 0 && unsafe { hak_bigcache::covers(e, p) } {
        if crate::secure::on() {
            // SAFETY: entry tagged big for p.
            unsafe { crate::secure::check_free_big(e, p) };
        }
        if crate::sites::on() {
            crate::sites::on_free_big(p);
        }
        // SAFETY: entry tagged big for p.
        unsafe { hak_bigcache::free(e, p) };
        return true;
    }
    p.is_null()
}

/// [`free_other`], handing a pointer that is not hakmem's to `foreign`.
#[cold]
#[inline(never)]
unsafe fn free_other_or_forward(p: *mut u8, e: usize, foreign: unsafe fn(*mut u8)) {
    // SAFETY: forwarded contract.
    if !unsafe { free_other(e, p) } {
        // SAFETY: p is not hakmem's, per contract `foreign` takes it.
        unsafe { foreign(p) }
    }
}

/// The usable size of block `p`: 0 for null or memory that is not
/// hakmem's; otherwise the exact number of bytes the block offers (in
/// secure mode the size asked for: the canary follows it).
///
/// # Safety
/// `p` is null, a live hakmem block, or not hakmem memory.
pub unsafe fn usable_size(p: *const u8) -> usize {
    if crate::secure::on() {
        // SAFETY: forwarded contract.
        return unsafe { crate::secure::usable_size(p) };
    }
    // SAFETY: forwarded contract.
    unsafe { block_size(p) }
}

/// The bytes of block `p` (its class size, or a big block's usable size);
/// 0 for null or memory that is not hakmem's.
///
/// # Safety
/// As [`usable_size`].
pub(crate) unsafe fn block_size(p: *const u8) -> usize {
    let e = entry(p);
    if e & segmap::TAG_SLAB != 0 {
        // SAFETY: slab entry for p.
        unsafe {
            let seg = &*hak_slab::seg_of_entry(e);
            (*seg.page_of(p as usize)).block_size()
        }
    } else if e & segmap::TAG_BIG != 0 {
        // SAFETY: big entry for p.
        unsafe { hak_bigcache::usable_size(e, p) }
    } else {
        0
    }
}
