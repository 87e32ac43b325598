//! Embedding the tiny tier: a `#[global_allocator]` that serves every
//! request of at most 1 KiB from hak-tiny and forwards larger ones to the
//! system allocator.
//!
//! ```sh
//! cargo run -p hak-tiny --example tiny_global
//! ```
//!
//! The tier brings its own page source (4 MiB segments mapped from the OS,
//! registered in hak-os's segment map); the embedder only keeps a heap and
//! picks a class. To stay short this example shares one [`TinyHeap`] behind
//! a lock; hakmem's router keeps one heap per thread instead, with no lock,
//! and frees blocks of other threads' pages with `hak_slab::free_remote`.
//!
//! It checks what a user of the allocator would notice and exits non-zero
//! (a failed assertion) when something is wrong: contents survive a
//! workload of many small objects on several threads, every block has the
//! requested alignment (up to 1 KiB), a freed block's page serves the next
//! request of its class, and the tier really served the small requests.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use hak_tiny::{class_of, TinyHeap, MAX_SIZE, SIZES, TINY};

/// The one heap, at a stable address (a heap's pages record its address as
/// their owner).
struct Shared(TinyHeap);

// SAFETY: the heap is only used under the mutex, so by one thread at a time;
// its pages carry no thread affinity beyond their owner token.
unsafe impl Send for Shared {}

/// A global allocator: hak-tiny for small requests, the system allocator
/// for the rest.
struct TinyFirst {
    heap: Mutex<Shared>,
    /// Requests served by the tiny tier.
    tiny: AtomicUsize,
    /// Requests forwarded to the system allocator.
    system: AtomicUsize,
}

/// The tiny class serving `layout`, if any: the smallest class that holds
/// the size and whose block size is a multiple of the alignment (blocks are
/// aligned to the largest power of two dividing their size, at least 16).
fn tiny_class(layout: Layout) -> Option<usize> {
    if layout.size() > MAX_SIZE {
        return None;
    }
    (class_of(layout.size())..SIZES.len()).find(|&c| (SIZES[c] as usize).is_multiple_of(layout.align()))
}

// SAFETY: blocks come from the tiny tier (live until freed here) or from
// `System`; `dealloc` routes a block by its layout exactly as `alloc` did.
unsafe impl GlobalAlloc for TinyFirst {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = tiny_class(layout) else {
            self.system.fetch_add(1, Ordering::Relaxed);
            // SAFETY: forwarded contract.
            return unsafe { System.alloc(layout) };
        };
        let mut heap = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        if !heap.0.is_init() {
            // The segment map is how a free finds its page; the tier
            // registers every segment it maps there.
            if !hak_os::segmap::init() {
                return std::ptr::null_mut();
            }
            heap.0.init(&TINY);
        }
        self.tiny.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the heap is initialised and used by one thread at a time
        // (the lock); `class` is one of the tier's classes.
        unsafe { heap.0.alloc(class) }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if tiny_class(layout).is_none() {
            // SAFETY: `alloc` took this block from `System` (same layout).
            return unsafe { System.dealloc(p, layout) };
        }
        let mut heap = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: `p` is a live tiny block: its segment-map entry names its
        // segment record, which names its page.
        unsafe {
            let seg = &*hak_slab::seg_of_entry(hak_os::segmap::lookup(p as usize));
            heap.0.free(seg.page_of(p as usize), p);
        }
    }
}

#[global_allocator]
static ALLOC: TinyFirst =
    TinyFirst { heap: Mutex::new(Shared(TinyHeap::uninit())), tiny: AtomicUsize::new(0), system: AtomicUsize::new(0) };

