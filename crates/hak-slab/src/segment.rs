//! Segments: the [`SegMeta`] record of a 4 MiB slab segment (page
//! descriptors and the free path's page and bin lookups), and reserving,
//! registering and growing segments.
//!
//! A segment is a 4 MiB window of address space
//! ([`hak_os::region::map_window`] places windows where nothing else maps),
//! registered whole in the segment map. A tier's first
//! [`PARTIAL_SEGMENTS`] segments map only what their pages use: a window
//! starts as one page, the tier maps its next page in place when it runs
//! out ([`SlabTier::grow_newest`]), and each page is mapped as far as its
//! blocks were carved, in OS pages ([`crate::page::map_to`]). So a
//! small program holds the address space of what it carved, not 4 MiB per
//! tier (decision 0043). Later segments are whole windows, except where
//! every mapped byte counts (an address-space limit, strict overcommit:
//! [`map::mapping_counted`], decision 0049): there every segment maps only
//! what it carves. Secure mode
//! (guard page at the segment's end) and loom builds map whole segments.

use core::ptr;
use core::sync::atomic as stat;

use hak_os::sync::Ordering;
use hak_os::{map, meta, segmap, SEGMENT_SIZE};

use crate::page::{map_step, Page, PagePtr};
use crate::{cache, SlabTier, MAX_PAGES, NO_SLOT, TAG_SLAB};

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
    /// [`Cache`](crate::Cache): [`bin_offset`](crate::bin_offset) of the page's [`slot`](crate::slot) (tier and
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
    /// The tier's next older segment (its list of segments, see
    /// `SlabTier::usage`); set once, before the record is published.
    pub next: *const SegMeta,
    /// Bytes of the window given to pages, from `base` (a page multiple,
    /// at most a segment): pages beyond it are never handed out. Each such
    /// page is mapped as far as its [`Page`] `mapped` says (whole in a whole
    /// segment). Grows under the tier lock; read without it by statistics.
    pub mapped: stat::AtomicUsize,
    /// Whether the rest of the window may still be mapped (false once
    /// whole, or once something else was found mapped there).
    pub growable: stat::AtomicBool,
    /// Whether the segment is a window whose pages are mapped as far as
    /// they were carved (else every page is mapped whole); set once.
    pub partial: bool,
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
    /// lie in this segment) lies in a [`Cache`](crate::Cache) (see [`Cache::push_at`](crate::Cache::push_at)); that
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
pub(crate) unsafe fn set_slot(pg: PagePtr, page_shift: u32, slot: usize) {
    // SAFETY: per contract.
    unsafe {
        let (rec, g0) = record_of(pg, page_shift);
        for g in g0..g0 + (1 << (page_shift as usize - GRANULE_SHIFT)) {
            (*rec).bins[g].store(cache::bin_offset(slot) as u32, stat::Ordering::Relaxed);
        }
    }
}

/// The bin offset published for page `pg` (of a tier with pages of
/// `1 << page_shift` bytes): that of its first granule.
///
/// # Safety
/// `pg` is a page descriptor inside its segment record.
#[cfg(debug_assertions)]
pub(crate) unsafe fn bin_of_page(pg: PagePtr, page_shift: u32) -> usize {
    // SAFETY: per contract.
    unsafe {
        let (rec, g0) = record_of(pg, page_shift);
        (*rec).bins[g0].load(stat::Ordering::Relaxed) as usize
    }
}

/// Whether page `pg` (of a tier with pages of `1 << page_shift` bytes)
/// lies in a window whose pages are mapped as far as they are carved
/// (then its mapping may be given back whole: [`crate::page::map_to`]
/// maps it again).
///
/// # Safety
/// `pg` is a page descriptor inside its segment record.
pub(crate) unsafe fn in_partial_segment(pg: PagePtr, page_shift: u32) -> bool {
    // SAFETY: per contract; `partial` is set once, before the record is published.
    unsafe { (*record_of(pg, page_shift).0).partial }
}

/// The segment record holding descriptor `pg`, and the index of the page's
/// first granule.
///
/// # Safety
/// `pg` is a page descriptor inside its segment record.
unsafe fn record_of(pg: PagePtr, page_shift: u32) -> (*const SegMeta, usize) {
    // SAFETY: descriptors live in their segment record's `pages` array, at
    // the index of the page in the segment.
    unsafe {
        let off = pg.start() & hak_os::SEGMENT_MASK;
        let i = off >> page_shift;
        let rec = (pg.as_ptr() as usize - i * core::mem::size_of::<Page>() - core::mem::offset_of!(SegMeta, pages))
            as *const SegMeta;
        (rec, off >> GRANULE_SHIFT)
    }
}

