//! `bench <workload>`: runs workloads under several allocators, interleaved,
//! and reports median/min/max per (allocator, case) and the ratio of each
//! allocator's median to the baseline's (the first allocator, `system`).
//!
//! Method (BENCHMARKS.md): our machines are shared and drift by 20 % between
//! runs, so only ratios measured in one invocation mean something. Every run
//! round executes each case under every allocator back to back
//! (system, hakmem, system, hakmem, ...), the same binary with the same
//! arguments, and the statistics are taken over rounds.
//!
//! Extension points (later issues): more [`Allocator`]s (peers loaded with
//! LD_PRELOAD: jemalloc, tcmalloc, mimalloc), more [`Workload`]s (a binary,
//! its cases, a [`Metric`] parser), result files.

use crate::util::{self, Result};
use crate::{cbuild, preload, sysinfo};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// An allocator under test: a name and the library to LD_PRELOAD (none for
/// the system allocator, which runs with LD_PRELOAD removed).
pub struct Allocator {
    pub name: String,
    pub preload: Option<PathBuf>,
}

impl Allocator {
    pub fn system() -> Self {
        Allocator {
            name: "system".into(),
            preload: None,
        }
    }

    pub fn preloaded(name: &str, lib: PathBuf) -> Self {
        Allocator {
            name: name.into(),
            preload: Some(lib),
        }
    }

    /// Set exactly this allocator's LD_PRELOAD on `cmd` (nothing inherited).
    fn apply(&self, cmd: &mut Command) {
        match &self.preload {
            Some(lib) => cmd.env("LD_PRELOAD", lib),
            None => cmd.env_remove("LD_PRELOAD"),
        };
    }

    fn describe(&self) -> String {
        match &self.preload {
            Some(lib) => format!("LD_PRELOAD={}", lib.display()),
            None => "no LD_PRELOAD (the C library's malloc)".into(),
        }
    }
}

/// The number a workload reports, and how to find it in its stdout.
pub struct Metric {
    /// e.g. "throughput".
    pub name: &'static str,
    /// e.g. "operations per second".
    pub unit: &'static str,
    pub higher_is_better: bool,
    pub parse: fn(&str) -> Option<f64>,
}

/// One configuration of a workload (e.g. a thread count).
pub struct Case {
    /// Short label for tables, e.g. "1" (threads).
    pub label: String,
    pub args: Vec<String>,
}

/// A benchmark program and the cases to run it with.
pub struct Workload {
    pub name: &'static str,
    pub binary: PathBuf,
    /// Header of the `label` column, e.g. "threads".
    pub case_column: &'static str,
    pub cases: Vec<Case>,
    pub metric: Metric,
    /// A run taking longer than this is killed and the bench fails.
    pub timeout: Duration,
    /// How `binary` was built (for the record), if we built it.
    pub build_cmd: Option<String>,
}

impl Workload {
    /// The exact command of one run.
    pub fn command(&self, case: &Case, alloc: &Allocator) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.args(&case.args);
        util::restore_user_env(&mut cmd);
        alloc.apply(&mut cmd);
        cmd
    }
}

