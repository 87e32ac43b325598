//! `bench`: runs the workloads of `benches/c/` under several allocators,
//! interleaved, and reports median/min/max, ratios to the system allocator and
//! to the best peer, and peak RSS; optionally instruction counts per
//! malloc+free pair (callgrind) and the criterion benchmarks. Records go to
//! JSON (`--json FILE`) and, with `--save NAME`, to docs/bench/NAME.{md,svg,json}.
//!
//! Method (BENCHMARKS.md): our machines are shared and drift by 20 % between
//! runs, so only ratios measured in one invocation mean something. Every
//! round runs each case of a workload under every allocator back to back
//! (system, hakmem, jemalloc, ..., system, hakmem, ...), each run a separate
//! process of the same binary with the same arguments and its allocator's
//! `LD_PRELOAD`; statistics are taken over rounds.
//!
//! Extension points: [`crate::peers`] (allocators; more with `--extra
//! NAME=PATH`, [`crate::options`]), [`crate::workloads`] (the catalogue: a C
//! program, its cases, a [`Metric`](crate::model::Metric)), [`crate::report`]
//! (tables, JSON, Markdown, SVG). The types they share are in
//! [`crate::model`].

use crate::model::{allocator_check, fmt_mib, fmt_value, format_duration, format_seconds, judge, verify_allocator};
use crate::model::{Allocator, Case, Outcome, Progress, Workload, WorkloadResults};
use crate::options::{self, Options};
use crate::peers::{self, Skipped};
use crate::report::{self, Session};
use crate::util::{self, Captured, Result};
use crate::workloads::{self, Params};
use crate::{cbuild, instructions, preload, sysinfo};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Run one process and judge it: the metric value, or why the run failed.
pub fn run_one(w: &Workload, case: &Case, alloc: &Allocator) -> Result<(std::result::Result<f64, String>, Captured)> {
    let mut cmd = w.command(case, alloc);
    let out = util::run_captured(&mut cmd, w.timeout)?;
    let verdict = judge(&out, alloc, &w.metric);
    Ok((verdict, out))
}

/// The order in which round `round` runs `n` allocators (or
/// configurations): the list rotated by `round`, so that over the rounds
/// each runs at every place and after every other. A round of larson
/// takes 20 to 40 s, and the machine drifts within it (in `features-6`
/// the configurations run late in a round were 13 to 17 % slower than
/// the first at 4 threads in its first rounds, the same code for most):
/// in a fixed order that drift falls on the same allocator every round
/// and the paired ratios inherit it.
pub fn round_order(n: usize, round: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |k| (k + round) % n.max(1))
}

/// Run every case under every allocator, `runs` rounds, interleaved (in
/// [`round_order`]), one progress line per run. Failed runs are recorded,
/// not fatal.
pub fn run_interleaved(
    w: &Workload,
    allocs: &[Allocator],
    runs: usize,
    progress: &mut Progress,
) -> Result<Vec<Vec<Outcome>>> {
    let mut outcomes = vec![vec![Outcome::default(); allocs.len()]; w.cases.len()];
    for (ci, case) in w.cases.iter().enumerate() {
        for (ai, alloc) in allocs.iter().enumerate() {
            outcomes[ci][ai].command = util::display_cmd(&w.command(case, alloc));
        }
    }
    let name_width = allocs.iter().map(|a| a.name.len()).max().unwrap_or(0);
    let label_width = w.cases.iter().map(|c| c.label.len()).max().unwrap_or(0);
    for run in 0..runs {
        for (ci, case) in w.cases.iter().enumerate() {
            for ai in round_order(allocs.len(), run) {
                let alloc = &allocs[ai];
                let (verdict, out) = run_one(w, case, alloc)?;
                let o = &mut outcomes[ci][ai];
                let prefix = progress.step();
                let what = format!(
                    "{prefix} {} t={:<label_width$} {:<name_width$} run {}/{runs}",
                    w.name,
                    case.label,
                    alloc.name,
                    run + 1
                );
                match verdict {
                    Ok(v) => {
                        o.values.push(v);
                        o.rss_kib.push(out.peak_rss_kib());
                        o.push_also(w.also, &out.stdout);
                        if let Some(c) = allocator_check(&out.stdout) {
                            if !o.checks.iter().any(|x| x == c) {
                                o.checks.push(c.to_string());
                            }
                        }
                        let mut also = String::new();
                        for (m, values) in w.also.iter().zip(&o.also) {
                            if let (Some(x), true) = (values.last(), values.len() == o.values.len()) {
                                also.push_str(&format!("  {} {} {}", m.key, fmt_value(*x, m), m.short_unit));
                            }
                        }
                        println!(
                            "{what}  {:>14} {}  peak RSS {}{also}",
                            fmt_value(v, &w.metric),
                            w.metric.short_unit,
                            fmt_mib(out.peak_rss_kib())
                        );
                    }
                    Err(why) => {
                        println!("{what}  FAILED: {why}");
                        o.failures.push(format!("run {}: {why}", run + 1));
                    }
                }
            }
        }
    }
    Ok(outcomes)
}

