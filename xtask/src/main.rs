//! hakmem project automation, run as `cargo xtask <command>` (alias in
//! `.cargo/config.toml`). Plain Rust, std only, in the rust-analyzer style:
//! no shell scripts for anything a developer or CI runs.
//!
//! Module map, by layer (a module imports only modules of lower layers, so
//! the module graph has no cycle; [`LAYERS`] lists them and a test checks
//! every `crate::` path of the non-test code against it):
//! 0. [`util`]: paths, command display, running with a timeout and peak RSS;
//!    [`json`]: a minimal JSON writer and reader.
//! 1. [`model`]: the shared types of `bench` and its reports (allocator,
//!    workload, case, metric, outcomes, judging a run, number formats);
//!    [`cbuild`]: builds the C workload programs of `benches/c/` on demand;
//!    [`preload`]: `build-preload`, `preload` (the LD_PRELOAD library);
//!    [`loom`]: `loom`, the loom models.
//! 2. [`sysinfo`]: what a benchmark record must carry (commit, rustc, CPU…);
//!    [`workloads`]: the workload catalogue (programs, cases, metrics);
//!    [`dist`]: `dist` (target/dist/ with pkg-config) and the tier crates'
//!    examples and benches in CI; [`peers_src`]: the peers built from
//!    sources vendored by crates.io packages (snmalloc, rpmalloc).
//! 3. [`peers`]: the allocators compared (Debian peers, the built ones);
//!    [`instructions`]: instructions per malloc+free pair under callgrind;
//!    [`matrix`]: the tables of `features`; above it, alone, [`sweep`]: its
//!    `--sweep` (configurations and table).
//! 4. [`options`]: `bench`'s command line; [`report_also`]: the tables and
//!    JSON of a workload's further measures (e.g. `Steady RSS`).
//! 5. [`report`]: the session record; tables, JSON, Markdown, SVG chart.
//! 6. [`bench`](mod@bench): `bench [WORKLOAD...]`: allocators x workloads,
//!    interleaved runs; [`ci`]: `test`, the exact sequence CI runs.
//! 7. [`larson_cost`]: `features --cost`, larson's cost of each
//!    configuration, every run bracketed by runs of minimal.

mod bench;
mod cbuild;
mod ci;
mod configs;
mod dist;
mod features;
mod features_options;
mod features_report;
mod instructions;
mod json;
mod larson_cost;
mod loom;
mod matrix;
mod model;
mod options;
mod peers;
mod peers_src;
mod preload;
mod report;
mod report_also;
mod sweep;
mod sysinfo;
mod util;
mod workloads;

use std::process::ExitCode;

