//! Validity walkers: the invariants of a page, of a tier's lists and of a
//! heap's lists, checked in debug builds (tests build with debug
//! assertions) and compiled out of release builds, where every entry here
//! is an empty inline function.
//!
//! * page ([`check_page`]): `used` within the carved blocks (one more for a
//!   current page, its phantom count), the carve within the page, every
//!   block of the free list a carved block of the page, and the free list's
//!   length plus the blocks out equal to the blocks carved;
//! * tier ([`SlabTier::check`], and a lighter walk after each purge pass):
//!   the dirty list and the per-class dirty lists linked consistently both
//!   ways with `dirty_count` pages, each page of a class list of that
//!   class, every page on them and on the clean list free (`owner ==
//!   NO_OWNER`, no block out, bin of [`NO_SLOT`]), clean pages uncarved,
//!   hinted pages marked;
//! * heap ([`Heap::check`]): every current and partial page owned by the
//!   heap's token, of the class of its list, partial lists linked both ways.
//!
//! A broken invariant panics (debug builds only; release builds never run
//! these checks).

#[cfg(debug_assertions)]
use hak_os::sync::Ordering;
#[cfg(debug_assertions)]
use hak_os::SEGMENT_SIZE;

#[cfg(debug_assertions)]
use crate::lists::Shared;
use crate::page::PagePtr;
#[cfg(debug_assertions)]
use crate::page::{empty_page, remote_ptr, ABANDONED, NO_OWNER, RECLAIMING};
#[cfg(debug_assertions)]
use crate::segment::bin_of_page;
#[cfg(debug_assertions)]
use crate::{bin_offset, MAX_CLASSES, NO_SLOT};
use crate::{Heap, SlabTier};

/// Checks page `pg` of a tier with pages of `1 << page_shift` bytes (see the
/// module doc); `cur`: the page is a heap's current page. Debug builds only.
///
/// # Safety
/// The caller owns `pg`, or holds the tier lock while `pg` is on a tier list.
#[inline]
pub(crate) unsafe fn check_page(pg: PagePtr, page_shift: u32, cur: bool) {
    #[cfg(debug_assertions)]
    // SAFETY: forwarded contract.
    unsafe {
        walk_page(pg, page_shift, cur)
    };
    #[cfg(not(debug_assertions))]
    let _ = (pg, page_shift, cur);
}

/// Checks `used <= capacity` (plus one for a current page) where a slow
/// path changed `used`. Debug builds only.
///
/// # Safety
/// The caller owns `pg`.
#[inline(always)]
pub(crate) unsafe fn check_used(pg: PagePtr, cur: bool) {
    // SAFETY: forwarded contract (owner-only reads).
    #[cfg(debug_assertions)]
    unsafe {
        debug_assert!(
            pg.used() <= pg.capacity() + cur as u32,
            "page {pg:?}: {} blocks out of {} carved",
            pg.used(),
            pg.capacity()
        );
    }
    #[cfg(not(debug_assertions))]
    let _ = (pg, cur);
}

/// Checks that the caller, about to give `pg` up (`what`), owns it: its
/// owner is a heap's token or `RECLAIMING`. Debug builds only (the load of
/// `owner` too: an atomic load is not removed when unused).
///
/// # Safety
/// `pg` is a page descriptor.
#[inline(always)]
pub(crate) unsafe fn check_owned(pg: PagePtr, what: &str) {
    #[cfg(debug_assertions)]
    // SAFETY: per contract.
    unsafe {
        let prev = pg.owner(Ordering::Relaxed);
        assert!(prev > ABANDONED || prev == RECLAIMING, "{what} page {pg:?} owned by {prev}");
    }
    #[cfg(not(debug_assertions))]
    let _ = (pg, what);
}

