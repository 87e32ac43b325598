//! `hakmem-benches`: the workload programs hakmem is measured with.
//!
//! The workloads are ordinary C programs in `benches/c/` that call plain
//! `malloc`/`free`, so any allocator can be swapped in with `LD_PRELOAD`
//! (BENCHMARKS.md describes the method and the peers):
//!
//! - `c/larson.c`: the Larson & Krishnan server simulation
//!   (`larson seconds min_size max_size chunks_per_thread rounds seed threads`,
//!   prints `Throughput = N operations per second`).
//!
//! They are not built by Cargo: `cargo xtask bench <workload>` (and the smoke
//! step of `cargo xtask test`) compiles them on demand with `cc -O2 -pthread`
//! into `target/bench-bin/<name>`, runs them under each allocator and reports
//! the numbers. This library is intentionally empty; it exists so the package
//! can later hold Rust-side benchmarks (criterion, `GlobalAlloc` path).
