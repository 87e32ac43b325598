//! `Shared` on one thread: the time base, the first epoch, epochs without
//! evidence, publication, the try-lock seen from inside a report, and
//! reconfiguration. (Races are in the crate's loom models.)

use hak_elo::{Config, Error, Phase, Shared};

const VALUES: [u64; 4] = [64, 128, 256, 512];

fn knob() -> Shared<4, u64> {
    Shared::new(VALUES, Config { epoch_ms: 100, ..Config::with_seed(9) }, 0, 0).unwrap()
}

#[test]
fn epochs_follow_the_clock() {
    let k = knob();
    assert_eq!(k.current_value(), 64);
    assert!(k.due(0));
    // The first call opens the first epoch: measure runs, its cost is dropped.
    let mut calls = 0;
    assert!(k
        .try_step(1000, |_| {
            calls += 1;
            Some(123)
        })
        .is_none());
    assert_eq!(calls, 1);
    assert!(!k.due(1099));
    assert!(k.try_step(1099, |_| panic!("measured before the epoch ended")).is_none());
    let s = k.try_step(1100, |_| Some(10)).expect("epoch due");
    assert_eq!((s.phase, k.current(), k.current_value()), (Phase::Learn, s.strategy, VALUES[s.strategy]));
    assert_eq!(k.with_learner(|l| l.epochs()), Some(1));
}

#[test]
fn no_evidence_restarts_the_epoch() {
    let k = knob();
    k.try_step(0, |_| None);
    assert!(k.try_step(100, |_| None).is_none());
    assert!(!k.due(150), "an epoch without evidence restarts");
    assert_eq!(k.with_learner(|l| l.epochs()), Some(0));
    assert!(k.try_step(200, |_| Some(5)).is_some());
}

#[test]
fn measurement_state_persists_under_the_lock() {
    // The probe holds the operation count at the last epoch end.
    let k = knob();
    let mut ops = 0u64;
    let mut deltas = Vec::new();
    for t in 0..20u64 {
        ops += 1000 + t;
        let now = ops;
        k.try_step(t * 100, |last| {
            deltas.push(now - *last);
            *last = now;
            Some(1)
        });
    }
    assert_eq!(deltas[0], 1000); // the opening call: snapshot from 0
    assert!(deltas[1..].iter().zip(1000u64 + 1..).all(|(&d, e)| d == e), "{deltas:?}");
}

#[test]
fn learns_through_the_driver() {
    let k = knob();
    let cost = [300u64, 180, 100, 140];
    for t in 0..200u64 {
        k.try_step(t * 100, |_| Some(cost[k.current()]));
    }
    assert_eq!(k.with_learner(|l| (l.phase(), l.best())), Some((Phase::Frozen, 2)));
    assert_eq!(k.current_value(), 256);
}

#[test]
fn the_lock_is_a_try_lock() {
    let k = knob();
    k.try_step(0, |_| Some(1));
    let inside = k.with_learner(|_| {
        // The report holds the lock: a step or a reconfiguration returns at once.
        (k.try_step(u64::MAX, |_| Some(1)).is_none(), k.reconfigure(Config::DEFAULT, 1), k.with_learner(|_| ()))
    });
    assert_eq!(inside, Some((true, Err(Error::Busy), None)));
    assert_eq!(k.with_learner(|l| l.epochs()), Some(0));
}

#[test]
fn reconfigure_replaces_the_learner() {
    let k = knob();
    for t in 0..10u64 {
        k.try_step(t * 100, |_| Some(1));
    }
    assert_eq!(k.reconfigure(Config { learn_rounds: 0, ..Config::DEFAULT }, 1), Err(Error::ZeroRounds));
    assert_eq!(k.reconfigure(Config { epoch_ms: 0, ..Config::DEFAULT }, 1), Err(Error::ZeroEpoch));
    assert_eq!(k.with_learner(|l| l.epochs()), Some(9), "a rejected configuration changed the learner");
    assert_eq!(k.reconfigure(Config { epoch_ms: 1000, ..Config::DEFAULT }, 3), Ok(()));
    assert_eq!((k.current(), k.current_value()), (3, 512));
    assert!(k.due(0));
    k.try_step(5000, |_| Some(1)); // opens a fresh first epoch
    assert!(k.try_step(5999, |_| Some(1)).is_none());
    assert!(k.try_step(6000, |_| Some(1)).is_some());
    assert_eq!(k.with_learner(|l| l.epochs()), Some(1));
}
