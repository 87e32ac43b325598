//! What exploring costs and how fast a shift is noticed, with the settings
//! the allocator's knobs use (`eliminate_permille`, `shift_permille`,
//! `explore_permille`): a disastrous strategy runs once per LEARN, not once
//! per pair, and is no canary challenger; a frozen cost that jumps 2x
//! re-opens LEARN after one epoch; a caller can re-open LEARN; exploring
//! epochs are shorter. Costs are exact (no noise), so every count is exact.

use hak_elo::{Config, Learner, Phase, Reason, Shared, Transition};

/// Strategy 1 is a disaster (a cache too small for a churn: ~10x dearer).
const COSTS: [u64; 4] = [100, 1000, 120, 110];

fn config(eliminate: u32, shift: u32) -> Config {
    Config { eliminate_permille: eliminate, shift_permille: shift, ..Config::with_seed(3) }
}

/// Epochs strategy `s` ran before LEARN first froze, and the frozen one.
fn first_learn(cfg: Config, s: usize) -> (usize, usize) {
    let mut l = Learner::<4>::new(cfg, 0).unwrap();
    let mut ran = 0;
    while l.phase() == Phase::Learn {
        ran += usize::from(l.current() == s);
        l.end_epoch(COSTS[l.current()]);
    }
    (ran, l.current())
}

#[test]
fn a_disastrous_strategy_runs_once_per_learn_phase() {
    // Round 0 plays each pair once: strategy 1 plays 3 matches, one epoch each.
    let (without, best) = first_learn(config(0, 0), 1);
    assert_eq!((without, best), (3, 0));
    let (with, best) = first_learn(config(1000, 0), 1);
    assert_eq!((with, best), (1, 0), "eliminated after its first loss by more than 2x");
    // A loss by less than 2x eliminates nothing: 2 (cost 120) still plays
    // its pairs with the strategies left (0 and 3).
    let (close, _) = first_learn(config(1000, 0), 2);
    assert!(close >= 2, "strategy 2 ran {close} epochs");
}

#[test]
fn an_eliminated_strategy_is_no_canary_challenger() {
    let cfg = Config { canary_every: 5, ..config(1000, 0) };
    let mut l = Learner::<4>::new(cfg, 0).unwrap();
    let mut challengers = Vec::new();
    for _ in 0..300 {
        let step = l.end_epoch(COSTS[l.current()]);
        if let Some(Transition::CanaryStarted { challenger }) = step.transition {
            challengers.push(challenger);
        }
        assert!(!matches!(step.transition, Some(Transition::Relearn(_))), "stationary costs re-learned");
    }
    assert!(l.eliminated(1));
    assert!(challengers.len() >= 10, "{challengers:?}");
    assert!(!challengers.contains(&1), "{challengers:?}");
    assert!(challengers.contains(&2) && challengers.contains(&3), "{challengers:?}");
}

/// Frozen epochs after the frozen strategy's cost becomes `factor`/100 of
/// what it was, until LEARN re-opens.
fn epochs_to_notice(cfg: Config, factor: u64) -> usize {
    let mut l = Learner::<4>::new(cfg, 0).unwrap();
    while l.phase() == Phase::Learn {
        l.end_epoch(COSTS[l.current()]);
    }
    for _ in 0..8 {
        assert_eq!(l.end_epoch(COSTS[l.current()]).transition, None);
    }
    for n in 1..=10 {
        let s = l.current();
        let step = l.end_epoch(COSTS[s] * factor / 100);
        if step.transition == Some(Transition::Relearn(Reason::Drift)) {
            return n;
        }
    }
    usize::MAX
}

#[test]
fn a_cost_that_doubles_is_a_shift_at_once() {
    // 3x: the shift check sees it in one epoch, the drift check alone in two.
    assert_eq!(epochs_to_notice(config(0, 1000), 300), 1);
    assert_eq!(epochs_to_notice(config(0, 0), 300), 2);
    // 1.5x: only the drift check (25 %) sees it, once its average of the
    // recent epochs has been above the baseline for two epochs: the third.
    assert_eq!(epochs_to_notice(config(0, 1000), 150), 3);
}

#[test]
fn a_shift_right_after_freezing_is_seen_against_the_learn_cost() {
    // Before the baseline exists (4 frozen epochs) the reference is the
    // frozen strategy's recent LEARN cost.
    let mut l = Learner::<4>::new(config(0, 1000), 0).unwrap();
    while l.phase() == Phase::Learn {
        l.end_epoch(COSTS[l.current()]);
    }
    assert_eq!(l.baseline(), 0);
    let step = l.end_epoch(COSTS[l.current()] * 3);
    assert_eq!(step.transition, Some(Transition::Relearn(Reason::Drift)));
}

#[test]
fn reopen_starts_a_fresh_learn_phase() {
    let mut l = Learner::<4>::new(config(1000, 0), 0).unwrap();
    while l.phase() == Phase::Learn {
        l.end_epoch(COSTS[l.current()]);
    }
    assert!(l.eliminated(1));
    l.reopen();
    assert_eq!(l.phase(), Phase::Learn);
    assert!(!l.eliminated(1), "a new LEARN phase tries every strategy again");
    assert_eq!(l.counts().reopens, 1);
    // Mid-LEARN too: the phase starts over.
    l.end_epoch(100);
    l.reopen();
    assert_eq!((l.phase(), l.round(), l.counts().reopens), (Phase::Learn, 0, 2));
}

#[test]
fn exploring_epochs_are_shorter_and_frozen_ones_are_not() {
    let cfg = Config { epoch_ms: 100, explore_permille: 500, ..Config::with_seed(5) };
    let k: Shared<4, ()> = Shared::new([8, 16, 32, 64], cfg, 0, ()).unwrap();
    assert!(k.try_step(0, |_| Some(1)).is_none()); // opens the first epoch (LEARN: 50 ms)
    assert!(!k.due(49) && k.due(50));
    let mut now = 50;
    let mut guard = 0;
    loop {
        let step = k.try_step(now, |_| Some(100)).unwrap();
        if step.phase == Phase::Frozen {
            assert!(!k.due(now + 99) && k.due(now + 100), "a frozen epoch lasts 100 ms");
            break;
        }
        assert!(!k.due(now + 49) && k.due(now + 50), "a LEARN epoch lasts 50 ms");
        now += 50;
        guard += 1;
        assert!(guard < 100, "never froze");
    }
    assert!(k.reopen());
    assert!(k.due(now), "a re-opened learner's next epoch is due at once");
    assert_eq!(k.best_value().map(|v| [8, 16, 32, 64].contains(&v)), Some(true));
}
