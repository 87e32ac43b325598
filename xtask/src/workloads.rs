//! The workload catalogue of `cargo xtask bench`: for each C program of
//! `benches/c/`, its arguments per case and the metric it prints.
//! BENCHMARKS.md ("Workloads") says what each one models.

use crate::cbuild::{self, CProgram};
use crate::model::{format_seconds, Case, Metric, Workload};
use std::path::PathBuf;
use std::time::Duration;

/// How a workload uses `--threads`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// One case per `--threads` value.
    Threaded,
    /// Single-threaded: one case, threads = 1.
    Single,
    /// Two fixed cases: same-thread free (1 thread) and cross-thread free (2).
    Retention,
    /// Single-threaded bursts and idle periods: `seconds burst_mib
    /// idle_seconds seed` (`--quick`: a 32 MiB burst, 0.2 s idle).
    Burst,
    /// One case per listed thread count, whatever `--threads` says (the
    /// counts the pattern is about): `seconds threads seed`.
    Fixed(&'static [usize]),
    /// `reclaim`: 4 producers and 1 reclaimer over 40,000 blocks, a fixed
    /// amount of work (3 million replacements per producer; `--quick`:
    /// 100,000), not `--seconds`.
    Reclaim,
}

/// A workload of the catalogue.
pub struct Spec {
    pub name: &'static str,
    pub program: &'static CProgram,
    pub kind: Kind,
    pub about: &'static str,
    pub metric: Metric,
    /// Further keyed measures each run prints (recorded, not judged).
    pub also: &'static [Metric],
}

const THROUGHPUT: Metric = Metric {
    name: "throughput",
    unit: "operations per second",
    short_unit: "ops/s",
    higher_is_better: true,
    key: "Throughput",
};

/// `burst-idle`'s second line: RSS still resident after idle.
const RETAINED_AFTER_IDLE: Metric = Metric {
    name: "retained after idle",
    unit: "% of the bursts' RSS increase",
    short_unit: "%",
    higher_is_better: false,
    key: "Retained",
};

/// `phases`' second line: mean RSS of its rare phases.
const RARE_RSS: Metric = Metric {
    name: "rare-phase RSS",
    unit: "kB, mean RSS of the rare phases",
    short_unit: "kB",
    higher_is_better: false,
    key: "Rare RSS",
};

/// `reclaim`'s second line: mean RSS of its second half over the live bytes.
const STEADY_RSS: Metric = Metric {
    name: "steady RSS",
    unit: "times the live bytes",
    short_unit: "x live",
    higher_is_better: false,
    key: "Steady RSS",
};