pub fn bench_cmd(args: &[String]) -> Result<()> {
    let o = options::parse_options(args)?;
    if o.criterion {
        if o.cpus.is_some() {
            return Err("--cpus applies to the workload programs, not to --criterion".into());
        }
        if !o.extras.is_empty() {
            return Err("--extra applies to the workload programs, not to --criterion".into());
        }
        return criterion(&o);
    }
    let start = Instant::now();
    let command_line = {
        let mut words = vec!["cargo".to_string(), "xtask".into(), "bench".into()];
        words.extend(args.iter().map(|a| util::shell_quote(a)));
        words.join(" ")
    };
    let machine = sysinfo::machine();
    let built = preload::build_preload()?;
    let so = snapshot_hakmem(&built)?;

    // Programs first, so that a compile error stops us before any run.
    let names = o.selected_workloads();
    let params = Params { seconds: o.seconds, threads: o.threads.clone(), quick: o.quick, seed: workloads::SEED };
    if let Some(cpus) = &o.cpus {
        // Before any workload is built or run.
        options::check_cpus(cpus)?;
    }
    let mut workloads_to_run = Vec::new();
    for name in &names {
        let spec = workloads::find(name).expect("validated");
        let binary = cbuild::build(spec.program)?;
        let mut w = spec.workload(binary, &params);
        w.cpus = o.cpus.clone();
        workloads_to_run.push(w);
    }
    let pairs = cbuild::build(&cbuild::PAIRS)?;

    let (mut resolved, mut skipped) = peers::resolve(&o.allocs, &so);
    if let Some(h) = resolved.iter_mut().find(|a| a.is_hakmem()) {
        h.info.push((
            "built",
            format!(
                "{} (cargo build --release -p hakmem-cdylib, just now), copied so that a rebuild during the bench cannot change it",
                built.display()
            ),
        ));
        if let Some(sum) = util::output_of("sha256sum", [&so]) {
            let sum = sum.split_whitespace().next().unwrap_or_default().to_string();
            h.info.push(("sha256", sum));
        }
    }
    for e in &o.extras {
        resolved.push(extra_allocator(e)?);
    }
    // One tiny run under each allocator before anything is measured: it must
    // load and say who it is (allocator-check); a peer that does not is skipped.
    let mut allocs = Vec::new();
    for mut a in resolved {
        match probe(&pairs, &a) {
            Ok(seen) => {
                if a.extra {
                    // From now on every run must name the same allocator.
                    a.reports_as = seen.split_whitespace().next().map(str::to_string);
                    if let (true, Some(so)) = (a.is_hakmem_build(), a.preload.clone()) {
                        a.info.push(("hakmem_resolved", hakmem_resolved_config(&pairs, &so)));
                    }
                }
                a.info.push(("reports", seen));
                allocs.push(a);
            }
            Err(e) if a.is_hakmem() || a.name == "system" || a.extra => {
                return Err(format!("{} does not work as expected: {e}", a.name))
            }
            Err(e) => skipped.push(Skipped { name: a.name.clone(), reason: e }),
        }
    }
    let hakmem_resolved = hakmem_resolved_config(&pairs, &so);

    println!("== hakmem bench: {} ==", if names.is_empty() { "instructions".to_string() } else { names.join(" ") });
    println!("{:<14} {command_line}", "command");
    for (k, v) in machine.lines() {
        println!("{k:<14} {v}");
    }
    println!("{:<14} {hakmem_resolved}", "hakmem config");
    if machine.cores_usable <= 2 {
        println!(
            "note           {} cores, load average {} at start: other processes (builds) compete with the runs; only the interleaved ratios are meaningful",
            machine.cores(),
            machine.loadavg
        );
    }
    if let Ok(p) = std::env::var("LD_PRELOAD") {
        println!("note           your LD_PRELOAD={p} is NOT used: each run sets exactly its allocator's");
    }
    println!("allocators:");
    for a in &allocs {
        println!("  {:<16} {}", a.name, a.describe());
    }
    for s in &skipped {
        println!("  {:<16} SKIPPED: {}", s.name, s.reason);
    }
    println!(
        "method:        {} rounds; each round runs every case under every allocator back to back (interleaved, the allocators' order rotated by one each round), {} s per timed run",
        o.runs,
        format_seconds(o.seconds)
    );
    if let Some(cpus) = &o.cpus {
        println!("placement:     every run pinned with `taskset -c {cpus}`, the same for every allocator");
    }

    let total: usize = workloads_to_run.iter().map(|w| w.cases.len() * allocs.len() * o.runs).sum();
    let mut progress = Progress::new(total);
    let mut results = Vec::new();
    for w in workloads_to_run {
        println!();
        let loadavg = sysinfo::loadavg();
        println!("== {}: {}", w.name, w.about);
        println!("load average: {loadavg}");
        if let Some(b) = &w.build_cmd {
            println!("build: {b}");
        }
        println!("commands:");
        for case in &w.cases {
            for a in &allocs {
                println!("  {}", util::display_cmd(&w.command(case, a)));
            }
        }
        let outcomes = run_interleaved(&w, &allocs, o.runs, &mut progress)?;
        let r = WorkloadResults { workload: w, outcomes, loadavg };
        println!();
        println!(
            "{} {} ({}, {}; {} runs each):",
            r.workload.name,
            r.workload.metric.name,
            r.workload.metric.unit,
            r.workload.metric.direction(),
            o.runs
        );
        println!();
        print!("{}", report::workload_table(&r, &allocs));
        results.push(r);
    }

    let instructions = if o.run_instructions() {
        println!();
        println!("== instructions per malloc+free pair (callgrind)");
        match instructions::measure(&pairs, &allocs, o.quick) {
            Ok(i) => {
                println!();
                print!("{}", report::instructions_table(&i, &allocs));
                Some(i)
            }
            Err(e) => {
                println!("instruction counts SKIPPED: {e}");
                None
            }
        }
    } else {
        None
    };

    let session = Session {
        command_line,
        options: o.clone(),
        machine,
        loadavg_end: sysinfo::loadavg(),
        hakmem_so: so,
        hakmem_resolved,
        allocs,
        skipped,
        results,
        instructions,
        wall_seconds: start.elapsed().as_secs_f64(),
    };

    if !session.results.is_empty() {
        println!();
        println!(
            "== summary: median / system median ({} runs; ratios > 1 are better for throughput, < 1 for retention)",
            o.runs
        );
        println!();
        print!("{}", report::summary_table(&session));
        println!();
        println!("== peak RSS / system peak RSS");
        println!();
        print!("{}", report::rss_table(&session));
    }
    println!();
    println!(
        "load average at end: {} (at start: {}); wall time {}",
        session.loadavg_end,
        session.machine.loadavg,
        format_duration(session.wall_seconds)
    );

    let json = report::json(&session).pretty();
    if let Some(path) = &o.json {
        std::fs::write(path, &json).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("JSON record: {}", path.display());
    }
    if let Some(name) = &o.save {
        let dir = util::root().join("docs").join("bench");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let files = [
            (dir.join(format!("{name}.json")), json.clone()),
            (dir.join(format!("{name}.svg")), report::svg_chart(&session)),
            (dir.join(format!("{name}.md")), report::markdown(&session, name)),
        ];
        for (path, text) in files {
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            println!("saved: {}", path.display());
        }
    }

    // Peers' failures are findings about the peers; ours fail the command.
    let mut ours = Vec::new();
    for r in &session.results {
        for (ci, case) in r.workload.cases.iter().enumerate() {
            for (ai, a) in session.allocs.iter().enumerate() {
                for f in &r.outcomes[ci][ai].failures {
                    let line = format!("{} threads={} {}: {f}", r.workload.name, case.label, a.name);
                    if a.is_hakmem() || a.name == "system" {
                        ours.push(line);
                    } else if a.extra {
                        println!("extra failure: {line}");
                    } else {
                        println!("peer failure: {line}");
                    }
                }
            }
        }
    }
    if ours.is_empty() {
        Ok(())
    } else {
        Err(format!("{} run(s) of hakmem or the system allocator failed:\n  {}", ours.len(), ours.join("\n  ")))
    }
}

