//! Recovery through Rust's `GlobalAlloc` (`hakmem::HakMem`) after memory ran
//! out, with the platform layer's fault injection standing in for
//! `RLIMIT_AS`: from some point on, every new mapping of the thread is
//! refused. At 8 B, 1 KiB, 30 KiB, 200 KiB and 3 MiB: `alloc` fills what
//! hakmem holds until it returns null; everything freed, each method
//! (`alloc`, `alloc` aligned to 64 and 4096, `alloc_zeroed`, `realloc`
//! growing a block) gets that size again with no new mapping (all live at
//! once, checked), and `alloc` gets as many blocks as before.
//!
//! One test, one thread per size in turn: injection is per thread and no
//! other test of this binary allocates meanwhile.

use std::alloc::{GlobalAlloc, Layout};

use hak_os::fault;
use hakmem::HakMem;

const SIZES: [usize; 5] = [8, 1024, 30 << 10, 200 << 10, 3 << 20];

/// Blocks allocated before mappings are refused (what the process had).
const BEFORE_BYTES: usize = 24 << 20;

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// Fills (or checks) the first and last byte and a word in the middle.
fn mark(p: *mut u8, size: usize, seed: u8) {
    // SAFETY: `p` is a live block of `size` bytes.
    unsafe {
        *p = seed;
        *p.add(size - 1) = seed ^ 0x5a;
        *p.add(size / 2) = seed.wrapping_add(1);
    }
}

fn marked(p: *const u8, size: usize, seed: u8) -> bool {
    // SAFETY: `p` is a live block of `size` bytes.
    unsafe { *p == seed && *p.add(size - 1) == seed ^ 0x5a && *p.add(size / 2) == seed.wrapping_add(1) }
}

/// `alloc` until null under refused mappings; returns the blocks.
fn fill(size: usize) -> Vec<*mut u8> {
    let l = layout(size, 8);
    let mut v = Vec::new();
    loop {
        // SAFETY: a non-zero size.
        let p = unsafe { HakMem.alloc(l) };
        if p.is_null() {
            return v;
        }
        mark(p, size, v.len() as u8);
        v.push(p);
        assert!(v.len() < 40_000_000, "{size} B: no end to the memory with every mapping refused");
    }
}

fn free_all(size: usize, v: Vec<*mut u8>) {
    for (i, p) in v.into_iter().enumerate() {
        assert!(marked(p, size, i as u8), "{size} B: block {i} changed");
        // SAFETY: a live block of this layout.
        unsafe { HakMem.dealloc(p, layout(size, 8)) };
    }
}

/// Each method once at `size`, all live at once; panics on a null.
fn every_method(size: usize) {
    let mut live: Vec<(*mut u8, Layout)> = Vec::new();
    for align in [8, 64, 4096] {
        let l = layout(size, align);
        // SAFETY: a non-zero size.
        let p = unsafe { HakMem.alloc(l) };
        assert!(!p.is_null(), "alloc({size}, align {align}) after all was freed");
        assert_eq!(p as usize % align, 0);
        live.push((p, l));
    }
    let l = layout(size, 16);
    // SAFETY: a non-zero size.
    let z = unsafe { HakMem.alloc_zeroed(l) };
    assert!(!z.is_null(), "alloc_zeroed({size}) after all was freed");
    // SAFETY: a live block of `size` bytes.
    assert!(unsafe { std::slice::from_raw_parts(z, size) }.iter().all(|&b| b == 0), "alloc_zeroed({size}) not zero");
    live.push((z, l));
    let half = layout(size / 2 + 1, 8);
    // SAFETY: a non-zero size.
    let h = unsafe { HakMem.alloc(half) };
    assert!(!h.is_null(), "alloc({}) after all was freed", size / 2 + 1);
    mark(h, size / 2 + 1, 99);
    // SAFETY: `h` is live with layout `half`.
    let r = unsafe { HakMem.realloc(h, half, size) };
    assert!(!r.is_null(), "realloc({} -> {size}) after all was freed", size / 2 + 1);
    // SAFETY: the first bytes moved with the block.
    assert_eq!(unsafe { *r }, 99, "realloc lost the content");
    live.push((r, layout(size, 8)));
    for (i, &(p, l)) in live.iter().enumerate() {
        mark(p, l.size(), i as u8 + 10);
    }
    for (i, (p, l)) in live.into_iter().enumerate() {
        assert!(marked(p, l.size(), i as u8 + 10), "{size} B: block {i} overlaps another");
        // SAFETY: live, with its layout.
        unsafe { HakMem.dealloc(p, l) };
    }
}

fn recover(size: usize) {
    // What the process had before memory ran out: blocks of this size
    // and one of each method (their pages and mappings stay with hakmem).
    every_method(size);
    let n = (BEFORE_BYTES / size).clamp(4, 100_000);
    let before: Vec<*mut u8> = (0..n)
        .map(|i| {
            // SAFETY: a non-zero size.
            let p = unsafe { HakMem.alloc(layout(size, 8)) };
            assert!(!p.is_null());
            mark(p, size, i as u8);
            p
        })
        .collect();
    free_all(size, before);
    assert!(fault::fail_map_after(0));
    let first = fill(size);
    assert!(fault::injected() >= 1, "{size} B: the null was not a refused mapping");
    let got = first.len();
    free_all(size, first);
    every_method(size);
    let again = fill(size);
    let got_again = again.len();
    free_all(size, again);
    every_method(size);
    fault::clear();
    eprintln!("{size} B: {got} blocks, {got_again} after freeing them all");
    assert!(got > 0, "{size} B: not one block");
    assert!(got_again + got_again / 16 + 2 >= got, "{size} B: {got_again} blocks the second time, {got} the first");
}

#[test]
fn after_exhaustion_every_global_alloc_method_allocates_every_size_again() {
    for size in SIZES {
        std::thread::spawn(move || recover(size)).join().unwrap();
    }
}
