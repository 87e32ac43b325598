//! What `cargo xtask bench` prints and saves: Markdown tables (terminal and
//! docs/bench/NAME.md), the JSON record, and a hand-written SVG chart of the
//! medians normalized to the system allocator.

use crate::instructions::{self, Instructions};
use crate::json::Json;
use crate::model::{fmt_mib, fmt_value};
use crate::model::{format_duration, format_seconds, ratio, Allocator, WorkloadResults};
use crate::options::Options;
use crate::peers::Skipped;
use crate::report_also;
use crate::sysinfo;
use std::path::PathBuf;

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

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |r| format!("{r:.2}"))
}

/// `5`, or `3 ok, 2 failed`.
fn fmt_runs(ok: usize, failed: usize) -> String {
    if failed == 0 {
        ok.to_string()
    } else {
        format!("{ok} ok, {failed} failed")
    }
}

/// Per-workload table: median/min/max per (case, allocator), the ratio of the
/// median to system's and to the best peer's (the best allocator other than
/// hakmem and the extras), peak RSS (max over runs) and the run count.
pub fn workload_table(r: &WorkloadResults, allocs: &[Allocator]) -> String {
    let w = &r.workload;
    let m = &w.metric;
    let mut t = String::new();
    t.push_str(&format!(
        "| {} | allocator | median {u} | min | max | ÷ system | ÷ best peer | peak RSS | runs |\n",
        w.case_column,
        u = m.short_unit
    ));
    t.push_str("|---:|:---|---:|---:|---:|---:|---:|---:|:---|\n");
    let mut notes = Vec::new();
    let mut best_notes = Vec::new();
    for (ci, case) in w.cases.iter().enumerate() {
        let base = r.baseline(ci);
        let best = r.best_peer(ci, allocs);
        for (ai, a) in allocs.iter().enumerate() {
            let o = &r.outcomes[ci][ai];
            let runs = fmt_runs(o.values.len(), o.failures.len());
            match o.summary() {
                Some(s) => t.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                    case.label,
                    a.name,
                    fmt_value(s.median, m),
                    fmt_value(s.min, m),
                    fmt_value(s.max, m),
                    fmt_ratio(base.and_then(|b| ratio(s.median, b))),
                    fmt_ratio(best.and_then(|(_, b)| ratio(s.median, b))),
                    o.peak_rss_kib().map_or("n/a".into(), fmt_mib),
                    runs
                )),
                None => t.push_str(&format!("| {} | {} | FAILED | | | | | | {} |\n", case.label, a.name, runs)),
            }
            for f in &o.failures {
                notes.push(format!("{} threads={} {}: {f}", w.name, case.label, a.name));
            }
        }
        if let Some((bi, _)) = best {
            best_notes.push(format!("best peer at threads={}: {}", case.label, allocs[bi].name));
        }
    }
    t.push('\n');
    best_notes.extend(extras_note(allocs));
    for n in best_notes.into_iter().chain(notes) {
        t.push_str(&format!("- {n}\n"));
    }
    let also = report_also::also_tables(r, allocs);
    if !also.is_empty() {
        t.push('\n');
        t.push_str(&also);
    }
    t
}

/// `extra allocators (--extra; ...): a, b`, if any.
fn extras_note(allocs: &[Allocator]) -> Option<String> {
    let extras: Vec<&str> = allocs.iter().filter(|a| a.extra).map(|a| a.name.as_str()).collect();
    (!extras.is_empty())
        .then(|| format!("extra allocators (--extra; not peers: never the best peer): {}", extras.join(", ")))
}

