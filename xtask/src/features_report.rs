//! What `cargo xtask features` saves: the JSON record (schema
//! `hakmem-features/1`), docs/bench/NAME.md and an SVG chart of every
//! configuration's median divided by minimal's.

use crate::configs::{Config, Measure, MINIMAL, NOT_STUDIED, STUDIED};
use crate::features_options::FeatureOptions;
use crate::json::Json;
use crate::matrix::{self, MatrixResults, COST_LIMIT, GAIN_MIN, NOISE};
use crate::model::{format_duration, ratio, Allocator};
use crate::sysinfo;
use std::path::PathBuf;

/// Everything one invocation measured.
pub struct FeatureSession {
    pub command_line: String,
    pub options: FeatureOptions,
    pub machine: sysinfo::Machine,
    pub loadavg_end: String,
    pub hakmem_so: PathBuf,
    pub configs: Vec<Config>,
    /// The allocator of each configuration (same order).
    pub allocs: Vec<Allocator>,
    /// Each configuration's `hakmem: mode=...` line (empty for the system).
    pub resolved: Vec<String>,
    pub results: Vec<MatrixResults>,
    pub wall_seconds: f64,
}

const METHOD: &str = "each configuration is hakmem's libhakmem.so (the same copied bytes) with its HAKMEM_* \
    variables (the other mode and feature switches removed), plus the system allocator; each round runs every \
    case of a workload under every configuration back to back (interleaved; the configurations' order rotated by \
    one each round), each run a separate process; \
    median/min/max over rounds; ratios divide medians measured in this one invocation, except larson's cost, \
    the median over rounds of each round's ratio (the rounds paired); peak RSS is the median \
    over runs of the VmHWM each program prints at exit; each configuration's resolved features were checked \
    with HAKMEM_VERBOSE=1 before any run";

fn thresholds() -> String {
    format!(
        "a feature passes when it costs at most {:.0} % of larson's throughput at 1 and 4 threads and gains at least \
         {:.0} % on its own workload (throughput: with/without - 1; memory: 1 - with/without); a mode is a default \
         candidate when it costs at most {:.0} % on larson, is worse by no more than {:.0} % on any own workload and \
         better by more than {:.0} % on one",
        COST_LIMIT * 100.0,
        GAIN_MIN * 100.0,
        COST_LIMIT * 100.0,
        NOISE * 100.0,
        NOISE * 100.0
    )
}

fn measure_json(m: &Measure) -> Json {
    Json::Str(m.label())
}

