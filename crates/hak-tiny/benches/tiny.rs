//! criterion benchmarks of the tiny tier alone, for allocator authors
//! comparing one tier: a [`TinyHeap`] of [`TINY`] called directly (class
//! lookup, the page free list, the segment-map lookup on free), next to
//! `std::alloc::System` (glibc malloc) at the same sizes.
//!
//! `cargo bench -p hak-tiny` (criterion arguments after `--`, e.g.
//! `cargo bench -p hak-tiny -- pair/tiny`). Groups, sizes 16 B to 1 KiB:
//! - `pair`: one allocation and its free (the owner's fast paths);
//! - `batch`: 1000 allocations, a byte written in each, then 1000 frees in
//!   allocation order (carving, page changes, the free path's page walk).
//!
//! No thread cache: hakmem's router adds one in front of the tier (see the
//! `hakmem-benches` package for the whole allocator).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hak_tiny::{class_of, TinyHeap, TINY};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::time::Duration;

const SIZES: &[usize] = &[16, 64, 256, 1024];
const BATCH: usize = 1000;

/// This thread's heap of the tiny tier (leaked: a heap never moves once it
/// owns pages).
fn heap() -> &'static mut TinyHeap {
    assert!(hak_os::segmap::init());
    let h = Box::leak(Box::new(TinyHeap::uninit()));
    h.init(&TINY);
    h
}

#[inline(always)]
fn tiny_alloc(h: &mut TinyHeap, size: usize) -> *mut u8 {
    // SAFETY: an initialised heap of this thread; a class of the tier.
    let p = unsafe { h.alloc(class_of(size)) };
    assert!(!p.is_null());
    p
}

#[inline(always)]
fn tiny_free(h: &mut TinyHeap, p: *mut u8) {
    // SAFETY: a live block of this heap's tier: its segment-map entry names
    // its segment record.
    unsafe {
        let seg = &*hak_slab::seg_of_entry(hak_os::segmap::lookup(p as usize));
        h.free(seg.page_of(p as usize), p);
    }
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).expect("valid layout")
}

fn pairs(c: &mut Criterion) {
    let h = heap();
    let mut g = c.benchmark_group("pair");
    g.throughput(Throughput::Elements(1));
    for &size in SIZES {
        g.bench_with_input(BenchmarkId::new("tiny", size), &size, |b, &s| {
            b.iter(|| {
                let p = tiny_alloc(h, s);
                tiny_free(h, black_box(p))
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
    let h = heap();
    let mut ptrs = Vec::with_capacity(BATCH);
    let mut g = c.benchmark_group("batch");
    g.throughput(Throughput::Elements(BATCH as u64));
    for &size in SIZES {
        g.bench_with_input(BenchmarkId::new("tiny", size), &size, |b, &s| {
            b.iter(|| {
                for _ in 0..BATCH {
                    let p = tiny_alloc(h, s);
                    // SAFETY: a live block of at least `s >= 1` bytes.
                    unsafe { p.write(1) };
                    ptrs.push(p);
                }
                for p in ptrs.drain(..) {
                    tiny_free(h, black_box(p));
                }
            })
        });
        let l = layout(size);
        g.bench_with_input(BenchmarkId::new("system", size), &l, |b, &l| {
            b.iter(|| {
                // SAFETY: non-zero layout; each block written in bounds and
                // freed once with its layout.
                unsafe {
                    for _ in 0..BATCH {
                        let p = System.alloc(l);
                        assert!(!p.is_null());
                        p.write(1);
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
    name = tiny;
    config = config();
    targets = pairs, batches
}
criterion_main!(tiny);
