//! [`Heap`]: a thread's pages of one tier, the allocation paths and the
//! owner's free paths.

use core::ptr;

use hak_os::diag;
use hak_os::sync::Ordering;

use crate::abandon::{collect_remote, ORPHAN};
use crate::batch::Batch;
use crate::check::{check_page, check_used};
use crate::page::{empty_page, extend, prefetch, Block, Page, PagePtr, ABANDONED};
use crate::stats::count;
use crate::{free_fast, free_remote, SlabTier, MAX_CLASSES};

/// A thread's heap for one tier. Must live at a stable address for as long as
/// it owns pages.
///
/// Pages record their owner as a *token*: by default the heap's address; a
/// router that keeps several heaps per thread gives them all one token (the
/// thread context's address) so its free path can test ownership without
/// knowing which heap serves the page.
#[repr(C)]
pub struct Heap {
    pub(crate) cur: [PagePtr; MAX_CLASSES],
    pub(crate) token: usize,
    pub(crate) tier: *const SlabTier,
    pub(crate) partial: [PagePtr; MAX_CLASSES],
    /// Slow-path entries (statistics).
    pub(crate) slow_allocs: usize,
    /// Blocks this heap collected from remote-free lists since it last
    /// added them to its tier's count ([`Heap::flush_stats`]).
    pub(crate) remote_collected: usize,
    /// Adopt abandoned pages on free.
    pub(crate) adopts: bool,
    /// Secure mode: the state of the carving shuffle.
    pub(crate) rng: u64,
    /// Per class, blocks of another heap's page freed by this heap and not
    /// yet pushed to the page (`batch.rs`).
    pub(crate) batch: [Batch; MAX_CLASSES],
    /// Pages on each class's partial list.
    pub(crate) npartial: [u32; MAX_CLASSES],
    /// When [`Heap::maintain`] last aged and returned idle free blocks
    /// (`idle.rs`; ms, `hak_os::now_ms`).
    pub(crate) idle_pass_ms: u64,
}

