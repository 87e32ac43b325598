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
//! epochs and change): it is not scored.
//!
//! A shift (a knob's drift check sees its frozen cost rise: by more than
//! 25 % for two of its epochs, or by more than 2x in one) means the
//! workload changed under every knob: all of them re-open LEARN and the
//! turn goes to the first, the capacity, whose value matters most; the
//! others re-learn after it, in [`KNOBS`] order.
//!
//! Epochs are time-based (`HAKMEM_ELO_EPOCH_MS`, 200 ms; while a knob
//! explores, in LEARN or CANARY, half of it: [`EXPLORE_PERMILLE`]); an
//! epoch ends at the first slow path after its deadline that offers a step:
//! the upkeep pass of any thread ([`crate::ctx`]) or a big-block
//! allocation. Only one thread steps (a try-lock: the others go on at
//! once), so the fast paths never see the learner; with the feature off,
//! the slow paths test one relaxed flag.
//!
//! The cost of an epoch is the resource it used per allocator operation:
//! `(CPU time + wall time × RSS / RSS_SCALE) / operations`, in ns. One CPU
//! busy for a second costs as much as [`RSS_SCALE`] (64 MiB) resident for a
//! second (decision 0040; `benches/c/phases.c` reports the same cost).
//! CPU time is the process's (`getrusage`, page faults included); RSS is
//! the mean of samples taken every eighth of an epoch by the same slow
//! paths ([`RSS_SAMPLES_PER_EPOCH`]); operations are counted where they are
//! cheap to count: 1024 per expired upkeep tick (the tick counts
//! allocations and frees that find their bin full) and one per big-block
//! allocation ([`count_big`]). An epoch with fewer than [`MIN_OPS`]
//! operations is no evidence and is not scored.
//!
//! Exploration is bounded: a value that loses a match by more than 2x is
//! eliminated for the rest of that LEARN phase ([`ELIMINATE_PERMILLE`]), so
//! a disastrous value (e.g. a cache too small for a churn) costs one epoch
//! per LEARN, not one per pair.
//!
//! Decisions are printed with `HAKMEM_VERBOSE=1` (phase changes, with the
//! driver's epoch count) and summarised by `HAKMEM_STATS=1`
//! ([`print_stats`]).

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use hak_elo::{Config, Phase, Reason, Shared, Transition};
use hak_os::diag::Line;

use crate::TIERS;

// The log lines and the statistics report.
mod report;
pub(crate) use report::print_stats;
use report::{elapsed_ms, log};

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

/// The exchange rate of the cost: resident bytes that, held for a second,
/// cost as much as one CPU busy for a second (64 MiB). Holding tens of MiB
/// of cached mappings nobody reuses then loses to a smaller cache, while a
/// cache that saves page faults on every operation wins by far more than
/// its memory (decision 0040).
pub(crate) const RSS_SCALE: u64 = 64 << 20;

/// Fewest operations an epoch needs to be scored.
pub(crate) const MIN_OPS: u64 = 256;

/// An epoch that started this many epoch lengths ago or more is a warm-up:
/// its knob was not on turn for part of it.
pub(crate) const STALE_EPOCHS: u64 = 2;

/// RSS samples per epoch (the cost uses their mean).
pub(crate) const RSS_SAMPLES_PER_EPOCH: u64 = 8;

/// A match lost by more than 2x eliminates the loser for the rest of the
/// LEARN phase (`hak_elo::Config::eliminate_permille`).
pub(crate) const ELIMINATE_PERMILLE: u32 = 1000;

/// A frozen epoch dearer than the frozen reference by more than 2x is a
/// shift at once (`hak_elo::Config::shift_permille`).
pub(crate) const SHIFT_PERMILLE: u32 = 1000;

/// Two scored epochs in a row whose operation rate differs from the
/// reference (an average of the rates since the last shift) by more than
/// this factor, either way, are a shift: the program moved to another phase
/// (a busy phase's cost per operation may be lower or higher than a quiet
/// one's, so the drift check alone cannot tell). Two, so that one epoch of
/// a disastrous value under test is not taken for one.
pub(crate) const RATE_SHIFT: u64 = 4;

/// LEARN rounds of a knob: round 0 plays every pair, round 1 the
/// contenders within [`MARGIN`] of the leader (`hak_elo`'s default is 3
/// rounds within 60 points: a knob of the allocator learns in about 15
/// exploring epochs instead of 25, so three knobs re-learn within a few
/// seconds of a shift).
pub(crate) const LEARN_ROUNDS: u32 = 2;

