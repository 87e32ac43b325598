//! The configurations and workloads of `cargo xtask features` (issue 16's
//! per-feature cost matrix), derived from one table, [`STUDIED`], and from
//! the allocator's own mode table (`hak_config::Mode::default_features`,
//! `hak_config::FEATURE_VARS`), so that a mode that changes what it turns
//! on changes the matrix with it.
//!
//! A configuration is hakmem's libhakmem.so with a set of `HAKMEM_*`
//! variables: each mode alone (`HAKMEM_MODE=M`), and each studied feature
//! alone on top of `minimal`: `minimal+F` (`HAKMEM_F=1`) for a feature
//! minimal leaves off, `minimal-F` (`HAKMEM_F=0`) for one minimal turns on,
//! whose worth then shows as the loss without it. The system allocator runs
//! too, as the usual baseline. `--sweep` replaces them by `phases` under
//! every fixed setting of ELO's knobs and under ELO (`sweep.rs`).

use crate::model::Allocator;
use hak_config::{Features, Mode, FEATURE_VARS};
use std::path::Path;

/// A number each run yields, besides its workload's metric line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measure {
    /// The workload's metric (`Throughput = ...`).
    Primary,
    /// Another `<key> = N` line of its output.
    Keyed { key: &'static str, short_unit: &'static str, higher_is_better: bool },
    /// The peak RSS (`VmHWM`) the program prints at exit, in KiB.
    PeakRss,
}

impl Measure {
    pub fn higher_is_better(&self) -> bool {
        match self {
            Measure::Primary => true,
            Measure::Keyed { higher_is_better, .. } => *higher_is_better,
            Measure::PeakRss => false,
        }
    }

    /// Column header, e.g. `ops/s`, `Rare RSS (kB)`, `peak RSS`.
    pub fn label(&self) -> String {
        match self {
            Measure::Primary => "throughput".into(),
            Measure::Keyed { key, short_unit, .. } => format!("{key} ({short_unit})"),
            Measure::PeakRss => "peak RSS".into(),
        }
    }
}

/// `burst-idle`'s second line: RSS still resident after idle, % of the burst.
pub const RETAINED: Measure = Measure::Keyed { key: "Retained", short_unit: "%", higher_is_better: false };
/// `phases`' second line: mean RSS of the rare phases.
pub const RARE_RSS: Measure = Measure::Keyed { key: "Rare RSS", short_unit: "kB", higher_is_better: false };
/// `phases`' `Cost`: (CPU + wall × RSS / 64 MiB) per operation over the
/// whole run, the measure ELO minimises (decision 0040).
pub const COST: Measure = Measure::Keyed { key: "Cost", short_unit: "ns", higher_is_better: false };
/// `phases` runs at least this long (four phases of 5 s: ELO's three knobs
/// re-learn within about 5 s of a shift at its default 200 ms epochs, 100 ms
/// while exploring), whatever `--seconds` says (except `--quick`).
pub const PHASES_SECONDS: f64 = 20.0;

/// A studied feature: its name (`HAKMEM_<name>` switches it), the workload
/// it exists for and what it should win there.
pub struct Studied {
    pub feature: &'static str,
    pub workload: &'static str,
    pub gain: Measure,
    /// Why that workload and measure, for the record.
    pub why: &'static str,
}

/// The one table of the matrix: every feature measured alone.
pub const STUDIED: &[Studied] = &[
    Studied {
        feature: "BIGCACHE",
        workload: "large",
        gain: Measure::Primary,
        why: "reuses released 1..16 MiB mappings instead of mmap, page faults and munmap",
    },
    Studied {
        feature: "BATCH_MADVISE",
        workload: "burst-idle",
        gain: Measure::Primary,
        why: "keeps freed memory for the decay interval, so memory wanted again within a burst is not faulted back in; still returned after idle (`Retained`)",
    },
    Studied {
        feature: "THP",
        workload: "table",
        gain: Measure::Primary,
        why: "huge pages for big mappings: random accesses over 1 GiB of heap tables miss the TLB on nearly every access with 4 KiB pages; a 2 MiB page's miss walks one level less and the whole set's page-table entries fit in the caches",
    },
    Studied {
        feature: "ELO",
        workload: "phases",
        gain: RARE_RSS,
        why: "learns the decay interval, the BigCache capacity and the thread-cache budget by one cost, (CPU + wall × RSS / 64 MiB) per operation, which `phases` also reports (`Cost`); the churn phases want a long decay and 8+ entries, the rare (quiet) ones a short decay: what learning can win there is resident memory (`Rare RSS`); `--sweep` names the best fixed setting by that cost and ELO's ratio to it",
    },
    Studied {
        feature: "SITE_RULES",
        workload: "sites",
        gain: Measure::PeakRss,
        why: "learns which call sites allocate blocks above 32 KiB that outlive the churn of their size and serves them from L2.5 pages of their own, so the scratch pages of each phase empty and serve the next phase's size class: lower peak RSS",
    },
];

