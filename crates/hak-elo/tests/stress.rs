//! `Shared` under real threads: four threads offer steps on a shared clock
//! as fast as they can. Every epoch is stepped exactly once (the steps add
//! up to the learner's epoch count), the published value is always one of
//! the candidates, and the learner, fed costs where one strategy is
//! clearly cheapest, freezes on it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hak_elo::{Config, Phase, Shared};

const VALUES: [u64; 4] = [8, 16, 32, 64];
/// Strategy 2 (32) is the cheapest.
const COST: [u64; 4] = [300, 200, 100, 250];

#[test]
fn threads_racing_to_step_step_each_epoch_once() {
    let knob: Arc<Shared<4, u64>> = Arc::new(Shared::new(VALUES, Config::with_seed(3), 0, 0).unwrap());
    let clock = Arc::new(AtomicU64::new(0));
    let epoch_ms = Config::DEFAULT.epoch_ms;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (knob, clock) = (Arc::clone(&knob), Arc::clone(&clock));
            std::thread::spawn(move || {
                let mut stepped = 0u64;
                for i in 0..20_000u64 {
                    // Thread 0 drives the clock; every thread offers steps.
                    let now = if t == 0 {
                        clock.fetch_add(epoch_ms / 10, Ordering::Relaxed) + epoch_ms / 10
                    } else {
                        clock.load(Ordering::Relaxed)
                    };
                    assert!(VALUES.contains(&knob.current_value()), "published value {}", knob.current_value());
                    let cost = COST[knob.current()] + (i % 7);
                    if knob.try_step(now, |_| Some(cost)).is_some() {
                        stepped += 1;
                    }
                }
                stepped
            })
        })
        .collect();
    let steps: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let (epochs, phase, best) = knob.with_learner(|l| (l.epochs(), l.phase(), l.best())).unwrap();
    assert_eq!(steps, epochs, "every scored epoch is one step of one thread");
    // Thread 0 advanced the clock by 2,000 epochs.
    assert!(epochs >= 1_000, "only {epochs} epochs stepped");
    assert_eq!(best, 2, "the cheapest strategy is the best rated");
    assert!(phase != Phase::Learn || knob.current() == 2 || epochs < 100, "still learning after {epochs} epochs");
}
