//! Elo arithmetic in integers: the expected score from a rating difference
//! (a table, no floating point, no `libm`), judging two costs (with the tie
//! band) and the symmetric rating update.

/// Every strategy's rating before its first match; ratings are whole Elo
/// points and the update conserves their sum, so their mean stays here.
pub const INITIAL_RATING: i32 = 1500;

/// `1000 / (1 + 10^(-d / 400))` rounded, for `d = 0, 25, …, 800`: the
/// expected score, in permille, of the player rated `d` points higher.
const EXPECTED: [u32; 33] = [
    500, 536, 571, 606, 640, 673, 703, 733, 760, 785, 808, 830, 849, 867, 882, 896, 909, 920, 930, 939, 947, 954, 960,
    965, 969, 973, 977, 980, 983, 985, 987, 989, 990,
];

/// Spacing of [`EXPECTED`] in rating points.
const STEP: u32 = 25;

/// The expected score (permille, 10..=990) of a player rated `diff` points
/// above its opponent (negative: below), by linear interpolation in a
/// 33-entry table; within 2 permille of `1 / (1 + 10^(-diff / 400))` for
/// `|diff| <= 800` and clamped beyond.
pub const fn expected_permille(diff: i32) -> u32 {
    let d = diff.unsigned_abs();
    let i = (d / STEP) as usize;
    let e = if i + 1 >= EXPECTED.len() {
        EXPECTED[EXPECTED.len() - 1]
    } else {
        let (lo, hi) = (EXPECTED[i], EXPECTED[i + 1]);
        lo + ((hi - lo) * (d % STEP) + STEP / 2) / STEP
    };
    if diff >= 0 {
        e
    } else {
        1000 - e
    }
}

/// The outcome of a match between the strategy run first (`first`) and the
/// one run second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The first strategy's cost was lower, beyond the tie band.
    FirstWins,
    /// The second strategy's cost was lower, beyond the tie band.
    SecondWins,
    /// The costs were within the tie band of each other.
    Draw,
}

/// Judges two costs (lower wins): a draw when they differ by at most
/// `tie_permille` thousandths of the larger one.
pub const fn judge(first: u64, second: u64, tie_permille: u32) -> Outcome {
    let (lo, hi) = if first < second { (first, second) } else { (second, first) };
    // 128-bit products: no cost is large enough to overflow.
    if ((hi - lo) as u128) * 1000 <= (hi as u128) * (tie_permille as u128) {
        Outcome::Draw
    } else if first < second {
        Outcome::FirstWins
    } else {
        Outcome::SecondWins
    }
}

/// The rating change of the first player (the second gets its negation):
/// `k * (score - expected)`, rounded to the nearest point (halves away from
/// zero, so the update is the same whichever side is called "first").
pub const fn delta(first: i32, second: i32, outcome: Outcome, k: u32) -> i32 {
    let score: i64 = match outcome {
        Outcome::FirstWins => 1000,
        Outcome::SecondWins => 0,
        Outcome::Draw => 500,
    };
    let e = expected_permille(first.saturating_sub(second)) as i64;
    let num = k as i64 * (score - e);
    let r = if num >= 0 { (num + 500) / 1000 } else { (num - 500) / 1000 };
    r as i32
}
