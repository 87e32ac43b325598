//! hak-slab — the page engine under hakmem's tiny and pool tiers.
//!
//! A [`SlabTier`] is a table of block sizes (its classes) plus a page size. It
//! reserves 4 MiB segments, registers them in the segment map
//! ([`hak_os::segmap`], tag [`TAG_SLAB`]), and hands out their pages; each page
//! serves blocks of one class. Page descriptors live in a [`SegMeta`] record
//! outside the segment, so page memory is only touched when blocks are carved
//! from it (lazily, about 4 KiB at a time).
//!
//! A [`Heap`] belongs to one thread. Per class it keeps a *current* page and
//! a list of partially free pages.
//!
//! * **alloc** pops the current page's `free` list: two loads, two stores, no
//!   atomics. When it is empty the slow path refills it from the page's
//!   remote frees, then by carving more blocks; an exhausted page (no free
//!   block, fully carved) is *detached* (abandoned, below), and the heap
//!   switches to another page: a partially free page of its own, else an
//!   abandoned page with free space ([`SlabTier`] keeps per-class hints of
//!   those), else an empty page of the tier (resident ones first), else a
//!   new one.
//! * **free by the owner** pushes onto the page's `free` list, no atomics:
//!   the next allocation of that class gets the most recently freed block,
//!   still warm in the cache (a separate local-free list, as mimalloc has,
//!   hands out the coldest blocks first, which was slower on larson
//!   and the aligned workload).
//! * **free by another thread** pushes onto the page's lock-free `remote` list
//!   (one CAS). The owner takes the whole list with one swap when it needs
//!   blocks.
//! * **abandonment**: a page whose owner does not need it (exhausted, or
//!   every page at thread exit, [`Heap::abandon_all`]) is given up
//!   (`owner = ABANDONED`) instead of being kept on an owner's list that
//!   nobody looks at. The first thread that frees a block of an abandoned
//!   page through a heap adopts it (CAS `ABANDONED → token`): blocks are
//!   freed by whoever received them, so the page follows its data and later
//!   frees are local again (larson's hand-over pattern), and an owner that
//!   went idle does not sit on pages whose blocks other threads freed. A heap
//!   that needs a page adopts an abandoned one with free space before taking
//!   a clean one. A free into an abandoned page by a thread that cannot
//!   adopt (no heap, or an exiting thread's) goes to the remote list, where
//!   the page's next owner collects it; the free of the page's last block
//!   *reclaims* the page: it owns the page for a moment (CAS `ABANDONED →
//!   RECLAIMING`), collects the remote list and returns the now empty page
//!   to the tier. So a page whose last block is freed never stays
//!   abandoned.
//!
//! Page states (`owner`): a heap's token (on exactly one list of that heap:
//! current or partial), [`NO_OWNER`] (free, on the tier's dirty or clean
//! list), [`ABANDONED`] (on no heap list, live blocks out, maybe some of
//! them freed onto the remote list; maybe on a hint list of the tier),
//! `RECLAIMING` (transiently owned by a reclaiming freer). Each transition
//! and its orderings is documented where it happens and checked by the loom
//! models (`cargo xtask loom`).
//!
//! Memory accounting: `Page::used` counts blocks handed out and not yet
//! returned (remote frees are counted when collected). A page whose count
//! reaches zero goes back to the tier, which keeps a bounded number of empty
//! pages committed and `madvise`s the rest away once they stayed unused for
//! the decay interval (batched, oldest first).
#![cfg_attr(not(loom), no_std)]
#![warn(missing_docs)]

use core::ptr;
// Statistics counters and configuration knobs: relaxed, outside every
// protocol, plain `core` atomics in every build (see `hak_os::sync`).
use core::sync::atomic as stat;

use hak_os::lock::SpinLock;
use hak_os::sync::{AtomicPtr, AtomicUsize, Ordering};
use hak_os::{diag, map, meta, segmap, SEGMENT_SIZE};

pub use hak_os::segmap::TAG_SLAB;

/// Maximum number of classes of one tier.
pub const MAX_CLASSES: usize = 24;
/// Maximum number of pages of one segment (64 KiB pages in 4 MiB segments).
pub const MAX_PAGES: usize = hak_os::SEGMENT_SIZE >> 16;

#[cfg(all(test, loom))]
mod loom_models;

mod cache;
pub mod classes;
pub use cache::{bin_offset, slot, Cache, Push, MAX_BIN, MAX_CACHED, MIN_BIN};

/// Tiers one process (one [`Cache`]) serves at most: router indices are
/// below this.
pub const MAX_TIERS: usize = 4;
/// Cache slots: one per class of every tier (see [`slot`]).
pub const SLOTS: usize = MAX_TIERS * MAX_CLASSES;
/// The slot of a free page: its bin in every [`Cache`] has no room.
pub const NO_SLOT: usize = SLOTS;
// Bin offsets are published as `u32`s (`SegMeta::bins`).
const _: () = assert!(bin_offset(NO_SLOT) <= u32::MAX as usize);

/// A free block: its first word links to the next free block.
#[repr(C)]
pub struct Block {
    next: *mut Block,
}

/// Owner value of free pages (on the tier's lists). Never a valid token,
/// and never 0, so a null token matches no page.
pub const NO_OWNER: usize = 1;

/// Owner value of pages given up with blocks still out (exhausted pages, and
/// every page of an exited thread), adopted by the next heap that frees into
/// them or that needs a page with free space. Never a valid token.
pub const ABANDONED: usize = 3;

/// Owner value of an abandoned page while a remote freer reclaims it.
const RECLAIMING: usize = 2;

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
    free: *mut Block,
    /// Blocks handed out and not yet returned. Written by the owner only;
    /// also read by a remote freer of an abandoned page ([`free_remote`]),
    /// so it is a relaxed atomic (plain loads and stores on x86-64): that
    /// read is not a data race, and its ordering comes from the remote
    /// list's RMWs. Use [`Page::used`] and [`Page::set_used`].
    used: stat::AtomicU32,
    /// Blocks carved so far (owner-only).
    capacity: u32,
    /// Token of the owning heap, [`NO_OWNER`] when free, [`ABANDONED`]
    /// when abandoned, `RECLAIMING` while a freer reclaims it.
    owner: AtomicUsize,
    /// Blocks the page can hold.
    reserved: u32,
    /// Size of each block in bytes.
    block_size: u32,
    /// First byte of the page.
    start: usize,
    /// Class index in the tier.
    class: u32,
    /// Bytes from `start` that may be resident, as of the page's last class
    /// change: the deepest carve of the classes it served since it was last
    /// purged, less what a trim returned (see [`page_depth`] and
    /// [`SlabTier::trim_for_class`]); 0 after a purge. Written by whoever
    /// holds the empty page alone (the heap taking it over, or the purge
    /// while it is off every list); read under the tier lock while the page
    /// is on the dirty list.
    depth: u32,
    /// Blocks freed by other threads (multi-producer, single-consumer stack),
    /// with their count in the top 16 bits (see [`REMOTE_COUNT_SHIFT`]).
    remote: AtomicPtr<Block>,
    /// List links (heap lists: owner-only; tier lists: under the tier lock).
    next: *mut Page,
    // ---- second cache line (from `prev` on): bookkeeping of the slow paths
    prev: *mut Page,
    /// When the page was last released (ms, for decay).
    freed_at_ms: u64,
    /// Link of the tier's abandoned-page hint list (under the tier lock).
    hint_next: *mut Page,
    /// On a hint list of the tier (under the tier lock; the page may have
    /// been adopted or released since it was put there).
    hinted: bool,
    /// Links of the tier's per-class dirty list (under the tier lock).
    class_next: *mut Page,
    class_prev: *mut Page,
}

impl Page {
    /// Blocks handed out and not yet returned (relaxed).
    #[inline(always)]
    fn used(&self) -> u32 {
        self.used.load(stat::Ordering::Relaxed)
    }

