//! A tier's statistics: the slow-path counters ([`TierStats`]), a heap's
//! accumulator of remote frees collected, and the snapshot of a tier's pages
//! ([`SlabTier::usage`]) that introspection derives its numbers from.
//!
//! Nothing here is touched on a fast path. Page-granularity events (pages
//! acquired, released, abandoned, adopted, made current) are relaxed
//! read-modify-writes on the tier; blocks collected from remote-free lists
//! (once per refill, so often) are added up in the collecting heap and
//! moved to the tier at its upkeep, flush and exit (`Heap::flush_stats`).
//! Live blocks are not counted at all: [`SlabTier::usage`] derives them from
//! the pages' own `used` counts.

use core::sync::atomic as stat;

use hak_os::map;
use hak_os::sync::Ordering;

use crate::page::{remote_count, PagePtr};
use crate::segment::SegMeta;
use crate::{bin_offset, SlabTier, MAX_CLASSES, NO_SLOT};

/// Counters of a tier (relaxed; slow paths only).
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
    /// Blocks collected from remote-free lists (a heap's part is added at its
    /// upkeep, flush or exit).
    pub remote_collected: stat::AtomicUsize,
    /// Pages that returned memory on a class change, beyond what the new
    /// class keeps (`SlabTier::trim_for_class`).
    pub pages_trimmed: stat::AtomicUsize,
    /// Bytes returned to the OS (`madvise`) by purges and trims, and by
    /// the idle-block return (`Heap::return_idle_blocks`, decision 0047).
    pub bytes_decommitted: stat::AtomicUsize,
    /// Per class, the pages that are some heap's current page: each carries
    /// one phantom count in its `used` (see `Heap::make_cur`).
    pub current: [stat::AtomicUsize; MAX_CLASSES],
}

impl TierStats {
    /// All zero.
    #[allow(clippy::declare_interior_mutable_const)]
    pub const fn new() -> TierStats {
        const Z: stat::AtomicUsize = stat::AtomicUsize::new(0);
        TierStats {
            segments: Z,
            pages_acquired: Z,
            pages_released: Z,
            pages_decommitted: Z,
            pages_abandoned: Z,
            pages_adopted: Z,
            remote_collected: Z,
            pages_trimmed: Z,
            bytes_decommitted: Z,
            current: [Z; MAX_CLASSES],
        }
    }
}

impl Default for TierStats {
    fn default() -> TierStats {
        TierStats::new()
    }
}

/// Adds `n` to a counter of [`TierStats`] (relaxed).
#[inline]
pub(crate) fn count(counter: &stat::AtomicUsize, n: usize) {
    if n != 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// One class of a tier, as [`SlabTier::usage`] found it.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct ClassUsage {
    /// Pages serving the class.
    pub pages: usize,
    /// Blocks out of those pages: handed out and not returned to the page
    /// (live blocks, blocks in thread caches, blocks on remote-free lists),
    /// without the current pages' phantom counts.
    pub out: usize,
    /// Blocks freed by other threads onto the pages' remote-free lists and
    /// not yet collected (part of `out`).
    pub remote_pending: usize,
    /// Resident bytes of the pages (`mincore`).
    pub resident: usize,
}

/// A snapshot of a tier's pages (see [`SlabTier::usage`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierUsage {
    /// Per class.
    pub classes: [ClassUsage; MAX_CLASSES],
    /// Segments reserved.
    pub segments: usize,
    /// Free pages (on the tier's lists).
    pub free_pages: usize,
    /// Resident bytes of the free pages: what a purge would return.
    pub free_resident: usize,
    /// Address space mapped for the tier's pages: a whole segment's 4 MiB,
    /// a window's pages as far as they are mapped (decision 0043).
    pub mapped: usize,
}

impl Default for TierUsage {
    fn default() -> TierUsage {
        TierUsage {
            classes: [ClassUsage::default(); MAX_CLASSES],
            segments: 0,
            free_pages: 0,
            free_resident: 0,
            mapped: 0,
        }
    }
}

