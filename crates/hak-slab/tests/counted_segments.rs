//! Where every mapped byte counts (an address-space limit, `ulimit -v`; or
//! strict overcommit, `vm.overcommit_memory=2`, which charges every private
//! writable byte to the commit limit until it is unmapped) every segment of
//! a tier maps only what its pages carve, not only its first four (decision
//! 0048): a program with many classes in use holds, and is charged, what
//! it carved. Its own test binary: it sets `RLIMIT_AS` for the whole
//! process before the first mapping (the mode is read once).

use hak_slab::{Heap, SlabTier};

/// Twenty classes of 32 KiB to 640 KiB blocks in 1 MiB pages (four to a
/// segment): one block of each takes a page each, five segments.
static SIZES: [u32; 20] = {
    let mut s = [0u32; 20];
    let mut i = 0;
    while i < 20 {
        s[i] = (32 << 10) * (i as u32 + 1);
        i += 1;
    }
    s
};

#[test]
fn every_segment_maps_only_what_it_carves_when_mapping_is_counted() {
    // An address-space limit well above what the test needs.
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid out-parameters.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_AS, &mut r), 0);
        let limit = 64usize << 30;
        if r.rlim_cur == libc::RLIM_INFINITY || r.rlim_cur as usize > limit {
            r.rlim_cur = limit as libc::rlim_t;
            assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &r), 0);
        }
    }
    assert!(hak_os::map::mapping_counted());
    static TIER: SlabTier = SlabTier::new("counted", 0, 20, &SIZES);
    assert!(hak_os::segmap::init());
    let h = Box::leak(Box::new(Heap::uninit()));
    h.init(&TIER);
    let mut carved = 0;
    // Largest first: the fifth segment holds the smallest blocks, whose
    // pages a whole window would map to the end.
    for (class, &size) in SIZES.iter().enumerate().rev() {
        // SAFETY: the heap is initialised and used by this thread only.
        let p = unsafe { h.alloc(class) };
        assert!(!p.is_null(), "class {class}");
        // SAFETY: a live block of `size` bytes.
        unsafe { std::ptr::write_bytes(p, 0x5a, size as usize) };
        carved += size as usize;
    }
    let u = TIER.usage();
    assert!(u.segments >= 5, "{} segments", u.segments);
    // Each page maps its first carve (a block, in OS pages): what the 20
    // blocks take, with room for the rounding, far below the 4 MiB a
    // whole fifth segment would map.
    assert!(
        u.mapped <= carved + carved / 2,
        "{} bytes mapped for {carved} bytes of blocks in {} segments",
        u.mapped,
        u.segments
    );
}
