//! ELO learning (`HAKMEM_ELO`): the driver that lets `hak_elo` tune three
//! policy knobs while the program runs, one at a time.
//!
//! The knobs ([`KNOBS`]), four candidate values each: the big-block
//! cache's capacity (how many released mappings it keeps), the decay
//! interval (how long freed pages stay resident before they are returned,
//! in the slab tiers and the big-block cache) and each thread's block-cache
//! budget (bytes' worth of blocks per class). A knob takes part when the
//! mechanism it tunes is on (`BIGCACHE`, `BATCH_MADVISE`, a thread cache).
//!
//! Turn-taking: one knob is stepped at a time, the others hold their
//! values, so an epoch's cost is the effect of one knob's value. The knob
//! on turn keeps it while its learner is in LEARN or CANARY; once it is
//! FROZEN after a scored epoch, the turn passes to the next knob. The first
//! epoch of a turn is a warm-up (its cost includes the previous knob's
//! epochs and change): it is not scored ([`STALE_EPOCHS`]).
//!
//! Epochs are time-based (`HAKMEM_ELO_EPOCH_MS`, 200 ms); an epoch ends at
//! the first slow path after its deadline that offers a step: the upkeep
//! pass of any thread ([`crate::ctx`]) or a big-block allocation. Only one
//! thread steps (a try-lock: the others go on at once), so the fast paths
//! never see the learner; with the feature off, the slow paths test one
//! relaxed flag.
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

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use hak_elo::{Config, Phase, Shared, Step, Transition};
use hak_os::diag::Line;

use crate::TIERS;

/// Candidates per knob.
const N: usize = 4;

/// The big-block cache capacities ELO chooses from (entries; the cache's
/// hard bound is `hak_bigcache::MAX_ENTRIES`). Smaller counts were tried: exploring
/// 0 or 4 entries in a churn of reused mappings ran about 400x slower for
/// whole epochs (an mmap and page faults per operation), more than any
/// memory they save could repay.
pub(crate) const CAPACITIES: [u64; N] = [8, 16, 32, 64];

/// Decay intervals ELO chooses from (ms): from returning a freed burst
/// within a tenth of a second to keeping it for one and a half.
pub(crate) const DECAYS: [u64; N] = [50, 150, 500, 1500];

/// Thread-cache budgets ELO chooses from (KiB per class; see
/// `hak_slab::Cache::set_caps`).
pub(crate) const CACHE_KIBS: [u64; N] = [64, 128, 256, 512];

/// Resident bytes that cost as much as doubling the CPU time per operation:
/// 64 MiB, so that holding tens of MiB of cached mappings nobody reuses
/// loses to a smaller cache, while a cache that saves page faults on every
/// operation wins by far more than its memory.
pub(crate) const RSS_SCALE: u64 = 64 << 20;

/// Fewest operations an epoch needs to be scored.
pub(crate) const MIN_OPS: u64 = 256;

/// An epoch that started this many epoch lengths ago or more is a warm-up:
/// its knob was not on turn for part of it.
pub(crate) const STALE_EPOCHS: u64 = 2;

/// Whether the driver runs (`HAKMEM_ELO`), set once by `init`.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// Whether decisions are printed (`HAKMEM_VERBOSE`).
static VERBOSE: AtomicBool = AtomicBool::new(false);
/// Operations counted for the cost (see the module doc).
static OPS: AtomicU64 = AtomicU64::new(0);
/// The knob on turn (an index of [`KNOBS`]).
static TURN: AtomicUsize = AtomicUsize::new(0);
/// The epoch length (ms, `HAKMEM_ELO_EPOCH_MS`).
static EPOCH_MS: AtomicU64 = AtomicU64::new(Config::DEFAULT.epoch_ms);
/// Which knobs take part (bit `k` for `KNOBS[k]`).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
/// Bumped when the thread-cache budget changes: each thread re-sizes its
/// cache at its next upkeep pass (see [`cache_generation`]).
static CACHE_GEN: AtomicUsize = AtomicUsize::new(0);

/// The counters at the last epoch end.
#[derive(Clone, Copy)]
struct Probe {
    cpu_us: u64,
    ops: u64,
    at_ms: u64,
}

/// One tuned knob: its learner and how its value is applied.
pub(crate) struct Knob {
    /// The name in logs and statistics (the `HAKMEM_*` tunable's, in lower case).
    pub(crate) name: &'static str,
    learner: Shared<N, Probe>,
    apply: fn(u64),
}

