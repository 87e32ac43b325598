//! [`SiteTable`]: the lock-free open-addressing table of call sites, its
//! entries, the probe, and the recording of samples.

use core::sync::atomic::{AtomicU32 as StatU32, AtomicU64 as StatU64, Ordering::Relaxed};

use hak_os::sync::{AtomicU8, AtomicUsize, Ordering};

use crate::hint::{derive, Counts, Hint, DEFAULT_YOUNG_AGE, HINT_MIN_SIZE, MIN_SAMPLES};
use crate::tag::SampleTag;

/// Slots a key may occupy: its home slot (Fibonacci hash of the address)
/// and the next `PROBE - 1`. A lookup reads at most this many keys.
pub const PROBE: usize = 8;

/// A site whose sample count reaches this halves all its counters (not its
/// live bytes), so its hint follows what the site does now: after a change
/// of behaviour the old evidence weighs half within `AGE_SAMPLES / 2` new
/// samples.
pub const AGE_SAMPLES: u32 = 1024;

/// Size buckets (log2 of the size) of the table-wide churn counters.
const BUCKETS: usize = 64;

/// One site: its key (the return address, 0 while free), its hint and its
/// counters. One cache line, so that two hot sites never share one.
#[repr(C, align(64))]
pub(crate) struct Entry {
    /// The site's return address; 0 while unclaimed. Goes 0 → site once
    /// (one CAS) and never changes again.
    pub(crate) key: AtomicUsize,
    /// The current [`Hint`] as a byte (always a valid hint's byte).
    pub(crate) hint: AtomicU8,
    samples: StatU32,
    young: StatU32,
    old: StatU32,
    grown: StatU32,
    grows: StatU32,
    bytes: StatU64,
    live: StatU64,
    /// Samples and young frees over the whole run (never aged): what the
    /// site added to the size buckets, taken off them when its hint asks
    /// for the *other* sites' churn. Taking its aged counts off instead
    /// left its forgotten history in the buckets as other sites' blocks,
    /// and taking the forgotten half off the bucket of its mean size
    /// emptied that bucket when the site's blocks spread over several (a
    /// scratch site of 40..450 KiB).
    all_samples: StatU32,
    all_young: StatU32,
    /// The size buckets its samples fell in, one bit per bucket (never
    /// cleared): where the *other* sites' churn is counted for its hint.
    buckets: StatU64,
}

// One cache line: the counters fill it.
#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<Entry>() == 64);

impl Entry {
    hak_os::loom_const_fn! {
        /// An unclaimed entry.
        fn new() -> Entry {
            Entry {
                key: AtomicUsize::new(0),
                hint: AtomicU8::new(Hint::None as u8),
                samples: StatU32::new(0),
                young: StatU32::new(0),
                old: StatU32::new(0),
                grown: StatU32::new(0),
                grows: StatU32::new(0),
                bytes: StatU64::new(0),
                live: StatU64::new(0),
                all_samples: StatU32::new(0),
                all_young: StatU32::new(0),
                buckets: StatU64::new(0),
            }
        }
    }

    /// A relaxed snapshot of the counters.
    pub(crate) fn counts(&self) -> Counts {
        Counts {
            samples: self.samples.load(Relaxed),
            young: self.young.load(Relaxed),
            old: self.old.load(Relaxed),
            grown: self.grown.load(Relaxed),
            grows: self.grows.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
        }
    }

    /// Live sampled bytes.
    pub(crate) fn live(&self) -> u64 {
        self.live.load(Relaxed)
    }

    /// Halves the counters of the site's history (a racing increment may
    /// be lost: statistics, not protocol). Not its lifetime totals: those
    /// are its share of the size buckets.
    fn age(&self) {
        let c = self.counts();
        for a in [&self.samples, &self.young, &self.old, &self.grown, &self.grows] {
            a.store(a.load(Relaxed) / 2, Relaxed);
        }
        self.bytes.store(c.bytes / 2, Relaxed);
    }
}

