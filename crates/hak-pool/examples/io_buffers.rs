//! Embedding the pool tiers: a per-thread pool of I/O buffers of 4 KiB to
//! 256 KiB over hak-pool's L2 (up to 32 KiB) and L2.5 (up to 1 MiB) tiers.
//!
//! ```sh
//! cargo run -p hak-pool --example io_buffers
//! ```
//!
//! A [`BufferPool`] owns one heap per tier (a heap is per thread and never
//! moves once it owns pages, so they are boxed). Buffers go back to their
//! pool on the owning thread ([`BufferPool::put`]); a thread without a pool
//! returns them with [`put_remote`] (one CAS onto the page's remote list),
//! and the owner collects those with [`BufferPool::collect`].
//!
//! It checks, and exits non-zero (a failed assertion) otherwise: data
//! written into buffers of every size survives the other buffers' traffic;
//! a buffer of a power-of-two size is aligned to it (4 KiB buffers are
//! page aligned, as `O_DIRECT` wants); a buffer put back is the next one
//! handed out for its size; buffers returned by another thread are reused;
//! and once every buffer is back and the pool dropped, no page is left in
//! use.

use hak_pool::{l25_class_of, l2_class_of, PoolHeap, L2, L25, L25_MAX, L25_SIZES, L2_MAX, L2_SIZES};

/// A buffer handed out by a [`BufferPool`]: `cap` usable bytes at `ptr`.
struct Buf {
    ptr: *mut u8,
    len: usize,
    cap: usize,
}

// SAFETY: a buffer is plain memory owned by whoever holds the `Buf`.
unsafe impl Send for Buf {}

impl Buf {
    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: a live block of at least `cap >= len` bytes, owned by us.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

/// A thread's pool of buffers of (1 KiB, 1 MiB].
struct BufferPool {
    l2: Box<PoolHeap>,
    l25: Box<PoolHeap>,
}

impl BufferPool {
    fn new() -> BufferPool {
        assert!(hak_os::segmap::init(), "cannot map the segment map");
        let mut l2 = Box::new(PoolHeap::uninit());
        let mut l25 = Box::new(PoolHeap::uninit());
        l2.init(&L2);
        l25.init(&L25);
        BufferPool { l2, l25 }
    }

    /// A buffer of `len` bytes, 1 KiB < `len` <= 1 MiB; `None` when out of
    /// memory.
    fn get(&mut self, len: usize) -> Option<Buf> {
        assert!(len > 1024 && len <= L25_MAX, "{len} bytes is not a pool size");
        // SAFETY: our heaps, used by this thread only; the class is the
        // tier's for this size.
        let (ptr, cap) = unsafe {
            if len <= L2_MAX {
                let c = l2_class_of(len);
                (self.l2.alloc(c), L2_SIZES[c] as usize)
            } else {
                let c = l25_class_of(len);
                (self.l25.alloc(c), L25_SIZES[c] as usize)
            }
        };
        (!ptr.is_null()).then_some(Buf { ptr, len, cap })
    }

    /// Returns a buffer on the pool's own thread.
    fn put(&mut self, buf: Buf) {
        let heap = if buf.len <= L2_MAX { &mut self.l2 } else { &mut self.l25 };
        // SAFETY: a live block of one of our tiers, found through the
        // segment map; the heap is this thread's.
        unsafe { heap.free(page_of(buf.ptr), buf.ptr) };
    }

