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
//! Extension points: [`crate::peers`] (allocators), [`crate::workloads`]
//! (the catalogue: a C program, its cases, a [`Metric`]), [`crate::report`]
//! (tables, JSON, Markdown, SVG).

use crate::json::Json;
use crate::peers::{self, Skipped};
use crate::util::{self, Captured, Result};
use crate::workloads::{self, Params};
use crate::{cbuild, instructions, preload, report, sysinfo};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// An allocator under test: a name and the library to LD_PRELOAD (none for
/// the system allocator, which runs with LD_PRELOAD removed).
pub struct Allocator {
    pub name: String,
    pub preload: Option<PathBuf>,
    /// Where it comes from, for the record: `(what, value)`.
    pub info: Vec<(&'static str, String)>,
}

impl Allocator {
    pub fn system() -> Self {
        Allocator { name: "system".into(), preload: None, info: Vec::new() }
    }

    pub fn preloaded(name: &str, lib: PathBuf) -> Self {
        Allocator { name: name.into(), preload: Some(lib), info: Vec::new() }
    }

    pub fn is_hakmem(&self) -> bool {
        self.name == "hakmem"
    }

    /// The first word the workload's `allocator-check:` line must show.
    pub fn expected_check(&self) -> &str {
        match self.name.as_str() {
            "mimalloc-latest" => "mimalloc",
            n => n,
        }
    }

    /// Set exactly this allocator's LD_PRELOAD on `cmd` (nothing inherited).
    /// hakmem runs get every `HAKMEM_*` variable in effect set explicitly, so
    /// that the recorded command line shows them; the others run without them.
    pub fn apply(&self, cmd: &mut Command) {
        match &self.preload {
            Some(lib) => cmd.env("LD_PRELOAD", lib),
            None => cmd.env_remove("LD_PRELOAD"),
        };
        for (k, v) in sysinfo::hakmem_env() {
            if self.is_hakmem() {
                cmd.env(k, v);
            } else {
                cmd.env_remove(k);
            }
        }
    }

    pub fn describe(&self) -> String {
        let mut s = match &self.preload {
            Some(lib) => format!("LD_PRELOAD={}", lib.display()),
            None => "no LD_PRELOAD (the C library's malloc)".into(),
        };
        for (k, v) in &self.info {
            s.push_str(&format!("; {k}: {v}"));
        }
        s
    }

    pub fn json(&self) -> Json {
        let mut j = Json::obj()
            .with("name", self.name.as_str())
            .with("preload", self.preload.as_ref().map(|p| p.display().to_string()));
        for (k, v) in &self.info {
            j.push(k, v.as_str());
        }
        j
    }
}

/// The number a workload reports, and how to find it in its stdout: the
/// line `<key> = <number> ...`.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    /// e.g. "throughput".
    pub name: &'static str,
    /// e.g. "operations per second".
    pub unit: &'static str,
    /// e.g. "ops/s", for table headers.
    pub short_unit: &'static str,
    pub higher_is_better: bool,
    /// e.g. "Throughput".
    pub key: &'static str,
}

impl Metric {
    pub fn parse(&self, stdout: &str) -> Option<f64> {
        parse_keyed(stdout, self.key)
    }

    pub fn direction(&self) -> &'static str {
        if self.higher_is_better {
            "higher is better"
        } else {
            "lower is better"
        }
    }

    /// Whether `a` is better than `b`.
    pub fn better(&self, a: f64, b: f64) -> bool {
        if self.higher_is_better {
            a > b
        } else {
            a < b
        }
    }
}

/// The N of the first line `<key> = N ...` (finite numbers only).
pub fn parse_keyed(stdout: &str, key: &str) -> Option<f64> {
    stdout.lines().find_map(|line| {
        let rest = line.trim().strip_prefix(key)?.trim_start().strip_prefix('=')?;
        let number = rest.split_whitespace().next()?;
        number.parse::<f64>().ok().filter(|v| v.is_finite())
    })
}

