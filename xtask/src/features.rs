//! `features`: issue 16's per-feature cost matrix. Every configuration of
//! [`crate::configs`] (each mode, each studied feature alone on top of
//! minimal, the system allocator) runs larson at 1 and 4 threads and each
//! feature's own workload, interleaved like `bench` (the same process
//! runner, allocator verification and records), and the tables of
//! [`crate::matrix`] say what each feature costs and wins.
//!
//! Before any run each configuration is probed: its library must load and
//! say `allocator-check: hakmem`, and with `HAKMEM_VERBOSE=1` it must report
//! exactly the features the configuration means (a typo in a variable, or a
//! mode whose table changed, stops the command instead of measuring the
//! wrong thing).

use crate::bench::{probe, run_one, snapshot_hakmem};
use crate::configs;
use crate::features_options::{self, FeatureOptions};
use crate::features_report::{self, FeatureSession};
use crate::matrix::{self, Cell, MatrixResults};
use crate::model::{allocator_check, fmt_mib, fmt_value, format_duration, format_seconds, Allocator, Progress};
use crate::util::{self, Result};
use crate::workloads::{self, Params};
use crate::{cbuild, larson_cost, preload, sysinfo};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub fn features_cmd(args: &[String]) -> Result<()> {
    let o = features_options::parse(args)?;
    let start = Instant::now();
    let command_line = {
        let mut words = vec!["cargo".to_string(), "xtask".into(), "features".into()];
        words.extend(args.iter().map(|a| util::shell_quote(a)));
        words.join(" ")
    };
    let machine = sysinfo::machine();
    let built = preload::build_preload()?;
    let so = snapshot_hakmem(&built)?;

    if o.cost {
        return cost_cmd(&o, command_line, machine, so, start);
    }
    let names = o.selected_workloads();
    let mut to_run = Vec::new();
    for name in &names {
        let params =
            Params { seconds: run_seconds(&o, name), threads: vec![1, 4], quick: o.quick, seed: workloads::SEED };
        let spec = workloads::find(name).ok_or(format!("{name} is not in the workload catalogue"))?;
        let mw = configs::matrix_workload(name).ok_or(format!("{name} is not a workload of the matrix"))?;
        let binary = cbuild::build(spec.program)?;
        to_run.push((spec.workload(binary, &params), mw.extra));
    }
    let configs = o.configs();
    let (allocs, resolved) = checked_allocators(&configs, &so)?;

    println!("== hakmem features: {} ==", names.join(" "));
    println!("{:<14} {command_line}", "command");
    for (k, v) in machine.lines() {
        println!("{k:<14} {v}");
    }
    let ignored: Vec<String> = util::hakmem_env()
        .into_iter()
        .filter(|(k, _)| configs::controlled_vars().contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !ignored.is_empty() {
        println!("note           not used: {} (each configuration sets its own mode and switches)", ignored.join(" "));
    }
    println!("configurations (libhakmem.so: {}):", so.display());
    for ((c, a), line) in configs.iter().zip(&allocs).zip(&resolved) {
        let what = if line.is_empty() { a.describe() } else { format!("{}  -> {line}", c.vars_line()) };
        println!("  {:<22} {what}", c.name);
    }
    println!(
        "method:        {} rounds; each round runs every case under every configuration back to back (interleaved, the configurations' order rotated by one each round), {} s per timed run; expected wall time about {}",
        o.runs,
        format_seconds(o.seconds),
        format_duration(expected_seconds(&o, configs.len(), &to_run.iter().map(|(w, _)| w.cases.len()).collect::<Vec<_>>(), &names))
    );

    let total: usize = to_run.iter().map(|(w, _)| w.cases.len() * configs.len() * o.runs).sum();
    let mut progress = Progress::new(total);
    let mut results = Vec::new();
    for (w, extra) in to_run {
        println!();
        let loadavg = sysinfo::loadavg();
        println!("== {}: {}", w.name, w.about);
        println!("load average: {loadavg}");
        let mut cells = vec![vec![Cell::default(); configs.len()]; w.cases.len()];
        for (ki, case) in w.cases.iter().enumerate() {
            for (ci, a) in allocs.iter().enumerate() {
                cells[ki][ci].outcome.command = util::display_cmd(&w.command(case, a));
            }
        }
        let width = configs.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for run in 0..o.runs {
            for (ki, case) in w.cases.iter().enumerate() {
                for ci in crate::bench::round_order(allocs.len(), run) {
                    let a = &allocs[ci];
                    let (verdict, out) = run_one(&w, case, a)?;
                    let cell = &mut cells[ki][ci];
                    let what = format!(
                        "{} {} t={} {:<width$} run {}/{}",
                        progress.step(),
                        w.name,
                        case.label,
                        a.name,
                        run + 1,
                        o.runs
                    );
                    match verdict {
                        Ok(v) => {
                            cell.outcome.values.push(v);
                            cell.outcome.rss_kib.push(out.peak_rss_kib());
                            cell.push_extra(extra, &out.stdout);
                            if let Some(c) = allocator_check(&out.stdout) {
                                if !cell.outcome.checks.iter().any(|x| x == c) {
                                    cell.outcome.checks.push(c.to_string());
                                }
                            }
                            println!(
                                "{what}  {:>12} {}  peak RSS {}",
                                fmt_value(v, &w.metric),
                                w.metric.short_unit,
                                fmt_mib(out.peak_rss_kib())
                            );
                        }
                        Err(why) => {
                            println!("{what}  FAILED: {why}");
                            cell.outcome.failures.push(format!("run {}: {why}", run + 1));
                        }
                    }
                }
            }
        }
        let r = MatrixResults { workload: w, extra, cells, loadavg };
        println!();
        print!("{}", matrix::matrix_table(&r, &configs));
        if o.sweep {
            println!();
            print!("{}", crate::sweep::table(&r, &configs));
        }
        results.push(r);
    }

    let session = FeatureSession {
        command_line,
        options: o.clone(),
        machine,
        loadavg_end: sysinfo::loadavg(),
        hakmem_so: so,
        configs,
        allocs,
        resolved,
        results,
        wall_seconds: start.elapsed().as_secs_f64(),
    };
    println!();
    print!("{}", features_report::summaries(&session));
    println!(
        "load average at end: {} (at start: {}); wall time {}",
        session.loadavg_end,
        session.machine.loadavg,
        format_duration(session.wall_seconds)
    );
    save(&session, &o)?;

    let mut failures = Vec::new();
    for r in &session.results {
        for (ki, row) in r.cells.iter().enumerate() {
            for (ci, cell) in row.iter().enumerate() {
                for f in &cell.outcome.failures {
                    let (case, config) = (&r.workload.cases[ki].label, &session.configs[ci].name);
                    failures.push(format!("{} t={case} {config}: {f}", r.workload.name));
                }
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} run(s) failed:\n  {}", failures.len(), failures.join("\n  ")))
    }
}

/// Each configuration's allocator, probed (it loads and reports itself) and,
/// for hakmem's, its resolved `hakmem: mode=` line checked against what the
/// configuration means.
fn checked_allocators(configs: &[configs::Config], so: &Path) -> Result<(Vec<Allocator>, Vec<String>)> {
    let pairs = cbuild::build(&cbuild::PAIRS)?;
    let mut allocs = Vec::new();
    let mut resolved = Vec::new();
    for c in configs {
        let a = c.allocator(so);
        let seen = probe(&pairs, &a).map_err(|e| format!("configuration {} does not work as expected: {e}", c.name))?;
        let mut a = a;
        a.info.push(("reports", seen));
        let line = if a.preload.is_some() {
            let line = resolved_line(&pairs, &a)?;
            configs::check_resolved(c, &line)?;
            line
        } else {
            String::new()
        };
        allocs.push(a);
        resolved.push(line);
    }
    Ok((allocs, resolved))
}

/// `features --cost`: larson's cost of every configuration but the system
/// allocator, each run bracketed by runs of minimal ([`larson_cost`]).
fn cost_cmd(
    o: &FeatureOptions,
    command_line: String,
    machine: sysinfo::Machine,
    so: std::path::PathBuf,
    start: Instant,
) -> Result<()> {
    let mut configs: Vec<configs::Config> = o.configs().into_iter().filter(|c| c.name != configs::SYSTEM).collect();
    // `--base`: compared are `--only`'s configurations, or minimal.
    if o.base.is_some() && o.only.is_none() {
        configs.retain(|c| c.name == configs::MINIMAL);
    }
    let (mut allocs, _) = checked_allocators(&configs, &so)?;
    // `--base`: minimal on the other build is the reference, put first.
    let reference = match &o.base {
        Some(base) => {
            if !base.is_file() {
                return Err(format!("--base: no library at {}", base.display()));
            }
            let r = configs::Config {
                name: configs::BASE.into(),
                kind: configs::Kind::Mode(hak_config::Mode::Minimal),
                vars: vec![("HAKMEM_MODE".into(), configs::MINIMAL.into())],
            };
            let (a, _) = checked_allocators(std::slice::from_ref(&r), base)?;
            configs.insert(0, r);
            allocs.splice(0..0, a);
            0
        }
        None => {
            configs.iter().position(|c| c.name == configs::MINIMAL).ok_or("--cost needs the minimal configuration")?
        }
    };
    let spec = workloads::find("larson").ok_or("larson is not in the workload catalogue")?;
    let larson = cbuild::build(spec.program)?;
    println!("== hakmem features --cost: larson ==");
    println!("{:<14} {command_line}", "command");
    for (k, v) in machine.lines() {
        println!("{k:<14} {v}");
    }
    let per_round = 2 * configs.len() - 1;
    println!(
        "method:        larson at 1 and 4 threads, {} rounds each; a round is {per_round} runs of {} s (minimal before, \
         between and after the others); expected wall time about {}",
        o.runs,
        format_seconds(o.seconds),
        format_duration((o.seconds + 0.1) * (2 * per_round * o.runs) as f64)
    );
    let measured = larson_cost::measure(&larson, &configs, &allocs, reference, o.runs, o.seconds)?;
    let s = larson_cost::CostSession {
        command_line,
        machine,
        hakmem_so: so,
        base_so: o.base.clone(),
        reference,
        runs: o.runs,
        seconds: o.seconds,
        configs,
        allocs,
        measured,
        wall_seconds: start.elapsed().as_secs_f64(),
    };
    println!();
    print!("{}", larson_cost::table(&s));
    let name = o.save.as_deref().unwrap_or_default();
    write_records(o, larson_cost::json(&s).pretty(), || (larson_cost::svg_chart(&s), larson_cost::markdown(&s, name)))?;
    let failures: Vec<String> = s
        .measured
        .log
        .iter()
        .filter_map(|(ki, round, ci, v)| {
            v.as_ref()
                .err()
                .map(|e| format!("larson t={} {} round {}: {e}", s.measured.cases[*ki], s.configs[*ci].name, round + 1))
        })
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} run(s) failed:\n  {}", failures.len(), failures.join("\n  ")))
    }
}