/// Features of `hak_config::FEATURE_VARS` the matrix does not measure: the
/// tiers (every mode needs them) and the statistics printout.
pub const NOT_STUDIED: &[&str] = &["TINY_POOL", "POOL", "L25_POOL", "STATS", "SECURE", "SECURE_ZERO"];

/// A workload of the matrix and the measures shown besides its metric.
pub struct MatrixWorkload {
    pub name: &'static str,
    pub extra: &'static [Measure],
}

/// The workloads of the matrix, in run order: larson (1 and 4 threads, the
/// reference arguments) and each studied feature's own.
pub const WORKLOADS: &[MatrixWorkload] = &[
    MatrixWorkload { name: "larson", extra: &[] },
    MatrixWorkload { name: "large", extra: &[] },
    MatrixWorkload { name: "burst-idle", extra: &[RETAINED] },
    MatrixWorkload { name: "phases", extra: &[RARE_RSS, COST] },
    MatrixWorkload { name: "sites", extra: &[] },
    MatrixWorkload { name: "table", extra: &[] },
];

pub fn matrix_workload(name: &str) -> Option<&'static MatrixWorkload> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// Minimal's values of ELO's knobs (hak-config's defaults).
pub const FIXED_DEFAULT: Fixed = Fixed { entries: 32, decay_ms: 500, cache_kb: 256 };

/// One fixed setting of the three knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixed {
    pub entries: u64,
    pub decay_ms: u64,
    pub cache_kb: u64,
}

impl Fixed {
    /// `c32-d500-t256`; minimal's values are named `minimal`.
    pub fn name(&self) -> String {
        if *self == FIXED_DEFAULT {
            return MINIMAL.into();
        }
        format!("c{}-d{}-t{}", self.entries, self.decay_ms, self.cache_kb)
    }

    /// The `hakmem: mode=` line's words that must say these values.
    pub fn words(&self) -> [String; 3] {
        [
            format!("bigcache_entries={}", self.entries),
            format!("decay_ms={}", self.decay_ms),
            format!("thread_cache_kb={}", self.cache_kb),
        ]
    }
}

/// What a configuration is.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// The C library's malloc: the baseline.
    System,
    /// `HAKMEM_MODE=<name>`.
    Mode(Mode),
    /// `minimal+F`: minimal with feature F switched on.
    Plus(&'static str),
    /// `minimal-F`: minimal with feature F switched off.
    Minus(&'static str),
    /// `--sweep`: minimal with fixed values of ELO's knobs.
    Fixed(Fixed),
}

/// A configuration: its name and the variables its runs set.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub name: String,
    pub kind: Kind,
    /// `(variable, value)` set on every run, in this order.
    pub vars: Vec<(String, String)>,
}

/// The name of the reference configuration.
pub const MINIMAL: &str = "minimal";
/// The name of `features --cost --base`'s reference: minimal on the other
/// build.
pub const BASE: &str = "base";
/// The name of the baseline.
pub const SYSTEM: &str = "system";

/// `HAKMEM_<feature>`, from the allocator's table; `None` for a feature it
/// does not know.
pub fn feature_var(feature: &str) -> Option<&'static str> {
    FEATURE_VARS.iter().map(|(_, v)| *v).find(|v| v.strip_prefix("HAKMEM_") == Some(feature))
}

/// The flag of a feature name.
pub fn feature_flag(feature: &str) -> Option<Features> {
    FEATURE_VARS.iter().find(|(_, v)| v.strip_prefix("HAKMEM_") == Some(feature)).map(|(f, _)| *f)
}

/// Whether `minimal` turns `feature` on (the allocator's mode table).
pub fn in_minimal(feature: &str) -> bool {
    feature_flag(feature).is_some_and(|f| Mode::Minimal.default_features().contains(f))
}

