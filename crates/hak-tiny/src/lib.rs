//! hak-tiny — hakmem's tier for blocks of 0..=1024 bytes.
//!
//! Twenty size classes: 16-byte steps up to 128 bytes, then four classes per
//! power of two (160, 192, 224, 256, 320, …, 1024), so no request wastes more
//! than 25 % (the old allocator's eight power-of-two classes wasted up to 50 %).
//! They are the first twenty classes of the slab grid
//! ([`hak_slab::classes`]), which the pool tiers continue.
//! Blocks come from 64 KiB pages of the [`hak_slab`] engine; every block is
//! 16-byte aligned and blocks whose size is a multiple of a larger power of
//! two are aligned to it (pages are 64 KiB aligned).
//!
//! Embedding: keep one [`TinyHeap`] per thread, initialised with
//! `heap.init(&TINY)`; allocate with `heap.alloc(class_of(size))`; free by
//! looking the pointer up in the segment map (`hak_os::segmap::lookup`), then
//! [`hak_slab::SegMeta::page_of`], then `heap.free(page, p)` (local, adopting
//! an abandoned page, or remote), or [`hak_slab::free_remote`] from a thread
//! without a heap; call `heap.abandon_all()` when the thread exits.
//!
//! ```
//! use hak_tiny::{class_of, TinyHeap, SIZES, TINY};
//!
//! assert!(hak_os::segmap::init());
//! // A heap must not move once it owns pages: box it (or make it a static).
//! let mut heap = Box::new(TinyHeap::uninit());
//! heap.init(&TINY);
//! let class = class_of(100);
//! assert_eq!(SIZES[class], 112);
//! // SAFETY: an initialised heap used by this thread only; a class of the tier.
//! let p = unsafe { heap.alloc(class) };
//! assert!(!p.is_null() && p as usize % 16 == 0);
//! // SAFETY: `p` holds 112 bytes.
//! unsafe { p.write_bytes(0xAB, 112) };
//! // Free: the segment map names the block's segment record, which names its page.
//! // SAFETY: `p` is a live block of this heap's tier.
//! unsafe {
//!     let seg = &*hak_slab::seg_of_entry(hak_os::segmap::lookup(p as usize));
//!     heap.free(seg.page_of(p as usize), p);
//! }
//! // The next block of that class comes from the same page, but is not the
//! // one freed last (which goes second on its page's free list), so that a
//! // stale free of `p` would be reported, not free `q`.
//! // SAFETY: as above.
//! let q = unsafe { heap.alloc(class) };
//! assert!(q != p && q as usize / 65536 == p as usize / 65536);
//! # unsafe {
//! #     let seg = &*hak_slab::seg_of_entry(hak_os::segmap::lookup(q as usize));
//! #     heap.free(seg.page_of(q as usize), q);
//! # }
//! // At thread exit: empty pages go back to the tier, the others are abandoned.
//! // SAFETY: the heap is not used again.
//! unsafe { heap.abandon_all() };
//! ```
//!
//! The example `tiny_global` (`cargo run -p hak-tiny --example tiny_global`)
//! builds a `#[global_allocator]` on this tier.
#![no_std]
#![warn(missing_docs)]

use hak_slab::classes;
pub use hak_slab::{Heap as TinyHeap, SlabTier};

/// Largest request served by this tier.
pub const MAX_SIZE: usize = 1024;

/// This tier's classes: grid classes ([`hak_slab::classes`]) 0 up to the
/// one of [`MAX_SIZE`].
const CLASSES: usize = classes::index(MAX_SIZE) + 1;

/// Block size of every class, ascending.
pub static SIZES: [u32; CLASSES] = classes::sizes(0);

hak_os::loom_const_fn! {
    /// A new tiny tier (router index 0, 64 KiB pages, the classes of
    /// [`SIZES`]). [`TINY`] is the process-wide one; loom models, which need
    /// fresh state for every execution, build their own.
    pub fn new_tier() -> SlabTier {
        SlabTier::new("tiny", 0, 16, &SIZES)
    }
}

/// The tiny tier (router index 0, 64 KiB pages). Not in loom builds (see
/// [`new_tier`]).
#[cfg(not(loom))]
pub static TINY: SlabTier = new_tier();

/// Class of every size 0..=1024, indexed by the size itself (one load on
/// the fast path).
static CLASS_OF: [u8; MAX_SIZE + 1] = classes::table(0, 0, 0);

/// The class serving `size` bytes (`size <= MAX_SIZE`; larger sizes return
/// the last class, so check first).
///
/// ```
/// use hak_tiny::{class_of, MAX_SIZE, SIZES};
///
/// assert_eq!(SIZES[class_of(0)], 16);
/// assert_eq!(SIZES[class_of(17)], 32);
/// assert_eq!(SIZES[class_of(129)], 160); // four classes per power of two above 128
/// assert_eq!(SIZES[class_of(MAX_SIZE)] as usize, MAX_SIZE);
/// ```
#[inline(always)]
pub fn class_of(size: usize) -> usize {
    if size < CLASS_OF.len() {
        CLASS_OF[size] as usize
    } else {
        SIZES.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_fits_its_class_with_bounded_waste() {
        for size in 0..=MAX_SIZE {
            let c = class_of(size);
            let bs = SIZES[c] as usize;
            assert!(bs >= size, "size {size} class {c} block {bs}");
            if c > 0 {
                assert!((SIZES[c - 1] as usize) < size, "size {size} could use a smaller class");
            }
            // 16-byte steps up to 128, then at most a quarter of the block.
            assert!(bs - size <= 16 || (bs - size) * 4 <= bs, "size {size} wastes too much in {bs}");
        }
    }

    /// The smallest class holding `size` bytes whose blocks are aligned to
    /// `align`, if any.
    fn class_for_aligned(size: usize, align: usize) -> Option<usize> {
        if size > MAX_SIZE {
            return None;
        }
        (class_of(size)..SIZES.len()).find(|&c| (SIZES[c] as usize).is_multiple_of(align))
    }

    #[test]
    fn aligned_classes_are_multiples() {
        for shift in 4..=10 {
            let a = 1usize << shift;
            for size in [1, a / 2, a, a + 1, 1000] {
                if let Some(c) = class_for_aligned(size, a) {
                    assert_eq!(SIZES[c] as usize % a, 0);
                    assert!(SIZES[c] as usize >= size);
                }
            }
        }
        assert_eq!(class_for_aligned(100, 1024), Some(19));
        assert_eq!(class_for_aligned(1025, 16), None);
    }
}