/// One row per (workload, case): system's median, every other allocator's
/// median / system's, hakmem / best peer, and hakmem / each extra.
pub fn summary_table(s: &Session) -> String {
    let mut t = String::from("| workload | threads | unit | system |");
    for a in s.allocs.iter().skip(1) {
        t.push_str(&format!(" {} |", a.name));
    }
    t.push_str(" hakmem ÷ best peer | best peer |");
    let extras: Vec<usize> = (0..s.allocs.len()).filter(|&ai| s.allocs[ai].extra).collect();
    for &ei in &extras {
        t.push_str(&format!(" hakmem ÷ {} |", s.allocs[ei].name));
    }
    t.push_str("\n|:---|---:|:---|---:|");
    for _ in s.allocs.iter().skip(1) {
        t.push_str("---:|");
    }
    t.push_str("---:|:---|");
    for _ in &extras {
        t.push_str("---:|");
    }
    t.push('\n');
    let hak = s.allocs.iter().position(Allocator::is_hakmem);
    for r in &s.results {
        let m = &r.workload.metric;
        for (ci, case) in r.workload.cases.iter().enumerate() {
            let base = r.baseline(ci);
            let unit = if m.higher_is_better {
                m.short_unit.to_string()
            } else {
                format!("{} (lower is better)", m.short_unit)
            };
            t.push_str(&format!(
                "| {} | {} | {} | {} |",
                r.workload.name,
                case.label,
                unit,
                base.map_or("FAILED".into(), |b| fmt_value(b, m))
            ));
            for (ai, _) in s.allocs.iter().enumerate().skip(1) {
                let cell = match r.outcomes[ci][ai].summary() {
                    Some(x) => fmt_ratio(base.and_then(|b| ratio(x.median, b))),
                    None => "FAILED".into(),
                };
                t.push_str(&format!(" {cell} |"));
            }
            let best = r.best_peer(ci, &s.allocs);
            let hak_median = hak.and_then(|h| r.outcomes[ci][h].summary()).map(|x| x.median);
            let vs_best = hak_median.and_then(|h| best.and_then(|(_, b)| ratio(h, b)));
            t.push_str(&format!(
                " {} | {} |",
                fmt_ratio(vs_best),
                best.map_or("n/a".into(), |(bi, _)| s.allocs[bi].name.clone())
            ));
            for &ei in &extras {
                let e = r.outcomes[ci][ei].summary().map(|x| x.median);
                t.push_str(&format!(" {} |", fmt_ratio(hak_median.zip(e).and_then(|(h, e)| ratio(h, e)))));
            }
            t.push('\n');
        }
    }
    t
}

/// Peak RSS of each allocator divided by the system allocator's, one row per
/// (workload, case), with whether hakmem is within 1.25x of it.
pub fn rss_table(s: &Session) -> String {
    let mut t = String::from("| workload | threads | system |");
    for a in s.allocs.iter().skip(1) {
        t.push_str(&format!(" {} |", a.name));
    }
    t.push_str(" hakmem <= 1.25x system |\n|:---|---:|---:|");
    for _ in s.allocs.iter().skip(1) {
        t.push_str("---:|");
    }
    t.push_str(":---:|\n");
    let hak = s.allocs.iter().position(Allocator::is_hakmem);
    for r in &s.results {
        for (ci, case) in r.workload.cases.iter().enumerate() {
            let base = r.outcomes[ci][0].peak_rss_kib();
            t.push_str(&format!("| {} | {} | {} |", r.workload.name, case.label, base.map_or("n/a".into(), fmt_mib)));
            let rss_ratio =
                |ai: usize| r.outcomes[ci][ai].peak_rss_kib().zip(base).and_then(|(x, b)| ratio(x as f64, b as f64));
            for (ai, _) in s.allocs.iter().enumerate().skip(1) {
                t.push_str(&format!(" {} |", fmt_ratio(rss_ratio(ai))));
            }
            let verdict = match hak.and_then(rss_ratio) {
                Some(x) if x <= 1.25 => "yes",
                Some(_) => "**no**",
                None => "n/a",
            };
            t.push_str(&format!(" {verdict} |\n"));
        }
    }
    t
}

/// Instructions per pair: one row per (live blocks, size), one column per
/// allocator, and hakmem / the lowest peer count.
pub fn instructions_table(i: &Instructions, allocs: &[Allocator]) -> String {
    let mut t = String::from("| size (B) | live |");
    for a in allocs {
        t.push_str(&format!(" {} |", a.name));
    }
    t.push_str(" hakmem ÷ best peer |\n|---:|---:|");
    for _ in allocs {
        t.push_str("---:|");
    }
    t.push_str("---:|\n");
    for &live in instructions::LIVE {
        for &size in instructions::SIZES {
            t.push_str(&format!("| {size} | {live} |"));
            let mut best_peer: Option<f64> = None;
            let mut hakmem = None;
            for a in allocs {
                let per = i.get(&a.name, size, live).and_then(|c| c.per_pair);
                if let Some(p) = per {
                    if a.is_hakmem() {
                        hakmem = Some(p);
                    } else if a.is_peer() && best_peer.is_none_or(|b| p < b) {
                        best_peer = Some(p);
                    }
                }
                t.push_str(&format!(" {} |", per.map_or("FAILED".into(), |p| format!("{p:.1}"))));
            }
            t.push_str(&format!(" {} |\n", fmt_ratio(hakmem.and_then(|h| best_peer.and_then(|b| ratio(h, b))))));
        }
    }
    t
}

