//! `features --cost`: what each configuration costs on larson against
//! `minimal`, measured run against neighbouring run (issue 16's line "every
//! feature alone costs at most 2 % on larson 1T and 4T").
//!
//! Why not the matrix's rounds: on this 2-core VM larson's throughput
//! drifts by 20 to 40 % over tens of seconds, the same build back to back
//! (decision 0050), while a round of the matrix spans 20 to 40 s. Here a
//! round of a case is short runs in the order `minimal, A, minimal, B,
//! minimal, ..., minimal`, so every run of a configuration sits between two
//! runs of minimal taken a fraction of a second before and after it, and its
//! ratio is its throughput ÷ the mean of those two (which cancels a linear
//! drift). The order of the others rotates by one each round. The cost is
//! one minus the median of a configuration's ratios, with a 95 % confidence
//! interval of that median from the order statistics. For `minimal-F` (a
//! feature minimal turns on) the feature's ratio is the inverse: minimal ÷
//! the configuration without it.
//!
//! With `--base PATH` the reference is minimal on another build of the
//! library (`base`), so the same brackets give a landing's cost: this
//! build's configurations against the commit before, run against
//! neighbouring run.

use crate::bench::run_one;
use crate::configs::{Config, Kind};
use crate::json::Json;
use crate::matrix::COST_LIMIT;
use crate::model::{format_duration, Allocator};
use crate::sysinfo::Machine;
use crate::workloads;
use std::path::{Path, PathBuf};

/// The run order of one round: minimal (index `minimal`) first, last and
/// between every two of `others`, whose order is rotated by `round`.
pub fn round_sequence(others: &[usize], minimal: usize, round: usize) -> Vec<usize> {
    let n = others.len();
    let mut seq = vec![minimal];
    for k in 0..n {
        seq.push(others[(k + round) % n]);
        seq.push(minimal);
    }
    seq
}

/// The ratio of every run of a round that is not minimal's: its value ÷
/// the mean of the minimal runs on either side, as `(configuration,
/// ratio)`. A run without a value (failed), or whose neighbours have none,
/// yields nothing.
pub fn bracket_ratios(seq: &[usize], values: &[Option<f64>], minimal: usize) -> Vec<(usize, f64)> {
    let mut out = Vec::new();
    for i in 1..seq.len().saturating_sub(1) {
        if seq[i] == minimal || seq[i - 1] != minimal || seq[i + 1] != minimal {
            continue;
        }
        if let (Some(before), Some(x), Some(after)) = (values[i - 1], values[i], values[i + 1]) {
            let base = (before + after) / 2.0;
            if base > 0.0 && x > 0.0 {
                out.push((seq[i], x / base));
            }
        }
    }
    out
}

/// The median of `v` and a confidence interval of about 95 % for it: the
/// order statistics of ranks n/2 ∓ 0.98 √n (the normal approximation of the
/// binomial), clamped to the sample. `None` for an empty sample.
pub fn median_ci(v: &[f64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    let median = if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 };
    let half = 0.98 * (n as f64).sqrt();
    let lo = ((n as f64 / 2.0 - half).floor().max(0.0) as usize).min(n - 1);
    let hi = ((n as f64 / 2.0 + half).ceil() as usize).min(n - 1);
    Some((median, s[lo], s[hi]))
}

/// One configuration's cost in one case.
#[derive(Clone, Debug, PartialEq)]
pub struct Cost {
    /// The feature's (or mode's) ratios to minimal, one per bracketed run
    /// (inverted for `minimal-F`).
    pub ratios: Vec<f64>,
    /// 1 - median ratio, and the cost at the two ends of the median's
    /// interval (the low cost first).
    pub cost: Option<(f64, f64, f64)>,
}

impl Cost {
    pub fn of(config: &Config, ratios: Vec<f64>) -> Cost {
        let ratios: Vec<f64> =
            if matches!(config.kind, Kind::Minus(_)) { ratios.iter().map(|r| 1.0 / r).collect() } else { ratios };
        let cost = median_ci(&ratios).map(|(m, lo, hi)| (1.0 - m, 1.0 - hi, 1.0 - lo));
        Cost { ratios, cost }
    }
}

