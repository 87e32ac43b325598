//! [`Learner`]: the LEARN → FROZEN → CANARY state machine over the Elo
//! ratings of one knob's strategies, stepped once per epoch with that
//! epoch's cost.

use crate::config::{Config, Error};
use crate::rating::{self, Outcome, INITIAL_RATING};
use crate::rng::Rng;
use crate::schedule::Order;
use crate::step::{Counts, MatchResult, Phase, Reason, Step, Transition};

/// Frozen epochs whose mean becomes the drift baseline (no drift check
/// before).
pub const WARM_EPOCHS: u32 = 4;

/// Which epoch of a match is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Half {
    /// No match: the warm-up epoch (LEARN) or a frozen epoch.
    None,
    /// The match's first strategy is running.
    First,
    /// Its second strategy is running; the first's cost is recorded.
    Second,
}

/// The Elo learner of one knob with `N` strategies (indices `0..N`).
///
/// Fixed size (no allocation), `const`-constructible, and deterministic:
/// the same [`Config::seed`] and the same costs give the same steps.
/// Epochs are the caller's: run [`current`](Learner::current) for one
/// epoch, then report its cost with [`end_epoch`](Learner::end_epoch).
///
/// ```
/// use hak_elo::{Config, Learner, Phase};
/// let base = [130u64, 100, 115]; // strategy 1 is the cheapest
/// let mut l = Learner::<3>::new(Config::with_seed(7), 0).unwrap();
/// while l.phase() == Phase::Learn {
///     let cost = base[l.current()];
///     l.end_epoch(cost);
/// }
/// assert_eq!(l.current(), 1);
/// assert_eq!(l.best(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct Learner<const N: usize> {
    cfg: Config,
    rng: Rng,
    ratings: [i32; N],
    costs: [u64; N],
    phase: Phase,
    current: usize,
    half: Half,
    first: usize,
    second: usize,
    first_cost: u64,
    order: Order,
    round: u32,
    pos: u32,
    best: usize,
    baseline: u64,
    recent: u64,
    frozen_epochs: u32,
    since_canary: u32,
    drifting: u32,
    canary_streak: u32,
    next_challenger: usize,
    /// Bit `s`: strategy `s` is eliminated until LEARN re-opens.
    eliminated: u32,
    /// The frozen strategy's cost when it froze (its recent LEARN cost): the
    /// shift check's reference until the baseline exists.
    frozen_ref: u64,
    epochs: u64,
    counts: Counts,
}

impl<const N: usize> Learner<N> {
    /// A learner in LEARN whose first epoch runs `initial` as a warm-up (its
    /// cost is recorded in [`costs`](Learner::costs) but scores no match).
    /// The configuration is [`clamped`](Config::clamped); structural errors
    /// ([`Error`]: `N < 2`, `N > 16`, `learn_rounds == 0`, `initial >= N`)
    /// are returned, never panicked on.
    pub const fn new(config: Config, initial: usize) -> Result<Learner<N>, Error> {
        if let Err(e) = config.check(N, initial) {
            return Err(e);
        }
        let cfg = config.clamped();
        let mut rng = Rng::new(cfg.seed);
        let order = Order::new(N, &mut rng);
        Ok(Learner {
            cfg,
            rng,
            ratings: [INITIAL_RATING; N],
            costs: [0; N],
            phase: Phase::Learn,
            current: initial,
            half: Half::None,
            first: 0,
            second: 0,
            first_cost: 0,
            order,
            round: 0,
            pos: 0,
            best: initial,
            baseline: 0,
            recent: 0,
            frozen_epochs: 0,
            since_canary: 0,
            drifting: 0,
            canary_streak: 0,
            next_challenger: 0,
            eliminated: 0,
            frozen_ref: 0,
            epochs: 0,
            counts: Counts {
                matches: 0,
                draws: 0,
                freezes: 0,
                canaries: 0,
                challenger_wins: 0,
                drifts: 0,
                switches: 0,
                eliminations: 0,
                reopens: 0,
            },
        })
    }

