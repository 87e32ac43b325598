//! The route hints and the rule that derives one from a site's counters:
//! [`Hint`], the thresholds, [`derive`].

/// What the allocator should do with a block of a site, learned from the
/// site's sampled blocks. Stored in each entry as one atomic byte; every
/// byte value a reader can see decodes to one of these (unknown values
/// decode to [`Hint::None`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Hint {
    /// No rule: route by size as usual (too few samples, or nothing stands
    /// out).
    #[default]
    None = 0,
    /// The site's blocks are large (mean at least [`BIG_MIN_SIZE`]) and
    /// long-lived: give each a mapping of its own (the big tier), so it
    /// neither pins a pool page nor shares one with short-lived blocks,
    /// and its release returns exactly its pages. [`SiteTable::hint`]
    /// gives it only for requests of at least [`BIG_MIN_SIZE`]; the site's
    /// smaller requests are [`Hint::LongLived`] ([`Hint::for_request`]).
    ///
    /// [`SiteTable::hint`]: crate::SiteTable::hint
    Big = 1,
    /// The site's blocks are often grown by `realloc`: place them where
    /// they can grow in place (a mapping with slack, which then grows by
    /// `mremap` or within its segment instead of by copy).
    Grow = 2,
    /// The site's blocks outlive most blocks of the same size: serve them
    /// from a separate heap or page set, so short-lived churn of that size
    /// does not leave pages pinned by one long-lived block.
    LongLived = 3,
}

impl Hint {
    /// Every hint, in discriminant order (index = `hint as usize`).
    pub const ALL: [Hint; 4] = [Hint::None, Hint::Big, Hint::Grow, Hint::LongLived];

    /// The hint stored as byte `b` (anything unknown is [`Hint::None`]).
    #[inline(always)]
    pub const fn from_u8(b: u8) -> Hint {
        match b {
            1 => Hint::Big,
            2 => Hint::Grow,
            3 => Hint::LongLived,
            _ => Hint::None,
        }
    }

    /// The route of a request of `size` bytes from a site with this hint:
    /// the hint itself, except that a [`Hint::Big`] site's request below
    /// [`BIG_MIN_SIZE`] is [`Hint::LongLived`]. The site's blocks are
    /// long-lived whatever their size (a mean of at least `BIG_MIN_SIZE`
    /// says nothing of one request), and a small one routed by size alone
    /// would pin a page of short-lived blocks: in `benches/c/sites.c` the
    /// kept blocks' first 16 samples were all of 256..288 KiB, and until
    /// the site's mean fell under 256 KiB its smaller kept blocks pinned
    /// the scratch pages of every function they were made in.
    #[inline(always)]
    pub const fn for_request(self, size: usize) -> Hint {
        match self {
            Hint::Big if size < BIG_MIN_SIZE => Hint::LongLived,
            h => h,
        }
    }

    /// A short lower-case name (`"none"`, `"big"`, `"grow"`, `"long-lived"`)
    /// for reports.
    pub const fn name(self) -> &'static str {
        match self {
            Hint::None => "none",
            Hint::Big => "big",
            Hint::Grow => "grow",
            Hint::LongLived => "long-lived",
        }
    }
}

/// Requests of at most this many bytes never get a hint: the allocator
/// consults the table only above it (a lookup costs as much as a small
/// allocation's whole fast path), and [`SiteTable::hint`] answers
/// [`Hint::None`] for them.
///
/// [`SiteTable::hint`]: crate::SiteTable::hint
pub const HINT_MIN_SIZE: usize = 1024;

/// No hint before a site has this many samples. A fraction estimated from
/// 16 samples has a standard error of at most 12.5 % (√(p(1−p)/16) ≤
/// 0.125), so the 25 % margins of the rules below are two standard errors
/// from a coin flip; at one sampled allocation in 1024 a site earns a hint
/// after about 16 000 allocations, which a site that matters reaches early.
pub const MIN_SAMPLES: u32 = 16;

/// Mean sampled size from which a long-lived site is [`Hint::Big`]:
/// 256 KiB, the router's `REALLOC_MAP_MIN` (the size from which a block is
/// worth a mapping of its own: a quarter of an L2.5 page, so one such
/// block pins a large share of a page; a mapping is one segment of address
/// space and one VMA, cheap next to that). Below it a long-lived site is
/// [`Hint::LongLived`] at most.
pub const BIG_MIN_SIZE: usize = 256 * 1024;

/// [`Hint::Grow`] when at least one sampled block in `GROW_DIV` was later
/// grown by `realloc` (`grown × 4 ≥ samples`). A block grown out of place
/// costs a new allocation and a copy of every byte; a block placed with
/// slack costs address space and at most a page of slack. At one grown
/// block in four the copies avoided are worth the slack of the other three
/// for any block above [`HINT_MIN_SIZE`] (a copy of n bytes costs about as
/// much as touching n/4 bytes of fresh pages, and slack is never touched).
pub const GROW_DIV: u32 = 4;

/// A site is long-lived when at most one sampled block in `YOUNG_DIV` died
/// young (`young × 4 ≤ samples`; blocks still alive count as not young,
/// see the crate docs), and its blocks are worth segregating only when the
/// *other* sites' sampled blocks in the size buckets of its own samples
/// (log2 of the size; over the whole run) die young at least one time in `YOUNG_DIV` (`others_young × 4 ≥
/// others_samples`, with at least [`MIN_SAMPLES`] of them): without that
/// churn there is nothing to segregate from and a separate page set only
/// adds a partly filled page.
pub const YOUNG_DIV: u32 = 4;

