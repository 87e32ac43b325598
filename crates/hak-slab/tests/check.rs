//! The validity walkers (`Heap::check`, `SlabTier::check`; debug builds):
//! they pass on a heap and a tier in use, local and remote frees, released
//! and abandoned pages, and they catch a corrupted structure: a free-list
//! link overwritten after the block was freed (a write after free), on a
//! heap's page and on a page the tier keeps.
//!
//! Each test uses its own tier, with 64 KiB pages like the tiny tier's.

use hak_slab::{seg_of_entry, Heap, Page, SlabTier};

static SIZES: [u32; 2] = [64, 1024];

/// A heap of `tier` (leaked: a heap must not move once it owns pages).
fn heap(tier: &'static SlabTier) -> &'static mut Heap {
    assert!(hak_os::segmap::init());
    let h = Box::leak(Box::new(Heap::uninit()));
    h.init(tier);
    h
}

/// The page descriptor of block `p`.
fn page_of(p: *mut u8) -> *mut Page {
    // SAFETY: `p` is a block of a slab tier: its segment-map entry points to
    // its segment record.
    unsafe { (*seg_of_entry(hak_os::segmap::lookup(p as usize))).page_of(p as usize) }
}

/// Allocates `n` blocks of `class` from `h`.
fn alloc(h: &mut Heap, class: usize, n: usize) -> Vec<*mut u8> {
    (0..n)
        .map(|_| {
            // SAFETY: the heap is initialised and used by this thread only.
            let p = unsafe { h.alloc(class) };
            assert!(!p.is_null());
            p
        })
        .collect()
}

#[test]
fn the_walkers_pass_on_a_tier_in_use() {
    static TIER: SlabTier = SlabTier::new("check-ok", 0, 16, &SIZES);
    let a = heap(&TIER);
    let b = heap(&TIER);
    // Two pages of 64-byte blocks and several of 1 KiB blocks.
    let small = alloc(a, 0, 1500);
    let big = alloc(a, 1, 200);
    // SAFETY: our heaps, used by this thread; live blocks freed once each.
    unsafe {
        a.check();
        TIER.check();
        // Local frees, then remote ones (through a heap that owns none of
        // the pages: they go to the pages' remote lists).
        for &p in small.iter().step_by(2).chain(big.iter().step_by(2)) {
            a.free(page_of(p), p);
        }
        for &p in small.iter().skip(1).step_by(2) {
            b.free(page_of(p), p);
        }
        a.check();
        b.check();
        // Collects the remote frees and releases the pages they emptied.
        a.collect();
        TIER.check();
        // The rest go out with the thread: released or abandoned pages.
        a.abandon_all();
        TIER.check();
        for &p in big.iter().skip(1).step_by(2) {
            b.free(page_of(p), p);
        }
        b.check();
        b.abandon_all();
        TIER.check();
    }
}

#[test]
#[cfg_attr(not(debug_assertions), ignore = "the walkers are compiled out of release builds")]
#[should_panic(expected = "is not a carved block of the page")]
fn the_heap_walker_catches_a_free_list_link_written_after_free() {
    static TIER: SlabTier = SlabTier::new("check-heap", 1, 16, &SIZES);
    let h = heap(&TIER);
    let blocks = alloc(h, 0, 3);
    let p = blocks[1];
    // SAFETY: our heap and a live block; then the deliberate write after
    // free, into the block's free-list link (no allocation follows it).
    unsafe {
        h.free(page_of(p), p);
        h.check();
        (p as *mut usize).write(0x1000);
        h.check();
    }
}

#[test]
#[cfg_attr(not(debug_assertions), ignore = "the walkers are compiled out of release builds")]
#[should_panic(expected = "is not a carved block of the page")]
fn the_tier_walker_catches_a_free_list_link_written_after_free() {
    static TIER: SlabTier = SlabTier::new("check-tier", 2, 16, &SIZES);
    let h = heap(&TIER);
    let blocks = alloc(h, 1, 2);
    // SAFETY: our heap and live blocks; then the deliberate write after
    // free into a block of a page the tier now keeps (on its dirty list,
    // its carved blocks on its free list).
    unsafe {
        for &p in &blocks {
            h.free(page_of(p), p);
        }
        h.abandon_all();
        TIER.check();
        (blocks[0] as *mut usize).write(blocks[0] as usize + 8);
        TIER.check();
    }
}
