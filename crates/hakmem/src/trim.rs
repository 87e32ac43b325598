//! Giving memory back on request ([`trim`], C's `malloc_trim`) and the knob
//! glibc's `M_TRIM_THRESHOLD` maps to ([`set_trim_threshold`]).

use core::sync::atomic::Ordering;

use crate::ctx::{drain_cache, flush_counts, live, GLOBAL};
use crate::{tls, TIERS};

/// Bytes the tiers have returned to the OS so far.
fn returned() -> usize {
    TIERS.iter().map(|t| t.stats.bytes_decommitted.load(Ordering::Relaxed)).sum::<usize>()
        + hak_bigcache::STATS.returned_bytes.load(Ordering::Relaxed)
}

/// Returns to the OS all the free memory hakmem can reach from the calling
/// thread, now: the thread's cached blocks go back to their pages, its
/// empty pages (its current ones included) and those of the global heaps
/// go back to their tiers, every tier's empty pages are decommitted
/// whatever the decay interval and the kept pages, and the big-block
/// cache's mappings are unmapped. Other threads' caches and current pages
/// are theirs: they return them at their next upkeep pass. Returns whether
/// any memory was returned to the OS.
pub fn trim() -> bool {
    let before = returned();
    let c = tls::ctx();
    if live(c) {
        // SAFETY: this thread's live context, between two operations.
        unsafe {
            drain_cache(c);
            for h in (*c).heaps.iter_mut() {
                h.trim();
            }
            flush_counts(c);
        }
    }
    {
        let mut g = GLOBAL.lock();
        for h in g.0.iter_mut() {
            if h.is_init() {
                // SAFETY: the global heaps are used under their lock only.
                unsafe { h.trim() };
            }
        }
    }
    for t in TIERS {
        t.purge_all();
    }
    hak_bigcache::trim();
    returned() != before
}

/// Sets how much free memory stays committed for reuse before it is
/// returned to the OS: each slab tier keeps that many bytes of empty pages
/// beyond the decay interval (`HAKMEM_FREE_PAGES_KEEP` counts the same in
/// 64 KiB pages), and the big-block cache keeps at most that many bytes of
/// its cached mappings resident. What glibc's `M_TRIM_THRESHOLD` maps to.
pub fn set_trim_threshold(bytes: usize) {
    for t in TIERS {
        t.set_keep_free_pages(bytes / t.page_size());
    }
    hak_bigcache::set_max_dirty(bytes);
}