/// One run: (case, round, configuration, its throughput or why it failed).
pub type Run = (usize, usize, usize, std::result::Result<f64, String>);

/// What [`measure`] returns.
pub struct Measured {
    /// The larson cases' labels (1 and 4 threads).
    pub cases: Vec<String>,
    /// Per case, per configuration, its cost (minimal's own is empty).
    pub costs: Vec<Vec<Cost>>,
    /// Every run in order.
    pub log: Vec<Run>,
    /// The command line of every (case, configuration).
    pub commands: Vec<String>,
}

/// Everything one `--cost` invocation measured.
pub struct CostSession {
    pub command_line: String,
    pub machine: Machine,
    pub hakmem_so: PathBuf,
    /// `--base`: the other build that the reference runs.
    pub base_so: Option<PathBuf>,
    /// The configuration every other one is bracketed by (minimal, or
    /// `base`).
    pub reference: usize,
    pub runs: usize,
    pub seconds: f64,
    pub configs: Vec<Config>,
    pub allocs: Vec<Allocator>,
    pub measured: Measured,
    pub wall_seconds: f64,
}

/// Runs larson's rounds, every run of a configuration between two runs of
/// configuration `minimal` (the reference); returns the costs per case and
/// the run log.
pub fn measure(
    larson: &Path,
    configs: &[Config],
    allocs: &[Allocator],
    minimal: usize,
    runs: usize,
    seconds: f64,
) -> crate::util::Result<Measured> {
    let w = workloads::larson(larson.to_path_buf(), seconds, &[1, 4]);
    let others: Vec<usize> = (0..configs.len()).filter(|&i| i != minimal).collect();
    let mut log = Vec::new();
    let mut costs = Vec::new();
    let mut commands = Vec::new();
    for (ki, case) in w.cases.iter().enumerate() {
        for a in allocs {
            commands.push(crate::util::display_cmd(&w.command(case, a)));
        }
        let mut ratios = vec![Vec::new(); configs.len()];
        for round in 0..runs {
            let seq = round_sequence(&others, minimal, round);
            let mut values = Vec::with_capacity(seq.len());
            for &ci in &seq {
                let (verdict, _) = run_one(&w, case, &allocs[ci])?;
                values.push(verdict.as_ref().ok().copied());
                log.push((ki, round, ci, verdict));
            }
            let got = bracket_ratios(&seq, &values, minimal);
            let line: Vec<String> = got.iter().map(|(ci, r)| format!("{} {r:.3}", configs[*ci].name)).collect();
            println!("larson t={} round {}/{runs}: {}", case.label, round + 1, line.join(", "));
            for (ci, r) in got {
                ratios[ci].push(r);
            }
        }
        costs.push(configs.iter().zip(ratios).map(|(c, r)| Cost::of(c, r)).collect());
    }
    Ok(Measured { cases: w.cases.iter().map(|c| c.label.clone()).collect(), costs, log, commands })
}

fn pct(x: f64) -> String {
    format!("{:+.1} %", x * 100.0)
}

/// `+0.4 % [-1.0, +1.9]`, or `n/a`.
fn cell(c: &Cost) -> String {
    match c.cost {
        Some((m, lo, hi)) => format!("{} [{:+.1}, {:+.1}]", pct(m), lo * 100.0, hi * 100.0),
        None => "n/a".into(),
    }
}

/// PASS when the median cost is at most [`COST_LIMIT`] in every case.
fn verdict(s: &CostSession, ci: usize) -> String {
    let mut why = Vec::new();
    for (ki, label) in s.measured.cases.iter().enumerate() {
        match s.measured.costs[ki][ci].cost {
            None => return "n/a (no ratio)".into(),
            Some((m, _, _)) if m > COST_LIMIT => why.push(format!("costs {} at {label}T", pct(m))),
            _ => {}
        }
    }
    if why.is_empty() {
        "PASS".into()
    } else {
        format!("**FAIL**: {}", why.join("; "))
    }
}