const fn knob(name: &'static str, values: [u64; N], apply: fn(u64)) -> Knob {
    let probe = Probe { cpu_us: 0, ops: 0, at_ms: 0 };
    match Shared::new(values, Config::DEFAULT, 2, probe) {
        Ok(learner) => Knob { name, learner, apply },
        Err(_) => panic!("a knob's configuration is valid"),
    }
}

fn apply_capacity(v: u64) {
    hak_bigcache::set_max_entries(v as usize);
}

fn apply_decay(v: u64) {
    for tier in TIERS {
        tier.set_decay_ms(v);
    }
    hak_bigcache::set_decay_ms(v);
}

fn apply_cache(v: u64) {
    crate::ctx::CACHE_BUDGET.store((v as usize).saturating_mul(1 << 10), Ordering::Relaxed);
    resize_caches();
}

/// The knobs, in turn order.
pub(crate) static KNOBS: [Knob; 3] = [
    knob("bigcache_entries", CAPACITIES, apply_capacity),
    knob("decay_ms", DECAYS, apply_decay),
    knob("thread_cache_kb", CACHE_KIBS, apply_cache),
];

/// The thread-cache budget's generation: a thread whose cache was sized at
/// another generation re-sizes it (after draining it) at its next upkeep.
#[inline]
pub(crate) fn cache_generation() -> usize {
    CACHE_GEN.load(Ordering::Relaxed)
}

/// Makes every thread re-size its cache at its next upkeep pass (after
/// [`crate::ctx::CACHE_BUDGET`] changed; the pressure response's use).
pub(crate) fn resize_caches() {
    CACHE_GEN.fetch_add(1, Ordering::Relaxed);
}

/// Applies again the value each active knob holds (the pressure response
/// overrode them for a while); nothing when the driver is off.
pub(crate) fn reapply() {
    if !enabled() {
        return;
    }
    let active = ACTIVE.load(Ordering::Relaxed);
    for (k, knob) in KNOBS.iter().enumerate() {
        if active & (1 << k) != 0 {
            (knob.apply)(knob.learner.current_value());
        }
    }
}

/// What the driver starts from: each knob's configured value, or `None`
/// when its mechanism is off.
pub(crate) struct Start {
    /// `HAKMEM_BIGCACHE_ENTRIES` (when the big-block cache is on).
    pub(crate) bigcache_entries: Option<u64>,
    /// `HAKMEM_DECAY_MS` (when freed pages are kept for a while).
    pub(crate) decay_ms: Option<u64>,
    /// `HAKMEM_THREAD_CACHE_KB` (when threads cache blocks).
    pub(crate) thread_cache_kb: Option<u64>,
}