/// The modules by layer, lowest first: each imports only modules of earlier
/// layers (checked by the test `modules_import_only_lower_layers`).
#[cfg_attr(not(test), allow(dead_code))]
const LAYERS: &[&[&str]] = &[
    &["util", "json"],
    &["model", "cbuild", "preload", "loom"],
    &["sysinfo", "workloads", "configs", "dist", "peers_src"],
    &["peers", "instructions", "matrix"],
    &["sweep"],
    &["options", "features_options", "report_also"],
    &["report", "features_report"],
    &["bench", "ci"],
    &["larson_cost"],
    &["features"],
];

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
          1. gates: cargo fmt --check, cargo clippy -D warnings (workspace,
             then hakmem-cdylib alone), cargo doc with warnings denied
          2. cargo test --workspace (without the preload and security suites),
             then HAKMEM_THREAD_CACHE_KB=0 cargo test -p hakmem, the tier
             crates' examples and `cargo bench --no-run`
          3. build-preload
          4. cargo test --release -p hakmem-preload-tests   (env HAKMEM_SO=<abs .so>)
          5. cargo test --release -p hakmem-security-tests  (misuse cases under
             glibc and hakmem, docs/security.md)
          6. workload smoke under LD_PRELOAD: larson (0.3 s, 1 and 4 threads)
             and every other workload of benches/c (0.1 s): exit 0, hakmem
             really preloaded, a metric line
          7. cargo xtask loom   (every loom model, LOOM_MAX_PREEMPTIONS=3)

  dist
        build target/dist/: lib/libhakmem.so (SONAME libhakmem.so.0.MINOR),
        lib/libhakmem.a, include/hakmem.h, lib/pkgconfig/hakmem.pc and a
        README (how to link with pkg-config, how to preload); prints its path

  bench [WORKLOAD...] [--threads 1,4] [--alloc LIST] [--extra NAME=PATH]...
        [--runs N] [--seconds S] [--cpus LIST] [--json FILE] [--save NAME]
        [--quick] [--instructions]
        build libhakmem.so (release) and the workload programs of benches/c/,
        then run each workload under every allocator, interleaved (system,
        hakmem, jemalloc, ... then again, the order rotated by one each
        round), N runs each (default 5), each run a
        separate process with that allocator's LD_PRELOAD (verified). Prints a
        progress line per run, a table per workload (median, min, max, ratio to
        system and to the best peer, peak RSS) and a summary.
          WORKLOAD     larson prodcons churn-fixed churn-mixed mid large
                       realloc-grow aligned calloc-large threads retention
                       burst-idle phases sites table remote handoff mixed32
                       midphases reclaim instructions; none = all of them
                       (docs/bench/README.md describes each)
          --threads    thread counts of larson, prodcons, threads (default 1,4);
                       remote (2,4,8), handoff (8,32) and mixed32 (32) run at
                       their own counts, reclaim with 4 producers + 1 reclaimer
          --alloc      system,hakmem,jemalloc,tcmalloc,mimalloc,mimalloc-latest,
                       snmalloc,rpmalloc (default all; system always runs: it
                       is the baseline).
                       Debian peers: apt-get install -y libjemalloc2
                       libtcmalloc-minimal4 libmimalloc2.0 (missing ones are
                       skipped); mimalloc-latest, snmalloc and rpmalloc are
                       built into target/bench-bin/ from the sources vendored
                       by the crates.io packages libmimalloc-sys, snmalloc-sys
                       0.7.6 and rpmalloc-sys 0.2.3 (fetched with cargo;
                       snmalloc is C++20: apt-get install -y g++, or $CXX)
          --extra NAME=PATH  one more allocator, the preload library PATH
                       (repeatable), e.g. another build of hakmem:
                         --extra hakmem-base=../base/target/release/libhakmem.so
                       NAME is new ([A-Za-z0-9._-], not one of --alloc's).
                       PATH is copied to target/bench-bin/extra-NAME.so
                       first; the record holds PATH, size, mtime and sha256.
                       Runs interleaved after the peers and is verified like
                       them: its probe's allocator-check (e.g. `hakmem` for a
                       hakmem build) must not be `system` and every run must
                       name the same allocator. A hakmem build gets the
                       HAKMEM_* variables in effect, as hakmem does. Tables
                       show it like a peer but it is never the best peer;
                       the summary adds a column hakmem ÷ NAME
          --seconds    length of a timed run (default 2; --quick: 0.25)
          --quick      smoke-test sizes: 1 run, 0.25 s, 32 MiB retention burst,
                       midphases 16 MiB live, reclaim 100,000 replacements
          --cpus LIST  pin every run to these CPUs (taskset -c LIST, e.g. 0),
                       the same for every allocator: placement held fixed
          --json FILE  write the JSON record
          --save NAME  write docs/bench/NAME.md, NAME.svg and NAME.json
          --instructions  instructions per malloc+free pair (valgrind
                       --tool=callgrind), sizes 16 B..64 KiB
  bench --criterion [--quick] [-- CRITERION ARGS]
        cargo bench -p hakmem-benches: criterion benchmarks of the Rust
        GlobalAlloc path (hakmem::HakMem vs std System vs mimalloc::MiMalloc)

  features [--runs N] [--seconds S] [--quick] [--only CONFIG,...]
        [--workloads W,...] [--save NAME] [--json FILE]
        [--sweep | --cost [--base PATH]]
        the per-feature cost matrix (issue 16): hakmem's libhakmem.so (release,
        one copy for every run) under each configuration, and the system
        allocator as baseline, interleaved like bench (same runner, same
        allocator check, same records), N runs each (default 5):
          configurations  system; every mode (HAKMEM_MODE=minimal fast balanced
                       learning research); every feature alone on top of
                       minimal: minimal+F (HAKMEM_F=1) for a feature minimal
                       leaves off (THP ELO SITE_RULES), minimal-F (HAKMEM_F=0)
                       for one it turns on (BIGCACHE BATCH_MADVISE), whose
                       worth shows as the loss without it. The list follows
                       hak-config's mode table; each run sets its
                       configuration's variables and removes the other mode
                       and feature switches; every configuration's features
                       are checked with HAKMEM_VERBOSE=1 before any run
          workloads    larson (1 and 4 threads, reference args); large
                       (BIGCACHE); table (THP: random accesses over 1 GiB of
                       heap tables); burst-idle (BATCH_MADVISE: burst
                       throughput, and `Retained` after idle); phases (ELO:
                       churn throughput, and `Rare RSS`, the rare phases'
                       mean RSS); sites (SITE_RULES: peak RSS)
        Prints a matrix per workload (median, min, max, ÷ minimal, ÷ system,
        peak RSS and its ratio to minimal's, the workload's other measures),
        a feature summary (larson 1T and 4T cost, gain on the feature's own
        workload; PASS: cost <= 2 % on both and gain >= 20 %) and a mode
        summary (against minimal; default candidate: larson cost <= 2 %,
        no own workload worse by more than 2 %, one better by more than 2 %)
          --runs N     rounds (default 5; --quick: 1)
          --seconds S  length of a timed run (default 2; --quick: 0.25)
          --quick      smoke sizes: burst-idle bursts 32 MiB, idles 0.2 s
          --only LIST  only these configurations, e.g. balanced,minimal+THP
                       (minimal, the reference, and system always run)
          --workloads LIST  only these of larson,large,burst-idle,phases,sites,
                       table
          --save NAME  write docs/bench/NAME.md, NAME.svg and NAME.json
          --json FILE  write the JSON record (schema hakmem-features/1)
          --sweep      instead: `phases` under minimal with every fixed
                       setting of ELO's knobs (HAKMEM_BIGCACHE_ENTRIES 8..64
                       x HAKMEM_DECAY_MS 50..1500, entries 0 and 2, each
                       HAKMEM_THREAD_CACHE_KB) and under minimal+ELO: the
                       best fixed setting by `Cost` (the measure ELO
                       minimises) and ELO's cost divided by it
          --cost       instead: larson's cost of every configuration against
                       minimal at 1 and 4 threads, run against neighbouring
                       run: per round minimal, A, minimal, B, ..., minimal
                       (order rotated each round), each run's ratio to the
                       mean of the minimal runs around it; cost = 1 - median
                       ratio, with its 95 % interval; PASS: <= 2 % at both
                       (default 60 rounds of 0.5 s runs; see decision 0050)
          --base PATH  with --cost: the reference is minimal on the library
                       at PATH (another build: the commit before a landing);
                       compared: this build's minimal, or --only's
          (phases runs at least 20 s, four 5 s phases, except with --quick)

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
        "features" => features::features_cmd(rest),
        "dist" => dist::dist_cmd(rest),
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