/// The JSON record (BENCHMARKS.md, "What a record holds").
pub fn json(s: &Session) -> Json {
    let o = &s.options;
    let mut config = s.machine.json();
    config.push("command", s.command_line.as_str());
    config.push("loadavg_end", s.loadavg_end.as_str());
    config.push("wall_seconds", (s.wall_seconds * 10.0).round() / 10.0);
    config.push("runs", o.runs);
    config.push("seconds_per_timed_run", o.seconds);
    config.push("threads", o.threads.clone());
    config.push("quick", o.quick);
    config.push("cpus", o.cpus.clone());
    config.push("hakmem_so", s.hakmem_so.display().to_string());
    config.push("hakmem_resolved", s.hakmem_resolved.as_str());
    config.push("allocators", Json::Arr(s.allocs.iter().map(Allocator::json).collect()));
    config.push(
        "skipped_allocators",
        Json::Arr(
            s.skipped
                .iter()
                .map(|k| Json::obj().with("name", k.name.as_str()).with("reason", k.reason.as_str()))
                .collect(),
        ),
    );
    let mut builds = Json::obj();
    let mut loads = Json::obj();
    for r in &s.results {
        builds.push(r.workload.name, r.workload.build_cmd.clone());
        loads.push(r.workload.name, r.loadavg.as_str());
    }
    config.push("workload_builds", builds);
    config.push("loadavg_at_workload_start", loads);
    config.push(
        "method",
        "each round runs every case of a workload under every allocator back to back \
         (interleaved; the allocators' order rotated by one each round), each run a separate process with its allocator's LD_PRELOAD; \
         median/min/max over rounds; peak_rss_kb is the largest peak RSS of the runs: the VmHWM \
         each workload program prints at exit (its own address space; ru_maxrss from wait4 \
         would also count the spawning xtask's pages before exec), ru_maxrss for a program \
         that prints none",
    );

    let mut results = Vec::new();
    for r in &s.results {
        let w = &r.workload;
        for (ci, case) in w.cases.iter().enumerate() {
            let base = r.baseline(ci);
            let best = r.best_peer(ci, &s.allocs);
            for (ai, a) in s.allocs.iter().enumerate() {
                let o = &r.outcomes[ci][ai];
                let sum = o.summary();
                results.push(
                    Json::obj()
                        .with("workload", w.name)
                        .with("case", case.label.as_str())
                        .with("threads", case.threads)
                        .with("allocator", a.name.as_str())
                        .with("metric", w.metric.name)
                        .with("unit", w.metric.unit)
                        .with("higher_is_better", w.metric.higher_is_better)
                        .with("runs", o.values.clone())
                        .with("median", sum.map(|x| x.median))
                        .with("min", sum.map(|x| x.min))
                        .with("max", sum.map(|x| x.max))
                        .with("ratio_to_system", sum.and_then(|x| base.and_then(|b| ratio(x.median, b))))
                        .with("ratio_to_best_peer", sum.and_then(|x| best.and_then(|(_, b)| ratio(x.median, b))))
                        .with("best_peer", best.map(|(bi, _)| s.allocs[bi].name.clone()))
                        .with("peak_rss_kb", o.peak_rss_kib())
                        .with("peak_rss_kb_runs", o.rss_kib.clone())
                        .with("failures", o.failures.clone())
                        .with("allocator_check", o.checks.clone())
                        .with("also", report_also::also_json(r, o).unwrap_or(Json::Null))
                        .with("command", o.command.as_str()),
                );
            }
        }
    }

    let instructions = s.instructions.as_ref().map(|i| {
        Json::obj()
            .with(
                "method",
                format!(
                    "valgrind --tool=callgrind on benches/c/pairs.c SIZE N LIVE: (I(N={}) - I(N={})) / {}; LIVE blocks of the same size stay allocated during the loop",
                    i.n_large,
                    i.n_small,
                    i.n_large - i.n_small
                ),
            )
            .with("valgrind", i.valgrind.as_str())
            .with("loop_instructions_per_pair", i.loop_per_pair)
            .with(
                "results",
                Json::Arr(
                    i.counts
                        .iter()
                        .map(|c| {
                            Json::obj()
                                .with("allocator", c.allocator.as_str())
                                .with("size", c.size)
                                .with("live_blocks", c.live)
                                .with("instructions_per_pair", c.per_pair)
                                .with(
                                    "instructions_total",
                                    c.totals.map(|(a, b)| vec![a, b]),
                                )
                                .with("error", c.error.clone())
                                .with("command", c.command.as_str())
                        })
                        .collect(),
                ),
            )
    });

    Json::obj()
        .with("schema", "hakmem-bench/1")
        .with("config", config)
        .with("results", Json::Arr(results))
        .with("instructions", instructions.unwrap_or(Json::Null))
}