/// What follows `allocator-check: ` in a workload's output.
pub fn allocator_check(stdout: &str) -> Option<&str> {
    stdout.lines().find_map(|l| l.trim().strip_prefix("allocator-check:")).map(str::trim)
}

/// Whether a run really used `alloc`: the loader did not drop the preload
/// and the program's `allocator-check:` line names the expected allocator.
/// `Err` is the reason, for the record.
pub fn verify_allocator(out: &Captured, alloc: &Allocator) -> std::result::Result<String, String> {
    if out.preload_ignored() {
        return Err(format!(
            "ran WITHOUT its LD_PRELOAD library (the loader could not load {})",
            alloc.preload.as_ref().map_or("it".into(), |p| p.display().to_string())
        ));
    }
    match allocator_check(&out.stdout) {
        None => Err("printed no `allocator-check:` line".into()),
        Some(seen) if seen.split_whitespace().next() == Some(alloc.expected_check()) => Ok(seen.to_string()),
        Some(seen) => Err(format!("ran under `{seen}`, not {} (allocator-check line)", alloc.name)),
    }
}

/// One configuration of a workload (a thread count, or a variant).
#[derive(Clone, Debug)]
pub struct Case {
    /// Label for tables, e.g. "4" or "2 (cross-thread)".
    pub label: String,
    /// Threads the case runs (recorded as `threads`).
    pub threads: usize,
    pub args: Vec<String>,
}

/// A benchmark program and the cases to run it with.
pub struct Workload {
    pub name: &'static str,
    /// One line: what it does.
    pub about: &'static str,
    pub binary: PathBuf,
    /// Header of the `label` column, e.g. "threads".
    pub case_column: &'static str,
    pub cases: Vec<Case>,
    pub metric: Metric,
    /// A run taking longer than this is killed and recorded as failed.
    pub timeout: Duration,
    /// How `binary` was built (for the record), if we built it.
    pub build_cmd: Option<String>,
    /// CPUs every run is pinned to (`taskset -c`), if any.
    pub cpus: Option<String>,
}

impl Workload {
    /// The exact command of one run.
    ///
    /// Pinned (`cpus`), the command is `taskset -c LIST PROGRAM ARGS`:
    /// `taskset` sets the affinity and execs the program in the same
    /// process, so the timeout, `wait4` and the program's `VmHWM` are the
    /// workload's. The allocator is preloaded into `taskset` too, for the
    /// moment before the exec (harmless; `HAKMEM_VERBOSE=1` prints its
    /// configuration line twice).
    pub fn command(&self, case: &Case, alloc: &Allocator) -> Command {
        let mut cmd = match &self.cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg(&self.binary);
                c
            }
            None => Command::new(&self.binary),
        };
        cmd.args(&case.args);
        util::restore_user_env(&mut cmd);
        alloc.apply(&mut cmd);
        cmd
    }
}

/// larson with the reference arguments of BENCHMARKS.md
/// (`seconds 8 1024 10000 1 12345 threads`), one case per thread count.
pub fn larson(binary: PathBuf, seconds: f64, threads: &[usize]) -> Workload {
    let params = Params { seconds, threads: threads.to_vec(), quick: false, seed: workloads::SEED };
    workloads::find("larson").expect("larson is in the catalogue").workload(binary, &params)
}

/// 2.0 -> "2", 0.3 -> "0.3": command lines read as a person would type them.
pub fn format_seconds(s: f64) -> String {
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
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    Summary { min: v[0], median, max: v[n - 1] }
}

/// Everything measured for one (case, allocator).
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// One metric value per successful run.
    pub values: Vec<f64>,
    /// Peak RSS (KiB) of each successful run.
    pub rss_kib: Vec<u64>,
    /// `run i: reason` of each failed run.
    pub failures: Vec<String>,
    /// The allocator-check line(s) seen (normally one).
    pub checks: Vec<String>,
    /// The exact command line.
    pub command: String,
}

impl Outcome {
    pub fn summary(&self) -> Option<Summary> {
        (!self.values.is_empty()).then(|| summarize(&self.values))
    }
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.rss_kib.iter().copied().max()
    }
}

