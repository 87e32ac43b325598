//! Loom models of the big-block cache (`cargo xtask loom`). Each execution
//! builds a fresh [`BigCache`] (the shipped type: its lock is the facade's
//! loom-checked `SpinLock`, block states are loom atomics) and checks, after
//! the joins: cache entries are distinct and CACHED, the cached byte and
//! dirty-extent counts match them (within the resident budget), every
//! block the program holds is LIVE and not cached, and `mapped_bytes`
//! counts exactly the held and the cached mappings.

use std::sync::Arc;
use std::vec::Vec;

use loom::thread;

use hak_os::segmap;
use hak_os::sync::Ordering;

use crate::record::{CACHED, LIVE};
use crate::{BigBlock, BigCache, TAG_BIG};

const MIB: usize = 1 << 20;

use hak_os::sync::loom_model as model;

fn record(p: usize) -> *mut BigBlock {
    let e = segmap::lookup(p);
    assert!(e & TAG_BIG != 0, "{p:#x} is not a registered big block");
    (e & !segmap::TAG_MASK) as *mut BigBlock
}

/// A free of `p` through the segment map (as the router does).
fn free(c: &BigCache, p: usize) -> bool {
    // SAFETY: p is a block of `c` (or a double free, which try_free reports).
    unsafe { c.try_free(segmap::lookup(p), p as *mut u8) }
}

fn check(c: &BigCache, held: &[usize]) {
    c.check();
    let g = c.cache.lock();
    let entries = &g.entries[..g.n];
    let (mut bytes, mut dirty) = (0, 0);
    for (i, &e) in entries.iter().enumerate() {
        assert!(!entries[..i].contains(&e), "mapping cached twice");
        // SAFETY: cached records, under the lock.
        unsafe {
            assert_eq!((*e).state.load(Ordering::Relaxed), CACHED, "cached mapping not CACHED");
            assert!((*e).dirty <= (*e).map_size, "dirty extent beyond the mapping");
            bytes += (*e).map_size;
            dirty += (*e).dirty;
        }
    }
    assert_eq!(g.bytes, bytes, "cached bytes do not match the entries");
    assert_eq!(g.dirty, dirty, "cached dirty extents do not match the entries");
    assert!(g.dirty <= c.max_dirty.load(Ordering::Relaxed), "resident budget exceeded");
    let mut live = 0;
    for &p in held {
        let r = record(p);
        assert!(!entries.contains(&r), "a held block is also cached");
        // SAFETY: a live record.
        unsafe {
            assert_eq!((*r).state.load(Ordering::Relaxed), LIVE, "held block not LIVE");
            live += (*r).map_size;
        }
    }
    assert_eq!(c.stats.mapped_bytes.load(Ordering::Relaxed), live + bytes, "mapped bytes do not balance");
}

/// Tears a model's cache down: frees what the program still holds (then
/// the cache's drop unmaps everything cached).
fn teardown(c: Arc<BigCache>, held: &[usize]) {
    for &p in held {
        assert!(free(&c, p));
    }
    drop(c);
}

/// Two threads free the same block at once: the LIVE → CACHED CAS lets
/// exactly one succeed (the other is reported as a double free), and the
/// mapping is cached once.
#[test]
fn big_double_free_race() {
    model("big_double_free_race", || {
        let c = Arc::new(BigCache::new());
        let x = c.alloc(MIB, 16, false) as usize;
        let c1 = c.clone();
        let t = thread::spawn(move || free(&c1, x));
        thread::yield_now();
        let mine = free(&c, x);
        let theirs = t.join().unwrap();
        assert!(mine ^ theirs, "double free: both or neither succeeded ({mine}, {theirs})");
        check(&c, &[]);
        // A 1 MiB block (1 KiB into its mapping) maps 1.125 MiB (0048).
        assert_eq!(c.cached(), (1, 9 * MIB / 8));
        teardown(c, &[]);
    });
}

