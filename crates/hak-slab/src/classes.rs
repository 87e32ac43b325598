//! The size-class grid of the slab tiers, derived once.
//!
//! One grid covers every slab size, 1 B ..= 1 MiB: 16-byte steps up to
//! 128 B (eight classes), then four classes per power of two (5/4, 6/4,
//! 7/4 and 8/4 of it: 160, 192, 224, 256, 320, …), so no request wastes
//! more than a quarter of its block past 128 B. Sixty classes in all,
//! numbered from 0 by ascending size; every class size is a multiple of 16.
//!
//! Each slab tier takes a run of consecutive grid classes and numbers them
//! from its first: hak-tiny the sizes up to 1 KiB (grid classes 0..20),
//! hak-pool's L2 those up to 32 KiB (20..40) and L2.5 those up to 1 MiB
//! (40..60). The tiers declare their class sizes ([`sizes`]) and their
//! lookup tables ([`table`]) from this module, and the router computes the
//! same index ([`index`]) with no table and no branch between tiers.
//!
//! Everything is a `const fn`, so the tables are built at compile time.

/// Largest size the grid covers (larger requests are big blocks).
pub const MAX_SIZE: usize = 1 << 20;

/// Largest size of the 16-byte steps.
const STEP_MAX: usize = 128;

/// Number of grid classes.
pub const COUNT: usize = index(MAX_SIZE) + 1;

/// The grid class of `size`, for `size` in 1..=[`MAX_SIZE`]: the smallest
/// class whose block holds `size` bytes.
///
/// Below 128 B the class is `(size - 1) / 16`; above, it comes from the
/// size's logarithm and the quarter of the power of two it falls in, with
/// no branch between the two (a conditional move): a caller whose sizes
/// straddle the tiers at random (the aligned path) would mispredict a
/// branch on most calls.
#[inline(always)]
pub const fn index(size: usize) -> usize {
    // 16-byte steps below 128 B: t is the class there.
    let t = (size - 1) >> 4;
    // Above: floor(log2(t)) and the quarter (wrapping arithmetic, as the
    // value is discarded for t < 8).
    let k = (usize::BITS - 1 - (t | 1).leading_zeros()) as usize;
    let quarter = t.wrapping_shr(k.wrapping_sub(2) as u32) & 3;
    let above = (4 * k + quarter).wrapping_sub(4);
    // A conditional move (`select_unpredictable` is not const).
    let small = (t < 8) as usize;
    small * t + (1 - small) * above
}

/// Block size of grid class `class` (< [`COUNT`]).
pub const fn size(class: usize) -> usize {
    let steps = STEP_MAX / 16;
    if class < steps {
        return (class + 1) * 16;
    }
    // Class 8 + 4j + q (q < 4) is (5 + q) quarters of 2^(7 + j).
    let j = (class - steps) / 4;
    let q = (class - steps) % 4;
    (5 + q) << (7 + j - 2)
}

/// The block sizes of the `N` grid classes from `first` on: a tier's class
/// sizes, its class `c` being grid class `first + c`.
pub const fn sizes<const N: usize>(first: usize) -> [u32; N] {
    assert!(first + N <= COUNT);
    let mut t = [0u32; N];
    let mut i = 0;
    while i < N {
        t[i] = size(first + i) as u32;
        i += 1;
    }
    t
}

/// A tier's lookup table of `N` entries: entry `i` holds the tier's class
/// (grid class minus `first`, the tier's first grid class) of the size
/// `(i + offset) << shift`, the largest size a tier's indexing maps to
/// entry `i` when its class boundaries are multiples of `1 << shift`.
/// Sizes below the tier (and size 0) get class 0.
pub const fn table<const N: usize>(first: usize, shift: u32, offset: usize) -> [u8; N] {
    let mut t = [0u8; N];
    let mut i = 0;
    while i < N {
        let s = (i + offset) << shift;
        assert!(s <= MAX_SIZE);
        t[i] = if s == 0 { 0 } else { index(s).saturating_sub(first) as u8 };
        i += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_sixty_classes_up_to_a_mebibyte() {
        assert_eq!(COUNT, 60);
        assert_eq!(size(0), 16);
        assert_eq!(size(7), 128);
        assert_eq!(size(8), 160);
        assert_eq!(size(19), 1024);
        assert_eq!(size(20), 1280);
        assert_eq!(size(39), 32 << 10);
        assert_eq!(size(40), 40 << 10);
        assert_eq!(size(COUNT - 1), MAX_SIZE);
        for c in 1..COUNT {
            assert!(size(c) > size(c - 1) && size(c).is_multiple_of(16), "class {c}");
        }
    }

    #[test]
    fn every_size_gets_the_tightest_class() {
        for s in 1..=MAX_SIZE {
            let c = index(s);
            assert!(c < COUNT && size(c) >= s, "size {s}: class {c} too small");
            assert!(c == 0 || size(c - 1) < s, "size {s}: class {c} not the tightest");
            // 16-byte steps up to 128, then at most a quarter of the block.
            let bs = size(c);
            assert!(bs - s < 16 || (bs - s) * 4 <= bs, "size {s} wastes too much in {bs}");
        }
    }

    #[test]
    fn tables_hold_the_class_of_their_entries_largest_size() {
        let t: [u8; 1025] = table(0, 0, 0);
        assert_eq!(t[0], 0);
        for (s, &c) in t.iter().enumerate().skip(1) {
            assert_eq!(c as usize, index(s), "size {s}");
        }
        let t: [u8; 128] = table(20, 8, 1);
        for (i, &c) in t.iter().enumerate() {
            let s = (i + 1) << 8;
            assert_eq!(c as usize, index(s).saturating_sub(20), "entry {i}");
        }
    }
}