    /// Ends the epoch that ran [`current`](Learner::current), whose cost
    /// (lower is better, normalised per operation by the caller) was
    /// `cost`, and decides the next epoch's strategy.
    pub fn end_epoch(&mut self, cost: u64) -> Step {
        self.epochs += 1;
        let ran = self.current;
        self.record_cost(ran, cost);
        let mut result = None;
        let mut transition = None;
        match (self.phase, self.half) {
            (Phase::Learn | Phase::Canary, Half::First) => {
                self.first_cost = cost;
                self.half = Half::Second;
                self.current = self.second;
            }
            (Phase::Learn, _) => {
                if self.half == Half::Second {
                    result = Some(self.finish_match(cost, false));
                }
                if !self.next_learn_match() {
                    self.freeze();
                    transition = Some(Transition::Froze);
                }
            }
            (Phase::Frozen, _) => transition = self.frozen_epoch(cost),
            (Phase::Canary, _) => {
                let r = self.finish_match(cost, true);
                result = Some(r);
                transition = Some(self.end_canary(r));
            }
        }
        if self.current != ran {
            self.counts.switches += 1;
        }
        Step { strategy: self.current, changed: self.current != ran, phase: self.phase, result, transition }
    }

    /// The strategy to run now.
    pub const fn current(&self) -> usize {
        self.current
    }

    /// The current phase.
    pub const fn phase(&self) -> Phase {
        self.phase
    }

    /// The ratings, in Elo points (every strategy starts at 1500 and the
    /// updates conserve the sum).
    pub const fn ratings(&self) -> &[i32; N] {
        &self.ratings
    }

    /// Each strategy's recent cost (an average weighting the latest epoch
    /// 1/4), 0 for a strategy never run.
    pub const fn costs(&self) -> &[u64; N] {
        &self.costs
    }

    /// The best strategy: the frozen one in FROZEN and CANARY, the
    /// best-rated so far in LEARN.
    pub const fn best(&self) -> usize {
        match self.phase {
            Phase::Learn => self.leader(),
            Phase::Frozen | Phase::Canary => self.best,
        }
    }

    /// The frozen strategy's drift baseline (0 in LEARN and before
    /// [`WARM_EPOCHS`] frozen epochs have run).
    pub const fn baseline(&self) -> u64 {
        if self.frozen_epochs < WARM_EPOCHS {
            0
        } else {
            self.baseline
        }
    }

    /// The frozen strategy's recent cost (an average weighting the latest
    /// frozen epoch 1/2; 0 in LEARN before the first frozen epoch).
    pub const fn recent(&self) -> u64 {
        self.recent
    }

    /// Epochs ended since construction.
    pub const fn epochs(&self) -> u64 {
        self.epochs
    }

    /// The LEARN round in progress (0 plays every pair).
    pub const fn round(&self) -> u32 {
        self.round
    }

    /// Event counters since construction.
    pub const fn counts(&self) -> Counts {
        self.counts
    }

    /// The (clamped) configuration in use.
    pub const fn config(&self) -> &Config {
        &self.cfg
    }

    /// Whether strategy `s` is eliminated (see
    /// [`Config::eliminate_permille`]) until LEARN re-opens.
    pub const fn eliminated(&self, s: usize) -> bool {
        s < N && self.eliminated & (1 << s) != 0
    }

    /// Re-opens LEARN now, from outside: the caller saw the workload shift
    /// (e.g. another knob's drift). As a drift would: ratings shrunk toward
    /// the mean, eliminations cleared, a fresh full round whose first match
    /// starts with the next epoch (a LEARN phase in progress starts over:
    /// its matches straddle the shift).
    pub fn reopen(&mut self) {
        self.counts.reopens += 1;
        let ran = self.current;
        self.relearn();
        if self.current != ran {
            self.counts.switches += 1;
        }
    }

    /// Folds `cost` into strategy `s`'s recent cost.
    fn record_cost(&mut self, s: usize, cost: u64) {
        if let Some(c) = self.costs.get_mut(s) {
            *c = if *c == 0 { cost } else { *c - *c / 4 + cost / 4 };
        }
    }