/// Frees racing allocations served from the cache, with decay 0 (every
/// release purges the resident entries, under the lock) and room for one
/// entry (a second release evicts the first: unregistered and unmapped
/// outside the lock). No mapping is handed out twice or purged while
/// reused; the accounting balances.
#[test]
fn big_free_vs_alloc_from_cache() {
    model("big_free_vs_alloc_from_cache", || {
        let c = Arc::new(BigCache::new());
        c.configure(true, 1, 64 * MIB, 0, false);
        let x = c.alloc(MIB, 16, false) as usize;
        let y = c.alloc(2 * MIB, 16, false) as usize;
        let c1 = c.clone();
        let t = thread::spawn(move || {
            assert!(free(&c1, x));
            c1.alloc(MIB, 16, false) as usize
        });
        thread::yield_now();
        assert!(free(&c, y));
        let mine = c.alloc(3 * MIB, 16, true) as usize;
        let theirs = t.join().unwrap();
        assert_ne!(mine, theirs, "one mapping handed out twice");
        let held: Vec<usize> = [mine, theirs].to_vec();
        check(&c, &held);
        teardown(c, &held);
    });
}

/// A cache with no decay and a resident budget with room for either of two
/// freed blocks but not both, and two live blocks of it, `x` (1 MiB) and
/// `y` (2 MiB), written at their first and last bytes.
fn two_written_blocks() -> (Arc<BigCache>, usize, usize) {
    let c = Arc::new(BigCache::new());
    c.configure(true, 4, 64 * MIB, u64::MAX, false);
    c.set_max_dirty(2 * MIB + 4096);
    let x = c.alloc(MIB, 16, false) as usize;
    let y = c.alloc(2 * MIB, 16, false) as usize;
    // SAFETY: the first and the last byte of each live block.
    unsafe {
        for (p, n) in [(x, MIB), (y, 2 * MIB)] {
            *(p as *mut u8) = 0xAB;
            *((p + n - 1) as *mut u8) = 0xCD;
        }
    }
    (c, x, y)
}

/// Asserts that the live zeroed 2 MiB block `p` reads as zeros where the
/// blocks of [`two_written_blocks`] were written.
fn assert_zeroed(p: usize) {
    // SAFETY: a live zeroed block of 2 MiB.
    unsafe {
        assert_eq!(*(p as *const u8), 0, "zeroed block not zero");
        assert_eq!(*((p + MIB - 1) as *const u8), 0, "zeroed block not zero");
        assert_eq!(*((p + 2 * MIB - 1) as *const u8), 0, "zeroed block not zero");
    }
}

/// Frees racing zeroed allocations from the cache with no decay and a
/// resident budget with room for either freed block but not both (a
/// release with both cached purges the older one, under the lock): a
/// purge never hits a mapping being reused, zeroed blocks read as zeros
/// where the freed blocks were written (cleared in place or purged), and
/// the dirty-extent accounting balances.
#[test]
fn big_budget_purge_vs_zeroed_reuse() {
    model("big_budget_purge_vs_zeroed_reuse", || {
        let (c, x, y) = two_written_blocks();
        let c1 = c.clone();
        let t = thread::spawn(move || {
            assert!(free(&c1, x));
            c1.alloc(2 * MIB, 16, true) as usize
        });
        thread::yield_now();
        assert!(free(&c, y));
        let mine = c.alloc(2 * MIB, 16, true) as usize;
        let theirs = t.join().unwrap();
        assert_ne!(mine, theirs, "one mapping handed out twice");
        assert_zeroed(mine);
        assert_zeroed(theirs);
        let held: Vec<usize> = [mine, theirs].to_vec();
        check(&c, &held);
        teardown(c, &held);
    });
}

/// A growth cut (what runs before the allocator's footprint grows) and a
/// decay pass race a release and a zeroed reuse from the
/// cache. The resident budget leaves room for one freed block; the cut
/// (a quarter of it) purges both. Purges and the reuse's take both happen
/// under the cache lock, so the cut never purges the mapping being
/// cleared, the zeroed block reads as zeros where the freed blocks were
/// written, and the accounting balances.
#[test]
fn big_growth_cut_and_decay_vs_zeroed_reuse() {
    model("big_growth_cut_and_decay_vs_zeroed_reuse", || {
        let (c, x, y) = two_written_blocks();
        assert!(free(&c, x));
        let c1 = c.clone();
        let t = thread::spawn(move || {
            c1.cut_for_growth();
            c1.decay();
        });
        assert!(free(&c, y));
        let mine = c.alloc(2 * MIB, 16, true) as usize;
        t.join().unwrap();
        assert_zeroed(mine);
        let held: Vec<usize> = [mine].to_vec();
        check(&c, &held);
        teardown(c, &held);
    });
}
