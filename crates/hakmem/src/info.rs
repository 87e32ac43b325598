//! Introspection: [`snapshot`] fills a [`Stats`], plain old data with the
//! layout of C's `struct hak_stats` (`hakmem.h`), from counters kept on slow
//! paths only and from a walk of the tiers' pages.
//!
//! Where each number comes from (docs/decisions/0032):
//! * blocks out of a class's pages: the pages' own `used` counts, less the
//!   current pages' phantom counts and the blocks pending on remote-free
//!   lists ([`hak_slab::SlabTier::usage`]); nothing counts allocations;
//! * blocks returned to pages: counted per thread where a block leaves the
//!   thread cache for its page (cache drains, frees past a full bin), added
//!   to the process's totals at upkeep, flush, thread exit and by the reading
//!   thread itself;
//! * blocks in the calling thread's cache: its bins. Other threads' caches
//!   are not read (their owners write them with plain stores): their blocks
//!   count as live until the owner's next upkeep pass drains them (every
//!   1024 operations, at most every 50 ms);
//! * resident bytes of slab pages: `mincore` over every segment;
//! * big blocks: the big-block tier's counters.
//!
//! So `allocated − freed == live` holds exactly in every snapshot, and `live`
//! is exact for the calling thread's blocks when other threads are quiet.

use core::ptr;
use core::sync::atomic::Ordering;

use hak_slab::{Cache, MAX_CLASSES};

use crate::ctx::{flush_counts, live, RETURNED};
use crate::{tls, Tier, SLAB_TIERS};

/// Version of [`Stats`] (`HAK_STATS_VERSION` in `hakmem.h`); raised when
/// fields are appended.
pub const STATS_VERSION: u32 = 1;
/// Tiers in [`Stats::tiers`]: tiny, L2, L2.5, big (`HAK_STATS_TIERS`).
pub const STATS_TIERS: usize = 4;
/// Classes per slab tier in [`Stats::classes`] (`HAK_STATS_CLASSES`).
pub const STATS_CLASSES: usize = MAX_CLASSES;

/// One size class of a slab tier (C: `struct hak_class_stats`).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct ClassStats {
    /// Block size in bytes (0: no such class).
    pub block_size: u64,
    /// Blocks handed out by the class's pages since the start (a block
    /// reused through a thread cache without going back to its page counts
    /// once): `freed + live`.
    pub allocated: u64,
    /// Blocks returned to their pages since the start, plus the blocks in
    /// the calling thread's cache.
    pub freed: u64,
    /// Blocks the program holds (`allocated − freed`), including those in
    /// other threads' caches until their next upkeep.
    pub live: u64,
    /// Blocks in the calling thread's cache.
    pub cached: u64,
    /// Pages serving the class.
    pub pages: u64,
    /// Blocks freed by other threads and not yet collected by the page owner.
    pub remote_pending: u64,
    /// Resident bytes of the class's pages.
    pub resident_bytes: u64,
}

/// One tier (C: `struct hak_tier_stats`). For the big tier a block is a
/// mapping and a "page" a cached mapping.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct TierStats {
    /// Blocks handed out since the start (see [`ClassStats::allocated`]).
    pub allocated: u64,
    /// Blocks returned since the start (see [`ClassStats::freed`]).
    pub freed: u64,
    /// Live blocks.
    pub live_blocks: u64,
    /// Bytes of the live blocks (block sizes; big blocks: usable sizes).
    pub live_bytes: u64,
    /// Blocks in the calling thread's cache and in the transfer slots (big:
    /// cached mappings).
    pub cached_blocks: u64,
    /// Their bytes (big: the cached mappings' sizes).
    pub cached_bytes: u64,
    /// Resident bytes (slab: `mincore`; big: live bytes plus the cached
    /// mappings' dirty extents, an upper bound).
    pub resident_bytes: u64,
    /// Resident bytes nobody uses that `malloc_trim` returns: free pages
    /// (big: the cached mappings' dirty extents).
    pub free_resident_bytes: u64,
    /// Address space mapped (slab: the mapped parts of segments, a window's
    /// pages as far as they are mapped; big: mappings).
    pub mapped_bytes: u64,
    /// Bytes returned to the OS since the start (purged and trimmed pages;
    /// big: unmapped and purged mappings).
    pub returned_bytes: u64,
    /// Blocks freed by a thread that does not own their page since the
    /// start (collected so far plus pending).
    pub remote_frees: u64,
    /// Pages held by heaps (big: live mappings).
    pub pages: u64,
    /// Free pages (big: cached mappings).
    pub free_pages: u64,
    /// Pages abandoned with live blocks since the start.
    pub pages_abandoned: u64,
    /// Abandoned pages adopted since the start.
    pub pages_adopted: u64,
    /// Segments reserved (4 MiB each; big: mappings made since the start).
    pub segments: u64,
}

