//! Free blocks idle in partly used pages give their memory back
//! (`Heap::return_idle_blocks`, decision 0047).
//!
//! * A pass ages the blocks freed since the last one and returns the
//!   interiors of the aged ones: a block freed before two passes is no
//!   longer resident past its first OS page, one freed since the last pass
//!   still is.
//! * The live blocks of those pages keep their contents; returned blocks
//!   are handed out again and hold what is written to them.
//! * `Return::All` (`malloc_trim`) returns fresh blocks at once.
//! * A returned block is still a free block to the double-free check.
//!
//! Assumes 4 KiB OS pages where it measures what is resident (skipped
//! elsewhere). Not with `strict-free`, whose keys are owner tokens (the
//! idle-block return is off there).
#![cfg(not(feature = "strict-free"))]

use hak_slab::{seg_of_entry, Cache, Heap, Return, SlabTier};
use std::ptr;

const BLOCK: usize = 64 << 10;
static SIZES: [u32; 1] = [BLOCK as u32];

fn heap(tier: &'static SlabTier) -> &'static mut Heap {
    assert!(hak_os::segmap::init());
    let h = Box::leak(Box::new(Heap::uninit()));
    h.init(tier);
    h
}

fn os_page() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// OS pages of `[p, p + len)` that are resident.
fn resident_pages(p: *mut u8, len: usize) -> usize {
    let mut v = vec![0u8; len / os_page() + 1];
    assert!(hak_os::map::residency(p, len, &mut v));
    v.iter().take(len / os_page()).filter(|&&b| b & 1 != 0).count()
}

fn alloc_written(h: &mut Heap, n: usize, fill: u8) -> Vec<*mut u8> {
    (0..n)
        .map(|_| {
            // SAFETY: an initialised heap used by this thread only.
            let p = unsafe { h.alloc(0) };
            assert!(!p.is_null());
            // SAFETY: a live block of BLOCK bytes.
            unsafe { ptr::write_bytes(p, fill, BLOCK) };
            p
        })
        .collect()
}

/// Frees `p` to its page as the router does: the page list's key first.
fn free(h: &mut Heap, p: *mut u8) {
    // SAFETY: a live block of a page `h` owns; the segment entry of slab
    // memory points to its segment record.
    unsafe {
        assert!(Cache::to_page(p));
        let seg = &*seg_of_entry(hak_os::segmap::lookup(p as usize));
        h.free(seg.page_of(p as usize), p);
    }
}

fn holds(p: *mut u8, fill: u8) -> bool {
    // SAFETY: a live block of BLOCK bytes.
    unsafe { std::slice::from_raw_parts(p, BLOCK).iter().all(|&b| b == fill) }
}

#[test]
fn idle_free_blocks_of_partly_used_pages_are_returned_after_two_passes() {
    if os_page() != 4096 {
        return;
    }
    static TIER: SlabTier = SlabTier::new("idle-test", 2, 20, &SIZES);
    let h = heap(&TIER);
    // 64 blocks, 16 per 1 MiB page; every 16th stays live, so no page
    // empties.
    let blocks = alloc_written(h, 64, 7);
    let (live, freed): (Vec<_>, Vec<_>) = blocks.iter().enumerate().partition(|(i, _)| i % 16 == 0);
    let live: Vec<*mut u8> = live.into_iter().map(|(_, &p)| p).collect();
    let mut freed: Vec<*mut u8> = freed.into_iter().map(|(_, &p)| p).collect();
    // The last one freed goes after the first pass: still fresh at the second.
    let late = freed.pop().unwrap();
    for &p in &freed {
        free(h, p);
    }
    let pages = BLOCK / os_page();
    assert!(freed.iter().all(|&p| resident_pages(p, BLOCK) == pages));
    // SAFETY: our own heap.
    let first = unsafe { h.return_idle_blocks(Return::Idle) };
    assert_eq!(first, 0, "the first pass only ages");
    free(h, late);
    // SAFETY: our own heap.
    let second = unsafe { h.return_idle_blocks(Return::Idle) };
    assert_eq!(second, freed.len() * (pages - 1) * os_page(), "each aged block gives back all but its first OS page");
    for &p in &freed {
        assert_eq!(resident_pages(p, BLOCK), 1, "block {p:?} still resident");
    }
    assert_eq!(resident_pages(late, BLOCK), pages, "a block freed since the last pass was returned");
    assert!(live.iter().all(|&p| holds(p, 7)), "a live block lost its contents");
    // A returned block is free: a second free past the cache is refused.
    // SAFETY: freed[0] is a free block of at least 16 bytes.
    assert!(!unsafe { Cache::to_page(freed[0]) }, "a returned block was taken for a live one");
    // All of them come back, hold what is written to them, and nothing else moved.
    let again = alloc_written(h, freed.len() + 1, 9);
    assert!(again.iter().all(|&p| holds(p, 9)));
    assert!(live.iter().all(|&p| holds(p, 7)));
    // `Return::All` returns blocks freed a moment ago.
    for &p in &again {
        free(h, p);
    }
    // SAFETY: our own heap.
    let all = unsafe { h.return_idle_blocks(Return::All) };
    assert_eq!(all, again.len() * (pages - 1) * os_page());
    assert!(again.iter().all(|&p| resident_pages(p, BLOCK) == 1));
    // Once returned, a pass has nothing left to do.
    // SAFETY: our own heap.
    assert_eq!(unsafe { h.return_idle_blocks(Return::Idle) }, 0);
    assert!(live.iter().all(|&p| holds(p, 7)));
}