/// A sampled block freed less than this many clock ticks after its
/// allocation died young. With the clock in milliseconds (the router's
/// `hak_os::now_ms`), 500 ms: the default decay interval
/// (`HAKMEM_DECAY_MS`). A block freed sooner only delays its page's reuse
/// a little; a block that lives longer keeps its page from being purged,
/// which is what segregation avoids. Override with
/// [`SiteTable::with_young_age`](crate::SiteTable::with_young_age) for
/// another clock.
pub const DEFAULT_YOUNG_AGE: u64 = 500;

/// A site's counters as the rule sees them (a relaxed snapshot: each
/// counter is exact, the set may mix two moments, which only moves a
/// fraction by a sample).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Sampled allocations.
    pub samples: u32,
    /// Sampled blocks freed younger than the young age.
    pub young: u32,
    /// Sampled blocks freed at or past the young age.
    pub old: u32,
    /// Sampled blocks grown by `realloc` at least once.
    pub grown: u32,
    /// `realloc` growth events of sampled blocks (a block grown three
    /// times counts three).
    pub grows: u32,
    /// Sum of the sampled sizes (at allocation).
    pub bytes: u64,
}

impl Counts {
    /// The mean sampled size (0 without samples).
    pub const fn mean_size(&self) -> u64 {
        if self.samples == 0 {
            0
        } else {
            self.bytes / self.samples as u64
        }
    }
}

/// The hint of a site with counters `c`, given the young frees and samples
/// of the *other* sites in the size buckets of its samples. Pure: the rule the table
/// applies whenever it records a sample of the site.
///
/// In order: fewer than [`MIN_SAMPLES`] → `None`; realloc-heavy → `Grow`;
/// long-lived and large → `Big`; long-lived amid churn of its size →
/// `LongLived`; else `None`.
///
/// ```
/// use hak_siterules::{derive, Counts, Hint};
/// let c = Counts { samples: 32, young: 1, old: 3, bytes: 32 * (2 << 20), ..Counts::default() };
/// assert_eq!(derive(&c, 0, 0), Hint::Big);
/// let churn = Counts { young: 30, old: 2, bytes: 32 * 4096, ..c };
/// assert_eq!(derive(&churn, 0, 0), Hint::None);
/// ```
pub const fn derive(c: &Counts, others_young: u64, others_samples: u64) -> Hint {
    let s = c.samples as u64;
    if c.samples < MIN_SAMPLES {
        return Hint::None;
    }
    if c.grown as u64 * GROW_DIV as u64 >= s {
        return Hint::Grow;
    }
    let long_lived = c.young as u64 * YOUNG_DIV as u64 <= s;
    if !long_lived {
        return Hint::None;
    }
    if c.mean_size() >= BIG_MIN_SIZE as u64 {
        return Hint::Big;
    }
    if others_samples >= MIN_SAMPLES as u64 && others_young * YOUNG_DIV as u64 >= others_samples {
        return Hint::LongLived;
    }
    Hint::None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(samples: u32, young: u32, grown: u32, size: u64) -> Counts {
        Counts { samples, young, old: 0, grown, grows: grown, bytes: size * samples as u64 }
    }

    #[test]
    fn no_hint_below_the_minimum_samples() {
        let c = counts(MIN_SAMPLES - 1, 0, MIN_SAMPLES - 1, 4 << 20);
        assert_eq!(derive(&c, 100, 100), Hint::None);
        assert_eq!(derive(&Counts { samples: MIN_SAMPLES, ..c }, 100, 100), Hint::Grow);
    }

    #[test]
    fn the_rules_apply_in_order_at_their_thresholds() {
        // A quarter grown: Grow, even for a large long-lived site.
        assert_eq!(derive(&counts(40, 0, 10, 1 << 20), 0, 0), Hint::Grow);
        assert_eq!(derive(&counts(40, 0, 9, 1 << 20), 0, 0), Hint::Big);
        // Exactly a quarter young is still long-lived; one more is not.
        assert_eq!(derive(&counts(40, 10, 0, BIG_MIN_SIZE as u64), 0, 0), Hint::Big);
        assert_eq!(derive(&counts(40, 11, 0, BIG_MIN_SIZE as u64), 0, 0), Hint::None);
        assert_eq!(derive(&counts(40, 0, 0, BIG_MIN_SIZE as u64 - 1), 0, 0), Hint::None);
        // Long-lived below the big size: only amid churn of its size.
        let c = counts(40, 2, 0, 8192);
        assert_eq!(derive(&c, 4, 16), Hint::LongLived);
        assert_eq!(derive(&c, 3, 16), Hint::None, "others not churning");
        assert_eq!(derive(&c, 15, 15), Hint::None, "too few others");
    }

    #[test]
    fn every_byte_decodes_to_a_hint() {
        for b in 0..=255u8 {
            let h = Hint::from_u8(b);
            assert!(Hint::ALL.contains(&h));
            if (b as usize) < Hint::ALL.len() {
                assert_eq!(h as u8, b);
            }
        }
    }
}
