//! The command line of `cargo xtask features`: [`parse`] checks every option
//! before anything is built or run.

use crate::configs::{self, Config, MINIMAL, SYSTEM};
use crate::util::{runs_value, save_name, seconds_value, split_flag, Result};
use std::path::PathBuf;

/// `--cost`'s default rounds and run length: short runs, so that the minimal
/// runs around each run are taken within a second of it, and enough rounds
/// for the median's interval to be about ±1.5 % at 4 threads here.
pub const COST_RUNS: usize = 60;
pub const COST_SECONDS: f64 = 0.5;

/// Parsed command line of `features`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureOptions {
    /// Rounds of interleaved runs (default 5; `--quick`: 1).
    pub runs: usize,
    /// Length of a timed run (default 2 s; `--quick`: 0.25 s).
    pub seconds: f64,
    /// Smaller bursts and idle periods (the workloads' `--quick` sizes).
    pub quick: bool,
    pub save: Option<String>,
    pub json: Option<PathBuf>,
    /// `--only`: these configurations (minimal and system always run).
    pub only: Option<Vec<String>>,
    /// `--workloads`: these workloads of the matrix (empty: all).
    pub workloads: Vec<String>,
    /// `--sweep`: `phases` under every fixed setting of ELO's knobs and
    /// under ELO ([`crate::sweep`]).
    pub sweep: bool,
    /// `--cost`: larson only, each configuration's runs bracketed by runs
    /// of minimal (the module `larson_cost`).
    pub cost: bool,
    /// `--cost --base PATH`: the reference is minimal on another build of
    /// the library (a landing's cost: the commit before against this one);
    /// the configurations compared are `--only`'s, or minimal.
    pub base: Option<PathBuf>,
}

impl FeatureOptions {
    /// The configurations to run, in table order: `--only`'s plus minimal and
    /// system, or all of them.
    pub fn configs(&self) -> Vec<Config> {
        let all = if self.sweep { crate::sweep::configs() } else { configs::all() };
        match &self.only {
            None => all,
            Some(only) => {
                all.into_iter().filter(|c| c.name == SYSTEM || c.name == MINIMAL || only.contains(&c.name)).collect()
            }
        }
    }

    /// The workloads to run, in matrix order.
    pub fn selected_workloads(&self) -> Vec<&'static str> {
        if self.sweep {
            return vec!["phases"];
        }
        configs::WORKLOADS
            .iter()
            .map(|w| w.name)
            .filter(|n| self.workloads.is_empty() || self.workloads.iter().any(|w| w == n))
            .collect()
    }
}

fn names(configs: &[Config]) -> String {
    configs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(",")
}

