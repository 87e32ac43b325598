//! Unit tests of the integer arithmetic and the schedule.

extern crate std;

use crate::rating::{delta, expected_permille, judge, Outcome};
use crate::rng::Rng;
use crate::schedule::{pair_count, Order};

#[test]
fn expected_score_matches_the_formula() {
    for d in -1000..=1000 {
        let exact = 1000.0 / (1.0 + std::primitive::f64::powf(10.0, -f64::from(d) / 400.0));
        let got = f64::from(expected_permille(d));
        let tol = if d.abs() <= 800 { 2.0 } else { 10.0 };
        assert!((got - exact).abs() <= tol, "d={d}: {got} vs {exact}");
        assert_eq!(expected_permille(d) + expected_permille(-d), 1000, "not symmetric at {d}");
    }
    assert_eq!(expected_permille(i32::MIN), 10);
    assert_eq!(expected_permille(i32::MAX), 990);
}

#[test]
fn judge_uses_the_tie_band() {
    assert_eq!(judge(100, 102, 20), Outcome::Draw);
    assert_eq!(judge(100, 103, 20), Outcome::FirstWins);
    assert_eq!(judge(103, 100, 20), Outcome::SecondWins);
    assert_eq!(judge(0, 0, 0), Outcome::Draw);
    assert_eq!(judge(u64::MAX, u64::MAX - 1, 20), Outcome::Draw);
    assert_eq!(judge(0, u64::MAX, 20), Outcome::FirstWins);
}

#[test]
fn update_is_symmetric_and_zero_sum() {
    for (a, b) in [(1500, 1500), (1600, 1450), (1400, 1700), (1500, 1513)] {
        for o in [Outcome::FirstWins, Outcome::SecondWins, Outcome::Draw] {
            let mirror = match o {
                Outcome::FirstWins => Outcome::SecondWins,
                Outcome::SecondWins => Outcome::FirstWins,
                Outcome::Draw => Outcome::Draw,
            };
            assert_eq!(delta(a, b, o, 32), -delta(b, a, mirror, 32), "{a} {b} {o:?}");
        }
    }
    assert_eq!(delta(1500, 1500, Outcome::FirstWins, 32), 16);
    assert_eq!(delta(1500, 1500, Outcome::Draw, 32), 0);
    // The favourite gains little from a win and loses much on a loss.
    assert_eq!(delta(1700, 1500, Outcome::FirstWins, 32), 8);
    assert_eq!(delta(1700, 1500, Outcome::SecondWins, 32), -24);
}

#[test]
fn every_round_visits_every_pair_once() {
    let mut rng = Rng::new(42);
    for n in 2..=crate::MAX_STRATEGIES {
        for _ in 0..20 {
            let o = Order::new(n, &mut rng);
            assert_eq!(o.len(), pair_count(n));
            let mut seen = std::vec![false; n * n];
            for pos in 0..o.len() {
                let (i, j) = o.pair(pos);
                assert!(i < j && j < n, "n={n}: bad pair ({i}, {j})");
                assert!(!seen[i * n + j], "n={n}: pair ({i}, {j}) twice");
                seen[i * n + j] = true;
            }
        }
    }
}

#[test]
fn rng_is_reproducible_and_spread() {
    let (mut a, mut b) = (Rng::new(5), Rng::new(5));
    let mut counts = [0u32; 5];
    for _ in 0..5000 {
        let x = a.below(5);
        assert_eq!(x, b.below(5));
        counts[x as usize] += 1;
    }
    assert!(counts.iter().all(|&c| (900..1100).contains(&c)), "{counts:?}");
}
