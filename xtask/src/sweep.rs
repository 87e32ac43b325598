//! `cargo xtask features --sweep`: the `phases` workload under every fixed
//! setting of ELO's knobs, and under ELO itself, so that the record says
//! which fixed strategy is best and how far ELO is from it (issue 16: within
//! 10 %). The knobs and their candidates are the allocator's
//! (`crates/hakmem/src/learn.rs`): the grid of the big-block cache's
//! capacity and the decay interval, each other thread-cache budget with the
//! others at minimal's values, and capacities below ELO's candidates (0, 2)
//! to show what the rare phases would take with no cost in the churn ones.
//! The measure they are judged by is the one ELO minimises: `phases`' `Cost`.

use crate::configs::{self, Config, Fixed, Kind, Measure, MINIMAL, SYSTEM};

/// Minimal's values (hak-config's defaults).
pub const DEFAULT: Fixed = configs::FIXED_DEFAULT;
use crate::matrix::MatrixResults;
use crate::model::{fmt_mib, fmt_value, ratio};

/// ELO's candidates (`learn.rs` `CAPACITIES`, `DECAYS`, `CACHE_KIBS`).
pub const ENTRIES: &[u64] = &[8, 16, 32, 64];
pub const DECAYS: &[u64] = &[50, 150, 500, 1500];
pub const CACHE_KIBS: &[u64] = &[64, 128, 256, 512];
/// Capacities below the candidates, swept at minimal's other values.
pub const SMALL_ENTRIES: &[u64] = &[0, 2];
/// ELO's configuration in the sweep.
pub const ELO: &str = "minimal+ELO";
/// Issue 16: ELO's cost within 10 % of the best fixed strategy's.
pub const WITHIN: f64 = 0.10;

/// Every fixed setting of the sweep, minimal's first.
pub fn settings() -> Vec<Fixed> {
    let mut out = vec![DEFAULT];
    let mut add = |f: Fixed| {
        if !out.contains(&f) {
            out.push(f);
        }
    };
    for &entries in SMALL_ENTRIES.iter().chain(ENTRIES) {
        if SMALL_ENTRIES.contains(&entries) {
            add(Fixed { entries, ..DEFAULT });
            continue;
        }
        for &decay_ms in DECAYS {
            add(Fixed { entries, decay_ms, ..DEFAULT });
        }
    }
    for &cache_kb in CACHE_KIBS {
        add(Fixed { cache_kb, ..DEFAULT });
    }
    out
}

/// `--sweep`'s configurations: system, every fixed setting (minimal first),
/// then minimal+ELO.
pub fn configs() -> Vec<Config> {
    let mut out = vec![Config { name: SYSTEM.into(), kind: Kind::System, vars: vec![] }];
    for f in settings() {
        out.push(Config {
            name: f.name(),
            kind: Kind::Fixed(f),
            vars: vec![
                ("HAKMEM_MODE".into(), MINIMAL.into()),
                ("HAKMEM_BIGCACHE_ENTRIES".into(), f.entries.to_string()),
                ("HAKMEM_DECAY_MS".into(), f.decay_ms.to_string()),
                ("HAKMEM_THREAD_CACHE_KB".into(), f.cache_kb.to_string()),
            ],
        });
    }
    out.push(Config {
        name: ELO.into(),
        kind: Kind::Plus("ELO"),
        vars: vec![("HAKMEM_MODE".into(), MINIMAL.into()), ("HAKMEM_ELO".into(), "1".into())],
    });
    out
}

/// The best of `rows` by `m` (value, row index).
fn best(r: &MatrixResults, rows: &[(usize, Fixed)], m: &Measure) -> Option<(f64, usize)> {
    rows.iter().filter_map(|&(i, _)| r.median(0, i, m).map(|v| (v, i))).fold(None, |b, x| match b {
        Some(b) if (m.higher_is_better() && b.0 >= x.0) || (!m.higher_is_better() && b.0 <= x.0) => Some(b),
        _ => Some(x),
    })
}

