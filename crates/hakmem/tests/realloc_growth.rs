//! A block that `realloc` grows past `REALLOC_MAP_MIN` moves into a mapping
//! of its own once, and from then on grows and shrinks by `mremap` (in
//! place, or moved with its pages): never allocate, copy and free again,
//! down to half the threshold. Its own test binary, one test: it reads the
//! process-wide big tier's counters.

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
    swinging_around_the_threshold();
}

/// A buffer grown past REALLOC_MAP_MIN, then resized down and up around
/// it, keeps its mapping down to half the threshold (no new big block, its
/// contents kept); successful reallocs leave errno alone; below half the
/// threshold it goes back to a size class.
fn swinging_around_the_threshold() {
    let big = hak_bigcache::STATS;
    let min = hakmem::REALLOC_MAP_MIN;
    let seed = |i: usize| (i as u8).wrapping_mul(13);
    let p = hakmem::alloc(min / 2);
    for i in 0..min / 2 {
        // SAFETY: a live block of min / 2 bytes.
        unsafe { *p.add(i) = seed(i) };
    }
    // SAFETY: p is a live hakmem block; the old pointer is not used after a successful call.
    let mut p = unsafe { hakmem::realloc(p, min + 4096) };
    assert!(!p.is_null());
    let allocs = big.allocs.load(Ordering::Relaxed);
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = 4242 };
    for size in [min - 4096, min / 2 + 16, min + 8192, min * 3 / 4, 2 * min] {
        // SAFETY: p is a live hakmem block; the old pointer is not used after a successful call.
        p = unsafe { hakmem::realloc(p, size) };
        assert!(!p.is_null(), "realloc to {size} failed");
        // SAFETY: p holds at least min / 2 bytes.
        let kept = unsafe { std::slice::from_raw_parts(p, min / 2) };
        assert!(kept.iter().enumerate().all(|(i, &b)| b == seed(i)), "realloc to {size} lost contents");
    }
    assert_eq!(big.allocs.load(Ordering::Relaxed), allocs, "a swing made a new big block (a copy)");
    // SAFETY: __errno_location returns this thread's errno slot.
    assert_eq!(unsafe { *libc::__errno_location() }, 4242, "a successful realloc changed errno");
    let live = hak_bigcache::live();
    // SAFETY: p is a live hakmem block; the old pointer is not used after a successful call.
    let q = unsafe { hakmem::realloc(p, min / 4) };
    assert!(!q.is_null());
    // SAFETY: q holds at least min / 4 bytes.
    let kept = unsafe { std::slice::from_raw_parts(q, min / 4) };
    assert!(kept.iter().enumerate().all(|(i, &b)| b == seed(i)), "the shrink to a size class lost contents");
    assert_eq!(hak_bigcache::live(), live - 1, "a block shrunk below half the threshold kept its mapping");
    // SAFETY: the block is live, came from hakmem and is freed once.
    unsafe { hakmem::free(q) };
}
