//! The numbers of `cargo xtask features`: what its runs measured
//! ([`MatrixResults`]) and the tables made of them: one matrix per workload
//! (configurations x median, min, max, ratio to minimal and to the system
//! allocator, peak RSS), the feature summary (cost on larson, gain on the
//! feature's own workload, pass/fail against issue 16's thresholds), the
//! mode summary (the `--sweep` table is in `sweep.rs`). Pure
//! computation: no runs here.

use crate::configs::{Config, Kind, Measure, MINIMAL, STUDIED, SYSTEM};
use crate::model::{fmt_mib, fmt_value, parse_keyed, ratio, summarize, Outcome, Workload};

/// Issue 16: a feature alone costs at most 2 % on larson 1T and 4T.
pub const COST_LIMIT: f64 = 0.02;
/// Issue 16: a feature wins at least 20 % on the workload it exists for.
pub const GAIN_MIN: f64 = 0.20;
/// A mode is "better" or "worse" on a workload beyond this (run-to-run noise).
pub const NOISE: f64 = 0.02;

/// Everything measured for one (case, configuration).
#[derive(Clone, Debug, Default)]
pub struct Cell {
    pub outcome: Outcome,
    /// `extra[i][run]`: the value of the workload's i-th extra measure.
    pub extra: Vec<Vec<f64>>,
}

impl Cell {
    /// Record the extra measures of a successful run's stdout (a missing
    /// line leaves that measure without this run).
    pub fn push_extra(&mut self, measures: &[Measure], stdout: &str) {
        self.extra.resize(measures.len(), Vec::new());
        for (i, m) in measures.iter().enumerate() {
            let v = match m {
                Measure::Keyed { key, .. } => parse_keyed(stdout, key),
                Measure::Primary | Measure::PeakRss => None,
            };
            if let Some(v) = v {
                self.extra[i].push(v);
            }
        }
    }
}

/// The runs of one workload: `cells[case][configuration]`.
pub struct MatrixResults {
    pub workload: Workload,
    /// Measures shown besides the metric (e.g. `Retained`).
    pub extra: &'static [Measure],
    pub cells: Vec<Vec<Cell>>,
    /// /proc/loadavg when its runs started.
    pub loadavg: String,
}

impl MatrixResults {
    /// The values of `m` over the runs of (case, configuration).
    pub fn values(&self, case: usize, config: usize, m: &Measure) -> Vec<f64> {
        let Some(cell) = self.cells.get(case).and_then(|c| c.get(config)) else { return vec![] };
        match m {
            Measure::Primary => cell.outcome.values.clone(),
            Measure::PeakRss => cell.outcome.rss_kib.iter().map(|&k| k as f64).collect(),
            Measure::Keyed { .. } => {
                self.extra.iter().position(|e| e == m).and_then(|i| cell.extra.get(i)).cloned().unwrap_or_default()
            }
        }
    }

    pub fn median(&self, case: usize, config: usize, m: &Measure) -> Option<f64> {
        let v = self.values(case, config, m);
        (!v.is_empty()).then(|| summarize(&v).median)
    }

    /// The case labelled `label` (larson: the thread count).
    pub fn case(&self, label: &str) -> Option<usize> {
        self.workload.cases.iter().position(|c| c.label == label)
    }
}

/// The configurations of a table, by name.
fn index(configs: &[Config], name: &str) -> Option<usize> {
    configs.iter().position(|c| c.name == name)
}

/// What `with` gains over `without` on `m`, as a fraction: throughput
/// with/without − 1, a lower-is-better measure 1 − with/without (the
/// fraction saved). Positive: `with` is better.
pub fn effect(m: &Measure, with: f64, without: f64) -> Option<f64> {
    let r = ratio(with, without)?;
    Some(if m.higher_is_better() { r - 1.0 } else { 1.0 - r })
}

/// The effect of configuration `with` against `without` on workload `w`.
fn effect_of(r: &MatrixResults, case: usize, m: &Measure, with: Option<usize>, without: Option<usize>) -> Option<f64> {
    effect(m, r.median(case, with?, m)?, r.median(case, without?, m)?)
}