/// Copy the freshly built libhakmem.so to `target/bench-bin/libhakmem.so`
/// and return the copy: every run of this invocation preloads the same bytes,
/// even if someone rebuilds target/release/libhakmem.so meanwhile (our machines
/// are shared by several engineers' builds).
pub fn snapshot_hakmem(built: &std::path::Path) -> Result<PathBuf> {
    let dir = util::target_dir().join("bench-bin");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = dir.join(format!(".libhakmem.so.{}", std::process::id()));
    let so = dir.join(preload::SO_NAME);
    std::fs::copy(built, &tmp).map_err(|e| format!("copying {}: {e}", built.display()))?;
    std::fs::rename(&tmp, &so).map_err(|e| format!("{}: {e}", so.display()))?;
    Ok(so)
}

/// The allocator of `--extra NAME=PATH`: PATH copied to
/// `target/bench-bin/extra-NAME.so` (every run preloads the same bytes, even
/// if PATH is rebuilt meanwhile), recorded with the path given, its size,
/// modification time and sha256.
pub fn extra_allocator(e: &options::Extra) -> Result<Allocator> {
    let given =
        std::fs::canonicalize(&e.path).map_err(|err| format!("--extra {}: {}: {err}", e.name, e.path.display()))?;
    let meta = std::fs::metadata(&given).map_err(|err| format!("--extra {}: {}: {err}", e.name, given.display()))?;
    if !meta.is_file() {
        return Err(format!("--extra {}: {} is not a file", e.name, given.display()));
    }
    let dir = util::target_dir().join("bench-bin");
    std::fs::create_dir_all(&dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    let so = dir.join(format!("extra-{}.so", e.name));
    let tmp = dir.join(format!(".extra-{}.so.{}", e.name, std::process::id()));
    std::fs::copy(&given, &tmp).map_err(|err| format!("copying {}: {err}", given.display()))?;
    std::fs::rename(&tmp, &so).map_err(|err| format!("{}: {err}", so.display()))?;
    let mut a = Allocator::extra(&e.name, so.clone());
    a.info.push(("path", format!("{} (copied so that a rebuild during the bench cannot change it)", given.display())));
    a.info.push(("size_bytes", meta.len().to_string()));
    if let Some(mtime) = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()) {
        a.info.push(("mtime_unix", mtime.as_secs().to_string()));
    }
    if let Some(sum) = util::output_of("sha256sum", [&so]) {
        a.info.push(("sha256", sum.split_whitespace().next().unwrap_or_default().to_string()));
    }
    Ok(a)
}

