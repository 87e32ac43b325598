//! The segment map's downward growth in a real process (the loom model
//! `segmap_growth_vs_lookup` checks its ordering on tiny tables): a map of
//! the whole 47-bit space with a small margin, registrations far below the
//! first one, entries kept across every growth, and clears reaching them.
//! Addresses are never dereferenced by the map, so any in-range value works.

use hak_os::segmap::{SegMap, ENTRIES};
use hak_os::SEGMENT_SHIFT;

fn seg(i: usize) -> usize {
    i << SEGMENT_SHIFT
}

#[test]
fn registrations_far_below_grow_the_table_and_keep_every_entry() {
    let m = SegMap::with_margin(ENTRIES, 4);
    assert_eq!(m.lookup(seg(ENTRIES - 10)), 0, "an empty map finds nothing");
    assert_eq!(m.lookup(seg(5)), 0);
    assert!(m.set_range(seg(ENTRIES - 10), 2 << SEGMENT_SHIFT, 0x1001));
    assert_eq!(m.low(), ENTRIES - 14, "the first table starts a margin below");
    // Each registration below `low` grows the table at least twice as far.
    let mut registered = vec![(ENTRIES - 10, 0x1001), (ENTRIES - 9, 0x1001)];
    for (k, idx) in [ENTRIES - 100, ENTRIES - 5000, ENTRIES / 2, 3].into_iter().enumerate() {
        let before = m.low();
        let v = 0x2001 + (k << 4);
        assert!(m.set_range(seg(idx) + 12345, 100, v));
        assert!(m.low() <= idx && m.low() < before, "no growth for index {idx}");
        registered.push((idx, v));
        for &(i, v) in &registered {
            assert_eq!(m.lookup(seg(i) + 64), v, "entry of slot {i} lost after growing to {}", m.low());
        }
        // Covered but never registered: 0.
        assert_eq!(m.lookup(seg(idx + 1)), 0);
    }
    assert_eq!(m.low(), 0, "slot 3 with a margin of 4 covers from 0");
    // Clears reach the current table (and the old ones, still mapped).
    for &(i, _) in &registered {
        m.clear_range(seg(i), 1 << SEGMENT_SHIFT);
        assert_eq!(m.lookup(seg(i)), 0);
    }
    // Below the lowest covered slot of a map that has not grown: 0, without
    // a table access.
    let n = SegMap::with_margin(ENTRIES, 4);
    assert!(n.set_range(seg(ENTRIES - 1), 1, 0x4001));
    assert_eq!((n.lookup(seg(ENTRIES - 6)), n.lookup(seg(7)), n.lookup(0)), (0, 0, 0));
    // Beyond the map: refused.
    assert!(!m.set_range(seg(ENTRIES), 1, 0x3001));
}