/// docs/bench/NAME.md: summary, chart, record, per-workload tables and
/// commands, instruction counts.
pub fn markdown(s: &Session, name: &str) -> String {
    let mut md = String::new();
    md.push_str(&format!("# Benchmark record `{name}`\n\n"));
    md.push_str(&format!(
        "Produced by `{}` on {} ({}), commit {}. \
         The JSON record with every run is [`{name}.json`]({name}.json).\n\n",
        s.command_line,
        s.machine.date_utc,
        format_wall(s.wall_seconds),
        s.machine.git_commit()
    ));
    md.push_str(
        "Only ratios measured within this one invocation mean something: the runs of all \
         allocators were interleaved on the same machine at the same time \
         ([method](../../README.md#benchmarks)). Absolute numbers drift by 20 % or more \
         between invocations on our shared 2-core machines.\n\n",
    );
    if !s.results.is_empty() {
        md.push_str("## Summary\n\n");
        md.push_str(
            "Median of each allocator divided by the system allocator's median \
             (throughput: higher is better; retention: lower is better). \
             *hakmem ÷ best peer* compares hakmem with the best of the other allocators \
             (system included).\n\n",
        );
        if let Some(note) = extras_note(&s.allocs) {
            md.push_str(&format!(
                "The {note}; each *hakmem ÷ NAME* column divides hakmem's median by that extra's. \
                 Their libraries are under *Record*.\n\n"
            ));
        }
        md.push_str(&summary_table(s));
        md.push_str(&format!("\n![median / system median]({name}.svg)\n\n"));
        md.push_str("### Peak RSS\n\n");
        md.push_str(
            "Largest peak RSS over the runs of each allocator, divided by the system \
             allocator's (lower is better; the first column is the system allocator's own). \
             Peak RSS is the `VmHWM` each workload program prints at exit: the high-water \
             resident set of its own address space (`ru_maxrss` from `wait4` also counts the \
             spawning xtask's pages from before `exec`, a floor of a few MiB; records before \
             race-11 used it).\n\n",
        );
        md.push_str(&rss_table(s));
        md.push('\n');
    }
    if let Some(i) = &s.instructions {
        md.push_str("## Instructions per malloc+free pair\n\n");
        md.push_str(&format!(
            "Same-thread fast path, `benches/c/pairs.c SIZE N LIVE` under `valgrind --tool=callgrind` \
             ({}): (I(N={}) − I(N={})) / {}, which cancels start-up. Lower is better; \
             counts do not depend on machine load. *live* = blocks of the same size kept \
             allocated during the loop: with 0 the block is usually alone in its page, so work \
             an allocator does when a page becomes empty is paid on every free; with 1 the loop \
             sees the steady state.\n\n",
            i.valgrind,
            i.n_large,
            i.n_small,
            i.n_large - i.n_small
        ));
        md.push_str(&instructions_table(i, &s.allocs));
        md.push('\n');
        if let Some(l) = i.loop_per_pair {
            md.push_str(&format!(
                "Every count includes the loop of `pairs.c` itself ({l:.1} instructions per pair: \
                 its `main` with its calls through the PLT, measured with callgrind_annotate under \
                 the system allocator); subtract it for the allocator's own cost.\n\n"
            ));
        }
        for c in &i.counts {
            if let Some(e) = &c.error {
                md.push_str(&format!("- {} size {} live {}: {e}\n", c.allocator, c.size, c.live));
            }
        }
        md.push_str(&format!(
            "\nCommand (hakmem, 64 B): `{}`\n\n",
            i.counts
                .iter()
                .find(|c| c.allocator == "hakmem" && c.size == 64 && c.live == 0)
                .or(i.counts.first())
                .map_or("", |c| c.command.as_str())
        ));
    }

    md.push_str("## Record\n\n| | |\n|:---|:---|\n");
    md.push_str(&format!("| command | `{}` |\n", s.command_line));
    for (k, v) in s.machine.lines() {
        md.push_str(&format!("| {k} | {} |\n", md_cell(&v)));
    }
    md.push_str(&format!("| load average at end | {} |\n", md_cell(&s.loadavg_end)));
    md.push_str(&format!("| hakmem resolved config | `{}` |\n", md_cell(&s.hakmem_resolved)));
    md.push_str(&format!("| runs per case | {} |\n", s.options.runs));
    md.push_str(&format!(
        "| placement | {} |\n",
        match &s.options.cpus {
            Some(c) => format!("every run pinned with `taskset -c {c}`, the same for every allocator"),
            None => "the kernel's (no pinning)".into(),
        }
    ));
    md.push_str(&format!(
        "| seconds per timed run | {}{} |\n",
        format_seconds(s.options.seconds),
        if s.options.quick { " (--quick)" } else { "" }
    ));
    for a in &s.allocs {
        md.push_str(&format!("| allocator {} | {} |\n", a.name, md_cell(&a.describe())));
    }
    for k in &s.skipped {
        md.push_str(&format!("| allocator {} | SKIPPED: {} |\n", k.name, md_cell(&k.reason)));
    }
    md.push_str(&format!(
        "\nThe machine has {} cores and is shared: the load average above shows how busy it \
         was (other engineers' builds run at the same time).\n\n",
        s.machine.cores()
    ));

    for r in &s.results {
        let w = &r.workload;
        md.push_str(&format!("## {}\n\n{}.\n\n", w.name, w.about));
        md.push_str(&format!(
            "Metric: {} in {} ({}). Load average when its runs started: {}.\n\n",
            w.metric.name,
            w.metric.unit,
            w.metric.direction(),
            r.loadavg
        ));
        md.push_str(&workload_table(r, &s.allocs));
        md.push_str("\nCommands:\n\n```sh\n");
        if let Some(b) = &w.build_cmd {
            md.push_str(&format!("{b}\n"));
        }
        for (ci, _) in w.cases.iter().enumerate() {
            for (ai, _) in s.allocs.iter().enumerate() {
                md.push_str(&format!("{}\n", r.outcomes[ci][ai].command));
            }
        }
        md.push_str("```\n\n");
    }
    md
}

