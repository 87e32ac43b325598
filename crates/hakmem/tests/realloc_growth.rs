//! A block that `realloc` grows past `REALLOC_MAP_MIN` moves into a mapping
//! of its own once, and from then on grows by `mremap` (in place, or moved
//! with its pages): never allocate, copy and free again. Its own test
//! binary: it reads the process-wide big tier's counters.

use std::sync::atomic::Ordering;

#[test]
fn realloc_growth_past_the_mapping_threshold_stops_copying() {
    // A vector growing 1.5x per step from 16 B to 3 MiB, filled at every
    // step. Below REALLOC_MAP_MIN it moves between size classes; past it,
    // the big tier allocates its mapping once and then only remaps it (the
    // mapping may move when the address space after it is taken: its pages
    // move with it, nothing is copied).
    let big = hak_bigcache::STATS;
    let pattern = |i: usize| (i.wrapping_mul(7) >> 2) as u8;
    let mut size = 16;
    let mut p = hakmem::alloc(size);
    for i in 0..size {
        // SAFETY: the block is live and larger than every index used.
        unsafe { *p.add(i) = pattern(i) };
    }
    let mut allocs_at_threshold = None;
    let mut remaps = 0;
    while size < 3 << 20 {
        let next = size + size / 2 + 16;
        let before = big.remaps.load(Ordering::Relaxed);
        if size >= hakmem::REALLOC_MAP_MIN {
            allocs_at_threshold.get_or_insert(big.allocs.load(Ordering::Relaxed));
        }
        // SAFETY: p is a live hakmem block; the old pointer is not used after a successful call.
        let q = unsafe { hakmem::realloc(p, next) };
        assert!(!q.is_null(), "realloc to {next} failed");
        // SAFETY: q is a live block of at least `size` bytes, all written.
        let s = unsafe { std::slice::from_raw_parts(q, size) };
        assert!(s.iter().enumerate().all(|(i, &b)| b == pattern(i)), "realloc to {next} lost contents");
        if size >= hakmem::REALLOC_MAP_MIN {
            remaps += big.remaps.load(Ordering::Relaxed) - before;
        }
        for i in size..next {
            // SAFETY: the block is live and larger than every index used.
            unsafe { *q.add(i) = pattern(i) };
        }
        p = q;
        size = next;
    }
    let allocs_at_threshold = allocs_at_threshold.expect("the loop passes the threshold");
    assert_eq!(
        big.allocs.load(Ordering::Relaxed),
        allocs_at_threshold,
        "a block past the threshold was allocated again (copied) instead of remapped"
    );
    assert!(remaps >= 1, "the block never grew its mapping");
    // SAFETY: the block is live, came from hakmem and is freed once.
    unsafe { hakmem::free(p) };
}
