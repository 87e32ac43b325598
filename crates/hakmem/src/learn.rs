//! ELO learning (`HAKMEM_ELO`): the driver that lets `hak_elo` choose the
//! big-block cache's capacity (how many released mappings it keeps) while
//! the program runs.
//!
//! The knob's strategies are [`CAPACITIES`]. Epochs are time-based
//! (`hak_elo::Config::epoch_ms`); an epoch ends at the first slow path
//! after its deadline that offers a step: the upkeep pass of any thread
//! ([`crate::ctx`]) or a big-block allocation. Only one thread steps (a
//! try-lock: the others go on at once), so the fast paths never see the
//! learner; with the feature off, the slow paths test one relaxed flag.
//!
//! The cost of an epoch is the process's CPU time per allocator operation
//! (`getrusage`), scaled up by its resident set: `ns/op × (1 + RSS /
//! RSS_SCALE)`, so one [`RSS_SCALE`] of resident memory costs as much as
//! doubling the time per operation. Operations are counted where they are
//! cheap to count: 1024 per expired upkeep tick (the tick counts
//! allocations and frees that find their bin full) and one per big-block
//! allocation ([`count_big`]). An epoch with fewer than [`MIN_OPS`]
//! operations is no evidence and is not scored.
//!
//! Decisions are printed with `HAKMEM_VERBOSE=1` (phase changes) and
//! summarised by `HAKMEM_STATS=1` ([`print_stats`]).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hak_elo::{Config, Phase, Shared, Step, Transition};
use hak_os::diag::Line;

/// The big-block cache capacities ELO chooses from (entries; the cache's
/// hard bound is `hak_bigcache::MAX_ENTRIES`). Smaller counts were tried: exploring
/// 0 or 4 entries in a churn of reused mappings ran about 400x slower for
/// whole epochs (an mmap and page faults per operation), more than any
/// memory they save could repay.
pub(crate) const CAPACITIES: [u64; 4] = [8, 16, 32, 64];

/// Resident bytes that cost as much as doubling the CPU time per operation:
/// 64 MiB, so that holding tens of MiB of cached mappings nobody reuses
/// loses to a smaller cache, while a cache that saves page faults on every
/// operation wins by far more than its memory.
pub(crate) const RSS_SCALE: u64 = 64 << 20;

/// Fewest operations an epoch needs to be scored.
pub(crate) const MIN_OPS: u64 = 256;

/// Whether the driver runs (`HAKMEM_ELO`), set once by `init`.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// Whether decisions are printed (`HAKMEM_VERBOSE`).
static VERBOSE: AtomicBool = AtomicBool::new(false);
/// Operations counted for the cost (see the module doc).
static OPS: AtomicU64 = AtomicU64::new(0);

/// The counters at the last epoch end.
#[derive(Clone, Copy)]
struct Probe {
    cpu_us: u64,
    ops: u64,
}

/// The capacity knob's learner, shared by all threads.
static CAPACITY: Shared<{ CAPACITIES.len() }, Probe> =
    match Shared::new(CAPACITIES, Config::DEFAULT, 2, Probe { cpu_us: 0, ops: 0 }) {
        Ok(s) => s,
        Err(_) => panic!("the capacity knob's configuration is valid"),
    };

/// Turns the driver on (from `init`, when `HAKMEM_ELO` is on): the learner
/// starts on the candidate closest to the configured capacity
/// (`HAKMEM_BIGCACHE_ENTRIES`), seeded from `seed`.
pub(crate) fn enable(configured_entries: usize, seed: u64, verbose: bool) {
    let initial = CAPACITIES
        .iter()
        .enumerate()
        .min_by_key(|&(_, &c)| c.abs_diff(configured_entries as u64))
        .map_or(0, |(i, _)| i);
    let config = Config { seed, ..Config::DEFAULT };
    if CAPACITY.reconfigure(config, initial).is_ok() {
        hak_bigcache::set_max_entries(CAPACITY.current_value() as usize);
        VERBOSE.store(verbose, Ordering::Relaxed);
        ENABLED.store(true, Ordering::Relaxed);
    }
}

/// Whether the driver runs.
#[inline]
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Counts one expired upkeep tick (1024 operations) and offers a step.
#[cold]
pub(crate) fn on_upkeep(now_ms: u64) {
    if enabled() {
        OPS.fetch_add(1024, Ordering::Relaxed);
        offer(now_ms);
    }
}

