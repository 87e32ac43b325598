//! The per-thread block cache on its own: LIFO reuse, capacities from the
//! byte budget, double-free detection anywhere in a bin, drain hands every
//! block back exactly once, and an unpinned cache or a free page's slot
//! caches nothing; pointers that start no block are refused. Blocks are
//! slots of a zeroed buffer (the cache uses a block's first two words).

use hak_slab::{
    slot, Cache, Heap, Push, SlabTier, LARGE_BLOCK, MAX_BIN, MAX_CACHED, MAX_CLASSES, MIN_BIN, MIN_BIN_LARGE, NO_SLOT,
};

static SIZES: [u32; 4] = [16, 64, 256, 1024];
static TIER: SlabTier = SlabTier::new("test", 1, 16, &SIZES);
static OTHER: SlabTier = SlabTier::new("other", 2, 16, &SIZES);
static BIG_SIZES: [u32; 2] = [MAX_CACHED as u32, 2 * MAX_CACHED as u32];
static BIG: SlabTier = SlabTier::new("big", 3, 20, &BIG_SIZES);

/// `n` zeroed blocks `stride` bytes apart from a 1 MiB boundary (the
/// largest page of the test tiers), so that each starts a block of every
/// class whose size divides `stride`, as the cache's block-start test
/// requires (leaked: tests are short).
struct Blocks {
    base: *mut u8,
    stride: usize,
    n: usize,
}

fn blocks_of(n: usize, stride: usize) -> Blocks {
    let layout = std::alloc::Layout::from_size_align(n * stride, 1 << 20).unwrap();
    // SAFETY: a layout of non-zero size.
    let base = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!base.is_null());
    Blocks { base, stride, n }
}

/// Blocks of `TIER`'s and `OTHER`'s classes (1 KiB divides by each size).
fn blocks(n: usize) -> Blocks {
    blocks_of(n, 1024)
}

fn ptr(v: &mut Blocks, i: usize) -> *mut u8 {
    assert!(i < v.n);
    v.base.wrapping_add(i * v.stride)
}

/// A heap-allocated cache, used through raw pointers as the API requires
/// (leaked: tests are short).
fn fresh() -> *mut Cache {
    Box::into_raw(Box::new(Cache::new()))
}

fn pinned(budget: usize) -> *mut Cache {
    let c = fresh();
    // SAFETY: a valid cache of this thread.
    unsafe { Cache::set_caps(c, &TIER, budget) };
    c
}

#[test]
fn the_block_freed_last_comes_back_first() {
    let c = pinned(4096);
    let mut v = blocks(3);
    let s = slot(1, 1);
    // SAFETY: the blocks are unused buffers of this test; one thread.
    unsafe {
        for i in 0..3 {
            assert_eq!(Cache::push(c, s, ptr(&mut v, i)), Push::Cached);
        }
        assert_eq!(Cache::cached(c), 3);
        for i in (0..3).rev() {
            assert_eq!(Cache::pop(c, s), ptr(&mut v, i));
        }
        assert!(Cache::pop(c, s).is_null());
        assert_eq!(Cache::cached(c), 0);
    }
}

/// How many blocks the bin of `s` takes before it reports `Full` (emptied
/// again afterwards).
fn fill(c: *mut Cache, s: usize, v: &mut Blocks) -> usize {
    let mut n = 0;
    // SAFETY: unused buffers of the caller; each is pushed at most once.
    unsafe {
        while n + 1 < v.n && Cache::push(c, s, ptr(v, n)) == Push::Cached {
            n += 1;
        }
        while !Cache::pop(c, s).is_null() {}
    }
    n
}

