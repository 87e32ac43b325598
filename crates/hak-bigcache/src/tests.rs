//! The validity walker ([`BigCache::check`]): it passes on a cache driven
//! through allocations, reuse, `realloc`, purges and trimming, and (in
//! debug builds, where it runs) catches a cache whose state was broken on
//! purpose through [`corrupt`]. Without debug assertions the walker is a
//! no-op, so the corruption tests only check that it stays quiet.

use hak_os::segmap;

use crate::cache::Cache;
use crate::record::LIVE;
use crate::BigCache;

const MIB: usize = 1 << 20;

/// The test-only hook: runs `f` on the cache's locked contents.
fn corrupt(c: &BigCache, f: impl FnOnce(&mut Cache)) {
    let mut g = c.cache.lock();
    f(&mut g);
}

fn alloc(c: &BigCache, size: usize, zero: bool) -> *mut u8 {
    let p = c.alloc(size, 16, zero);
    assert!(!p.is_null(), "alloc({size}) failed");
    c.check();
    p
}

fn free(c: &BigCache, p: *mut u8) {
    // SAFETY: `p` is a live block of `c`, found through the segment map.
    unsafe { c.free(segmap::lookup(p as usize), p) };
    c.check();
}

/// A cache holding two freed mappings (3.25 and 5.5 MiB: eight sizes per
/// doubling), written to.
fn two_cached() -> BigCache {
    let c = BigCache::new();
    let (a, b) = (alloc(&c, 3 * MIB, false), alloc(&c, 5 * MIB, false));
    // SAFETY: live blocks of at least these sizes.
    unsafe {
        core::ptr::write_bytes(a, 1, 3 * MIB);
        core::ptr::write_bytes(b, 2, 5 * MIB);
    }
    free(&c, a);
    free(&c, b);
    assert_eq!(c.cached(), (2, 35 * MIB / 4));
    c
}

#[test]
fn the_walker_passes_a_working_cache() {
    let c = two_cached();
    // Reuse (zeroed), grow in place or by a move, shrink, free again.
    let p = alloc(&c, 2 * MIB, true);
    // SAFETY: `p` is a live block of `c` that the test owns.
    let q = unsafe { c.realloc(segmap::lookup(p as usize), p, 9 * MIB) };
    assert!(!q.is_null());
    c.check();
    // SAFETY: as above.
    let q = unsafe { c.realloc(segmap::lookup(q as usize), q, 2 * MIB) };
    assert!(!q.is_null());
    c.check();
    free(&c, q);
    // The budget and the growth cut purge, decay with a zero interval too.
    c.set_max_dirty(MIB);
    c.cut_for_growth();
    c.check();
    c.configure(true, 32, 256 * MIB, 0, false);
    c.decay();
    c.check();
    // A cache of one entry evicts on every release.
    c.configure(true, 1, 256 * MIB, 1000, false);
    let r = alloc(&c, 20 * MIB, false);
    free(&c, r);
    assert_eq!(c.cached().0, 1);
    c.trim();
    c.check();
    assert_eq!(c.cached(), (0, 0));
}

#[test]
#[cfg_attr(debug_assertions, should_panic(expected = "cached bytes do not match the entries"))]
fn the_walker_catches_a_wrong_byte_count() {
    let c = two_cached();
    corrupt(&c, |g| g.bytes += 4096);
    c.check();
}

#[test]
#[cfg_attr(debug_assertions, should_panic(expected = "resident budget"))]
fn the_walker_catches_a_wrong_resident_budget_count() {
    let c = two_cached();
    corrupt(&c, |g| g.dirty -= 4096);
    c.check();
}

#[test]
#[cfg_attr(debug_assertions, should_panic(expected = "expected 2"))]
fn the_walker_catches_a_cached_mapping_marked_live() {
    let c = two_cached();
    // SAFETY: a cached record, under the lock.
    corrupt(&c, |g| unsafe { (*g.entries[0]).state.store(LIVE, hak_os::sync::Ordering::Relaxed) });
    c.check();
}

#[test]
#[cfg_attr(debug_assertions, should_panic(expected = "passes its end"))]
fn the_walker_catches_a_dirty_extent_past_the_mapping() {
    let c = two_cached();
    corrupt(&c, |g| {
        let e = g.entries[0];
        // SAFETY: a cached record, under the lock; the totals follow it.
        unsafe {
            let grow = (*e).map_size + 4096 - (*e).dirty;
            (*e).dirty += grow;
            g.dirty += grow;
        }
    });
    c.check();
}

#[test]
#[cfg_attr(debug_assertions, should_panic(expected = "cached twice"))]
fn the_walker_catches_a_mapping_cached_twice() {
    let c = two_cached();
    corrupt(&c, |g| {
        let e = g.entries[0];
        g.entries[1] = e;
        // SAFETY: a cached record, under the lock; the totals follow it.
        unsafe {
            g.bytes = 2 * (*e).map_size;
            g.dirty = 2 * (*e).dirty;
        }
    });
    c.check();
}

/// The capacity knob: lowered at run time, the next release evicts down to
/// it; raised, the cache keeps more again.
#[test]
fn max_entries_bounds_the_cache_from_the_next_release() {
    let c = BigCache::new();
    c.configure(true, 8, 256 * MIB, 60_000, false);
    assert_eq!(c.max_entries(), 8);
    let blocks: [*mut u8; 6] = core::array::from_fn(|_| alloc(&c, 2 * MIB, false));
    for &p in &blocks[..5] {
        free(&c, p);
    }
    assert_eq!(c.cached().0, 5);
    c.set_max_entries(2);
    free(&c, blocks[5]);
    assert_eq!(c.cached().0, 2, "a release past the lowered bound keeps only the bound");
    c.set_max_entries(1000);
    assert_eq!(c.max_entries(), crate::MAX_ENTRIES, "the bound is clamped to MAX_ENTRIES");
    let more: [*mut u8; 4] = core::array::from_fn(|_| alloc(&c, 2 * MIB, false));
    for p in more {
        free(&c, p);
    }
    assert_eq!(c.cached().0, 4);
    c.trim();
}