/// Parses `features`' arguments.
pub fn parse(args: &[String]) -> Result<FeatureOptions> {
    let mut o = FeatureOptions {
        runs: 0,
        seconds: 0.0,
        quick: false,
        save: None,
        json: None,
        only: None,
        workloads: Vec::new(),
        sweep: false,
        cost: false,
        base: None,
    };
    let (mut runs, mut seconds) = (None, None);
    let mut i = 0;
    while i < args.len() {
        let (flag, inline) = split_flag(&args[i]);
        let mut value = || -> Result<String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            i += 1;
            args.get(i).cloned().ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--runs" => runs = Some(runs_value(&value()?)?),
            "--seconds" => seconds = Some(seconds_value(&value()?)?),
            "--quick" => o.quick = true,
            "--sweep" => o.sweep = true,
            "--cost" => o.cost = true,
            "--base" => o.base = Some(PathBuf::from(value()?)),
            "--json" => o.json = Some(PathBuf::from(value()?)),
            "--save" => o.save = Some(save_name(&value()?, "features-16")?),
            "--only" => {
                let list: Vec<String> =
                    value()?.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
                if list.is_empty() {
                    return Err("--only: empty list".into());
                }
                o.only.get_or_insert_with(Vec::new).extend(list);
            }
            "--workloads" => {
                for w in value()?.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if configs::matrix_workload(w).is_none() {
                        let known: Vec<&str> = configs::WORKLOADS.iter().map(|w| w.name).collect();
                        return Err(format!("--workloads: unknown workload `{w}`; known: {}", known.join(",")));
                    }
                    o.workloads.push(w.to_string());
                }
                if o.workloads.is_empty() {
                    return Err("--workloads: empty list".into());
                }
            }
            f => return Err(format!("unknown argument `{f}` of `features` (see `cargo xtask help`)")),
        }
        i += 1;
    }
    // Checked once every flag is known (--sweep changes the names).
    if let Some(only) = &o.only {
        let known = if o.sweep { crate::sweep::configs() } else { configs::all() };
        for name in only {
            if !known.iter().any(|c| c.name == *name) {
                return Err(format!("--only: unknown configuration `{name}`; known: {}", names(&known)));
            }
        }
    }
    if o.sweep && o.workloads.iter().any(|w| w != "phases") {
        return Err("--sweep runs the `phases` workload only (drop --workloads)".into());
    }
    if o.cost && (o.sweep || !o.workloads.is_empty()) {
        return Err("--cost runs larson only, under the matrix's configurations (drop --sweep and --workloads)".into());
    }
    if o.base.is_some() && !o.cost {
        return Err("--base PATH is an option of --cost (larson against another build)".into());
    }
    let (default_runs, default_seconds) = match (o.quick, o.cost) {
        (true, _) => (1, 0.25),
        (false, true) => (COST_RUNS, COST_SECONDS),
        (false, false) => (5, 2.0),
    };
    o.runs = runs.unwrap_or(default_runs);
    o.seconds = seconds.unwrap_or(default_seconds);
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn defaults_and_values() {
        let o = parse(&[]).unwrap();
        assert_eq!((o.runs, o.seconds, o.quick, o.sweep), (5, 2.0, false, false));
        assert_eq!(o.selected_workloads(), ["larson", "large", "burst-idle", "phases", "sites", "table"]);
        assert_eq!(o.configs(), configs::all());
        let o = parse(&args("--quick")).unwrap();
        assert_eq!((o.runs, o.seconds), (1, 0.25));
        let o = parse(&args("--quick --runs 3 --seconds=0.5 --save f-16 --json /tmp/f.json")).unwrap();
        assert_eq!((o.runs, o.seconds), (3, 0.5));
        assert_eq!(o.save.as_deref(), Some("f-16"));
        assert_eq!(o.json, Some(PathBuf::from("/tmp/f.json")));
    }

    #[test]
    fn only_keeps_the_reference_and_the_baseline() {
        let o = parse(&args("--only balanced,minimal+THP --workloads sites,larson")).unwrap();
        let names: Vec<String> = o.configs().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["system", "minimal", "balanced", "minimal+THP"]);
        // Matrix order, not command-line order.
        assert_eq!(o.selected_workloads(), ["larson", "sites"]);
        let o = parse(&args("--sweep --only c0-d500-t256,minimal+ELO")).unwrap();
        let names: Vec<String> = o.configs().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["system", "minimal", "c0-d500-t256", "minimal+ELO"]);
        assert_eq!(o.selected_workloads(), ["phases"]);
        assert!(parse(&args("--sweep --workloads phases")).is_ok());
    }

    #[test]
    fn cost_runs_short_runs_by_default() {
        let o = parse(&args("--cost --only minimal+THP")).unwrap();
        assert!(o.cost);
        assert_eq!((o.runs, o.seconds), (COST_RUNS, COST_SECONDS));
        assert_eq!(parse(&args("--cost --runs 7 --seconds 1")).map(|o| (o.runs, o.seconds)), Ok((7, 1.0)));
        let o = parse(&args("--cost --base /tmp/old.so")).unwrap();
        assert_eq!(o.base, Some(PathBuf::from("/tmp/old.so")));
    }

    #[test]
    fn bad_arguments_are_refused() {
        for bad in [
            "--runs 0",
            "--runs x",
            "--seconds 0",
            "--seconds",
            "--save ../x",
            "--only",
            "--only ,",
            "--only nosuch",
            "--only c8-d50-t256",
            "--workloads mid",
            "--workloads ,",
            "--sweep --workloads larson",
            "--sweep --only balanced",
            "--cost --sweep",
            "--cost --workloads larson",
            "--base /tmp/old.so",
            "--cost --base",
            "larson",
            "--bogus",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }
}
