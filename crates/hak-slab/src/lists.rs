//! A tier's lists of empty pages (dirty, per class, clean; hints of
//! abandoned pages) and purging: returning the memory of empty pages that
//! stayed unused to the OS.

use core::ptr;

use hak_os::sync::Ordering;
use hak_os::{map, SEGMENT_SIZE};

use crate::page::{page_depth, PagePtr};
use crate::{SlabTier, MAX_CLASSES};

/// Empty pages of a tier. `dirty` pages may hold committed memory: a
/// doubly-linked list, newest at the head (reused first, still warm), oldest
/// at the tail (purged first). Each dirty page is also on the list of the
/// class it served last (`dirty_of`, newest first, through `class_next`/
/// `class_prev`): a heap takes a page of its own class first, whose carved
/// blocks are still on its free list, so pages mostly keep their class
/// instead of being carved by one class after another (a class with no
/// page of its own takes the newest of any class in the tiny tier,
/// the one of closest depth in L2's and L2.5's; see [`SlabTier::acquire_page`]). `clean` pages are decommitted or
/// untouched.
/// And, per class, hints of abandoned pages with free space: pages that
/// were abandoned by an exiting thread, linked through `hint_next`, each
/// checked by a CAS when taken (it may have been adopted or released since).
pub(crate) struct Shared {
    pub(crate) dirty: PagePtr,
    pub(crate) dirty_tail: PagePtr,
    pub(crate) dirty_count: usize,
    pub(crate) dirty_of: [PagePtr; MAX_CLASSES],
    pub(crate) clean: PagePtr,
    pub(crate) hints: [PagePtr; MAX_CLASSES],
    /// The most pages in use seen at a purge check within the decay
    /// interval (see [`SlabTier::take_purgeable`]), and when it was first
    /// seen (ms).
    pub(crate) peak_in_use: usize,
    pub(crate) peak_ms: u64,
}