/// The measurements of one workload: `outcomes[case][allocator]`.
pub struct WorkloadResults {
    pub workload: Workload,
    pub outcomes: Vec<Vec<Outcome>>,
    /// /proc/loadavg when its runs started (the machine is shared).
    pub loadavg: String,
}

impl WorkloadResults {
    /// Median of the first allocator (system) for a case.
    pub fn baseline(&self, case: usize) -> Option<f64> {
        self.outcomes[case].first().and_then(|o| o.summary()).map(|s| s.median)
    }

    /// The best allocator other than hakmem for a case: (index, median).
    pub fn best_peer(&self, case: usize, allocs: &[Allocator]) -> Option<(usize, f64)> {
        let m = &self.workload.metric;
        let mut best: Option<(usize, f64)> = None;
        for (ai, a) in allocs.iter().enumerate() {
            if a.is_hakmem() {
                continue;
            }
            if let Some(s) = self.outcomes[case][ai].summary() {
                if best.is_none_or(|(_, b)| m.better(s.median, b)) {
                    best = Some((ai, s.median));
                }
            }
        }
        best
    }
}

/// `a / b`, when meaningful.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b != 0.0 && a.is_finite() && b.is_finite()).then(|| a / b)
}

/// Progress over all the runs of an invocation: `[ 12/180 eta 4m10s]`.
pub struct Progress {
    total: usize,
    done: usize,
    start: Instant,
}

impl Progress {
    pub fn new(total: usize) -> Self {
        Progress { total, done: 0, start: Instant::now() }
    }

    /// Count one run and return the prefix of its progress line.
    pub fn step(&mut self) -> String {
        self.done += 1;
        let elapsed = self.start.elapsed().as_secs_f64();
        let eta = if self.done > 0 { elapsed / self.done as f64 * (self.total - self.done) as f64 } else { 0.0 };
        let width = self.total.to_string().len();
        format!(
            "[{:>width$}/{} {:>3}% eta {}]",
            self.done,
            self.total,
            self.done * 100 / self.total.max(1),
            format_duration(eta)
        )
    }
}

/// 75.0 -> "1m15s".
pub fn format_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Run one process and judge it: the metric value, or why the run failed.
pub fn run_one(w: &Workload, case: &Case, alloc: &Allocator) -> Result<(std::result::Result<f64, String>, Captured)> {
    let mut cmd = w.command(case, alloc);
    let out = util::run_captured(&mut cmd, w.timeout)?;
    let verdict = judge(&out, alloc, &w.metric);
    Ok((verdict, out))
}

/// The value of a finished run, or the reason it does not count.
pub fn judge(out: &Captured, alloc: &Allocator, metric: &Metric) -> std::result::Result<f64, String> {
    if out.timed_out {
        return Err(format!("timed out after {:.1} s and was killed", out.elapsed.as_secs_f64()));
    }
    if !out.status.success() {
        let tail: Vec<&str> = out.stderr.lines().rev().take(3).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let mut why = util::describe_status(out.status);
        if !tail.is_empty() {
            why.push_str(&format!("; stderr: {}", tail.join(" | ")));
        }
        return Err(why);
    }
    verify_allocator(out, alloc)?;
    metric.parse(&out.stdout).ok_or_else(|| format!("exited 0 but printed no `{} = ...` line", metric.key))
}

