//! hak-elo — ELO learning for hakmem's policy knobs.
//!
//! TODO
#![cfg_attr(not(loom), no_std)]
#![warn(missing_docs)]

// One file per concern.
// `Config`, its defaults and clamping, `Error`, `MAX_STRATEGIES`.
mod config;
// The state machine: `Learner`, `Step`, `Phase`, `Transition`, `MatchResult`, `Counts`.
mod learner;
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
pub use learner::{Counts, Learner, MatchResult, Phase, Reason, Step, Transition, WARM_EPOCHS};
pub use rating::Outcome;
pub use shared::Shared;