/// Larson's cost of configuration `with` against `without` in case
/// `case`: the fraction of throughput `with` takes, as the median over
/// rounds of the two configurations' per-round throughput ratio. A round
/// runs every configuration back to back, so the two runs of a pair share
/// the machine's state; larson at 4 threads on 2 cores moves by 15 % from
/// round to round, and the ratio of two medians then differed by up to
/// 12 % between configurations that run the same code (`features-5`:
/// `fast` 0.935 of `minimal` at 4 threads, paired 1.021). Falls back to the
/// ratio of medians when a run failed (the rounds no longer pair).
fn larson_cost(r: &MatrixResults, case: usize, with: Option<usize>, without: Option<usize>) -> Option<f64> {
    let (a, b) = (r.values(case, with?, &Measure::Primary), r.values(case, without?, &Measure::Primary));
    if a.is_empty() || a.len() != b.len() {
        return effect_of(r, case, &Measure::Primary, with, without).map(|e| -e);
    }
    let ratios: Vec<f64> = a.iter().zip(&b).filter_map(|(&x, &y)| ratio(x, y)).collect();
    (ratios.len() == a.len()).then(|| 1.0 - summarize(&ratios).median)
}

fn find<'a>(results: &'a [MatrixResults], workload: &str) -> Option<&'a MatrixResults> {
    results.iter().find(|r| r.workload.name == workload)
}

/// Verdict of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Pass,
    Fail(Vec<String>),
    /// Not measured (a configuration or workload left out, or failed).
    Missing,
}

impl Verdict {
    pub fn text(&self) -> String {
        match self {
            Verdict::Pass => "PASS".into(),
            Verdict::Fail(why) => format!("**FAIL**: {}", why.join("; ")),
            Verdict::Missing => "n/a (not measured)".into(),
        }
    }
}

/// One feature's line of the summary.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureRow {
    pub feature: &'static str,
    /// The configuration that measures it (`minimal+F` or `minimal-F`).
    pub config: String,
    /// Cost on larson at 1 and 4 threads: the fraction of throughput the
    /// feature takes (negative: it gains).
    pub cost: [Option<f64>; 2],
    pub workload: &'static str,
    pub measure: Measure,
    pub gain: Option<f64>,
    pub verdict: Verdict,
}

/// Larson's case labels of the cost columns.
pub const LARSON_CASES: [&str; 2] = ["1", "4"];

/// The feature summary: for each studied feature whose configuration ran,
/// its cost on larson and its gain on its own workload. A feature minimal
/// turns on is measured as minimal against `minimal-F`; one it leaves off as
/// `minimal+F` against minimal.
pub fn feature_rows(configs: &[Config], results: &[MatrixResults]) -> Vec<FeatureRow> {
    let minimal = index(configs, MINIMAL);
    let mut rows = Vec::new();
    for s in STUDIED {
        let Some((ci, c)) = configs.iter().enumerate().find(|(_, c)| match c.kind {
            Kind::Plus(f) | Kind::Minus(f) => f == s.feature,
            _ => false,
        }) else {
            continue;
        };
        let (with, without) = if matches!(c.kind, Kind::Plus(_)) { (Some(ci), minimal) } else { (minimal, Some(ci)) };
        let cost = LARSON_CASES.map(|label| {
            let r = find(results, "larson")?;
            larson_cost(r, r.case(label)?, with, without)
        });
        let gain = find(results, s.workload).and_then(|r| effect_of(r, 0, &s.gain, with, without));
        rows.push(FeatureRow {
            feature: s.feature,
            config: c.name.clone(),
            cost,
            workload: s.workload,
            measure: s.gain,
            gain,
            verdict: feature_verdict(cost, gain),
        });
    }
    rows
}

fn feature_verdict(cost: [Option<f64>; 2], gain: Option<f64>) -> Verdict {
    let (Some(c1), Some(c4), Some(g)) = (cost[0], cost[1], gain) else { return Verdict::Missing };
    let mut why = Vec::new();
    for (label, c) in LARSON_CASES.iter().zip([c1, c4]) {
        if c > COST_LIMIT {
            why.push(format!("costs {} on larson {label}T (limit {})", pct(c), pct(COST_LIMIT)));
        }
    }
    if g < GAIN_MIN {
        why.push(format!("gains {} on its workload (needs {})", pct(g), pct(GAIN_MIN)));
    }
    if why.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(why)
    }
}