/// The segment record for a segment-map entry tagged [`TAG_SLAB`] (a
/// record's address plus the tag: subtracting it, rather than masking
/// it off, folds into the offsets of the loads that follow).
#[inline(always)]
pub fn seg_of_entry(entry: usize) -> *const SegMeta {
    entry.wrapping_sub(TAG_SLAB) as *const SegMeta
}

/// Secure mode's guard at the end of a segment at `base`: its last OS
/// page made inaccessible, so that a linear overflow running off the end
/// of the segment's blocks faults before it reaches whatever is mapped
/// next. Returns whether the guard is in place (then the segment's last
/// slab page, which holds it, is never handed out).
///
/// # Safety
/// `base` is a fresh segment that no one else knows yet.
unsafe fn guard_segment(base: *mut u8) -> bool {
    if !crate::secure::on() {
        return false;
    }
    let ps = map::page_size();
    // SAFETY: the segment's last OS page, per contract unused.
    unsafe { map::protect_none(base.add(SEGMENT_SIZE - ps), ps) }
}

/// Links the descriptors of pages `from..to` of a record (`pages`) through
/// `next`, the last one to null, and returns the first.
///
/// # Safety
/// The pages are the caller's, `from < to <= MAX_PAGES`.
unsafe fn link_pages(pages: *mut Page, from: usize, to: usize) -> PagePtr {
    // SAFETY: per contract.
    unsafe {
        for i in from..to {
            let next = if i + 1 < to { PagePtr::from_raw(pages.add(i + 1)) } else { PagePtr::NULL };
            PagePtr::from_raw(pages.add(i)).set_next(next);
        }
        PagePtr::from_raw(pages.add(from))
    }
}

/// Whether segments start as a one-page head of a window (else whole).
fn partial_segments() -> bool {
    !cfg!(loom) && !crate::secure::on()
}

/// Segments per tier that start as one page of a window and whose pages
/// are mapped as far as they are carved (16 MiB of address space): a page
/// mapped in part is a mapping of its own, and the kernel allows a process
/// about 65,000 (`vm.max_map_count`); and each page given out costs a
/// system call. Later segments are whole windows mapped at once (one
/// mapping each, as before), which bounds the extra mappings to 4 x 64 per
/// tier; where every mapped byte counts ([`map::mapping_counted`]) every
/// segment is partial, and the bound is the kernel's (adjacent mappings of
/// one window merge).
const PARTIAL_SEGMENTS: usize = 4;

impl SlabTier {
    /// The bytes to map of a page given out of a window for a class whose
    /// first carve is `head` bytes: OS pages enough for it while the
    /// tier is small, else the whole page.
    fn page_head(&self, head: usize) -> usize {
        let page = 1usize << self.page_shift;
        if self.grown() {
            return page;
        }
        head.max(map_step()).next_multiple_of(map_step()).min(page)
    }

    /// Whether the tier has its [`PARTIAL_SEGMENTS`] segments: from then
    /// on a new segment is a whole window. Never where every mapped byte
    /// counts ([`map::mapping_counted`]: an address-space limit, strict
    /// overcommit): there every segment maps only what it carves.
    fn grown(&self) -> bool {
        self.stats.segments.load(Ordering::Relaxed) >= PARTIAL_SEGMENTS && !map::mapping_counted()
    }
}

