//! Page descriptors: [`Page`], the owner values, the remote list's word
//! encoding, carving and refilling a page's free list, and the static empty
//! page every heap starts with.

use core::ptr;
use core::sync::atomic as stat;

use hak_os::map;
use hak_os::sync::{AtomicPtr, AtomicUsize};

use crate::abandon::collect_remote;

/// A free block: its first word links to the next free block.
#[repr(C)]
pub struct Block {
    pub(crate) next: *mut Block,
}

/// Owner value of free pages (on the tier's lists). Never a valid token,
/// and never 0, so a null token matches no page.
pub const NO_OWNER: usize = 1;

/// Owner value of pages given up with blocks still out (exhausted pages, and
/// every page of an exited thread), adopted by the next heap that frees into
/// them or that needs a page with free space. Never a valid token.
pub const ABANDONED: usize = 3;

/// Owner value of an abandoned page while a remote freer reclaims it.
pub(crate) const RECLAIMING: usize = 2;

/// Descriptor of one page (a run of `1 << page_shift` bytes serving one
/// class). 128 bytes: the first cache line holds what the owner's fast paths
/// touch and, on purpose, the remote list: a remote freer reads `owner` and
/// pushes onto `remote`, and the owner collects `remote` next to `free` and
/// `used`, so a block passed between two threads moves one line, not two.
/// With `remote` on a line of its own, `prodcons` ran at a third of the
/// speed (2 and 4 threads, side by side, not in a record).
#[repr(C, align(64))]
pub struct Page {
    /// Owner-only: blocks ready to hand out.
    pub(crate) free: *mut Block,
    /// Blocks handed out and not yet returned. Written by the owner only;
    /// also read by a remote freer of an abandoned page ([`free_remote`]),
    /// so it is a relaxed atomic (plain loads and stores on x86-64): that
    /// read is not a data race, and its ordering comes from the remote
    /// list's RMWs. Use [`Page::used`] and [`Page::set_used`].
    pub(crate) used: stat::AtomicU32,
    /// Blocks carved so far (owner-only).
    pub(crate) capacity: u32,
    /// Token of the owning heap, [`NO_OWNER`] when free, [`ABANDONED`]
    /// when abandoned, `RECLAIMING` while a freer reclaims it.
    pub(crate) owner: AtomicUsize,
    /// Blocks the page can hold.
    pub(crate) reserved: u32,
    /// Size of each block in bytes.
    pub(crate) block_size: u32,
    /// First byte of the page.
    pub(crate) start: usize,
    /// Class index in the tier.
    pub(crate) class: u32,
    /// Bytes from `start` that may be resident, as of the page's last class
    /// change: the deepest carve of the classes it served since it was last
    /// purged, less what a trim returned (see [`page_depth`] and
    /// [`SlabTier::trim_for_class`]); 0 after a purge. Written by whoever
    /// holds the empty page alone (the heap taking it over, or the purge
    /// while it is off every list); read under the tier lock while the page
    /// is on the dirty list.
    pub(crate) depth: u32,
    /// Blocks freed by other threads (multi-producer, single-consumer stack),
    /// with their count in the top 16 bits (see [`REMOTE_COUNT_SHIFT`]).
    pub(crate) remote: AtomicPtr<Block>,
    /// List links (heap lists: owner-only; tier lists: under the tier lock).
    pub(crate) next: *mut Page,
    // ---- second cache line (from `prev` on): bookkeeping of the slow paths
    pub(crate) prev: *mut Page,
    /// When the page was last released (ms, for decay).
    pub(crate) freed_at_ms: u64,
    /// Link of the tier's abandoned-page hint list (under the tier lock).
    pub(crate) hint_next: *mut Page,
    /// On a hint list of the tier (under the tier lock; the page may have
    /// been adopted or released since it was put there).
    pub(crate) hinted: bool,
    /// Links of the tier's per-class dirty list (under the tier lock).
    pub(crate) class_next: *mut Page,
    pub(crate) class_prev: *mut Page,
}

impl Page {
    /// Blocks handed out and not yet returned (relaxed).
    #[inline(always)]
    pub(crate) fn used(&self) -> u32 {
        self.used.load(stat::Ordering::Relaxed)
    }

    /// Sets the count of blocks out (owner only; relaxed).
    #[inline(always)]
    pub(crate) fn set_used(&self, n: u32) {
        self.used.store(n, stat::Ordering::Relaxed);
    }

    hak_os::loom_const_fn! {
    pub(crate) fn empty() -> Page {
        Page {
            free: ptr::null_mut(),
            used: stat::AtomicU32::new(0),
            capacity: 0,
            owner: AtomicUsize::new(NO_OWNER),
            reserved: 0,
            block_size: 0,
            start: 0,
            class: 0,
            remote: AtomicPtr::new(ptr::null_mut()),
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
            freed_at_ms: 0,
            hint_next: ptr::null_mut(),
            hinted: false,
            depth: 0,
            class_next: ptr::null_mut(),
            class_prev: ptr::null_mut(),
        }
    }
    }

    /// Size in bytes of the blocks this page serves (the usable size of each).
    #[inline(always)]
    pub fn block_size(&self) -> usize {
        self.block_size as usize
    }