/// The matrix's configurations: system, every mode, every studied feature
/// alone on top of minimal.
pub fn all() -> Vec<Config> {
    let mut out = vec![Config { name: SYSTEM.into(), kind: Kind::System, vars: vec![] }];
    for m in Mode::ALL {
        out.push(Config {
            name: m.name().into(),
            kind: Kind::Mode(m),
            vars: vec![("HAKMEM_MODE".into(), m.name().into())],
        });
    }
    for s in STUDIED {
        let Some(var) = feature_var(s.feature) else { continue };
        let on = !in_minimal(s.feature);
        let (name, kind) = if on {
            (format!("{MINIMAL}+{}", s.feature), Kind::Plus(s.feature))
        } else {
            (format!("{MINIMAL}-{}", s.feature), Kind::Minus(s.feature))
        };
        out.push(Config {
            name,
            kind,
            vars: vec![("HAKMEM_MODE".into(), MINIMAL.into()), (var.into(), if on { "1" } else { "0" }.into())],
        });
    }
    out
}

/// Every variable a configuration may set: `HAKMEM_MODE` and every feature
/// switch. A run sets those of its configuration and removes the others, so
/// that the caller's environment cannot change what a row means.
pub fn controlled_vars() -> Vec<&'static str> {
    let mut v = vec!["HAKMEM_MODE"];
    v.extend(FEATURE_VARS.iter().map(|(_, var)| *var));
    v
}

impl Config {
    /// The features hakmem must report (`HAKMEM_VERBOSE=1`) for this
    /// configuration; `None` for the system allocator.
    pub fn expected_features(&self) -> Option<Features> {
        let minimal = Mode::Minimal.default_features();
        match &self.kind {
            Kind::System => None,
            Kind::Mode(m) => Some(m.default_features()),
            Kind::Plus(f) => Some(minimal | feature_flag(f)?),
            Kind::Minus(f) => Some(minimal - feature_flag(f)?),
            Kind::Fixed(_) => Some(minimal),
        }
    }

    /// The allocator that runs it: hakmem's library (verified by its
    /// `allocator-check: hakmem` line) with this configuration's variables.
    pub fn allocator(&self, so: &Path) -> Allocator {
        if self.kind == Kind::System {
            return Allocator::system();
        }
        let mut a = Allocator::preloaded(&self.name, so.to_path_buf());
        a.reports_as = Some("hakmem".into());
        let mut env: Vec<(String, Option<String>)> =
            controlled_vars().into_iter().map(|v| (v.to_string(), None)).collect();
        env.retain(|(k, _)| !self.vars.iter().any(|(v, _)| v == k));
        env.extend(self.vars.iter().map(|(k, v)| (k.clone(), Some(v.clone()))));
        a.env = env;
        a.info.push(("vars", self.vars_line()));
        a
    }

    /// `HAKMEM_MODE=minimal HAKMEM_THP=1`, or `(none)`.
    pub fn vars_line(&self) -> String {
        if self.vars.is_empty() {
            return "(none)".into();
        }
        self.vars.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    }
}

/// The feature names of `features=A|B|C` in a `hakmem: mode=...` line.
pub fn reported_features(line: &str) -> Option<Features> {
    let list = line.split_whitespace().find_map(|w| w.strip_prefix("features="))?;
    let mut f = Features::empty();
    for name in list.split('|').filter(|n| !n.is_empty() && *n != "none") {
        f |= feature_flag(name)?;
    }
    Some(f)
}

/// Checks a configuration's `hakmem: mode=...` line: the features it
/// reports are the ones the configuration means (and, in a sweep, the knobs'
/// values). `Err` says what differs.
pub fn check_resolved(c: &Config, line: &str) -> Result<(), String> {
    if let Some(want) = c.expected_features() {
        match reported_features(line) {
            Some(got) if got == want => {}
            Some(got) => {
                return Err(format!(
                    "{}: hakmem reports features {} where {} were meant ({line})",
                    c.name,
                    names(got),
                    names(want)
                ))
            }
            None => return Err(format!("{}: no features= in `{line}`", c.name)),
        }
    }
    if let Kind::Fixed(f) = c.kind {
        for want in f.words() {
            if !line.split_whitespace().any(|w| w == want) {
                return Err(format!("{}: `{line}` does not say {want}", c.name));
            }
        }
    }
    Ok(())
}

