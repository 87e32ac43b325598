//! hakmem project automation, run as `cargo xtask <command>` (alias in
//! `.cargo/config.toml`). Plain Rust, std only, in the rust-analyzer style:
//! no shell scripts for anything a developer or CI runs.
//!
//! Module map:
//! - [`preload`]: `build-preload`, `preload` (the LD_PRELOAD library).
//! - [`ci`]: `test`, the exact sequence CI runs.
//! - [`bench`](mod@bench): `bench [WORKLOAD...]`: allocators x workloads, interleaved runs.
//! - [`workloads`]: the workload catalogue (programs, cases, metrics).
//! - [`peers`]: the allocators compared (Debian peers, mimalloc-latest build).
//! - [`instructions`]: instructions per malloc+free pair under callgrind.
//! - [`report`]: tables, JSON record, Markdown report, SVG chart.
//! - [`cbuild`]: builds the C workload programs of `benches/c/` on demand.
//! - [`sysinfo`]: what a benchmark record must carry (commit, rustc, CPU…).
//! - [`json`]: a minimal JSON writer and reader for the above.
//! - [`util`]: paths, command display, running with a timeout and peak RSS.

mod bench;
mod cbuild;
mod ci;
mod instructions;
mod json;
mod loom;
mod peers;
mod preload;
mod report;
mod sysinfo;
mod util;
mod workloads;

use std::process::ExitCode;

const HELP: &str = "\
hakmem project automation

usage: cargo xtask <command> [options]

commands:
  build-preload
        cargo build --release -p hakmem-cdylib, then print the absolute path of
        target/release/libhakmem.so on stdout (build output goes to stderr), so
        LD_PRELOAD=$(cargo xtask build-preload) prog   works.

  preload [--] CMD [ARGS...]
        build-preload, then run CMD with LD_PRELOAD=<libhakmem.so> (an existing
        LD_PRELOAD is kept after ours). The environment passes through, stdio is
        inherited and the exit status is CMD's (CMD replaces the xtask process).
        e.g.  HAKMEM_STATS=1 cargo xtask preload -- python3 -c 'print(sum(range(10**6)))'

  test
        everything CI runs (.ci/run), stopping at the first failure:
          1. cargo test --workspace --exclude hakmem-preload-tests, then
             HAKMEM_THREAD_CACHE_KB=0 cargo test -p hakmem
          2. build-preload
          3. cargo test --release -p hakmem-preload-tests   (env HAKMEM_SO=<abs .so>;
             skipped with a notice while tests/preload does not exist)
          4. workload smoke under LD_PRELOAD: larson (0.3 s, 1 and 4 threads)
             and every other workload of benches/c (0.1 s): exit 0, hakmem
             really preloaded, a metric line
          5. cargo xtask loom   (every loom model, LOOM_MAX_PREEMPTIONS=3)

  bench [WORKLOAD...] [--threads 1,4] [--alloc LIST] [--runs N] [--seconds S]
        [--cpus LIST] [--json FILE] [--save NAME] [--quick] [--instructions]
        build libhakmem.so (release) and the workload programs of benches/c/,
        then run each workload under every allocator, interleaved (system,
        hakmem, jemalloc, ... then again), N runs each (default 5), each run a
        separate process with that allocator's LD_PRELOAD (verified). Prints a
        progress line per run, a table per workload (median, min, max, ratio to
        system and to the best peer, peak RSS) and a summary.
          WORKLOAD     larson prodcons churn-fixed churn-mixed mid large
                       realloc-grow aligned calloc-large threads retention
                       instructions; none = all of them
          --threads    thread counts of larson, prodcons, threads (default 1,4)
          --alloc      system,hakmem,jemalloc,tcmalloc,mimalloc,mimalloc-latest
                       (default all; system always runs: it is the baseline).
                       Debian peers: apt-get install -y libjemalloc2
                       libtcmalloc-minimal4 libmimalloc2.0 (missing ones are
                       skipped); mimalloc-latest is built from the crates.io
                       package libmimalloc-sys into target/bench-bin/
          --seconds    length of a timed run (default 2; --quick: 0.25)
          --quick      smoke-test sizes: 1 run, 0.25 s, 32 MiB retention burst
          --cpus LIST  pin every run to these CPUs (taskset -c LIST, e.g. 0),
                       the same for every allocator: placement held fixed
          --json FILE  write the JSON record
          --save NAME  write docs/bench/NAME.md, NAME.svg and NAME.json
          --instructions  instructions per malloc+free pair (valgrind
                       --tool=callgrind), sizes 16 B..64 KiB
  bench --criterion [--quick] [-- CRITERION ARGS]
        cargo bench -p hakmem-benches: criterion benchmarks of the Rust
        GlobalAlloc path (hakmem::HakMem vs std System vs mimalloc::MiMalloc)

  loom [--preemptions N] [FILTER]
        loom models of the cross-thread structures (see xtask/src/loom.rs),
        release build in target/loom, LOOM_MAX_PREEMPTIONS=N (default 3)

  help
        this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("help", &[][..]),
    };
    let result = match cmd {
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        "build-preload" => preload::build_preload_cmd(rest),
        "preload" => preload::preload_cmd(rest),
        "test" => ci::test_cmd(rest),
        "bench" => bench::bench_cmd(rest),
        "loom" => loom::loom_cmd(rest),
        other => Err(format!("unknown command `{other}` (see `cargo xtask help`)")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("xtask: error: {msg}");
            ExitCode::FAILURE
        }
    }
}