/// `0.034` -> `+3.4 %`.
pub fn pct(v: f64) -> String {
    format!("{:+.1} %", v * 100.0)
}

fn fmt_opt_pct(v: Option<f64>) -> String {
    v.map_or("n/a".into(), pct)
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |r| format!("{r:.2}"))
}

/// The own workloads' gain measures, once each: the columns of the mode summary.
pub fn own_measures() -> Vec<(&'static str, Measure)> {
    let mut v: Vec<(&'static str, Measure)> = Vec::new();
    for s in STUDIED {
        if !v.iter().any(|(w, m)| *w == s.workload && *m == s.gain) {
            v.push((s.workload, s.gain));
        }
    }
    v
}

/// One mode's line of the mode summary.
#[derive(Clone, Debug, PartialEq)]
pub struct ModeRow {
    pub mode: String,
    pub cost: [Option<f64>; 2],
    /// Effect against minimal on each of [`own_measures`].
    pub effects: Vec<Option<f64>>,
    pub verdict: Verdict,
}

/// Every mode against minimal: larson cost and the effect on each feature's
/// own workload. PASS (a candidate for the default): larson costs at most
/// [`COST_LIMIT`], no own workload worse by more than [`NOISE`], at least
/// one better by more than [`NOISE`].
pub fn mode_rows(configs: &[Config], results: &[MatrixResults]) -> Vec<ModeRow> {
    let minimal = index(configs, MINIMAL);
    let measures = own_measures();
    let mut rows = Vec::new();
    for (ci, c) in configs.iter().enumerate() {
        let Kind::Mode(_) = c.kind else { continue };
        let cost = LARSON_CASES.map(|label| {
            let r = find(results, "larson")?;
            larson_cost(r, r.case(label)?, Some(ci), minimal)
        });
        let effects: Vec<Option<f64>> = measures
            .iter()
            .map(|(w, m)| find(results, w).and_then(|r| effect_of(r, 0, m, Some(ci), minimal)))
            .collect();
        let verdict = if c.name == MINIMAL || cost.iter().chain(&effects).any(Option::is_none) {
            Verdict::Missing
        } else {
            let mut why = Vec::new();
            for (label, x) in LARSON_CASES.iter().zip(cost.iter().flatten()) {
                if *x > COST_LIMIT {
                    why.push(format!("costs {} on larson {label}T", pct(*x)));
                }
            }
            for ((w, m), e) in measures.iter().zip(effects.iter().flatten()) {
                if *e < -NOISE {
                    why.push(format!("{} worse on {w} {}", pct(-*e), m.label()));
                }
            }
            if !effects.iter().flatten().any(|e| *e > NOISE) {
                why.push("better on no own workload".into());
            }
            if why.is_empty() {
                Verdict::Pass
            } else {
                Verdict::Fail(why)
            }
        };
        rows.push(ModeRow { mode: c.name.clone(), cost, effects, verdict });
    }
    rows
}

fn fmt_measure(v: f64, m: &Measure, w: &Workload) -> String {
    match m {
        Measure::Primary => fmt_value(v, &w.metric),
        Measure::PeakRss => fmt_mib(v.round() as u64),
        Measure::Keyed { short_unit: "kB", .. } => fmt_mib(v.round() as u64),
        Measure::Keyed { .. } => format!("{v:.1}"),
    }
}

/// The matrix of one workload: a row per (case, configuration).
pub fn matrix_table(r: &MatrixResults, configs: &[Config]) -> String {
    let w = &r.workload;
    let minimal = index(configs, MINIMAL);
    let system = index(configs, SYSTEM);
    let mut t = format!(
        "| {} | configuration | median {u} | min | max | ÷ minimal | ÷ system | peak RSS | RSS ÷ minimal |",
        w.case_column,
        u = w.metric.short_unit
    );
    for m in r.extra {
        t.push_str(&format!(" {} | ÷ minimal |", m.label()));
    }
    t.push_str(" runs |\n|---:|:---|---:|---:|---:|---:|---:|---:|---:|");
    for _ in r.extra {
        t.push_str("---:|---:|");
    }
    t.push_str(":---|\n");
    let mut notes = Vec::new();
    for (ki, case) in w.cases.iter().enumerate() {
        for (ci, c) in configs.iter().enumerate() {
            let cell = &r.cells[ki][ci];
            let o = &cell.outcome;
            let runs = if o.failures.is_empty() {
                o.values.len().to_string()
            } else {
                format!("{} ok, {} failed", o.values.len(), o.failures.len())
            };
            for f in &o.failures {
                notes.push(format!("{} {}={} {}: {f}", w.name, w.case_column, case.label, c.name));
            }
            let Some(s) = o.summary() else {
                t.push_str(&format!(
                    "| {} | {} | FAILED |{} {runs} |\n",
                    case.label,
                    c.name,
                    " |".repeat(6 + 2 * r.extra.len())
                ));
                continue;
            };
            let vs = |other: Option<usize>, m: &Measure| {
                fmt_ratio(
                    r.median(ki, ci, m).zip(other.and_then(|o| r.median(ki, o, m))).and_then(|(a, b)| ratio(a, b)),
                )
            };
            t.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                case.label,
                c.name,
                fmt_value(s.median, &w.metric),
                fmt_value(s.min, &w.metric),
                fmt_value(s.max, &w.metric),
                vs(minimal, &Measure::Primary),
                vs(system, &Measure::Primary),
                r.median(ki, ci, &Measure::PeakRss).map_or("n/a".into(), |v| fmt_measure(v, &Measure::PeakRss, w)),
                vs(minimal, &Measure::PeakRss),
            ));
            for m in r.extra {
                t.push_str(&format!(
                    " {} | {} |",
                    r.median(ki, ci, m).map_or("n/a".into(), |v| fmt_measure(v, m, w)),
                    vs(minimal, m)
                ));
            }
            t.push_str(&format!(" {runs} |\n"));
        }
    }
    t.push('\n');
    for n in notes {
        t.push_str(&format!("- {n}\n"));
    }
    t
}