impl Shared {
    /// Puts the released page `pg` at the head of the dirty list and of its
    /// class's dirty list.
    ///
    /// # Safety
    /// Under the tier lock; `pg` is a free page on no list.
    pub(crate) unsafe fn push_dirty(&mut self, pg: PagePtr) {
        // SAFETY: per contract, list fields of free pages are ours.
        unsafe {
            pg.set_prev(PagePtr::NULL);
            pg.set_next(self.dirty);
            if self.dirty.is_null() {
                self.dirty_tail = pg;
            } else {
                self.dirty.set_prev(pg);
            }
            self.dirty = pg;
            let head = &mut self.dirty_of[pg.class() as usize];
            pg.set_class_prev(PagePtr::NULL);
            pg.set_class_next(*head);
            if !(*head).is_null() {
                (*head).set_class_prev(pg);
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
    pub(crate) unsafe fn closest_dirty(&self, keep: usize) -> PagePtr {
        let mut best = PagePtr::NULL;
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
                p = p.next();
                n += 1;
            }
        }
        best
    }

    /// Takes `pg` off the dirty list and its class's dirty list.
    ///
    /// # Safety
    /// Under the tier lock; `pg` is on the dirty list.
    pub(crate) unsafe fn unlink_dirty(&mut self, pg: PagePtr) {
        // SAFETY: per contract.
        unsafe {
            if pg.prev().is_null() {
                self.dirty = pg.next();
            } else {
                pg.prev().set_next(pg.next());
            }
            if pg.next().is_null() {
                self.dirty_tail = pg.prev();
            } else {
                pg.next().set_prev(pg.prev());
            }
            if pg.class_prev().is_null() {
                self.dirty_of[pg.class() as usize] = pg.class_next();
            } else {
                pg.class_prev().set_class_next(pg.class_next());
            }
            if !pg.class_next().is_null() {
                pg.class_next().set_class_prev(pg.class_prev());
            }
            pg.set_next(PagePtr::NULL);
            pg.set_prev(PagePtr::NULL);
            pg.set_class_next(PagePtr::NULL);
            pg.set_class_prev(PagePtr::NULL);
            self.dirty_count -= 1;
        }
    }
}

/// How many of the most recently released pages a class of a tier of large
/// pages looks through for the one closest to the depth it keeps (see
/// `SlabTier::acquire_page`).
pub(crate) const FIT_WINDOW: usize = 16;

/// Pages purged per release at most (bounds the time spent in one free).
pub(crate) const PURGE_BATCH: usize = 16;

// SAFETY: the page pointers are only followed under the tier lock.
unsafe impl Send for Shared {}

impl SlabTier {
    /// Takes off the dirty list (oldest first) the pages to purge: beyond the
    /// kept ones, those unused for the decay interval, and whatever their age
    /// any beyond a cap: the larger of 16 MiB, the kept pages and the most
    /// pages in use within the last decay interval. The cap bounds what a
    /// program keeps committed before the decay interval passes to what it
    /// used within it, yet never forces a purge while the tier's live memory
    /// merely fluctuates: a cap at the pages in use now made the `mid`
    /// benchmark purge and fault back 1 400 MiB per second, and `midphases`
    /// (phases that free three quarters of the blocks, then allocate as much
    /// in other sizes) run 17x slower than without a cap. At most
    /// [`PURGE_BATCH`] per call.
    ///
    /// # Safety
    /// Called with the tier lock held (`s`).
    pub(crate) unsafe fn take_purgeable(
        &self,
        s: &mut Shared,
        now: u64,
        decay: u64,
        out: &mut [PagePtr; PURGE_BATCH],
    ) -> usize {
        let keep = self.keep_free_pages.load(Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { self.take_oldest(s, now, decay, keep, out) }
    }

    /// [`SlabTier::take_purgeable`] with `keep` pages kept.
    ///
    /// # Safety
    /// Called with the tier lock held (`s`).
    unsafe fn take_oldest(
        &self,
        s: &mut Shared,
        now: u64,
        decay: u64,
        keep: usize,
        out: &mut [PagePtr; PURGE_BATCH],
    ) -> usize {
        let in_use = self.pages_in_use();
        if in_use >= s.peak_in_use || now.saturating_sub(s.peak_ms) >= decay {
            s.peak_in_use = in_use;
            s.peak_ms = now;
        }
        let cap = keep.max((16 << 20) >> self.page_shift).max(s.peak_in_use);
        let mut np = 0;
        // SAFETY: list manipulation under the tier lock.
        unsafe {
            while np < PURGE_BATCH && s.dirty_count > keep {
                let t = s.dirty_tail;
                let expired = now.saturating_sub(t.freed_at_ms()) >= decay;
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
    pub(crate) fn finish_purge(&self, purge: &[PagePtr]) {
        if purge.is_empty() {
            return;
        }
        // Where every mapped byte counts (an address-space limit, strict
        // overcommit) a purged page of a window gives its address space and
        // commit charge back too (another tier may need it: decisions 0045,
        // 0048).
        let unmap = map::mapping_counted();
        for &t in purge {
            // SAFETY: the purged pages are off every list: no one else can
            // reach them until we put them on the clean list below. Their
            // blocks (and free lists) are gone; a page of a window is mapped
            // again as far as it is carved (`map_to`).
            unsafe {
                // A window's first OS page stays mapped (decommitted): a
                // registered window then never holds a free, segment-aligned
                // range where another mapping (a big block's, whose
                // registration would take the window's entry) could start.
                let keep = if t.start() & (SEGMENT_SIZE - 1) == 0 { map::page_size() } else { 0 };
                let at = (t.start() + keep) as *mut u8;
                let mapped = t.mapped() as usize;
                let gone = if unmap
                    && mapped > keep
                    && crate::segment::in_partial_segment(t, self.page_shift)
                    && map::try_unmap(at, mapped - keep)
                {
                    t.set_mapped(keep as u32);
                    keep == 0 || map::decommit(t.start() as *mut u8, keep)
                } else {
                    map::decommit(t.start() as *mut u8, 1 << self.page_shift)
                };
                t.set_free(ptr::null_mut());
                t.set_capacity(0);
                t.set_depth(if gone { 0 } else { 1 << self.page_shift });
            }
        }
        self.stats.pages_decommitted.fetch_add(purge.len(), Ordering::Relaxed);
        self.stats.bytes_decommitted.fetch_add(purge.len() << self.page_shift, Ordering::Relaxed);
        let mut s = self.shared.lock();
        for &t in purge {
            // SAFETY: linking under the tier lock.
            unsafe { t.set_next(s.clean) };
            s.clean = t;
        }
        #[cfg(debug_assertions)]
        // SAFETY: we hold the tier lock.
        unsafe {
            crate::check::walk_tier(self, &s, false)
        };
    }

    /// Returns the memory of every empty page of the tier to the OS now,
    /// whatever its age and the pages kept (`malloc_trim`). Returns the
    /// number of pages purged.
    pub fn purge_all(&self) -> usize {
        let mut total = 0;
        loop {
            let mut purge = [PagePtr::NULL; PURGE_BATCH];
            let np = {
                let mut s = self.shared.lock();
                // SAFETY: we hold the tier lock; a decay of 0 makes every
                // page expired.
                unsafe { self.take_oldest(&mut s, 0, 0, 0, &mut purge) }
            };
            self.finish_purge(&purge[..np]);
            total += np;
            if np < PURGE_BATCH {
                return total;
            }
        }
    }

    /// Purges empty pages whose decay interval has passed (called now and
    /// then by idle-ish threads, so memory is returned even when no further
    /// page is released).
    pub fn purge_expired(&self) {
        let decay = self.decay_ms.load(Ordering::Relaxed);
        let now = hak_os::now_ms();
        loop {
            let mut purge = [PagePtr::NULL; PURGE_BATCH];
            let np = {
                let mut s = self.shared.lock();
                // SAFETY: we hold the tier lock.
                unsafe {
                    #[cfg(debug_assertions)]
                    crate::check::walk_tier(self, &s, false);
                    self.take_purgeable(&mut s, now, decay, &mut purge)
                }
            };
            self.finish_purge(&purge[..np]);
            if np < PURGE_BATCH {
                return;
            }
        }
    }
}
