//! The seeded random source: SplitMix64 (one `u64` of state, a `const fn`
//! step), enough to order pairs and pick challengers reproducibly.

/// A SplitMix64 generator: the same seed gives the same sequence on every
/// platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (every seed, 0 included, is good).
    pub(crate) const fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub(crate) const fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0); the multiply-shift reduction,
    /// whose bias is below 2^-32 for the small `n` used here.
    pub(crate) const fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }

    /// A fair coin.
    pub(crate) const fn coin(&mut self) -> bool {
        self.next() >> 63 == 1
    }
}
