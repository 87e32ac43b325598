//! Debug-build validity walker of the big-block cache ([`BigCache::check`],
//! `check_locked` at the cache's mutation points) and of a single mapping
//! record (`check_record`, also run on live blocks as they are handed out
//! or resized). All of it compiles to nothing without debug assertions.

use hak_os::sync::Ordering;
use hak_os::{map, segmap, SEGMENT_SIZE};

use crate::cache::Cache;
use crate::record::{BigBlock, CACHED};
use crate::{BigCache, MAX_ENTRIES, TAG_BIG};

impl BigCache {
    /// Checks the cache's invariants under its lock, in debug builds only
    /// (a no-op without debug assertions): the entries are distinct
    /// records, each CACHED and consistent (see `check_record`: segment
    /// aligned, registered in the segment map for every segment it covers,
    /// block and dirty extent within the mapping); their count is within
    /// [`MAX_ENTRIES`], their mapping sizes and dirty extents add up to the
    /// cache's byte and resident-budget totals, and the tier's
    /// `mapped_bytes` covers the cached bytes. Panics (a debug assertion)
    /// at the first violation.
    pub fn check(&self) {
        if cfg!(debug_assertions) {
            let c = self.cache.lock();
            self.check_locked(&c);
        }
    }

    /// [`BigCache::check`] with the lock held (`c` is its guard's contents).
    #[inline(always)]
    pub(crate) fn check_locked(&self, c: &Cache) {
        if cfg!(debug_assertions) {
            self.walk(c);
        }
    }

    /// The walk of [`BigCache::check`].
    fn walk(&self, c: &Cache) {
        debug_assert!(c.n <= MAX_ENTRIES, "cache holds {} entries, more than {MAX_ENTRIES}", c.n);
        let entries = &c.entries[..c.n];
        let (mut bytes, mut dirty) = (0usize, 0usize);
        for (i, &e) in entries.iter().enumerate() {
            debug_assert!(!e.is_null(), "cache entry {i} is null");
            debug_assert!(!entries[..i].contains(&e), "mapping {e:p} cached twice");
            // SAFETY: cached records are valid while in the cache (we hold its lock).
            unsafe {
                check_record(e, CACHED);
                debug_assert!((*e).seq != 0 && (*e).seq <= c.seq, "cache entry {e:p} has release number {}", (*e).seq);
                bytes += (*e).map_size;
                dirty += (*e).dirty;
            }
        }
        debug_assert_eq!(c.bytes, bytes, "cached bytes do not match the entries");
        debug_assert_eq!(c.dirty, dirty, "cached dirty extents (resident budget) do not match the entries");
        let mapped = self.stats.mapped_bytes.load(Ordering::Relaxed);
        debug_assert!(mapped >= c.bytes, "mapped bytes {mapped} below the cached bytes {}", c.bytes);
    }
}

/// Checks one mapping record in debug builds (nothing without debug
/// assertions): its state is `state`, its mapping is whole segments,
/// segment aligned and registered in the segment map (tagged
/// [`TAG_BIG`]) for every segment it covers, its block (usable size)
/// lies within the mapping past the first byte, and its dirty extent is a
/// page multiple no larger than the mapping.
///
/// # Safety
/// `rec` is a record whose fields no one else writes meanwhile: cached
/// (under the cache lock) or live and owned by the caller.
#[inline(always)]
pub(crate) unsafe fn check_record(rec: *const BigBlock, state: u32) {
    if cfg!(debug_assertions) {
        // SAFETY: forwarded contract.
        unsafe { walk_record(rec, state) }
    }
}

/// The walk of [`check_record`].
///
/// # Safety
/// As [`check_record`].
unsafe fn walk_record(rec: *const BigBlock, state: u32) {
    // SAFETY: per the contract.
    let r = unsafe { &*rec };
    let s = r.state.load(Ordering::Relaxed);
    debug_assert_eq!(s, state, "mapping {rec:p} in state {s}, expected {state}");
    let (base, size) = (r.base, r.map_size);
    debug_assert!(size != 0 && size % map::page_size() == 0, "mapping {rec:p} of {size:#x} bytes is not whole pages");
    debug_assert!(base % SEGMENT_SIZE == 0, "mapping {rec:p} at {base:#x} is not segment aligned");
    let mut seg = base;
    while seg < base + size {
        let entry = segmap::lookup(seg);
        debug_assert_eq!(entry, rec as usize | TAG_BIG, "segment {seg:#x} of mapping {rec:p} is not registered to it");
        seg += SEGMENT_SIZE;
    }
    // A shrunk or moved mapping left no entry behind (0048). (`lookup_any`:
    // the next segment may lie in the band the map leaves unmapped.)
    debug_assert_ne!(
        segmap::lookup_any(seg),
        rec as usize | TAG_BIG,
        "segment {seg:#x} past mapping {rec:p} is still registered to it"
    );
    debug_assert!(r.user >= base && r.size != 0, "mapping {rec:p} has no block in it");
    let end = r.user - base + r.size;
    debug_assert!(end <= size, "block of mapping {rec:p} ends at +{end:#x}, past the mapping ({size:#x})");
    debug_assert!(end % map::page_size() == 0, "block of mapping {rec:p} ends at +{end:#x}, not at a page end");
    debug_assert!(r.dirty <= size, "dirty extent {:#x} of mapping {rec:p} passes its end ({size:#x})", r.dirty);
    debug_assert!(r.dirty % map::page_size() == 0, "dirty extent {:#x} of mapping {rec:p} is not whole pages", r.dirty);
}