/// Run every case under every allocator, `runs` rounds, interleaved, one
/// progress line per run. Failed runs are recorded, not fatal.
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
            for (ai, alloc) in allocs.iter().enumerate() {
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
                        if let Some(c) = allocator_check(&out.stdout) {
                            if !o.checks.iter().any(|x| x == c) {
                                o.checks.push(c.to_string());
                            }
                        }
                        println!(
                            "{what}  {:>14} {}  peak RSS {}",
                            report::fmt_value(v, &w.metric),
                            w.metric.short_unit,
                            report::fmt_mib(out.peak_rss_kib())
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
    if v < 0.0 && digits != "0" {
        format!("-{out}")
    } else {
        out
    }
}

/// Parsed command line of `bench`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Workloads named on the command line (empty: all).
    pub workloads: Vec<String>,
    pub instructions: bool,
    pub criterion: bool,
    /// Arguments after `--` (for criterion).
    pub passthrough: Vec<String>,
    pub runs: usize,
    pub threads: Vec<usize>,
    pub allocs: Vec<String>,
    pub seconds: f64,
    pub json: Option<PathBuf>,
    pub save: Option<String>,
    pub quick: bool,
    /// `--cpus LIST`: every workload run pinned to these CPUs with
    /// `taskset -c LIST` (same for every allocator); `None`: the kernel
    /// places the threads.
    pub cpus: Option<String>,
}

impl Options {
    /// The workloads to run, in catalogue order.
    pub fn selected_workloads(&self) -> Vec<&'static str> {
        let all = self.workloads.is_empty() && !self.instructions;
        workloads::names().into_iter().filter(|n| all || self.workloads.iter().any(|w| w == n)).collect()
    }

    /// Whether instruction counts are measured: asked for, or everything.
    pub fn run_instructions(&self) -> bool {
        self.instructions || self.workloads.is_empty()
    }
}

pub fn parse_options(args: &[String]) -> Result<Options> {
    let mut o = Options {
        workloads: Vec::new(),
        instructions: false,
        criterion: false,
        passthrough: Vec::new(),
        runs: 0,
        threads: vec![1, 4],
        allocs: peers::ALL.iter().map(|s| s.to_string()).collect(),
        seconds: 0.0,
        json: None,
        save: None,
        quick: false,
        cpus: None,
    };
    let (mut runs, mut seconds) = (None, None);
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--" {
            o.passthrough = args[i + 1..].to_vec();
            break;
        }
        let (flag, inline) = match args[i].split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (args[i].clone(), None),
        };
        let mut value = || -> Result<String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            i += 1;
            args.get(i).cloned().ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--runs" => {
                let v = value()?;
                runs = Some(
                    v.parse().ok().filter(|&n| n >= 1).ok_or(format!("--runs: expected an integer >= 1, got `{v}`"))?,
                );
            }
            "--threads" => {
                let v = value()?;
                o.threads = v
                    .split(',')
                    .map(|t| t.trim().parse::<usize>().ok().filter(|&n| (1..=1024).contains(&n)))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(format!("--threads: expected a list like 1,4, got `{v}`"))?;
            }
            "--alloc" | "--allocs" => {
                let v = value()?;
                let mut list = Vec::new();
                for a in v.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                    if !peers::ALL.contains(&a) {
                        return Err(format!("--alloc: unknown allocator `{a}`; known: {}", peers::ALL.join(",")));
                    }
                    list.push(a.to_string());
                }
                if list.is_empty() {
                    return Err("--alloc: empty list".into());
                }
                o.allocs = list;
            }
            "--seconds" => {
                let v = value()?;
                seconds = Some(
                    v.parse::<f64>()
                        .ok()
                        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
                        .ok_or(format!("--seconds: expected a number of seconds > 0, got `{v}`"))?,
                );
            }
            "--json" => o.json = Some(PathBuf::from(value()?)),
            "--save" => {
                let v = value()?;
                let ok = !v.is_empty()
                    && !v.starts_with('.')
                    && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
                if !ok {
                    return Err(format!("--save: expected a name like first-race ([A-Za-z0-9._-]), got `{v}`"));
                }
                o.save = Some(v);
            }
            "--quick" => o.quick = true,
            "--cpus" => o.cpus = Some(parse_cpu_list(&value()?)?),
            "--instructions" => o.instructions = true,
            "--criterion" => o.criterion = true,
            f if f.starts_with('-') => return Err(format!("unknown option `{f}` (see `cargo xtask help`)")),
            name => {
                if name == "instructions" {
                    o.instructions = true;
                } else if name == "all" {
                    o.workloads.extend(workloads::names().iter().map(|s| s.to_string()));
                } else if workloads::find(name).is_some() {
                    o.workloads.push(name.to_string());
                } else {
                    return Err(format!(
                        "unknown workload `{name}`; available: {} (and `instructions`)",
                        workloads::names().join(", ")
                    ));
                }
            }
        }
        i += 1;
    }
    o.runs = runs.unwrap_or(if o.quick { 1 } else { 5 });
    o.seconds = seconds.unwrap_or(if o.quick { 0.25 } else { 2.0 });
    Ok(o)
}