/// larson with the reference arguments of BENCHMARKS.md
/// (`seconds 8 1024 10000 1 12345 threads`), one case per thread count.
pub fn larson(binary: PathBuf, seconds: f64, threads: &[usize]) -> Workload {
    let cases = threads
        .iter()
        .map(|t| Case {
            label: t.to_string(),
            args: [
                &*format_seconds(seconds),
                "8",
                "1024",
                "10000",
                "1",
                "12345",
                &t.to_string(),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        })
        .collect();
    Workload {
        name: "larson",
        binary,
        case_column: "threads",
        cases,
        metric: Metric {
            name: "throughput",
            unit: "operations per second",
            higher_is_better: true,
            parse: parse_larson,
        },
        timeout: Duration::from_secs_f64(seconds + 120.0),
        build_cmd: None,
    }
}

/// The N of larson's `Throughput = N operations per second` line.
pub fn parse_larson(stdout: &str) -> Option<f64> {
    stdout.lines().find_map(|line| {
        let rest = line
            .trim()
            .strip_prefix("Throughput")?
            .trim_start()
            .strip_prefix('=')?;
        let number = rest.split_whitespace().next()?;
        number
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
    })
}

fn format_seconds(s: f64) -> String {
    // 2.0 -> "2", 0.3 -> "0.3": the command line reads as a person would type it.
    let t = format!("{s}");
    t.strip_suffix(".0").map(str::to_string).unwrap_or(t)
}

/// min / median / max of a non-empty sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

pub fn summarize(values: &[f64]) -> Summary {
    assert!(!values.is_empty());
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Summary {
        min: v[0],
        median,
        max: v[n - 1],
    }
}

/// `samples[case][allocator]` = one value per run.
pub struct Results {
    pub samples: Vec<Vec<Vec<f64>>>,
}

/// Run every case under every allocator, `runs` rounds, interleaved.
pub fn run_interleaved(w: &Workload, allocs: &[Allocator], runs: usize) -> Result<Results> {
    let mut samples = vec![vec![Vec::with_capacity(runs); allocs.len()]; w.cases.len()];
    let name_width = allocs.iter().map(|a| a.name.len()).max().unwrap_or(0);
    for run in 0..runs {
        for (ci, case) in w.cases.iter().enumerate() {
            for (ai, alloc) in allocs.iter().enumerate() {
                let mut cmd = w.command(case, alloc);
                let line = util::display_cmd(&cmd);
                let out = util::run_captured(&mut cmd, w.timeout)?;
                if !out.ok() {
                    return Err(format!("{} run failed: {}", w.name, out.failure(&line)));
                }
                let value = (w.metric.parse)(&out.stdout).ok_or_else(|| {
                    format!(
                        "`{line}` exited 0 but printed no {} line; stdout was:\n{}",
                        w.metric.name, out.stdout
                    )
                })?;
                println!(
                    "  run {}/{runs}  {} {:>3}  {:<name_width$}  {:>15} {}",
                    run + 1,
                    w.case_column,
                    case.label,
                    alloc.name,
                    group_thousands(value),
                    w.metric.unit
                );
                samples[ci][ai].push(value);
            }
        }
    }
    Ok(Results { samples })
}

/// Markdown table: median/min/max per (case, allocator) and ratio to the
/// first allocator's median (for higher-is-better metrics: > 1 is better).
pub fn report_table(w: &Workload, allocs: &[Allocator], results: &Results) -> String {
    let base = &allocs[0].name;
    let mut t = String::new();
    t.push_str(&format!(
        "| {} | allocator | median | min | max | median / {base} median |\n",
        w.case_column
    ));
    t.push_str("|---:|:---|---:|---:|---:|---:|\n");
    for (ci, case) in w.cases.iter().enumerate() {
        let base_median = summarize(&results.samples[ci][0]).median;
        for (ai, alloc) in allocs.iter().enumerate() {
            let s = summarize(&results.samples[ci][ai]);
            let ratio = if base_median > 0.0 {
                format!("{:.2}", s.median / base_median)
            } else {
                "n/a".into()
            };
            t.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                case.label,
                alloc.name,
                group_thousands(s.median),
                group_thousands(s.min),
                group_thousands(s.max),
                ratio
            ));
        }
    }
    t
}

/// 12345678.9 -> "12,345,679".
pub fn group_thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

struct Options {
    runs: usize,
    threads: Vec<usize>,
    seconds: f64,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut o = Options {
        runs: 5,
        threads: vec![1, 4],
        seconds: 2.0,
    };
    let mut i = 0;
    while i < args.len() {
        let (flag, inline) = match args[i].split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (args[i].clone(), None),
        };
        let mut value = || -> Result<String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            i += 1;
            args.get(i)
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--runs" => {
                let v = value()?;
                o.runs = v
                    .parse()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or(format!("--runs: expected an integer >= 1, got `{v}`"))?;
            }
            "--threads" => {
                let v = value()?;
                o.threads = v
                    .split(',')
                    .map(|t| t.trim().parse::<usize>().ok().filter(|&n| n >= 1))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(format!("--threads: expected a list like 1,4, got `{v}`"))?;
            }
            "--seconds" => {
                let v = value()?;
                o.seconds = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
                    .ok_or(format!(
                        "--seconds: expected a number of seconds > 0, got `{v}`"
                    ))?;
            }
            other => return Err(format!("unknown option `{other}` (see `cargo xtask help`)")),
        }
        i += 1;
    }
    Ok(o)
}

pub fn bench_cmd(args: &[String]) -> Result<()> {
    match args.split_first() {
        Some((w, rest)) if w == "larson" => bench_larson(rest),
        Some((w, _)) => Err(format!("unknown workload `{w}`; available: larson")),
        None => {
            Err("usage: cargo xtask bench larson [--runs N] [--threads 1,4] [--seconds S]".into())
        }
    }
}

fn bench_larson(args: &[String]) -> Result<()> {
    let o = parse_options(args)?;
    let so = preload::build_preload()?;
    let binary = cbuild::build(&cbuild::LARSON)?;
    let mut workload = larson(binary, o.seconds, &o.threads);
    workload.build_cmd = cbuild::build_command(&cbuild::LARSON);
    let allocs = vec![Allocator::system(), Allocator::preloaded("hakmem", so)];
    run_and_report(&workload, &allocs, o.runs)
}