/// OS pages looked at per `mincore` call.
const PROBE: usize = 1024;

impl SlabTier {
    /// Walks every page of the tier: per class the pages, the blocks out of
    /// them and those pending on remote-free lists, and the resident bytes
    /// (by `mincore`, which touches no page). Reads only what other threads
    /// publish atomically (a page's slot, `used`, remote-list word), so it is
    /// exact when no other thread allocates or frees meanwhile and a close
    /// estimate otherwise. Costs one `mincore` per 4 MiB segment; takes no
    /// lock and never runs on an allocation path.
    pub fn usage(&self) -> TierUsage {
        let mut u = TierUsage::default();
        let mut seg = self.segs.load(Ordering::Acquire) as *const SegMeta;
        let ps = map::page_size();
        let pages_per_seg = hak_os::SEGMENT_SIZE >> self.page_shift;
        let os_per_page = (1usize << self.page_shift) / ps;
        let mut vec = [0u8; PROBE];
        while !seg.is_null() {
            u.segments += 1;
            // SAFETY: published segment records are never freed (outside
            // loom models) and their `base`, `next` and descriptors'
            // addresses never change; the fields read below are atomics.
            unsafe {
                let base = (*seg).base;
                // Only the mapped head of the window has pages (and can be
                // probed: `mincore` fails on unmapped ranges).
                let mapped = (*seg).mapped.load(stat::Ordering::Relaxed).min(hak_os::SEGMENT_SIZE);
                let mut resident_known = false;
                if !(*seg).partial {
                    u.mapped += hak_os::SEGMENT_SIZE;
                }
                for i in 0..pages_per_seg.min(mapped >> self.page_shift) {
                    let first_os = i * os_per_page;
                    // Refill the residency vector when this page starts a new window.
                    if !(*seg).partial && (first_os.is_multiple_of(PROBE) || !resident_known) {
                        let start = first_os - first_os % PROBE;
                        let len = (PROBE * ps).min(mapped - start * ps);
                        resident_known = map::residency((base + start * ps) as *const u8, len, &mut vec);
                    }
                    let mut resident = 0;
                    // A window's page is mapped only as far as it was
                    // carved: probe just that (holes make `mincore` fail).
                    let pg = PagePtr::from_raw((core::ptr::addr_of!((*seg).pages) as *mut crate::Page).add(i));
                    if (*seg).partial {
                        let m = pg.mapped() as usize;
                        u.mapped += m;
                        if m != 0 && map::residency((base + (i << self.page_shift)) as *const u8, m, &mut vec) {
                            resident += vec.iter().take(m / ps).filter(|&&b| b & 1 != 0).count() * ps;
                        }
                        resident_known = false;
                    } else if resident_known {
                        for k in 0..os_per_page {
                            if vec.get((first_os + k) % PROBE).is_some_and(|b| b & 1 != 0) {
                                resident += ps;
                            }
                        }
                    }
                    let g = (i << self.page_shift) >> crate::GRANULE_SHIFT;
                    let off =
                        (*seg).bins.get(g).map_or(bin_offset(NO_SLOT), |b| b.load(stat::Ordering::Relaxed) as usize);
                    let slot = off / bin_offset(1);
                    if slot >= NO_SLOT || slot / MAX_CLASSES != self.index as usize {
                        u.free_pages += 1;
                        u.free_resident += resident;
                        continue;
                    }
                    let Some(c) = u.classes.get_mut(slot % MAX_CLASSES) else { continue };
                    c.pages += 1;
                    c.out += pg.used() as usize;
                    c.remote_pending += remote_count(pg.remote(Ordering::Relaxed)) as usize;
                    c.resident += resident;
                }
                seg = (*seg).next;
            }
        }
        for (c, cur) in u.classes.iter_mut().zip(self.stats.current.iter()) {
            c.out = c.out.saturating_sub(cur.load(Ordering::Relaxed));
        }
        u
    }
}