/// Contender margin (Elo points): two decisive wins between equals.
pub(crate) const MARGIN: u32 = 32;

/// Exploring epochs (LEARN, CANARY) last half an epoch
/// (`hak_elo::Config::explore_permille`).
pub(crate) const EXPLORE_PERMILLE: u32 = 500;

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
/// Scored epochs of all knobs (the epoch count of the log lines).
static EPOCHS: AtomicU64 = AtomicU64::new(0);
/// When the driver was enabled (ms).
static START_MS: AtomicU64 = AtomicU64::new(0);
/// Sum of the RSS samples (KiB) and their count (see [`sample_rss`]).
static RSS_SUM_KIB: AtomicU64 = AtomicU64::new(0);
static RSS_COUNT: AtomicU64 = AtomicU64::new(0);
/// When the next RSS sample is due (ms).
static RSS_NEXT_MS: AtomicU64 = AtomicU64::new(0);
/// Operations per second of the epoch just measured.
static LAST_RATE: AtomicU64 = AtomicU64::new(0);
/// The reference of the rate check (see [`RATE_SHIFT`]): an average of the
/// scored epochs' operation rates since the last shift (0: none yet).
static RATE_REF: AtomicU64 = AtomicU64::new(0);
/// Consecutive scored epochs whose rate was off the reference.
static RATE_OFF: AtomicU64 = AtomicU64::new(0);

/// The counters at the last epoch end.
#[derive(Clone, Copy)]
struct Probe {
    cpu_us: u64,
    ops: u64,
    at_ms: u64,
    rss_sum_kib: u64,
    rss_count: u64,
}

/// One tuned knob: its learner and how its value is applied.
pub(crate) struct Knob {
    /// The name in logs and statistics (the `HAKMEM_*` tunable's, in lower case).
    pub(crate) name: &'static str,
    learner: Shared<N, Probe>,
    apply: fn(u64),
    /// Set when the turn comes to this knob: its next epoch end is a warm-up.
    warm_up: AtomicBool,
}

/// The learner configuration of every knob (the seed added at `enable`).
const fn knob_config(seed: u64, epoch_ms: u64) -> Config {
    Config {
        seed,
        epoch_ms,
        eliminate_permille: ELIMINATE_PERMILLE,
        shift_permille: SHIFT_PERMILLE,
        explore_permille: EXPLORE_PERMILLE,
        learn_rounds: LEARN_ROUNDS,
        margin: MARGIN,
        ..Config::DEFAULT
    }
}