    /// Takes back the buffers other threads returned with [`put_remote`].
    fn collect(&mut self) {
        // SAFETY: our heaps, on their thread.
        unsafe {
            self.l2.collect();
            self.l25.collect();
        }
    }
}

impl Drop for BufferPool {
    fn drop(&mut self) {
        // SAFETY: the heaps are not used again.
        unsafe {
            self.l2.abandon_all();
            self.l25.abandon_all();
        }
    }
}

/// The page descriptor of a pool block.
fn page_of(p: *mut u8) -> *mut hak_slab::Page {
    // SAFETY: slab memory's segment-map entries name their segment record.
    unsafe { (*hak_slab::seg_of_entry(hak_os::segmap::lookup(p as usize))).page_of(p as usize) }
}

/// Returns a buffer from a thread without a pool.
fn put_remote(buf: Buf) {
    // SAFETY: a live pool block, given up by its holder.
    unsafe { hak_slab::free_remote(page_of(buf.ptr), buf.ptr) };
}

/// Fills a buffer as a read would, deterministically from `seed`.
fn fill(buf: &mut Buf, seed: u8) {
    for (i, b) in buf.bytes().iter_mut().enumerate() {
        *b = seed.wrapping_add((i / 4096) as u8);
    }
}

/// Checks what [`fill`] wrote.
fn check(buf: &mut Buf, seed: u8) {
    let len = buf.len;
    for (i, b) in buf.bytes().iter().enumerate() {
        assert_eq!(*b, seed.wrapping_add((i / 4096) as u8), "byte {i} of a {len}-byte buffer changed");
    }
}

const SIZES: [usize; 7] = [4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10, 128 << 10, 256 << 10];

fn main() {
    let mut pool = BufferPool::new();

    // Contents and alignment: 16 buffers of each size in flight, written,
    // then checked after all the others were written.
    let mut bufs = Vec::new();
    for round in 0..16u8 {
        for (i, &len) in SIZES.iter().enumerate() {
            let mut b = pool.get(len).expect("out of memory");
            assert!(b.cap >= len);
            assert_eq!(b.ptr as usize % len, 0, "a {len}-byte buffer at {:?} is not aligned to its size", b.ptr);
            fill(&mut b, round.wrapping_mul(7).wrapping_add(i as u8));
            bufs.push((round.wrapping_mul(7).wrapping_add(i as u8), b));
        }
    }
    for (seed, b) in &mut bufs {
        check(b, *seed);
    }
    let total: usize = bufs.iter().map(|(_, b)| b.len).sum();
    println!(
        "contents: {} buffers of 4 KiB to 256 KiB ({} KiB) written and intact; each aligned to its size",
        bufs.len(),
        total >> 10
    );
    println!(
        "pages in use: L2 {} of {} KiB, L2.5 {} of {} KiB",
        L2.pages_in_use(),
        L2.page_size() >> 10,
        L25.pages_in_use(),
        L25.page_size() >> 10
    );

    // Reuse: the page of a buffer put back serves the next one of its size
    // (that buffer, or the one before it on the page's free list: a freed
    // block goes second there, so that a stale put is caught; decision 0051).
    for &len in &SIZES {
        let b = pool.get(len).unwrap();
        let p = b.ptr;
        pool.put(b);
        let again = pool.get(len).unwrap();
        let page = if len <= 32 << 10 { L2.page_size() } else { L25.page_size() };
        assert_eq!(
            again.ptr as usize / page,
            p as usize / page,
            "a returned {len}-byte buffer's page did not serve the next one"
        );
        pool.put(again);
    }
    println!("reuse: the page of a buffer put back serves the next one handed out, for every size");

    // Cross-thread returns: a worker consumes every buffer and returns it
    // without a pool. Pages whose last buffer it returns go back to the
    // tier at once; the rest wait on their page's remote list until the
    // owner collects. The next round is served from those pages.
    let peak = (L2.pages_in_use(), L25.pages_in_use());
    let worker = std::thread::spawn(move || {
        for (seed, mut b) in bufs {
            check(&mut b, seed);
            put_remote(b);
        }
    });
    worker.join().expect("worker failed");
    pool.collect();
    let after = (L2.pages_in_use(), L25.pages_in_use());
    assert!(
        after.0 < peak.0 && after.1 < peak.1,
        "pages in use {after:?} after every buffer came back (peak {peak:?})"
    );
    let mut again = Vec::new();
    for _ in 0..16 {
        for &len in &SIZES {
            let mut b = pool.get(len).unwrap();
            fill(&mut b, len as u8);
            again.push(b);
        }
    }
    let second = (L2.pages_in_use(), L25.pages_in_use());
    assert!(
        second.0 <= peak.0 && second.1 <= peak.1,
        "the same buffers again needed {second:?} pages, more than {peak:?}: memory returned by another thread was \
         not reused"
    );
    println!(
        "remote returns: 112 buffers returned by another thread; pages in use fell to {after:?}, and 112 new \
         buffers fit in {second:?} pages again"
    );

    // Everything back: no page stays in use once the pool is gone.
    for mut b in again {
        let seed = b.len as u8;
        check(&mut b, seed);
        pool.put(b);
    }
    drop(pool);
    assert_eq!(L2.pages_in_use(), 0, "L2 pages still in use after every buffer came back");
    assert_eq!(L25.pages_in_use(), 0, "L2.5 pages still in use after every buffer came back");
    println!("release: every page returned to the tiers (L2 and L2.5 pages in use: 0)");
    println!("io_buffers: OK");
}
