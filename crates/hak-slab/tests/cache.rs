//! The per-thread block cache on its own: LIFO reuse, capacities from the
//! byte budget, double-free detection at the head, drain hands every block
//! back exactly once, and an unpinned cache or a free page's slot caches
//! nothing. Blocks are plain 64-byte buffers (the cache only uses a block's
//! first word).

use hak_slab::{slot, Cache, Push, SlabTier, MAX_BIN, NO_SLOT};

static SIZES: [u32; 4] = [16, 64, 256, 1024];
static TIER: SlabTier = SlabTier::new("test", 1, 16, &SIZES);
static OTHER: SlabTier = SlabTier::new("other", 2, 16, &SIZES);

fn blocks(n: usize) -> Vec<[u64; 8]> {
    vec![[0u64; 8]; n]
}

fn ptr(v: &mut [[u64; 8]], i: usize) -> *mut u8 {
    v[i].as_mut_ptr().cast()
}

fn pinned(budget: usize) -> Box<Cache> {
    let mut c = Box::new(Cache::new());
    c.set_caps(&TIER, budget);
    c
}

#[test]
fn the_block_freed_last_comes_back_first() {
    let mut c = pinned(4096);
    let mut v = blocks(3);
    let s = slot(1, 1);
    // SAFETY: the blocks are unused buffers of this test; one thread.
    unsafe {
        for i in 0..3 {
            assert_eq!(c.push(s, ptr(&mut v, i)), Push::Cached);
        }
        assert_eq!(c.cached(), 3);
        for i in (0..3).rev() {
            assert_eq!(c.pop(s), ptr(&mut v, i));
        }
        assert!(c.pop(s).is_null());
        assert_eq!(c.cached(), 0);
    }
}

#[test]
fn capacity_is_the_budget_in_blocks_within_bounds() {
    // 1 KiB budget: 64 blocks of 16 B, 16 of 64 B, 4 of 256 B (MIN_BIN),
    // none of 1 KiB (one block is below MIN_BIN).
    let mut c = pinned(1024);
    let mut v = blocks(100);
    for (class, expect) in [(0usize, 64usize), (1, 16), (2, 4), (3, 0)] {
        let s = slot(1, class);
        let mut n = 0;
        // SAFETY: unused buffers; each is pushed at most once per class.
        unsafe {
            while n < v.len() && c.push(s, ptr(&mut v, n)) == Push::Cached {
                n += 1;
            }
            assert_eq!(n, expect, "class {class}");
            assert_eq!(c.push(s, ptr(&mut v, 99)), Push::Full);
            while !c.pop(s).is_null() {}
        }
    }
    // A huge budget is bounded by MAX_BIN blocks.
    let mut c = pinned(usize::MAX / 2);
    let mut v = blocks(MAX_BIN + 1);
    // SAFETY: as above.
    unsafe {
        for i in 0..MAX_BIN {
            assert_eq!(c.push(slot(1, 0), ptr(&mut v, i)), Push::Cached);
        }
        assert_eq!(c.push(slot(1, 0), ptr(&mut v, MAX_BIN)), Push::Full);
    }
}

#[test]
fn a_second_free_of_the_last_cached_block_is_reported() {
    let mut c = pinned(4096);
    let mut v = blocks(2);
    let s = slot(1, 0);
    // SAFETY: unused buffers; the second push of block 1 is refused.
    unsafe {
        assert_eq!(c.push(s, ptr(&mut v, 0)), Push::Cached);
        assert_eq!(c.push(s, ptr(&mut v, 1)), Push::Cached);
        assert_eq!(c.push(s, ptr(&mut v, 1)), Push::DoubleFree);
        assert_eq!(c.cached(), 2);
        assert_eq!(c.pop(s), ptr(&mut v, 1));
        assert_eq!(c.pop(s), ptr(&mut v, 0));
        assert!(c.pop(s).is_null());
    }
}

#[test]
fn drain_returns_every_block_once_and_restores_room() {
    let mut c = pinned(1024);
    let mut v = blocks(80);
    let mut want = Vec::new();
    // SAFETY: unused buffers, each pushed once.
    unsafe {
        for i in 0..64 {
            assert_eq!(c.push(slot(1, 0), ptr(&mut v, i)), Push::Cached);
            want.push(ptr(&mut v, i) as usize);
        }
        for i in 64..80 {
            assert_eq!(c.push(slot(1, 1), ptr(&mut v, i)), Push::Cached);
            want.push(ptr(&mut v, i) as usize);
        }
        let mut got = Vec::new();
        c.drain(|p| got.push(p as usize));
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(c.cached(), 0);
        assert!(c.pop(slot(1, 0)).is_null() && c.pop(slot(1, 1)).is_null());
        // The full capacity is available again.
        for i in 0..64 {
            assert_eq!(c.push(slot(1, 0), ptr(&mut v, i)), Push::Cached);
        }
    }
}

#[test]
fn unpinned_caches_and_free_pages_cache_nothing() {
    let mut v = blocks(1);
    let mut c = Box::new(Cache::new());
    // SAFETY: an unused buffer, never cached.
    unsafe {
        assert!(c.pop(slot(1, 0)).is_null());
        assert_eq!(c.push(slot(1, 0), ptr(&mut v, 0)), Push::Full);
    }
    let mut c = pinned(1 << 20);
    // SAFETY: as above.
    unsafe {
        assert_eq!(c.push(NO_SLOT, ptr(&mut v, 0)), Push::Full);
        assert!(c.pop(NO_SLOT).is_null());
        // Another tier's classes stay off until that tier gets capacities.
        assert_eq!(c.push(slot(2, 0), ptr(&mut v, 0)), Push::Full);
        c.set_caps(&OTHER, 1 << 20);
        assert_eq!(c.push(slot(2, 0), ptr(&mut v, 0)), Push::Cached);
        assert!(c.pop(slot(1, 0)).is_null(), "slots of two tiers share a bin");
        assert_eq!(c.pop(slot(2, 0)), ptr(&mut v, 0));
    }
}