impl SlabTier {
    /// Reserves a new segment and returns its pages, linked through `next`
    /// (all but the last one in secure mode: see [`guard_segment`]): a
    /// window's first page, its first `head` bytes mapped (at least
    /// an OS page), or every page of a whole segment when no window could
    /// be had.
    pub(crate) fn new_segment(&'static self, head: usize) -> PagePtr {
        let page = 1usize << self.page_shift;
        let head = self.page_head(head);
        let mut base = ptr::null_mut();
        let mut mapped = SEGMENT_SIZE;
        if partial_segments() {
            if page < SEGMENT_SIZE && !self.grown() {
                base = hak_os::region::map_window(head);
                mapped = page;
            } else {
                // A tier past its first segments takes whole windows, one
                // mapping each, as before windows grew.
                base = hak_os::region::map_window(SEGMENT_SIZE);
            }
        }
        if base.is_null() {
            mapped = SEGMENT_SIZE;
            base = map::map_aligned(SEGMENT_SIZE, SEGMENT_SIZE);
        }
        if base.is_null() {
            return PagePtr::NULL;
        }
        // What is mapped at `base`: the whole segment, or a window's head.
        let held = if mapped == SEGMENT_SIZE { SEGMENT_SIZE } else { head };
        let rec = meta::alloc(core::mem::size_of::<SegMeta>()) as *mut SegMeta;
        if rec.is_null() {
            // SAFETY: fresh, unpublished mapping.
            unsafe { map::unmap(base, held) };
            return PagePtr::NULL;
        }
        let npages = SEGMENT_SIZE >> self.page_shift;
        let nmapped = mapped >> self.page_shift;
        // SAFETY: a fresh segment.
        // (A tier whose page is the whole segment has no page to spare.)
        let handed = if npages > 1 && unsafe { guard_segment(base) } { npages - 1 } else { nmapped };
        // SAFETY: `rec` is a fresh zeroed record of the right size that no one
        // else knows yet.
        unsafe {
            (*rec).base = base as usize;
            (*rec).page_shift = self.page_shift;
            (*rec).tier_index = self.index;
            (*rec).tier = self;
            (*rec).mapped.store(mapped, stat::Ordering::Relaxed);
            (*rec).growable.store(mapped < SEGMENT_SIZE, stat::Ordering::Relaxed);
            (*rec).partial = mapped < SEGMENT_SIZE;
            let pages = ptr::addr_of_mut!((*rec).pages) as *mut Page;
            for g in 0..MAX_PAGES {
                (*rec).page_ptr[g] = pages.add((g << GRANULE_SHIFT) >> self.page_shift);
            }
            for g in 0..MAX_PAGES {
                (*rec).bins[g].store(cache::bin_offset(NO_SLOT) as u32, stat::Ordering::Relaxed);
            }
            for i in 0..npages {
                let pg = PagePtr::from_raw(pages.add(i));
                pg.init(base as usize + (i << self.page_shift), PagePtr::NULL);
                let m = if mapped == SEGMENT_SIZE {
                    page
                } else if i == 0 {
                    head
                } else {
                    0
                };
                pg.set_mapped(m as u32);
            }
            link_pages(pages, 0, handed);
        }
        if !segmap::set_range(base as usize, SEGMENT_SIZE, rec as usize | TAG_SLAB) {
            // SAFETY: unpublished mapping and record.
            unsafe {
                map::unmap(base, held);
                meta::free(rec.cast(), core::mem::size_of::<SegMeta>());
            }
            return PagePtr::NULL;
        }
        self.stats.segments.fetch_add(1, Ordering::Relaxed);
        // Publish the record on the tier's list (Release: its fields before
        // the pointer; `usage` loads the head with Acquire).
        let mut head = self.segs.load(Ordering::Relaxed);
        loop {
            // SAFETY: the record is ours until the CAS publishes it.
            unsafe { (*rec).next = head };
            match self.segs.compare_exchange_weak(head, rec, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(h) => head = h,
            }
        }
        #[cfg(loom)]
        self.segments.lock().unwrap_or_else(|e| e.into_inner()).push((base as usize, rec as usize));
        // SAFETY: the record is initialised.
        let pages = unsafe { ptr::addr_of_mut!((*rec).pages) as *mut Page };
        PagePtr::from_raw(pages)
    }

    /// Gives the tier's newest segment one more page, its first `head`
    /// bytes mapped in place (at least an OS page; the rest as its blocks
    /// are carved, [`map_to`](crate::page::map_to)). Returns it (a list of
    /// one page), or
    /// null when the segment is whole, its window's next range is taken
    /// (it then stays as it is), or the kernel refused (retried next time).
    /// Serialised by the tier lock (also against `fork`); errno untouched.
    pub(crate) fn grow_newest(&'static self, head: usize) -> PagePtr {
        let _s = self.shared.lock();
        let rec = self.segs.load(Ordering::Acquire);
        if rec.is_null() {
            return PagePtr::NULL;
        }
        // SAFETY: published records live as long as the tier; `mapped` and
        // `growable` change only under the tier lock, which we hold.
        unsafe {
            if !(*rec).growable.load(stat::Ordering::Relaxed) {
                return PagePtr::NULL;
            }
            let page = 1usize << self.page_shift;
            let head = self.page_head(head);
            let mapped = (*rec).mapped.load(stat::Ordering::Relaxed);
            let at = ((*rec).base + mapped) as *mut u8;
            match map::map_exactly(at, head) {
                map::MapAt::Mapped(_) => {}
                map::MapAt::Taken => {
                    (*rec).growable.store(false, stat::Ordering::Relaxed);
                    return PagePtr::NULL;
                }
                map::MapAt::Refused => return PagePtr::NULL,
            }
            let now = mapped + page;
            (*rec).mapped.store(now, stat::Ordering::Relaxed);
            (*rec).growable.store(now < SEGMENT_SIZE, stat::Ordering::Relaxed);
            let pages = ptr::addr_of_mut!((*rec).pages) as *mut Page;
            PagePtr::from_raw(pages.add(mapped >> self.page_shift)).set_mapped(head as u32);
            link_pages(pages, mapped >> self.page_shift, now >> self.page_shift)
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
