//! hakmem project automation, run as `cargo xtask <command>` (alias in
//! `.cargo/config.toml`). Plain Rust, std only, in the rust-analyzer style:
//! no shell scripts for anything a developer or CI runs.
//!
//! Module map:
//! - [`preload`]: `build-preload`, `preload` (the LD_PRELOAD library).
//! - [`ci`]: `test`, the exact sequence CI runs.
//! - [`bench`]: `bench <workload>`: allocators x workloads, interleaved runs.
//! - [`cbuild`]: builds the C workload programs of `benches/c/` on demand.
//! - [`sysinfo`]: what a benchmark record must carry (commit, rustc, CPU…).
//! - [`util`]: paths, command display, running with a timeout.

mod bench;
mod cbuild;
mod ci;
mod preload;
mod sysinfo;
mod util;

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
          1. cargo test --workspace --exclude hakmem-preload-tests
          2. build-preload
          3. cargo test --release -p hakmem-preload-tests   (env HAKMEM_SO=<abs .so>;
             skipped with a notice while tests/preload does not exist)
          4. larson smoke under LD_PRELOAD (0.3 s, 1 and 4 threads): exit 0 and a
             Throughput line

  bench larson [--runs N] [--threads LIST] [--seconds S]
        build libhakmem.so and benches/c/larson.c, run larson under the system
        allocator and under hakmem (LD_PRELOAD), interleaved, N runs each
        (default 5), threads LIST (default 1,4), S seconds per run (default 2);
        print median/min/max throughput, the ratio to system, the exact command
        lines and the machine/toolchain record.

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
        other => Err(format!(
            "unknown command `{other}` (see `cargo xtask help`)"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("xtask: error: {msg}");
            ExitCode::FAILURE
        }
    }
}