fn what(s: &CostSession, c: &Config) -> String {
    if s.base_so.is_some() {
        return format!("{} of this build vs minimal of the base build", c.name);
    }
    match &c.kind {
        Kind::Plus(f) => format!("{f} (minimal+{f} vs minimal)"),
        Kind::Minus(f) => format!("{f} (minimal vs minimal-{f})"),
        Kind::Mode(m) => format!("mode {}", m.name()),
        _ => c.name.clone(),
    }
}

const METHOD: &str = "larson with its reference arguments at 1 and 4 threads; per case, rounds of short runs in the \
    order minimal, A, minimal, B, ..., minimal (the others' order rotated by one each round), each run a separate \
    process; a run's ratio is its throughput ÷ the mean of the minimal runs just before and after it; cost = 1 - the \
    median ratio (for minimal-F, the feature's ratio is minimal ÷ minimal-F); the interval is the median's 95 % \
    confidence interval from the order statistics";

/// [`METHOD`], and with `--base` which build the reference runs.
fn method(s: &CostSession) -> String {
    match &s.base_so {
        None => METHOD.into(),
        Some(_) => format!(
            "{METHOD}; here minimal is the base build's library (the reference) and every other configuration \
             is this build's"
        ),
    }
}

/// The summary table (terminal and Markdown).
pub fn table(s: &CostSession) -> String {
    let mut t = String::from("| configuration | what it measures |");
    for label in &s.measured.cases {
        t.push_str(&format!(" larson {label}T cost [95 % CI] |"));
    }
    t.push_str(" ratios | verdict (cost ≤ 2 %) |\n|:---|:---|");
    t.push_str(&"---:|".repeat(s.measured.cases.len()));
    t.push_str("---:|:---|\n");
    for (ci, c) in s.configs.iter().enumerate() {
        if ci == s.reference {
            continue;
        }
        t.push_str(&format!("| {} | {} |", c.name, what(s, c)));
        for ki in 0..s.measured.cases.len() {
            t.push_str(&format!(" {} |", cell(&s.measured.costs[ki][ci])));
        }
        let n: Vec<String> =
            (0..s.measured.cases.len()).map(|ki| s.measured.costs[ki][ci].ratios.len().to_string()).collect();
        t.push_str(&format!(" {} | {} |\n", n.join(" / "), verdict(s, ci)));
    }
    t
}

/// The JSON record (schema `hakmem-larson-cost/1`).
pub fn json(s: &CostSession) -> Json {
    let mut config = s.machine.json();
    config.push("command", s.command_line.as_str());
    config.push("wall_seconds", (s.wall_seconds * 10.0).round() / 10.0);
    config.push("rounds", s.runs);
    config.push("seconds_per_timed_run", s.seconds);
    config.push("hakmem_so", s.hakmem_so.display().to_string());
    if let Some(base) = &s.base_so {
        config.push("base_so", base.display().to_string());
    }
    config.push("reference", s.configs[s.reference].name.as_str());
    config.push("method", method(s));
    config.push("commands", Json::Arr(s.measured.commands.iter().map(|c| Json::from(c.as_str())).collect()));
    let mut results = Vec::new();
    for (ci, c) in s.configs.iter().enumerate() {
        let mut r = Json::obj().with("configuration", c.name.as_str()).with("vars", c.vars_line());
        for (ki, label) in s.measured.cases.iter().enumerate() {
            let k = &s.measured.costs[ki][ci];
            r.push(
                &format!("larson_{label}t"),
                Json::obj()
                    .with("ratios", k.ratios.clone())
                    .with("cost", k.cost.map(|x| x.0))
                    .with("cost_ci_low", k.cost.map(|x| x.1))
                    .with("cost_ci_high", k.cost.map(|x| x.2)),
            );
        }
        if ci != s.reference {
            r.push("verdict", verdict(s, ci));
        }
        results.push(r);
    }
    let runs = s
        .measured
        .log
        .iter()
        .map(|(ki, round, ci, v)| {
            let o = Json::obj()
                .with("threads", s.measured.cases[*ki].as_str())
                .with("round", *round + 1)
                .with("configuration", s.configs[*ci].name.as_str());
            match v {
                Ok(x) => o.with("throughput", *x),
                Err(e) => o.with("failure", e.as_str()),
            }
        })
        .collect();
    Json::obj()
        .with("schema", "hakmem-larson-cost/1")
        .with("config", config)
        .with("results", Json::Arr(results))
        .with("runs", Json::Arr(runs))
}

