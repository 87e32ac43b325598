//! The shared vocabulary of `bench`, its catalogue, peers, instruction
//! counts and reports: an [`Allocator`] under test, a [`Workload`] with its
//! [`Case`]s and [`Metric`], the [`Outcome`]s of its runs, how a finished run
//! is judged ([`judge`]: the allocator really loaded, the metric printed), and
//! the number formats every table and progress line uses.
//!
//! A leaf of the module graph: it imports only [`crate::util`] and
//! [`crate::json`], so every module above can use it without a cycle
//! (layer order: `main.rs`, `LAYERS`).

use crate::json::Json;
use crate::util::{self, Captured};
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
    /// Given with `--extra NAME=PATH` (e.g. another build of hakmem): run
    /// like a peer, but never the "best peer" of a ratio.
    pub extra: bool,
    /// An extra's first word of `allocator-check:`, as its probe run
    /// reported it (`None` before the probe: any allocator but the system's);
    /// for a configuration of `features`, `hakmem`.
    pub reports_as: Option<String>,
    /// Variables set (`Some`) or removed (`None`) on its runs after the
    /// user's `HAKMEM_*` ones: a configuration of `cargo xtask features`.
    pub env: Vec<(String, Option<String>)>,
}

impl Allocator {
    pub fn system() -> Self {
        Allocator {
            name: "system".into(),
            preload: None,
            info: Vec::new(),
            extra: false,
            reports_as: None,
            env: Vec::new(),
        }
    }

    pub fn preloaded(name: &str, lib: PathBuf) -> Self {
        Allocator {
            name: name.into(),
            preload: Some(lib),
            info: Vec::new(),
            extra: false,
            reports_as: None,
            env: Vec::new(),
        }
    }

    /// An allocator given with `--extra NAME=PATH`.
    pub fn extra(name: &str, lib: PathBuf) -> Self {
        Allocator { extra: true, ..Allocator::preloaded(name, lib) }
    }

    pub fn is_hakmem(&self) -> bool {
        self.name == "hakmem"
    }

    /// hakmem, or an extra that is a build of hakmem: runs with the
    /// `HAKMEM_*` variables in effect.
    pub fn is_hakmem_build(&self) -> bool {
        self.is_hakmem() || self.reports_as.as_deref() == Some("hakmem")
    }

    /// Whether it competes for "best peer": every allocator but hakmem and
    /// the extras (the system allocator included).
    pub fn is_peer(&self) -> bool {
        !self.is_hakmem() && !self.extra
    }

    /// The first word the workload's `allocator-check:` line must show;
    /// `None` for an extra not yet probed (anything but `system`).
    pub fn expected_check(&self) -> Option<&str> {
        if self.extra || self.reports_as.is_some() {
            return self.reports_as.as_deref();
        }
        Some(match self.name.as_str() {
            "mimalloc-latest" => "mimalloc",
            n => n,
        })
    }

