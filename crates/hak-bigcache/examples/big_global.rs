//! Embedding the big-block tier: a `#[global_allocator]` that takes every
//! block of more than 1 MiB from hak-bigcache and leaves smaller ones to the
//! system allocator.
//!
//! ```sh
//! cargo run -p hak-bigcache --example big_global
//! ```
//!
//! Each big block is its own mapping; a freed one is kept in a bounded
//! cache and handed to the next big request that fits, so a program that
//! allocates and frees large buffers in a loop maps memory once instead of
//! every time. Growing a big block (`Vec::reserve`, `realloc`) moves it by
//! `mremap`: no bytes are copied.
//!
//! It checks, and exits non-zero (a failed assertion) otherwise: repeated
//! large allocations are served from the cache (hits, one mapping); data
//! survives growth by remapping; a zeroed request is zero even when it
//! reuses a dirty mapping; cached memory is purged after the decay interval
//! (resident memory falls) and `trim` unmaps it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::Ordering;

use hak_bigcache::STATS;

/// A global allocator: hak-bigcache above 1 MiB, the system allocator below.
struct BigOnly;

/// Whether a block of `layout` is (or would be) a big block.
fn is_big(layout: Layout) -> bool {
    layout.size() >= hak_bigcache::MIN_SIZE
}

// SAFETY: big blocks come from hak-bigcache (live until freed here), small
// ones from `System`; a block is routed by its layout's size, the same in
// `alloc` and `dealloc` (and `realloc` keeps that rule for the new size).
unsafe impl GlobalAlloc for BigOnly {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_big(layout) {
            return hak_bigcache::alloc(layout.size(), layout.align(), false);
        }
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_big(layout) {
            // Fresh mappings are zero already; reused ones are cleared only
            // where they were written.
            return hak_bigcache::alloc(layout.size(), layout.align(), true);
        }
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if is_big(layout) {
            // SAFETY: a live big block; its segment-map entry is tagged TAG_BIG.
            return unsafe { hak_bigcache::free(hak_os::segmap::lookup(p as usize), p) };
        }
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(p, layout) }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `new_size` with `layout`'s alignment is a valid layout
        // (GlobalAlloc::realloc's contract).
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if is_big(layout) && is_big(new) && layout.align() <= 16 {
            // In place, or moved by mremap: page tables move, bytes do not.
            // SAFETY: a live big block owned by the caller.
            return unsafe { hak_bigcache::realloc(hak_os::segmap::lookup(p as usize), p, new_size) };
        }
        if !is_big(layout) && !is_big(new) {
            // SAFETY: forwarded contract.
            return unsafe { System.realloc(p, layout, new_size) };
        }
        // Crossing the threshold: allocate, copy, free.
        // SAFETY: forwarded contract; both blocks hold min(old, new) bytes.
        unsafe {
            let q = self.alloc(new);
            if !q.is_null() {
                std::ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                self.dealloc(p, layout);
            }
            q
        }
    }
}

#[global_allocator]
static ALLOC: BigOnly = BigOnly;

const MIB: usize = 1 << 20;

/// Resident memory of this process (`/proc/self/statm`), in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).and_then(|f| f.parse().ok()).expect("statm's resident field");
    pages * 4096
}

fn stat(counter: &std::sync::atomic::AtomicUsize) -> usize {
    counter.load(Ordering::Relaxed)
}

fn main() {
    // Purge cached mappings not reused within 100 ms (default 1 s).
    hak_bigcache::configure(true, 32, 256 * MIB, 100, false);

    // Cache hits: the same 8 MiB buffer size 200 times maps memory once.
    let (hits0, maps0) = (stat(&STATS.cache_hits), stat(&STATS.maps));
    let mut sum = 0u64;
    for i in 0..200u64 {
        let mut buf = Vec::<u64>::with_capacity(MIB);
        buf.extend((0..MIB as u64).step_by(512).map(|x| x ^ i));
        sum = sum.wrapping_add(buf.iter().sum::<u64>());
    }
    let (hits, maps) = (stat(&STATS.cache_hits) - hits0, stat(&STATS.maps) - maps0);
    assert!(hits >= 199, "200 allocations of 8 MiB: only {hits} cache hits");
    assert!(maps <= 1, "200 allocations of 8 MiB made {maps} mappings");
    println!("cache: 200 allocations of 8 MiB: {hits} cache hits, {maps} fresh mapping(s) (checksum {sum:x})");

    // Growth by remapping: a vector grown from 2 MiB to 128 MiB keeps its
    // contents, and the big steps are remaps, not copies.
    let remaps0 = stat(&STATS.remaps);
    let mut v: Vec<u32> = Vec::with_capacity(MIB / 2);
    for i in 0..(32 * MIB) as u32 {
        v.push(i.wrapping_mul(2654435761));
    }
    assert!(v.iter().enumerate().all(|(i, &x)| x == (i as u32).wrapping_mul(2654435761)), "contents lost in growth");
    let remaps = stat(&STATS.remaps) - remaps0;
    assert!(remaps >= 5, "growing 2 MiB to 128 MiB took only {remaps} remaps");
    println!("growth: a Vec<u32> grown from 2 MiB to 128 MiB by {remaps} in-place or mremap steps, contents intact");
    drop(v);

    // Zeroed reuse: a zeroed request served from a dirty cached mapping is zero.
    let mut dirty = vec![0xFFu8; 16 * MIB];
    dirty[16 * MIB - 1] = 1;
    drop(dirty);
    let hits0 = stat(&STATS.cache_hits);
    let zeroed = vec![0u8; 16 * MIB];
    assert!(stat(&STATS.cache_hits) > hits0, "the zeroed request did not reuse the cached mapping");
    assert!(zeroed.iter().all(|&b| b == 0), "a zeroed block from the cache holds old bytes");
    println!("zeroing: a 16 MiB vec![0; n] reused a dirty cached mapping and reads all zero");
    drop(zeroed);

    // Decay: cached mappings stay resident until the decay interval
    // passes; a purge then returns their pages, and trim unmaps them.
    let blocks: Vec<Vec<u8>> = (0..4).map(|i| vec![i as u8 + 1; 32 * MIB]).collect();
    drop(blocks);
    let (entries, bytes) = hak_bigcache::cached();
    let before = rss();
    std::thread::sleep(std::time::Duration::from_millis(300));
    hak_bigcache::decay();
    let after = rss();
    assert!(before - after.min(before) >= 64 * MIB, "decay returned only {} KiB", (before.saturating_sub(after)) >> 10);
    println!(
        "decay: {entries} cached mappings ({} MiB); resident memory {} MiB -> {} MiB after 300 ms and a decay pass",
        bytes / MIB,
        before / MIB,
        after / MIB
    );
    let unmaps0 = stat(&STATS.unmaps);
    hak_bigcache::trim();
    assert_eq!(hak_bigcache::cached(), (0, 0), "trim left mappings cached");
    assert!(stat(&STATS.unmaps) - unmaps0 >= entries, "trim unmapped fewer mappings than were cached");
    println!("trim: every cached mapping unmapped ({entries} of them); live big blocks: {}", hak_bigcache::live());
    println!("big_global: OK");
}
