//! A synthetic cost source for tests, examples and tuning: each strategy's
//! cost is a base cost times `1 ± noise` (uniform), from a seeded source,
//! so a simulated run is reproducible. No allocation; usable anywhere.

use crate::rng::Rng;

/// Noisy costs around a table of base costs.
#[derive(Clone, Copy, Debug)]
pub struct Noisy {
    rng: Rng,
    noise_permille: u32,
}

impl Noisy {
    /// A source whose costs deviate from the base by up to
    /// `noise_permille` thousandths either way (clamped to 1000), seeded
    /// with `seed`.
    pub const fn new(seed: u64, noise_permille: u32) -> Noisy {
        let noise_permille = if noise_permille > 1000 { 1000 } else { noise_permille };
        Noisy { rng: Rng::new(seed), noise_permille }
    }

    /// `base * (1 + u)` with `u` uniform in `[-noise, +noise]`, rounded
    /// down (saturating).
    pub fn cost(&mut self, base: u64) -> u64 {
        let span = 2 * u64::from(self.noise_permille) + 1;
        let f = 1000 - u64::from(self.noise_permille) + self.rng.below(span);
        let c = u128::from(base) * u128::from(f) / 1000;
        u64::try_from(c).unwrap_or(u64::MAX)
    }
}
