//! The further measures of a workload ([`Workload::also`](crate::model::Workload),
//! e.g. `reclaim`'s `Steady RSS`, `burst-idle`'s `Retained`): a table per
//! measure after the workload's own, and their entry in the JSON record.
//! Ratios as in the main table: to the system allocator's median and to the
//! best peer's (best in the measure's own direction).

use crate::json::Json;
use crate::model::{fmt_value, ratio, Allocator, Outcome, WorkloadResults};

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |r| format!("{r:.2}"))
}

/// One table per further measure (empty when the workload has none).
pub fn also_tables(r: &WorkloadResults, allocs: &[Allocator]) -> String {
    let w = &r.workload;
    let mut t = String::new();
    for (i, m) in w.also.iter().enumerate() {
        t.push_str(&format!("{} `{}` ({}, {}):\n\n", w.name, m.key, m.unit, m.direction()));
        t.push_str(&format!(
            "| {} | allocator | median {u} | min | max | ÷ system | ÷ best peer | runs |\n",
            w.case_column,
            u = m.short_unit
        ));
        t.push_str("|---:|:---|---:|---:|---:|---:|---:|---:|\n");
        for (ci, case) in w.cases.iter().enumerate() {
            let row = &r.outcomes[ci];
            let base = row.first().and_then(|o| o.also_summary(i)).map(|s| s.median);
            let mut best: Option<f64> = None;
            for (a, o) in allocs.iter().zip(row) {
                if let (true, Some(s)) = (a.is_peer(), o.also_summary(i)) {
                    if best.is_none_or(|b| m.better(s.median, b)) {
                        best = Some(s.median);
                    }
                }
            }
            for (a, o) in allocs.iter().zip(row) {
                let n = o.also.get(i).map_or(0, Vec::len);
                match o.also_summary(i) {
                    Some(s) => t.push_str(&format!(
                        "| {} | {} | {} | {} | {} | {} | {} | {n} |\n",
                        case.label,
                        a.name,
                        fmt_value(s.median, m),
                        fmt_value(s.min, m),
                        fmt_value(s.max, m),
                        fmt_ratio(base.and_then(|b| ratio(s.median, b))),
                        fmt_ratio(best.and_then(|b| ratio(s.median, b))),
                    )),
                    None => t.push_str(&format!("| {} | {} | n/a | | | | | 0 |\n", case.label, a.name)),
                }
            }
        }
        t.push('\n');
    }
    t
}

/// `{"Steady RSS": {"unit": ..., "runs": [...], "median": ...}, ...}` of one
/// (case, allocator); `None` when the workload has no further measure.
pub fn also_json(r: &WorkloadResults, o: &Outcome) -> Option<Json> {
    let w = &r.workload;
    if w.also.is_empty() {
        return None;
    }
    let mut j = Json::obj();
    for (i, m) in w.also.iter().enumerate() {
        let s = o.also_summary(i);
        j.push(
            m.key,
            Json::obj()
                .with("name", m.name)
                .with("unit", m.unit)
                .with("higher_is_better", m.higher_is_better)
                .with("runs", o.also.get(i).cloned().unwrap_or_default())
                .with("median", s.map(|x| x.median))
                .with("min", s.map(|x| x.min))
                .with("max", s.map(|x| x.max)),
        );
    }
    Some(j)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Metric;
    use crate::workloads::{self, Params};

    #[test]
    fn reclaim_gets_a_steady_rss_table_and_json() {
        let p = Params { seconds: 2.0, threads: vec![1], quick: true, seed: 1 };
        let w = workloads::find("reclaim").unwrap().workload("/x/reclaim".into(), &p);
        let o = |steady: &[f64]| Outcome {
            values: vec![1.0; steady.len()],
            also: vec![steady.to_vec()],
            ..Outcome::default()
        };
        let r = WorkloadResults {
            workload: w,
            outcomes: vec![vec![o(&[2.0, 2.2]), o(&[6.0]), o(&[1.6])]],
            loadavg: String::new(),
        };
        let allocs = [
            Allocator::system(),
            Allocator::preloaded("hakmem", "/h.so".into()),
            Allocator::preloaded("jemalloc", "/j.so".into()),
        ];
        let t = also_tables(&r, &allocs);
        assert!(t.contains("reclaim `Steady RSS`"), "{t}");
        // hakmem: 6.0 / system's 2.1 and / the best peer's (jemalloc, lower is better) 1.6.
        assert!(t.contains("| 4+1 | hakmem | 6.00 | 6.00 | 6.00 | 2.86 | 3.75 | 1 |"), "{t}");
        let j = also_json(&r, &r.outcomes[0][0]).unwrap().pretty();
        assert!(j.contains("\"Steady RSS\""), "{j}");
        assert!(j.contains("2.1"), "{j}");
        let none: &[Metric] = &[];
        let mut plain = workloads::find("larson").unwrap().workload("/x/l".into(), &p);
        plain.also = none;
        let r = WorkloadResults { workload: plain, outcomes: vec![vec![o(&[])]], loadavg: String::new() };
        assert!(also_json(&r, &r.outcomes[0][0]).is_none());
        assert_eq!(also_tables(&r, &allocs[..1]), "");
    }
}
