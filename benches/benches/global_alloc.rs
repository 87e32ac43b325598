//! criterion benchmarks of the Rust `GlobalAlloc` path: `hakmem::HakMem`
//! against `std::alloc::System` (glibc malloc) and `mimalloc::MiMalloc` (the
//! `mimalloc` crate, which builds its own mimalloc from `libmimalloc-sys`).
//!
//! Run with `cargo bench -p hakmem-benches` (or `cargo xtask bench --criterion`).
//! Arguments after `--` go to criterion, e.g. a filter:
//! `cargo bench -p hakmem-benches -- pair/hakmem`.
//!
//! Groups, each over sizes 16 B .. 1 MiB:
//! - `pair`: one `alloc` + `dealloc` of the same layout (the same-thread fast
//!   path when the allocator caches the block).
//! - `batch`: allocate a batch of blocks (100, fewer for big sizes so that a
//!   batch stays <= 64 MiB), writing a byte in each, then free them in
//!   allocation order; time per batch, throughput in blocks.
//!
//! The allocators are called directly (the benchmark binary itself runs on
//! std's default allocator), so all three see exactly the same requests.
//! Sample times are kept short (0.5 s warm-up, 1 s measurement): numbers are
//! for comparing allocators within one run, as everything in BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::time::Duration;

static HAKMEM: hakmem::HakMem = hakmem::HakMem;
static MIMALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SIZES: &[usize] = &[16, 64, 256, 1024, 4096, 65536, 1 << 20];
const BATCH: usize = 100;
const BATCH_BYTES_MAX: usize = 64 << 20;

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).expect("valid layout")
}

#[inline(always)]
fn pair<A: GlobalAlloc>(a: &A, l: Layout) {
    // SAFETY: non-zero size layout; the block is freed with the same layout.
    unsafe {
        let p = a.alloc(l);
        assert!(!p.is_null());
        black_box(p);
        a.dealloc(p, l);
    }
}

#[inline(always)]
fn batch<A: GlobalAlloc>(a: &A, l: Layout, ptrs: &mut Vec<*mut u8>, n: usize) {
    // SAFETY: as above; every block is written inside its bounds and freed once.
    unsafe {
        for _ in 0..n {
            let p = a.alloc(l);
            assert!(!p.is_null());
            p.write(1);
            ptrs.push(p);
        }
        for p in ptrs.drain(..) {
            a.dealloc(black_box(p), l);
        }
    }
}

fn pairs(c: &mut Criterion) {
    let mut g = c.benchmark_group("pair");
    for &size in SIZES {
        let l = layout(size);
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::new("hakmem", size), &l, |b, &l| b.iter(|| pair(&HAKMEM, l)));
        g.bench_with_input(BenchmarkId::new("system", size), &l, |b, &l| b.iter(|| pair(&System, l)));
        g.bench_with_input(BenchmarkId::new("mimalloc", size), &l, |b, &l| b.iter(|| pair(&MIMALLOC, l)));
    }
    g.finish();
}

fn batches(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch");
    for &size in SIZES {
        let l = layout(size);
        let n = BATCH.min(BATCH_BYTES_MAX / size).max(1);
        let mut ptrs = Vec::with_capacity(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("hakmem", size), &l, |b, &l| b.iter(|| batch(&HAKMEM, l, &mut ptrs, n)));
        g.bench_with_input(BenchmarkId::new("system", size), &l, |b, &l| b.iter(|| batch(&System, l, &mut ptrs, n)));
        g.bench_with_input(BenchmarkId::new("mimalloc", size), &l, |b, &l| {
            b.iter(|| batch(&MIMALLOC, l, &mut ptrs, n))
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
    name = global_alloc;
    config = config();
    targets = pairs, batches
}
criterion_main!(global_alloc);
