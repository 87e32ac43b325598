//! criterion benchmarks of the pool tiers alone, for allocator authors
//! comparing one tier: a [`PoolHeap`] of [`L2`] (1 to 32 KiB) or [`L25`]
//! (32 KiB to 1 MiB) called directly, next to `std::alloc::System` (glibc
//! malloc, which maps blocks above its mmap threshold) at the same sizes.
//!
//! `cargo bench -p hak-pool` (criterion arguments after `--`, e.g.
//! `cargo bench -p hak-pool -- batch/pool`). Groups, sizes 2 KiB to 1 MiB:
//! - `pair`: one allocation and its free (the owner's fast paths);
//! - `batch`: 100 allocations (fewer above 256 KiB, so a batch stays within
//!   64 MiB), a byte written in each page of each, then the frees in
//!   allocation order.
//!
//! No thread cache: hakmem's router adds one in front of the tiers (see the
//! `hakmem-benches` package for the whole allocator).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hak_pool::{l25_class_of, l2_class_of, PoolHeap, L2, L25, L2_MAX};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::time::Duration;

const SIZES: &[usize] = &[2 << 10, 8 << 10, 32 << 10, 64 << 10, 256 << 10, 1 << 20];
const BATCH: usize = 100;
const BATCH_BYTES_MAX: usize = 64 << 20;

/// This thread's heaps of L2 and L2.5 (leaked: a heap never moves once it
/// owns pages).
struct Heaps {
    l2: &'static mut PoolHeap,
    l25: &'static mut PoolHeap,
}

impl Heaps {
    fn new() -> Heaps {
        assert!(hak_os::segmap::init());
        let l2 = Box::leak(Box::new(PoolHeap::uninit()));
        let l25 = Box::leak(Box::new(PoolHeap::uninit()));
        l2.init(&L2);
        l25.init(&L25);
        Heaps { l2, l25 }
    }

    #[inline(always)]
    fn alloc(&mut self, size: usize) -> *mut u8 {
        // SAFETY: initialised heaps of this thread; the class is the tier's
        // for this size.
        let p = unsafe {
            if size <= L2_MAX {
                self.l2.alloc(l2_class_of(size))
            } else {
                self.l25.alloc(l25_class_of(size))
            }
        };
        assert!(!p.is_null());
        p
    }

    #[inline(always)]
    fn free(&mut self, p: *mut u8, size: usize) {
        let h = if size <= L2_MAX { &mut *self.l2 } else { &mut *self.l25 };
        // SAFETY: a live block of this heap's tier: its segment-map entry
        // names its segment record.
        unsafe {
            let seg = &*hak_slab::seg_of_entry(hak_os::segmap::lookup(p as usize));
            h.free(seg.page_of(p as usize), p);
        }
    }
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).expect("valid layout")
}

/// Writes one byte in every 4 KiB of a block of `size` bytes.
#[inline(always)]
fn touch(p: *mut u8, size: usize) {
    for off in (0..size).step_by(4096) {
        // SAFETY: within the block.
        unsafe { p.add(off).write(1) };
    }
}

fn pairs(c: &mut Criterion) {
    let mut h = Heaps::new();
    let mut g = c.benchmark_group("pair");
    g.throughput(Throughput::Elements(1));
    for &size in SIZES {
        g.bench_with_input(BenchmarkId::new("pool", size), &size, |b, &s| {
            b.iter(|| {
                let p = h.alloc(s);
                h.free(black_box(p), s)
            })
        });
        let l = layout(size);
        g.bench_with_input(BenchmarkId::new("system", size), &l, |b, &l| {
            // SAFETY: non-zero layout, freed with the same layout.
            b.iter(|| unsafe { System.dealloc(black_box(System.alloc(l)), l) })
        });
    }
    g.finish();
}

fn batches(c: &mut Criterion) {
    let mut h = Heaps::new();
    let mut ptrs = Vec::with_capacity(BATCH);
    let mut g = c.benchmark_group("batch");
    for &size in SIZES {
        let n = BATCH.min(BATCH_BYTES_MAX / size);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("pool", size), &size, |b, &s| {
            b.iter(|| {
                for _ in 0..n {
                    let p = h.alloc(s);
                    touch(p, s);
                    ptrs.push(p);
                }
                for p in ptrs.drain(..) {
                    h.free(black_box(p), s);
                }
            })
        });
        let l = layout(size);
        g.bench_with_input(BenchmarkId::new("system", size), &l, |b, &l| {
            b.iter(|| {
                // SAFETY: non-zero layout; each block written in bounds and
                // freed once with its layout.
                unsafe {
                    for _ in 0..n {
                        let p = System.alloc(l);
                        assert!(!p.is_null());
                        touch(p, l.size());
                        ptrs.push(p);
                    }
                    for p in ptrs.drain(..) {
                        System.dealloc(black_box(p), l);
                    }
                }
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30)
}

criterion_group! {
    name = pool;
    config = config();
    targets = pairs, batches
}
criterion_main!(pool);