/// Table-wide samples and young frees of one size bucket, over the whole
/// run (never aged: a site's own share is taken off with its lifetime
/// totals, which a site's aging does not touch).
struct Bucket {
    samples: StatU64,
    young: StatU64,
}

/// The call-site table: `N` entries (a power of two, 8 to 65 536), keyed
/// by the caller's return address, learned from sampled allocations. See
/// the crate docs for the protocol, the costs and the rules.
///
/// ```
/// use hak_siterules::{Hint, SiteTable};
/// let t: SiteTable<64> = SiteTable::new();
/// let site = 0x40_1234;
/// let mut tags = [None; 32];
/// for (i, tag) in tags.iter_mut().enumerate() {
///     *tag = t.record_alloc(site, 2 << 20, i as u64);
/// }
/// assert_eq!(t.hint(site, 2 << 20), Hint::Big);
/// for tag in tags.into_iter().flatten() {
///     t.record_free(tag, 1_000_000); // freed old: still long-lived
/// }
/// assert_eq!(t.hint(site, 2 << 20), Hint::Big);
/// assert_eq!(t.hint(site, 512), Hint::None, "never a hint at 1 KiB or less");
/// ```
pub struct SiteTable<const N: usize = 1024> {
    entries: [Entry; N],
    buckets: [Bucket; BUCKETS],
    young_age: u64,
    pub(crate) sites: StatU32,
    pub(crate) samples: StatU64,
    pub(crate) dropped: StatU64,
    pub(crate) frees: StatU64,
    pub(crate) young_frees: StatU64,
    pub(crate) grows: StatU64,
    pub(crate) forgotten: StatU64,
}

impl<const N: usize> SiteTable<N> {
    /// Compile-time check of `N`: a power of two, at least a probe window,
    /// and indexable by a tag's 16 bits.
    const VALID: () = assert!(N.is_power_of_two() && N >= PROBE && N <= 1 << 16, "N: a power of two in 8..=65536");
    /// Right shift of the Fibonacci hash that leaves log2(N) bits.
    const SHIFT: u32 = 64 - N.trailing_zeros();

    hak_os::loom_const_fn! {
        /// An empty table whose clock counts milliseconds (blocks freed
        /// within [`DEFAULT_YOUNG_AGE`] ticks die young).
        pub fn new() -> Self {
            Self::with_young_age(DEFAULT_YOUNG_AGE)
        }
    }

    hak_os::loom_const_fn! {
        /// An empty table for a clock in which a block freed less than
        /// `young_age` ticks after its allocation died young.
        pub fn with_young_age(young_age: u64) -> Self {
            #[allow(clippy::let_unit_value)]
            let () = Self::VALID;
            SiteTable {
                entries: entries::<N>(),
                buckets: [const { Bucket { samples: StatU64::new(0), young: StatU64::new(0) } }; BUCKETS],
                young_age,
                sites: StatU32::new(0),
                samples: StatU64::new(0),
                dropped: StatU64::new(0),
                frees: StatU64::new(0),
                young_frees: StatU64::new(0),
                grows: StatU64::new(0),
                forgotten: StatU64::new(0),
            }
        }
    }

    /// Makes an empty table (as [`with_young_age`](Self::with_young_age))
    /// in the zeroed memory at `p`, without building it on the stack first
    /// (the default table is 64 KiB): every field of an empty table but the
    /// young age is zero. For a table mapped only when it is needed.
    ///
    /// # Safety
    /// `p` is valid for writes of `size_of::<Self>()` bytes, aligned for
    /// `Self`, all of them zero, and used by nothing else until this returns.
    /// (Not in loom builds, whose atomics are not plain words.)
    #[cfg(not(loom))]
    pub unsafe fn init_zeroed(p: *mut Self, young_age: u64) {
        #[allow(clippy::let_unit_value)]
        let () = Self::VALID;
        // SAFETY: per contract; zero is an empty table's value of every
        // other field (checked by the test `zeroed_tables_are_empty`).
        unsafe { core::ptr::addr_of_mut!((*p).young_age).write(young_age) };
    }

