//! `hakmem-benches`: the workload programs hakmem is measured with, and the
//! criterion benchmarks of its Rust `GlobalAlloc` path.
//!
//! The workloads are ordinary C programs in `benches/c/` that call plain
//! `malloc`/`free` (and `realloc`, `calloc`, `posix_memalign`, ...), so any
//! allocator can be swapped in with `LD_PRELOAD` and every allocator does the
//! same work (BENCHMARKS.md describes the method and the peers):
//!
//! | program | what it measures |
//! |:---|:---|
//! | `c/larson.c` | Larson & Krishnan server simulation (`seconds min max chunks rounds seed threads`) |
//! | `c/prodcons.c` | producer/consumer: malloc in one thread, free in another (`seconds threads seed`) |
//! | `c/churn-fixed.c` | same-thread churn of fixed sizes 16..1024 B (`seconds seed`) |
//! | `c/churn-mixed.c` | same-thread churn of mixed sizes 8 B..4 KiB over a live set (`seconds seed`) |
//! | `c/mid.c` | churn of 2 KiB..1 MiB blocks, every page written (`seconds seed`) |
//! | `c/large.c` | malloc/touch/free of 1..16 MiB (`seconds seed`) |
//! | `c/realloc-grow.c` | buffers grown by realloc from 16 B to MiBs (`seconds seed`) |
//! | `c/aligned.c` | posix_memalign/aligned_alloc, alignments 16..4096 (`seconds seed`) |
//! | `c/calloc-large.c` | calloc of 1..64 MiB zeroed buffers (`seconds seed`) |
//! | `c/threads.c` | short-lived threads allocating a little (`seconds concurrency seed`) |
//! | `c/retention.c` | RSS kept after a freed burst (`variant burst_mib light_seconds seed`) |
//! | `c/pairs.c` | N malloc/free pairs, for callgrind instruction counts (`size n`) |
//!
//! `c/bench.h` holds what they share: the PRNG, timing, RSS from
//! `/proc/self/statm`, and `bench_allocator_check()`, which prints
//! `allocator-check: <allocator> <version>` first so that a run that lost its
//! preload library is detected. Each program prints one metric line
//! (`Throughput = N ...` or `Retained = P ...`).
//!
//! They are not built by Cargo: `cargo xtask bench` (and the smoke step of
//! `cargo xtask test`) compiles them on demand with `cc -O2 -pthread` into
//! `target/bench-bin/<name>`, runs them under each allocator and reports the
//! numbers.
//!
//! The criterion benchmarks are `benches/global_alloc.rs`
//! (`cargo bench -p hakmem-benches`). This library itself is empty and has no
//! tests, so that `cargo test --workspace` does not compile the benchmarks'
//! dev-dependencies (criterion, mimalloc).