/// Every workload, in the order `cargo xtask bench` runs them.
pub const CATALOGUE: &[Spec] = &[
    Spec {
        name: "larson",
        program: &cbuild::LARSON,
        kind: Kind::Threaded,
        about: "Larson & Krishnan server simulation: random sizes 8..1024 B, threads replaced by successors (cross-thread frees, thread churn); reference args `S 8 1024 10000 1 12345 T`",
        metric: THROUGHPUT,
        also: &[],
    },
    Spec {
        name: "prodcons",
        program: &cbuild::PRODCONS,
        kind: Kind::Threaded,
        about: "producer/consumer pairs: producers only malloc (16..1024 B) and push through a 4096-entry ring, consumers only free (remote frees); threads split half/half, at least 2",
        metric: THROUGHPUT,
        also: &[],
    },
    Spec {
        name: "churn-fixed",
        program: &cbuild::CHURN_FIXED,
        kind: Kind::Single,
        about: "same-thread malloc/free of fixed sizes 16..1024 B: ring replacement over a 512-block working set per size, then batches of 512 freed in order",
        metric: THROUGHPUT,
        also: &[],
    },
    Spec {
        name: "churn-mixed",
        program: &cbuild::CHURN_MIXED,
        kind: Kind::Single,
        about: "same-thread random replacement in a live set of 10000 blocks of log-uniform sizes 8 B..4 KiB",
        metric: THROUGHPUT,
        also: &[],
    },
    Spec {
        name: "mid",
        program: &cbuild::MID,
        kind: Kind::Single,
        about: "same-thread random replacement in a live set of 128 blocks of log-uniform sizes 2 KiB..1 MiB, one write per 4 KiB page",
        metric: THROUGHPUT,
        also: &[],
    },
    Spec {
        name: "large",
        program: &cbuild::LARGE,
        kind: Kind::Single,
        about: "malloc 1..16 MiB (log-uniform), write every 4 KiB page, free",
        metric: THROUGHPUT,
        also: &[],
    },
    Spec {
        name: "realloc-grow",
        program: &cbuild::REALLOC_GROW,
        kind: Kind::Single,
        about: "16 vectors grown by realloc (x1.5 + 16..79 B) from 16 B to 1..4 MiB in interleaved random order, contents checked; ops = reallocs",
        metric: THROUGHPUT,
        also: &[],
    },
    Spec {
        name: "aligned",
        program: &cbuild::ALIGNED,
        kind: Kind::Single,
        about: "posix_memalign / aligned_alloc, alignments 16..4096, sizes 16 B..64 KiB, live set of 1024, alignment checked",
        metric: THROUGHPUT,
        also: &[],
    },
    Spec {
        name: "calloc-large",
        program: &cbuild::CALLOC_LARGE,
        kind: Kind::Single,
        about: "calloc 1..64 MiB, read one byte per 4 KiB page (checked zero), dirty every 8th page, free",
        metric: THROUGHPUT,
        also: &[],
    },
    Spec {
        name: "threads",
        program: &cbuild::THREADS,
        kind: Kind::Threaded,
        about: "waves of T short-lived threads; each frees 32 blocks left by its predecessor, mallocs 64 (16..1024 B), frees 32; metric = threads per second",
        metric: Metric {
            name: "throughput",
            unit: "threads per second",
            short_unit: "threads/s",
            higher_is_better: true,
            key: "Throughput",
        },
        also: &[],
    },
    Spec {
        name: "retention",
        program: &cbuild::RETENTION,
        kind: Kind::Retention,
        about: "burst of 256 MiB in 16 B..64 KiB blocks, freed by the same thread (threads=1) or another thread (threads=2), or all but every 16th block by the same thread (3, sparse: the kept blocks pin partly used pages), then 1 s of light activity; metric = RSS still resident, % of the burst's RSS increase",
        metric: Metric {
            name: "retained RSS",
            unit: "% of the burst's RSS increase",
            short_unit: "%",
            higher_is_better: false,
            key: "Retained",
        },
        also: &[],
    },
    Spec {
        name: "burst-idle",
        program: &cbuild::BURST_IDLE,
        kind: Kind::Burst,
        about: "cycles of a 200 MiB burst of log-uniform 64 B..4 MiB blocks (built, churned 4x, freed) and 1 s of light activity; metric = the bursts' mallocs+frees per second (idle excluded); also prints `Retained`, % of the burst's RSS increase still resident after idle",
        metric: THROUGHPUT,
        also: &[RETAINED_AFTER_IDLE],
    },
    Spec {
        name: "phases",
        program: &cbuild::PHASES,
        kind: Kind::Single,
        about: "four phases: churn (16 live 2..8 MiB blocks, 8 replaced per round: rewards a big-block cache and a long decay), rare (one 2..32 MiB block per 100 ms: rewards a short decay), churn, rare; metric = churn mallocs+frees per second; also prints `Rare RSS`, mean RSS of the rare phases, and `Cost`, (CPU + wall × RSS / 64 MiB) per operation, the cost ELO minimises",
        metric: THROUGHPUT,
        also: &[RARE_RSS],
    },
    Spec {
        name: "sites",
        program: &cbuild::SITES,
        kind: Kind::Single,
        about: "a compiler: modules of 32 functions, each with its own size band (33..288 KiB), 1536 short-lived scratch blocks (192 live) and one long-lived block per 128 kept to the module's end, from two call sites; metric = mallocs+frees per second; peak RSS",
        metric: THROUGHPUT,
        also: &[],
    },
    Spec {
        name: "table",
        program: &cbuild::TABLE,
        kind: Kind::Single,
        about: "random 8-byte read-modify-writes over 8 heap tables of 128 MiB (1 GiB), one table freed and rebuilt every 64 rounds of 65,536 accesses; metric = accesses per second",
        metric: THROUGHPUT,
        also: &[],
    },
    Spec {
        name: "remote",
        program: &cbuild::REMOTE,
        kind: Kind::Fixed(&[2, 4, 8]),
        about: "all-to-all remote frees: threads in a ring, each allocates batches of 64 blocks (log-uniform 16..1023 B, canary checked) and hands each batch to the next thread, which frees it: every free is remote; at 2, 4 and 8 threads",
        metric: THROUGHPUT,
        also: &[],
    },
    Spec {
        name: "handoff",
        program: &cbuild::HANDOFF,
        kind: Kind::Fixed(&[8, 32]),
        about: "thread churn with hand-off: T lanes of 1,000 live blocks (8..1024 B, canary checked); each generation is a new thread doing 2,000 replacements, then it creates the next and hands it the lane; at 8 and 32 threads; ops = replacements",
        metric: THROUGHPUT,
        also: &[],
    },
    Spec {
        name: "mixed32",
        program: &cbuild::MIXED32,
        kind: Kind::Fixed(&[32]),
        about: "mixed stress at 32 threads: random replacement in 64-slot working sets of log-uniform 8 B..256 KiB blocks (a byte per page, canary checked), one block in 8 sent to another thread, 4 long-lived blocks per thread; ops = blocks allocated",
        metric: THROUGHPUT,
        also: &[],
    },
    Spec {
        name: "midphases",
        program: &cbuild::MIDPHASES,
        kind: Kind::Single,
        about: "one thread, 64 MiB live of 4 KiB..1 MiB blocks in six phases of different size bands (free 3/4, refill, 2,000 replacements; a byte per page, canary checked); ops = mallocs+frees; peak RSS is the figure to watch",
        metric: THROUGHPUT,
        also: &[],
    },
    Spec {
        name: "reclaim",
        program: &cbuild::RECLAIM,
        kind: Kind::Reclaim,
        about: "issue 21's reclaimer: 4 producers replace blocks of a live set of 40,000 blocks of 592 B, 3 million replacements each, and send the replaced blocks through queues to 1 thread that frees them (canary checked); ops = replacements; also `Steady RSS`, mean RSS of the second half over the live bytes",
        metric: THROUGHPUT,
        also: &[STEADY_RSS],
    },
];