#[test]
fn capacity_is_the_budget_in_blocks_within_bounds() {
    assert_eq!(MIN_BIN, 16);
    let mut v = blocks(MAX_BIN + 2);
    // 2 KiB budget: 128 blocks of 16 B, 32 of 64 B; 256 B and 1 KiB blocks
    // get the floor of MIN_BIN blocks.
    let c = pinned(2048);
    for (class, expect) in [(0usize, 128usize), (1, 32), (2, MIN_BIN), (3, MIN_BIN)] {
        assert_eq!(fill(c, slot(1, class), &mut v), expect, "class {class}");
    }
    // A huge budget is bounded by MAX_BIN blocks.
    let c = pinned(usize::MAX / 2);
    assert_eq!(fill(c, slot(1, 0), &mut v), MAX_BIN);
    // A budget of 0 caches nothing.
    let c = pinned(0);
    for class in 0..SIZES.len() {
        assert_eq!(fill(c, slot(1, class), &mut v), 0, "class {class}");
    }
    // Blocks up to MAX_CACHED bytes are cached, bigger ones never.
    let mut v = blocks_of(MAX_BIN + 2, 2 * MAX_CACHED);
    let c = fresh();
    // SAFETY: a valid cache of this thread; BIG's index is below MAX_TIERS.
    unsafe { Cache::set_caps(c, &BIG, usize::MAX / 2) };
    assert_eq!(fill(c, slot(3, 0), &mut v), MAX_BIN);
    assert_eq!(fill(c, slot(3, 1), &mut v), 0);
}

static MID_SIZES: [u32; 2] = [LARGE_BLOCK as u32, LARGE_BLOCK as u32 + 8192];
static MID: SlabTier = SlabTier::new("mid", 2, 20, &MID_SIZES);

#[test]
fn bins_of_blocks_above_32_kib_keep_a_floor_of_four() {
    // A 64 KiB budget is two blocks of 32 KiB (floor: MIN_BIN) and one of
    // 40 KiB (floor: MIN_BIN_LARGE): a phase that moved on to other sizes
    // leaves at most 4 such blocks, and the pages they pin, in the bin.
    assert_eq!(MIN_BIN_LARGE, 4);
    // 1 MiB apart (MID's page size): every block is the first of its
    // page, so it starts a block of both classes under the default test
    // (32 KiB and 8 KiB alignment) and `strict-free`'s exact one.
    let mut v = blocks_of(MIN_BIN + 2, 1 << 20);
    let c = fresh();
    // SAFETY: a valid cache of this thread; MID's index is below MAX_TIERS.
    unsafe { Cache::set_caps(c, &MID, 64 << 10) };
    assert_eq!(fill(c, slot(2, 0), &mut v), MIN_BIN);
    assert_eq!(fill(c, slot(2, 1), &mut v), MIN_BIN_LARGE);
    // A budget of 160 KiB: 4 blocks of 40 KiB, 5 of 32 KiB (floor 16).
    let c = fresh();
    // SAFETY: as above.
    unsafe { Cache::set_caps(c, &MID, 160 << 10) };
    assert_eq!(fill(c, slot(2, 0), &mut v), MIN_BIN);
    assert_eq!(fill(c, slot(2, 1), &mut v), MIN_BIN_LARGE);
    // A budget of 400 KiB: 10 blocks of 40 KiB, above the floor.
    let c = fresh();
    // SAFETY: as above.
    unsafe { Cache::set_caps(c, &MID, 400 << 10) };
    assert_eq!(fill(c, slot(2, 1), &mut v), 10);
}

#[test]
fn a_second_free_of_the_bins_last_block_is_reported_even_in_a_full_bin() {
    let c = pinned(0x100); // 16 blocks of 16 B (= MIN_BIN)
    let mut v = blocks(MIN_BIN);
    let s = slot(1, 0);
    let last = MIN_BIN - 1;
    // SAFETY: unused buffers; the second pushes are refused.
    unsafe {
        for i in 0..last {
            assert_eq!(Cache::push(c, s, ptr(&mut v, i)), Push::Cached);
            assert_eq!(Cache::push(c, s, ptr(&mut v, i)), Push::DoubleFree, "block {i}");
        }
        // The last free fills the bin: its repetition is still reported.
        assert_eq!(Cache::push(c, s, ptr(&mut v, last)), Push::Cached);
        assert_eq!(Cache::push(c, s, ptr(&mut v, last)), Push::DoubleFree);
        assert_eq!(Cache::cached(c), MIN_BIN);
        // A block that left the cache can be freed again.
        let b = Cache::pop(c, s);
        assert_eq!(b, ptr(&mut v, last));
        assert_eq!(Cache::push(c, s, b), Push::Cached);
    }
}