fn format_wall(secs: f64) -> String {
    format!("wall time {}", format_duration(secs))
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Fixed colors per allocator, so that charts of different records compare.
fn color(name: &str) -> &'static str {
    match name {
        "system" => "#9e9e9e",
        "hakmem" => "#d62728",
        "jemalloc" => "#1f77b4",
        "tcmalloc" => "#2ca02c",
        "mimalloc" => "#ff7f0e",
        "mimalloc-latest" => "#9467bd",
        "snmalloc" => "#393b79",
        "rpmalloc" => "#8c6d31",
        // Extras: a colour by name, the same in every record.
        other => {
            const EXTRA: [&str; 4] = ["#17becf", "#8c564b", "#e377c2", "#bcbd22"];
            EXTRA[other.bytes().map(usize::from).sum::<usize>() % EXTRA.len()]
        }
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Grouped bar chart: one group per (workload, threads), one bar per
/// allocator, showing median / system median on a log2 scale, so that twice
/// as fast and twice as slow are bars of the same length, up and down from
/// the system line. Bars beyond the axis are clipped and labelled.
pub fn svg_chart(s: &Session) -> String {
    struct Group {
        label: String,
        sub: String,
        lower: bool,
        bars: Vec<(usize, Option<f64>)>,
    }
    let mut groups = Vec::new();
    for r in &s.results {
        for (ci, case) in r.workload.cases.iter().enumerate() {
            let base = r.baseline(ci);
            let bars = (0..s.allocs.len())
                .map(|ai| {
                    let v = r.outcomes[ci][ai]
                        .summary()
                        .and_then(|x| base.and_then(|b| ratio(x.median, b)))
                        .filter(|v| *v > 0.0);
                    (ai, v)
                })
                .collect();
            groups.push(Group {
                label: r.workload.name.to_string(),
                sub: format!("t={}{}", case.threads, if r.workload.metric.higher_is_better { "" } else { " ↓" }),
                lower: !r.workload.metric.higher_is_better,
                bars,
            });
        }
    }
    let n = s.allocs.len().max(1);
    let bar_w = 10.0;
    let group_w = n as f64 * bar_w + 16.0;
    let left = 56.0;
    let top = 80.0;
    let plot_h = 300.0;
    let width = (left + groups.len() as f64 * group_w + 16.0).max(760.0);
    let height = top + plot_h + 70.0;
    // Axis: powers of two covering the data, within [1/16, 16], at least [1/2, 2].
    let (lo, hi) = groups
        .iter()
        .flat_map(|g| g.bars.iter().filter_map(|b| b.1))
        .fold((1.0f64, 1.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let exp_lo = (lo.log2().floor() as i32).clamp(-4, -1);
    let exp_hi = (hi.log2().ceil() as i32).clamp(1, 4);
    let (vmin, vmax) = (2f64.powi(exp_lo), 2f64.powi(exp_hi));
    let y = |v: f64| {
        let t = (v.clamp(vmin, vmax).log2() - exp_lo as f64) / (exp_hi - exp_lo) as f64;
        top + plot_h - t * plot_h
    };

    let mut out = String::new();
    out.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"10\">\n"
    ));
    out.push_str(&format!("<rect width=\"{width:.0}\" height=\"{height:.0}\" fill=\"white\"/>\n"));
    out.push_str(&format!(
        "<text x=\"8\" y=\"18\" font-size=\"13\" font-weight=\"bold\">{}</text>\n",
        xml("Median ÷ system median, log scale (throughput: up is better; ↓ retention: down is better)")
    ));
    out.push_str(&format!(
        "<text x=\"8\" y=\"34\" fill=\"#555\">{}</text>\n",
        xml(&format!(
            "{} · commit {} · {} runs · {}",
            s.command_line,
            s.machine.git_sha.as_deref().map_or("unknown", |c| &c[..c.len().min(12)]),
            s.options.runs,
            s.machine.date_utc
        ))
    ));
    for e in exp_lo..=exp_hi {
        let v = 2f64.powi(e);
        let yy = y(v);
        let label = if e >= 0 { format!("{}×", 1u32 << e) } else { format!("1/{}", 1u32 << -e) };
        out.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"{}\"{}/>\n",
            width - 8.0,
            if e == 0 { "#333" } else { "#e4e4e4" },
            if e == 0 { " stroke-dasharray=\"4 3\"" } else { "" }
        ));
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>\n",
            left - 4.0,
            yy + 3.0
        ));
    }
    let y1 = y(1.0);
    for (gi, g) in groups.iter().enumerate() {
        let gx = left + 8.0 + gi as f64 * group_w;
        if g.lower {
            out.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{plot_h}\" fill=\"#f3f3fb\"/>\n",
                gx - 5.0,
                group_w - 6.0
            ));
        }
        for (k, (ai, v)) in g.bars.iter().enumerate() {
            let x = gx + k as f64 * bar_w;
            let name = &s.allocs[*ai].name;
            match v {
                Some(v) => {
                    let yy = y(*v);
                    let (y0, h) = if yy < y1 { (yy, y1 - yy) } else { (y1, yy - y1) };
                    out.push_str(&format!(
                        "<rect x=\"{x:.1}\" y=\"{y0:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}</title></rect>\n",
                        bar_w - 1.5,
                        h.max(0.8),
                        color(name),
                        xml(&format!("{} {} {name}: {v:.2} × system", g.label, g.sub))
                    ));
                    if *v > vmax || *v < vmin {
                        let ty = if *v > vmax {
                            top - 3.0 - (k % 2) as f64 * 8.0
                        } else {
                            top + plot_h + 9.0 + (k % 2) as f64 * 9.0
                        };
                        out.push_str(&format!(
                            "<text x=\"{:.1}\" y=\"{ty:.1}\" font-size=\"8\" text-anchor=\"middle\">{}</text>\n",
                            x + bar_w / 2.0,
                            if *v >= 1.0 { format!("{v:.0}") } else { format!("{v:.2}") }
                        ));
                    }
                }
                None => out.push_str(&format!(
                    "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"{}\" text-anchor=\"middle\">×</text>\n",
                    x + bar_w / 2.0,
                    y1 - 2.0,
                    color(name)
                )),
            }
        }
        let cx = gx + (n as f64 * bar_w) / 2.0;
        out.push_str(&format!(
            "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            top + plot_h + 30.0,
            xml(&g.label)
        ));
        out.push_str(&format!(
            "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{}</text>\n",
            top + plot_h + 42.0,
            xml(&g.sub)
        ));
    }
    // Legend.
    let ly = 56.0;
    let mut lx = left;
    for a in &s.allocs {
        out.push_str(&format!(
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/>\n",
            ly - 9.0,
            color(&a.name)
        ));
        out.push_str(&format!("<text x=\"{:.1}\" y=\"{ly:.1}\">{}</text>\n", lx + 14.0, xml(&a.name)));
        lx += 30.0 + a.name.len() as f64 * 6.5;
    }
    out.push_str(&format!(
        "<text x=\"8\" y=\"{:.1}\" fill=\"#555\">{}</text>\n",
        height - 6.0,
        xml("dashed line: system = 1×; bars beyond the axis are clipped and carry their value; × = failed runs")
    ));
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Outcome;
    use crate::workloads::{self, larson};

    fn outcome(values: &[f64]) -> Outcome {
        Outcome {
            values: values.to_vec(),
            rss_kib: vec![2048; values.len()],
            failures: vec![],
            checks: vec![],
            command: "cmd".into(),
            also: vec![],
        }
    }

    fn session() -> Session {
        let allocs = vec![
            Allocator::system(),
            Allocator::preloaded("hakmem", "/x/libhakmem.so".into()),
            Allocator::preloaded("jemalloc", "/x/libjemalloc.so.2".into()),
        ];
        let mut failed = outcome(&[]);
        failed.failures.push("run 1: was killed by signal 11 (SIGSEGV)".into());
        let r = WorkloadResults {
            workload: larson("/x/larson".into(), 2.0, &[1]),
            loadavg: "1.00 1.00 1.00 1/100 1".into(),
            outcomes: vec![vec![
                outcome(&[100.0, 90.0, 110.0]),
                outcome(&[200.0, 210.0, 190.0]),
                outcome(&[150.0, 150.0, 150.0]),
            ]],
        };
        // Its first two cases (same-thread, cross-thread).
        let mut retention = workloads::find("retention").unwrap().workload(
            "/x/retention".into(),
            &workloads::Params { seconds: 2.0, threads: vec![1], quick: false, seed: 1 },
        );
        retention.cases.truncate(2);
        let ret = WorkloadResults {
            workload: retention,
            loadavg: "1.00 1.00 1.00 1/100 1".into(),
            outcomes: vec![
                vec![outcome(&[100.0]), outcome(&[40.0]), outcome(&[50.0])],
                vec![outcome(&[100.0]), failed, outcome(&[50.0])],
            ],
        };
        Session {
            command_line: "cargo xtask bench".into(),
            options: crate::options::parse_options(&[]).unwrap(),
            machine: crate::sysinfo::machine(),
            loadavg_end: "0.1 0.1 0.1 1/1 1".into(),
            hakmem_so: "/x/libhakmem.so".into(),
            hakmem_resolved: "mode=minimal".into(),
            allocs,
            skipped: vec![],
            results: vec![r, ret],
            instructions: None,
            wall_seconds: 12.0,
        }
    }

    #[test]
    fn tables_have_ratios_to_system_and_best_peer() {
        let s = session();
        let t = workload_table(&s.results[0], &s.allocs);
        assert!(t.contains("| 1 | system | 100.0 | 90.0 | 110.0 | 1.00 | 0.67 | 2.0 MiB | 3 |"), "{t}");
        assert!(t.contains("| 1 | hakmem | 200.0 | 190.0 | 210.0 | 2.00 | 1.33 | 2.0 MiB | 3 |"), "{t}");
        assert!(t.contains("best peer at threads=1: jemalloc"), "{t}");
        let t = workload_table(&s.results[1], &s.allocs);
        assert!(t.contains("| 2 (cross-thread) | hakmem | FAILED |"), "{t}");
        assert!(t.contains("SIGSEGV"), "{t}");
        // Lower is better: the best peer of retention is jemalloc (50 < 100).
        assert!(t.contains("| 1 (same-thread) | hakmem | 40.0 | 40.0 | 40.0 | 0.40 | 0.80 |"), "{t}");
        let t = summary_table(&s);
        assert!(t.contains("| larson | 1 | ops/s | 100.0 | 2.00 | 1.50 | 1.33 | jemalloc |"), "{t}");
        assert!(
            t.contains(
                "| retention | 2 (cross-thread) | % (lower is better) | 100.0 | FAILED | 0.50 | n/a | jemalloc |"
            ),
            "{t}"
        );
    }

    #[test]
    fn json_svg_and_markdown_records() {
        let s = session();
        let j = json(&s).pretty();
        for needle in [
            "\"schema\": \"hakmem-bench/1\"",
            "\"workload\": \"larson\"",
            "\"runs\": [200, 210, 190]",
            "\"cpus\": null",
            "\"ratio_to_system\": 2",
            "\"higher_is_better\": false",
            "\"peak_rss_kb\": 2048",
            "\"hakmem_resolved\": \"mode=minimal\"",
        ] {
            assert!(j.contains(needle), "{needle} not in {j}");
        }
        let svg = svg_chart(&s);
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        // 8 bars (one failed: drawn as ×), 3 legend boxes, 2 retention backgrounds, 1 background.
        assert_eq!(svg.matches("<rect").count(), 8 + 3 + 2 + 1, "{svg}");
        assert_eq!(svg.matches(">×</text>").count(), 1, "{svg}");
        let md = markdown(&s, "t");
        assert!(md.contains("![median / system median](t.svg)"));
        assert!(md.contains("## retention"));
        assert!(md.contains("| runs per case | 5 |"));
        assert!(md.contains("| placement | the kernel's (no pinning) |"), "{md}");
        let mut pinned = session();
        pinned.options.cpus = Some("0".into());
        assert!(json(&pinned).pretty().contains("\"cpus\": \"0\""));
        assert!(markdown(&pinned, "t")
            .contains("| placement | every run pinned with `taskset -c 0`, the same for every allocator |"));
    }

    #[test]
    fn extras_are_columns_but_never_the_best_peer() {
        let mut s = session();
        let mut base = Allocator::extra("hakmem-base", "/x/bench-bin/extra-hakmem-base.so".into());
        base.reports_as = Some("hakmem".into());
        base.info.push(("path", "/x/base/libhakmem.so".into()));
        s.allocs.push(base);
        // Faster than jemalloc (150) and hakmem (200): still not the best peer.
        s.results[0].outcomes[0].push(outcome(&[250.0, 250.0, 250.0]));
        s.results[1].outcomes[0].push(outcome(&[20.0]));
        s.results[1].outcomes[1].push(outcome(&[80.0]));
        let t = workload_table(&s.results[0], &s.allocs);
        assert!(t.contains("| 1 | hakmem | 200.0 | 190.0 | 210.0 | 2.00 | 1.33 |"), "{t}");
        assert!(t.contains("| 1 | hakmem-base | 250.0 | 250.0 | 250.0 | 2.50 | 1.67 |"), "{t}");
        assert!(t.contains("best peer at threads=1: jemalloc"), "{t}");
        assert!(t.contains("- extra allocators (--extra; not peers: never the best peer): hakmem-base"), "{t}");
        let t = summary_table(&s);
        assert!(t.contains("| hakmem ÷ best peer | best peer | hakmem ÷ hakmem-base |"), "{t}");
        assert!(t.contains("| larson | 1 | ops/s | 100.0 | 2.00 | 1.50 | 2.50 | 1.33 | jemalloc | 0.80 |"), "{t}");
        // Lower is better (retention): hakmem 40 against hakmem-base 20.
        assert!(t.contains("| retention | 1 (same-thread) | % (lower is better) | 100.0 | 0.40 | 0.50 | 0.20 | 0.80 | jemalloc | 2.00 |"), "{t}");
        assert!(t.contains("| retention | 2 (cross-thread) | % (lower is better) | 100.0 | FAILED | 0.50 | 0.80 | n/a | jemalloc | n/a |"), "{t}");
        let j = json(&s).pretty();
        assert!(j.contains("\"extra\": true") && j.contains("\"path\": \"/x/base/libhakmem.so\""), "{j}");
        assert!(!j.contains("\"best_peer\": \"hakmem-base\""), "{j}");
        let md = markdown(&s, "t");
        assert!(md.contains("The extra allocators (--extra; not peers: never the best peer): hakmem-base;"), "{md}");
        assert!(md.contains("| allocator hakmem-base | LD_PRELOAD=/x/bench-bin/extra-hakmem-base.so; extra (--extra), not a peer; path: /x/base/libhakmem.so |"), "{md}");
        assert_eq!(svg_chart(&s).matches("<rect").count(), 11 + 4 + 2 + 1);
        // No extras: the summary has no extra columns (records as before).
        assert!(!summary_table(&session()).contains("hakmem ÷ hakmem-base"));
    }
}