/// A snapshot of the whole allocator (C: `struct hak_stats`). Versioned:
/// fields are only ever appended, and `size` says how many bytes of it a
/// C caller got.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Bytes of this struct that were filled (`size_of::<Stats>()` here).
    pub size: u32,
    /// [`STATS_VERSION`].
    pub version: u32,
    /// [`STATS_TIERS`].
    pub ntiers: u32,
    /// [`STATS_CLASSES`].
    pub nclasses: u32,
    /// Tiny, L2, L2.5, big.
    pub tiers: [TierStats; STATS_TIERS],
    /// Per class of the slab tiers (tiny, L2, L2.5).
    pub classes: [[ClassStats; STATS_CLASSES]; SLAB_TIERS],
    /// Sum of the tiers' resident bytes.
    pub resident_bytes: u64,
    /// Sum of the tiers' mapped bytes.
    pub mapped_bytes: u64,
    /// Sum of the tiers' live bytes.
    pub live_bytes: u64,
    /// Sum of the tiers' bytes returned to the OS.
    pub returned_bytes: u64,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            size: core::mem::size_of::<Stats>() as u32,
            version: STATS_VERSION,
            ntiers: STATS_TIERS as u32,
            nclasses: STATS_CLASSES as u32,
            tiers: [TierStats::default(); STATS_TIERS],
            classes: [[ClassStats::default(); STATS_CLASSES]; SLAB_TIERS],
            resident_bytes: 0,
            mapped_bytes: 0,
            live_bytes: 0,
            returned_bytes: 0,
        }
    }
}

fn load(a: &core::sync::atomic::AtomicUsize) -> u64 {
    a.load(Ordering::Relaxed) as u64
}

/// Takes a snapshot of the allocator's state (see the module doc for what
/// each number means and how exact it is). Adds the calling thread's own
/// counts to the process's first; takes no lock a fast path takes; costs a
/// walk of every page descriptor and one `mincore` per 4 MiB segment.
pub fn snapshot() -> Stats {
    let mut st = Stats::default();
    let c = tls::ctx();
    let own = live(c);
    if own {
        // SAFETY: this thread's live context, between two operations.
        unsafe { flush_counts(c) };
    }
    for t in Tier::SLAB {
        let tier = t.slab();
        let u = tier.usage();
        let ts = &mut st.tiers[t as usize];
        for (k, cu) in u.classes.iter().enumerate().take(tier.sizes().len()) {
            let slot = t.slot(k);
            // SAFETY: this thread's own cache (a dormant record's bins are empty).
            // Blocks in transfer chains count as cached too (decision 0052).
            let cached = (if own { unsafe { Cache::len(ptr::addr_of_mut!((*c).cache), slot) } } else { 0 }
                + Cache::transfer_len(slot)) as u64;
            let returned = RETURNED.get(slot).map_or(0, |r| r.load(Ordering::Relaxed));
            let out = cu.out.saturating_sub(cu.remote_pending) as u64;
            let size = tier.class_size(k) as u64;
            let live = out.saturating_sub(cached);
            let cs = ClassStats {
                block_size: size,
                allocated: returned + out,
                freed: returned + cached,
                live,
                cached: cached.min(out),
                pages: cu.pages as u64,
                remote_pending: cu.remote_pending as u64,
                resident_bytes: cu.resident as u64,
            };
            st.classes[t as usize][k] = cs;
            ts.allocated += cs.allocated;
            ts.freed += cs.freed;
            ts.live_blocks += live;
            ts.live_bytes += live * size;
            ts.cached_blocks += cs.cached;
            ts.cached_bytes += cs.cached * size;
            ts.resident_bytes += cs.resident_bytes;
            ts.remote_frees += cs.remote_pending;
            ts.pages += cs.pages;
        }
        let s = &tier.stats;
        ts.resident_bytes += u.free_resident as u64;
        ts.free_resident_bytes = u.free_resident as u64;
        ts.mapped_bytes = u.mapped as u64;
        ts.returned_bytes = load(&s.bytes_decommitted);
        ts.remote_frees += load(&s.remote_collected);
        ts.free_pages = u.free_pages as u64;
        ts.pages_abandoned = load(&s.pages_abandoned);
        ts.pages_adopted = load(&s.pages_adopted);
        ts.segments = u.segments as u64;
    }
    let b = &hak_bigcache::STATS;
    let (cn, cb, cd) = hak_bigcache::cached_dirty();
    let big = &mut st.tiers[Tier::Big as usize];
    big.allocated = load(&b.allocs);
    big.freed = load(&b.frees);
    big.live_blocks = big.allocated.saturating_sub(big.freed);
    big.live_bytes = load(&b.live_bytes);
    big.cached_blocks = cn as u64;
    big.cached_bytes = cb as u64;
    big.resident_bytes = big.live_bytes + cd as u64;
    big.free_resident_bytes = cd as u64;
    big.mapped_bytes = load(&b.mapped_bytes);
    big.returned_bytes = load(&b.returned_bytes);
    big.pages = big.live_blocks;
    big.free_pages = cn as u64;
    big.segments = load(&b.maps);
    for t in &st.tiers {
        st.resident_bytes += t.resident_bytes;
        st.mapped_bytes += t.mapped_bytes;
        st.live_bytes += t.live_bytes;
        st.returned_bytes += t.returned_bytes;
    }
    st
}