    /// Scores the match whose second epoch cost `cost` and updates both
    /// ratings.
    fn finish_match(&mut self, cost: u64, canary: bool) -> MatchResult {
        let outcome = rating::judge(self.first_cost, cost, self.cfg.tie_permille);
        let (a, b) = (self.first, self.second);
        if let (Some(&ra), Some(&rb)) = (self.ratings.get(a), self.ratings.get(b)) {
            let d = rating::delta(ra, rb, outcome, self.cfg.k);
            if let Some(r) = self.ratings.get_mut(a) {
                *r = ra.saturating_add(d);
            }
            if let Some(r) = self.ratings.get_mut(b) {
                *r = rb.saturating_sub(d);
            }
        }
        self.counts.matches += 1;
        if outcome == Outcome::Draw {
            self.counts.draws += 1;
        }
        let e = self.cfg.eliminate_permille;
        let loser = match outcome {
            Outcome::FirstWins if e != 0 && above(cost, self.first_cost, e) => Some(b),
            Outcome::SecondWins if e != 0 && above(self.first_cost, cost, e) => Some(a),
            _ => None,
        };
        // The frozen strategy is never eliminated by a canary: a challenger
        // that beats it re-opens LEARN instead.
        if let Some(l) = loser.filter(|&l| !(canary && l == self.best)) {
            if !self.eliminated(l) {
                self.eliminated |= 1 << l;
                self.counts.eliminations += 1;
            }
        }
        self.half = Half::None;
        MatchResult { first: a, second: b, first_cost: self.first_cost, second_cost: cost, outcome, canary }
    }

    /// Starts a match between `i` and `j` in a random order.
    fn start_match(&mut self, i: usize, j: usize) {
        let (a, b) = if self.rng.coin() { (i, j) } else { (j, i) };
        self.first = a;
        self.second = b;
        self.half = Half::First;
        self.current = a;
    }

    /// Starts the next LEARN match; false when LEARN is over (rounds done
    /// or fewer than two contenders left).
    fn next_learn_match(&mut self) -> bool {
        // At most two passes: a new round with two contenders has a playable pair.
        let mut passes = 0;
        while passes < 2 {
            while self.pos < self.order.len() {
                let (i, j) = self.order.pair(self.pos);
                self.pos += 1;
                let playable = if self.round == 0 {
                    !self.eliminated(i) && !self.eliminated(j)
                } else {
                    self.contender(i) && self.contender(j)
                };
                if playable {
                    self.start_match(i, j);
                    return true;
                }
            }
            self.round += 1;
            self.pos = 0;
            if self.round >= self.cfg.learn_rounds || self.contenders() < 2 {
                return false;
            }
            self.order = Order::new(N, &mut self.rng);
            passes += 1;
        }
        false
    }

    /// The best-rated strategy (ties: lower recent cost, then lower index).
    const fn leader(&self) -> usize {
        let mut best = 0;
        while best + 1 < N && self.eliminated(best) {
            best += 1;
        }
        let mut s = best + 1;
        while s < N {
            let (r, rb) = (self.ratings[s], self.ratings[best]);
            if self.eliminated(s) {
                // Out: never the leader.
            } else if r > rb
                || (r == rb && self.costs[s] != 0 && (self.costs[best] == 0 || self.costs[s] < self.costs[best]))
            {
                best = s;
            }
            s += 1;
        }
        best
    }

    /// Whether `s` is rated within the margin of the leader.
    fn contender(&self, s: usize) -> bool {
        if self.eliminated(s) {
            return false;
        }
        let top = self.ratings.get(self.leader()).copied().unwrap_or(INITIAL_RATING);
        let r = self.ratings.get(s).copied().unwrap_or(i32::MIN);
        i64::from(r) + i64::from(self.cfg.margin) >= i64::from(top)
    }

    fn contenders(&self) -> usize {
        (0..N).filter(|&s| self.contender(s)).count()
    }

    /// LEARN → FROZEN on the leader.
    fn freeze(&mut self) {
        self.best = self.leader();
        self.current = self.best;
        self.frozen_ref = self.costs.get(self.best).copied().unwrap_or(0);
        self.phase = Phase::Frozen;
        self.half = Half::None;
        self.baseline = 0;
        self.recent = 0;
        self.frozen_epochs = 0;
        self.drifting = 0;
        self.since_canary = 0;
        self.canary_streak = 0;
        self.counts.freezes += 1;
    }