/// Bytes of partially free pages of a class below which a heap adopts on
/// free any abandoned page of the class (see `Heap::wants`): four 64 KiB
/// pages of the tiny tier, one page of the larger tiers.
const ADOPT_BYTES: usize = 256 << 10;

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
            partial: [PagePtr::NULL; MAX_CLASSES],
            slow_allocs: 0,
            remote_collected: 0,
            rng: 0,
            adopts: true,
            batch: [Batch::EMPTY; MAX_CLASSES],
            npartial: [0; MAX_CLASSES],
            idle_pass_ms: 0,
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
    /// values (0 to 3: [`NO_OWNER`](crate::NO_OWNER), [`ABANDONED`], ...). The heap must not
    /// own pages.
    pub fn init_with_token(&mut self, tier: &'static SlabTier, token: usize) {
        debug_assert!(token > ABANDONED, "owner token {token} is a reserved owner value");
        // Secure mode: pages are owned under a token the router's
        // `free_fast` (which passes the context's address) never matches, so
        // every free takes the checked slow path (`secure_heap`).
        self.token = if crate::secure::on() { token | 1 } else { token };
        self.rng = crate::secure::seed(token);
        self.cur = [empty_page(); MAX_CLASSES];
        self.partial = [PagePtr::NULL; MAX_CLASSES];
        self.tier = tier;
        self.slow_allocs = 0;
        self.remote_collected = 0;
        self.adopts = true;
        debug_assert!(self.batched() == 0, "heap re-initialised with batched frees");
        self.batch = [Batch::EMPTY; MAX_CLASSES];
        self.npartial = [0; MAX_CLASSES];
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
            let b = pg.free();
            if !b.is_null() {
                let next = (*b).next;
                pg.set_free(next);
                pg.set_used(pg.used() + 1);
                // The next allocation will read `next`'s link: start loading
                // its line now (free lists of long-lived heaps are cold;
                // prefetching null is harmless).
                prefetch(next.cast());
                // Handed out: see `cache::clear_key` (last, so that its
                // report is a tail jump).
                return crate::cache::clear_key(b);
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
    /// hints first: 9.4 and 10 MB, glibc 18 MB; docs/decisions/0005).
    ///
    /// # Safety
    /// As [`Heap::alloc`].
    #[inline(never)]
    pub unsafe fn alloc_slow(&mut self, class: usize) -> *mut u8 {
        self.slow_allocs += 1;
        if crate::secure::on() {
            // SAFETY: forwarded contract.
            return unsafe { self.alloc_secure(class) };
        }
        // SAFETY: every page reached from the heap lists is owned by us, and
        // so is every page acquired or adopted here.
        unsafe {
            let tier = &*self.tier;
            let pg = self.cur[class];
            if pg != empty_page() {
                if self.refill(pg) {
                    return Self::pop(pg);
                }
                // An exhausted page holds at least one block, so dropping
                // its current-page reference cannot empty it.
                pg.set_used(pg.used() - 1);
                check_used(pg, false);
                self.cur[class] = empty_page();
                self.uncount_cur(class);
                self.detach(pg);
            }
            loop {
                let pg = self.partial[class];
                if pg.is_null() {
                    break;
                }
                self.unlink(pg);
                if self.refill(pg) {
                    self.make_cur(class, pg);
                    return Self::pop(pg);
                }
                self.detach(pg);
            }
            let pg = self.adopt_serving(class, Self::refill);
            if !pg.is_null() {
                self.make_cur(class, pg);
                return Self::pop(pg);
            }
            let pg = tier.acquire_page(class, self);
            if pg.is_null() {
                return ptr::null_mut();
            }
            if pg.free().is_null() {
                extend(pg);
            }
            self.make_cur(class, pg);
            Self::pop(pg)
        }
    }

    /// Adopts abandoned pages of `class` until one that `refill` gives a
    /// free block: that page is returned, owned and on no list (null if
    /// none). Adopted pages of another class (reused since they were hinted)
    /// go back to the tier when empty, else on this heap's partial list;
    /// pages of `class` with no free block are detached again.
    ///
    /// # Safety
    /// As [`Heap::alloc`]; `refill` is [`Heap::refill`] or its secure twin.
    pub(crate) unsafe fn adopt_serving(
        &mut self,
        class: usize,
        refill: unsafe fn(&mut Heap, PagePtr) -> bool,
    ) -> PagePtr {
        // SAFETY: every page adopted here is ours.
        unsafe {
            let tier = &*self.tier;
            loop {
                let pg = tier.take_abandoned(class, self);
                if pg.is_null() {
                    return pg;
                }
                self.adopt(pg);
                if pg.class() as usize != class {
                    if pg.used() == 0 {
                        tier.release_page(pg);
                    } else {
                        self.link(pg);
                    }
                } else if refill(self, pg) {
                    return pg;
                } else {
                    self.detach(pg);
                }
            }
        }
    }

    /// Makes `pg` (on no list) the current page of `class` (whose current
    /// page is the empty page). The current page carries one phantom count in
    /// `used`, so the owner's free fast path (`used >= 2`) also serves the
    /// current page's last block instead of taking the slow path to check
    /// whether the page became empty: a current page is never released.
    #[inline]
    pub(crate) unsafe fn make_cur(&mut self, class: usize, pg: PagePtr) {
        // SAFETY: we own the page.
        unsafe {
            pg.set_used(pg.used() + 1);
            check_page(pg, (*self.tier).page_shift, true);
            if let Some(n) = (*self.tier).stats.current.get(class) {
                n.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.cur[class] = pg;
    }

    /// Counts off the current page of `class` that the caller just dropped
    /// (see [`TierStats::current`](crate::TierStats::current)).
    #[inline]
    pub(crate) fn uncount_cur(&self, class: usize) {
        // SAFETY: an initialised heap's tier is a static tier.
        if let Some(n) = unsafe { (*self.tier).stats.current.get(class) } {
            n.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// [`page::refill`](crate::page::refill), counting the remote frees it
    /// collects.
    ///
    /// # Safety
    /// We own `pg`.
    unsafe fn refill(&mut self, pg: PagePtr) -> bool {
        // SAFETY: per contract.
        unsafe {
            if !pg.free().is_null() {
                return true;
            }
            let n = collect_remote(pg);
            if n != 0 {
                self.remote_collected += n as usize;
                return true;
            }
            crate::page::refill(pg)
        }
    }

    /// Adds what this heap counted since the last call to its tier's
    /// counters (at upkeep, [`Heap::collect`] and thread exit: the counts of
    /// a busy heap reach the tier within one upkeep interval).
    pub fn flush_stats(&mut self) {
        if self.tier.is_null() {
            return;
        }
        // SAFETY: an initialised heap's tier is a static tier.
        count(unsafe { &(*self.tier).stats.remote_collected }, core::mem::take(&mut self.remote_collected));
    }

    /// # Safety
    /// `pg` is owned by us and has a non-empty free list.
    #[inline(always)]
    pub(crate) unsafe fn pop(pg: PagePtr) -> *mut u8 {
        // SAFETY: per contract.
        unsafe {
            let b = pg.free();
            pg.set_free((*b).next);
            pg.set_used(pg.used() + 1);
            check_used(pg, true);
            crate::cache::clear_key(b) // handed out: see `cache::clear_key`
        }
    }

    /// Links `pg` at the head of its class's partial list.
    pub(crate) unsafe fn link(&mut self, pg: PagePtr) {
        // SAFETY: owner-only list manipulation.
        unsafe {
            let head = &mut self.partial[pg.class() as usize];
            pg.set_prev(PagePtr::NULL);
            pg.set_next(*head);
            if !(*head).is_null() {
                (*head).set_prev(pg);
            }
            *head = pg;
            if let Some(n) = self.npartial.get_mut(pg.class() as usize) {
                *n += 1;
            }
        }
    }

    /// Unlinks `pg` from its class's partial list.
    pub(crate) unsafe fn unlink(&mut self, pg: PagePtr) {
        // SAFETY: owner-only list manipulation.
        unsafe {
            if pg.prev().is_null() {
                self.partial[pg.class() as usize] = pg.next();
            } else {
                pg.prev().set_next(pg.next());
            }
            if !pg.next().is_null() {
                pg.next().set_prev(pg.prev());
            }
            pg.set_next(PagePtr::NULL);
            pg.set_prev(PagePtr::NULL);
            if let Some(n) = self.npartial.get_mut(pg.class() as usize) {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// Frees block `p` of page `pg`, from the thread that owns this heap.
    ///
    /// If the page belongs to this heap the block goes onto its free list
    /// (no atomics). If the page is abandoned, this heap adopts it first
    /// (ownership follows the thread that frees its blocks, which is who
    /// received them) if this heap allocates the page's class. Otherwise
    /// the block joins this heap's chain of blocks of that page, pushed to
    /// the page's remote list with one CAS when a block of another page
    /// arrives, when it is long, or at [`Heap::maintain`], [`Heap::collect`]
    /// and [`Heap::abandon_all`] (`batch.rs`).
    ///
    /// # Safety
    /// `p` is a live block of `pg`; `self` belongs to the calling thread.
    #[inline(always)]
    pub unsafe fn free(&mut self, pg: *mut Page, p: *mut u8) {
        // SAFETY: forwarded contract.
        unsafe {
            if crate::secure::on() || !free_fast(pg, p, self.token) {
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
        let pg = PagePtr::from_raw(pg);
        // SAFETY: see the cases below.
        unsafe {
            let owner = pg.owner(Ordering::Relaxed);
            if owner == self.token() {
                self.free_local_slow(pg, p);
                return;
            }
            if owner == ABANDONED
                && self.adopts
                && self.wants(pg)
                && pg.cas_owner(ABANDONED, self.token(), Ordering::AcqRel, Ordering::Relaxed).is_ok()
            {
                self.adopt(pg);
                self.link(pg);
                self.free_local_slow(pg, p);
                return;
            }
            if crate::secure::on() {
                free_remote(pg.as_ptr(), p);
            } else {
                self.free_batched(pg, p);
            }
        }
    }

    /// Whether this heap adopts the abandoned page `pg` it frees into: only
    /// while it allocates the page's class (it has a current page of it),
    /// and then a page it abandoned itself (a thread freeing what it
    /// allocated, page after page), a page of an exited thread (nobody
    /// else allocates from it: larson's successors), or any while it holds
    /// less than [`ADOPT_BYTES`] of partially free pages of the class. A
    /// thread that frees far
    /// more of a class than it allocates (issue 21's reclaimer: every
    /// replaced block, while it allocates a few) would otherwise keep
    /// every page it frees into, and their free blocks, out of reach of
    /// the threads that allocate the class until the last block of each
    /// came back: 6.5x the live bytes resident. Unadopted, a page goes
    /// back to those threads through the hints of the remote frees
    /// (`abandon::hint_threshold`); a heap that allocates the class takes
    /// its partial page first, and adopts again once it has none.
    ///
    /// # Safety
    /// `pg` is a page descriptor of our tier.
    #[inline]
    unsafe fn wants(&self, pg: PagePtr) -> bool {
        // SAFETY: per contract; the class of a page with a live block (the
        // caller's) does not change.
        unsafe {
            let class = pg.class() as usize;
            let by = pg.abandoned_by();
            let partial_bytes = self.npartial.get(class).map_or(0, |&n| (n as usize) << (*self.tier).page_shift);
            self.cur.get(class).is_some_and(|&cur| cur != empty_page())
                && (by == ORPHAN || by == self.token || partial_bytes < ADOPT_BYTES)
        }
    }

    /// Whether page `pg` is this heap's: it owns it, or it abandoned it
    /// when it was exhausted (a block it frees there is its own, taken back
    /// by a local free or an adoption, not a remote free).
    ///
    /// # Safety
    /// `pg` is a page descriptor of a live segment.
    pub unsafe fn owns(&self, pg: *mut Page) -> bool {
        // SAFETY: per contract; any thread may read the owner and the last
        // abandoner (relaxed hints).
        unsafe {
            let pg = PagePtr::from_raw(pg);
            let owner = pg.owner(Ordering::Relaxed);
            owner == self.token || (owner == ABANDONED && pg.abandoned_by() == self.token)
        }
    }

    /// Whether this heap adopts abandoned pages it frees into (default yes;
    /// a heap that must never own pages, e.g. one standing in for an exiting
    /// thread, turns it off).
    pub fn set_adopts(&mut self, adopts: bool) {
        self.adopts = adopts;
    }

    #[inline(never)]
    pub(crate) unsafe fn free_local_slow(&mut self, pg: PagePtr, p: *mut u8) {
        // SAFETY: we own the page.
        unsafe {
            if crate::secure::on() {
                self.free_local_secure(pg, p);
                return;
            }
            let u = pg.used();
            let is_cur = self.cur[pg.class() as usize] == pg;
            if u == is_cur as u32 || pg.free() == p as *mut Block || !pg.is_block_start(p as usize) {
                diag::fatal("free(): double free or invalid pointer", p as usize);
            }
            // A block ahead of `p`, so that the next malloc of its class
            // does not hand it out again (decision 0051): the page's remote
            // frees or its next carve, if it has either. Only for classes
            // no bin caches (a bin keeps the block freed last itself), and
            // not for a page this free empties and gives back.
            if pg.free().is_null() && (is_cur || u > 1) && pg.block_size() as usize > crate::cache::MAX_CACHED {
                self.refill(pg);
            }
            let u = pg.used();
            pg.link_freed(p as *mut Block);
            pg.set_used(u - 1);
            check_used(pg, is_cur);
            if u == 1 && !is_cur {
                // Empty and not current (so on the partial list): give it back.
                self.unlink(pg);
                self.remote_collected += collect_remote(pg) as usize;
                (*self.tier).release_page(pg);
            }
        }
    }
    /// Periodic upkeep, for an owner that may be mostly idle: [`Heap::collect`],
    /// then purges the tier's expired empty pages, and once per half decay
    /// interval runs [`Heap::return_idle_blocks`]. Costs one pass over the
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
            let tier = &*self.tier;
            tier.purge_expired();
            // Free blocks idle in partly used pages: one pass per half
            // decay interval ages the fresh ones and returns the aged, so a
            // block idle for a whole interval is returned (0047).
            let now = hak_os::now_ms();
            if now.wrapping_sub(self.idle_pass_ms) >= tier.decay_ms.load(Ordering::Relaxed) / 2 {
                self.idle_pass_ms = now;
                self.return_idle_blocks(crate::Return::Idle);
            }
        }
    }

    /// Pushes this heap's batched remote frees (`Heap::flush_remote`),
    /// collects the remote frees of the current and partial pages and
    /// returns pages that became empty to the tier (an explicit flush, e.g.
    /// `hak_thread_flush`; also part of [`Heap::maintain`]).
    ///
    /// # Safety
    /// Called by the owning thread.
    pub unsafe fn collect(&mut self) {
        if self.tier.is_null() {
            return;
        }
        // Batched blocks go to their pages first (ours included: their
        // remote lists are collected below).
        self.flush_remote();
        // SAFETY: all pages reached are ours.
        unsafe {
            let tier = &*self.tier;
            for c in 0..MAX_CLASSES {
                let cur = self.cur[c];
                if cur != empty_page() {
                    self.remote_collected += collect_remote(cur) as usize;
                }
                let mut pg = self.partial[c];
                while !pg.is_null() {
                    let next = pg.next();
                    self.remote_collected += collect_remote(pg) as usize;
                    if pg.used() == 0 {
                        self.unlink(pg);
                        tier.release_page(pg);
                    }
                    pg = next;
                }
            }
            self.flush_stats();
            self.check();
        }
    }

    /// [`Heap::collect`], returns every current page that holds no block
    /// (only its phantom count) to the tier, then the interiors of every
    /// free block of the pages it keeps ([`Heap::return_idle_blocks`] with
    /// [`Return::All`](crate::Return::All)): what `malloc_trim` asks
    /// of the calling thread. Not part of the upkeep: the next allocation
    /// of the class would take a page again at once.
    ///
    /// # Safety
    /// Called by the owning thread.
    pub unsafe fn trim(&mut self) {
        if self.tier.is_null() {
            return;
        }
        // SAFETY: all pages reached are ours.
        unsafe {
            self.collect();
            let tier = &*self.tier;
            for c in 0..MAX_CLASSES {
                let cur = self.cur[c];
                // Collected above; a block still out (in some thread's
                // cache, or live) keeps `used` above the phantom count.
                if cur == empty_page() || cur.used() != 1 {
                    continue;
                }
                self.remote_collected += collect_remote(cur) as usize;
                if cur.used() != 1 {
                    continue;
                }
                cur.set_used(0);
                self.cur[c] = empty_page();
                self.uncount_cur(c);
                tier.release_page(cur);
            }
            // The pages kept: their free blocks (the released ones are
            // purged whole by the tier).
            self.return_idle_blocks(crate::Return::All);
            self.flush_stats();
        }
    }
}
