//! `segmap`: the two-level segment map maps only the chunks registrations
//! need, finds what was registered anywhere in the 47-bit address space,
//! and returns 0 for everything else (unregistered slots of a mapped chunk,
//! absent chunks, addresses at and beyond 2^47).

use hak_os::segmap::{SegMap, CHUNK_ENTRIES, ENTRIES, TAG_BIG, TAG_SLAB};
use hak_os::{SEGMENT_SHIFT, SEGMENT_SIZE};

const CHUNK_SPAN: usize = CHUNK_ENTRIES << SEGMENT_SHIFT;
const TOP: usize = ENTRIES << SEGMENT_SHIFT; // 2^47

#[test]
fn registrations_in_far_apart_chunks_map_only_their_chunks() {
    let m = Box::new(SegMap::new());
    assert_eq!(m.chunks(), 0, "a fresh map has no chunk");
    assert_eq!(m.lookup(5 * SEGMENT_SIZE), 0);
    let low = 5 * SEGMENT_SIZE;
    let high = (1 << 46) + 7 * SEGMENT_SIZE;
    assert!(m.set_range(low, SEGMENT_SIZE, 0x1000 | TAG_SLAB));
    assert!(m.set_range(high, 3 * SEGMENT_SIZE, 0x2000 | TAG_BIG));
    assert_eq!(m.chunks(), 2);
    assert_eq!(m.lookup(low), 0x1000 | TAG_SLAB);
    assert_eq!(m.lookup(low + SEGMENT_SIZE - 1), 0x1000 | TAG_SLAB);
    for off in [0, SEGMENT_SIZE, 3 * SEGMENT_SIZE - 1] {
        assert_eq!(m.lookup(high + off), 0x2000 | TAG_BIG, "offset {off:#x}");
    }
    // Unregistered slots of the published chunks.
    assert_eq!(m.lookup(low - 1), 0);
    assert_eq!(m.lookup(low + SEGMENT_SIZE), 0);
    assert_eq!(m.lookup(high + 3 * SEGMENT_SIZE), 0);
    assert_eq!(m.lookup(0), 0);
    // Absent chunks (nothing was mapped for them).
    assert_eq!(m.lookup(CHUNK_SPAN + low), 0);
    assert_eq!(m.lookup((1 << 45) + 12345), 0);
    assert_eq!(m.chunks(), 2, "lookups create no chunk");
}

#[test]
fn a_range_across_a_chunk_boundary_maps_both_chunks() {
    let m = Box::new(SegMap::new());
    let base = 3 * CHUNK_SPAN - SEGMENT_SIZE;
    assert!(m.set_range(base + 100, 2 * SEGMENT_SIZE, 0x3000 | TAG_BIG));
    assert_eq!(m.chunks(), 2);
    for p in [base, base + SEGMENT_SIZE - 1, 3 * CHUNK_SPAN, 3 * CHUNK_SPAN + 2 * SEGMENT_SIZE - 1] {
        assert_eq!(m.lookup(p), 0x3000 | TAG_BIG, "{p:#x}");
    }
    assert_eq!(m.lookup(base - 1), 0);
    assert_eq!(m.lookup(3 * CHUNK_SPAN + 2 * SEGMENT_SIZE), 0);
    m.clear_range(base + 100, 2 * SEGMENT_SIZE);
    for p in [base, 3 * CHUNK_SPAN + 2 * SEGMENT_SIZE - 1] {
        assert_eq!(m.lookup(p), 0, "{p:#x} after clear_range");
    }
}

#[test]
fn the_top_of_the_47_bit_space_and_beyond() {
    let m = Box::new(SegMap::new());
    let last = TOP - SEGMENT_SIZE;
    assert!(m.set_range(last, SEGMENT_SIZE, 0x4000 | TAG_SLAB));
    assert_eq!(m.lookup(TOP - 1), 0x4000 | TAG_SLAB);
    assert_eq!(m.lookup(last), 0x4000 | TAG_SLAB);
    // Beyond 2^47 nothing is ours, whatever the low bits alias.
    for p in [TOP, TOP + last, TOP + 5 * SEGMENT_SIZE, 1 << 56, usize::MAX - 7, usize::MAX] {
        assert_eq!(m.lookup(p), 0, "{p:#x}");
    }
    // Registrations reaching past 2^47 (or overflowing) are refused and set
    // nothing.
    assert!(!m.set_range(last, 2 * SEGMENT_SIZE, 0x5000 | TAG_BIG));
    assert_eq!(m.lookup(last), 0x4000 | TAG_SLAB);
    assert!(!m.set_range(usize::MAX - SEGMENT_SIZE, 2 * SEGMENT_SIZE, 0x5000 | TAG_BIG));
    assert!(m.set_range(last, 0, 0x5000 | TAG_BIG), "an empty range is trivially set");
    assert_eq!(m.lookup(last), 0x4000 | TAG_SLAB);
}

#[test]
fn clear_range_clears_and_never_maps_a_chunk() {
    let m = Box::new(SegMap::new());
    let a = 9 * SEGMENT_SIZE;
    assert!(m.set_range(a, 2 * SEGMENT_SIZE, 0x6000 | TAG_SLAB));
    assert!(m.set_range(a + 2 * SEGMENT_SIZE, SEGMENT_SIZE, 0x7000 | TAG_SLAB));
    m.clear_range(a, 2 * SEGMENT_SIZE);
    assert_eq!(m.lookup(a), 0);
    assert_eq!(m.lookup(a + SEGMENT_SIZE), 0);
    assert_eq!(m.lookup(a + 2 * SEGMENT_SIZE), 0x7000 | TAG_SLAB, "the neighbour is kept");
    // Clearing where no chunk exists maps nothing.
    m.clear_range(10 * CHUNK_SPAN, 4 * CHUNK_SPAN);
    assert_eq!(m.chunks(), 1);
    // Registering again after a clear works.
    assert!(m.set_range(a, SEGMENT_SIZE, 0x8000 | TAG_BIG));
    assert_eq!(m.lookup(a + 77), 0x8000 | TAG_BIG);
}

/// A chunk that cannot be mapped fails the registration cleanly (nothing
/// set, nothing created), and a later registration maps it.
#[test]
fn a_chunk_that_cannot_be_mapped_fails_the_registration_and_is_retried() {
    let m = Box::new(SegMap::new());
    let a = 20 * CHUNK_SPAN + SEGMENT_SIZE;
    assert!(hak_os::fault::fail_nth_map(1));
    let ok = m.set_range(a, SEGMENT_SIZE, 0x9000 | TAG_SLAB);
    hak_os::fault::clear();
    assert!(!ok, "the registration needing an unmappable chunk fails");
    assert_eq!(m.chunks(), 0);
    assert_eq!(m.lookup(a), 0);
    assert!(m.set_range(a, SEGMENT_SIZE, 0x9000 | TAG_SLAB));
    assert_eq!(m.lookup(a), 0x9000 | TAG_SLAB);
}