/// Checks a `--cpus` list as `taskset -c` takes it (`0`, `0,1`, `0-1`).
pub fn parse_cpu_list(v: &str) -> Result<String> {
    cpu_numbers(v)?;
    Ok(v.to_string())
}

/// The CPUs a `--cpus` list names, in order.
pub fn cpu_numbers(v: &str) -> Result<Vec<usize>> {
    let bad = || format!("--cpus: expected a CPU list like 0 or 0,1 or 0-1, got `{v}`");
    let mut cpus = Vec::new();
    for part in v.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
        if !digits(a) || !digits(b) {
            return Err(bad());
        }
        let (a, b) = (a.parse::<usize>().map_err(|_| bad())?, b.parse::<usize>().map_err(|_| bad())?);
        if a > b || b >= 1024 {
            return Err(bad());
        }
        cpus.extend(a..=b);
    }
    Ok(cpus)
}

/// Refuses a `--cpus` list naming a CPU this process may not run on (a
/// pinned run would silently use fewer CPUs than its record says), and
/// checks that `taskset` is there.
fn check_cpus(list: &str) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity
    // writes at most its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is this thread; `set` is a live cpu_set_t.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r == 0 {
        for cpu in cpu_numbers(list)? {
            // SAFETY: `set` was filled by sched_getaffinity; cpu < 1024 = CPU_SETSIZE.
            if !unsafe { libc::CPU_ISSET(cpu, &set) } {
                return Err(format!(
                    "--cpus {list}: CPU {cpu} is not one this process may run on (see `taskset -p $$`)"
                ));
            }
        }
    }
    let out = Command::new("taskset")
        .args(["-c", list, "true"])
        .output()
        .map_err(|_| "--cpus needs `taskset` (Debian: apt-get install -y util-linux)".to_string())?;
    if !out.status.success() {
        return Err(format!(
            "--cpus {list}: `taskset -c {list} true` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Everything one invocation measured, for the reports.
pub struct Session {
    pub command_line: String,
    pub options: Options,
    pub machine: sysinfo::Machine,
    pub loadavg_end: String,
    pub hakmem_so: PathBuf,
    /// `hakmem: mode=...` printed under HAKMEM_VERBOSE=1.
    pub hakmem_resolved: String,
    pub allocs: Vec<Allocator>,
    pub skipped: Vec<Skipped>,
    pub results: Vec<WorkloadResults>,
    pub instructions: Option<instructions::Instructions>,
    pub wall_seconds: f64,
}

pub fn bench_cmd(args: &[String]) -> Result<()> {
    let o = parse_options(args)?;
    if o.criterion {
        if o.cpus.is_some() {
            return Err("--cpus applies to the workload programs, not to --criterion".into());
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
        check_cpus(cpus)?;
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
    // One tiny run under each allocator before anything is measured: it must
    // load and say who it is (allocator-check); a peer that does not is skipped.
    let mut allocs = Vec::new();
    for mut a in resolved {
        match probe(&pairs, &a) {
            Ok(seen) => {
                a.info.push(("reports", seen));
                allocs.push(a);
            }
            Err(e) if a.is_hakmem() || a.name == "system" => {
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
        "method:        {} rounds; each round runs every case under every allocator back to back (interleaved), {} s per timed run",
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

    fn parse_larson(stdout: &str) -> Option<f64> {
        parse_keyed(stdout, "Throughput")
    }

    #[test]
    fn parses_metric_lines() {
        let out =
            "larson: seconds=2 ...\nThreads created = 3, operations = 9\nThroughput = 26379696 operations per second\n";
        assert_eq!(parse_larson(out), Some(26379696.0));
        assert_eq!(parse_larson("Throughput =  1234 operations per second, relative time: 1s.\n"), Some(1234.0));
        assert_eq!(parse_larson("Throughput = 12.5 operations per second.\n"), Some(12.5));
        assert_eq!(parse_larson("no result\n"), None);
        assert_eq!(parse_larson("Throughput = nan ops\n"), None);
        assert_eq!(parse_keyed("x\nRetained = -0.25 percent of the burst\n", "Retained"), Some(-0.25));
    }

    #[test]
    fn allocator_check_lines() {
        let out = "allocator-check: hakmem 0.1.0\nThroughput = 5 ops\n";
        assert_eq!(allocator_check(out), Some("hakmem 0.1.0"));
        assert_eq!(allocator_check("Throughput = 5\n"), None);
        let fake = |stdout: &str, stderr: &str| Captured {
            status: std::os::unix::process::ExitStatusExt::from_raw(0),
            stdout: stdout.into(),
            stderr: stderr.into(),
            elapsed: Duration::ZERO,
            timed_out: false,
            max_rss_kib: 1,
        };
        let hak = Allocator::preloaded("hakmem", "/x/libhakmem.so".into());
        let mi = Allocator::preloaded("mimalloc-latest", "/x/libmi.so".into());
        assert!(verify_allocator(&fake(out, ""), &hak).is_ok());
        assert!(verify_allocator(&fake(out, ""), &mi).is_err());
        assert!(verify_allocator(&fake("allocator-check: mimalloc 30302\n", ""), &mi).is_ok());
        let lost = fake(
            "allocator-check: system glibc 2.36\n",
            "ERROR: ld.so: object '/x/libhakmem.so' from LD_PRELOAD cannot be preloaded: ignored.\n",
        );
        assert!(verify_allocator(&lost, &hak).unwrap_err().contains("WITHOUT"));
        let m = workloads::find("larson").unwrap().metric;
        assert_eq!(judge(&fake(out, ""), &hak, &m), Ok(5.0));
        assert!(judge(&fake("allocator-check: hakmem 0.1.0\n", ""), &hak, &m).is_err());
    }

    #[test]
    fn summary_median_min_max() {
        assert_eq!(summarize(&[3.0, 1.0, 2.0]), Summary { min: 1.0, median: 2.0, max: 3.0 });
        assert_eq!(summarize(&[4.0, 1.0, 2.0, 3.0]), Summary { min: 1.0, median: 2.5, max: 4.0 });
        assert_eq!(summarize(&[7.0]), Summary { min: 7.0, median: 7.0, max: 7.0 });
    }

    #[test]
    fn thousands_and_durations() {
        assert_eq!(group_thousands(0.0), "0");
        assert_eq!(group_thousands(999.0), "999");
        assert_eq!(group_thousands(1000.0), "1,000");
        assert_eq!(group_thousands(26379696.4), "26,379,696");
        assert_eq!(group_thousands(-1234.0), "-1,234");
        assert_eq!(format_duration(5.2), "5s");
        assert_eq!(format_duration(75.0), "1m15s");
        assert_eq!(format_duration(3725.0), "1h02m");
    }

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options() {
        let o = parse_options(&[]).unwrap();
        assert_eq!((o.runs, o.threads.clone(), o.seconds), (5, vec![1, 4], 2.0));
        assert_eq!(o.selected_workloads().len(), workloads::names().len());
        assert!(o.run_instructions());
        assert_eq!(o.allocs.len(), peers::ALL.len());

        let o = parse_options(&args("larson --runs 3 --threads=1,2,4 --seconds 0.5")).unwrap();
        assert_eq!((o.runs, o.threads.clone(), o.seconds), (3, vec![1, 2, 4], 0.5));
        assert_eq!(o.selected_workloads(), ["larson"]);
        assert!(!o.run_instructions());

        let o = parse_options(&args("--instructions")).unwrap();
        assert!(o.selected_workloads().is_empty() && o.run_instructions());
        let o = parse_options(&args("mid larson instructions --quick")).unwrap();
        assert_eq!(o.selected_workloads(), ["larson", "mid"]);
        assert!(o.run_instructions());
        assert_eq!((o.runs, o.seconds), (1, 0.25));

        let o = parse_options(&args("--alloc hakmem,jemalloc --json /tmp/x.json --save first-race")).unwrap();
        assert_eq!(o.allocs, ["hakmem", "jemalloc"]);
        assert_eq!(o.save.as_deref(), Some("first-race"));
        assert_eq!(o.cpus, None);
        let o = parse_options(&args("prodcons --cpus 0")).unwrap();
        assert_eq!(o.cpus.as_deref(), Some("0"));
        let o = parse_options(&args("--cpus=0-1,3")).unwrap();
        assert_eq!(o.cpus.as_deref(), Some("0-1,3"));
        let o = parse_options(&args("--criterion -- pair/hakmem")).unwrap();
        assert!(o.criterion);
        assert_eq!(o.passthrough, ["pair/hakmem"]);

        for bad in [
            "--runs 0",
            "--bogus",
            "nosuchworkload",
            "--alloc dlmalloc",
            "--save ../x",
            "--threads 0",
            "--seconds -1",
            "--cpus x",
            "--cpus 1-0",
            "--cpus 0,,1",
            "--cpus",
            "--cpus +1",
            "--cpus 0-",
        ] {
            assert!(parse_options(&args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn larson_reference_arguments() {
        let w = larson("/x/larson".into(), 2.0, &[1, 4]);
        assert_eq!(w.cases[0].args, ["2", "8", "1024", "10000", "1", "12345", "1"]);
        assert_eq!(w.cases[1].args, ["2", "8", "1024", "10000", "1", "12345", "4"]);
        let w = larson("/x/larson".into(), 0.3, &[4]);
        assert_eq!(w.cases[0].args[0], "0.3");
    }

    #[test]
    fn commands_set_exactly_one_allocator() {
        let w = larson("/x/larson".into(), 2.0, &[1]);
        let sys = util::display_cmd(&w.command(&w.cases[0], &Allocator::system()));
        assert!(sys.starts_with("env -u LD_PRELOAD /x/larson 2 8 1024"), "{sys}");
        let hak = Allocator::preloaded("hakmem", "/x/libhakmem.so".into());
        let line = util::display_cmd(&w.command(&w.cases[0], &hak));
        assert!(line.contains("LD_PRELOAD=/x/libhakmem.so "), "{line}");
        assert!(line.ends_with("/x/larson 2 8 1024 10000 1 12345 1"), "{line}");
    }

    #[test]
    fn cpu_lists_expand_like_taskset() {
        assert_eq!(cpu_numbers("0").unwrap(), [0]);
        assert_eq!(cpu_numbers("0-2,5").unwrap(), [0, 1, 2, 5]);
        assert!(cpu_numbers("1024").is_err());
        // CPU 0 may be outside a restricted affinity mask; a CPU far beyond
        // any machine's never is inside.
        assert!(check_cpus("1023").is_err());
    }

    #[test]
    fn pinned_commands_run_the_workload_under_taskset() {
        let mut w = larson("/x/larson".into(), 2.0, &[4]);
        w.cpus = Some("0".into());
        let hak = Allocator::preloaded("hakmem", "/x/libhakmem.so".into());
        let line = util::display_cmd(&w.command(&w.cases[0], &hak));
        assert!(line.contains("LD_PRELOAD=/x/libhakmem.so "), "{line}");
        assert!(line.ends_with("taskset -c 0 /x/larson 2 8 1024 10000 1 12345 4"), "{line}");
        let sys = util::display_cmd(&w.command(&w.cases[0], &Allocator::system()));
        assert!(sys.starts_with("env -u LD_PRELOAD taskset -c 0 /x/larson"), "{sys}");
    }
}