/// The sweep's table: per configuration the churn throughput, the rare
/// phases' mean RSS and the cost, each divided by the best fixed setting's;
/// then which setting is best by each, and ELO's cost against the best.
pub fn table(r: &MatrixResults, configs: &[Config]) -> String {
    let (rare, cost) = (configs::RARE_RSS, configs::COST);
    let rows: Vec<(usize, Fixed)> = configs
        .iter()
        .enumerate()
        .filter_map(|(i, c)| if let Kind::Fixed(f) = c.kind { Some((i, f)) } else { None })
        .collect();
    let elo = configs.iter().position(|c| c.name == ELO);
    let measures = [Measure::Primary, rare, cost];
    let bests: Vec<Option<(f64, usize)>> = measures.iter().map(|m| best(r, &rows, m)).collect();
    let mut t = String::from(
        "| configuration | bigcache_entries | decay_ms | thread_cache_kb | churn throughput | ÷ best | rare phases' mean RSS | ÷ best | cost (ns/op) | ÷ best |\n|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let fmt = |m: &Measure, v: f64| match m {
        Measure::Primary => fmt_value(v, &r.workload.metric),
        Measure::Keyed { short_unit: "kB", .. } => fmt_mib(v.round() as u64),
        _ => format!("{v:.0}"),
    };
    let mut line = |i: usize, knobs: [String; 3]| {
        t.push_str(&format!("| {} | {} | {} | {} |", configs[i].name, knobs[0], knobs[1], knobs[2]));
        for (m, b) in measures.iter().zip(&bests) {
            let v = r.median(0, i, m);
            let q = v.zip(*b).and_then(|(v, b)| ratio(v, b.0));
            t.push_str(&format!(
                " {} | {} |",
                v.map_or("FAILED".into(), |v| fmt(m, v)),
                q.map_or("n/a".into(), |q| format!("{q:.2}"))
            ));
        }
        t.push('\n');
    };
    for &(i, f) in &rows {
        line(i, [f.entries.to_string(), f.decay_ms.to_string(), f.cache_kb.to_string()]);
    }
    if let Some(i) = elo {
        line(i, ["learned".into(), "learned".into(), "learned".into()]);
    }
    t.push('\n');
    let name = |b: Option<(f64, usize)>| b.map_or("n/a".to_string(), |(_, i)| configs[i].name.clone());
    t.push_str(&format!(
        "- best fixed setting: by churn throughput {}; by the rare phases' mean RSS {}; by cost (the measure ELO minimises) {}\n",
        name(bests[0]),
        name(bests[1]),
        name(bests[2])
    ));
    if let (Some(i), Some((b, bi))) = (elo, bests[2]) {
        if let Some(q) = r.median(0, i, &cost).and_then(|v| ratio(v, b)) {
            let verdict = if q <= 1.0 + WITHIN { "within" } else { "**not** within" };
            t.push_str(&format!(
                "- ELO's cost ÷ the best fixed setting's ({}): {q:.3}, {verdict} {:.0} %\n",
                configs[bi].name,
                WITHIN * 100.0
            ));
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_covers_every_candidate_of_each_knob() {
        let s = settings();
        assert_eq!(s[0], DEFAULT);
        for &e in ENTRIES {
            for &d in DECAYS {
                assert!(s.contains(&Fixed { entries: e, decay_ms: d, ..DEFAULT }), "c{e} d{d}");
            }
        }
        for &k in CACHE_KIBS {
            assert!(s.contains(&Fixed { cache_kb: k, ..DEFAULT }));
        }
        assert!(s.contains(&Fixed { entries: 0, ..DEFAULT }));
        assert_eq!(s.len(), 16 + 2 + 3);
        let c = configs();
        assert_eq!(c[0].name, SYSTEM);
        assert_eq!(c[1].name, MINIMAL);
        assert_eq!(c.last().unwrap().name, ELO);
        assert_eq!(Fixed { entries: 8, decay_ms: 50, cache_kb: 256 }.name(), "c8-d50-t256");
    }
}