/// Counts one big-block allocation and offers a step.
#[cold]
pub(crate) fn count_big() {
    if enabled() {
        OPS.fetch_add(1, Ordering::Relaxed);
        offer(hak_os::now_ms());
    }
}

/// Ends the running epoch if it is due and no other thread is stepping.
fn offer(now_ms: u64) {
    if !CAPACITY.due(now_ms) {
        return;
    }
    // The measurement's system calls (getrusage, reading /proc) must not
    // leave an errno behind: this runs inside allocations that succeed.
    let mut stepped = None;
    hak_os::map::quiet(|| {
        stepped = CAPACITY.try_step(now_ms, measure);
        false
    });
    if let Some(step) = stepped {
        if step.changed {
            hak_bigcache::set_max_entries(CAPACITY.current_value() as usize);
        }
        if VERBOSE.load(Ordering::Relaxed) {
            log(&step);
        }
    }
}

/// The cost of the epoch that ends now (see the module doc), `None` when it
/// saw too few operations; takes the next epoch's snapshot.
fn measure(p: &mut Probe) -> Option<u64> {
    let u = hak_os::process::usage();
    let ops = OPS.load(Ordering::Relaxed);
    let (d_cpu, d_ops) = (u.cpu_us.saturating_sub(p.cpu_us), ops.saturating_sub(p.ops));
    *p = Probe { cpu_us: u.cpu_us, ops };
    if d_ops < MIN_OPS {
        return None;
    }
    let ns_per_op = d_cpu.saturating_mul(1000) / d_ops;
    let rss = hak_os::process::resident_bytes().unwrap_or(0) as u64;
    // ns/op × (1 + rss / RSS_SCALE), in units of 1/1024 ns.
    let factor = 1024 + rss / (RSS_SCALE >> 10);
    Some(ns_per_op.saturating_mul(factor).max(1))
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Learn => "LEARN",
        Phase::Frozen => "FROZEN",
        Phase::Canary => "CANARY",
    }
}

/// One line per phase change (`HAKMEM_VERBOSE=1`).
fn log(step: &Step) {
    let Some(t) = step.transition else { return };
    let mut l = Line::new();
    l.s("hakmem: elo bigcache_entries: ");
    match t {
        Transition::Froze => l.s("froze at "),
        Transition::CanaryStarted { .. } => l.s("canary of "),
        Transition::CanaryPassed => l.s("canary passed, keeps "),
        Transition::Relearn(_) => l.s("relearning from "),
    };
    l.u(CAPACITIES.get(step.strategy).copied().unwrap_or(0));
    if let Transition::CanaryStarted { challenger } = t {
        l.s(" against ").u(CAPACITIES.get(challenger).copied().unwrap_or(0));
    }
    if let Some(r) = step.result {
        l.s(" (last match ")
            .u(CAPACITIES.get(r.first).copied().unwrap_or(0))
            .s(" cost ")
            .u(r.first_cost >> 10)
            .s(" vs ")
            .u(CAPACITIES.get(r.second).copied().unwrap_or(0))
            .s(" cost ")
            .u(r.second_cost >> 10)
            .s(")");
    }
    l.s("\n").emit();
}

/// The learner's state for `HAKMEM_STATS=1`: one line, or nothing when the
/// driver is off (or a thread is stepping it right now).
pub(crate) fn print_stats(fd: i32) {
    if !enabled() {
        return;
    }
    let Some((phase, epochs, counts, ratings)) =
        CAPACITY.with_learner(|l| (l.phase(), l.epochs(), l.counts(), *l.ratings()))
    else {
        return;
    };
    let mut l = Line::new();
    l.s("hakmem: elo bigcache_entries: value=")
        .u(CAPACITY.current_value())
        .s(" phase=")
        .s(phase_name(phase))
        .s(" epochs=")
        .u(epochs)
        .s(" matches=")
        .u(counts.matches)
        .s(" freezes=")
        .u(counts.freezes)
        .s(" canaries=")
        .u(counts.canaries)
        .s(" relearns=")
        .u(counts.challenger_wins + counts.drifts)
        .s(" ratings=");
    for (i, r) in ratings.iter().enumerate() {
        if i > 0 {
            l.s(",");
        }
        l.u(CAPACITIES.get(i).copied().unwrap_or(0)).s(":").u((*r).max(0) as u64);
    }
    l.s("\n").emit_to(fd);
}

/// In a `fork` child: the stepping thread of the parent, if any, is gone.
pub(crate) fn after_fork_child() {
    CAPACITY.after_fork_child();
}
