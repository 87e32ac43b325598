//! `map`: page size, residency, moving a mapping, remapping in place.

use hak_os::map;

#[test]
fn page_size_is_cached_power_of_two() {
    let ps = map::page_size();
    assert!(ps.is_power_of_two() && ps >= 4096);
    // SAFETY: sysconf has no preconditions.
    assert_eq!(ps as libc::c_long, unsafe { libc::sysconf(libc::_SC_PAGESIZE) });
    assert_eq!(map::page_size(), ps);
}

#[test]
fn residency_of_fresh_and_touched_pages() {
    let ps = map::page_size();
    let p = map::map(8 * ps);
    assert!(!p.is_null());
    let mut v = [0xffu8; 8];
    assert!(map::residency(p, 8 * ps, &mut v));
    assert!(v.iter().all(|&b| b & 1 == 0), "fresh pages are not resident: {v:?}");
    // SAFETY: pages 1, 2 and 6 of our mapping.
    unsafe {
        p.add(ps).write(1);
        p.add(2 * ps + 100).write(1);
        p.add(6 * ps).write(1);
    }
    assert!(map::residency(p, 8 * ps, &mut v));
    let resident: Vec<bool> = v.iter().map(|&b| b & 1 != 0).collect();
    assert_eq!(resident, [false, true, true, false, false, false, true, false]);
    // A partial last page counts as a page; a vector too short is refused.
    let mut two = [0u8; 2];
    assert!(map::residency(p, ps + 1, &mut two));
    assert_eq!(two.map(|b| b & 1), [0, 1]);
    assert!(!map::residency(p, 2 * ps + 1, &mut two));
    // Decommitted pages are no longer resident.
    // SAFETY: our mapping, no live data.
    assert!(unsafe { map::decommit(p, 8 * ps) });
    assert!(map::residency(p, 8 * ps, &mut v));
    assert!(v.iter().all(|&b| b & 1 == 0));
    // SAFETY: ours, unused.
    unsafe { map::unmap(p, 8 * ps) };
    // An unmapped range (the first pages of the address space, below
    // `vm.mmap_min_addr`) and a misaligned start are reported as failure.
    assert!(!map::residency(ps as *const u8, 8 * ps, &mut v));
    let q = map::map(ps);
    assert!(!map::residency(q.wrapping_add(1), 16, &mut v));
    // SAFETY: ours.
    unsafe { map::unmap(q, ps) };
}

#[test]
fn move_mapping_keeps_contents_at_the_destination() {
    let ps = map::page_size();
    let (old, new) = (3 * ps, 5 * ps);
    let src = map::map(old);
    let dest = map::map_aligned(new, 1 << 22);
    assert!(!src.is_null() && !dest.is_null());
    // SAFETY: both are ours; fill the source with a pattern, the
    // destination reservation with something else.
    unsafe {
        for i in 0..old {
            src.add(i).write((i % 251) as u8);
        }
        dest.write_bytes(0xee, new);
    }
    // SAFETY: the source is one whole mapping of ours, the destination our
    // reservation, not overlapping.
    assert!(unsafe { map::move_mapping(src, old, new, dest) });
    assert_eq!(dest as usize & ((1 << 22) - 1), 0);
    // SAFETY: the moved mapping is `new` bytes at `dest`.
    let moved = unsafe { core::slice::from_raw_parts(dest, new) };
    assert!(moved[..old].iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    assert!(moved[old..].iter().all(|&b| b == 0), "the grown tail reads as zeros");
    // (The source is gone, but another test may map that range at once:
    // not checked here.)
    // SAFETY: ours.
    unsafe { map::unmap(dest, new) };
}

#[test]
fn failed_move_changes_nothing_and_keeps_errno() {
    let ps = map::page_size();
    let src = map::map(2 * ps);
    assert!(!src.is_null());
    // SAFETY: ours.
    unsafe { src.write(42) };
    // SAFETY: sets this thread's errno.
    unsafe { *libc::__errno_location() = 1234 };
    // A misaligned destination makes mremap fail with EINVAL.
    let dest = src.wrapping_add((1 << 30) + 1);
    // SAFETY: the source is ours; the kernel refuses the destination.
    let moved = unsafe { map::move_mapping(src, 2 * ps, 2 * ps, dest) };
    assert!(!moved);
    // SAFETY: reads this thread's errno.
    assert_eq!(unsafe { *libc::__errno_location() }, 1234);
    // SAFETY: still ours.
    assert_eq!(unsafe { src.read() }, 42);
    // SAFETY: ours.
    unsafe { map::unmap(src, 2 * ps) };
}

#[test]
fn map_aligned_and_remap_in_place() {
    let ps = map::page_size();
    let p = map::map_aligned(1 << 22, 1 << 22);
    assert!(!p.is_null());
    assert_eq!(p as usize & ((1 << 22) - 1), 0);
    // SAFETY: ours; shrinking in place always works.
    assert!(unsafe { map::remap_in_place(p, 1 << 22, ps) });
    let mut v = [0u8; 1];
    assert!(map::residency(p, ps, &mut v));
    assert!(!map::residency(p.wrapping_add(ps), ps, &mut v));
    // SAFETY: ours (one page now).
    unsafe { map::unmap(p, ps) };
}
