//! Aligned allocation: the plain allocation of the rounded size when the
//! class grid guarantees the alignment, else a search for an aligned class
//! or a big block.

use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::alloc::{
    alloc_big, alloc_or_report, alloc_routed_slow, alloc_slow, no_report, route, slab_slot, try_heap, L25_LIMIT,
    L2_LIMIT, TINY_LIMIT,
};
use crate::init::init;
use crate::{Tier, MIN_ALIGN};

/// Allocates `size` bytes aligned to `align` (any power of two); null when
/// out of memory or `align` is not a power of two.
pub fn alloc_aligned(size: usize, align: usize) -> *mut u8 {
    if !align.is_power_of_two() {
        return ptr::null_mut();
    }
    alloc_aligned_or_report(size, align, no_report)
}

/// Whether every slab tier is on, so that [`alloc_aligned_or_report`] may
/// serve an aligned request as a plain one (set by [`init`]).
pub(crate) static ALIGNED_BY_CLASS: AtomicBool = AtomicBool::new(false);

/// [`alloc_aligned`] for an `align` known to be a power of two, calling
/// `on_null` before returning null (the C layer's `errno`).
///
/// A slab block whose size is a multiple of `align` is aligned (pages are
/// aligned to their size, which exceeds every block size), and with the
/// class grids of the slab tiers (16-byte steps to 128 B, then four classes
/// per power of two) the class of `size` rounded up to `align` always has
/// such a block size: either the rounded size is itself a class size, or
/// `align` is smaller than the grid's step there, which divides every class
/// size. So when every slab tier is on, an aligned request up to 1 MiB is
/// the plain allocation of the rounded size, fast path included
/// (`api.rs::aligned_fast_path_classes_are_multiples` checks the claim for
/// every size and alignment). Otherwise the slow path searches.
#[inline(always)]
pub fn alloc_aligned_or_report(size: usize, align: usize, on_null: fn()) -> *mut u8 {
    // No test of `align <= MIN_ALIGN` first: rounding to a small alignment
    // changes no class, and a program mixing alignments mispredicts it.
    // This is a safe function, so an `align` that is not a power of two
    // must not break it: with 0, `mask` is the largest value and the
    // saturating bound admits no size; otherwise `size + mask` cannot
    // overflow, and `rounded - 1 < L25_MAX` also rejects a `rounded` of 0.
    let mask = align.wrapping_sub(1);
    if size <= (isize::MAX as usize).saturating_sub(mask) && ALIGNED_BY_CLASS.load(Ordering::Relaxed) {
        let rounded = size.max(1).wrapping_add(mask) & !mask;
        if rounded.wrapping_sub(1) < hak_pool::L25_MAX {
            // SAFETY: the slot of the class serving `rounded` when every
            // slab tier is on, which ALIGNED_BY_CLASS says.
            if let Some(p) = unsafe { try_heap(slab_slot(rounded), rounded, on_null) } {
                return p;
            }
            return alloc_routed_slow(rounded, on_null);
        }
    }
    alloc_aligned_slow(size, align, on_null)
}

/// [`alloc_aligned_or_report`] beyond its fast path: big alignments, a slab
/// tier switched off, before initialisation, impossible sizes.
#[cold]
#[inline(never)]
fn alloc_aligned_slow(size: usize, align: usize, on_null: fn()) -> *mut u8 {
    if align <= MIN_ALIGN {
        return alloc_or_report(size, on_null);
    }
    let p = alloc_aligned_search(size, align);
    if p.is_null() {
        on_null();
    }
    p
}

fn alloc_aligned_search(size: usize, align: usize) -> *mut u8 {
    if size > (isize::MAX as usize).saturating_sub(align - 1) {
        return ptr::null_mut();
    }
    init();
    // Secure mode: a class holding the trailer too (`crate::secure`).
    let secure = crate::secure::on();
    let asked = size;
    let size = if secure { size + hak_slab::secure::TRAILER } else { size };
    let rounded = (size.max(1) + align - 1) & !(align - 1);
    let (tier, class) = route(rounded);
    if tier != Tier::Big {
        let (t, c) = if tier.slab().class_size(class) & (align - 1) == 0 {
            (tier, class)
        } else {
            match aligned_class_search(size, align) {
                Some(tc) => tc,
                None => return alloc_big(asked, align, false),
            }
        };
        if secure {
            return crate::secure::alloc_class(t, c, asked, align);
        }
        return alloc_slow(t, c);
    }
    alloc_big(asked, align, false)
}

/// The smallest enabled slab class holding `size` bytes whose block size is a
/// multiple of `align`, if any.
#[cold]
fn aligned_class_search(size: usize, align: usize) -> Option<(Tier, usize)> {
    let (tier, class) = route(size);
    if tier == Tier::Big {
        return None;
    }
    let tiny_on = TINY_LIMIT.load(Ordering::Relaxed) > 0;
    let l2_on = L2_LIMIT.load(Ordering::Relaxed) > TINY_LIMIT.load(Ordering::Relaxed);
    let l25_on = L25_LIMIT.load(Ordering::Relaxed) > L2_LIMIT.load(Ordering::Relaxed);
    let from = |t: Tier| if t == tier { class } else { 0 };
    let search = |t: Tier| {
        let sizes = t.slab().sizes();
        (from(t)..sizes.len()).find(|&c| sizes[c] as usize & (align - 1) == 0).map(|c| (t, c))
    };
    let mut found = None;
    if tier == Tier::Tiny && tiny_on {
        found = search(Tier::Tiny);
    }
    if found.is_none() && tier <= Tier::L2 && l2_on {
        found = search(Tier::L2);
    }
    if found.is_none() && l25_on {
        found = search(Tier::L25);
    }
    found
}
