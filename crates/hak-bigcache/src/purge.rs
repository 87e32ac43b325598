//! Decay, purge and the resident budget: cached mappings not reused within
//! the decay interval have their pages returned (`purge_decayed`, on every
//! release and from the upkeep's [`BigCache::decay`]), and the dirty
//! extents of the cached mappings are held to [`MAX_DIRTY`]
//! (`enforce_budget`), a quarter of it before the footprint grows
//! ([`BigCache::cut_for_growth`]). A purge keeps the mapping cached.

use core::ptr;

use hak_os::map;
use hak_os::sync::Ordering;

use crate::cache::Cache;
use crate::record::{BigBlock, CACHED};
use crate::BigCache;

/// Default resident budget of the cache (see [`BigCache::set_max_dirty`]),
/// half the default byte cap; a quarter of it (32 MiB) whenever the
/// allocator's footprint grows (see [`BigCache::cut_for_growth`]). Extents
/// overcount what is resident: a program that reads a calloc'ed block
/// maps the kernel's zero page, which costs no memory, and `calloc-large`
/// (1-64 MiB blocks read in full, written one page in eight) holds about
/// 90 MiB of extents in three mappings for about 20 MiB of resident pages.
/// A 32 MiB budget purged its mappings on most releases, which made it
/// several times slower than with them kept (docs/decisions/0025). The budget bounds what a
/// program keeps resident of its freed big blocks while it neither frees
/// nor allocates any more (the decay purges need one or the other); the
/// upkeep's [`decay`](crate::decay) returns the rest within about the decay
/// interval of light activity.
pub const MAX_DIRTY: usize = 128 << 20;

impl BigCache {
    /// Purges the cached mappings cached at least `decay` ms before `now`.
    pub(crate) fn purge_decayed(&self, c: &mut Cache, now: u64, decay: u64) {
        for i in 0..c.n {
            let e = c.entries[i];
            // SAFETY: cached record, under lock.
            if unsafe { now.saturating_sub((*e).cached_at_ms) } >= decay {
                self.purge(c, e);
            }
        }
    }

    /// Purges the least recently cached dirty mappings until the dirty
    /// extents fit `budget` (a mapping whose `madvise` the kernel refuses
    /// stays dirty and is passed over).
    pub(crate) fn enforce_budget(&self, c: &mut Cache, budget: usize) {
        let mut after = 0u64;
        while c.dirty > budget {
            let mut oldest = ptr::null_mut::<BigBlock>();
            for &e in &c.entries[..c.n] {
                // SAFETY: cached records, under lock.
                unsafe {
                    if (*e).dirty != 0 && (*e).seq > after && (oldest.is_null() || (*e).seq < (*oldest).seq) {
                        oldest = e;
                    }
                }
            }
            if oldest.is_null() {
                break;
            }
            // SAFETY: a cached record, under lock.
            after = unsafe { (*oldest).seq };
            self.purge(c, oldest);
        }
    }

    /// Cuts the cached mappings' dirty extents to a quarter of the
    /// resident budget, least recently cached first. Called before the
    /// allocator's footprint grows (a fresh or growing big mapping here; a
    /// slab tier's new or purged page through the router's growth hook, see
    /// [`hak_os::map::set_growth_hook`]): the full budget is for a program
    /// whose footprint holds still and reuses what it freed; one whose
    /// footprint grows should not keep that much freed memory resident
    /// besides (freeing a 100 MiB block and then allocating 100 MiB of small
    /// blocks would otherwise peak at twice the program's size).
    pub fn cut_for_growth(&self) {
        let budget = self.max_dirty.load(Ordering::Relaxed) / 4;
        let mut c = self.cache.lock();
        if c.dirty > budget {
            self.enforce_budget(&mut c, budget);
            self.check_locked(&c);
        }
    }

    /// Purges the cached mappings older than the decay interval. The
    /// purges otherwise happen when a block is released; the router calls
    /// this from its periodic upkeep so that a program that stops
    /// releasing big blocks still gets their pages back within about the
    /// decay interval. Costs one relaxed load when the tier maps nothing.
    pub fn decay(&self) {
        if self.stats.mapped_bytes.load(Ordering::Relaxed) == 0 {
            return;
        }
        let now = hak_os::now_ms();
        let decay = self.decay_ms.load(Ordering::Relaxed);
        let mut c = self.cache.lock();
        self.purge_decayed(&mut c, now, decay);
        self.check_locked(&c);
    }

    /// Returns the dirty pages of cached mapping `e` to the OS (no-op when
    /// it has none). Called with the cache lock held (`c` is its guard's
    /// contents), so `e` cannot be reused meanwhile.
    fn purge(&self, c: &mut Cache, e: *mut BigBlock) {
        // SAFETY: `e` is a cached record (under the lock) whose block is not
        // live: nobody reads or writes its pages.
        unsafe {
            debug_assert_eq!((*e).state.load(Ordering::Relaxed), CACHED, "purging a mapping that is not CACHED");
            let d = (*e).dirty;
            if d == 0 || !map::decommit((*e).base as *mut u8, d) {
                // Nothing to purge, or the kernel refused (locked memory):
                // the extent stays as it is, so a zeroed reuse clears it.
                return;
            }
            (*e).dirty = 0;
            c.dirty -= d;
            self.stats.returned_bytes.fetch_add(d, Ordering::Relaxed);
        }
        self.stats.purges.fetch_add(1, Ordering::Relaxed);
    }
}