    /// Whether `p` is the start of a block of this page (slow check used by
    /// diagnostics and `realloc`).
    pub fn is_block_start(&self, p: usize) -> bool {
        self.block_size != 0
            && p >= self.start
            && (p - self.start).is_multiple_of(self.block_size as usize)
            && (p - self.start) / (self.block_size as usize) < self.capacity as usize
    }
}

/// The remote list word is a block pointer (47 bits of user address space)
/// with the number of blocks in the list in its top 16 bits, so the owner
/// learns the count with its swap instead of walking the list. A page holds
/// at most 4096 blocks, far below the 65535 the field can count.
pub(crate) const REMOTE_COUNT_SHIFT: u32 = 48;

#[inline(always)]
pub(crate) fn remote_ptr(w: *mut Block) -> *mut Block {
    ((w as usize) & ((1usize << REMOTE_COUNT_SHIFT) - 1)) as *mut Block
}

#[inline(always)]
pub(crate) fn remote_count(w: *mut Block) -> u32 {
    ((w as usize) >> REMOTE_COUNT_SHIFT) as u32
}

#[inline(always)]
pub(crate) fn remote_word(p: *mut Block, count: u32) -> *mut Block {
    ((p as usize) | ((count as usize) << REMOTE_COUNT_SHIFT)) as *mut Block
}

/// Makes the page's `free` list non-empty if it can: remote
/// frees, then carving fresh blocks. Returns whether `free` is non-empty.
///
/// # Safety
/// The caller owns `pg`.
pub(crate) unsafe fn refill(pg: *mut Page) -> bool {
    // SAFETY: owner-only fields of a page we own.
    unsafe {
        if !(*pg).free.is_null() {
            return true;
        }
        if collect_remote(pg) != 0 {
            return true;
        }
        if (*pg).capacity < (*pg).reserved {
            extend(pg);
            return true;
        }
        false
    }
}

/// Blocks [`extend`] carves at a time from a page of `bs`-byte blocks with
/// `left` (at least one) blocks not carved yet: about 4 KiB's worth, at
/// least one block.
#[inline(always)]
const fn carve_blocks(bs: usize, left: usize) -> usize {
    let n = 4096 / bs;
    let n = if n < 1 { 1 } else { n };
    if n < left {
        n
    } else {
        left
    }
}

/// The depth of the empty page `pg`: its bytes from the start that may be
/// resident (its recorded depth, or its current class's carve if deeper).
///
/// # Safety
/// `pg` is a free page and the caller holds the tier lock, or owns it.
pub(crate) unsafe fn page_depth(pg: *mut Page) -> usize {
    // SAFETY: per contract.
    unsafe {
        let carved = ((*pg).capacity as usize * (*pg).block_size as usize).next_multiple_of(map::page_size());
        ((*pg).depth as usize).max(carved)
    }
}

/// Bytes of the first carve of a page of `bs`-byte blocks.
pub(crate) const fn first_carve(bs: usize) -> usize {
    carve_blocks(bs, usize::MAX) * bs
}

/// Largest page (as a shift) that keeps only the new class's first carve
/// when it changes class (see `SlabTier::trim_for_class`): the tiny tier's
/// 64 KiB and L2's 256 KiB pages.
pub const TRIM_MAX_PAGE_SHIFT: u32 = 18;

/// Carves about 4 KiB worth of fresh blocks (at least one) onto `free`.
///
/// # Safety
/// The caller owns `pg`, whose `free` list is empty and capacity not reached.
pub(crate) unsafe fn extend(pg: *mut Page) {
    // SAFETY: the blocks carved lie inside the page and are unused.
    unsafe {
        let bs = (*pg).block_size as usize;
        let left = ((*pg).reserved - (*pg).capacity) as usize;
        let n = carve_blocks(bs, left);
        let first = (*pg).start + (*pg).capacity as usize * bs;
        for i in 0..n {
            let b = (first + i * bs) as *mut Block;
            (*b).next = if i + 1 < n { (first + (i + 1) * bs) as *mut Block } else { ptr::null_mut() };
        }
        (*pg).free = first as *mut Block;
        (*pg).capacity += n as u32;
    }
}

/// Hints the CPU to load the cache line at `p` (no fault for any address).
#[inline(always)]
pub(crate) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch never faults, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A static, never-written page used as the initial "current page" of every
/// class so the fast path needs no null check.
#[cfg(not(loom))]
struct EmptyPage(Page);
// SAFETY: the empty page is never written (its free list is null, so the fast
// path never touches it, and the slow path recognises it by address).
#[cfg(not(loom))]
unsafe impl Sync for EmptyPage {}
#[cfg(not(loom))]
static EMPTY: EmptyPage = EmptyPage(Page::empty());

/// Loom builds: zero bytes standing in for the empty page (loom atomics
/// cannot live in a static). Only its `free` field (null) is ever read.
#[cfg(loom)]
#[repr(C, align(64))]
struct EmptyPage([u8; core::mem::size_of::<Page>()]);
#[cfg(loom)]
static EMPTY: EmptyPage = EmptyPage([0; core::mem::size_of::<Page>()]);

#[inline(always)]
pub(crate) const fn empty_page() -> *mut Page {
    ptr::addr_of!(EMPTY.0) as *mut Page
}

// A page descriptor is two cache lines; the remote list shares the first
// with the owner's fields (see [`Page`]).
#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<Page>() == 128);
#[cfg(not(loom))]
const _: () = assert!(core::mem::offset_of!(Page, remote) + 8 <= 64);