/// The feature summary as a table.
pub fn feature_table(rows: &[FeatureRow]) -> String {
    let mut t = String::from(
        "| feature | measured as | larson 1T cost | larson 4T cost | own workload | gain on it | verdict |\n\
         |:---|:---|---:|---:|:---|---:|:---|\n",
    );
    for r in rows {
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} ({}) | {} | {} |\n",
            r.feature,
            if r.config.contains('+') {
                format!("{} vs minimal", r.config)
            } else {
                format!("minimal vs {}", r.config)
            },
            fmt_opt_pct(r.cost[0]),
            fmt_opt_pct(r.cost[1]),
            r.workload,
            r.measure.label(),
            fmt_opt_pct(r.gain),
            r.verdict.text()
        ));
    }
    t
}

/// The mode summary as a table.
pub fn mode_table(rows: &[ModeRow]) -> String {
    let measures = own_measures();
    let mut t = String::from("| mode | larson 1T cost | larson 4T cost |");
    for (w, m) in &measures {
        t.push_str(&format!(" {w} {} |", m.label()));
    }
    t.push_str(" default candidate |\n|:---|---:|---:|");
    for _ in &measures {
        t.push_str("---:|");
    }
    t.push_str(":---|\n");
    for r in rows {
        t.push_str(&format!("| {} | {} | {} |", r.mode, fmt_opt_pct(r.cost[0]), fmt_opt_pct(r.cost[1])));
        for e in &r.effects {
            t.push_str(&format!(" {} |", fmt_opt_pct(*e)));
        }
        let v = if r.mode == MINIMAL { "(reference)".to_string() } else { r.verdict.text() };
        t.push_str(&format!(" {v} |\n"));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configs::all;
    use crate::workloads::{self, Params};

    fn cell(values: &[f64], rss: u64) -> Cell {
        Cell {
            outcome: Outcome {
                values: values.to_vec(),
                rss_kib: vec![rss; values.len()],
                command: "cmd".into(),
                ..Outcome::default()
            },
            extra: vec![],
        }
    }

    fn workload(name: &str) -> Workload {
        let p = Params { seconds: 2.0, threads: vec![1, 4], quick: false, seed: 1 };
        workloads::find(name).unwrap().workload(format!("/x/{name}").into(), &p)
    }

    /// Every configuration gets `base` except those named in `with`.
    fn results(name: &str, cases: usize, base: f64, with: &[(&str, f64)], rss: &[(&str, u64)]) -> MatrixResults {
        let configs = all();
        let row = |_| {
            configs
                .iter()
                .map(|c| {
                    let v = with.iter().find(|(n, _)| *n == c.name).map_or(base, |x| x.1);
                    let r = rss.iter().find(|(n, _)| *n == c.name).map_or(1000, |x| x.1);
                    cell(&[v * 0.99, v, v * 1.01], r)
                })
                .collect()
        };
        MatrixResults {
            workload: workload(name),
            extra: &[],
            cells: (0..cases).map(row).collect(),
            loadavg: String::new(),
        }
    }

    #[test]
    fn effects_are_signed_by_direction() {
        assert!((effect(&Measure::Primary, 120.0, 100.0).unwrap() - 0.2).abs() < 1e-12);
        assert!((effect(&Measure::PeakRss, 75.0, 100.0).unwrap() - 0.25).abs() < 1e-12);
        assert!(effect(&Measure::PeakRss, 125.0, 100.0).unwrap() < 0.0);
        assert_eq!(effect(&Measure::Primary, 1.0, 0.0), None);
        assert_eq!(pct(0.034), "+3.4 %");
        assert_eq!(pct(-0.5), "-50.0 %");
    }

    /// Larson's cost pairs the rounds: a configuration 1 % slower than
    /// minimal in every round costs 1 %, even when one round's machine
    /// state moves both by a third (the ratio of medians says 33 %).
    #[test]
    fn larson_cost_is_the_median_of_paired_rounds() {
        let configs = all();
        let mut r = results("larson", 2, 100.0, &[], &[]);
        let (minimal, elo) = (index(&configs, MINIMAL).unwrap(), index(&configs, "minimal+ELO").unwrap());
        r.cells[1][minimal] = cell(&[100.0, 50.0, 90.0], 1000);
        r.cells[1][elo] = cell(&[99.0, 49.5, 60.0], 1000);
        let rows = feature_rows(&configs, &[r]);
        let elo_row = rows.iter().find(|x| x.feature == "ELO").unwrap();
        assert!((elo_row.cost[1].unwrap() - 0.01).abs() < 1e-9, "{elo_row:?}");
        // The ratio of medians would have been 60 / 90.
        assert!(elo_row.cost[1].unwrap() < 1.0 - 60.0 / 90.0);
    }

    #[test]
    fn features_pass_or_fail_against_the_thresholds() {
        let configs = all();
        let rs = vec![
            // THP costs 5 % on larson, ELO 1 %; minimal-BIGCACHE is 1 % faster (BIGCACHE costs 1 %).
            results(
                "larson",
                2,
                100.0,
                &[("minimal+THP", 95.0), ("minimal+ELO", 99.0), ("minimal-BIGCACHE", 101.0)],
                &[],
            ),
            // BIGCACHE: minimal 100 vs 10 without: +900 %. THP: +50 %.
            results("large", 1, 100.0, &[("minimal-BIGCACHE", 10.0)], &[]),
            results("table", 1, 100.0, &[("minimal+THP", 150.0)], &[]),
            // SITE_RULES saves 30 % of the peak RSS.
            results("sites", 1, 100.0, &[], &[("minimal+SITE_RULES", 700)]),
        ];
        let rows = feature_rows(&configs, &rs);
        let row = |f: &str| rows.iter().find(|r| r.feature == f).unwrap().clone();
        let big = row("BIGCACHE");
        assert_eq!(big.config, "minimal-BIGCACHE");
        assert!((big.cost[0].unwrap() - (1.0 - 100.0 / 101.0)).abs() < 1e-12);
        assert!((big.gain.unwrap() - 9.0).abs() < 1e-12);
        assert_eq!(big.verdict, Verdict::Pass);
        let thp = row("THP");
        assert!((thp.cost[1].unwrap() - 0.05).abs() < 1e-12);
        assert!(matches!(&thp.verdict, Verdict::Fail(w) if w.len() == 2 && w[0].contains("larson 1T")));
        let site = row("SITE_RULES");
        assert!((site.gain.unwrap() - 0.3).abs() < 1e-12);
        assert_eq!(site.verdict, Verdict::Pass);
        // ELO's workload (phases) was not run: no verdict.
        assert_eq!(row("ELO").gain, None);
        assert_eq!(row("ELO").verdict, Verdict::Missing);
        // BATCH_MADVISE's (burst-idle) neither.
        assert_eq!(row("BATCH_MADVISE").verdict, Verdict::Missing);
        let t = feature_table(&rows);
        assert!(
            t.contains(
                "| BIGCACHE | minimal vs minimal-BIGCACHE | +1.0 % | +1.0 % | large (throughput) | +900.0 % | PASS |"
            ),
            "{t}"
        );
        assert!(
            t.contains("| THP | minimal+THP vs minimal | +5.0 % | +5.0 % | table (throughput) | +50.0 % | **FAIL**"),
            "{t}"
        );
        assert!(t.contains("| ELO | minimal+ELO vs minimal | +1.0 % | +1.0 % | phases (Rare RSS (kB)) | n/a | n/a (not measured) |"), "{t}");
    }

    #[test]
    fn modes_are_compared_with_minimal() {
        let configs = all();
        let mut rs = vec![
            results("larson", 2, 100.0, &[("balanced", 99.0), ("fast", 90.0)], &[]),
            results("large", 1, 100.0, &[], &[]),
            results("table", 1, 100.0, &[("balanced", 130.0)], &[]),
            results("burst-idle", 1, 100.0, &[], &[]),
            results("sites", 1, 100.0, &[], &[("learning", 1100)]),
        ];
        rs[2].extra = &[crate::configs::RETAINED];
        let mut phases = results("phases", 1, 100.0, &[], &[]);
        phases.extra = &[crate::configs::RARE_RSS];
        for (ci, c) in configs.iter().enumerate() {
            let v = if c.name == "research" { 2000.0 } else { 1000.0 };
            phases.cells[0][ci].extra = vec![vec![v, v]];
        }
        rs.push(phases);
        let rows = mode_rows(&configs, &rs);
        assert_eq!(
            rows.iter().map(|r| r.mode.as_str()).collect::<Vec<_>>(),
            ["minimal", "fast", "balanced", "learning", "research"]
        );
        let row = |m: &str| rows.iter().find(|r| r.mode == m).unwrap().clone();
        assert_eq!(row("balanced").verdict, Verdict::Pass);
        assert!(
            matches!(row("fast").verdict, Verdict::Fail(w) if w[0].contains("larson") && w.last().unwrap().contains("better on no"))
        );
        assert!(matches!(row("learning").verdict, Verdict::Fail(w) if w[0].contains("sites peak RSS")));
        assert!(
            matches!(row("research").verdict, Verdict::Fail(w) if w[0].contains("+100.0 % worse on phases Rare RSS"))
        );
        let t = mode_table(&rows);
        assert!(
            t.contains("| balanced | +1.0 % | +1.0 % | +0.0 % | +0.0 % | +30.0 % | +0.0 % | +0.0 % | PASS |"),
            "{t}"
        );
        assert!(t.contains("| minimal | -0.0 % | -0.0 % |") || t.contains("| minimal | +0.0 % | +0.0 % |"), "{t}");
        assert!(t.contains("(reference)"), "{t}");
        // The matrix shows the extra measure and its ratio to minimal.
        let m = matrix_table(&rs[5], &configs);
        assert!(m.contains("| Rare RSS (kB) | ÷ minimal |"), "{m}");
        assert!(
            m.contains("| 1 | research | 100.0 | 99.0 | 101.0 | 1.00 | 1.00 | 1.0 MiB | 1.00 | 2.0 MiB | 2.00 | 3 |"),
            "{m}"
        );
    }

    #[test]
    fn failed_runs() {
        let configs = all();
        let mut r = results("larson", 2, 100.0, &[], &[]);
        r.cells[1][3] = Cell::default();
        r.cells[1][3].outcome.failures.push("run 1: was killed by signal 11 (SIGSEGV)".into());
        let t = matrix_table(&r, &configs);
        assert!(t.contains("| 4 | balanced | FAILED |"), "{t}");
        assert!(t.contains("- larson threads=4 balanced: run 1: was killed by signal 11 (SIGSEGV)"), "{t}");
        assert!(t.contains("| 1 | minimal | 100.0 | 99.0 | 101.0 | 1.00 | 1.00 | 1.0 MiB | 1.00 | 3 |"), "{t}");
        assert_eq!(mode_rows(&configs, &[r]).iter().find(|m| m.mode == "balanced").unwrap().cost[1], None);
    }
}