fn save(s: &FeatureSession, o: &FeatureOptions) -> Result<()> {
    let name = o.save.as_deref().unwrap_or_default();
    write_records(o, features_report::json(s).pretty(), || {
        (features_report::svg_chart(s), features_report::markdown(s, name))
    })
}

/// Writes `--json`'s file and `--save NAME`'s docs/bench/NAME.json, .svg
/// and .md (`charts` makes the SVG and the Markdown, only when saving).
fn write_records(o: &FeatureOptions, json: String, charts: impl FnOnce() -> (String, String)) -> Result<()> {
    if let Some(path) = &o.json {
        std::fs::write(path, &json).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("JSON record: {}", path.display());
    }
    if let Some(name) = &o.save {
        let dir = util::root().join("docs").join("bench");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let (svg, md) = charts();
        let files = [
            (dir.join(format!("{name}.json")), json),
            (dir.join(format!("{name}.svg")), svg),
            (dir.join(format!("{name}.md")), md),
        ];
        for (path, text) in files {
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            println!("saved: {}", path.display());
        }
    }
    Ok(())
}

/// The `hakmem: mode=... features=...` line a configuration prints at start
/// under `HAKMEM_VERBOSE=1`.
fn resolved_line(pairs: &Path, a: &Allocator) -> Result<String> {
    let mut cmd = Command::new(pairs);
    cmd.args(["16", "0"]);
    util::restore_user_env(&mut cmd);
    a.apply(&mut cmd);
    cmd.env("HAKMEM_VERBOSE", "1");
    let line = util::display_cmd(&cmd);
    let out = util::run_captured(&mut cmd, Duration::from_secs(30))?;
    out.stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("hakmem: ").filter(|r| r.starts_with("mode=")))
        .map(str::to_string)
        .ok_or(format!("{}: no `hakmem: mode=` line on stderr of `{line}`", a.name))
}