#[cfg(test)]
mod tests {
    use super::LAYERS;

    /// The modules a source file names as `crate::m` (also inside
    /// `crate::{a, b::C}`), outside its test module.
    fn imports(src: &str) -> Vec<String> {
        let code = src.split("#[cfg(test)]").next().unwrap_or(src);
        let word = |t: &str| t.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
        let mut found = Vec::new();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // The group's top-level items: the word after `{` and after each `,` at depth 0.
                let mut depth = 0;
                let mut item_start = true;
                for (j, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if item_start && !c.is_whitespace() => {
                            item_start = false;
                            found.push(word(&group[j..]));
                        }
                        _ => {}
                    }
                }
            } else {
                found.push(word(rest));
            }
        }
        found.sort();
        found.dedup();
        found
    }

    #[test]
    fn modules_import_only_lower_layers() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let layer_of = |m: &str| LAYERS.iter().position(|l| l.contains(&m));
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let module = path.file_stem().unwrap().to_str().unwrap().to_string();
            if module == "main" {
                continue;
            }
            files += 1;
            let layer = layer_of(&module).unwrap_or_else(|| panic!("{module} is in no layer of LAYERS"));
            for m in imports(&std::fs::read_to_string(&path).unwrap()) {
                let below = layer_of(&m).is_some_and(|l| l < layer);
                assert!(below, "{module} (layer {layer}) imports {m} (layer {:?})", layer_of(&m));
            }
        }
        assert_eq!(files, LAYERS.iter().map(|l| l.len()).sum::<usize>());
    }

    #[test]
    fn imports_are_found_in_groups_and_paths() {
        let src = "use crate::model::{A, B};\nuse crate::{json, util::{self, R}};\nfn f() { crate::sysinfo::x(); }\n#[cfg(test)]\nuse crate::bench;";
        assert_eq!(imports(src), ["json", "model", "sysinfo", "util"]);
    }
}