const fn knob(name: &'static str, values: [u64; N], apply: fn(u64)) -> Knob {
    let probe = Probe { cpu_us: 0, ops: 0, at_ms: 0, rss_sum_kib: 0, rss_count: 0 };
    match Shared::new(values, knob_config(Config::DEFAULT.seed, Config::DEFAULT.epoch_ms), 2, probe) {
        Ok(learner) => Knob { name, learner, apply, warm_up: AtomicBool::new(false) },
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

/// The knobs, in turn order: the decay interval first (it acts on every
/// tier, and it is the one a shift between busy and quiet phases moves
/// most), then the big-block cache's capacity, then the thread cache.
pub(crate) static KNOBS: [Knob; 3] = [
    knob("decay_ms", DECAYS, apply_decay),
    knob("bigcache_entries", CAPACITIES, apply_capacity),
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
        KNOBS.iter().zip([start.decay_ms, start.bigcache_entries, start.thread_cache_kb]).enumerate()
    {
        let Some(configured) = configured else { continue };
        let initial = knob
            .learner
            .values()
            .iter()
            .enumerate()
            .min_by_key(|&(_, &v)| v.abs_diff(configured))
            .map_or(0, |(i, _)| i);
        let config = knob_config(seed.wrapping_add(k as u64), epoch_ms);
        if knob.learner.reconfigure(config, initial).is_ok() {
            (knob.apply)(knob.learner.current_value());
            active |= 1 << k;
        }
    }
    if active != 0 {
        START_MS.store(hak_os::now_ms(), Ordering::Relaxed);
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
        sample_rss(now_ms);
        offer(now_ms);
    }
}

/// Counts one big-block allocation and offers a step.
#[cold]
pub(crate) fn count_big() {
    if enabled() {
        OPS.fetch_add(1, Ordering::Relaxed);
        let now = hak_os::now_ms();
        sample_rss(now);
        offer(now);
    }
}

/// Takes an RSS sample if one is due ([`RSS_SAMPLES_PER_EPOCH`] per
/// epoch); the thread that wins the deadline reads it, the others go on.
fn sample_rss(now_ms: u64) {
    let due = RSS_NEXT_MS.load(Ordering::Relaxed);
    if now_ms < due {
        return;
    }
    let every = (EPOCH_MS.load(Ordering::Relaxed) / RSS_SAMPLES_PER_EPOCH).max(1);
    if RSS_NEXT_MS.compare_exchange(due, now_ms + every, Ordering::Relaxed, Ordering::Relaxed).is_err() {
        return;
    }
    let mut rss = None;
    // Reading /proc must not leave an errno behind (see `offer`).
    hak_os::map::quiet(|| {
        rss = hak_os::process::resident_bytes();
        false
    });
    if let Some(rss) = rss {
        RSS_SUM_KIB.fetch_add((rss >> 10) as u64, Ordering::Relaxed);
        RSS_COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

/// The knob after `k` among the active ones (`k` itself when it is the
/// only one).
fn next_turn(k: usize) -> usize {
    let active = ACTIVE.load(Ordering::Relaxed);
    (1..=KNOBS.len()).map(|d| (k + d) % KNOBS.len()).find(|&j| active & (1 << j) != 0).unwrap_or(k)
}

/// Ends the running epoch of the knob on turn if it is due and no other
/// thread is stepping; passes the turn on once that knob is frozen, and
/// after a shift re-opens every knob and gives the turn to the first.
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
        stepped = knob.learner.try_step(now_ms, |p| measure(p, now_ms, &knob.warm_up));
        false
    });
    let Some(step) = stepped else { return };
    let epoch = EPOCHS.fetch_add(1, Ordering::Relaxed) + 1;
    if VERBOSE.load(Ordering::Relaxed) {
        log(knob, &step, epoch);
    }
    if matches!(step.transition, Some(Transition::Relearn(Reason::Drift))) {
        RATE_REF.store(LAST_RATE.load(Ordering::Relaxed), Ordering::Relaxed);
        RATE_OFF.store(0, Ordering::Relaxed);
        shift(k, epoch);
        return;
    }
    if rate_shifted() {
        if VERBOSE.load(Ordering::Relaxed) {
            let mut l = Line::new();
            l.s("hakmem: elo ")
                .s(knob.name)
                .s(": relearning (operation rate shift) at epoch ")
                .u(epoch)
                .s(", ")
                .u(elapsed_ms())
                .s(" ms\n")
                .emit();
        }
        if knob.learner.reopen() {
            (knob.apply)(knob.learner.current_value());
        }
        shift(k, epoch);
        return;
    }
    if step.changed {
        (knob.apply)(knob.learner.current_value());
    }
    let holds_turn = step.phase != Phase::Frozen || matches!(step.transition, Some(Transition::CanaryStarted { .. }));
    if !holds_turn {
        give_turn(next_turn(k));
    }
}

/// The rate check of a scored epoch ([`RATE_SHIFT`]); updates the
/// reference. Only the stepping thread calls it (under a knob's lock).
fn rate_shifted() -> bool {
    let rate = LAST_RATE.load(Ordering::Relaxed).max(1);
    let reference = RATE_REF.load(Ordering::Relaxed);
    if reference == 0 {
        RATE_REF.store(rate, Ordering::Relaxed);
        return false;
    }
    if rate > reference.saturating_mul(RATE_SHIFT) || reference > rate.saturating_mul(RATE_SHIFT) {
        if RATE_OFF.fetch_add(1, Ordering::Relaxed) + 1 < 2 {
            return false;
        }
        RATE_REF.store(rate, Ordering::Relaxed);
        RATE_OFF.store(0, Ordering::Relaxed);
        return true;
    }
    RATE_OFF.store(0, Ordering::Relaxed);
    RATE_REF.store(reference - reference / 4 + rate / 4, Ordering::Relaxed);
    false
}

/// Passes the turn to knob `j`: its value is applied (a re-opened knob's
/// first match starts) and its first epoch is a warm-up.
fn give_turn(j: usize) {
    if let Some(next) = KNOBS.get(j) {
        next.warm_up.store(true, Ordering::Relaxed);
        (next.apply)(next.learner.current_value());
    }
    TURN.store(j, Ordering::Relaxed);
}

/// Knob `k`'s frozen cost jumped: the workload shifted under every knob.
/// The others re-open LEARN too; the turn goes to the first active knob
/// (`k` keeps it if it is the first, else it holds its best value until
/// its turn comes again).
fn shift(k: usize, epoch: u64) {
    let active = ACTIVE.load(Ordering::Relaxed);
    let first = active.trailing_zeros() as usize;
    for (j, other) in KNOBS.iter().enumerate() {
        if j != k && active & (1 << j) != 0 && other.learner.reopen() && VERBOSE.load(Ordering::Relaxed) {
            let mut l = Line::new();
            l.s("hakmem: elo ")
                .s(other.name)
                .s(": relearning (shift) at epoch ")
                .u(epoch)
                .s(", ")
                .u(elapsed_ms())
                .s(" ms\n")
                .emit();
        }
    }
    let Some(knob) = KNOBS.get(k) else { return };
    if first == k {
        (knob.apply)(knob.learner.current_value());
        return;
    }
    if let Some(v) = knob.learner.best_value() {
        (knob.apply)(v);
    }
    give_turn(first);
}

/// The cost of the epoch that ends now at `now_ms` (see the module doc),
/// `None` when it saw too few operations or was a warm-up (`warm_up` set,
/// or the last epoch end is stale); takes the next epoch's snapshot.
fn measure(p: &mut Probe, now_ms: u64, warm_up: &AtomicBool) -> Option<u64> {
    let u = hak_os::process::usage();
    let ops = OPS.load(Ordering::Relaxed);
    let (rss_sum_kib, rss_count) = (RSS_SUM_KIB.load(Ordering::Relaxed), RSS_COUNT.load(Ordering::Relaxed));
    let (d_cpu_us, d_ops) = (u.cpu_us.saturating_sub(p.cpu_us), ops.saturating_sub(p.ops));
    let wall_ms = now_ms.saturating_sub(p.at_ms);
    let (d_sum, d_count) = (rss_sum_kib.saturating_sub(p.rss_sum_kib), rss_count.saturating_sub(p.rss_count));
    let stale = wall_ms >= STALE_EPOCHS * EPOCH_MS.load(Ordering::Relaxed);
    let warm_up = warm_up.swap(false, Ordering::Relaxed);
    *p = Probe { cpu_us: u.cpu_us, ops, at_ms: now_ms, rss_sum_kib, rss_count };
    if warm_up || stale || d_ops < MIN_OPS {
        return None;
    }
    LAST_RATE.store(d_ops.saturating_mul(1000) / wall_ms.max(1), Ordering::Relaxed);
    let rss_kib = match d_sum.checked_div(d_count) {
        Some(mean) => mean,
        None => (hak_os::process::resident_bytes().unwrap_or(0) >> 10) as u64,
    };
    Some(cost(d_cpu_us, wall_ms, rss_kib, d_ops))
}

/// `(CPU + wall × RSS / RSS_SCALE) / ops` in units of 1/1024 ns (at least 1).
pub(crate) fn cost(cpu_us: u64, wall_ms: u64, rss_kib: u64, ops: u64) -> u64 {
    let cpu_ns = u128::from(cpu_us) * 1000;
    // wall (ns) × rss / RSS_SCALE, with the RSS in KiB.
    let mem_ns = u128::from(wall_ms) * 1_000_000 * u128::from(rss_kib) / u128::from(RSS_SCALE >> 10);
    let per_op = (cpu_ns + mem_ns) * 1024 / u128::from(ops.max(1));
    u64::try_from(per_op).unwrap_or(u64::MAX).max(1)
}

/// In a `fork` child: the stepping thread of the parent, if any, is gone.
pub(crate) fn after_fork_child() {
    for knob in &KNOBS {
        knob.learner.after_fork_child();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exchange rate of decision 0040, as the learner computes it.
    #[test]
    fn a_cpu_second_costs_as_much_as_64_mib_held_for_a_second() {
        // 1000 operations in 1 s: busy with nothing resident, or idle holding 64 MiB.
        let busy = cost(1_000_000, 1000, 0, 1000);
        let holding = cost(0, 1000, 64 << 10, 1000);
        assert_eq!(busy, holding);
        assert_eq!(busy, 1_000_000 * 1024, "1 ms per operation, in 1/1024 ns");
        // Memory is charged for as long as it is held, busy or not.
        assert_eq!(cost(0, 2000, 64 << 10, 1000), 2 * holding);
        // Twice the operations for the same resources: half the cost.
        assert_eq!(cost(1_000_000, 1000, 64 << 10, 2000) * 2, cost(1_000_000, 1000, 64 << 10, 1000));
    }
}
