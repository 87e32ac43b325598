//! Construction: structural errors are returned (never a panic), tunables
//! out of range are clamped, and the edge sizes (2 and 16 strategies) learn.

use hak_elo::sim::Noisy;
use hak_elo::{Config, Error, Learner, Phase, Shared, MAX_STRATEGIES};

#[test]
fn structural_errors_are_returned() {
    assert_eq!(Learner::<0>::new(Config::DEFAULT, 0).err(), Some(Error::TooFewStrategies));
    assert_eq!(Learner::<1>::new(Config::DEFAULT, 0).err(), Some(Error::TooFewStrategies));
    assert_eq!(Learner::<17>::new(Config::DEFAULT, 0).err(), Some(Error::TooManyStrategies));
    let zero = Config { learn_rounds: 0, ..Config::DEFAULT };
    assert_eq!(Learner::<4>::new(zero, 0).err(), Some(Error::ZeroRounds));
    assert_eq!(Learner::<4>::new(Config::DEFAULT, 4).err(), Some(Error::InitialOutOfRange));
    let no_epoch = Config { epoch_ms: 0, ..Config::DEFAULT };
    assert_eq!(Shared::<4>::new([1, 2, 3, 4], no_epoch, 0, ()).err(), Some(Error::ZeroEpoch));
    assert_eq!(Shared::<1>::new([1], Config::DEFAULT, 0, ()).err(), Some(Error::TooFewStrategies));
    assert_eq!(Shared::<2>::new([1, 2], Config::DEFAULT, 2, ()).err(), Some(Error::InitialOutOfRange));
}

#[test]
fn construction_is_const() {
    static KNOB: Shared<4> = match Shared::new([50, 200, 500, 2000], Config::DEFAULT, 1, ()) {
        Ok(s) => s,
        Err(_) => panic!("bad knob"),
    };
    const L: Learner<3> = match Learner::new(Config::DEFAULT, 2) {
        Ok(l) => l,
        Err(_) => panic!("bad learner"),
    };
    assert_eq!(KNOB.current_value(), 200);
    assert_eq!((L.current(), L.phase(), L.epochs()), (2, Phase::Learn, 0));
}

#[test]
fn tunables_are_clamped() {
    let wild = Config {
        k: 0,
        tie_permille: 5000,
        margin: 0,
        canary_wins: 0,
        drift_epochs: 0,
        shrink_permille: 9999,
        ..Config::DEFAULT
    };
    let l = Learner::<3>::new(wild, 0).unwrap();
    let c = l.config();
    assert_eq!(
        (c.k, c.tie_permille, c.margin, c.canary_wins, c.drift_epochs, c.shrink_permille),
        (1, 500, 1, 1, 1, 1000)
    );
    let big = Learner::<3>::new(Config { k: 10_000, ..Config::DEFAULT }, 0).unwrap();
    assert_eq!(big.config().k, 400);
    // A clamped configuration still learns.
    let mut l = Learner::<3>::new(Config { k: 0, margin: 0, ..Config::DEFAULT }, 0).unwrap();
    for _ in 0..200 {
        l.end_epoch([300, 100, 200][l.current()]);
    }
    assert_ne!(l.phase(), Phase::Learn);
    assert_eq!(l.best(), 1);
}

/// Noise-free costs: learning must find the cheapest strategy exactly.
fn learns_exactly<const N: usize>(seed: u64) {
    let base: [u64; N] = core::array::from_fn(|s| 100 + 37 * ((s as u64 * 7 + 3) % N as u64));
    let cheapest = (0..N).min_by_key(|&s| base[s]).unwrap();
    let mut l = Learner::<N>::new(Config::with_seed(seed), N - 1).unwrap();
    let mut epochs = 0;
    while l.phase() == Phase::Learn {
        l.end_epoch(base[l.current()]);
        epochs += 1;
        assert!(epochs <= 1 + 2 * 3 * N * (N - 1) / 2, "N={N}: LEARN did not end");
    }
    assert_eq!(l.current(), cheapest, "N={N}: ratings {:?}", l.ratings());
}

#[test]
fn edge_sizes_learn() {
    for seed in 0..20 {
        learns_exactly::<2>(seed);
        learns_exactly::<3>(seed);
        learns_exactly::<MAX_STRATEGIES>(seed);
    }
}

#[test]
fn two_strategies_with_noise() {
    for seed in 0..100 {
        let mut l = Learner::<2>::new(Config::with_seed(seed), 0).unwrap();
        let mut noisy = Noisy::new(seed, 100);
        for _ in 0..300 {
            l.end_epoch(noisy.cost([120, 100][l.current()]));
        }
        assert_eq!(l.best(), 1, "seed {seed}");
    }
}