/// The JSON record.
pub fn json(s: &FeatureSession) -> Json {
    let o = &s.options;
    let mut config = s.machine.json();
    config.push("command", s.command_line.as_str());
    config.push("loadavg_end", s.loadavg_end.as_str());
    config.push("wall_seconds", (s.wall_seconds * 10.0).round() / 10.0);
    config.push("runs", o.runs);
    config.push("seconds_per_timed_run", o.seconds);
    config.push("quick", o.quick);
    config.push("sweep", o.sweep);
    config.push("hakmem_so", s.hakmem_so.display().to_string());
    config.push("method", METHOD);
    config.push("thresholds", thresholds());
    let mut cfgs = Vec::new();
    for ((c, a), line) in s.configs.iter().zip(&s.allocs).zip(&s.resolved) {
        let mut vars = Json::obj();
        for (k, v) in &c.vars {
            vars.push(k, v.as_str());
        }
        cfgs.push(
            Json::obj()
                .with("name", c.name.as_str())
                .with("vars", vars)
                .with("resolved", (!line.is_empty()).then(|| line.clone()))
                .with("allocator", a.json()),
        );
    }
    config.push("configurations", Json::Arr(cfgs));
    let mut builds = Json::obj();
    for r in &s.results {
        builds.push(r.workload.name, r.workload.build_cmd.clone());
    }
    config.push("workload_builds", builds);

    let minimal = s.configs.iter().position(|c| c.name == MINIMAL);
    let mut results = Vec::new();
    for r in &s.results {
        let w = &r.workload;
        for (ki, case) in w.cases.iter().enumerate() {
            for (ci, c) in s.configs.iter().enumerate() {
                let cell = &r.cells[ki][ci];
                let o = &cell.outcome;
                let sum = o.summary();
                let vs = |other: Option<usize>, m: &Measure| {
                    r.median(ki, ci, m).zip(other.and_then(|x| r.median(ki, x, m))).and_then(|(a, b)| ratio(a, b))
                };
                let mut extra = Json::obj();
                for (i, m) in r.extra.iter().enumerate() {
                    extra.push(
                        &m.label(),
                        Json::obj()
                            .with("runs", cell.extra.get(i).cloned().unwrap_or_default())
                            .with("median", r.median(ki, ci, m))
                            .with("ratio_to_minimal", vs(minimal, m)),
                    );
                }
                results.push(
                    Json::obj()
                        .with("workload", w.name)
                        .with("case", case.label.as_str())
                        .with("threads", case.threads)
                        .with("configuration", c.name.as_str())
                        .with("metric", w.metric.name)
                        .with("unit", w.metric.unit)
                        .with("runs", o.values.clone())
                        .with("median", sum.map(|x| x.median))
                        .with("min", sum.map(|x| x.min))
                        .with("max", sum.map(|x| x.max))
                        .with("ratio_to_minimal", vs(minimal, &Measure::Primary))
                        .with("ratio_to_system", vs(Some(0), &Measure::Primary))
                        .with("peak_rss_kb_runs", o.rss_kib.clone())
                        .with("peak_rss_kb_median", r.median(ki, ci, &Measure::PeakRss))
                        .with("peak_rss_ratio_to_minimal", vs(minimal, &Measure::PeakRss))
                        .with("extra", extra)
                        .with("failures", o.failures.clone())
                        .with("allocator_check", o.checks.clone())
                        .with("command", o.command.as_str()),
                );
            }
        }
    }
    let features: Vec<Json> = matrix::feature_rows(&s.configs, &s.results)
        .iter()
        .map(|r| {
            Json::obj()
                .with("feature", r.feature)
                .with("configuration", r.config.as_str())
                .with("larson_1t_cost", r.cost[0])
                .with("larson_4t_cost", r.cost[1])
                .with("workload", r.workload)
                .with("measure", measure_json(&r.measure))
                .with("gain", r.gain)
                .with("verdict", r.verdict.text())
        })
        .collect();
    let measures = matrix::own_measures();
    let modes: Vec<Json> = matrix::mode_rows(&s.configs, &s.results)
        .iter()
        .map(|r| {
            let mut eff = Json::obj();
            for ((w, m), e) in measures.iter().zip(&r.effects) {
                eff.push(&format!("{w} {}", m.label()), *e);
            }
            Json::obj()
                .with("mode", r.mode.as_str())
                .with("larson_1t_cost", r.cost[0])
                .with("larson_4t_cost", r.cost[1])
                .with("effects", eff)
                .with("verdict", r.verdict.text())
        })
        .collect();
    Json::obj()
        .with("schema", "hakmem-features/1")
        .with("config", config)
        .with("results", Json::Arr(results))
        .with("features", Json::Arr(features))
        .with("modes", Json::Arr(modes))
}

/// docs/bench/NAME.md.
pub fn markdown(s: &FeatureSession, name: &str) -> String {
    let mut md = format!("# Feature matrix `{name}`\n\n");
    md.push_str(&format!(
        "Produced by `{}` on {} (wall time {}), commit {}. The JSON record with every run is \
         [`{name}.json`]({name}.json).\n\n",
        s.command_line,
        s.machine.date_utc,
        format_duration(s.wall_seconds),
        s.machine.git_commit()
    ));
    md.push_str(&format!("Method: {METHOD}. Thresholds (issue 16): {}.\n\n", thresholds()));
    md.push_str(&summaries(s));
    md.push_str(&format!("![median / minimal's median]({name}.svg)\n\n## Record\n\n| | |\n|:---|:---|\n"));
    for (k, v) in s.machine.lines() {
        md.push_str(&format!("| {k} | {} |\n", v.replace('|', "\\|")));
    }
    md.push_str(&format!("| libhakmem.so | {} |\n", s.hakmem_so.display()));
    for ((c, a), line) in s.configs.iter().zip(&s.allocs).zip(&s.resolved) {
        let resolved = if line.is_empty() { String::new() } else { format!("; resolved: `{line}`") };
        md.push_str(&format!("| configuration {} | `{}`{resolved}; {} |\n", c.name, c.vars_line(), a.describe()));
    }
    for st in STUDIED {
        md.push_str(&format!("| why {} on {} | {} |\n", st.feature, st.workload, st.why));
    }
    md.push_str(&format!(
        "| not measured alone | {} (the tiers every mode needs, and the statistics printout) |\n",
        NOT_STUDIED.join(", ")
    ));
    md.push('\n');
    for r in &s.results {
        md.push_str(&format!("## {}\n\n{}\n\n", r.workload.name, r.workload.about));
        md.push_str(&format!("Load average at its start: {}.\n\n", r.loadavg));
        md.push_str(&matrix::matrix_table(r, &s.configs));
        if s.options.sweep {
            md.push('\n');
            md.push_str(&crate::sweep::table(r, &s.configs));
        }
        md.push_str("\nCommands:\n\n```\n");
        for (ki, _) in r.workload.cases.iter().enumerate() {
            for cell in &r.cells[ki] {
                md.push_str(&cell.outcome.command);
                md.push('\n');
            }
        }
        md.push_str("```\n\n");
    }
    md
}

