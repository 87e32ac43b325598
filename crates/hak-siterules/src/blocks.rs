//! [`SampledBlocks`]: the live sampled blocks' tags by block address, for
//! an allocator that has no room of its own for them.

use core::sync::atomic::{AtomicU64 as StatU64, Ordering::Relaxed};

use hak_os::sync::{AtomicU64, AtomicUsize, Ordering};

use crate::table::PROBE;
use crate::tag::SampleTag;

/// Key of a slot being filled.
const BUSY: usize = 1;

struct Slot {
    /// The block's address; 0 free, [`BUSY`] while its tag is written.
    key: AtomicUsize,
    /// The tag's words ([`SampleTag::to_raw`]), valid while `key` is an
    /// address.
    tag: [AtomicU64; 2],
}

impl Slot {
    hak_os::loom_const_fn! {
        fn new() -> Slot {
            Slot { key: AtomicUsize::new(0), tag: [AtomicU64::new(0), AtomicU64::new(0)] }
        }
    }
}

/// The tags of live sampled blocks, by block address: `M` slots (a power
/// of two, at least [`PROBE`]), lock-free, fixed size (24 bytes a slot),
/// with the same bounded window of [`PROBE`] slots as the site table.
///
/// Protocol: [`insert`](Self::insert) claims a free slot of the address's
/// window with one CAS 0 → BUSY (Acquire), writes the tag, then publishes
/// the address (Release). [`take`](Self::take) finds the address
/// (Acquire: the tag is complete), reads the tag and frees the slot with
/// one CAS address → 0 (Release), so of two takers of one address (a double
/// free) exactly one gets the tag. Freed slots are reused, so a lookup
/// reads the whole window (no early stop).
///
/// The allocator inserts right after a sampled allocation, before the
/// block is handed out, and takes on the block's `free` or `realloc`
/// (before the address can be handed out again), so an address is in the
/// table at most once.
///
/// ```
/// use hak_siterules::{SampledBlocks, SiteTable};
/// let t: SiteTable<64> = SiteTable::new();
/// let b: SampledBlocks<64> = SampledBlocks::new();
/// let tag = t.record_alloc(0x40_1000, 8192, 5).unwrap();
/// assert!(b.insert(0x7f00_0000_1000, tag));
/// assert_eq!(b.take(0x7f00_0000_1000), Some(tag));
/// assert_eq!(b.take(0x7f00_0000_1000), None, "taken once");
/// ```
pub struct SampledBlocks<const M: usize = 4096> {
    slots: [Slot; M],
    dropped: StatU64,
}

impl<const M: usize> SampledBlocks<M> {
    const VALID: () = assert!(M.is_power_of_two() && M >= PROBE, "M: a power of two, at least PROBE");
    const SHIFT: u32 = 64 - M.trailing_zeros();

    hak_os::loom_const_fn! {
        /// An empty map.
        pub fn new() -> Self {
            #[allow(clippy::let_unit_value)]
            let () = Self::VALID;
            SampledBlocks { slots: slots::<M>(), dropped: StatU64::new(0) }
        }
    }

    /// Makes an empty map (as [`new`](Self::new)) in the zeroed memory at
    /// `p`, without building it on the stack first (the default map is
    /// 96 KiB): an empty map is all zeros, so this writes nothing. For a
    /// map mapped only when it is needed.
    ///
    /// # Safety
    /// `p` is valid for `size_of::<Self>()` bytes, aligned for `Self`, all
    /// of them zero. (Not in loom builds, whose atomics are not plain
    /// words.)
    #[cfg(not(loom))]
    pub unsafe fn init_zeroed(p: *mut Self) {
        #[allow(clippy::let_unit_value)]
        let () = Self::VALID;
        let _ = p;
    }

