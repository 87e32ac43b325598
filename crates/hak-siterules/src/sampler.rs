//! [`Sampler`]: the per-thread countdown that picks the allocations whose
//! site is recorded.

/// Picks about one allocation in 2^`shift`: a per-thread countdown (the
/// caller keeps it in its thread context; it is not shared). The only
/// thing a sampled path runs per allocation is [`Sampler::tick`]: one
/// decrement and one branch. When the countdown runs out it is rewound to
/// a random interval, uniform in [2^(shift−1), 3·2^(shift−1)) (mean
/// 2^shift), drawn with a xorshift generator, so a program that repeats a
/// cycle of 2^shift allocations is not always sampled at the same one.
///
/// An allocator that already keeps a per-allocation countdown (hakmem's
/// upkeep tick) can rewind it with [`Sampler::next_interval`] instead and
/// sample the allocation that finds it at zero, at no cost of its own.
///
/// ```
/// use hak_siterules::Sampler;
/// let mut s = Sampler::new(10, 42);
/// let sampled = (0..1 << 20).filter(|_| s.tick()).count();
/// assert!((900..1150).contains(&sampled), "{sampled}"); // about 2^20 / 2^10
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Sampler {
    /// Allocations until the next sample (the sampled one included).
    left: u32,
    /// Xorshift state (never 0).
    state: u32,
    /// log2 of the mean interval (0..=30).
    shift: u32,
}

impl Sampler {
    /// A sampler of about one allocation in 2^`shift` (`shift` capped at
    /// 30; 0 samples every allocation), seeded with `seed` (e.g. the thread
    /// context's address; 0 is replaced by a fixed non-zero seed).
    pub const fn new(shift: u32, seed: u32) -> Sampler {
        let mut s = Sampler {
            left: 0,
            state: if seed == 0 { 0x9E37_79B9 } else { seed },
            shift: if shift > 30 { 30 } else { shift },
        };
        s.left = s.next_interval();
        s
    }

    /// Counts one allocation; true if it is to be sampled.
    #[inline(always)]
    pub fn tick(&mut self) -> bool {
        self.left = self.left.wrapping_sub(1);
        if self.left != 0 {
            return false;
        }
        self.rewind();
        true
    }

    #[cold]
    #[inline(never)]
    fn rewind(&mut self) {
        self.left = self.next_interval();
    }

    /// Draws the next interval (at least 1): uniform in
    /// [2^(shift−1), 3·2^(shift−1)), 1 for `shift` 0.
    pub const fn next_interval(&mut self) -> u32 {
        // xorshift32 (Marsaglia): period 2^32 − 1 over non-zero states.
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        if self.shift == 0 {
            return 1;
        }
        let span = 1u32 << self.shift;
        span / 2 + (x & (span - 1))
    }

    /// Allocations until the next sample.
    pub const fn left(&self) -> u32 {
        self.left
    }
}

#[cfg(test)]
mod tests {
    use super::Sampler;

    #[test]
    fn intervals_stay_in_range_and_average_the_rate() {
        for shift in [0u32, 1, 4, 10] {
            let mut s = Sampler::new(shift, 7);
            let span = 1u64 << shift;
            let (mut sum, n) = (0u64, 4096u64);
            for _ in 0..n {
                let i = s.next_interval() as u64;
                assert!(i >= 1 && (shift == 0 || (i >= span / 2 && i < 3 * span / 2)), "shift {shift}: {i}");
                sum += i;
            }
            let mean = sum as f64 / n as f64;
            assert!((mean - span as f64).abs() <= span as f64 * 0.05 + 0.5, "shift {shift}: mean {mean}");
        }
    }

    #[test]
    fn a_periodic_program_is_sampled_at_every_phase() {
        // A cycle of 1024 allocations: a fixed countdown of 1024 would see
        // one phase only; the jittered one sees most of them.
        let mut s = Sampler::new(10, 1);
        let mut seen = [false; 1024];
        for i in 0..(1usize << 22) {
            if s.tick() {
                seen[i % 1024] = true;
            }
        }
        let phases = seen.iter().filter(|&&b| b).count();
        assert!(phases > 900, "{phases} phases of 1024 sampled");
    }
}