/// docs/bench/NAME.md.
pub fn markdown(s: &CostSession, name: &str) -> String {
    let mut md = format!("# Larson cost `{name}`\n\n");
    md.push_str(&format!(
        "Produced by `{}` on {} (wall time {}), commit {}. Every run is in [`{name}.json`]({name}.json).\n\n",
        s.command_line,
        s.machine.date_utc,
        format_duration(s.wall_seconds),
        s.machine.git_commit()
    ));
    md.push_str(&format!("Method: {}; {} rounds of {} s runs.\n\n", method(s), s.runs, s.seconds));
    md.push_str(&table(s));
    md.push_str(&format!("\n![cost per configuration]({name}.svg)\n\n## Record\n\n| | |\n|:---|:---|\n"));
    for (k, v) in s.machine.lines() {
        md.push_str(&format!("| {k} | {} |\n", v.replace('|', "\\|")));
    }
    md.push_str(&format!("| libhakmem.so | {} |\n", s.hakmem_so.display()));
    if let Some(base) = &s.base_so {
        md.push_str(&format!("| base libhakmem.so (the reference) | {} |\n", base.display()));
    }
    for (c, a) in s.configs.iter().zip(&s.allocs) {
        md.push_str(&format!("| configuration {} | `{}`; {} |\n", c.name, c.vars_line(), a.describe()));
    }
    md.push_str("\nCommands:\n\n```\n");
    for c in &s.measured.commands {
        md.push_str(c);
        md.push('\n');
    }
    md.push_str("```\n");
    md
}