/// Print the record, run, print the table.
pub fn run_and_report(w: &Workload, allocs: &[Allocator], runs: usize) -> Result<()> {
    println!("== hakmem bench: {} ==", w.name);
    for (k, v) in sysinfo::record() {
        println!("{k:<14} {v}");
    }
    if let Some(build) = &w.build_cmd {
        println!("{:<14} {build}", "workload build");
    }
    if let Ok(p) = std::env::var("LD_PRELOAD") {
        println!(
            "note           your LD_PRELOAD={p} is NOT used: each run sets exactly its allocator's"
        );
    }
    println!("allocators:");
    for a in allocs {
        println!("  {:<8} {}", a.name, a.describe());
    }
    println!(
        "method:        {runs} rounds; each round runs every case under every allocator back to back (interleaved)"
    );
    println!("commands:");
    for case in &w.cases {
        for a in allocs {
            println!("  {}", util::display_cmd(&w.command(case, a)));
        }
    }
    println!("runs:");
    let results = run_interleaved(w, allocs, runs)?;
    println!();
    println!(
        "{} {} ({}, {}; {runs} runs each):",
        w.name,
        w.metric.name,
        w.metric.unit,
        if w.metric.higher_is_better {
            "higher is better"
        } else {
            "lower is better"
        }
    );
    println!();
    print!("{}", report_table(w, allocs, &results));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_larson_output() {
        let out = "larson: seconds=2 ...\nThreads created = 3, operations = 9\nThroughput = 26379696 operations per second\n";
        assert_eq!(parse_larson(out), Some(26379696.0));
        assert_eq!(
            parse_larson("Throughput =  1234 operations per second, relative time: 1s.\n"),
            Some(1234.0)
        );
        assert_eq!(
            parse_larson("Throughput = 12.5 operations per second.\n"),
            Some(12.5)
        );
        assert_eq!(parse_larson("no result\n"), None);
        assert_eq!(parse_larson("Throughput = nan ops\n"), None);
    }

    #[test]
    fn summary_median_min_max() {
        assert_eq!(
            summarize(&[3.0, 1.0, 2.0]),
            Summary {
                min: 1.0,
                median: 2.0,
                max: 3.0
            }
        );
        assert_eq!(
            summarize(&[4.0, 1.0, 2.0, 3.0]),
            Summary {
                min: 1.0,
                median: 2.5,
                max: 4.0
            }
        );
        assert_eq!(
            summarize(&[7.0]),
            Summary {
                min: 7.0,
                median: 7.0,
                max: 7.0
            }
        );
    }

    #[test]
    fn thousands() {
        assert_eq!(group_thousands(0.0), "0");
        assert_eq!(group_thousands(999.0), "999");
        assert_eq!(group_thousands(1000.0), "1,000");
        assert_eq!(group_thousands(26379696.4), "26,379,696");
    }

    #[test]
    fn options() {
        let o = parse_options(&[]).unwrap();
        assert_eq!((o.runs, o.threads.clone(), o.seconds), (5, vec![1, 4], 2.0));
        let args: Vec<String> = ["--runs", "3", "--threads=1,2,4", "--seconds", "0.5"]
            .map(String::from)
            .to_vec();
        let o = parse_options(&args).unwrap();
        assert_eq!(
            (o.runs, o.threads.clone(), o.seconds),
            (3, vec![1, 2, 4], 0.5)
        );
        assert!(parse_options(&["--runs".into(), "0".into()]).is_err());
        assert!(parse_options(&["--bogus".into()]).is_err());
    }

    #[test]
    fn larson_reference_arguments() {
        let w = larson("/x/larson".into(), 2.0, &[1, 4]);
        assert_eq!(
            w.cases[0].args,
            ["2", "8", "1024", "10000", "1", "12345", "1"]
        );
        assert_eq!(
            w.cases[1].args,
            ["2", "8", "1024", "10000", "1", "12345", "4"]
        );
        let w = larson("/x/larson".into(), 0.3, &[4]);
        assert_eq!(w.cases[0].args[0], "0.3");
    }

    #[test]
    fn table_ratio_against_first_allocator() {
        let w = larson("/x/larson".into(), 2.0, &[1]);
        let allocs = [
            Allocator::system(),
            Allocator::preloaded("hakmem", "/x/libhakmem.so".into()),
        ];
        let results = Results {
            samples: vec![vec![vec![100.0, 90.0, 110.0], vec![200.0, 210.0, 190.0]]],
        };
        let t = report_table(&w, &allocs, &results);
        assert!(t.contains("| 1 | system | 100 | 90 | 110 | 1.00 |"), "{t}");
        assert!(t.contains("| 1 | hakmem | 200 | 190 | 210 | 2.00 |"), "{t}");
    }
}