    /// Whether every field is zero (tests of [`init_zeroed`](Self::init_zeroed)).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn all_fields_zero(&self) -> bool {
        self.dropped.load(Relaxed) == 0
            && self
                .slots
                .iter()
                .all(|s| s.key.load(Ordering::Relaxed) == 0 && s.tag.iter().all(|w| w.load(Ordering::Relaxed) == 0))
    }

    /// The home slot of `addr` (Fibonacci hash).
    #[inline(always)]
    pub(crate) fn home(addr: usize) -> usize {
        ((addr as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> Self::SHIFT) as usize
    }

    #[inline(always)]
    fn slot(&self, i: usize) -> &Slot {
        &self.slots[i & (M - 1)]
    }

    /// Keeps `tag` for the block at `addr` (any block address: not 0 or 1).
    /// False when the address's window is full (counted; the caller then
    /// withdraws the sample with [`SiteTable::forget`](crate::SiteTable::forget)).
    pub fn insert(&self, addr: usize, tag: SampleTag) -> bool {
        if addr <= BUSY {
            return false;
        }
        let h = Self::home(addr);
        let raw = tag.to_raw();
        for i in 0..PROBE {
            let s = self.slot(h + i);
            if s.key.load(Ordering::Relaxed) == 0
                && s.key.compare_exchange(0, BUSY, Ordering::Acquire, Ordering::Relaxed).is_ok()
            {
                s.tag[0].store(raw[0], Ordering::Relaxed);
                s.tag[1].store(raw[1], Ordering::Relaxed);
                s.key.store(addr, Ordering::Release);
                return true;
            }
        }
        self.dropped.fetch_add(1, Relaxed);
        false
    }

    /// Removes and returns the tag of the block at `addr`, if it is a
    /// sampled block: at most [`PROBE`] key loads when it is not.
    pub fn take(&self, addr: usize) -> Option<SampleTag> {
        if addr <= BUSY {
            return None;
        }
        let h = Self::home(addr);
        for i in 0..PROBE {
            let s = self.slot(h + i);
            if s.key.load(Ordering::Acquire) == addr {
                let raw = [s.tag[0].load(Ordering::Relaxed), s.tag[1].load(Ordering::Relaxed)];
                if s.key.compare_exchange(addr, 0, Ordering::Release, Ordering::Relaxed).is_ok() {
                    return Some(SampleTag::from_raw(raw));
                }
            }
        }
        None
    }

    /// Inserts that found no room.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Blocks held (reads every slot: for reports and tests).
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.key.load(Ordering::Relaxed) > BUSY).count()
    }

    /// Whether no block is held (reads every slot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<const M: usize> Default for SampledBlocks<M> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(not(loom))]
const fn slots<const M: usize>() -> [Slot; M] {
    [const { Slot::new() }; M]
}

#[cfg(loom)]
fn slots<const M: usize>() -> [Slot; M] {
    core::array::from_fn(|_| Slot::new())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::{SampleTag, SampledBlocks, SiteTable};

    /// `init_zeroed` relies on it: every field of an empty map is zero, and
    /// every field of an empty table but its young age (read field by
    /// field: the types' padding holds no value). Then one made in zeroed
    /// memory works as a new one does.
    #[test]
    fn zeroed_tables_are_empty() {
        let b: std::boxed::Box<SampledBlocks> = std::boxed::Box::default();
        assert!(b.all_fields_zero(), "an empty map has a field that is not zero");
        let t: std::boxed::Box<SiteTable> = std::boxed::Box::new(SiteTable::with_young_age(0));
        assert!(t.all_fields_zero(), "an empty table (young age 0) has a field that is not zero");
        // And one made in zeroed memory works as a new one does.
        let layout = std::alloc::Layout::new::<SiteTable>();
        // SAFETY: a non-zero size.
        let p = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<SiteTable>();
        assert!(!p.is_null());
        // SAFETY: zeroed, of the table's size and alignment, ours.
        let t = unsafe {
            SiteTable::init_zeroed(p, 77);
            &*p
        };
        assert_eq!(t.young_age(), 77);
        assert!(t.record_alloc(0x4000_1234, 300 << 10, 0).is_some());
        assert_eq!(t.stats().samples, 1);
        // SAFETY: allocated above with this layout; `t` is not used after.
        unsafe { std::alloc::dealloc(p.cast(), layout) };
    }

    #[test]
    fn a_full_window_refuses_and_freed_slots_are_reused() {
        let b: SampledBlocks<8> = SampledBlocks::new();
        let tag = |i: usize| SampleTag::from_raw([i as u64, 100 + i as u64]);
        // M = PROBE: every address shares the one window.
        for i in 0..8 {
            assert!(b.insert(0x1000 * (i + 1), tag(i)));
        }
        assert!(!b.insert(0x9000, tag(8)));
        assert_eq!((b.len(), b.dropped()), (8, 1));
        assert_eq!(b.take(0x3000), Some(tag(2)));
        assert!(b.insert(0x9000, tag(8)), "the freed slot is reused");
        for i in (0..8).filter(|&i| i != 2) {
            assert_eq!(b.take(0x1000 * (i + 1)), Some(tag(i)), "block {i}");
        }
        assert_eq!(b.take(0x9000), Some(tag(8)));
        assert!(b.is_empty());
        assert!(!b.insert(0, tag(0)) && !b.insert(1, tag(0)));
        assert_eq!(b.take(1), None);
    }
}
