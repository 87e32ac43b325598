//! `bench --instructions`: instructions per malloc+free pair on the
//! same-thread fast path, counted by `valgrind --tool=callgrind`
//! (BENCHMARKS.md, "Fast-path cost"). Counts do not drift with machine load:
//! a 2-instruction regression shows.
//!
//! `benches/c/pairs.c SIZE N LIVE` does N malloc/free pairs of SIZE bytes
//! while LIVE other blocks of that size stay allocated. Each (allocator,
//! size, live) is counted at two values of N; the difference divided by ΔN
//! cancels process start-up and allocator initialisation. LIVE = 0 is the
//! pure pair loop (the block is often alone in its page, so work done when a
//! page becomes empty is paid on every free); LIVE = 1 is the steady state
//! of a program that keeps other blocks of the size alive. The allocator
//! is loaded by setting LD_PRELOAD in valgrind's environment: valgrind passes
//! it on to the client (adding its own preload), and callgrind, unlike
//! memcheck, does not replace malloc, so the preloaded allocator is measured.
//! The `allocator-check:` line of every run is verified as for timed runs.

use crate::model::{self, Allocator};
use crate::util::{self, Result};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Request sizes measured, one per size band.
pub const SIZES: &[usize] = &[16, 64, 256, 1024, 4096, 65536];
/// Blocks of the same size held live during the loop.
pub const LIVE: &[usize] = &[0, 1];

/// The two loop counts (small, large).
pub fn counts(quick: bool) -> (u64, u64) {
    if quick {
        (10_000, 20_000)
    } else {
        (100_000, 200_000)
    }
}

/// One (allocator, size).
#[derive(Clone, Debug)]
pub struct Count {
    pub allocator: String,
    pub size: usize,
    pub live: usize,
    /// Total instructions of the two runs (N small, N large).
    pub totals: Option<(u64, u64)>,
    /// (I_large - I_small) / (N_large - N_small).
    pub per_pair: Option<f64>,
    pub error: Option<String>,
    /// The command of the large-N run.
    pub command: String,
}

/// Everything `--instructions` measured.
#[derive(Clone, Debug)]
pub struct Instructions {
    pub n_small: u64,
    pub n_large: u64,
    pub valgrind: String,
    pub counts: Vec<Count>,
    /// Instructions of `pairs.c`'s own loop per pair (its `main`, without
    /// the allocator calls), included in every count: subtract it for the
    /// allocator's own cost. None if it could not be measured.
    pub loop_per_pair: Option<f64>,
}

impl Instructions {
    pub fn get(&self, allocator: &str, size: usize, live: usize) -> Option<&Count> {
        self.counts.iter().find(|c| c.allocator == allocator && c.size == size && c.live == live)
    }
}

fn command(pairs: &Path, alloc: &Allocator, size: usize, n: u64, live: usize) -> Command {
    command_to(pairs, alloc, size, n, live, Path::new("/dev/null"))
}

fn command_to(pairs: &Path, alloc: &Allocator, size: usize, n: u64, live: usize, out: &Path) -> Command {
    let mut cmd = Command::new("valgrind");
    cmd.arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(pairs)
        .arg(size.to_string())
        .arg(n.to_string())
        .arg(live.to_string());
    util::restore_user_env(&mut cmd);
    alloc.apply(&mut cmd);
    cmd
}

/// Total instructions of one callgrind run (`==pid== Collected : N`).
pub fn parse_collected(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|l| {
        let rest = l.split_once("Collected")?.1.trim_start().strip_prefix(':')?;
        rest.trim().parse().ok()
    })
}

fn count_one(pairs: &Path, alloc: &Allocator, size: usize, n: u64, live: usize) -> std::result::Result<u64, String> {
    let mut cmd = command(pairs, alloc, size, n, live);
    let line = util::display_cmd(&cmd);
    let out = util::run_captured(&mut cmd, Duration::from_secs(300))?;
    if out.timed_out || !out.status.success() {
        return Err(out.failure(&line));
    }
    model::verify_allocator(&out, alloc).map_err(|e| format!("`{line}` {e}"))?;
    parse_collected(&out.stderr).ok_or_else(|| format!("`{line}`: no `Collected : N` line from callgrind"))
}

/// The exclusive cost of `main` in a `callgrind_annotate` listing (the line
/// `N (x%)  ???:main [/path/pairs]`).
pub fn parse_main_cost(annotate: &str) -> Option<u64> {
    annotate.lines().find_map(|l| {
        let (num, rest) = l.trim_start().split_once(' ')?;
        if !rest.contains(":main [") {
            return None;
        }
        num.replace(',', "").parse().ok()
    })
}