/// Each configuration's cost per case with its interval, on a linear scale
/// from -10 % to +10 %, the 2 % limit drawn.
pub fn svg_chart(s: &CostSession) -> String {
    let rows: Vec<usize> = (0..s.configs.len()).filter(|&ci| ci != s.reference).collect();
    let (left, top, row_h, plot_w) = (150.0, 50.0, 14.0 * s.measured.cases.len() as f64 + 8.0, 420.0);
    let height = top + rows.len() as f64 * row_h + 40.0;
    let width = left + plot_w + 30.0;
    let x = |c: f64| left + (c.clamp(-0.1, 0.1) + 0.1) / 0.2 * plot_w;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" font-family=\"sans-serif\" font-size=\"10\">\n\
         <rect width=\"{width:.0}\" height=\"{height:.0}\" fill=\"white\"/>\n\
         <text x=\"8\" y=\"18\" font-size=\"13\" font-weight=\"bold\">larson cost against {} (median, 95 % CI); right of the red line: over 2 %</text>\n\
         <text x=\"8\" y=\"34\" fill=\"#555\">commit {} · {} rounds of {} s</text>\n",
        s.configs[s.reference].name,
        s.machine.git_commit(),
        s.runs,
        s.seconds
    );
    let bottom = top + rows.len() as f64 * row_h;
    for tick in [-0.1, -0.05, 0.0, 0.05, 0.1] {
        out.push_str(&format!(
            "<line x1=\"{0:.1}\" y1=\"{top}\" x2=\"{0:.1}\" y2=\"{bottom:.1}\" stroke=\"{1}\"/><text x=\"{0:.1}\" y=\"{2:.1}\" text-anchor=\"middle\">{3:+.0} %</text>\n",
            x(tick),
            if tick == 0.0 { "#333" } else { "#ddd" },
            bottom + 14.0,
            tick * 100.0
        ));
    }
    out.push_str(&format!(
        "<line x1=\"{0:.1}\" y1=\"{top}\" x2=\"{0:.1}\" y2=\"{bottom:.1}\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"/>\n",
        x(COST_LIMIT)
    ));
    let colors = ["#1f77b4", "#ff7f0e"];
    for (ri, &ci) in rows.iter().enumerate() {
        let y0 = top + ri as f64 * row_h;
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            left - 6.0,
            y0 + row_h / 2.0 + 3.0,
            s.configs[ci].name
        ));
        for ki in 0..s.measured.cases.len() {
            let Some((m, lo, hi)) = s.measured.costs[ki][ci].cost else { continue };
            let y = y0 + 8.0 + ki as f64 * 14.0;
            let color = colors[ki % colors.len()];
            out.push_str(&format!(
                "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{color}\"/><circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{color}\"><title>{} {}T: {}</title></circle>\n",
                x(lo),
                x(hi),
                x(m),
                s.configs[ci].name,
                s.measured.cases[ki],
                cell(&s.measured.costs[ki][ci])
            ));
        }
    }
    for (ki, label) in s.measured.cases.iter().enumerate() {
        let lx = left + ki as f64 * 70.0;
        out.push_str(&format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\">{label} thread(s)</text>\n",
            lx,
            bottom + 28.0,
            colors[ki % colors.len()],
            lx + 8.0,
            bottom + 31.0
        ));
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_brackets_every_run_and_the_others_rotate() {
        assert_eq!(round_sequence(&[1, 2, 3], 0, 0), [0, 1, 0, 2, 0, 3, 0]);
        assert_eq!(round_sequence(&[1, 2, 3], 0, 1), [0, 2, 0, 3, 0, 1, 0]);
        assert_eq!(round_sequence(&[0, 2], 1, 3), [1, 2, 1, 0, 1]);
    }

    /// A drift that falls linearly over the round cancels: a configuration
    /// 2 % slower than minimal shows 0.98 wherever it runs.
    #[test]
    fn a_linear_drift_cancels_in_the_bracket() {
        let seq = round_sequence(&[1, 2], 0, 0);
        let true_ratio = [1.0, 0.98, 1.05];
        let values: Vec<Option<f64>> =
            seq.iter().enumerate().map(|(i, &c)| Some(100.0 * (1.0 - 0.05 * i as f64) * true_ratio[c])).collect();
        let r = bracket_ratios(&seq, &values, 0);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].0, 1);
        assert!((r[0].1 - 0.98).abs() < 1e-12, "{r:?}");
        assert!((r[1].1 - 1.05).abs() < 1e-12, "{r:?}");
    }

    #[test]
    fn a_failed_run_or_neighbour_yields_no_ratio() {
        let seq = round_sequence(&[1, 2], 0, 0);
        let values = [Some(10.0), None, Some(10.0), Some(9.0), None];
        assert!(bracket_ratios(&seq, &values, 0).is_empty());
        let values = [Some(10.0), Some(9.0), Some(10.0), Some(9.0), None];
        assert_eq!(bracket_ratios(&seq, &values, 0), [(1, 0.9)]);
    }

    #[test]
    fn the_median_interval_holds_the_middle_of_the_sample() {
        let v: Vec<f64> = (1..=41).map(f64::from).collect();
        let (m, lo, hi) = median_ci(&v).unwrap();
        assert_eq!(m, 21.0);
        // 0.98 × √41 ≈ 6.3: ranks 14 and 27 (0-based).
        assert_eq!((lo, hi), (15.0, 28.0));
        assert_eq!(median_ci(&[3.0]), Some((3.0, 3.0, 3.0)));
        assert_eq!(median_ci(&[]), None);
    }

    #[test]
    fn a_feature_minimal_turns_on_costs_what_its_absence_gains() {
        let all = crate::configs::all();
        let minus = all.iter().find(|c| matches!(c.kind, Kind::Minus(_))).unwrap();
        let plus = all.iter().find(|c| matches!(c.kind, Kind::Plus(_))).unwrap();
        // minimal-F runs at 1.25x minimal: F costs 20 %.
        let c = Cost::of(minus, vec![1.25; 5]);
        assert!((c.cost.unwrap().0 - 0.2).abs() < 1e-12, "{c:?}");
        let c = Cost::of(plus, vec![0.9, 0.95, 1.0]);
        assert!((c.cost.unwrap().0 - 0.05).abs() < 1e-12, "{c:?}");
        let c = c.cost.unwrap();
        assert!(c.1 <= c.0 && c.0 <= c.2, "{c:?}");
    }
}