/// Run `pairs 16 1000` under `a`: its `allocator-check:` line (e.g.
/// `jemalloc 5.3.0-0-g54eaed1`), or why it did not run under `a`.
pub fn probe(pairs: &std::path::Path, a: &Allocator) -> std::result::Result<String, String> {
    let mut cmd = Command::new(pairs);
    cmd.args(["16", "1000"]);
    util::restore_user_env(&mut cmd);
    a.apply(&mut cmd);
    let line = util::display_cmd(&cmd);
    let out = util::run_captured(&mut cmd, Duration::from_secs(30))?;
    if out.timed_out || !out.status.success() {
        return Err(out.failure(&line));
    }
    verify_allocator(&out, a).map_err(|e| format!("`{line}` {e}"))
}

/// The `hakmem: mode=... features=...` line libhakmem.so prints at start
/// with HAKMEM_VERBOSE=1, for the current HAKMEM_* environment: the mode and
/// features the runs resolved to.
pub fn hakmem_resolved_config(pairs: &std::path::Path, so: &std::path::Path) -> String {
    let mut cmd = Command::new(pairs);
    cmd.args(["16", "0"]);
    util::restore_user_env(&mut cmd);
    Allocator::preloaded("hakmem", so.to_path_buf()).apply(&mut cmd);
    cmd.env("HAKMEM_VERBOSE", "1");
    match util::run_captured(&mut cmd, Duration::from_secs(30)) {
        Ok(out) => out
            .stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix("hakmem: ").filter(|r| r.starts_with("mode=")))
            .map(str::to_string)
            .unwrap_or_else(|| format!("unknown (no `hakmem: mode=` line on stderr of `{}`)", util::display_cmd(&cmd))),
        Err(e) => format!("unknown ({e})"),
    }
}