#[test]
#[cfg(feature = "strict-free")]
fn a_second_free_of_any_block_of_the_bin_is_reported() {
    let c = pinned(0x100); // 16 blocks of 16 B (= MIN_BIN)
    let mut v = blocks(MIN_BIN + 1);
    let s = slot(1, 0);
    // SAFETY: unused buffers; the second pushes are refused.
    unsafe {
        for i in 0..MIN_BIN {
            assert_eq!(Cache::push(c, s, ptr(&mut v, i)), Push::Cached);
        }
        // Every block, deepest (freed first) included, in a full bin.
        for i in 0..MIN_BIN {
            assert_eq!(Cache::push(c, s, ptr(&mut v, i)), Push::DoubleFree, "block {i}");
        }
        assert_eq!(Cache::cached(c), MIN_BIN);
        // Blocks that left the bin (pop, drain) can be freed again, even
        // if the program never wrote them.
        let b = Cache::pop(c, s);
        assert_eq!(Cache::push(c, s, b), Push::Cached);
        Cache::drain(c, |_| {});
        for i in 0..MIN_BIN {
            assert_eq!(Cache::push(c, s, ptr(&mut v, i)), Push::Cached, "block {i} after the drain");
        }
        // The program's data equal to the key (a copy of a cached block's
        // second word) costs a scan, not a false report.
        let key = *ptr(&mut v, 0).cast::<usize>().add(1);
        *ptr(&mut v, MIN_BIN).cast::<usize>().add(1) = key;
        assert_eq!(Cache::push(c, s, ptr(&mut v, MIN_BIN)), Push::Full);
        Cache::drain(c, |_| {});
        assert_eq!(Cache::push(c, s, ptr(&mut v, MIN_BIN)), Push::Cached);
    }
}

#[test]
#[cfg(feature = "strict-free")]
fn pointers_that_start_no_block_are_refused_in_every_class() {
    // 2 KiB budget: classes 16 and 64 B cache, and so do the others.
    let c = pinned(2048);
    let mut v = blocks(4);
    // SAFETY: unused buffers; a refused push writes nothing.
    unsafe {
        for (class, size) in SIZES.iter().enumerate() {
            let s = slot(1, class);
            let b = ptr(&mut v, 1);
            for off in [1, 8, *size as usize / 2, *size as usize - 1] {
                assert_eq!(Cache::push(c, s, b.add(off)), Push::Invalid, "size {size} + {off}");
            }
            assert_eq!(Cache::cached(c), 0);
            // The next block of the class is a block start.
            assert_eq!(Cache::push(c, s, b.add(*size as usize)), Push::Cached, "size {size}");
            assert_eq!(Cache::pop(c, s), b.add(*size as usize));
        }
        // Classes over MAX_CACHED are tested too, though never cached.
        let c = fresh();
        Cache::set_caps(c, &BIG, usize::MAX / 2);
        let mut w = blocks_of(2, 2 * MAX_CACHED);
        assert_eq!(Cache::push(c, slot(3, 1), ptr(&mut w, 1).add(16)), Push::Invalid);
        assert_eq!(Cache::push(c, slot(3, 1), ptr(&mut w, 1)), Push::Full);
        // A cache no tier pinned, and a free page's slot, test nothing.
        assert_eq!(Cache::push(fresh(), slot(1, 0), ptr(&mut v, 0).add(1)), Push::Full);
        assert_eq!(Cache::push(c, NO_SLOT, ptr(&mut v, 0).add(1)), Push::Full);
        // Nor in a cache made from zeroed memory (as the router's are).
        let z = std::alloc::alloc_zeroed(std::alloc::Layout::new::<Cache>()) as *mut Cache;
        Cache::set_caps(z, &TIER, 2048);
        assert_eq!(Cache::push(z, NO_SLOT, ptr(&mut v, 0).add(1)), Push::Full);
        assert_eq!(Cache::push(z, slot(1, 0), ptr(&mut v, 0).add(1)), Push::Invalid);
    }
}

