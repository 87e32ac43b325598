//! Loom models of [`Shared`] (`cargo xtask loom`). Each execution builds a
//! fresh driver (its try-lock, deadline and published value are loom
//! atomics, the learner sits in a loom cell, so a step overlapping another
//! access to the learner is reported as a data race) and checks, after the
//! joins: exactly one thread stepped the due epoch, the published value is
//! always one of the candidates and matches the learner's current strategy.

use std::sync::Arc;

use loom::thread;

use hak_os::sync::loom_model as model;
use hak_os::sync::{AtomicUsize, Ordering};

use crate::{Config, Phase, Shared};

const VALUES: [u64; 3] = [16, 32, 64];

fn knob() -> Arc<Shared<3, u64>> {
    let s = Shared::new(VALUES, Config { epoch_ms: 10, ..Config::with_seed(1) }, 1, 0).unwrap();
    // Open the first epoch (deadline 10).
    assert!(s.try_step(0, |_| Some(0)).is_none());
    Arc::new(s)
}

fn published_is_a_candidate(s: &Shared<3, u64>) {
    let v = s.current_value();
    assert!(VALUES.contains(&v), "published {v}, not a candidate");
}

/// Two threads offer to end the same due epoch: exactly one steps (the
/// other loses the try-lock or finds the epoch already ended), `measure`
/// runs once, and the learner ends exactly one epoch.
#[test]
fn two_threads_race_one_epoch() {
    model("two_threads_race_one_epoch", || {
        let s = knob();
        let measured = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let (s, m) = (s.clone(), measured.clone());
                thread::spawn(move || {
                    let step = s.try_step(10 + i, |probe| {
                        m.fetch_add(1, Ordering::Relaxed);
                        *probe += 1;
                        Some(100)
                    });
                    published_is_a_candidate(&s);
                    step.is_some()
                })
            })
            .collect();
        let stepped: usize = threads.into_iter().map(|t| usize::from(t.join().unwrap())).sum();
        assert_eq!(stepped, 1, "the due epoch was stepped {stepped} times");
        assert_eq!(measured.load(Ordering::Relaxed), 1);
        let (epochs, current) = s.with_learner(|l| (l.epochs(), l.current())).unwrap();
        assert_eq!(epochs, 1);
        assert_eq!(s.current(), current);
        assert_eq!(s.current_value(), VALUES[current]);
        assert!(!s.due(10 + 9), "the next epoch did not start");
    });
}

/// A reader of the published value and a reporter race a step: the value
/// read is always a candidate, and the report (under the try-lock) either
/// runs before or after the step, never during it.
#[test]
fn readers_race_a_step() {
    model("readers_race_a_step", || {
        let s = knob();
        let stepper = {
            let s = s.clone();
            thread::spawn(move || s.try_step(10, |_| Some(100)).map(|st| st.strategy))
        };
        let reader = {
            let s = s.clone();
            thread::spawn(move || {
                published_is_a_candidate(&s);
                s.with_learner(|l| {
                    assert!(l.epochs() <= 1);
                    assert_eq!(l.phase(), Phase::Learn);
                    l.current()
                })
            })
        };
        let stepped = stepper.join().unwrap();
        let seen = reader.join().unwrap();
        if let Some(c) = seen {
            assert!(c < VALUES.len());
        }
        // The stepper can only lose the lock to the reporter.
        let epochs = s.with_learner(|l| l.epochs()).unwrap();
        assert_eq!(epochs, u64::from(stepped.is_some()));
        if let Some(st) = stepped {
            assert_eq!(s.current_value(), VALUES[st]);
        }
    });
}

/// Two consecutive epochs stepped by different threads: the second thread
/// sees the first's learner state (the lock orders them), so the match
/// started by one is continued by the other.
#[test]
fn steps_on_two_threads_hand_over_the_learner() {
    model("steps_on_two_threads_hand_over_the_learner", || {
        let s = knob();
        let a = {
            let s = s.clone();
            thread::spawn(move || s.try_step(10, |_| Some(100)).is_some())
        };
        let b = {
            let s = s.clone();
            thread::spawn(move || s.try_step(20, |_| Some(100)).is_some())
        };
        let n = usize::from(a.join().unwrap()) + usize::from(b.join().unwrap());
        assert!(n >= 1, "no thread stepped a due epoch");
        let (epochs, current) = s.with_learner(|l| (l.epochs(), l.current())).unwrap();
        assert_eq!(epochs, n as u64);
        assert_eq!(s.current_value(), VALUES[current]);
    });
}
