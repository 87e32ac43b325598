//! The round-robin schedule of LEARN: the `n * (n - 1) / 2` pairs of a
//! round visited in a seeded order without storing it (an affine
//! permutation `pos -> (a * pos + b) mod pairs` with `a` coprime to the
//! pair count), and the decoding of a pair index into its two strategies.

use crate::rng::Rng;

/// A round's visiting order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Order {
    /// Multiplier, coprime to the pair count.
    a: u32,
    /// Offset.
    b: u32,
    /// Pair count, `n * (n - 1) / 2` (at least 1).
    pairs: u32,
}

impl Order {
    /// A random order of the pairs of `n` strategies (`2 <= n <= 16`).
    pub(crate) const fn new(n: usize, rng: &mut Rng) -> Order {
        let pairs = pair_count(n);
        let mut a = rng.below(pairs as u64) as u32;
        // Terminates: a = 1 is coprime to everything, and `a` only grows
        // until it wraps to 1.
        while gcd(a, pairs) != 1 {
            a = if a + 1 >= pairs { 1 } else { a + 1 };
        }
        if pairs == 1 {
            a = 1;
        }
        let b = rng.below(pairs as u64) as u32;
        Order { a, b, pairs }
    }

    /// Pairs in a round.
    pub(crate) const fn len(&self) -> u32 {
        self.pairs
    }

    /// The pair at position `pos` (`pos < len()`), as its two strategies
    /// `(i, j)` with `i < j`.
    pub(crate) const fn pair(&self, pos: u32) -> (usize, usize) {
        let p = ((self.a as u64 * pos as u64 + self.b as u64) % self.pairs as u64) as u32;
        decode(p)
    }
}

/// `n * (n - 1) / 2`.
pub(crate) const fn pair_count(n: usize) -> u32 {
    (n * (n - 1) / 2) as u32
}

/// Pair index `p` (in the order (0,1), (0,2), (1,2), (0,3), (1,3), (2,3), …)
/// to `(i, j)` with `i < j`: column `j` holds pairs `j*(j-1)/2 ..`.
const fn decode(p: u32) -> (usize, usize) {
    let mut j: u32 = 1;
    while (j + 1) * j / 2 <= p {
        j += 1;
    }
    ((p - j * (j - 1) / 2) as usize, j as usize)
}

const fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}
