//! hak-pool — hakmem's mid-size tiers.
//!
//! * **L2**: requests in (1 KiB, 32 KiB], twenty classes (four per power of
//!   two: 1280, 1536, 1792, 2048, 2560, …, 32768) in 256 KiB pages (8 blocks of
//!   the largest class; with 512 KiB pages the `churn-mixed` benchmark's
//!   peak RSS was 1.28x glibc's, with 256 KiB 1.22x at the same speed;
//!   docs/decisions/0008).
//! * **L2.5**: requests in (32 KiB, 1 MiB], twenty classes (40 KiB … 1 MiB)
//!   in 1 MiB pages (four per segment). A page holds 25 blocks of the
//!   smallest class and one of the largest, so the large classes return
//!   whole pages to the tier as soon as their blocks are freed and the
//!   memory serves any other class: per-class high-water marks do not add
//!   up (with 4 MiB pages the `mid` benchmark's peak RSS was 1.86x glibc's;
//!   docs/decisions/0008).
//!   A page that changes class keeps the memory the new class can use; the
//!   640 KiB class, whose one block leaves 384 KiB of the page unreachable,
//!   returns that tail, and takes the released page closest to its depth
//!   (see `hak_slab::SlabTier`'s page reuse).
//!
//! Both continue hak-tiny's classes on the slab grid
//! ([`hak_slab::classes`]): L2 takes its grid classes 20..40, L2.5 40..60.
//!
//! Together with hak-tiny (<= 1 KiB) and hak-bigcache (>= 1 MiB) the tiers
//! partition every size with no gap. Both are instances of the [`hak_slab`]
//! engine: per-thread heaps, no lock per operation, lock-free remote frees.
//! Pages are aligned to their size, so a block whose size is a multiple of a
//! power of two is aligned to it. Embedding works as for hak-tiny:
//!
//! ```
//! use hak_pool::{l25_class_of, l2_class_of, PoolHeap, L2, L25, L25_SIZES, L2_SIZES};
//!
//! assert!(hak_os::segmap::init());
//! // One heap per tier and thread, at a stable address.
//! let (mut l2, mut l25) = (Box::new(PoolHeap::uninit()), Box::new(PoolHeap::uninit()));
//! l2.init(&L2);
//! l25.init(&L25);
//! // SAFETY: initialised heaps of this thread; classes of their tiers.
//! let (a, b) = unsafe { (l2.alloc(l2_class_of(4096)), l25.alloc(l25_class_of(256 << 10))) };
//! assert_eq!(L2_SIZES[l2_class_of(4096)], 4096);
//! assert_eq!(L25_SIZES[l25_class_of(256 << 10)], 256 << 10);
//! // Blocks of a power-of-two size are aligned to it.
//! assert!(a as usize % 4096 == 0 && b as usize % (256 << 10) == 0);
//! // Free on the owning thread, through the segment map (another thread
//! // would call `hak_slab::free_remote(page, p)`).
//! for (heap, p) in [(&mut l2, a), (&mut l25, b)] {
//!     // SAFETY: `p` is a live block of `heap`'s tier.
//!     unsafe {
//!         let seg = &*hak_slab::seg_of_entry(hak_os::segmap::lookup(p as usize));
//!         heap.free(seg.page_of(p as usize), p);
//!     }
//! }
//! // SAFETY: the heaps are not used again.
//! unsafe {
//!     l2.abandon_all();
//!     l25.abandon_all();
//! }
//! ```
//!
//! The example `io_buffers` (`cargo run -p hak-pool --example io_buffers`)
//! is a per-thread pool of I/O buffers on these tiers.
#![no_std]
#![warn(missing_docs)]

use hak_slab::classes;
pub use hak_slab::{Heap as PoolHeap, SlabTier};

/// Largest request served by L2.
pub const L2_MAX: usize = 32 * 1024;
/// Largest request served by L2.5 (larger ones are big blocks).
pub const L25_MAX: usize = 1024 * 1024;

/// L2's first grid class ([`hak_slab::classes`]): the one after hak-tiny's
/// last.
const L2_FIRST: usize = classes::index(1024 + 1);
/// L2.5's first grid class.
const L25_FIRST: usize = classes::index(L2_MAX + 1);
const L2_CLASSES: usize = L25_FIRST - L2_FIRST;
const L25_CLASSES: usize = classes::index(L25_MAX) + 1 - L25_FIRST;
const _: () = assert!(L25_MAX == classes::MAX_SIZE);

/// Block sizes of the L2 classes.
pub static L2_SIZES: [u32; L2_CLASSES] = classes::sizes(L2_FIRST);
/// Block sizes of the L2.5 classes.
pub static L25_SIZES: [u32; L25_CLASSES] = classes::sizes(L25_FIRST);