    /// Sets the count of blocks out (owner only; relaxed).
    #[inline(always)]
    fn set_used(&self, n: u32) {
        self.used.store(n, stat::Ordering::Relaxed);
    }

    hak_os::loom_const_fn! {
    fn empty() -> Page {
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

/// log2 of the granule of [`SegMeta::page_ptr`] (64 KiB, the smallest page).
pub const GRANULE_SHIFT: usize = 16;

/// The record of one slab segment, pointed to by its segment-map entry.
#[repr(C)]
pub struct SegMeta {
    /// For each 64 KiB granule of the segment, its page descriptor: the free
    /// path finds a page with a constant shift and one load, whatever the
    /// tier's page size.
    pub page_ptr: [*mut Page; MAX_PAGES],
    /// For each granule, where the bin of its page's blocks lies in a
    /// [`Cache`]: [`bin_offset`] of the page's [`slot`] (tier and
    /// class), of [`NO_SLOT`] while the page is free. The free path reads
    /// it next to `page_ptr` instead of through the descriptor (a dependent
    /// load that cost a third of a malloc+free pair's throughput), and adds
    /// it to its cache's address. Written by the page's owner when it takes
    /// the page for a class or gives it back; read by any freer (a live
    /// block's page never changes slot), so relaxed atomics.
    pub bins: [stat::AtomicU32; MAX_PAGES],
    /// Segment base address (4 MiB aligned).
    pub base: usize,
    /// log2 of the page size of the owning tier.
    pub page_shift: u32,
    /// Index of the owning tier (the router keeps one heap per tier index).
    pub tier_index: u32,
    /// The owning tier.
    pub tier: *const SlabTier,
    /// Page descriptors, `SEGMENT_SIZE >> page_shift` of them in use.
    pub pages: [Page; MAX_PAGES],
}

impl SegMeta {
    /// The descriptor of the page containing `p` (which must lie in this segment).
    ///
    /// # Safety
    /// `self` is a live segment record and `p` lies in its segment.
    #[inline(always)]
    pub unsafe fn page_of(&self, p: usize) -> *mut Page {
        let idx = (p >> GRANULE_SHIFT) & (MAX_PAGES - 1);
        // SAFETY: idx < MAX_PAGES; every entry is set when the segment is made.
        unsafe { *self.page_ptr.get_unchecked(idx) }
    }

    /// Where the bin of the blocks of the page containing `p` (which must
    /// lie in this segment) lies in a [`Cache`] (see [`Cache::push_at`]); that
    /// of [`NO_SLOT`] if the page is free.
    #[inline(always)]
    pub fn bin_of(&self, p: usize) -> usize {
        let idx = (p >> GRANULE_SHIFT) & (MAX_PAGES - 1);
        // SAFETY: idx < MAX_PAGES.
        unsafe { self.bins.get_unchecked(idx) }.load(stat::Ordering::Relaxed) as usize
    }
}

/// Publishes the [`bin_offset`] of `slot` for the granules of page `pg`
/// (of a tier with pages of `1 << page_shift` bytes).
///
/// # Safety
/// `pg` is a page descriptor inside its segment record, owned by the caller.
unsafe fn set_slot(pg: *mut Page, page_shift: u32, slot: usize) {
    // SAFETY: descriptors live in their segment record's `pages` array, at
    // the index of the page in the segment.
    unsafe {
        let off = (*pg).start & hak_os::SEGMENT_MASK;
        let i = off >> page_shift;
        let rec =
            (pg as usize - i * core::mem::size_of::<Page>() - core::mem::offset_of!(SegMeta, pages)) as *const SegMeta;
        let g0 = off >> GRANULE_SHIFT;
        for g in g0..g0 + (1 << (page_shift as usize - GRANULE_SHIFT)) {
            (*rec).bins[g].store(cache::bin_offset(slot) as u32, stat::Ordering::Relaxed);
        }
    }
}

/// The segment record for a segment-map entry tagged [`TAG_SLAB`] (a
/// record's address plus the tag: subtracting it, rather than masking
/// it off, folds into the offsets of the loads that follow).
#[inline(always)]
pub fn seg_of_entry(entry: usize) -> *const SegMeta {
    entry.wrapping_sub(TAG_SLAB) as *const SegMeta
}

/// Counters of a tier (slow-path events only, relaxed). `pages_abandoned`,
/// `pages_adopted` and `remote_collected` count events of the free path,
/// which several threads would hit on one shared line: they are only kept
/// after [`set_stats`]`(true)`.
pub struct TierStats {
    /// Segments reserved from the OS.
    pub segments: stat::AtomicUsize,
    /// Pages handed to heaps (fresh or reused).
    pub pages_acquired: stat::AtomicUsize,
    /// Empty pages returned by heaps.
    pub pages_released: stat::AtomicUsize,
    /// Empty pages whose memory was returned to the OS.
    pub pages_decommitted: stat::AtomicUsize,
    /// Pages abandoned with live blocks (exhausted, or at thread exit).
    pub pages_abandoned: stat::AtomicUsize,
    /// Abandoned pages adopted by heaps.
    pub pages_adopted: stat::AtomicUsize,
    /// Blocks collected from remote-free lists.
    pub remote_collected: stat::AtomicUsize,
    /// Pages that returned memory on a class change, beyond what the new
    /// class keeps (`SlabTier::trim_for_class`).
    pub pages_trimmed: stat::AtomicUsize,
}

/// Empty pages of a tier. `dirty` pages may hold committed memory: a
/// doubly-linked list, newest at the head (reused first, still warm), oldest
/// at the tail (purged first). Each dirty page is also on the list of the
/// class it served last (`dirty_of`, newest first, through `class_next`/
/// `class_prev`): a heap takes a page of its own class first, whose carved
/// blocks are still on its free list, so pages mostly keep their class
/// instead of being carved by one class after another (a class with no
/// page of its own takes the newest of any class in tiers of small pages,
/// the one of closest depth in L2.5's; see [`SlabTier::acquire_page`]). `clean` pages are decommitted or
/// untouched.
/// And, per class, hints of abandoned pages with free space: pages that
/// were abandoned by an exiting thread, linked through `hint_next`, each
/// checked by a CAS when taken (it may have been adopted or released since).
struct Shared {
    dirty: *mut Page,
    dirty_tail: *mut Page,
    dirty_count: usize,
    dirty_of: [*mut Page; MAX_CLASSES],
    clean: *mut Page,
    hints: [*mut Page; MAX_CLASSES],
}

impl Shared {
    /// Puts the released page `pg` at the head of the dirty list and of its
    /// class's dirty list.
    ///
    /// # Safety
    /// Under the tier lock; `pg` is a free page on no list.
    unsafe fn push_dirty(&mut self, pg: *mut Page) {
        // SAFETY: per contract, list fields of free pages are ours.
        unsafe {
            (*pg).prev = ptr::null_mut();
            (*pg).next = self.dirty;
            if self.dirty.is_null() {
                self.dirty_tail = pg;
            } else {
                (*self.dirty).prev = pg;
            }
            self.dirty = pg;
            let head = &mut self.dirty_of[(*pg).class as usize];
            (*pg).class_prev = ptr::null_mut();
            (*pg).class_next = *head;
            if !(*head).is_null() {
                (**head).class_prev = pg;
            }
            *head = pg;
            self.dirty_count += 1;
        }
    }

    /// The page, among the [`FIT_WINDOW`] most recently released ones, whose
    /// [depth](page_depth) is closest to `keep` (the most recent of equals;
    /// null when the dirty list is empty).
    ///
    /// # Safety
    /// Under the tier lock.
    unsafe fn closest_dirty(&self, keep: usize) -> *mut Page {
        let mut best = ptr::null_mut();
        let mut best_cost = usize::MAX;
        let mut p = self.dirty;
        let mut n = 0;
        // SAFETY: per contract.
        unsafe {
            while !p.is_null() && n < FIT_WINDOW {
                let cost = page_depth(p).abs_diff(keep);
                if cost < best_cost {
                    best = p;
                    best_cost = cost;
                    if cost == 0 {
                        break;
                    }
                }
                p = (*p).next;
                n += 1;
            }
        }
        best
    }

    /// Takes `pg` off the dirty list and its class's dirty list.
    ///
    /// # Safety
    /// Under the tier lock; `pg` is on the dirty list.
    unsafe fn unlink_dirty(&mut self, pg: *mut Page) {
        // SAFETY: per contract.
        unsafe {
            if (*pg).prev.is_null() {
                self.dirty = (*pg).next;
            } else {
                (*(*pg).prev).next = (*pg).next;
            }
            if (*pg).next.is_null() {
                self.dirty_tail = (*pg).prev;
            } else {
                (*(*pg).next).prev = (*pg).prev;
            }
            if (*pg).class_prev.is_null() {
                self.dirty_of[(*pg).class as usize] = (*pg).class_next;
            } else {
                (*(*pg).class_prev).class_next = (*pg).class_next;
            }
            if !(*pg).class_next.is_null() {
                (*(*pg).class_next).class_prev = (*pg).class_prev;
            }
            (*pg).next = ptr::null_mut();
            (*pg).prev = ptr::null_mut();
            (*pg).class_next = ptr::null_mut();
            (*pg).class_prev = ptr::null_mut();
            self.dirty_count -= 1;
        }
    }
}

/// Whether the free path's event counters are kept (see [`TierStats`]).
static STATS_ON: stat::AtomicBool = stat::AtomicBool::new(false);

/// Turns the free path's event counters of every tier on or off (the router
/// turns them on when statistics are requested).
pub fn set_stats(on: bool) {
    STATS_ON.store(on, Ordering::Relaxed);
}

/// Adds `n` to an event counter of [`TierStats`] if they are kept.
#[inline(always)]
fn count_event(counter: &stat::AtomicUsize, n: usize) {
    if STATS_ON.load(Ordering::Relaxed) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Pages purged per release at most (bounds the time spent in one free).
const PURGE_BATCH: usize = 16;

// SAFETY: the page pointers are only followed under the tier lock.
unsafe impl Send for Shared {}

/// A slab tier: a class table, a page size, and the pages of its segments.
pub struct SlabTier {
    /// Human-readable name (statistics).
    pub name: &'static str,
    index: u32,
    page_shift: u32,
    sizes: &'static [u32],
    keep_free_pages: stat::AtomicUsize,
    decay_ms: stat::AtomicU64,
    shared: SpinLock<Shared>,
    /// Slow-path counters.
    pub stats: TierStats,
    /// Loom builds: the segments to unmap when a model's tier is dropped.
    #[cfg(loom)]
    segments: std::sync::Mutex<std::vec::Vec<(usize, usize)>>,
}

impl SlabTier {
    hak_os::loom_const_fn! {
    /// A tier named `name` with router index `index`, pages of
    /// `1 << page_shift` bytes (at most a segment, at least 64 KiB) and the
    /// given block sizes (ascending multiples of 16, at most [`MAX_CLASSES`]).
    pub fn new(name: &'static str, index: u32, page_shift: u32, sizes: &'static [u32]) -> SlabTier {
        assert!(sizes.len() <= MAX_CLASSES);
        assert!((index as usize) < MAX_TIERS);
        assert!(page_shift as usize <= hak_os::SEGMENT_SHIFT && page_shift >= 16);
        SlabTier {
            name,
            index,
            page_shift,
            sizes,
            keep_free_pages: stat::AtomicUsize::new(16),
            decay_ms: stat::AtomicU64::new(1000),
            shared: SpinLock::new(Shared {
                dirty: ptr::null_mut(),
                dirty_tail: ptr::null_mut(),
                dirty_count: 0,
                dirty_of: [ptr::null_mut(); MAX_CLASSES],
                clean: ptr::null_mut(),
                hints: [ptr::null_mut(); MAX_CLASSES],
            }),
            stats: TierStats {
                segments: stat::AtomicUsize::new(0),
                pages_acquired: stat::AtomicUsize::new(0),
                pages_released: stat::AtomicUsize::new(0),
                pages_decommitted: stat::AtomicUsize::new(0),
                pages_abandoned: stat::AtomicUsize::new(0),
                pages_adopted: stat::AtomicUsize::new(0),
                remote_collected: stat::AtomicUsize::new(0),
                pages_trimmed: stat::AtomicUsize::new(0),
            },
            #[cfg(loom)]
            segments: std::sync::Mutex::new(std::vec::Vec::new()),
        }
    }
    }

    /// Block size of class `c`.
    #[inline(always)]
    pub fn class_size(&self, c: usize) -> usize {
        self.sizes[c] as usize
    }

    /// The class table.
    pub fn sizes(&self) -> &'static [u32] {
        self.sizes
    }

    /// The router index given at construction.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Page size in bytes.
    pub fn page_size(&self) -> usize {
        1 << self.page_shift
    }

    /// Sets how many empty pages stay committed for reuse before further
    /// empty pages are returned to the OS.
    pub fn set_keep_free_pages(&self, n: usize) {
        self.keep_free_pages.store(n, Ordering::Relaxed);
    }

    /// Sets how long an empty page stays committed (beyond the kept ones)
    /// before its memory is returned to the OS; 0 returns it at once.
    pub fn set_decay_ms(&self, ms: u64) {
        self.decay_ms.store(ms, Ordering::Relaxed);
    }

    /// Pages currently held by heaps (acquired minus released).
    pub fn pages_in_use(&self) -> usize {
        self.stats
            .pages_acquired
            .load(Ordering::Relaxed)
            .saturating_sub(self.stats.pages_released.load(Ordering::Relaxed))
    }

    /// Takes the tier lock for `fork` (prepare handler).
    pub fn prefork(&self) {
        self.shared.raw_lock();
    }

    /// Releases the tier lock after `fork`, in parent and child.
    pub fn postfork(&self) {
        // SAFETY: taken by `prefork` (or by a thread absent in the child).
        unsafe { self.shared.force_unlock() };
    }

    /// Reserves a new segment and returns its pages, linked through `next`.
    fn new_segment(&'static self) -> *mut Page {
        let base = map::map_aligned(SEGMENT_SIZE, SEGMENT_SIZE);
        if base.is_null() {
            return ptr::null_mut();
        }
        let rec = meta::alloc(core::mem::size_of::<SegMeta>()) as *mut SegMeta;
        if rec.is_null() {
            // SAFETY: fresh, unpublished mapping.
            unsafe { map::unmap(base, SEGMENT_SIZE) };
            return ptr::null_mut();
        }
        let npages = SEGMENT_SIZE >> self.page_shift;
        // SAFETY: `rec` is a fresh zeroed record of the right size that no one
        // else knows yet.
        unsafe {
            (*rec).base = base as usize;
            (*rec).page_shift = self.page_shift;
            (*rec).tier_index = self.index;
            (*rec).tier = self;
            let pages = ptr::addr_of_mut!((*rec).pages) as *mut Page;
            for g in 0..MAX_PAGES {
                (*rec).page_ptr[g] = pages.add((g << GRANULE_SHIFT) >> self.page_shift);
            }
            for g in 0..MAX_PAGES {
                (*rec).bins[g].store(cache::bin_offset(NO_SLOT) as u32, stat::Ordering::Relaxed);
            }
            for i in 0..npages {
                let pg = pages.add(i);
                pg.write(Page::empty());
                (*pg).start = base as usize + (i << self.page_shift);
                (*pg).next = if i + 1 < npages { pages.add(i + 1) } else { ptr::null_mut() };
            }
        }
        if !segmap::set_range(base as usize, SEGMENT_SIZE, rec as usize | TAG_SLAB) {
            // SAFETY: unpublished mapping and record.
            unsafe {
                map::unmap(base, SEGMENT_SIZE);
                meta::free(rec.cast(), core::mem::size_of::<SegMeta>());
            }
            return ptr::null_mut();
        }
        self.stats.segments.fetch_add(1, Ordering::Relaxed);
        #[cfg(loom)]
        self.segments.lock().unwrap_or_else(|e| e.into_inner()).push((base as usize, rec as usize));
        // SAFETY: the record is initialised.
        unsafe { ptr::addr_of_mut!((*rec).pages) as *mut Page }
    }

    /// Takes an empty page for class `class`, owned by `heap`: the most
    /// recently released resident page of that class, else a resident page
    /// of another class (the most recently released one in tiers of small
    /// pages; in L2.5's the one among the recent whose depth is closest to
    /// what the class keeps, [`SlabTier::kept_depth`]), else a clean one or
    /// one of a new segment.
    ///
    /// A page keeps the memory its classes carved until it is purged or
    /// trimmed on a class change ([`SlabTier::trim_for_class`]), so a page
    /// that served one class after another would stay as deep as the
    /// deepest of them. Under thread churn (every thread takes one page per class it
    /// uses, and releases them at exit) the pages of a plain LIFO reuse
    /// cycled through every class, and each ended up as deep as the deepest
    /// class's carve; taking a page of the same class first keeps each
    /// class's pages as deep as that class needs, with its blocks still
    /// carved (the `threads` workload's peak RSS fell by a sixth at 1 thread
    /// and by a quarter at 4, side by side, not in a record).
    fn acquire_page(&'static self, class: usize, heap: &Heap) -> *mut Page {
        let mut clean = false;
        let mut pg = {
            let mut s = self.shared.lock();
            let own = s.dirty_of[class];
            let pg = if !own.is_null() {
                own
            } else if self.page_shift <= TRIM_MAX_PAGE_SHIFT {
                // Every class change trims to the first carve: which page
                // does not matter to memory, and the newest is the warmest.
                s.dirty
            } else {
                // A class that keeps the whole page takes a deep one: its
                // blocks fill all of it or leave at most a quarter out of
                // reach, which stays resident rather than being faulted in
                // again when the page next serves a class that fills it.
                // The class that returns its tail takes a shallow one, so
                // its trim is rare: taking the newest page instead, `mid`'s
                // 640 KiB class trimmed more than ten times as often per
                // operation and other classes faulted each tail back in;
                // aiming every class at the depth its blocks can reach
                // faulted more still (side by side, not in a record).
                // SAFETY: we hold the tier lock.
                unsafe { s.closest_dirty(self.kept_depth(self.sizes[class] as usize)) }
            };
            // SAFETY: free pages are only linked/unlinked under the lock.
            unsafe {
                if !pg.is_null() {
                    s.unlink_dirty(pg);
                    pg
                } else {
                    let pg = s.clean;
                    if !pg.is_null() {
                        s.clean = (*pg).next;
                        clean = true;
                    }
                    pg
                }
            }
        };
        if clean || pg.is_null() {
            // A clean page (untouched or purged) or a new segment grows the
            // footprint: run the growth hook first (outside the tier lock).
            map::growth();
        }
        if pg.is_null() {
            let first = self.new_segment();
            if first.is_null() {
                return first;
            }
            pg = first;
            // SAFETY: the rest of the fresh segment's pages go to the clean list.
            unsafe {
                let rest = (*first).next;
                if !rest.is_null() {
                    let mut tail = rest;
                    while !(*tail).next.is_null() {
                        tail = (*tail).next;
                    }
                    let mut s = self.shared.lock();
                    (*tail).next = s.clean;
                    s.clean = rest;
                }
            }
        }
        let bs = self.sizes[class];
        // SAFETY: the page is exclusively ours now.
        unsafe {
            // A resident page released by this class keeps its carved
            // blocks, all on its free list (see `release_page`).
            if (*pg).block_size != bs {
                self.trim_for_class(pg, bs as usize);
                (*pg).free = ptr::null_mut();
                (*pg).capacity = 0;
            }
            (*pg).set_used(0);
            (*pg).block_size = bs;
            (*pg).reserved = ((1usize << self.page_shift) / bs as usize) as u32;
            (*pg).class = class as u32;
            set_slot(pg, self.page_shift, slot(self.index as usize, class));
            (*pg).remote.store(ptr::null_mut(), Ordering::Relaxed);
            (*pg).next = ptr::null_mut();
            (*pg).prev = ptr::null_mut();
            (*pg).owner.store(heap.token, Ordering::Release);
        }
        self.stats.pages_acquired.fetch_add(1, Ordering::Relaxed);
        pg
    }

    /// Returns to the OS what the empty page `pg` holds beyond what the class
    /// of `bs`-byte blocks that takes it over keeps ([`SlabTier::kept_depth`]),
    /// and records its depth.
    ///
    /// A page keeps every byte its classes carved until it is purged, so
    /// without this a page that changes class stays as deep as the deepest
    /// class it ever served:
    /// * in tiers of small pages (the tiny tier's 64 KiB, L2's 256 KiB)
    ///   the new class keeps its first carve only. Class changes are rare
    ///   once pages of the same class are reused first (see
    ///   [`SlabTier::acquire_page`]); with both, the `threads` workload's
    ///   peak RSS at 4 threads fell by a third, and `aligned`'s by a sixth,
    ///   at no throughput cost (side by side, not in a record).
    /// * in L2.5's 1 MiB pages of a few big blocks each the new class soon
    ///   carves again most of what a first-carve trim would return (`mid`,
    ///   whose big classes change pages all the time, ran several times
    ///   slower), so a page keeps all it can use: the whole page, except
    ///   for a class whose blocks leave more than a quarter of it
    ///   unreachable (the 640 KiB class: 384 KiB), which returns that tail.
    ///
    /// # Safety
    /// The caller owns `pg`, an empty page none of whose blocks is live.
    unsafe fn trim_for_class(&self, pg: *mut Page, bs: usize) {
        // SAFETY: per contract; the range lies in the page.
        unsafe {
            let mut depth = page_depth(pg);
            let keep = self.kept_depth(bs);
            if depth > keep && map::decommit(((*pg).start + keep) as *mut u8, depth - keep) {
                self.stats.pages_trimmed.fetch_add(1, Ordering::Relaxed);
                depth = keep;
            }
            (*pg).depth = depth as u32;
        }
    }

    /// The depth a page keeps when it changes to the class of `bs`-byte
    /// blocks (see [`SlabTier::trim_for_class`]): the first carve in tiers
    /// of pages up to [`TRIM_MAX_PAGE_SHIFT`]; in larger pages what the
    /// class's blocks can reach when they leave more than a quarter of the
    /// page unreachable, else the whole page.
    fn kept_depth(&self, bs: usize) -> usize {
        if self.page_shift <= TRIM_MAX_PAGE_SHIFT {
            return first_carve(bs).next_multiple_of(map::page_size());
        }
        let page = 1usize << self.page_shift;
        let reach = (page / bs) * bs;
        if page - reach > page / 4 {
            reach.next_multiple_of(map::page_size())
        } else {
            page
        }
    }

    /// Records abandoned pages with free space as hints for
    /// [`SlabTier::take_abandoned`] (a page already on a hint list stays
    /// where it is).
    fn push_hints(&self, pages: &[(*mut Page, usize)]) {
        if pages.is_empty() {
            return;
        }
        let mut s = self.shared.lock();
        for &(pg, c) in pages {
            // SAFETY: the hint fields only change under the tier lock, and
            // page descriptors stay valid forever. `c` is the class the page
            // had when its owner gave it up (read then, not now: a new owner
            // may be rewriting `class`); if it changed meanwhile the page
            // sits on another class's list, which `take_abandoned` accepts.
            unsafe {
                if !(*pg).hinted {
                    (*pg).hinted = true;
                    (*pg).hint_next = s.hints[c];
                    s.hints[c] = pg;
                }
            }
        }
    }

    /// Adopts for `heap` a page from the hints of `class`: pops hints until
    /// one is still abandoned and wins the CAS `ABANDONED → token` (AcqRel:
    /// acquires the page's fields released by the abandoning store, as
    /// adoption on free does). Null if none. The page may serve another
    /// class by now (released and abandoned again since it was hinted).
    fn take_abandoned(&self, class: usize, heap: &Heap) -> *mut Page {
        let mut s = self.shared.lock();
        loop {
            let pg = s.hints[class];
            if pg.is_null() {
                return pg;
            }
            // SAFETY: the hint fields only change under the tier lock.
            unsafe {
                s.hints[class] = (*pg).hint_next;
                (*pg).hinted = false;
                if (*pg).owner.compare_exchange(ABANDONED, heap.token, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                    return pg;
                }
            }
        }
    }

    /// Returns an empty page (no block out, none pending) to the tier. Its
    /// free list (every carved block) stays: a heap that takes the page for
    /// the same class again allocates from it at once, without carving (a
    /// producer whose exhausted pages its consumers free entirely gets each
    /// back this way).
    ///
    /// # Safety
    /// The caller owns `pg`, which is on no list, and no block of it is live.
    unsafe fn release_page(&'static self, pg: *mut Page) {
        // SAFETY: per contract the page is exclusively ours.
        unsafe {
            set_slot(pg, self.page_shift, NO_SLOT);
            (*pg).owner.store(NO_OWNER, Ordering::Release);
        }
        let decay = self.decay_ms.load(Ordering::Relaxed);
        let now = if decay == 0 { 0 } else { hak_os::now_ms() };
        let mut purge = [ptr::null_mut::<Page>(); PURGE_BATCH];
        let np = {
            let mut s = self.shared.lock();
            // SAFETY: list manipulation under the tier lock.
            unsafe {
                (*pg).freed_at_ms = now;
                s.push_dirty(pg);
                self.take_purgeable(&mut s, now, decay, &mut purge)
            }
        };
        self.stats.pages_released.fetch_add(1, Ordering::Relaxed);
        self.finish_purge(&purge[..np]);
    }

    /// Takes off the dirty list (oldest first) the pages to purge: beyond the
    /// kept ones, those unused for the decay interval, and whatever their age
    /// any beyond a cap: the larger of 16 MiB, the kept pages and the pages
    /// in use. The cap bounds what a program that frees most of its memory
    /// keeps committed before the decay interval passes, yet never forces a
    /// purge while the tier's live memory merely fluctuates: a cap below the
    /// pages in use made the `mid` benchmark purge and fault back 1 400 MiB
    /// per second. At most [`PURGE_BATCH`] per call.
    ///
    /// # Safety
    /// Called with the tier lock held (`s`).
    unsafe fn take_purgeable(&self, s: &mut Shared, now: u64, decay: u64, out: &mut [*mut Page; PURGE_BATCH]) -> usize {
        let keep = self.keep_free_pages.load(Ordering::Relaxed);
        let cap = keep.max((16 << 20) >> self.page_shift).max(self.pages_in_use());
        let mut np = 0;
        // SAFETY: list manipulation under the tier lock.
        unsafe {
            while np < PURGE_BATCH && s.dirty_count > keep {
                let t = s.dirty_tail;
                let expired = now.saturating_sub((*t).freed_at_ms) >= decay;
                if !expired && s.dirty_count <= cap {
                    break;
                }
                s.unlink_dirty(t);
                out[np] = t;
                np += 1;
            }
        }
        np
    }

    /// Returns the memory of pages taken by [`SlabTier::take_purgeable`] to
    /// the OS (outside the lock) and puts them on the clean list.
    fn finish_purge(&self, purge: &[*mut Page]) {
        if purge.is_empty() {
            return;
        }
        for &t in purge {
            // SAFETY: the purged pages are off every list: no one else can
            // reach them until we put them on the clean list below. Their
            // blocks (and free lists) are gone.
            unsafe {
                let gone = map::decommit((*t).start as *mut u8, 1 << self.page_shift);
                (*t).free = ptr::null_mut();
                (*t).capacity = 0;
                (*t).depth = if gone { 0 } else { 1 << self.page_shift };
            }
        }
        self.stats.pages_decommitted.fetch_add(purge.len(), Ordering::Relaxed);
        let mut s = self.shared.lock();
        for &t in purge {
            // SAFETY: linking under the tier lock.
            unsafe { (*t).next = s.clean };
            s.clean = t;
        }
    }

    /// Purges empty pages whose decay interval has passed (called now and
    /// then by idle-ish threads, so memory is returned even when no further
    /// page is released).
    pub fn purge_expired(&self) {
        let decay = self.decay_ms.load(Ordering::Relaxed);
        let now = hak_os::now_ms();
        loop {
            let mut purge = [ptr::null_mut::<Page>(); PURGE_BATCH];
            let np = {
                let mut s = self.shared.lock();
                // SAFETY: we hold the tier lock.
                unsafe { self.take_purgeable(&mut s, now, decay, &mut purge) }
            };
            self.finish_purge(&purge[..np]);
            if np < PURGE_BATCH {
                return;
            }
        }
    }
}

/// Loom builds: a model's tier unmaps its segments when dropped (models
/// build a tier per execution; pages must not be used afterwards).
#[cfg(loom)]
impl Drop for SlabTier {
    fn drop(&mut self) {
        let segs = core::mem::take(&mut *self.segments.lock().unwrap_or_else(|e| e.into_inner()));
        for (base, rec) in segs {
            segmap::clear_range(base, SEGMENT_SIZE);
            // SAFETY: the tier and everything carved from it go away.
            unsafe {
                map::unmap(base as *mut u8, SEGMENT_SIZE);
                meta::free(rec as *mut u8, core::mem::size_of::<SegMeta>());
            }
        }
    }
}

/// Blocks of page `pg` freed by other threads: takes them all and appends
/// them to `free`. Returns how many were taken.
///
/// # Safety
/// The caller owns `pg`.
unsafe fn collect_remote(pg: *mut Page) -> u32 {
    // SAFETY: owner-only fields; the swap synchronises with the pushers' CAS.
    unsafe {
        if (*pg).remote.load(Ordering::Relaxed).is_null() {
            return 0;
        }
        let w = (*pg).remote.swap(ptr::null_mut(), Ordering::Acquire);
        let r = remote_ptr(w);
        let n = remote_count(w);
        // More blocks than are out means a double free.
        if n == 0 || n > (*pg).used() {
            diag::fatal("free(): double free detected in page", (*pg).start);
        }
        if (*pg).free.is_null() {
            // The usual case (refill): the chain becomes the free list as it
            // is; its count came with the swap, so no block is touched here
            // (the blocks were last written by the freeing threads' cores).
            (*pg).free = r;
        } else {
            let mut tail = r;
            for _ in 1..n {
                tail = (*tail).next;
            }
            (*tail).next = (*pg).free;
            (*pg).free = r;
        }
        (*pg).set_used((*pg).used() - n);
        n
    }
}

/// The remote list word is a block pointer (47 bits of user address space)
/// with the number of blocks in the list in its top 16 bits, so the owner
/// learns the count with its swap instead of walking the list. A page holds
/// at most 4096 blocks, far below the 65535 the field can count.
const REMOTE_COUNT_SHIFT: u32 = 48;

#[inline(always)]
fn remote_ptr(w: *mut Block) -> *mut Block {
    ((w as usize) & ((1usize << REMOTE_COUNT_SHIFT) - 1)) as *mut Block
}

#[inline(always)]
fn remote_count(w: *mut Block) -> u32 {
    ((w as usize) >> REMOTE_COUNT_SHIFT) as u32
}

#[inline(always)]
fn remote_word(p: *mut Block, count: u32) -> *mut Block {
    ((p as usize) | ((count as usize) << REMOTE_COUNT_SHIFT)) as *mut Block
}

/// Makes the page's `free` list non-empty if it can: remote
/// frees, then carving fresh blocks. Returns whether `free` is non-empty.
///
/// # Safety
/// The caller owns `pg`.
unsafe fn refill(pg: *mut Page) -> bool {
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
unsafe fn page_depth(pg: *mut Page) -> usize {
    // SAFETY: per contract.
    unsafe {
        let carved = ((*pg).capacity as usize * (*pg).block_size as usize).next_multiple_of(map::page_size());
        ((*pg).depth as usize).max(carved)
    }
}

/// How many of the most recently released pages a class of a tier of large
/// pages looks through for the one closest to the depth it keeps (see
/// `SlabTier::acquire_page`).
const FIT_WINDOW: usize = 16;

/// Bytes of the first carve of a page of `bs`-byte blocks.
const fn first_carve(bs: usize) -> usize {
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
unsafe fn extend(pg: *mut Page) {
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
fn prefetch(p: *const u8) {
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
const fn empty_page() -> *mut Page {
    ptr::addr_of!(EMPTY.0) as *mut Page
}

/// A thread's heap for one tier. Must live at a stable address for as long as
/// it owns pages.
///
/// Pages record their owner as a *token*: by default the heap's address; a
/// router that keeps several heaps per thread gives them all one token (the
/// thread context's address) so its free path can test ownership without
/// knowing which heap serves the page.
#[repr(C)]
pub struct Heap {
    cur: [*mut Page; MAX_CLASSES],
    token: usize,
    tier: *const SlabTier,
    partial: [*mut Page; MAX_CLASSES],
    /// Slow-path entries (statistics).
    slow_allocs: usize,
    /// Adopt abandoned pages on free.
    adopts: bool,
}

/// Abandoned pages with free space that [`Heap::abandon_all`] records in the
/// tier per lock acquisition at most.
const HINT_BATCH: usize = 32;

impl Heap {
    hak_os::loom_const_fn! {
    /// A placeholder to [`Heap::init`] before use. Until then
    /// [`Heap::try_alloc`] finds every class empty and writes nothing, so
    /// a never-written one can stand in for a thread that has no heap yet.
    pub fn uninit() -> Heap {
        Heap {
            cur: [empty_page(); MAX_CLASSES],
            token: 0,
            tier: ptr::null(),
            partial: [ptr::null_mut(); MAX_CLASSES],
            slow_allocs: 0,
            adopts: true,
        }
    }
    }

    /// Prepares the heap to serve `tier`, with its own address as token.
    /// The heap must not own pages.
    pub fn init(&mut self, tier: &'static SlabTier) {
        let token = self as *const Heap as usize;
        self.init_with_token(tier, token);
    }

    /// Prepares the heap to serve `tier` with owner token `token`, which must
    /// be unique to the owning thread and not one of the reserved owner
    /// values (0 to 3: [`NO_OWNER`], [`ABANDONED`], ...). The heap must not
    /// own pages.
    pub fn init_with_token(&mut self, tier: &'static SlabTier, token: usize) {
        self.token = token;
        self.cur = [empty_page(); MAX_CLASSES];
        self.partial = [ptr::null_mut(); MAX_CLASSES];
        self.tier = tier;
        self.slow_allocs = 0;
        self.adopts = true;
    }

    /// Whether [`Heap::init`] ran.
    pub fn is_init(&self) -> bool {
        !self.tier.is_null()
    }

    /// The owner token of this heap.
    #[inline(always)]
    pub fn token(&self) -> usize {
        self.token
    }

    /// Number of slow-path allocations so far.
    pub fn slow_allocs(&self) -> usize {
        self.slow_allocs
    }

    /// Allocates a block of class `class`; null when out of memory.
    ///
    /// # Safety
    /// The heap is initialised, used only by its owning thread, and
    /// `class < tier.sizes().len()`.
    #[inline(always)]
    pub unsafe fn alloc(&mut self, class: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe {
            let b = self.try_alloc(class);
            if !b.is_null() {
                return b;
            }
            self.alloc_slow(class)
        }
    }

    /// The allocation fast path alone: pops the current page of `class`, or
    /// returns null when it is empty (then call [`Heap::alloc_slow`]).
    ///
    /// # Safety
    /// The heap is initialised or made by [`Heap::uninit`] (then it finds
    /// nothing and writes nothing at all), used only by its owning thread,
    /// and `class < tier.sizes().len()` (below [`MAX_CLASSES`] for an
    /// uninitialised one). Writes the current page, never the heap.
    #[inline(always)]
    pub unsafe fn try_alloc(&self, class: usize) -> *mut u8 {
        // SAFETY: cur[class] is the empty page or a page we own.
        unsafe {
            let pg = *self.cur.get_unchecked(class);
            let b = (*pg).free;
            if !b.is_null() {
                let next = (*b).next;
                (*pg).free = next;
                (*pg).set_used((*pg).used() + 1);
                // The next allocation will read `next`'s link: start loading
                // its line now (free lists of long-lived heaps are cold;
                // prefetching null is harmless).
                prefetch(next.cast());
            }
            b.cast()
        }
    }

    /// The slow path of [`Heap::alloc`]: refills the current page, else
    /// detaches it (exhausted) and switches to a partially free page of our
    /// own, else an abandoned page with free space, else an empty page of
    /// the tier (resident first: no memory to fault in), else a new one.
    /// Abandoned pages come before empty ones: their free blocks are
    /// committed memory nobody else can use, and once frees go to the
    /// thread caches a thread rarely adopts pages by freeing into them, so
    /// taking empty pages first left the hinted pages' holes unused and
    /// larson's peak RSS grew with its run time (1 s: 20 MB, 4 s: 36 MB;
    /// hints first: 9.4 and 10 MB, glibc 18 MB; not in a record).
    ///
    /// # Safety
    /// As [`Heap::alloc`].
    #[inline(never)]
    pub unsafe fn alloc_slow(&mut self, class: usize) -> *mut u8 {
        self.slow_allocs += 1;
        // SAFETY: every page reached from the heap lists is owned by us, and
        // so is every page acquired or adopted here.
        unsafe {
            let tier = &*self.tier;
            let pg = self.cur[class];
            if pg != empty_page() {
                if refill(pg) {
                    return Self::pop(pg);
                }
                // An exhausted page holds at least one block, so dropping
                // its current-page reference cannot empty it.
                (*pg).set_used((*pg).used() - 1);
                self.cur[class] = empty_page();
                self.detach(pg);
            }
            loop {
                let pg = self.partial[class];
                if pg.is_null() {
                    break;
                }
                self.unlink(pg);
                if refill(pg) {
                    self.make_cur(class, pg);
                    return Self::pop(pg);
                }
                self.detach(pg);
            }
            loop {
                let pg = tier.take_abandoned(class, self);
                if pg.is_null() {
                    break;
                }
                self.adopt(pg);
                if (*pg).class as usize != class {
                    if (*pg).used() == 0 {
                        tier.release_page(pg);
                    } else {
                        self.link(pg);
                    }
                } else if refill(pg) {
                    self.make_cur(class, pg);
                    return Self::pop(pg);
                } else {
                    self.detach(pg);
                }
            }
            let pg = tier.acquire_page(class, self);
            if pg.is_null() {
                return ptr::null_mut();
            }
            if (*pg).free.is_null() {
                extend(pg);
            }
            self.make_cur(class, pg);
            Self::pop(pg)
        }
    }

    /// Makes `pg` (on no list) the current page of `class` (whose current
    /// page is the empty page). The current page carries one phantom count in
    /// `used`, so the owner's free fast path (`used >= 2`) also serves the
    /// current page's last block instead of taking the slow path to check
    /// whether the page became empty: a current page is never released.
    #[inline]
    unsafe fn make_cur(&mut self, class: usize, pg: *mut Page) {
        // SAFETY: we own the page.
        unsafe { (*pg).set_used((*pg).used() + 1) };
        self.cur[class] = pg;
    }

    /// # Safety
    /// `pg` is owned by us and has a non-empty free list.
    #[inline(always)]
    unsafe fn pop(pg: *mut Page) -> *mut u8 {
        // SAFETY: per contract.
        unsafe {
            let b = (*pg).free;
            (*pg).free = (*b).next;
            (*pg).set_used((*pg).used() + 1);
            b.cast()
        }
    }

    /// Links `pg` at the head of its class's partial list.
    unsafe fn link(&mut self, pg: *mut Page) {
        // SAFETY: owner-only list manipulation.
        unsafe {
            let head = &mut self.partial[(*pg).class as usize];
            (*pg).prev = ptr::null_mut();
            (*pg).next = *head;
            if !(*head).is_null() {
                (**head).prev = pg;
            }
            *head = pg;
        }
    }

    /// Unlinks `pg` from its class's partial list.
    unsafe fn unlink(&mut self, pg: *mut Page) {
        // SAFETY: owner-only list manipulation.
        unsafe {
            if (*pg).prev.is_null() {
                self.partial[(*pg).class as usize] = (*pg).next;
            } else {
                (*(*pg).prev).next = (*pg).next;
            }
            if !(*pg).next.is_null() {
                (*(*pg).next).prev = (*pg).prev;
            }
            (*pg).next = ptr::null_mut();
            (*pg).prev = ptr::null_mut();
        }
    }

    /// Gives up an exhausted page (no free block, fully carved, on no list,
    /// no current-page reference) rather than keeping it where nobody
    /// collects what other threads free into it while we allocate other
    /// classes: it is abandoned, and the next heap that frees one of its
    /// blocks adopts it (we, or whoever received the block), or a freer
    /// without a heap reclaims it.
    ///
    /// If a remote free raced in ([`abandon`] returned false), its freer may
    /// have seen our token and will do nothing more: we take the page back
    /// with a CAS `ABANDONED → token` (AcqRel) and put it on the partial
    /// list, where the next refill collects the block. That CAS competes
    /// with every adopter's and reclaimer's CAS from `ABANDONED`, so exactly
    /// one of us owns the page; if ours fails, the winner collects.
    ///
    /// # Safety
    /// As above; called by the owning thread.
    unsafe fn detach(&mut self, pg: *mut Page) {
        // SAFETY: we own the page until `abandon` stores ABANDONED, and again
        // if our CAS wins (the page's fields then are as we left them, or
        // as the last owner released them with its store of ABANDONED).
        unsafe {
            if abandon(pg) {
                count_event(&(*self.tier).stats.pages_abandoned, 1);
                return;
            }
            if (*pg).owner.compare_exchange(ABANDONED, self.token, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                self.link(pg);
            }
        }
    }

    /// Takes over a page whose owner we just became by a CAS `ABANDONED →
    /// token` (on free, or from the tier's hints; AcqRel: acquires the
    /// fields released by the abandoning store): collects the remote frees
    /// that arrived meanwhile. The caller puts the page on a list.
    ///
    /// # Safety
    /// We own `pg`, which is on no list.
    unsafe fn adopt(&mut self, pg: *mut Page) {
        // SAFETY: per contract.
        unsafe {
            let tier = &*self.tier;
            count_event(&tier.stats.pages_adopted, 1);
            let n = collect_remote(pg);
            count_event(&tier.stats.remote_collected, n as usize);
        }
    }

    /// Frees block `p` of page `pg`, from the thread that owns this heap.
    ///
    /// If the page belongs to this heap the block goes onto its free list
    /// (no atomics). If the page is abandoned, this heap adopts it first
    /// (ownership follows the thread that frees its blocks, which is who
    /// received them). Otherwise the block goes onto the page's remote list.
    ///
    /// # Safety
    /// `p` is a live block of `pg`; `self` belongs to the calling thread.
    #[inline(always)]
    pub unsafe fn free(&mut self, pg: *mut Page, p: *mut u8) {
        // SAFETY: forwarded contract.
        unsafe {
            if !free_fast(pg, p, self.token) {
                self.free_slow(pg, p);
            }
        }
    }

    /// The slow path of [`Heap::free`] (after [`free_fast`] said no).
    ///
    /// # Safety
    /// As [`Heap::free`].
    #[inline(never)]
    pub unsafe fn free_slow(&mut self, pg: *mut Page, p: *mut u8) {
        // SAFETY: see the cases below.
        unsafe {
            let owner = (*pg).owner.load(Ordering::Relaxed);
            if owner == self.token() {
                self.free_local_slow(pg, p);
                return;
            }
            if owner == ABANDONED
                && self.adopts
                && (*pg).owner.compare_exchange(ABANDONED, self.token(), Ordering::AcqRel, Ordering::Relaxed).is_ok()
            {
                self.adopt(pg);
                self.link(pg);
                self.free_local_slow(pg, p);
                return;
            }
            free_remote(pg, p);
        }
    }

    /// Whether this heap adopts abandoned pages it frees into (default yes;
    /// a heap that must never own pages, e.g. one standing in for an exiting
    /// thread, turns it off).
    pub fn set_adopts(&mut self, adopts: bool) {
        self.adopts = adopts;
    }

    #[inline(never)]
    unsafe fn free_local_slow(&mut self, pg: *mut Page, p: *mut u8) {
        // SAFETY: we own the page.
        unsafe {
            let u = (*pg).used();
            let is_cur = self.cur[(*pg).class as usize] == pg;
            if u == is_cur as u32 || (*pg).free == p as *mut Block || !(*pg).is_block_start(p as usize) {
                diag::fatal("free(): double free or invalid pointer", p as usize);
            }
            let b = p as *mut Block;
            (*b).next = (*pg).free;
            (*pg).free = b;
            (*pg).set_used(u - 1);
            if u == 1 && !is_cur {
                // Empty and not current (so on the partial list): give it back.
                self.unlink(pg);
                collect_remote(pg);
                (*self.tier).release_page(pg);
            }
        }
    }

    /// Returns every page to the tier: empty pages are released, the others
    /// abandoned for adoption (those with free space also recorded as hints
    /// for heaps that need a page). Called at thread exit; the heap is
    /// reusable afterwards (after [`Heap::init`]).
    ///
    /// # Safety
    /// Called by the owning thread, which will not use the heap again without
    /// re-initialising it.
    pub unsafe fn abandon_all(&mut self) {
        if self.tier.is_null() {
            return;
        }
        // SAFETY: all pages reached are ours, until abandoned.
        unsafe {
            let tier = &*self.tier;
            // Recorded after the pages are abandoned: a hint is only taken
            // by a CAS from ABANDONED.
            let mut hints = [(ptr::null_mut::<Page>(), 0usize); HINT_BATCH];
            let mut nh = 0;
            for c in 0..MAX_CLASSES {
                let cur = self.cur[c];
                if cur != empty_page() {
                    (*cur).set_used((*cur).used() - 1); // the current-page reference
                    self.cur[c] = empty_page();
                    self.link(cur);
                }
                loop {
                    let pg = self.partial[c];
                    if pg.is_null() {
                        break;
                    }
                    self.unlink(pg);
                    let n = collect_remote(pg);
                    count_event(&tier.stats.remote_collected, n as usize);
                    if (*pg).used() == 0 {
                        tier.release_page(pg);
                        continue;
                    }
                    let has_room = !(*pg).free.is_null() || (*pg).capacity < (*pg).reserved;
                    count_event(&tier.stats.pages_abandoned, 1);
                    if !abandon(pg) {
                        reclaim(pg);
                    }
                    if has_room {
                        if nh == HINT_BATCH {
                            tier.push_hints(&hints);
                            nh = 0;
                        }
                        hints[nh] = (pg, c);
                        nh += 1;
                    }
                }
            }
            tier.push_hints(&hints[..nh]);
        }
    }

    /// Periodic upkeep, for an owner that may be mostly idle: [`Heap::collect`],
    /// then purges the tier's expired empty pages. Costs one pass over the
    /// heap's pages; the router runs it at most every 50 ms per thread.
    /// Without it, a burst freed by another thread stays resident until the
    /// owner next needs a page of those classes.
    ///
    /// # Safety
    /// Called by the owning thread.
    pub unsafe fn maintain(&mut self) {
        if self.tier.is_null() {
            return;
        }
        // SAFETY: forwarded contract.
        unsafe {
            self.collect();
            (*self.tier).purge_expired();
        }
    }

    /// Collects the remote frees of the current and partial pages and
    /// returns pages that became empty to the tier (an explicit flush, e.g.
    /// `hak_thread_flush`; also part of [`Heap::maintain`]).
    ///
    /// # Safety
    /// Called by the owning thread.
    pub unsafe fn collect(&mut self) {
        if self.tier.is_null() {
            return;
        }
        // SAFETY: all pages reached are ours.
        unsafe {
            let tier = &*self.tier;
            for c in 0..MAX_CLASSES {
                let cur = self.cur[c];
                if cur != empty_page() {
                    collect_remote(cur);
                }
                let mut pg = self.partial[c];
                while !pg.is_null() {
                    let next = (*pg).next;
                    collect_remote(pg);
                    if (*pg).used() == 0 {
                        self.unlink(pg);
                        tier.release_page(pg);
                    }
                    pg = next;
                }
            }
        }
    }
}

/// The owner's free fast path: if the page is owned by `token` and does not
/// become empty, pushes `p` onto its free list and returns true (no
/// atomics). Otherwise returns false: call [`Heap::free_slow`] (or
/// [`free_remote`] without a heap). Also refuses an immediate double free
/// (`p` already at the head of the free list), which the slow path then
/// reports.
///
/// # Safety
/// `p` is a live block of `pg`; `token` is the calling thread's token (0 if
/// it has none).
#[inline(always)]
pub unsafe fn free_fast(pg: *mut Page, p: *mut u8, token: usize) -> bool {
    // SAFETY: the owner check comes first: a thread that does not own the
    // page reads nothing else of it; then owner-only fields.
    unsafe {
        if (*pg).owner.load(Ordering::Relaxed) != token {
            return false;
        }
        let u = (*pg).used();
        let head = (*pg).free;
        if u >= 2 && head != p as *mut Block {
            let b = p as *mut Block;
            (*b).next = head;
            (*pg).free = b;
            (*pg).set_used(u - 1);
            return true;
        }
        false
    }
}

/// Frees block `p` of page `pg` from a thread that does not own the page
/// (or has no heap): one CAS onto the page's remote list. The remote list of
/// an abandoned page is collected by whoever adopts the page; if our push
/// put the page's last block out on the list (its count reaches `used`),
/// nobody will, and we reclaim the page (`reclaim`), which returns it to the tier.
///
/// Handshake with `abandon`: the push is an AcqRel CAS, then `owner` and
/// `used` are read. The abandoning thread writes `used` (owner-only) and
/// stores `owner = ABANDONED` before an RMW on `remote` (CAS null → null,
/// AcqRel), which found the list empty. Both sides are RMWs on one
/// location, totally ordered: either that CAS sees our block (the
/// abandoner takes the page back or reclaims it), or our push reads from it
/// (or from a later push) and we see ABANDONED (or a later owner, who
/// collects) and the `used` it left, which the list's count then reaches
/// exactly when its last block is freed. A stale `used` (the page was taken
/// meanwhile) only costs a reclaim attempt that finds the page owned or not
/// empty.
///
/// # Safety
/// `p` is a live block of `pg`.
#[inline]
pub unsafe fn free_remote(pg: *mut Page, p: *mut u8) {
    // SAFETY: the remote list is a Treiber stack of blocks we own until the
    // CAS publishes them; page descriptors stay readable forever.
    unsafe {
        let b = p as *mut Block;
        // A page goes back to the tier only once every block of it has been
        // freed, and whoever still holds a block sees the owner that handed
        // it out (or a later one), never that earlier NO_OWNER: so a free
        // page here means this block was freed already. Report it before
        // the push would overwrite the link of a block on the free list the
        // released page keeps for its next owner.
        if (*pg).owner.load(Ordering::Relaxed) == NO_OWNER {
            diag::fatal("free(): double free detected", p as usize);
        }
        let mut head = (*pg).remote.load(Ordering::Relaxed);
        let count = loop {
            let n = remote_count(head);
            if remote_ptr(head) == b || n == u16::MAX as u32 {
                diag::fatal("free(): double free detected", p as usize);
            }
            (*b).next = remote_ptr(head);
            // Release: publishes the block's link to the collector. Acquire:
            // if the push reads from an abandoner's CAS null → null
            // (`abandon`), we see the owner and `used` it left.
            match (*pg).remote.compare_exchange_weak(head, remote_word(b, n + 1), Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break n + 1,
                Err(h) => head = h,
            }
        };
        // Any other owner value: an owner or adopter collects on its
        // refills, a reclaimer re-checks after giving the page up, and a
        // free page (NO_OWNER) had our block collected before release.
        if (*pg).owner.load(Ordering::Relaxed) == ABANDONED && count == (*pg).used() {
            reclaim(pg);
        }
    }
}

/// Gives up a page the caller owns, which is on no heap list and has live
/// blocks: stores `owner = ABANDONED` (Release: publishes the page's fields
/// to whoever takes it next with a CAS from ABANDONED), then re-checks the
/// remote list with an RMW (CAS null → null, AcqRel). Returns true if the
/// list was empty: every later remote freer sees ABANDONED (or a later
/// owner, see [`free_remote`]). False if a remote free raced in: its freer
/// may have read the owner before our store, so the caller must see that
/// the block is collected (take the page back, or [`reclaim`] it).
///
/// # Safety
/// As above; after a true return the caller no longer owns the page.
unsafe fn abandon(pg: *mut Page) -> bool {
    // SAFETY: per contract.
    unsafe {
        (*pg).owner.store(ABANDONED, Ordering::Release);
        (*pg).remote.compare_exchange(ptr::null_mut(), ptr::null_mut(), Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

/// Reclaims an abandoned page whose blocks may all be on its remote list
/// (or that its abandoner could not leave with an empty one): takes it for
/// a moment (CAS `ABANDONED → RECLAIMING`), collects its remote list,
/// returns it to its tier if that emptied it, else gives it up again with
/// [`abandon`] (looping while frees keep arriving). If the CAS fails
/// someone else owns the page (an adopter, which collects on its refills,
/// or another reclaimer, which re-checks): nothing to do.
///
/// # Safety
/// `pg` is a page descriptor of a live segment.
#[cold]
#[inline(never)]
unsafe fn reclaim(pg: *mut Page) {
    // SAFETY: each successful CAS makes us the page's only owner until our
    // store of ABANDONED; the previous owner's writes were released by its
    // own store of ABANDONED.
    unsafe {
        if (*pg).owner.compare_exchange(ABANDONED, RECLAIMING, Ordering::Acquire, Ordering::Relaxed).is_err() {
            return;
        }
        let seg = seg_of_entry(segmap::lookup((*pg).start));
        let tier = &*(*seg).tier;
        loop {
            let n = collect_remote(pg);
            count_event(&tier.stats.remote_collected, n as usize);
            if (*pg).used() == 0 {
                tier.release_page(pg);
                return;
            }
            if abandon(pg)
                || (*pg).owner.compare_exchange(ABANDONED, RECLAIMING, Ordering::Acquire, Ordering::Relaxed).is_err()
            {
                return;
            }
        }
    }
}

// A page descriptor is two cache lines; the remote list shares the first
// with the owner's fields (see [`Page`]).
#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<Page>() == 128);
#[cfg(not(loom))]
const _: () = assert!(core::mem::offset_of!(Page, remote) + 8 <= 64);
