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

/// A fresh private `PROT_NONE` mapping of `len` bytes where the kernel
/// places one (where `mmap` maps), never touched.
fn reserve(len: usize) -> usize {
    // SAFETY: a fresh anonymous mapping; nothing else is affected.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    p as usize
}

/// Whether the main stack has a limit the kernel's layout keeps `mmap`
/// below (else the table reaches the top of the space: no band).
fn stack_limited() -> bool {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a valid out-parameter.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut r) } == 0;
    ok && r.rlim_cur != libc::RLIM_INFINITY && r.rlim_cur <= 64 << 30
}

/// The map of the whole space holds a table of a few hundred KiB of
/// address space (which `ulimit -v` counts), whatever random gap the kernel
/// left between the stack and where `mmap` maps (up to 1 TiB: 2 MiB of a
/// table reaching the top): the gap's entries are not mapped (decision
/// 0045). What it covers it finds: a registered mapping where `mmap` maps,
/// the stack (not registered: 0), and a registration far below, which
/// grows the table in place by what it needs.
#[test]
fn the_whole_space_map_holds_little_address_space_and_finds_what_is_registered() {
    let m = SegMap::new();
    assert!(m.init());
    let small = m.table_bytes();
    if stack_limited() {
        assert!(small <= 384 << 10, "the table holds {small} bytes of address space");
    }
    let seg_size = 1usize << SEGMENT_SHIFT;
    let p = reserve(seg_size);
    assert_eq!(m.lookup(p), 0);
    assert!(m.set_range(p, seg_size, 0x5001));
    assert_eq!(m.lookup(p + 100), 0x5001);
    let local = 0u8;
    assert_eq!(m.lookup(std::ptr::addr_of!(local) as usize), 0, "a stack address is not registered");
    // 200 GiB below: an extent grows in place by the entries between
    // (400 KiB); a contiguous table (no band) is replaced by one of twice
    // the reach or more.
    let far = (p - (200usize << 30)) & !(seg_size - 1);
    assert!(m.set_range(far, seg_size, 0x6001));
    assert_eq!((m.lookup(far), m.lookup(p), m.lookup(far + seg_size)), (0x6001, 0x5001, 0));
    let grown = m.table_bytes();
    assert!(grown > small && grown <= small + (1 << 20), "grew from {small} to {grown} bytes");
    m.clear_range(far, seg_size);
    m.clear_range(p, seg_size);
    assert_eq!((m.lookup(far), m.lookup(p)), (0, 0));
    // SAFETY: our mapping, unused.
    unsafe { libc::munmap(p as *mut libc::c_void, seg_size) };
}

/// `lookup_any` reads any address without faulting: every segment from a
/// registered mapping up to the stack (the band between them is where an
/// extent leaves its entries unmapped: `lookup` faults there, decision
/// 0045) answers 0 but the registered one, and so do addresses beyond the
/// map. (`hak_owns` and `realloc` of a pointer that is not hakmem's use
/// it.)
#[test]
fn lookup_any_reads_every_address_without_faulting() {
    let m = SegMap::new();
    assert!(m.init());
    let seg_size = 1usize << SEGMENT_SHIFT;
    let p = reserve(seg_size);
    assert!(m.set_range(p, seg_size, 0x7001));
    // The main thread's stack (a test runs on a thread of its own, whose
    // stack is an ordinary mapping below the band).
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    let line = maps.lines().find(|l| l.ends_with("[stack]")).expect("a [stack] line");
    let stack = usize::from_str_radix(line.split('-').next().unwrap(), 16).unwrap();
    let mut found = 0;
    let mut a = p & !(seg_size - 1);
    while a < stack + seg_size {
        match m.lookup_any(a) {
            0 => {}
            0x7001 => found += 1,
            e => panic!("segment {a:#x} reads {e:#x}"),
        }
        a += seg_size;
    }
    assert!((1..=2).contains(&found), "the registered segment was found {found} times");
    assert_eq!(m.lookup_any(p + 100), 0x7001);
    for beyond in [1usize << 47, usize::MAX, (1usize << 47) - 1 + seg_size] {
        assert_eq!(m.lookup_any(beyond), 0, "{beyond:#x}");
    }
    m.clear_range(p, seg_size);
    // SAFETY: our mapping, unused.
    unsafe { libc::munmap(p as *mut libc::c_void, seg_size) };
}