/// The length of one timed run of workload `name`: `--seconds`, except
/// that `phases` runs at least [`configs::PHASES_SECONDS`] (unless `--quick`).
pub fn run_seconds(o: &FeatureOptions, name: &str) -> f64 {
    if name == "phases" && !o.quick {
        o.seconds.max(configs::PHASES_SECONDS)
    } else {
        o.seconds
    }
}

/// A rough forecast of the wall time: every run's timed part plus start-up,
/// and `burst-idle`'s idle periods (at least one cycle of build, churn and
/// idle per run).
pub fn expected_seconds(o: &FeatureOptions, configs: usize, cases: &[usize], names: &[&str]) -> f64 {
    let per_run = |name: &str| match name {
        "burst-idle" if o.quick => o.seconds.max(0.2) + 0.2 + 0.1,
        "burst-idle" => o.seconds.max(1.0) + 1.0 + 0.5,
        _ => run_seconds(o, name) + 0.1,
    };
    names.iter().zip(cases).map(|(n, &k)| per_run(n) * (k * configs * o.runs) as f64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forecast_counts_every_run() {
        let o = features_options::parse(&[]).unwrap();
        let n = o.configs().len();
        assert_eq!(n, 11);
        // larson: 2 cases of 2.1 s; sites: 1 case; 5 runs each.
        let t = expected_seconds(&o, n, &[2, 1], &["larson", "sites"]);
        assert!((t - 2.1 * 3.0 * 11.0 * 5.0).abs() < 1e-6, "{t}");
        let t = expected_seconds(&o, 1, &[1], &["burst-idle"]);
        assert!((t - 3.5 * 5.0).abs() < 1e-6, "{t}");
    }
}