/// Names of every workload.
pub fn names() -> Vec<&'static str> {
    CATALOGUE.iter().map(|s| s.name).collect()
}

pub fn find(name: &str) -> Option<&'static Spec> {
    CATALOGUE.iter().find(|s| s.name == name)
}

/// larson with the reference arguments of BENCHMARKS.md
/// (`seconds 8 1024 10000 1 12345 threads`), one case per thread count.
pub fn larson(binary: PathBuf, seconds: f64, threads: &[usize]) -> Workload {
    let params = Params { seconds, threads: threads.to_vec(), quick: false, seed: SEED };
    find("larson").expect("larson is in the catalogue").workload(binary, &params)
}

/// What the cases of a run depend on.
#[derive(Clone, Debug)]
pub struct Params {
    /// Duration of one timed run.
    pub seconds: f64,
    /// `--threads`.
    pub threads: Vec<usize>,
    /// `--quick`: smaller bursts and shorter idle periods.
    pub quick: bool,
    pub seed: u64,
}

/// Seed of every workload (larson's reference seed).
pub const SEED: u64 = 12345;

impl Spec {
    /// The workload with its cases, to be run from `binary`.
    pub fn workload(&self, binary: PathBuf, p: &Params) -> Workload {
        let secs = format_seconds(p.seconds);
        let seed = p.seed.to_string();
        let mut cases = Vec::new();
        let mut timeout_secs = p.seconds + 120.0;
        match self.kind {
            Kind::Threaded => {
                let mut seen = Vec::new();
                for &t in &p.threads {
                    let t = if self.name == "prodcons" { (t - t % 2).max(2) } else { t };
                    if seen.contains(&t) {
                        continue;
                    }
                    seen.push(t);
                    let args: Vec<String> = match self.name {
                        "larson" => [&*secs, "8", "1024", "10000", "1", "12345", &t.to_string()]
                            .iter()
                            .map(|s| s.to_string())
                            .collect(),
                        _ => vec![secs.clone(), t.to_string(), seed.clone()],
                    };
                    cases.push(Case { label: t.to_string(), threads: t, args });
                }
            }
            Kind::Fixed(counts) => {
                for &t in counts {
                    cases.push(Case {
                        label: t.to_string(),
                        threads: t,
                        args: vec![secs.clone(), t.to_string(), seed.clone()],
                    });
                }
            }
            Kind::Reclaim => {
                let replacements = if p.quick { "100000" } else { "3000000" };
                timeout_secs = 300.0;
                cases.push(Case {
                    label: "4+1".into(),
                    threads: 5,
                    args: vec!["4".into(), "40000".into(), replacements.into(), seed.clone()],
                });
            }
            Kind::Burst => {
                let (burst, idle) = if p.quick { ("32", 0.2) } else { ("200", 1.0) };
                timeout_secs = p.seconds + 4.0 * idle + 120.0;
                cases.push(Case {
                    label: "1".into(),
                    threads: 1,
                    args: vec![secs.clone(), burst.into(), format_seconds(idle), seed.clone()],
                });
            }
            Kind::Single => {
                let mut args = vec![secs.clone(), seed.clone()];
                if self.name == "table" && p.quick {
                    // 8 tables of 8 MiB instead of 128 MiB: a smoke run.
                    args.push("8".into());
                }
                if self.name == "midphases" && p.quick {
                    // 16 MiB live instead of 64: a smoke run.
                    args.push("16".into());
                }
                cases.push(Case { label: "1".into(), threads: 1, args });
            }
            Kind::Retention => {
                let (burst, light) = if p.quick { ("32", 0.2) } else { ("256", 1.0) };
                timeout_secs = light + 120.0;
                for (variant, label) in
                    [(1, "1 (same-thread)"), (2, "2 (cross-thread)"), (3, "3 (sparse, 1 in 16 kept)")]
                {
                    cases.push(Case {
                        label: label.into(),
                        threads: variant,
                        args: vec![variant.to_string(), burst.into(), format_seconds(light), seed.clone()],
                    });
                }
            }
        }
        Workload {
            name: self.name,
            about: self.about,
            binary,
            case_column: "threads",
            cases,
            metric: self.metric,
            also: self.also,
            timeout: Duration::from_secs_f64(timeout_secs),
            build_cmd: cbuild::build_command(self.program),
            cpus: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Allocator;
    use crate::util;

    fn params() -> Params {
        Params { seconds: 2.0, threads: vec![1, 4], quick: false, seed: SEED }
    }

    #[test]
    fn every_workload_has_a_program_in_benches_c() {
        for s in CATALOGUE {
            assert_eq!(s.program.name, s.name);
            for src in s.program.sources.iter().chain(s.program.headers) {
                assert!(crate::util::root().join(src).is_file(), "{src}");
            }
        }
        assert_eq!(names().len(), 20);
    }

    #[test]
    fn larson_keeps_its_reference_arguments() {
        let w = find("larson").unwrap().workload("/x/larson".into(), &params());
        assert_eq!(w.cases[0].args, ["2", "8", "1024", "10000", "1", "12345", "1"]);
        assert_eq!(w.cases[1].args, ["2", "8", "1024", "10000", "1", "12345", "4"]);
    }

    #[test]
    fn prodcons_has_at_least_two_threads_and_no_duplicates() {
        let mut p = params();
        p.threads = vec![1, 2, 3, 4];
        let w = find("prodcons").unwrap().workload("/x/p".into(), &p);
        let t: Vec<usize> = w.cases.iter().map(|c| c.threads).collect();
        assert_eq!(t, [2, 4]);
        assert_eq!(w.cases[1].args, ["2", "4", "12345"]);
    }

    #[test]
    fn single_threaded_and_retention_cases() {
        let w = find("mid").unwrap().workload("/x/mid".into(), &params());
        assert_eq!(w.cases.len(), 1);
        assert_eq!((w.cases[0].threads, &w.cases[0].args[..]), (1, &["2".to_string(), "12345".into()][..]));
        let w = find("retention").unwrap().workload("/x/r".into(), &params());
        assert_eq!(w.cases[0].args, ["1", "256", "1", "12345"]);
        assert_eq!(w.cases[1].args, ["2", "256", "1", "12345"]);
        assert_eq!(w.cases[2].args, ["3", "256", "1", "12345"]);
        assert!(!w.metric.higher_is_better);
        let mut p = params();
        p.quick = true;
        let w = find("retention").unwrap().workload("/x/r".into(), &p);
        assert_eq!(w.cases[1].args, ["2", "32", "0.2", "12345"]);
        let w = find("burst-idle").unwrap().workload("/x/b".into(), &p);
        assert_eq!(w.cases[0].args, ["2", "32", "0.2", "12345"]);
        let w = find("burst-idle").unwrap().workload("/x/b".into(), &params());
        assert_eq!(w.cases[0].args, ["2", "200", "1", "12345"]);
        assert_eq!(find("sites").unwrap().workload("/x/s".into(), &params()).cases[0].args, ["2", "12345"]);
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