#[cfg(debug_assertions)]
unsafe fn walk_page(pg: PagePtr, page_shift: u32, cur: bool) {
    // SAFETY: per `check_page`'s contract the owner-only fields and the free
    // list's blocks are ours to read.
    unsafe {
        assert!(!pg.is_null() && pg != empty_page(), "not a page: {pg:?}");
        let page = 1usize << page_shift;
        let (cap, reserved, bs) = (pg.capacity(), pg.reserved(), pg.block_size() as usize);
        assert!(pg.start().is_multiple_of(page), "page {pg:?}: start {:#x} not page-aligned", pg.start());
        assert!(cap <= reserved, "page {pg:?}: {cap} blocks carved of {reserved}");
        assert!(reserved as usize * bs <= page, "page {pg:?}: {reserved} blocks of {bs} bytes overflow the page");
        let used = pg.used();
        let phantom = cur as u32;
        assert!(used >= phantom, "current page {pg:?} without its phantom count");
        assert!(used <= cap + phantom, "page {pg:?}: {used} blocks out (current: {cur}) of {cap} carved");
        let mut n = 0u32;
        let mut b = pg.free();
        while !b.is_null() {
            assert!(n < cap, "page {pg:?}: free list longer than the {cap} blocks carved (a cycle?)");
            assert!(
                pg.is_block_start(b as usize),
                "page {pg:?}: free list block {b:?} is not a carved block of the page"
            );
            n += 1;
            b = if crate::secure::on() { crate::secure::link(pg, b) } else { (*b).next };
        }
        assert_eq!(
            n + used - phantom + crate::secure::reserved_blocks().min(cap),
            cap,
            "page {pg:?}: {n} free + {used} out (current: {cur}) != {cap} carved"
        );
    }
}

/// The largest number of pages a tier can have (bounds list walks).
#[cfg(debug_assertions)]
fn max_pages(tier: &SlabTier) -> usize {
    tier.stats.segments.load(Ordering::Relaxed) * (SEGMENT_SIZE >> tier.page_shift)
}

/// Checks a free page on a tier list (under the tier lock).
#[cfg(debug_assertions)]
unsafe fn check_free_page(tier: &SlabTier, pg: PagePtr, deep: bool) {
    // SAFETY: free pages' fields are read under the tier lock.
    unsafe {
        assert_eq!(pg.owner(Ordering::Relaxed), NO_OWNER, "free page {pg:?} has an owner");
        assert_eq!(pg.used(), 0, "free page {pg:?} has blocks out");
        assert!(remote_ptr(pg.remote(Ordering::Relaxed)).is_null(), "free page {pg:?} has remote frees");
        assert_eq!(bin_of_page(pg, tier.page_shift), bin_offset(NO_SLOT), "free page {pg:?} has a class bin");
        if deep {
            walk_page(pg, tier.page_shift, false);
        }
    }
}

/// Walks the tier's lists (see the module doc) under its lock `s`; `deep`
/// also walks every free page's free list.
#[cfg(debug_assertions)]
pub(crate) unsafe fn walk_tier(tier: &SlabTier, s: &Shared, deep: bool) {
    let bound = max_pages(tier);
    // SAFETY: per contract, the lists are ours to read.
    unsafe {
        let mut n = 0;
        let mut prev = PagePtr::NULL;
        let mut pg = s.dirty;
        while !pg.is_null() {
            assert!(n < bound, "tier {}: dirty list longer than the tier's pages (a cycle?)", tier.name);
            assert_eq!(pg.prev(), prev, "tier {}: dirty list: broken prev link at {pg:?}", tier.name);
            check_free_page(tier, pg, deep);
            n += 1;
            prev = pg;
            pg = pg.next();
        }
        assert_eq!(s.dirty_tail, prev, "tier {}: dirty list: wrong tail", tier.name);
        assert_eq!(s.dirty_count, n, "tier {}: dirty list: {n} pages, dirty_count {}", tier.name, s.dirty_count);
        let mut by_class = 0;
        for (c, &head) in s.dirty_of.iter().enumerate() {
            let mut prev = PagePtr::NULL;
            let mut pg = head;
            while !pg.is_null() {
                assert!(by_class < n, "tier {}: class dirty lists longer than the dirty list", tier.name);
                assert_eq!(pg.class_prev(), prev, "tier {}: class dirty list: broken prev link", tier.name);
                assert_eq!(pg.class() as usize, c, "tier {}: page {pg:?} on another class's dirty list", tier.name);
                assert_eq!(pg.owner(Ordering::Relaxed), NO_OWNER, "class-listed page {pg:?} has an owner");
                by_class += 1;
                prev = pg;
                pg = pg.class_next();
            }
        }
        assert_eq!(by_class, n, "tier {}: class dirty lists hold {by_class} pages, the dirty list {n}", tier.name);
        let mut pg = s.clean;
        let mut n = 0;
        while !pg.is_null() {
            assert!(n < bound, "tier {}: clean list longer than the tier's pages (a cycle?)", tier.name);
            check_free_page(tier, pg, deep);
            assert!(
                pg.capacity() == 0 && pg.free().is_null(),
                "tier {}: clean page {pg:?} has carved blocks",
                tier.name
            );
            n += 1;
            pg = pg.next();
        }
        for &head in &s.hints {
            let mut pg = head;
            let mut n = 0;
            while !pg.is_null() {
                assert!(n < bound, "tier {}: hint list longer than the tier's pages (a cycle?)", tier.name);
                assert!(pg.hinted(), "tier {}: page {pg:?} on a hint list but not marked", tier.name);
                n += 1;
                pg = pg.hint_next();
            }
        }
    }
}