#[test]
fn drain_aborts_on_a_cycle_instead_of_looping() {
    // A bin can never hold more than MAX_BIN blocks: a longer chain is
    // reported (checked in a child process, as the report aborts).
    if std::env::var_os("HAK_CACHE_CYCLE_CHILD").is_some() {
        let c = pinned(4096);
        let mut v = blocks(2);
        // SAFETY: deliberately corrupt: block 0 links to block 1 and back.
        unsafe {
            assert_eq!(Cache::push(c, slot(1, 1), ptr(&mut v, 0)), Push::Cached);
            assert_eq!(Cache::push(c, slot(1, 1), ptr(&mut v, 1)), Push::Cached);
            *ptr(&mut v, 0).cast::<*mut u8>() = ptr(&mut v, 1);
            Cache::drain(c, |_| {});
        }
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--exact", "drain_aborts_on_a_cycle_instead_of_looping", "--nocapture"])
        .env("HAK_CACHE_CYCLE_CHILD", "1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "a cyclic bin was drained without a report");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("thread cache corrupted"), "stderr: {err}");
}

#[test]
fn drain_returns_every_block_once_and_restores_room() {
    let c = pinned(1024);
    let mut v = blocks(80);
    let mut want = Vec::new();
    // SAFETY: unused buffers, each pushed once.
    unsafe {
        for i in 0..64 {
            assert_eq!(Cache::push(c, slot(1, 0), ptr(&mut v, i)), Push::Cached);
            want.push(ptr(&mut v, i) as usize);
        }
        for i in 64..80 {
            assert_eq!(Cache::push(c, slot(1, 1), ptr(&mut v, i)), Push::Cached);
            want.push(ptr(&mut v, i) as usize);
        }
        let mut got = Vec::new();
        Cache::drain(c, |p| got.push(p as usize));
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(Cache::cached(c), 0);
        assert!(Cache::pop(c, slot(1, 0)).is_null() && Cache::pop(c, slot(1, 1)).is_null());
        // The full capacity is available again.
        for i in 0..64 {
            assert_eq!(Cache::push(c, slot(1, 0), ptr(&mut v, i)), Push::Cached);
        }
    }
}

#[test]
fn unpinned_caches_and_free_pages_cache_nothing() {
    let mut v = blocks(1);
    let c = fresh();
    // SAFETY: an unused buffer, never cached.
    unsafe {
        assert!(Cache::pop(c, slot(1, 0)).is_null());
        assert_eq!(Cache::push(c, slot(1, 0), ptr(&mut v, 0)), Push::Full);
    }
    let c = pinned(1 << 20);
    // SAFETY: as above.
    unsafe {
        assert_eq!(Cache::push(c, NO_SLOT, ptr(&mut v, 0)), Push::Full);
        assert!(Cache::pop(c, NO_SLOT).is_null());
        // Another tier's classes stay off until that tier gets capacities.
        assert_eq!(Cache::push(c, slot(2, 0), ptr(&mut v, 0)), Push::Full);
        Cache::set_caps(c, &OTHER, 1 << 20);
        assert_eq!(Cache::push(c, slot(2, 0), ptr(&mut v, 0)), Push::Cached);
        assert!(Cache::pop(c, slot(1, 0)).is_null(), "slots of two tiers share a bin");
        assert_eq!(Cache::pop(c, slot(2, 0)), ptr(&mut v, 0));
    }
}

/// A cache and a heap that are never written can stand in for a thread
/// that has neither (the router's dormant records): kept in statics with no
/// interior mutability, so in read-only memory, where a write would fault.
struct Dormant(Cache, Heap);
// SAFETY: never written (the test checks that no operation writes it).
unsafe impl Sync for Dormant {}
static DORMANT: Dormant = Dormant(Cache::new(), Heap::uninit());

#[test]
fn a_never_written_cache_and_heap_find_nothing_and_write_nothing() {
    let mut v = blocks(1);
    let c = &DORMANT.0 as *const Cache as *mut Cache;
    // SAFETY: an unused buffer, never cached; the cache is valid.
    unsafe {
        for s in 0..=NO_SLOT {
            assert!(Cache::pop(c, s).is_null(), "slot {s}");
            assert_eq!(Cache::push(c, s, ptr(&mut v, 0)), Push::Full, "slot {s}");
            assert_eq!(Cache::cached(c), 0);
        }
        for class in 0..MAX_CLASSES {
            assert!(DORMANT.1.try_alloc(class).is_null(), "class {class}");
        }
    }
}

/// A push into a full bin changes nothing (decision 0046: the room is
/// taken before it is tested and given back on the full path): the bin
/// keeps exactly its capacity through any number of refused pushes, one
/// pop makes room for exactly one push, and the blocks come back in LIFO
/// order, none lost or repeated.
#[test]
fn pushes_into_a_full_bin_leave_it_exactly_full() {
    let c = pinned(0x100); // 16 blocks of 16 B (= MIN_BIN)
    let mut v = blocks(MIN_BIN + 2);
    let s = slot(1, 0);
    // SAFETY: unused buffers, each cached at most once.
    unsafe {
        for i in 0..MIN_BIN {
            assert_eq!(Cache::push(c, s, ptr(&mut v, i)), Push::Cached, "block {i}");
        }
        for _ in 0..3 {
            assert_eq!(Cache::push(c, s, ptr(&mut v, MIN_BIN)), Push::Full);
            assert_eq!(Cache::len(c, s), MIN_BIN);
        }
        assert_eq!(Cache::pop(c, s), ptr(&mut v, MIN_BIN - 1));
        assert_eq!(Cache::push(c, s, ptr(&mut v, MIN_BIN)), Push::Cached);
        assert_eq!(Cache::push(c, s, ptr(&mut v, MIN_BIN + 1)), Push::Full);
        let mut got = vec![ptr(&mut v, MIN_BIN)];
        got.extend((0..MIN_BIN - 1).rev().map(|i| ptr(&mut v, i)));
        for (n, &want) in got.iter().enumerate() {
            assert_eq!(Cache::pop(c, s), want, "pop {n}");
        }
        assert!(Cache::pop(c, s).is_null(), "an emptied bin handed out a block");
        assert_eq!(Cache::cached(c), 0);
    }
}

/// A cache made from zeroed memory (as the router's contexts are) finds
/// nothing in any bin once pinned, before and after blocks went through
/// its bins, and a bin emptied by pops or by a drain finds nothing either.
#[test]
fn empty_bins_find_nothing_in_a_zeroed_cache() {
    let mut v = blocks(2);
    // SAFETY: zeroed memory of a cache's size, pinned before any pop; unused
    // buffers, each cached at most once at a time.
    unsafe {
        let z = std::alloc::alloc_zeroed(std::alloc::Layout::new::<Cache>()) as *mut Cache;
        Cache::set_caps(z, &TIER, 4096);
        for s in 0..=NO_SLOT {
            assert!(Cache::pop(z, s).is_null(), "slot {s}");
        }
        let s = slot(1, 1);
        assert_eq!(Cache::push(z, s, ptr(&mut v, 0)), Push::Cached);
        assert_eq!(Cache::push(z, s, ptr(&mut v, 1)), Push::Cached);
        assert_eq!(Cache::pop(z, s), ptr(&mut v, 1));
        assert_eq!(Cache::pop(z, s), ptr(&mut v, 0));
        assert!(Cache::pop(z, s).is_null());
        assert_eq!(Cache::push(z, s, ptr(&mut v, 0)), Push::Cached);
        let mut n = 0;
        Cache::drain(z, |_| n += 1);
        assert_eq!(n, 1);
        assert!(Cache::pop(z, s).is_null());
    }
}
