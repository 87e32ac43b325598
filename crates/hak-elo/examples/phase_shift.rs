//! A simulated phase-shifting workload: one knob with five strategies (say
//! BigCache capacities of 8, 16, 32, 64 and 128 entries), noisy costs
//! (±10 %), the cheapest strategy changing twice. Prints every decision of
//! one seeded run (what `HAKMEM_VERBOSE=1` would log), then the
//! convergence over 100 seeds.
//!
//! ```text
//! cargo run -p hak-elo --example phase_shift [SEED]
//! ```

use hak_elo::sim::Noisy;
use hak_elo::{Config, Learner, Phase, Step, Transition};

const VALUES: [u64; 5] = [8, 16, 32, 64, 128];
/// Cost per operation of each strategy, per workload phase (epochs from).
const PHASES: [(u64, [u64; 5]); 3] = [
    (0, [160, 120, 100, 110, 130]),   // 32 entries best
    (400, [180, 150, 135, 112, 100]), // bigger working set: 128 best (the frozen cost rises: drift)
    (800, [150, 120, 100, 80, 110]),  // 64 best, the frozen cost unchanged (a canary finds it)
];
const EPOCHS: u64 = 1200;

fn table(epoch: u64) -> &'static [u64; 5] {
    &PHASES.iter().rev().find(|(from, _)| epoch >= *from).unwrap().1
}

fn run(seed: u64, mut log: impl FnMut(u64, usize, u64, &Step, &Learner<5>)) -> u64 {
    let mut l = Learner::<5>::new(Config::with_seed(seed), 0).unwrap();
    let mut noisy = Noisy::new(seed ^ 0xABCD, 100);
    let mut total = 0;
    for e in 0..EPOCHS {
        let ran = l.current();
        total += table(e)[ran];
        let cost = noisy.cost(table(e)[ran]);
        let step = l.end_epoch(cost);
        log(e, ran, cost, &step, &l);
    }
    total
}

fn main() {
    let seed = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    println!("seed {seed}: {EPOCHS} epochs, workload shifts at epochs 400 and 800");
    let total = run(seed, |e, ran, cost, s, l| {
        if PHASES.iter().any(|(from, _)| *from == e && e > 0) {
            println!("{e:5}  --- workload shift: costs now {:?}", table(e));
        }
        let r = match s.result {
            Some(r) => format!(
                "{}match {}({}) vs {}({}): {:?}",
                if r.canary { "canary " } else { "" },
                VALUES[r.first],
                r.first_cost,
                VALUES[r.second],
                r.second_cost,
                r.outcome
            ),
            None => String::new(),
        };
        let t = match s.transition {
            Some(Transition::Froze) => format!("FROZEN on {} ratings {:?}", VALUES[s.strategy], l.ratings()),
            Some(Transition::CanaryStarted { challenger }) => format!("CANARY vs {}", VALUES[challenger]),
            Some(Transition::CanaryPassed) => "canary passed".into(),
            Some(Transition::Relearn(why)) => format!("LEARN again ({why:?}), ratings {:?}", l.ratings()),
            None => String::new(),
        };
        if !r.is_empty() && (s.phase != Phase::Learn || s.transition.is_some()) || !t.is_empty() {
            println!("{e:5}  ran {:3} cost {cost:4}  {r}  {t}", VALUES[ran]);
        }
    });
    let best: u64 = (0..EPOCHS).map(|e| *table(e).iter().min().unwrap()).sum();
    let fixed = (0..5).map(|s| (0..EPOCHS).map(|e| table(e)[s]).sum::<u64>()).min().unwrap();
    println!(
        "mean cost / best per phase: {:.3}; / best fixed strategy (a sweep's winner): {:.3}",
        total as f64 / best as f64,
        total as f64 / fixed as f64
    );

    let mut ratios: Vec<f64> = (0..100).map(|s| run(s, |_, _, _, _, _| {}) as f64 / best as f64).collect();
    ratios.sort_by(f64::total_cmp);
    println!("100 seeds: mean cost / best per phase: median {:.3}, worst {:.3}", ratios[50], ratios[99]);
}