impl SlabTier {
    /// Checks the tier's lists of empty pages (debug builds; a no-op in
    /// release builds): under the tier lock, the dirty list and the
    /// per-class dirty lists are linked consistently both ways and hold
    /// `dirty_count` pages, each page of a class list has that class, every
    /// page on them and on the clean list is free (no owner, no block out,
    /// no remote free), its free list holds exactly its carved blocks (none
    /// for a clean page), and every page on a hint list is marked hinted.
    /// Panics on the first broken invariant. For tests: it walks every
    /// empty page's free list while holding the tier lock.
    pub fn check(&self) {
        #[cfg(debug_assertions)]
        {
            let s = self.shared.lock();
            // SAFETY: we hold the tier lock.
            unsafe { walk_tier(self, &s, true) };
        }
    }
}

impl Heap {
    /// Checks the heap's pages (debug builds; a no-op in release builds):
    /// every current page and every page of a partial list is owned by the
    /// heap's token and serves the class of its list, the partial lists are
    /// linked consistently both ways, and each page passes the page checks
    /// (blocks out within the carved blocks, free list made of carved
    /// blocks, free plus out equal to carved). Panics on the first broken
    /// invariant.
    ///
    /// # Safety
    /// Called by the owning thread.
    pub unsafe fn check(&self) {
        #[cfg(debug_assertions)]
        {
            if self.tier.is_null() {
                return;
            }
            // SAFETY: every page reached is ours (that is what is checked).
            unsafe {
                let tier = &*self.tier;
                let bound = max_pages(tier);
                for c in 0..MAX_CLASSES {
                    let cur = self.cur[c];
                    if cur != empty_page() {
                        assert_eq!(cur.owner(Ordering::Relaxed), self.token, "current page {cur:?} not ours");
                        assert_eq!(cur.class() as usize, c, "current page {cur:?} of another class");
                        walk_page(cur, tier.page_shift, true);
                    }
                    let mut prev = PagePtr::NULL;
                    let mut pg = self.partial[c];
                    let mut n = 0;
                    while !pg.is_null() {
                        assert!(n < bound, "partial list longer than the tier's pages (a cycle?)");
                        assert_eq!(pg.prev(), prev, "partial list: broken prev link at {pg:?}");
                        assert_eq!(pg.owner(Ordering::Relaxed), self.token, "partial page {pg:?} not ours");
                        assert_eq!(pg.class() as usize, c, "partial page {pg:?} on another class's list");
                        walk_page(pg, tier.page_shift, false);
                        n += 1;
                        prev = pg;
                        pg = pg.next();
                    }
                }
            }
        }
    }
}