/// The feature and mode summaries (terminal and Markdown).
pub fn summaries(s: &FeatureSession) -> String {
    let mut md = String::new();
    let rows = matrix::feature_rows(&s.configs, &s.results);
    if !rows.is_empty() {
        md.push_str("## Features\n\nEach feature alone on top of minimal: its cost on larson (fraction of throughput it takes; negative: it gains) and its gain on the workload it exists for.\n\n");
        md.push_str(&matrix::feature_table(&rows));
        md.push('\n');
    }
    let modes = matrix::mode_rows(&s.configs, &s.results);
    if modes.len() > 1 {
        md.push_str("## Modes\n\nEach mode against minimal: cost on larson, effect on each feature's own workload (positive: better than minimal).\n\n");
        md.push_str(&matrix::mode_table(&modes));
        md.push('\n');
    }
    md
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const COLORS: [&str; 12] = [
    "#9e9e9e", "#d62728", "#ff9896", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
    "#bcbd22", "#7f7f7f",
];

/// Grouped bars: for each (workload, case, measure), every configuration's
/// median ÷ minimal's on a log2 scale (up: better, whatever the measure's
/// direction: lower-is-better measures are drawn as minimal ÷ config).
pub fn svg_chart(s: &FeatureSession) -> String {
    let Some(minimal) = s.configs.iter().position(|c| c.name == MINIMAL) else { return String::new() };
    let mut groups: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    for r in &s.results {
        let mut measures = vec![Measure::Primary];
        measures.extend(r.extra.iter().copied());
        if STUDIED.iter().any(|st| st.workload == r.workload.name && st.gain == Measure::PeakRss) {
            measures.push(Measure::PeakRss);
        }
        for (ki, case) in r.workload.cases.iter().enumerate() {
            for m in &measures {
                let base = r.median(ki, minimal, m);
                let bars = (0..s.configs.len())
                    .map(|ci| {
                        let v = r.median(ki, ci, m)?;
                        let q = if m.higher_is_better() { ratio(v, base?)? } else { ratio(base?, v)? };
                        (q > 0.0).then_some(q)
                    })
                    .collect();
                groups.push((format!("{} t={} {}", r.workload.name, case.label, m.label()), bars));
            }
        }
    }
    let n = s.configs.len().max(1) as f64;
    let (bar_w, left, top, plot_h) = (8.0, 56.0, 80.0, 300.0);
    let group_w = n * bar_w + 18.0;
    let width = (left + groups.len() as f64 * group_w + 16.0).max(760.0);
    let height = top + plot_h + 80.0;
    let (lo, hi) = (-4i32, 4i32);
    let y = |v: f64| top + plot_h - (v.log2().clamp(lo as f64, hi as f64) - lo as f64) / (hi - lo) as f64 * plot_h;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" font-family=\"sans-serif\" font-size=\"10\">\n\
         <rect width=\"{width:.0}\" height=\"{height:.0}\" fill=\"white\"/>\n\
         <text x=\"8\" y=\"18\" font-size=\"13\" font-weight=\"bold\">{}</text>\n<text x=\"8\" y=\"34\" fill=\"#555\">{}</text>\n",
        xml("Each configuration against minimal, log scale (up is better: throughput ÷ minimal's, or minimal's memory ÷ its)"),
        xml(&format!("{} · commit {} · {} runs", s.command_line, s.machine.git_commit(), s.options.runs))
    );
    for e in lo..=hi {
        let yy = y(2f64.powi(e));
        out.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"{}\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            width - 8.0,
            if e == 0 { "#333" } else { "#e4e4e4" },
            left - 4.0,
            yy + 3.0,
            if e >= 0 { format!("{}×", 1u32 << e) } else { format!("1/{}", 1u32 << -e) }
        ));
    }
    let y1 = y(1.0);
    for (gi, (label, bars)) in groups.iter().enumerate() {
        let gx = left + 8.0 + gi as f64 * group_w;
        for (k, v) in bars.iter().enumerate() {
            let x = gx + k as f64 * bar_w;
            let color = COLORS[k % COLORS.len()];
            match v {
                Some(v) => {
                    let yy = y(*v);
                    let (y0, h) = if yy < y1 { (yy, y1 - yy) } else { (y1, yy - y1) };
                    out.push_str(&format!(
                        "<rect x=\"{x:.1}\" y=\"{y0:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{}</title></rect>\n",
                        bar_w - 1.5,
                        h.max(0.8),
                        xml(&format!("{label} {}: {v:.2}", s.configs[k].name))
                    ));
                }
                None => out.push_str(&format!(
                    "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{color}\" text-anchor=\"middle\">×</text>\n",
                    x + bar_w / 2.0,
                    y1 - 2.0
                )),
            }
        }
        out.push_str(&format!(
            "<text transform=\"translate({:.1},{:.1}) rotate(20)\" font-size=\"9\">{}</text>\n",
            gx,
            top + plot_h + 14.0,
            xml(label)
        ));
    }
    let mut lx = left;
    for (k, c) in s.configs.iter().enumerate() {
        out.push_str(&format!(
            "<rect x=\"{lx:.1}\" y=\"47\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"56\">{}</text>\n",
            COLORS[k % COLORS.len()],
            lx + 14.0,
            xml(&c.name)
        ));
        lx += 24.0 + c.name.len() as f64 * 6.0;
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Cell;
    use crate::model::Outcome;
    use crate::workloads::{self, Params};

    #[test]
    fn records_carry_every_configuration_and_summary() {
        let o = crate::features_options::parse(&["--only".into(), "minimal+THP".into()]).unwrap();
        let configs = o.configs();
        let allocs: Vec<Allocator> = configs.iter().map(|c| c.allocator(std::path::Path::new("/x/h.so"))).collect();
        let p = Params { seconds: 2.0, threads: vec![1, 4], quick: false, seed: 1 };
        let cell = |v: f64| Cell {
            outcome: Outcome { values: vec![v], rss_kib: vec![2048], command: "cmd".into(), ..Outcome::default() },
            extra: vec![],
        };
        let results = ["larson", "table"]
            .iter()
            .map(|n| {
                let w = workloads::find(n).unwrap().workload(format!("/x/{n}").into(), &p);
                let cells = w.cases.iter().map(|_| vec![cell(50.0), cell(100.0), cell(150.0)]).collect();
                MatrixResults { workload: w, extra: &[], cells, loadavg: "1 1 1".into() }
            })
            .collect();
        let s = FeatureSession {
            command_line: "cargo xtask features".into(),
            options: o,
            machine: sysinfo::machine(),
            loadavg_end: String::new(),
            hakmem_so: "/x/h.so".into(),
            resolved: vec![String::new(), "mode=minimal".into(), "mode=minimal features=THP".into()],
            configs,
            allocs,
            results,
            wall_seconds: 1.0,
        };
        let j = json(&s).pretty();
        for needle in [
            "\"schema\": \"hakmem-features/1\"",
            "\"name\": \"minimal+THP\"",
            "\"HAKMEM_THP\": \"1\"",
            "\"ratio_to_minimal\": 1.5",
            "\"ratio_to_system\": 3",
            "\"feature\": \"THP\"",
            "\"larson_1t_cost\": -0.5",
        ] {
            assert!(j.contains(needle), "{needle} not in {j}");
        }
        let md = markdown(&s, "f");
        assert!(
            md.contains("| THP | minimal+THP vs minimal | -50.0 % | -50.0 % | table (throughput) | +50.0 % | PASS |"),
            "{md}"
        );
        assert!(md.contains("| configuration minimal+THP | `HAKMEM_MODE=minimal HAKMEM_THP=1`; resolved:"), "{md}");
        assert!(md.contains("![median / minimal's median](f.svg)"), "{md}");
        let svg = svg_chart(&s);
        // 3 groups (larson 1, larson 4, large) of 3 bars, 3 legend boxes, the background.
        assert_eq!(svg.matches("<rect").count(), 9 + 3 + 1, "{svg}");
    }
}