    /// One frozen epoch: the drift check, then maybe a canary.
    ///
    /// The drift check compares a fast average of the frozen cost
    /// (`recent`, weighting the latest epoch 1/2) against a slow baseline:
    /// the mean of the first [`WARM_EPOCHS`] frozen epochs, then an average
    /// weighting each epoch 1/16, except while `recent` is more than half the
    /// drift threshold above it (so a shift cannot hide by dragging the
    /// baseline up).
    fn frozen_epoch(&mut self, cost: u64) -> Option<Transition> {
        let drift = self.cfg.drift_permille;
        self.recent =
            if self.frozen_epochs == 0 { cost } else { self.recent / 2 + cost / 2 + (self.recent & cost & 1) };
        let reference = if self.frozen_epochs >= WARM_EPOCHS { self.baseline } else { self.frozen_ref };
        self.frozen_epochs = self.frozen_epochs.saturating_add(1);
        if self.cfg.shift_permille != 0 && reference != 0 && above(cost, reference, self.cfg.shift_permille) {
            self.counts.drifts += 1;
            self.relearn();
            return Some(Transition::Relearn(Reason::Drift));
        }
        if self.frozen_epochs <= WARM_EPOCHS {
            self.baseline = self.baseline.saturating_add(cost);
            if self.frozen_epochs == WARM_EPOCHS {
                self.baseline = (self.baseline / u64::from(WARM_EPOCHS)).max(1);
            }
        } else if drift != 0 && above(self.recent, self.baseline, drift) {
            self.drifting = self.drifting.saturating_add(1);
            if self.drifting >= self.cfg.drift_epochs {
                self.counts.drifts += 1;
                self.relearn();
                return Some(Transition::Relearn(Reason::Drift));
            }
        } else {
            self.drifting = 0;
            if drift == 0 || !above(self.recent, self.baseline, drift / 2) {
                self.baseline = (self.baseline - self.baseline / 16 + cost / 16).max(1);
            }
        }
        self.since_canary = self.since_canary.saturating_add(1);
        if self.cfg.canary_every != 0 && self.since_canary >= self.cfg.canary_every && self.drifting == 0 {
            let Some(challenger) = self.challenger() else {
                // Every other strategy is eliminated: nothing to re-test.
                self.since_canary = 0;
                return None;
            };
            self.start_canary(challenger);
            return Some(Transition::CanaryStarted { challenger });
        }
        None
    }

    /// The next challenger: the other strategies in turn, so each is
    /// re-tested every `N - 1` canaries; eliminated ones are skipped
    /// (`None`: all are).
    fn challenger(&mut self) -> Option<usize> {
        for _ in 0..N - 1 {
            let c = (self.best + 1 + self.next_challenger % (N - 1)) % N;
            self.next_challenger = (self.next_challenger + 1) % (N - 1);
            if !self.eliminated(c) {
                return Some(c);
            }
        }
        None
    }

    fn start_canary(&mut self, challenger: usize) {
        self.phase = Phase::Canary;
        self.counts.canaries += 1;
        self.start_match(self.best, challenger);
    }

    /// After a canary match: re-learn when the challenger has now won
    /// `canary_wins` in a row, re-match when it won fewer, else back to
    /// FROZEN.
    fn end_canary(&mut self, r: MatchResult) -> Transition {
        let challenger = if r.first == self.best { r.second } else { r.first };
        if r.winner() == Some(challenger) {
            self.canary_streak += 1;
            if self.canary_streak >= self.cfg.canary_wins {
                self.counts.challenger_wins += 1;
                self.relearn();
                return Transition::Relearn(Reason::ChallengerWon);
            }
            self.start_canary(challenger);
            return Transition::CanaryStarted { challenger };
        }
        self.canary_streak = 0;
        self.phase = Phase::Frozen;
        self.current = self.best;
        self.since_canary = 0;
        Transition::CanaryPassed
    }

    /// → LEARN: ratings shrunk toward the mean, a fresh full round.
    fn relearn(&mut self) {
        let keep = i64::from(self.cfg.shrink_permille);
        for r in self.ratings.iter_mut() {
            let d = i64::from(*r) - i64::from(INITIAL_RATING);
            *r = INITIAL_RATING + (d * keep / 1000) as i32;
        }
        self.phase = Phase::Learn;
        self.eliminated = 0;
        self.round = 0;
        self.pos = 0;
        self.order = Order::new(N, &mut self.rng);
        self.baseline = 0;
        self.recent = 0;
        self.frozen_epochs = 0;
        self.drifting = 0;
        self.canary_streak = 0;
        // Round 0 plays every pair: there is a match to start.
        self.next_learn_match();
    }
}

/// Whether `x` exceeds `base` by more than `permille` thousandths.
fn above(x: u64, base: u64, permille: u32) -> bool {
    u128::from(x) * 1000 > u128::from(base) * (1000 + u128::from(permille))
}