hak_os::loom_const_fn! {
    /// A new L2 tier (router index 1, 256 KiB pages, the classes of
    /// [`L2_SIZES`]). [`L2`] is the process-wide one; loom models build
    /// their own.
    pub fn new_l2_tier() -> SlabTier {
        SlabTier::new("l2", 1, 18, &L2_SIZES)
    }
}

hak_os::loom_const_fn! {
    /// A new L2.5 tier (router index 2, 1 MiB pages, the classes of
    /// [`L25_SIZES`]). [`L25`] is the process-wide one; loom models build
    /// their own.
    pub fn new_l25_tier() -> SlabTier {
        SlabTier::new("l2.5", 2, 20, &L25_SIZES)
    }
}

/// The L2 tier (router index 1, 256 KiB pages). Not in loom builds.
#[cfg(not(loom))]
pub static L2: SlabTier = new_l2_tier();
/// The L2.5 tier (router index 2, 1 MiB pages). Not in loom builds.
#[cfg(not(loom))]
pub static L25: SlabTier = new_l25_tier();

/// Class boundaries of L2 are multiples of 256 and those of L2.5 multiples
/// of 8 KiB, so `(size - 1) >> GRAIN` indexes a 128-entry table.
const L2_GRAIN: u32 = 8;
const L25_GRAIN: u32 = 13;
const _: () = assert!(L2_MAX >> L2_GRAIN == 128 && L25_MAX >> L25_GRAIN == 128);

/// Entry `(size - 1) >> GRAIN` is for the sizes up to `(entry + 1) << GRAIN`.
static L2_CLASS: [u8; 128] = classes::table(L2_FIRST, L2_GRAIN, 1);
static L25_CLASS: [u8; 128] = classes::table(L25_FIRST, L25_GRAIN, 1);

/// The L2 class for `size` in (1024, [`L2_MAX`]] (one table load).
///
/// ```
/// use hak_pool::{l2_class_of, L2_MAX, L2_SIZES};
///
/// assert_eq!(L2_SIZES[l2_class_of(1025)], 1280);
/// assert_eq!(L2_SIZES[l2_class_of(3000)], 3072);
/// assert_eq!(L2_SIZES[l2_class_of(L2_MAX)] as usize, L2_MAX);
/// ```
#[inline(always)]
pub fn l2_class_of(size: usize) -> usize {
    L2_CLASS[((size - 1) >> L2_GRAIN) & 127] as usize
}

/// The L2.5 class for `size` in ([`L2_MAX`], [`L25_MAX`]] (one table load).
///
/// ```
/// use hak_pool::{l25_class_of, L25_MAX, L25_SIZES, L2_MAX};
///
/// assert_eq!(L25_SIZES[l25_class_of(L2_MAX + 1)], 40 << 10);
/// assert_eq!(L25_SIZES[l25_class_of(100 << 10)], 112 << 10);
/// assert_eq!(L25_SIZES[l25_class_of(L25_MAX)] as usize, L25_MAX);
/// ```
#[inline(always)]
pub fn l25_class_of(size: usize) -> usize {
    L25_CLASS[((size - 1) >> L25_GRAIN) & 127] as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The class of `size` by the quarter-class formula, for the tier whose
    /// classes start above `2^k0`.
    fn quarter_class(size: usize, k0: usize) -> usize {
        let s = size - 1;
        let k = (usize::BITS - 1 - s.leading_zeros()) as usize;
        (k - k0) * 4 + ((s >> (k - 2)) & 3)
    }

    #[test]
    fn tables_agree_with_the_formula() {
        for size in 1025..=L2_MAX {
            assert_eq!(l2_class_of(size), quarter_class(size, 10), "{size}");
        }
        for size in L2_MAX + 1..=L25_MAX {
            assert_eq!(l25_class_of(size), quarter_class(size, 15), "{size}");
        }
    }

    #[test]
    fn l2_classes_cover_their_range_tightly() {
        for size in 1025..=L2_MAX {
            let c = l2_class_of(size);
            let bs = L2_SIZES[c] as usize;
            assert!(bs >= size);
            assert!(c == 0 || (L2_SIZES[c - 1] as usize) < size);
        }
        assert_eq!(L2_SIZES[0], 1280);
        assert_eq!(L2_SIZES[19], 32768);
    }

    #[test]
    fn l25_classes_cover_their_range_tightly() {
        let mut size = L2_MAX + 1;
        while size <= L25_MAX {
            let c = l25_class_of(size);
            let bs = L25_SIZES[c] as usize;
            assert!(bs >= size, "{size}");
            assert!(c == 0 || (L25_SIZES[c - 1] as usize) < size);
            size += 97;
        }
        assert_eq!(l25_class_of(L25_MAX - 1), 19);
        assert_eq!(l25_class_of(L25_MAX), 19);
        assert_eq!(L25_SIZES[19] as usize, L25_MAX);
        assert_eq!(L25_SIZES[0], 40960);
    }
}