/// Turns the driver on (from `init`, when `HAKMEM_ELO` is on): each
/// knob whose mechanism is on starts on the candidate closest to its
/// configured value, seeded from `seed` (plus the knob's index), with
/// epochs of `epoch_ms`.
pub(crate) fn enable(start: Start, seed: u64, epoch_ms: u64, verbose: bool) {
    let epoch_ms = epoch_ms.max(1);
    EPOCH_MS.store(epoch_ms, Ordering::Relaxed);
    let mut active = 0;
    for (k, (knob, configured)) in
        KNOBS.iter().zip([start.bigcache_entries, start.decay_ms, start.thread_cache_kb]).enumerate()
    {
        let Some(configured) = configured else { continue };
        let initial = knob
            .learner
            .values()
            .iter()
            .enumerate()
            .min_by_key(|&(_, &v)| v.abs_diff(configured))
            .map_or(0, |(i, _)| i);
        let config = Config { seed: seed.wrapping_add(k as u64), epoch_ms, ..Config::DEFAULT };
        if knob.learner.reconfigure(config, initial).is_ok() {
            (knob.apply)(knob.learner.current_value());
            active |= 1 << k;
        }
    }
    if active != 0 {
        ACTIVE.store(active, Ordering::Relaxed);
        TURN.store(active.trailing_zeros() as usize, Ordering::Relaxed);
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

/// The knob after `k` among the active ones (`k` itself when it is the
/// only one).
fn next_turn(k: usize) -> usize {
    let active = ACTIVE.load(Ordering::Relaxed);
    (1..=KNOBS.len()).map(|d| (k + d) % KNOBS.len()).find(|&j| active & (1 << j) != 0).unwrap_or(k)
}

/// Ends the running epoch of the knob on turn if it is due and no other
/// thread is stepping; passes the turn on once that knob is frozen.
fn offer(now_ms: u64) {
    let k = TURN.load(Ordering::Relaxed);
    let Some(knob) = KNOBS.get(k) else { return };
    if !knob.learner.due(now_ms) {
        return;
    }
    // The measurement's system calls (getrusage, reading /proc) must not
    // leave an errno behind: this runs inside allocations that succeed.
    let mut stepped = None;
    hak_os::map::quiet(|| {
        stepped = knob.learner.try_step(now_ms, |p| measure(p, now_ms));
        false
    });
    let Some(step) = stepped else { return };
    if step.changed {
        (knob.apply)(knob.learner.current_value());
    }
    if VERBOSE.load(Ordering::Relaxed) {
        log(knob, &step);
    }
    let holds_turn = step.phase != Phase::Frozen || matches!(step.transition, Some(Transition::CanaryStarted { .. }));
    if !holds_turn {
        TURN.store(next_turn(k), Ordering::Relaxed);
    }
}

/// The cost of the epoch that ends now at `now_ms` (see the module doc),
/// `None` when it saw too few operations or was a warm-up; takes the next
/// epoch's snapshot.
fn measure(p: &mut Probe, now_ms: u64) -> Option<u64> {
    let u = hak_os::process::usage();
    let ops = OPS.load(Ordering::Relaxed);
    let (d_cpu, d_ops) = (u.cpu_us.saturating_sub(p.cpu_us), ops.saturating_sub(p.ops));
    let stale = now_ms.saturating_sub(p.at_ms) >= STALE_EPOCHS * EPOCH_MS.load(Ordering::Relaxed);
    *p = Probe { cpu_us: u.cpu_us, ops, at_ms: now_ms };
    if stale || d_ops < MIN_OPS {
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
fn log(knob: &Knob, step: &Step) {
    let Some(t) = step.transition else { return };
    let values = knob.learner.values();
    let mut l = Line::new();
    l.s("hakmem: elo ").s(knob.name).s(": ");
    match t {
        Transition::Froze => l.s("froze at "),
        Transition::CanaryStarted { .. } => l.s("canary of "),
        Transition::CanaryPassed => l.s("canary passed, keeps "),
        Transition::Relearn(_) => l.s("relearning from "),
    };
    l.u(values.get(step.strategy).copied().unwrap_or(0));
    if let Transition::CanaryStarted { challenger } = t {
        l.s(" against ").u(values.get(challenger).copied().unwrap_or(0));
    }
    if let Some(r) = step.result {
        l.s(" (last match ")
            .u(values.get(r.first).copied().unwrap_or(0))
            .s(" cost ")
            .u(r.first_cost >> 10)
            .s(" vs ")
            .u(values.get(r.second).copied().unwrap_or(0))
            .s(" cost ")
            .u(r.second_cost >> 10)
            .s(")");
    }
    l.s("\n").emit();
}

/// The learners' state for `HAKMEM_STATS=1`: one line per active knob,
/// nothing when the driver is off (a knob a thread is stepping right now
/// is left out).
pub(crate) fn print_stats(fd: i32) {
    if !enabled() {
        return;
    }
    let active = ACTIVE.load(Ordering::Relaxed);
    for (k, knob) in KNOBS.iter().enumerate() {
        if active & (1 << k) != 0 {
            print_knob(knob, fd);
        }
    }
}

fn print_knob(knob: &Knob, fd: i32) {
    let Some((phase, epochs, counts, ratings)) =
        knob.learner.with_learner(|l| (l.phase(), l.epochs(), l.counts(), *l.ratings()))
    else {
        return;
    };
    let values = knob.learner.values();
    let mut l = Line::new();
    l.s("hakmem: elo ")
        .s(knob.name)
        .s(": value=")
        .u(knob.learner.current_value())
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
        l.u(values.get(i).copied().unwrap_or(0)).s(":").u((*r).max(0) as u64);
    }
    l.s("\n").emit_to(fd);
}

/// In a `fork` child: the stepping thread of the parent, if any, is gone.
pub(crate) fn after_fork_child() {
    for knob in &KNOBS {
        knob.learner.after_fork_child();
    }
}