/// A small map of strings built and checked on one thread: contents
/// preserved through many allocations, frees and reallocations.
fn churn(seed: u64) -> u64 {
    let mut map = BTreeMap::new();
    let mut x = seed;
    for i in 0..20_000u64 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let key = (x >> 40) % 4096;
        let len = (x >> 20) as usize % 300;
        let value: String = std::iter::repeat_n(char::from(b'a' + (key % 26) as u8), len).collect();
        map.insert(key, (i, value));
        if i % 3 == 0 {
            map.remove(&((x >> 28) % 4096));
        }
    }
    let mut sum = 0;
    for (key, (_, value)) in &map {
        let expected = char::from(b'a' + (key % 26) as u8);
        assert!(value.chars().all(|c| c == expected), "value of key {key} was overwritten");
        sum += value.len() as u64;
    }
    sum
}

fn main() {
    // Contents: four threads each churn their own map; then one more run
    // on this thread must give the same result as the first thread's.
    let sums: Vec<u64> = (0..4).map(|t| std::thread::spawn(move || churn(t))).map(|h| h.join().unwrap()).collect();
    assert_eq!(churn(0), sums[0], "the same work gave a different result");
    println!("contents: 5 runs of 20 000 map updates on 4+1 threads, every value intact");

    // Alignment: every power of two up to 1 KiB, for sizes around it.
    let mut checked = 0;
    for shift in 0..=10 {
        let align = 1usize << shift;
        for size in [1, align / 2 + 1, align, 3 * align / 2, MAX_SIZE] {
            let layout = Layout::from_size_align(size.max(1), align).unwrap();
            // SAFETY: non-zero size; freed below with the same layout.
            let p = unsafe { std::alloc::alloc(layout) };
            assert!(!p.is_null(), "alloc({size}, {align}) failed");
            assert_eq!(p as usize % align, 0, "alloc({size}, {align}) = {p:?} is misaligned");
            // SAFETY: `p` holds `size` bytes.
            unsafe { p.write_bytes(0xA5, size) };
            // SAFETY: allocated above with `layout`.
            unsafe { std::alloc::dealloc(p, layout) };
            checked += 1;
        }
    }
    println!("alignment: {checked} blocks of 1 B to 1 KiB aligned to 1 B to 1 KiB, each as requested");

    // Reuse: the next request of a class comes from the page of the block
    // freed last (64 KiB pages): that block, or the one before it on the
    // page's free list (a freed block goes second there, so that a stale
    // free of it is caught; decision 0051).
    for size in [16, 100, 512, 1024] {
        let layout = Layout::from_size_align(size, 8).unwrap();
        // SAFETY: non-zero sizes, freed with their layout.
        unsafe {
            let p = std::alloc::alloc(layout);
            std::alloc::dealloc(p, layout);
            let q = std::alloc::alloc(layout);
            assert_eq!(
                p as usize >> 16,
                q as usize >> 16,
                "a freed {size}-byte block's page did not serve the next request of its class"
            );
            std::alloc::dealloc(q, layout);
        }
    }
    println!("reuse: the page of a freed block of 16, 100, 512 and 1024 B serves the next request");

    // Routing: the small requests really went to the tier.
    let p = Box::into_raw(Box::new([0u64; 8]));
    let entry = hak_os::segmap::lookup(p as usize);
    assert_eq!(entry & hak_os::segmap::TAG_MASK, hak_os::segmap::TAG_SLAB, "a 64-byte box is not tiny-tier memory");
    // SAFETY: from Box::into_raw above.
    drop(unsafe { Box::from_raw(p) });
    let big = vec![0u8; 4096];
    assert_eq!(hak_os::segmap::lookup(big.as_ptr() as usize), 0, "a 4 KiB vector should come from the system");
    drop(big);
    let (tiny, system) = (ALLOC.tiny.load(Ordering::Relaxed), ALLOC.system.load(Ordering::Relaxed));
    assert!(tiny > 50_000, "only {tiny} requests reached the tiny tier");
    println!(
        "routing: {tiny} requests served by hak-tiny, {system} by the system allocator; \
         {} tiny pages of {} KiB in use",
        TINY.pages_in_use(),
        TINY.page_size() >> 10
    );
    println!("tiny_global: OK");
}