    /// Whether every field is zero (tests of [`init_zeroed`](Self::init_zeroed)).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn all_fields_zero(&self) -> bool {
        let e = self.entries.iter().all(|e| {
            e.key.load(Ordering::Relaxed) == 0
                && e.hint.load(Ordering::Relaxed) == 0
                && [&e.samples, &e.young, &e.old, &e.grown, &e.grows, &e.all_samples, &e.all_young]
                    .iter()
                    .all(|c| c.load(Relaxed) == 0)
                && [&e.bytes, &e.live, &e.buckets].iter().all(|c| c.load(Relaxed) == 0)
        });
        let b = self.buckets.iter().all(|b| b.samples.load(Relaxed) == 0 && b.young.load(Relaxed) == 0);
        let s = [&self.samples, &self.dropped, &self.frees, &self.young_frees, &self.grows, &self.forgotten]
            .iter()
            .all(|c| c.load(Relaxed) == 0);
        e && b && s && self.young_age == 0 && self.sites.load(Relaxed) == 0
    }

    /// The age under which a freed block died young.
    pub const fn young_age(&self) -> u64 {
        self.young_age
    }

    /// The home slot of `site`: the top log2(N) bits of its product with
    /// 2^64/φ (Fibonacci hashing: nearby return addresses spread out).
    #[inline(always)]
    pub(crate) const fn home(site: usize) -> usize {
        ((site as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> Self::SHIFT) as usize
    }

    /// The entry at slot `i` (masked, so never out of bounds).
    #[inline(always)]
    pub(crate) fn slot(&self, i: usize) -> &Entry {
        &self.entries[i & (N - 1)]
    }

    /// All entries (for reports and checks).
    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The slot of `site`, claimed if it has none: the first slot of its
    /// window holding `site`, else the first free one, taken with one CAS
    /// 0 → site. A CAS that loses to another site moves on; one that loses
    /// to the same site uses the winner's slot, so a site never has two.
    /// `None` when the window is full of other sites.
    ///
    /// Claimed slots of a window are never freed, so a site inserted at
    /// slot h+i found h..h+i−1 claimed and they stay claimed: a lookup may
    /// stop at the first free slot. Relaxed order suffices: a key carries
    /// no data (the counters are atomics valid from zero), and the CAS's
    /// read of the latest value is what makes a claim unique.
    fn claim(&self, site: usize) -> Option<usize> {
        let h = Self::home(site);
        for i in 0..PROBE {
            let e = self.slot(h + i);
            let mut k = e.key.load(Ordering::Relaxed);
            if k == 0 {
                match e.key.compare_exchange(0, site, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => {
                        self.sites.fetch_add(1, Relaxed);
                        return Some((h + i) & (N - 1));
                    }
                    Err(cur) => k = cur,
                }
            }
            if k == site {
                return Some((h + i) & (N - 1));
            }
        }
        None
    }

    /// The slot holding `site`, if any (no claim).
    #[inline]
    pub(crate) fn find(&self, site: usize) -> Option<&Entry> {
        let h = Self::home(site);
        for i in 0..PROBE {
            let e = self.slot(h + i);
            let k = e.key.load(Ordering::Relaxed);
            if k == site {
                return Some(e);
            }
            if k == 0 {
                return None;
            }
        }
        None
    }

    /// The route hint for a request of `size` bytes from `site`: a hash, at
    /// most [`PROBE`] key loads and one byte load. [`Hint::None`] for sizes
    /// of at most [`HINT_MIN_SIZE`], for sites without enough evidence or
    /// not in the table; a [`Hint::Big`] site's request of less than
    /// [`BIG_MIN_SIZE`](crate::BIG_MIN_SIZE) is [`Hint::LongLived`] ([`Hint::for_request`]).
    #[inline]
    pub fn hint(&self, site: usize, size: usize) -> Hint {
        if size <= HINT_MIN_SIZE || site == 0 {
            return Hint::None;
        }
        match self.find(site) {
            Some(e) => Hint::from_u8(e.hint.load(Ordering::Relaxed)).for_request(size),
            None => Hint::None,
        }
    }

    /// [`hint`](Self::hint), and whether `site` still needs samples: true
    /// when it holds an entry with fewer than [`MIN_SAMPLES`] samples, or
    /// holds none and its probe window has a free slot (a site that could
    /// never get an entry never asks for samples). An allocator that
    /// samples every request of such a site learns a new site's rule after
    /// its first [`MIN_SAMPLES`] requests instead of after `MIN_SAMPLES`
    /// times its sampling interval. The same probe as [`hint`](Self::hint).
    #[inline]
    pub fn query(&self, site: usize, size: usize) -> (Hint, bool) {
        if size <= HINT_MIN_SIZE || site == 0 {
            return (Hint::None, false);
        }
        let h = Self::home(site);
        for i in 0..PROBE {
            let e = self.slot(h + i);
            let k = e.key.load(Ordering::Relaxed);
            if k == site {
                let hint = Hint::from_u8(e.hint.load(Ordering::Relaxed)).for_request(size);
                return (hint, e.samples.load(Relaxed) < MIN_SAMPLES);
            }
            if k == 0 {
                return (Hint::None, true);
            }
        }
        (Hint::None, false)
    }

    /// Records a sampled allocation of `size` bytes from `site` at clock
    /// value `now`, and recomputes the site's hint. Returns the tag the
    /// allocator keeps for the block, or `None` when `site` is 0 or its
    /// probe window is full of other sites (the sample is dropped and
    /// counted; nothing blocks or is evicted).
    pub fn record_alloc(&self, site: usize, size: usize, now: u64) -> Option<SampleTag> {
        if site == 0 {
            return None;
        }
        let Some(i) = self.claim(site) else {
            self.dropped.fetch_add(1, Relaxed);
            return None;
        };
        let tag = SampleTag::new(i, size, now);
        let size = tag.size() as u64;
        let e = self.slot(i);
        let s = e.samples.fetch_add(1, Relaxed).wrapping_add(1);
        e.bytes.fetch_add(size, Relaxed);
        e.live.fetch_add(size, Relaxed);
        self.samples.fetch_add(1, Relaxed);
        e.all_samples.fetch_add(1, Relaxed);
        self.bucket(size).samples.fetch_add(1, Relaxed);
        e.buckets.fetch_or(1 << bucket_of(size), Relaxed);
        if s == AGE_SAMPLES {
            e.age();
        }
        self.refresh(e);
        Some(tag)
    }

    /// Records the free of a sampled block at clock value `now`: young or
    /// old by its age, its bytes no longer live; recomputes the hint. A tag
    /// of an entry this table does not hold is ignored.
    pub fn record_free(&self, tag: SampleTag, now: u64) {
        let Some(e) = self.claimed(tag) else { return };
        let size = tag.size() as u64;
        if now.saturating_sub(tag.birth()) < self.young_age {
            e.young.fetch_add(1, Relaxed);
            self.young_frees.fetch_add(1, Relaxed);
            e.all_young.fetch_add(1, Relaxed);
            self.bucket(size).young.fetch_add(1, Relaxed);
        } else {
            e.old.fetch_add(1, Relaxed);
        }
        e.live.fetch_sub(size, Relaxed);
        self.frees.fetch_add(1, Relaxed);
        self.refresh(e);
    }

    /// Records a `realloc` of a sampled block to `new_size` bytes (in place
    /// or moved; the block keeps its tag, which this updates): live bytes
    /// follow the size; a growth counts as a growth event, and the first
    /// growth of the block marks it grown and recomputes the hint.
    pub fn record_realloc(&self, tag: &mut SampleTag, new_size: usize) {
        let old = tag.size() as u64;
        let was_grown = tag.grown();
        let grew = new_size as u64 > old;
        *tag = tag.resized(new_size, grew);
        let Some(e) = self.claimed(*tag) else { return };
        let new = tag.size() as u64;
        if new >= old {
            e.live.fetch_add(new - old, Relaxed);
        } else {
            e.live.fetch_sub(old - new, Relaxed);
        }
        if grew {
            e.grows.fetch_add(1, Relaxed);
            self.grows.fetch_add(1, Relaxed);
            if !was_grown {
                e.grown.fetch_add(1, Relaxed);
                self.refresh(e);
            }
        }
    }

    /// Withdraws a sample whose block the allocator could not keep track
    /// of (e.g. [`SampledBlocks::insert`](crate::SampledBlocks::insert)
    /// found no room): undoes what [`record_alloc`](Self::record_alloc)
    /// counted, so an untracked block is not taken for a long-lived one.
    pub fn forget(&self, tag: SampleTag) {
        let Some(e) = self.claimed(tag) else { return };
        let size = tag.size() as u64;
        sub_sat32(&e.samples, 1);
        sub_sat64(&e.bytes, size);
        e.live.fetch_sub(size, Relaxed);
        sub_sat64(&self.samples, 1);
        sub_sat32(&e.all_samples, 1);
        sub_sat64(&self.bucket(size).samples, 1);
        self.forgotten.fetch_add(1, Relaxed);
        self.refresh(e);
    }

    /// The claimed entry a tag names (`None` for an index beyond the table
    /// or an unclaimed entry: not this table's tag).
    fn claimed(&self, tag: SampleTag) -> Option<&Entry> {
        self.entries.get(tag.index()).filter(|e| e.key.load(Ordering::Relaxed) != 0)
    }

    /// The churn counters of the size bucket of `size` (log2).
    fn bucket(&self, size: u64) -> &Bucket {
        &self.buckets[bucket_of(size)]
    }

    /// Table-wide samples and young frees of the size buckets in `mask`
    /// (one bit per bucket), as `(young, samples)`.
    fn churn_in(&self, mask: u64) -> (u64, u64) {
        let (mut young, mut samples) = (0, 0);
        for (k, b) in self.buckets.iter().enumerate() {
            if mask & (1 << k) != 0 {
                young += b.young.load(Relaxed);
                samples += b.samples.load(Relaxed);
            }
        }
        (young, samples)
    }

    /// Recomputes the hint of `e` from its counters and the other sites'
    /// churn in the size buckets its own samples fell in (the buckets' counts
    /// less the site's own, which all lie there); stores it only if it
    /// changed (a store is a plain byte: readers see the old or the new
    /// hint). The bucket of the site's mean size alone flipped the hint
    /// whenever the mean crossed a power of two: `sites`' kept blocks, of
    /// 33..288 KiB, moved from 256 KiB to a bucket that held a handful of
    /// other samples, and their hint was lost for the rest of the module.
    fn refresh(&self, e: &Entry) {
        let c = e.counts();
        let (young, samples) = self.churn_in(e.buckets.load(Relaxed));
        let others_young = young.saturating_sub(e.all_young.load(Relaxed) as u64);
        let others_samples = samples.saturating_sub(e.all_samples.load(Relaxed) as u64);
        let h = derive(&c, others_young, others_samples) as u8;
        if e.hint.load(Ordering::Relaxed) != h {
            e.hint.store(h, Ordering::Relaxed);
        }
    }
}

impl<const N: usize> Default for SiteTable<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// `N` unclaimed entries.
#[cfg(not(loom))]
const fn entries<const N: usize>() -> [Entry; N] {
    [const { Entry::new() }; N]
}

/// `N` unclaimed entries (loom atomics are not const).
#[cfg(loom)]
fn entries<const N: usize>() -> [Entry; N] {
    core::array::from_fn(|_| Entry::new())
}

/// The size bucket of `size`: its log2, below [`BUCKETS`].
fn bucket_of(size: u64) -> usize {
    (63 - (size | 1).leading_zeros()) as usize % BUCKETS
}

/// Subtracts `v` from `a`, stopping at 0.
fn sub_sat32(a: &StatU32, v: u32) {
    let _ = a.fetch_update(Relaxed, Relaxed, |x| Some(x.saturating_sub(v)));
}

/// Subtracts `v` from `a`, stopping at 0.
fn sub_sat64(a: &StatU64, v: u64) {
    let _ = a.fetch_update(Relaxed, Relaxed, |x| Some(x.saturating_sub(v)));
}