/// `cargo bench -p hakmem-benches --bench global_alloc [-- ARGS]`.
fn criterion(o: &Options) -> Result<()> {
    let mut cmd = util::cargo();
    cmd.args(["bench", "-p", "hakmem-benches", "--bench", "global_alloc"]);
    let mut pass = o.passthrough.clone();
    if o.quick && !pass.iter().any(|a| a == "--quick") {
        pass.push("--quick".into());
    }
    if !pass.is_empty() {
        cmd.arg("--").args(&pass);
    }
    util::run(&mut cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_rotate_the_order_so_each_allocator_runs_at_every_place() {
        let orders: Vec<Vec<usize>> = (0..4).map(|r| round_order(3, r).collect()).collect();
        assert_eq!(orders, [vec![0, 1, 2], vec![1, 2, 0], vec![2, 0, 1], vec![0, 1, 2]]);
        // Over n rounds, allocator a runs at place p exactly once.
        for a in 0..3 {
            let places: Vec<usize> = orders[..3].iter().map(|o| o.iter().position(|&x| x == a).unwrap()).collect();
            let mut sorted = places.clone();
            sorted.sort();
            assert_eq!(sorted, [0, 1, 2], "allocator {a}: {places:?}");
        }
        assert_eq!(round_order(0, 5).count(), 0);
    }

    #[test]
    fn an_extra_is_copied_and_recorded() {
        let dir = std::env::temp_dir().join(format!("xtask-extra-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lib = dir.join("libhakmem.so");
        std::fs::write(&lib, b"not really a library").unwrap();
        let name = format!("test-extra-{}", std::process::id());
        let a = extra_allocator(&options::Extra { name: name.clone(), path: lib.clone() }).unwrap();
        let so = a.preload.clone().unwrap();
        assert!(a.extra && so.ends_with(format!("bench-bin/extra-{name}.so")));
        assert_eq!(std::fs::read(&so).unwrap(), b"not really a library");
        let info = |k: &str| a.info.iter().find(|(key, _)| *key == k).map(|(_, v)| v.clone());
        assert!(info("path").unwrap().starts_with(&lib.display().to_string()));
        assert_eq!(info("size_bytes").as_deref(), Some("20"));
        assert!(info("mtime_unix").is_some());
        if util::output_of("sha256sum", ["--version"]).is_some() {
            assert_eq!(info("sha256").unwrap().len(), 64);
        }
        let missing = options::Extra { name: name.clone(), path: dir.join("missing.so") };
        assert!(extra_allocator(&missing).err().unwrap().contains("missing.so"));
        std::fs::remove_file(so).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
