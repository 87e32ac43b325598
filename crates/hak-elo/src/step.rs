//! What a [`Learner`](crate::Learner) reports: its [`Phase`], the
//! [`Step`] of each epoch (with the [`MatchResult`] and [`Transition`] it
//! made), and its event [`Counts`].

use crate::rating::Outcome;

/// Where the learner is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Playing matches (two epochs each) to rate the strategies.
    Learn,
    /// Running the best-rated strategy, watching its cost for drift.
    Frozen,
    /// Re-testing the frozen strategy against one challenger.
    Canary,
}

/// Why LEARN re-opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A canary challenger beat the frozen strategy (in
    /// [`Config::canary_wins`](crate::Config::canary_wins) matches in a row).
    ChallengerWon,
    /// The frozen strategy's cost stayed above its baseline by more than
    /// [`Config::drift_permille`](crate::Config::drift_permille) for [`Config::drift_epochs`](crate::Config::drift_epochs) epochs.
    Drift,
}

/// A phase change, reported by the [`Step`] that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// LEARN → FROZEN: [`Step::strategy`] is the best-rated strategy.
    Froze,
    /// FROZEN → CANARY: a canary match starts (also CANARY → CANARY: a
    /// challenger that won gets a re-match, see [`Config::canary_wins`](crate::Config::canary_wins)).
    CanaryStarted {
        /// The strategy tested against the frozen one.
        challenger: usize,
    },
    /// CANARY → FROZEN: the frozen strategy held (the challenger lost, drew,
    /// or did not win often enough in a row).
    CanaryPassed,
    /// FROZEN or CANARY → LEARN, ratings shrunk toward the mean.
    Relearn(Reason),
}

/// A finished match: two consecutive epochs, `first` then `second`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatchResult {
    /// The strategy run in the first epoch.
    pub first: usize,
    /// The strategy run in the second epoch.
    pub second: usize,
    /// The first epoch's cost.
    pub first_cost: u64,
    /// The second epoch's cost.
    pub second_cost: u64,
    /// Who won (lower cost, beyond the tie band).
    pub outcome: Outcome,
    /// Whether this was a canary match (frozen strategy vs. a challenger).
    pub canary: bool,
}

impl MatchResult {
    /// The winning strategy, `None` for a draw.
    pub const fn winner(&self) -> Option<usize> {
        match self.outcome {
            Outcome::FirstWins => Some(self.first),
            Outcome::SecondWins => Some(self.second),
            Outcome::Draw => None,
        }
    }
}

/// What one [`Learner::end_epoch`](crate::Learner::end_epoch) did: the strategy to apply next and
/// what to log or count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The strategy to run for the next epoch.
    pub strategy: usize,
    /// Whether it differs from the one that just ran (the caller applies it).
    pub changed: bool,
    /// The phase of the next epoch.
    pub phase: Phase,
    /// The match this epoch finished, if any.
    pub result: Option<MatchResult>,
    /// The phase change this epoch made, if any.
    pub transition: Option<Transition>,
}

/// Event counters since construction (for `HAKMEM_STATS=1`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Matches played (LEARN and canary).
    pub matches: u64,
    /// Of which draws.
    pub draws: u64,
    /// LEARN → FROZEN transitions.
    pub freezes: u64,
    /// Canary matches played.
    pub canaries: u64,
    /// Re-learns because a challenger won.
    pub challenger_wins: u64,
    /// Re-learns because the frozen cost drifted.
    pub drifts: u64,
    /// Epochs after which the strategy changed.
    pub switches: u64,
    /// Strategies eliminated (lost a match by more than
    /// [`Config::eliminate_permille`](crate::Config::eliminate_permille)).
    pub eliminations: u64,
    /// Re-learns asked for by the caller ([`Learner::reopen`](crate::Learner::reopen)).
    pub reopens: u64,
}
