//! hak-elo — ELO learning for hakmem's policy knobs.
//!
//! A *knob* is one policy choice with `N` candidate values, its
//! *strategies* (2 to [`MAX_STRATEGIES`]): in hakmem the decay interval
//! {50, 150, 500, 1500 ms}, the BigCache capacity {8, 16, 32, 64 entries},
//! the thread-cache budget {64, 128, 256, 512 KiB}. A [`Learner`] rates the
//! strategies with Elo ratings (integers; the expected score comes from a
//! table, no floating point) and decides which one runs. It is a pure policy:
//! it knows no tier and no router, holds fixed-size state, never allocates
//! or panics, and is deterministic under [`Config::seed`] (same seed, same
//! costs: same decisions).
//!
//! # Lifecycle
//!
//! The caller runs [`Learner::current`] for one *epoch* and reports its
//! cost with [`Learner::end_epoch`], which returns a [`Step`]: the strategy
//! for the next epoch, the match it finished, the phase change it made.
//!
//! * **LEARN.** The first epoch is a warm-up on the initial strategy. Then
//!   *matches*: two consecutive epochs, strategy A then B (which one goes
//!   first is drawn from the seeded source, so a drifting workload favours
//!   neither); the lower cost wins, costs within [`Config::tie_permille`] of
//!   each other draw, and both ratings move by up to [`Config::k`] points.
//!   Round 0 plays every pair once, in a seeded order; later rounds play only
//!   pairs of *contenders* (rated within [`Config::margin`] of the leader).
//!   LEARN ends after [`Config::learn_rounds`] rounds, or as soon as one
//!   contender is left.
//! * **FROZEN.** The best-rated strategy runs. Its cost is watched: a fast
//!   average (latest epoch weighted 1/2) against a baseline (the mean of the
//!   first [`WARM_EPOCHS`] frozen epochs, then a slow average that stops
//!   following the cost while it is suspiciously high). Above the baseline by
//!   more than [`Config::drift_permille`] for [`Config::drift_epochs`] epochs
//!   in a row: back to LEARN ([`Reason::Drift`]).
//! * **CANARY.** Every [`Config::canary_every`] frozen epochs the frozen
//!   strategy plays a match against a challenger (the other strategies in
//!   turn, so each is re-tested every `N - 1` canaries). A challenger that
//!   wins gets a re-match at once; winning [`Config::canary_wins`] in a row
//!   re-opens LEARN ([`Reason::ChallengerWon`]), otherwise FROZEN resumes.
//!   Re-opened LEARN keeps [`Config::shrink_permille`] of each rating's
//!   distance from the mean, so the old ranking is a prior that fresh
//!   evidence overturns within a round.
//!
//! # Bounded exploration and shifts (off by default)
//!
//! * [`Config::eliminate_permille`]: a strategy that loses a match by more
//!   than this is out for the rest of the LEARN phase and no canary
//!   challenger until LEARN re-opens, so a disastrous strategy costs one
//!   epoch per LEARN instead of one per pair.
//! * [`Config::shift_permille`]: a frozen epoch dearer than the reference by
//!   more than this re-opens LEARN at once, not after
//!   [`Config::drift_epochs`].
//! * [`Config::explore_permille`]: [`Shared`]'s LEARN and CANARY epochs are
//!   this fraction of a frozen one.
//! * [`Learner::reopen`] / [`Shared::reopen`]: the caller re-opens LEARN
//!   (hakmem does so for every knob when one of them sees a shift).
//!
//! `tests/exploration.rs` pins what each does on exact costs.
//!
//! # Costs
//!
//! A cost is a `u64`, lower is better, *normalised per operation* by the
//! caller (e.g. slow-path cycles or page faults per 1000 allocations, or
//! resident KiB per live MiB) so that epochs of different lengths and loads
//! compare. Only the order of two costs and their ratio (tie band, drift)
//! matter, not their unit. An epoch without evidence (no operations) should
//! not be scored: [`Shared::try_step`]'s `measure` returns `None` for it.
//!
//! # In the allocator
//!
//! The router keeps one [`Shared`] per knob as a `static` (`const`
//! construction with the defaults; [`Shared::reconfigure`] at start-up with
//! the `HAKMEM_*` seed and settings). Slow paths (a thread-cache refill, a
//! big-block release, the periodic upkeep) read the knob with
//! [`Shared::current_value`], one relaxed load, and now and then call
//! [`Shared::try_step`] with the time in milliseconds and a `measure`
//! closure that turns counter deltas since the last epoch (kept in the
//! driver's measurement state, under its try-lock) into the cost. At most
//! one thread steps; the others return at once. A returned [`Step`] is
//! logged under `HAKMEM_VERBOSE=1` and counted for `HAKMEM_STATS=1`
//! ([`Learner::counts`], [`Learner::ratings`] through
//! [`Shared::with_learner`]); a `fork` child calls
//! [`Shared::after_fork_child`].
//!
//! # Measured convergence
//!
//! `tests/convergence.rs`, 5 strategies with base costs
//! `[160, 120, 100, 110, 130]`, noise ±10 % (uniform), default
//! configuration, 200 seeds:
//!
//! * LEARN → FROZEN in a median of 25 epochs, at most 33 (warm-up, a
//!   20-epoch round 0, a few contender matches); the best strategy frozen in
//!   192 of 200 runs, the others within 10 % of it. Over 1000 epochs,
//!   learning and canaries included, the mean cost is at most 4.0 % above
//!   the best strategy's.
//! * Shift that raises the frozen strategy's cost by 35 % (costs become
//!   `[180, 150, 135, 112, 100]`): drift re-opens LEARN after a median of 3
//!   epochs (at most 5); frozen again within 10 % of the new best a median of
//!   31 epochs after the shift (95th percentile 36). The tail (at most 347)
//!   is runs that re-froze on the 12 %-dearer runner-up and waited for a
//!   canary.
//! * Shift that leaves the frozen cost unchanged but makes another strategy
//!   20 % cheaper (`[150, 120, 100, 80, 110]`): only a canary can see it;
//!   re-adapted a median of 74 epochs after the shift, at most 115 (bound:
//!   `(N - 1) * (canary_every + 2 * canary_wins) + 33` = 129 epochs).
//! * Stationary workload: 22 re-learns in 200 runs of 1000 epochs; the best
//!   strategy runs 95 % of the epochs after the first 100.
//!
//! `examples/phase_shift.rs` runs a workload that shifts twice and prints
//! every decision; over 100 seeds its mean cost is 4.5 % (median) to 8.0 %
//! (worst) above the best strategy of each phase (a lower bound no fixed
//! choice reaches); with seed 1 it is 2.9 % below the best single strategy
//! a sweep would pick.
#![cfg_attr(not(loom), no_std)]
#![warn(missing_docs)]

// One file per concern.
// `Config`, its defaults and clamping, `Error`, `MAX_STRATEGIES`.
mod config;
// The state machine: `Learner`.
mod learner;
// What it reports: `Step`, `Phase`, `Transition`, `MatchResult`, `Counts`.
mod step;
// Integer Elo: the expected-score table, judging costs, the update.
pub mod rating;
// The seeded random source (SplitMix64).
mod rng;
// The LEARN round-robin order.
mod schedule;
// `Shared`: the process-wide, try-locked, time-based driver.
mod shared;
// Synthetic noisy costs for tests and examples.
pub mod sim;

#[cfg(all(test, loom))]
mod loom_models;
#[cfg(all(test, not(loom)))]
mod tests;

pub use config::{Config, Error, MAX_STRATEGIES};
pub use learner::{Learner, WARM_EPOCHS};
pub use rating::Outcome;
pub use shared::Shared;
pub use step::{Counts, MatchResult, Phase, Reason, Step, Transition};