    /// Set exactly this allocator's LD_PRELOAD on `cmd` (nothing inherited).
    /// hakmem runs (and those of an extra that is a hakmem build) get every
    /// `HAKMEM_*` variable in effect set explicitly, so that the recorded
    /// command line shows them; the others run without them. Then its own
    /// [`Allocator::env`] (a configuration's variables) is applied.
    pub fn apply(&self, cmd: &mut Command) {
        match &self.preload {
            Some(lib) => cmd.env("LD_PRELOAD", lib),
            None => cmd.env_remove("LD_PRELOAD"),
        };
        for (k, v) in util::hakmem_env() {
            if self.is_hakmem_build() {
                cmd.env(k, v);
            } else {
                cmd.env_remove(k);
            }
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
    }

    pub fn describe(&self) -> String {
        let mut s = match &self.preload {
            Some(lib) => format!("LD_PRELOAD={}", lib.display()),
            None => "no LD_PRELOAD (the C library's malloc)".into(),
        };
        if self.extra {
            s.push_str("; extra (--extra), not a peer");
        }
        for (k, v) in &self.info {
            s.push_str(&format!("; {k}: {v}"));
        }
        s
    }

    pub fn json(&self) -> Json {
        let mut j = Json::obj()
            .with("name", self.name.as_str())
            .with("preload", self.preload.as_ref().map(|p| p.display().to_string()));
        if self.extra {
            j.push("extra", true);
        }
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
        Some(seen) if check_matches(seen, alloc) => Ok(seen.to_string()),
        Some(seen) => Err(format!("ran under `{seen}`, not {} (allocator-check line)", alloc.name)),
    }
}

/// Whether an `allocator-check:` line names `alloc`: its expected first word,
/// or for an extra not yet probed any preloaded allocator (not `system`: the
/// library did not replace malloc).
fn check_matches(seen: &str, alloc: &Allocator) -> bool {
    let first = seen.split_whitespace().next();
    match alloc.expected_check() {
        Some(expected) => first == Some(expected),
        None => first.is_some_and(|w| w != "system"),
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
    /// Further keyed measures each run prints (e.g. `Steady RSS`): recorded
    /// per run and reported, not judged (a run that lacks one still counts).
    pub also: &'static [Metric],
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
    /// `also[i]`: the value of the workload's i-th further measure
    /// ([`Workload::also`]) in each successful run that printed it.
    pub also: Vec<Vec<f64>>,
}

impl Outcome {
    /// Record the further measures of a successful run's stdout.
    pub fn push_also(&mut self, also: &[Metric], stdout: &str) {
        self.also.resize(also.len(), Vec::new());
        for (values, m) in self.also.iter_mut().zip(also) {
            if let Some(v) = m.parse(stdout) {
                values.push(v);
            }
        }
    }

    /// min / median / max of the i-th further measure, if any run printed it.
    pub fn also_summary(&self, i: usize) -> Option<Summary> {
        self.also.get(i).filter(|v| !v.is_empty()).map(|v| summarize(v))
    }

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

    /// The best peer for a case (an allocator other than hakmem and the
    /// extras, [`Allocator::is_peer`]): (index, median).
    pub fn best_peer(&self, case: usize, allocs: &[Allocator]) -> Option<(usize, f64)> {
        let m = &self.workload.metric;
        let mut best: Option<(usize, f64)> = None;
        for (ai, a) in allocs.iter().enumerate() {
            if !a.is_peer() {
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

/// A metric value for tables: thousands separators for big numbers.
pub fn fmt_value(v: f64, m: &Metric) -> String {
    if m.short_unit == "%" {
        format!("{v:.1}")
    } else if v.abs() >= 1000.0 {
        group_thousands(v)
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// KiB -> "12.3 MiB".
pub fn fmt_mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
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
        let m = Metric {
            name: "throughput",
            unit: "operations per second",
            short_unit: "ops/s",
            higher_is_better: true,
            key: "Throughput",
        };
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

    #[test]
    fn extras_check_like_peers_and_are_never_the_best_peer() {
        let fake = |stdout: &str| Captured {
            status: std::os::unix::process::ExitStatusExt::from_raw(0),
            stdout: stdout.into(),
            stderr: String::new(),
            elapsed: Duration::ZERO,
            timed_out: false,
            max_rss_kib: 1,
        };
        let hakmem_line = fake("allocator-check: hakmem 0.1.0\nThroughput = 5 ops\n");
        let mut base = Allocator::extra("hakmem-base", "/x/base.so".into());
        assert!(base.extra && !base.is_peer() && !base.is_hakmem() && !base.is_hakmem_build());
        // Before its probe an extra may be any allocator but the system's.
        assert!(verify_allocator(&hakmem_line, &base).is_ok());
        assert!(verify_allocator(&fake("allocator-check: system glibc 2.36\n"), &base).is_err());
        // After it, every run must name what the probe saw.
        base.reports_as = Some("hakmem".into());
        assert!(base.is_hakmem_build());
        assert_eq!(base.expected_check(), Some("hakmem"));
        assert!(verify_allocator(&hakmem_line, &base).is_ok());
        assert!(verify_allocator(&fake("allocator-check: jemalloc 5.3.0\n"), &base).is_err());
        assert!(Allocator::system().is_peer() && !Allocator::preloaded("hakmem", "/h.so".into()).is_peer());
        assert!(base.describe().contains("extra (--extra), not a peer"));
        assert!(base.json().pretty().contains("\"extra\": true"));
        assert!(!Allocator::system().json().pretty().contains("extra"));

        // hakmem-base is faster than every peer but is not the best peer.
        let metric = Metric {
            name: "throughput",
            unit: "operations per second",
            short_unit: "ops/s",
            higher_is_better: true,
            key: "Throughput",
        };
        let w = Workload {
            name: "w",
            about: "",
            binary: "/x/w".into(),
            case_column: "threads",
            cases: vec![Case { label: "1".into(), threads: 1, args: vec![] }],
            metric,
            also: &[],
            timeout: Duration::from_secs(1),
            build_cmd: None,
            cpus: None,
        };
        let o = |v: f64| Outcome { values: vec![v], ..Outcome::default() };
        let allocs = [
            Allocator::system(),
            Allocator::preloaded("hakmem", "/h.so".into()),
            Allocator::preloaded("jemalloc", "/j.so".into()),
            base,
        ];
        let r = WorkloadResults {
            workload: w,
            outcomes: vec![vec![o(1.0), o(4.0), o(2.0), o(9.0)]],
            loadavg: String::new(),
        };
        assert_eq!(r.best_peer(0, &allocs), Some((2, 2.0)));
    }

    #[test]
    fn further_measures_are_recorded_when_printed() {
        const STEADY: Metric =
            Metric { name: "s", unit: "x", short_unit: "x", higher_is_better: false, key: "Steady RSS" };
        let mut o = Outcome::default();
        o.push_also(&[STEADY], "Throughput = 5 ops\nSteady RSS = 1.25 times\n");
        o.push_also(&[STEADY], "Throughput = 5 ops\n");
        o.push_also(&[STEADY], "Steady RSS = 1.5 times\n");
        assert_eq!(o.also, [vec![1.25, 1.5]]);
        assert_eq!(o.also_summary(0).map(|s| s.max), Some(1.5));
        assert_eq!(o.also_summary(1), None);
    }
}
