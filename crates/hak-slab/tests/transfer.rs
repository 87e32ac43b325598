//! The transfer slots on their own (decision 0052): a full bin of one cache
//! moves whole to the empty bin of another, every block once, keyed anew;
//! a bin that is not full is not given, a bin that is not empty takes
//! nothing; the giver takes back what nobody took, each block once, and
//! only its own chains. One test: the slots are the process's, shared by
//! every test of a binary.

use hak_slab::{bin_offset, slot, Cache, Push, SlabTier, MIN_BIN};

static SIZES: [u32; 2] = [64, 128];
static TIER: SlabTier = SlabTier::new("transfer-test", 1, 16, &SIZES);

/// `n` zeroed 128-byte blocks from a 1 MiB boundary (leaked).
fn blocks(n: usize) -> Vec<*mut u8> {
    let layout = std::alloc::Layout::from_size_align(n * 128, 1 << 20).unwrap();
    // SAFETY: a layout of non-zero size.
    let base = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!base.is_null());
    (0..n).map(|i| base.wrapping_add(i * 128)).collect()
}

/// A pinned cache whose 64-byte bin holds MIN_BIN blocks (leaked).
fn pinned() -> *mut Cache {
    let c = Box::into_raw(Box::new(Cache::new()));
    // SAFETY: a valid cache of this thread.
    unsafe { Cache::set_caps(c, &TIER, 64 * MIN_BIN) };
    c
}

#[test]
fn a_full_bin_moves_whole_to_another_cache_and_back_to_the_pages() {
    let (a, b) = (pinned(), pinned());
    let s = slot(1, 0);
    let v = blocks(MIN_BIN + 1);
    // SAFETY: the caches are this thread's; the blocks are unused buffers.
    unsafe {
        for &p in &v[..MIN_BIN - 1] {
            assert_eq!(Cache::push(a, s, p), Push::Cached);
        }
        // Not full: not given.
        assert!(!Cache::give(a, bin_offset(s)));
        assert_eq!(Cache::push(a, s, v[MIN_BIN - 1]), Push::Cached);
        // Nothing to take yet.
        assert!(!Cache::take(b, s));
        assert!(Cache::give(a, bin_offset(s)));
        assert_eq!(Cache::len(a, s), 0);
        assert_eq!(Cache::transfer_len(s), MIN_BIN);
        // A bin that is not empty takes nothing.
        assert_eq!(Cache::push(b, s, v[MIN_BIN]), Push::Cached);
        assert!(!Cache::take(b, s));
        assert_eq!(Cache::pop(b, s), v[MIN_BIN]);
        assert!(Cache::take(b, s));
        assert_eq!(Cache::transfer_len(s), 0);
        assert_eq!(Cache::len(b, s), MIN_BIN);
        // The taker pops every block of the chain once (its key is the
        // taker's now: the pop checks it), and the giver's bin is usable.
        let mut got: Vec<*mut u8> = (0..MIN_BIN).map(|_| Cache::pop(b, s)).collect();
        assert!(Cache::pop(b, s).is_null());
        got.sort();
        let mut want = v[..MIN_BIN].to_vec();
        want.sort();
        assert_eq!(got, want);
        // Given again and not taken: another cache takes back nothing, the
        // giver every block once.
        for &p in &v[..MIN_BIN] {
            assert_eq!(Cache::push(b, s, p), Push::Cached);
        }
        assert!(Cache::give(b, bin_offset(s)));
        let mut back = Vec::new();
        assert_eq!(Cache::reclaim_given(a, |p| back.push(p)), 0);
        assert_eq!(Cache::transfer_len(s), MIN_BIN);
        assert_eq!(Cache::reclaim_given(b, |p| back.push(p)), MIN_BIN);
        back.sort();
        assert_eq!(back, want);
        assert_eq!(Cache::transfer_len(s), 0);
        assert!(!Cache::take(a, s));
    }
}
