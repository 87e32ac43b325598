//! The learner's configuration, its defaults, and what construction
//! rejects (structural errors) or clamps (out-of-range tunables).

/// Largest number of strategies a knob may have (so the round-robin
/// schedule's pair count fits comfortably and a full round stays short:
/// 16 strategies are 120 pairs, 240 epochs).
pub const MAX_STRATEGIES: usize = 16;

/// What construction rejects. Nothing here panics: the caller keeps its
/// fixed strategy (or the defaults) and reports the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer than 2 strategies: there is nothing to learn.
    TooFewStrategies,
    /// More than [`MAX_STRATEGIES`] strategies.
    TooManyStrategies,
    /// `learn_rounds` is 0: LEARN could never rate anything.
    ZeroRounds,
    /// `epoch_ms` is 0 (only [`Shared`](crate::Shared) uses it): every
    /// call would end an epoch.
    ZeroEpoch,
    /// The initial strategy index is not below the number of strategies.
    InitialOutOfRange,
    /// [`Shared::reconfigure`](crate::Shared::reconfigure) found the learner
    /// busy (another thread is stepping it); nothing was changed.
    Busy,
}

/// The learner's tunables. Fields out of their range are clamped by
/// [`Config::clamped`] (which construction applies); only the structural
/// errors of [`Error`] are rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Seed of the random source that orders the pairs, the two epochs of
    /// each match and the canary challengers. Same seed and same costs: same
    /// decisions. Default `0x9E37_79B9_7F4A_7C15`.
    pub seed: u64,
    /// Elo K factor: the most rating points one match moves (half of it
    /// between equally rated strategies). Default 32; clamped to 1..=400.
    pub k: u32,
    /// Tie band: two costs within this many thousandths of the larger one
    /// are a draw. Default 20 (2 %); clamped to at most 500.
    pub tie_permille: u32,
    /// Rounds of a LEARN phase at most. Round 0 plays every pair once; later
    /// rounds play only pairs of *contenders* (rated within `margin` of the
    /// leader), and LEARN ends early when one contender is left. Default 3;
    /// 0 is rejected.
    pub learn_rounds: u32,
    /// Decisive rating margin, in Elo points: strategies rated more than
    /// this below the leader stop playing after round 0. Default 60;
    /// clamped to at least 1.
    pub margin: u32,
    /// Frozen epochs between two canary matches; 0 turns canaries off (then
    /// only drift re-opens LEARN). Default 20.
    pub canary_every: u32,
    /// Canary matches a challenger must win in a row to re-open LEARN (a
    /// win is followed at once by a re-match; a loss or draw ends the
    /// canary). Default 2; clamped to at least 1.
    pub canary_wins: u32,
    /// Drift threshold: a frozen epoch after which the recent frozen cost
    /// (an average weighting the latest epoch 1/2) exceeds the baseline (see
    /// [`Learner::baseline`](crate::Learner::baseline)) by more than this
    /// many thousandths counts as drifting. Default 250 (25 %); 0 turns the
    /// drift check off.
    pub drift_permille: u32,
    /// Consecutive drifting frozen epochs that re-open LEARN. Default 2;
    /// clamped to at least 1.
    pub drift_epochs: u32,
    /// When LEARN re-opens, each rating keeps this many thousandths of its
    /// distance from the mean (1500): old knowledge is a prior, not a
    /// verdict. Default 250; clamped to at most 1000.
    pub shrink_permille: u32,
    /// Elimination: a strategy that loses a match by more than this many
    /// thousandths (its cost above the winner's) plays no more matches in
    /// this LEARN phase and is no canary challenger until LEARN re-opens.
    /// It bounds what exploring a disastrous value costs: one epoch per
    /// LEARN instead of one per pair. Default 0 (off); the allocator's knobs
    /// use 1000 (a loss by more than 2x).
    pub eliminate_permille: u32,
    /// Shift: a frozen epoch whose cost exceeds the frozen strategy's
    /// reference (its baseline, or before the baseline exists its recent
    /// LEARN cost) by more than this many thousandths re-opens LEARN at once
    /// ([`Reason::Drift`](crate::Reason::Drift)), without waiting for
    /// `drift_epochs`. Default 0 (off); the allocator's knobs use 1000 (2x).
    pub shift_permille: u32,
    /// Length of an epoch in milliseconds, for [`Shared`](crate::Shared)
    /// (the bare [`Learner`](crate::Learner) is stepped by its caller).
    /// Default 200; 0 is rejected by `Shared`.
    pub epoch_ms: u64,
    /// Length of a LEARN or CANARY epoch (exploring), in thousandths of
    /// `epoch_ms`, for [`Shared`](crate::Shared): both epochs of a match have
    /// the same length, frozen epochs (the drift check) keep `epoch_ms`.
    /// Default 1000; clamped to 1..=1000 (an exploring epoch lasts at least
    /// 1 ms).
    pub explore_permille: u32,
}

impl Config {
    /// The documented defaults.
    pub const DEFAULT: Config = Config {
        seed: 0x9E37_79B9_7F4A_7C15,
        k: 32,
        tie_permille: 20,
        learn_rounds: 3,
        margin: 60,
        canary_every: 20,
        canary_wins: 2,
        drift_permille: 250,
        drift_epochs: 2,
        shrink_permille: 250,
        eliminate_permille: 0,
        shift_permille: 0,
        epoch_ms: 200,
        explore_permille: 1000,
    };

    /// The defaults with another seed.
    pub const fn with_seed(seed: u64) -> Config {
        Config { seed, ..Config::DEFAULT }
    }

    /// This configuration with every tunable clamped into its range (see
    /// each field); `learn_rounds` and `epoch_ms` are left as they are
    /// (0 is an error, not a value to clamp).
    pub const fn clamped(self) -> Config {
        Config {
            k: clamp(self.k, 1, 400),
            tie_permille: clamp(self.tie_permille, 0, 500),
            margin: clamp(self.margin, 1, u32::MAX),
            canary_wins: clamp(self.canary_wins, 1, u32::MAX),
            drift_epochs: clamp(self.drift_epochs, 1, u32::MAX),
            shrink_permille: clamp(self.shrink_permille, 0, 1000),
            explore_permille: clamp(self.explore_permille, 1, 1000),
            ..self
        }
    }

    /// Checks the structural rules for a knob of `n` strategies starting
    /// on `initial`.
    pub const fn check(&self, n: usize, initial: usize) -> Result<(), Error> {
        if n < 2 {
            Err(Error::TooFewStrategies)
        } else if n > MAX_STRATEGIES {
            Err(Error::TooManyStrategies)
        } else if self.learn_rounds == 0 {
            Err(Error::ZeroRounds)
        } else if initial >= n {
            Err(Error::InitialOutOfRange)
        } else {
            Ok(())
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::DEFAULT
    }
}

const fn clamp(v: u32, lo: u32, hi: u32) -> u32 {
    if v < lo {
        lo
    } else if v > hi {
        hi
    } else {
        v
    }
}