/// Instructions per pair of `pairs.c`'s own loop: `main`'s exclusive cost
/// at the two loop counts (system allocator, 64 B, one live block).
fn loop_cost(pairs: &Path, system: &Allocator, n_small: u64, n_large: u64) -> std::result::Result<f64, String> {
    let dir = std::env::temp_dir();
    let main_cost = |n: u64| -> std::result::Result<u64, String> {
        let out = dir.join(format!("hakmem-pairs-{}-{n}.callgrind", std::process::id()));
        let mut cmd = command_to(pairs, system, 64, n, 1, &out);
        let line = util::display_cmd(&cmd);
        let run = util::run_captured(&mut cmd, Duration::from_secs(300))?;
        if run.timed_out || !run.status.success() {
            return Err(run.failure(&line));
        }
        let listing = util::output_of("callgrind_annotate", [out.as_os_str()]);
        let _ = std::fs::remove_file(&out);
        listing
            .as_deref()
            .and_then(parse_main_cost)
            .ok_or_else(|| format!("`callgrind_annotate` of `{line}` shows no `main`"))
    };
    let (a, b) = (main_cost(n_small)?, main_cost(n_large)?);
    Ok((b as f64 - a as f64) / (n_large - n_small) as f64)
}

/// Count every (allocator, size), printing one line each.
pub fn measure(pairs: &Path, allocs: &[Allocator], quick: bool) -> Result<Instructions> {
    let valgrind = util::output_of("valgrind", ["--version"])
        .ok_or("valgrind is not installed (apt-get install -y valgrind)".to_string())?;
    let (n_small, n_large) = counts(quick);
    println!(
        "method: {valgrind} --tool=callgrind, {} pairs and {} pairs of each size; (I({n_large}) - I({n_small})) / {}",
        n_small,
        n_large,
        n_large - n_small
    );
    let mut counts = Vec::new();
    let total = allocs.len() * SIZES.len() * LIVE.len();
    let mut progress = model::Progress::new(total);
    for &live in LIVE {
        for &size in SIZES {
            for a in allocs {
                let command = util::display_cmd(&command(pairs, a, size, n_large, live));
                let result = count_one(pairs, a, size, n_small, live)
                    .and_then(|i1| count_one(pairs, a, size, n_large, live).map(|i2| (i1, i2)));
                let prefix = progress.step();
                let what = format!("{prefix} size {size:>6} live {live} {:<16}", a.name);
                let (totals, per_pair, error) = match result {
                    Ok((i1, i2)) => {
                        let per = (i2 as f64 - i1 as f64) / (n_large - n_small) as f64;
                        println!("{what} {per:>8.1} instructions per pair");
                        (Some((i1, i2)), Some(per), None)
                    }
                    Err(e) => {
                        println!("{what} FAILED: {e}");
                        (None, None, Some(e))
                    }
                };
                counts.push(Count { allocator: a.name.clone(), size, live, totals, per_pair, error, command });
            }
        }
    }
    let loop_per_pair = match allocs.iter().find(|a| a.name == "system") {
        Some(system) => match loop_cost(pairs, system, n_small, n_large) {
            Ok(c) => {
                println!("the pairs loop itself (its main): {c:.1} instructions per pair, included above");
                Some(c)
            }
            Err(e) => {
                println!("the pairs loop itself: not measured: {e}");
                None
            }
        },
        None => None,
    };
    Ok(Instructions { n_small, n_large, valgrind, counts, loop_per_pair })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collected_line() {
        let err = "==123== Callgrind, a call-graph generating cache profiler\n==123== \n==123== Events    : Ir\n==123== Collected : 13941822\n==123== \n==123== I   refs:      13,941,822\n";
        assert_eq!(parse_collected(err), Some(13941822));
        assert_eq!(parse_collected("nothing\n"), None);
    }

    #[test]
    fn main_cost_line() {
        let listing =
            "--------\n1,400,028 (22.64%)  /x/lib.rs:free\n  900,120 (14.56%)  ???:main [/w/target/bench-bin/pairs]\n";
        assert_eq!(parse_main_cost(listing), Some(900_120));
        assert_eq!(parse_main_cost("1 (1%) ???:mainly [x]\n"), None);
    }

    #[test]
    fn valgrind_gets_the_preload_in_its_environment() {
        let a = Allocator::preloaded("hakmem", "/x/libhakmem.so".into());
        let line = util::display_cmd(&command(Path::new("/b/pairs"), &a, 64, 100, 1));
        assert!(line.contains("LD_PRELOAD=/x/libhakmem.so "), "{line}");
        assert!(line.ends_with("valgrind --tool=callgrind --callgrind-out-file=/dev/null /b/pairs 64 100 1"), "{line}");
    }
}