/// `BIGCACHE|THP`, by the allocator's names.
pub fn names(f: Features) -> String {
    let v: Vec<&str> = FEATURE_VARS
        .iter()
        .filter(|(flag, _)| f.contains(*flag))
        .filter_map(|(_, var)| var.strip_prefix("HAKMEM_"))
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_of_the_allocator_is_studied_or_excluded_by_name() {
        for (_, var) in FEATURE_VARS {
            let f = var.strip_prefix("HAKMEM_").unwrap();
            let studied = STUDIED.iter().any(|s| s.feature == f);
            assert!(studied != NOT_STUDIED.contains(&f), "{f}: studied and excluded, or neither");
        }
        for s in STUDIED {
            assert!(feature_var(s.feature).is_some(), "{} is not a switch of hak-config", s.feature);
            assert!(matrix_workload(s.workload).is_some(), "{}'s workload {}", s.feature, s.workload);
            assert!(crate::workloads::find(s.workload).is_some(), "{} is not in the catalogue", s.workload);
        }
    }

    #[test]
    fn configurations_follow_the_mode_table() {
        let c = all();
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(&names[..6], ["system", "minimal", "fast", "balanced", "learning", "research"]);
        assert_eq!(names.len(), 1 + Mode::ALL.len() + STUDIED.len());
        for s in STUDIED {
            let flag = feature_flag(s.feature).unwrap();
            let on_in_minimal = Mode::Minimal.default_features().contains(flag);
            let want = format!("minimal{}{}", if on_in_minimal { '-' } else { '+' }, s.feature);
            let cfg = c.iter().find(|c| c.name == want).unwrap_or_else(|| panic!("{want} missing"));
            let f = cfg.expected_features().unwrap();
            // Exactly one feature differs from minimal's, and it is F.
            assert_eq!(f ^ Mode::Minimal.default_features(), flag, "{want}");
            let value = if on_in_minimal { "0" } else { "1" };
            assert_eq!(cfg.vars[1], (format!("HAKMEM_{}", s.feature), value.to_string()));
        }
        let minimal = c.iter().find(|c| c.name == "minimal").unwrap();
        assert_eq!(minimal.vars_line(), "HAKMEM_MODE=minimal");
        assert_eq!(c[0].vars_line(), "(none)");
    }

    #[test]
    fn a_configuration_sets_its_variables_and_removes_the_other_switches() {
        let cfg = all().into_iter().find(|c| matches!(c.kind, Kind::Plus(_))).unwrap();
        let a = cfg.allocator(Path::new("/x/libhakmem.so"));
        assert!(a.is_hakmem_build() && !a.is_hakmem());
        assert_eq!(a.expected_check(), Some("hakmem"));
        let set: Vec<_> = a.env.iter().filter(|(_, v)| v.is_some()).collect();
        assert_eq!(set.len(), 2);
        assert!(a.env.iter().any(|(k, v)| k == "HAKMEM_ELO" && v.is_none()) || cfg.name == "minimal+ELO");
        let mut cmd = std::process::Command::new("true");
        a.apply(&mut cmd);
        let line = crate::util::display_cmd(&cmd);
        // Variables print sorted: the configuration's, then LD_PRELOAD.
        assert!(line.starts_with(&format!("{} LD_PRELOAD=/x/libhakmem.so true", cfg.vars_line())), "{line}");
        assert!(Config { name: "system".into(), kind: Kind::System, vars: vec![] }
            .allocator(Path::new("/x"))
            .preload
            .is_none());
    }

    #[test]
    fn resolved_lines_are_checked_against_the_configuration() {
        let c = all();
        let minimal = c.iter().find(|c| c.name == "minimal").unwrap();
        let line = format!("mode=minimal features={} bigcache_entries=32", names(Mode::Minimal.default_features()));
        assert_eq!(check_resolved(minimal, &line), Ok(()));
        let balanced = c.iter().find(|c| c.name == "balanced").unwrap();
        let err = check_resolved(balanced, &line).unwrap_err();
        assert!(err.contains("where") && err.contains("THP"), "{err}");
        assert!(check_resolved(minimal, "mode=minimal").is_err());
        assert_eq!(reported_features("mode=x features=none"), Some(Features::empty()));
        assert_eq!(reported_features("features=BOGUS"), None);
        let s = crate::sweep::configs();
        let e8 = s.iter().find(|c| c.name == "c8-d50-t256").unwrap();
        let full = format!("{line} decay_ms=500 thread_cache_kb=256");
        assert!(check_resolved(e8, &full).unwrap_err().contains("bigcache_entries=8"));
        let ok = full.replace("bigcache_entries=32", "bigcache_entries=8").replace("decay_ms=500", "decay_ms=50");
        assert_eq!(check_resolved(e8, &ok), Ok(()));
    }
}
