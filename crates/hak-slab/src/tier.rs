//! [`SlabTier`]: construction and settings, handing empty pages to heaps
//! and taking them back, trimming a page on a class change, and the hints
//! of abandoned pages.

use core::ptr;
use core::sync::atomic as stat;

use hak_os::lock::SpinLock;
use hak_os::map;
use hak_os::sync::{AtomicPtr, Ordering};

use crate::check::{check_owned, check_page};
use crate::lists::Shared as Lists;
use crate::lists::{Shared, PURGE_BATCH};
use crate::page::{first_carve, map_to, page_depth, Page, PagePtr, ABANDONED, NO_OWNER};
use crate::segment::set_slot;
use crate::{slot, Heap, TierStats, MAX_CLASSES, MAX_TIERS, NO_SLOT, TRIM_MAX_PAGE_SHIFT};

/// A slab tier: a class table, a page size, and the pages of its segments.
pub struct SlabTier {
    /// Human-readable name (statistics).
    pub name: &'static str,
    pub(crate) index: u32,
    pub(crate) page_shift: u32,
    pub(crate) sizes: &'static [u32],
    pub(crate) keep_free_pages: stat::AtomicUsize,
    pub(crate) decay_ms: stat::AtomicU64,
    pub(crate) shared: SpinLock<Shared>,
    /// The tier's segment records, newest first (linked through
    /// `SegMeta::next`; pushed once each, never removed): what
    /// [`SlabTier::usage`] walks.
    pub(crate) segs: stat::AtomicPtr<crate::SegMeta>,
    /// Abandoned pages that remote freers found worth reusing
    /// ([`SlabTier::push_inbox`]), not yet on the hint lists: a lock-free
    /// stack (any thread pushes with a Release CAS; the drain under the
    /// tier lock swaps it out whole, Acquire).
    pub(crate) inbox: AtomicPtr<Page>,
    /// Slow-path counters.
    pub stats: TierStats,
    /// Loom builds: the segments to unmap when a model's tier is dropped.
    #[cfg(loom)]
    pub(crate) segments: std::sync::Mutex<std::vec::Vec<(usize, usize)>>,
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
                dirty: PagePtr::NULL,
                dirty_tail: PagePtr::NULL,
                dirty_count: 0,
                dirty_of: [PagePtr::NULL; MAX_CLASSES],
                clean: PagePtr::NULL,
                hints: [PagePtr::NULL; MAX_CLASSES],
                peak_in_use: 0,
                peak_ms: 0,
            }),
            segs: stat::AtomicPtr::new(ptr::null_mut()),
            inbox: AtomicPtr::new(ptr::null_mut()),
            stats: TierStats::new(),
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

    /// Takes an empty page for class `class`, owned by `heap`: the most
    /// recently released resident page of that class, else a resident page
    /// of another class (the most recently released one in tiers of small
    /// pages; in L2.5's the one among the recent whose depth is closest to
    /// what the class keeps, [`SlabTier::kept_depth`]), else a clean one,
    /// one the newest segment maps in place, or one of a new segment.
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
    /// and by a quarter at 4; docs/decisions/0006).
    pub(crate) fn acquire_page(&'static self, class: usize, heap: &Heap) -> PagePtr {
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
                // faulted more still (docs/decisions/0007).
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
                        s.clean = pg.next();
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
            // More of the newest segment's window, else a new segment.
            let head = first_carve(self.sizes[class] as usize);
            let mut first = self.grow_newest(head);
            if first.is_null() {
                first = self.new_segment(head);
            }
            if first.is_null() {
                return first;
            }
            pg = first;
            // SAFETY: the rest of the fresh pages go to the clean list.
            unsafe {
                let rest = first.next();
                if !rest.is_null() {
                    let mut tail = rest;
                    while !tail.next().is_null() {
                        tail = tail.next();
                    }
                    let mut s = self.shared.lock();
                    tail.set_next(s.clean);
                    s.clean = rest;
                }
            }
        }
        let bs = self.sizes[class];
        // SAFETY: the page is exclusively ours now.
        unsafe {
            // A resident page released by this class keeps its carved
            // blocks, all on its free list (see `release_page`).
            if pg.block_size() != bs {
                self.trim_for_class(pg, bs as usize);
                pg.set_free(ptr::null_mut());
                pg.set_capacity(0);
            }
            pg.set_used(0);
            pg.set_block_size(bs);
            pg.set_reserved(((1usize << self.page_shift) / bs as usize) as u32);
            pg.set_class(class as u32);
            set_slot(pg, self.page_shift, slot(self.index as usize, class));
            pg.set_remote(ptr::null_mut(), Ordering::Relaxed);
            pg.set_next(PagePtr::NULL);
            pg.set_prev(PagePtr::NULL);
            check_page(pg, self.page_shift, false);
            debug_assert_eq!(pg.owner(Ordering::Relaxed), NO_OWNER, "acquired page {pg:?} had an owner");
            pg.set_owner(heap.token, Ordering::Release);
        }
        self.stats.pages_acquired.fetch_add(1, Ordering::Relaxed);
        // A page of a grown segment is mapped as far as it was carved: the
        // class's first carve must be (the caller carves it at once).
        // SAFETY: the page is ours; given back unused if that is refused.
        unsafe {
            if !map_to(pg, first_carve(bs as usize)) {
                self.release_page(pg);
                return PagePtr::NULL;
            }
        }
        pg
    }

    /// Returns to the OS what the empty page `pg` holds beyond what the class
    /// of `bs`-byte blocks that takes it over keeps ([`SlabTier::kept_depth`]),
    /// and records its depth.
    ///
    /// A page keeps every byte its classes carved until it is purged, so
    /// without this a page that changes class stays as deep as the deepest
    /// class it ever served:
    /// * in the tiny tier's 64 KiB pages the new class keeps its first
    ///   carve only. Class changes are rare once pages of the same class
    ///   are reused first (see [`SlabTier::acquire_page`]); with both, the
    ///   `threads` workload's peak RSS at 4 threads fell by a third, and
    ///   `aligned`'s by a sixth, at no throughput cost (docs/decisions/0006).
    /// * in L2.5's 1 MiB pages of a few big blocks each the new class soon
    ///   carves again most of what a first-carve trim would return (`mid`,
    ///   whose big classes change pages all the time, ran several times
    ///   slower), so a page keeps all it can use: the whole page, except
    ///   for a class whose blocks leave more than a quarter of it
    ///   unreachable (the 640 KiB class: 384 KiB), which returns that tail.
    ///   L2's 256 KiB pages do the same (every L2 class reaches at least
    ///   15/16 of a page, so they keep it whole): a program whose 4..32 KiB
    ///   blocks come and go in phases of other sizes trimmed and faulted
    ///   back 1.2 GB per second with first-carve trims, and ran 11x faster
    ///   without them at the same peak RSS (docs/decisions/0041).
    ///
    /// # Safety
    /// The caller owns `pg`, an empty page none of whose blocks is live.
    pub(crate) unsafe fn trim_for_class(&self, pg: PagePtr, bs: usize) {
        // SAFETY: per contract; the range lies in the page.
        unsafe {
            let mut depth = page_depth(pg);
            let keep = self.kept_depth(bs);
            if depth > keep && map::decommit((pg.start() + keep) as *mut u8, depth - keep) {
                self.stats.pages_trimmed.fetch_add(1, Ordering::Relaxed);
                self.stats.bytes_decommitted.fetch_add(depth - keep, Ordering::Relaxed);
                depth = keep;
            }
            pg.set_depth(depth as u32);
        }
    }

    /// The depth a page keeps when it changes to the class of `bs`-byte
    /// blocks (see [`SlabTier::trim_for_class`]): the first carve in tiers
    /// of pages up to [`TRIM_MAX_PAGE_SHIFT`]; in larger pages what the
    /// class's blocks can reach when they leave more than a quarter of the
    /// page unreachable, else the whole page.
    pub(crate) fn kept_depth(&self, bs: usize) -> usize {
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
    pub(crate) fn push_hints(&self, pages: &[(PagePtr, usize)]) {
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
                if !pg.hinted() {
                    pg.set_hinted(true);
                    pg.set_hint_next(s.hints[c]);
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
    pub(crate) fn take_abandoned(&self, class: usize, heap: &Heap) -> PagePtr {
        let mut s = self.shared.lock();
        self.drain_inbox(&mut s);
        loop {
            let pg = s.hints[class];
            if pg.is_null() {
                return pg;
            }
            // SAFETY: the hint fields only change under the tier lock.
            unsafe {
                s.hints[class] = pg.hint_next();
                pg.set_hinted(false);
                if pg.cas_owner(ABANDONED, heap.token, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                    return pg;
                }
            }
        }
    }

    /// Records abandoned page `pg` of class `class` as a hint without the
    /// tier lock (a remote freer's, see `abandon::hint`): pushes it onto the
    /// inbox, unless it is there already; the next
    /// [`SlabTier::take_abandoned`] moves it to the hint lists.
    ///
    /// A freer that took the tier lock instead would contend with the
    /// heaps that acquire and release pages under it, and a thread that
    /// only frees (issue 21's reclaimer) pushes a hint every few dozen
    /// frees.
    ///
    /// # Safety
    /// `pg` is a page descriptor of this tier.
    pub(crate) unsafe fn push_inbox(&self, pg: PagePtr, class: usize) {
        // SAFETY: claiming the page makes its inbox fields ours until the
        // drain reads them after its swap (which our Release CAS
        // publishes them to).
        unsafe {
            if !pg.claim_inbox() {
                return;
            }
            pg.set_inbox_class(class as u8);
            let mut head = self.inbox.load(Ordering::Relaxed);
            loop {
                pg.set_inbox_next(PagePtr::from_raw(head));
                match self.inbox.compare_exchange_weak(head, pg.as_ptr(), Ordering::Release, Ordering::Relaxed) {
                    Ok(_) => return,
                    Err(h) => head = h,
                }
            }
        }
    }

    /// Moves every page of the inbox to the hint list of the class it was
    /// pushed with (a page already on a hint list stays where it is).
    pub(crate) fn drain_inbox(&self, s: &mut Lists) {
        if self.inbox.load(Ordering::Relaxed).is_null() {
            return;
        }
        let mut pg = PagePtr::from_raw(self.inbox.swap(ptr::null_mut(), Ordering::Acquire));
        // SAFETY: the swap acquired the pushers' writes of the inbox fields;
        // the hint fields are ours under the tier lock (held by the caller:
        // `s` is its guard's value).
        unsafe {
            while !pg.is_null() {
                let next = pg.inbox_next();
                let c = (pg.inbox_class() as usize).min(MAX_CLASSES - 1);
                pg.release_inbox();
                if !pg.hinted() {
                    pg.set_hinted(true);
                    pg.set_hint_next(s.hints[c]);
                    s.hints[c] = pg;
                }
                pg = next;
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
    pub(crate) unsafe fn release_page(&'static self, pg: PagePtr) {
        // SAFETY: per contract the page is exclusively ours.
        unsafe {
            debug_assert!(pg.used() == 0 && pg.remote(Ordering::Relaxed).is_null(), "released page {pg:?} not empty");
            check_page(pg, self.page_shift, false);
            check_owned(pg, "releasing");
            set_slot(pg, self.page_shift, NO_SLOT);
            pg.set_owner(NO_OWNER, Ordering::Release);
        }
        let decay = self.decay_ms.load(Ordering::Relaxed);
        let now = if decay == 0 { 0 } else { hak_os::now_ms() };
        let mut purge = [PagePtr::NULL; PURGE_BATCH];
        let np = {
            let mut s = self.shared.lock();
            // SAFETY: list manipulation under the tier lock.
            unsafe {
                pg.set_freed_at_ms(now);
                s.push_dirty(pg);
                self.take_purgeable(&mut s, now, decay, &mut purge)
            }
        };
        self.stats.pages_released.fetch_add(1, Ordering::Relaxed);
        self.finish_purge(&purge[..np]);
    }
}
