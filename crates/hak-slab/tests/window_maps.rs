//! A tier's first segments map what their pages carve (decisions 0043,
//! 0045): a class's first page maps its first carve (about 4 KiB: one OS
//! page for small blocks), its mapping grows as more blocks are carved,
//! and the tier's usage reports what is mapped, not 4 MiB per segment.
//! Every mapped byte counts against `ulimit -v`.

use hak_slab::{Heap, SlabTier};

static SIZES: [u32; 2] = [16, 1024];

/// A heap of `tier` (leaked: a heap must not move once it owns pages).
fn heap(tier: &'static SlabTier) -> &'static mut Heap {
    assert!(hak_os::segmap::init());
    let h = Box::leak(Box::new(Heap::uninit()));
    h.init(tier);
    h
}

/// The OS page size.
fn os_page() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// Whether the OS page at `p` is mapped (`mincore` fails on a hole).
fn mapped(p: usize) -> bool {
    let mut v = 0u8;
    // SAFETY: one page's byte; mincore touches no memory of the range.
    unsafe { libc::mincore((p & !(os_page() - 1)) as *mut libc::c_void, 1, &mut v) == 0 }
}

#[test]
fn a_class_first_page_maps_its_first_carve_and_grows_as_it_is_carved() {
    static TIER: SlabTier = SlabTier::new("maps", 0, 16, &SIZES);
    let h = heap(&TIER);
    let ps = os_page();
    // SAFETY: the heap is initialised and used by this thread only.
    let (a, b) = unsafe { (h.alloc(0), h.alloc(1)) };
    assert!(!a.is_null() && !b.is_null());
    let u = TIER.usage();
    assert_eq!(u.segments, 1);
    // 4 KiB of 16 B blocks, 4 blocks of 1 KiB: a page each.
    assert_eq!(u.mapped, 2 * ps.max(4096), "two classes' first carves");
    let start = a as usize & !(TIER.page_size() - 1);
    assert!(mapped(start) && !mapped(start + ps.max(4096)), "the first page of class 0 maps its first carve only");
    // 32 KiB of 16 B blocks, each written: mapped as carved, at most twice.
    let n = (32 << 10) / 16;
    for _ in 0..n {
        // SAFETY: as above.
        let p = unsafe { h.alloc(0) };
        assert!(!p.is_null());
        // SAFETY: a live block of 16 bytes.
        unsafe { std::ptr::write_bytes(p, 0xa5, 16) };
    }
    let u = TIER.usage();
    let carved = (n + 1) * 16;
    assert!(
        u.mapped >= carved + ps && u.mapped <= 2 * carved + 2 * ps.max(4096),
        "{} bytes mapped for {carved} bytes carved",
        u.mapped
    );
    assert!(u.mapped < hak_os::SEGMENT_SIZE / 16, "not the whole segment");
}
