//! criterion benchmarks of the big-block tier alone, for allocator authors
//! comparing one tier: the process-wide tier's [`hak_bigcache::alloc`] /
//! [`hak_bigcache::free`] / [`hak_bigcache::realloc`] called directly, next
//! to `std::alloc::System` (glibc malloc, which maps each such block and
//! unmaps it on free) at the same sizes.
//!
//! `cargo bench -p hak-bigcache` (criterion arguments after `--`, e.g.
//! `cargo bench -p hak-bigcache -- pair`). Groups:
//! - `pair`: one allocation of 2, 8 or 32 MiB, a byte written in each
//!   4 KiB page, and its free (after the first round, a cache hit and the
//!   pages still resident: what the cache saves);
//! - `batch`: 8 such blocks, then their frees (the cache holds them all);
//! - `grow`: a 2 MiB block grown to 64 MiB in doublings, its first page
//!   written, then freed (hak-bigcache grows by `mremap`).
//!
//! The tier's cache keeps its defaults (32 entries, 256 MiB, 1 s decay).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::time::Duration;

const MIB: usize = 1 << 20;
const SIZES: &[usize] = &[2 * MIB, 8 * MIB, 32 * MIB];
const BATCH: usize = 8;

#[inline(always)]
fn big_alloc(size: usize) -> *mut u8 {
    let p = hak_bigcache::alloc(size, 16, false);
    assert!(!p.is_null());
    p
}

#[inline(always)]
fn big_free(p: *mut u8) {
    // SAFETY: a live big block; its segment-map entry is tagged TAG_BIG.
    unsafe { hak_bigcache::free(hak_os::segmap::lookup(p as usize), p) }
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 16).expect("valid layout")
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
    let mut g = c.benchmark_group("pair");
    g.throughput(Throughput::Elements(1));
    for &size in SIZES {
        g.bench_with_input(BenchmarkId::new("bigcache", size / MIB), &size, |b, &s| {
            b.iter(|| {
                let p = big_alloc(s);
                touch(p, s);
                big_free(black_box(p));
            })
        });
        let l = layout(size);
        g.bench_with_input(BenchmarkId::new("system", size / MIB), &l, |b, &l| {
            // SAFETY: non-zero layout, written in bounds, freed with it.
            b.iter(|| unsafe {
                let p = System.alloc(l);
                assert!(!p.is_null());
                touch(p, l.size());
                System.dealloc(black_box(p), l);
            })
        });
    }
    g.finish();
}

fn batches(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut ptrs = Vec::with_capacity(BATCH);
    for &size in &SIZES[..2] {
        g.bench_with_input(BenchmarkId::new("bigcache", size / MIB), &size, |b, &s| {
            b.iter(|| {
                for _ in 0..BATCH {
                    let p = big_alloc(s);
                    touch(p, s);
                    ptrs.push(p);
                }
                for p in ptrs.drain(..) {
                    big_free(black_box(p));
                }
            })
        });
        let l = layout(size);
        g.bench_with_input(BenchmarkId::new("system", size / MIB), &l, |b, &l| {
            b.iter(|| {
                // SAFETY: non-zero layout; each block written in bounds and
                // freed once with its layout.
                unsafe {
                    for _ in 0..BATCH {
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

fn grow(c: &mut Criterion) {
    let mut g = c.benchmark_group("grow");
    g.throughput(Throughput::Elements(1));
    g.bench_function("bigcache/2-64", |b| {
        b.iter(|| {
            let mut p = big_alloc(2 * MIB);
            // SAFETY: within the block.
            unsafe { p.write(1) };
            let mut size = 2 * MIB;
            while size < 64 * MIB {
                size *= 2;
                // SAFETY: a live big block owned here.
                p = unsafe { hak_bigcache::realloc(hak_os::segmap::lookup(p as usize), p, size) };
                assert!(!p.is_null());
            }
            big_free(black_box(p));
        })
    });
    g.bench_function("system/2-64", |b| {
        // SAFETY: valid layouts; realloc keeps the alignment; freed with
        // the final layout.
        b.iter(|| unsafe {
            let mut p = System.alloc(layout(2 * MIB));
            assert!(!p.is_null());
            p.write(1);
            let mut size = 2 * MIB;
            while size < 64 * MIB {
                p = System.realloc(p, layout(size), size * 2);
                assert!(!p.is_null());
                size *= 2;
            }
            System.dealloc(black_box(p), layout(size));
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! {
    name = bigcache;
    config = config();
    targets = pairs, batches, grow
}
criterion_main!(bigcache);
