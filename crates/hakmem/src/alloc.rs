//! Allocation: routing a size to its tier and class, the fast path (the
//! thread's block cache, then its heap's current page), the slow paths,
//! zeroed and big allocations.

use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

use hak_slab::{classes, Cache, Heap};

use crate::ctx::{ctx_slow, upkeep_then_alloc, GLOBAL};
use crate::init::init;
use crate::{tls, Tier, MIN_ALIGN, SLAB_TIERS};

// Routing limits (exclusive upper bounds). A tier switched off by the
// configuration gets the limit of the tier below it, so its sizes fall
// through to the next tier up.
pub(crate) static TINY_LIMIT: AtomicUsize = AtomicUsize::new(hak_tiny::MAX_SIZE + 1);
pub(crate) static L2_LIMIT: AtomicUsize = AtomicUsize::new(hak_pool::L2_MAX + 1);
pub(crate) static L25_LIMIT: AtomicUsize = AtomicUsize::new(hak_pool::L25_MAX + 1);

/// The tier serving `size` under the configuration, and its class there
/// (0 for [`Tier::Big`]): the tiers' own class tables.
#[inline(always)]
pub(crate) fn route(size: usize) -> (Tier, usize) {
    if size < TINY_LIMIT.load(Ordering::Relaxed) {
        (Tier::Tiny, hak_tiny::class_of(size))
    } else if size < L2_LIMIT.load(Ordering::Relaxed) {
        (Tier::L2, hak_pool::l2_class_of(size.max(hak_tiny::MAX_SIZE + 1)))
    } else if size < L25_LIMIT.load(Ordering::Relaxed) {
        (Tier::L25, hak_pool::l25_class_of(size.max(hak_pool::L2_MAX + 1)))
    } else {
        (Tier::Big, 0)
    }
}

/// Allocates from slab tier `tier` (not [`Tier::Big`]), class `class`,
/// through the thread's context or the global heaps.
#[cold]
#[inline(never)]
pub(crate) fn alloc_slow(tier: Tier, class: usize) -> *mut u8 {
    let p = alloc_slow_once(tier, class);
    if p.is_null() && release_cached_mappings() {
        return alloc_slow_once(tier, class);
    }
    p
}

/// After an allocation failed for want of a mapping: gives back what
/// hakmem holds and says whether anything was, so that the caller tries
/// once more. The calling thread's cached blocks go back to their pages
/// (pages of other classes may then be empty, and any class can take an
/// empty page of its tier), its empty pages go back to their tiers, every
/// tier's empty pages are decommitted and the big-block cache's mappings
/// are unmapped ([`crate::trim`]): under `RLIMIT_AS` their address space
/// may be what the kernel lacks, under a commit limit their pages, and
/// they would keep them until other frees evict them.
#[cold]
fn release_cached_mappings() -> bool {
    // What trim gives back that a retry can use: blocks cached by this
    // thread, empty pages, cached mappings.
    let c = tls::ctx();
    // SAFETY: a live context is this thread's; `cached` only reads it.
    let cached_blocks = crate::ctx::live(c) && unsafe { Cache::cached(ptr::addr_of_mut!((*c).cache)) } != 0;
    let had = cached_blocks || hak_bigcache::cached().0 != 0;
    let mut returned = false;
    // The system calls of a trim must not change errno: the caller reports
    // the failure (or the retry succeeds and reports nothing).
    hak_os::map::quiet(|| {
        returned = crate::trim();
        false
    });
    had || returned
}

fn alloc_slow_once(tier: Tier, class: usize) -> *mut u8 {
    let c = ctx_slow();
    if !c.is_null() {
        // SAFETY: a live context of this thread; class is valid for the tier.
        unsafe {
            // Before the page slow path: a bin of the class that another
            // thread handed over (decision 0052).
            let cache = ptr::addr_of_mut!((*c).cache);
            if Cache::take(cache, tier.slot(class)) {
                let b = Cache::pop(cache, tier.slot(class));
                if !b.is_null() {
                    return b;
                }
            }
            return (*c).heaps[tier as usize].alloc(class);
        }
    }
    let mut g = GLOBAL.lock();
    let token = &g.0 as *const [Heap; SLAB_TIERS] as usize;
    let h = &mut g.0[tier as usize];
    if !h.is_init() {
        h.init_with_token(tier.slab(), token);
    }
    // SAFETY: the global heap is used under its lock only.
    unsafe { h.alloc(class) }
}

/// Allocates `size` bytes, 16-byte aligned; null when out of memory or when
/// `size` exceeds `isize::MAX`. `alloc(0)` returns a unique block.
#[inline(always)]
pub fn alloc(size: usize) -> *mut u8 {
    alloc_or_report(size, no_report)
}

pub(crate) fn no_report() {}

/// [`alloc`], calling `on_null` before returning null (the C layer passes a
/// function that sets `errno`). Every miss leaves through a tail call, so the
/// fast path needs no stack frame: 17 instructions for a cache hit up to
/// 32 KiB.
#[inline(always)]
pub fn alloc_or_report(size: usize, on_null: fn()) -> *mut u8 {
    // Tiny and L2 sizes first, against a constant: if either tier is
    // switched off its heaps never get pages nor its bins blocks, the fast
    // path misses and the slow path routes by configuration.
    if size <= hak_pool::L2_MAX {
        // SAFETY: SLOT_OF holds the slot of the tiny or L2 class of each
        // size.
        if let Some(p) = unsafe { try_heap(SLOT_OF[size] as usize, size, on_null) } {
            return p;
        }
        return alloc_routed_slow(size, on_null);
    }
    alloc_mid_report(size, on_null)
}

/// The cache slot of the tiny or L2 class of every size up to
/// [`hak_pool::L2_MAX`], indexed by the size itself: `SLOT_OF[size]`
/// (`malloc(0)` gets the smallest class). Built from [`slab_slot`] at
/// compile time; one load instead of a branch between the tiers. 32 KiB of
/// read-only data, shared by every thread: indexed by the size, not by its
/// 16-byte step (`(size + 15) >> 4`, every class boundary being a multiple
/// of 16), it saves the two instructions of the step (decision 0046); a
/// program's sizes touch one line of it per 64 consecutive sizes.
static SLOT_OF: [u8; hak_pool::L2_MAX + 1] = slot_table();

const fn slot_table() -> [u8; hak_pool::L2_MAX + 1] {
    let mut t = [0u8; hak_pool::L2_MAX + 1];
    let mut i = 0;
    while i < t.len() {
        t[i] = slab_slot(if i == 0 { 1 } else { i }) as u8;
        i += 1;
    }
    t
}

/// The fast path shared by every slab size: the calling thread's cache
/// pops a block of cache slot `slot` (tier `slot / MAX_CLASSES`, class
/// `slot % MAX_CLASSES`), else that tier's heap pops its current page.
/// `None` on a miss (an empty current page, or a thread without a context:
/// its dormant record misses both). When the upkeep tick (shared with
/// frees that find their bin full) runs out, it runs the upkeep instead
/// and returns that allocation's final result.
///
/// # Safety
/// `slot` names a class of a slab tier holding `size` bytes.
#[inline(always)]
pub(crate) unsafe fn try_heap(slot: usize, size: usize, on_null: fn()) -> Option<*mut u8> {
    let t = tls::block();
    let c = tls::ctx_at(t);
    tls::on_tick!(t, {
        return Some(upkeep_then_alloc(size, on_null));
    });
    // SAFETY: `c` is this thread's live context or a dormant record, which
    // both reads leave unwritten on a miss; per contract for the slot.
    unsafe {
        let b = Cache::pop(ptr::addr_of_mut!((*c).cache), slot);
        if !b.is_null() {
            return Some(b);
        }
        // The tier's index (a `Tier` as usize) and the class within it.
        let tier = slot / hak_slab::MAX_CLASSES;
        let p = (*c).heaps.get_unchecked(tier).try_alloc(slot - tier * hak_slab::MAX_CLASSES);
        if p.is_null() {
            None
        } else {
            Some(p)
        }
    }
}

/// Sizes above L2's: L2.5 by its class table, against a constant bound (as
/// for smaller sizes, a tier switched off never gets pages or cached
/// blocks, so its sizes miss and the slow path routes them by
/// configuration); bigger ones are big blocks.
///
/// The bound is [`MID_FAST_LIMIT`] (a load in the compare, no instruction
/// more than a constant): with site rules on it excludes every L2.5 size,
/// so those requests and big ones leave by a tail jump to the site rules'
/// trampoline, which finds `malloc`'s caller at `[rsp]` (`sites.rs`).
#[inline(never)]
fn alloc_mid_report(size: usize, on_null: fn()) -> *mut u8 {
    if size < MID_FAST_LIMIT.load(Ordering::Relaxed) {
        return alloc_l25(size, on_null);
    }
    // SAFETY: the trampoline forwards two register arguments.
    unsafe { crate::sites::alloc_mid(size, on_null) }
}

/// Sizes above L2's and below this take the L2.5 fast path of
/// `alloc_mid_report`: `L25_MAX + 1`, or `L2_MAX + 1` while site rules
/// run (set once by `init`).
pub(crate) static MID_FAST_LIMIT: AtomicUsize = AtomicUsize::new(hak_pool::L25_MAX + 1);

/// The L2.5 fast path and the routed slow path, without site rules (from
/// the site rules' trampoline).
#[inline(always)]
pub(crate) fn alloc_mid_plain(size: usize, on_null: fn()) -> *mut u8 {
    if size <= hak_pool::L25_MAX {
        return alloc_l25(size, on_null);
    }
    alloc_routed_slow(size, on_null)
}

/// An L2.5 request (`size` in (L2_MAX, L25_MAX]): its heap's fast path,
/// else the routed slow path.
#[inline(always)]
fn alloc_l25(size: usize, on_null: fn()) -> *mut u8 {
    debug_assert!(size > hak_pool::L2_MAX && size <= hak_pool::L25_MAX);
    // SAFETY: `size` is in (L2_MAX, L25_MAX] (both callers test it), so
    // the index is below L25_MAX >> 13 = the table's length; the slot is
    // that of an L2.5 class holding `size` bytes.
    if let Some(p) = unsafe { try_heap(*L25_SLOT_OF.get_unchecked((size - 1) >> L25_STEP) as usize, size, on_null) } {
        return p;
    }
    alloc_routed_slow(size, on_null)
}

/// L2.5 class boundaries are multiples of `1 << L25_STEP` (8 KiB).
const L25_STEP: u32 = 13;

/// The cache slot of the L2.5 class of every size in (L2_MAX, L25_MAX], by
/// `(size - 1) >> L25_STEP`: the router's copy of hak-pool's class table,
/// indexed without its mask (the callers bound the size; one instruction
/// fewer, decision 0046). Entries below L2_MAX's are not used.
static L25_SLOT_OF: [u8; hak_pool::L25_MAX >> L25_STEP] = l25_slot_table();

const fn l25_slot_table() -> [u8; hak_pool::L25_MAX >> L25_STEP] {
    let mut t = [0u8; hak_pool::L25_MAX >> L25_STEP];
    let mut i = 0;
    while i < t.len() {
        // The largest size of the step, in the same class as the others.
        t[i] = slab_slot((i + 1) << L25_STEP) as u8;
        i += 1;
    }
    t
}

/// A miss of the fast paths (tail-called: the hit paths have no frame):
/// routes `size` by configuration and tries [`try_heap`] for the routed
/// class, else takes its tier's slow path, or makes it a big block. (With a
/// tier switched off, the fast paths look in the bins of the tier the
/// default grid names, which stay empty; the bin looked at here is the one
/// the blocks of the serving tier are freed into.)
#[cold]
#[inline(never)]
pub(crate) fn alloc_routed_slow(size: usize, on_null: fn()) -> *mut u8 {
    // Secure mode is decided at init: read it after.
    init();
    if crate::secure::on() {
        let p = crate::secure::alloc(size);
        if p.is_null() {
            on_null();
        }
        return p;
    }
    let (tier, class) = route(size);
    if tier != Tier::Big {
        // SAFETY: route gives a class of its tier.
        if let Some(p) = unsafe { try_heap(tier.slot(class), size, on_null) } {
            return p;
        }
    }
    let p = if tier != Tier::Big { alloc_slow(tier, class) } else { alloc_big(size, MIN_ALIGN, false) };
    if p.is_null() {
        on_null();
    }
    p
}

/// A big block of `size` bytes (secure mode adds its canaries).
#[cold]
pub(crate) fn alloc_big(size: usize, align: usize, zero: bool) -> *mut u8 {
    init();
    if crate::secure::on() {
        return crate::secure::alloc_big(size, align, zero);
    }
    alloc_big_raw(size, align, zero)
}

/// [`alloc_big`] without secure mode's canaries.
#[cold]
pub(crate) fn alloc_big_raw(size: usize, align: usize, zero: bool) -> *mut u8 {
    if size > isize::MAX as usize {
        return ptr::null_mut();
    }
    init();
    crate::learn::count_big();
    crate::pressure::poll();
    let p = hak_bigcache::alloc(size, align, zero);
    if p.is_null() && release_cached_mappings() {
        return hak_bigcache::alloc(size, align, zero);
    }
    p
}

/// Like [`alloc`], with the first `size` bytes zeroed.
pub fn alloc_zeroed(size: usize) -> *mut u8 {
    let (tier, _) = route(size);
    if tier == Tier::Big {
        return alloc_big(size, MIN_ALIGN, true);
    }
    let p = alloc(size);
    if !p.is_null() {
        // SAFETY: the block holds at least `size` bytes.
        unsafe { ptr::write_bytes(p, 0, size) };
    }
    p
}

/// Classes of each slab tier: the slab grid ([`hak_slab::classes`]) in
/// three runs of the same length, the tiny classes first, then L2's, then
/// L2.5's, so grid class `k` is class `k - tier × TIER_CLASSES` of tier
/// `k / TIER_CLASSES`.
const TIER_CLASSES: usize = hak_tiny::SIZES.len();
const _: () = assert!(
    hak_pool::L2_SIZES.len() == TIER_CLASSES
        && hak_pool::L25_SIZES.len() == TIER_CLASSES
        && SLAB_TIERS * TIER_CLASSES == classes::COUNT
        && hak_pool::L25_MAX == classes::MAX_SIZE
);

/// The cache slot (tier × `MAX_CLASSES` + class) of the class that serves
/// `size` (1..=1 MiB) when every slab tier is on, from its grid class
/// ([`classes::index`]) with no branch between tiers.
#[inline(always)]
pub(crate) const fn slab_slot(size: usize) -> usize {
    let k = classes::index(size);
    // The tier's index (a `Tier` as usize), by comparisons.
    let tier = (k >= TIER_CLASSES) as usize + (k >= 2 * TIER_CLASSES) as usize;
    hak_slab::slot(tier, k - tier * TIER_CLASSES)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `slab_slot` names, for every size up to 1 MiB, the tightest class
    /// of the tier that serves it with every slab tier on, and `SLOT_OF`
    /// agrees with it up to 32 KiB.
    #[test]
    fn the_slab_slot_is_the_tightest_class_of_the_serving_tier() {
        let grids: [&[u32]; 3] = [&hak_tiny::SIZES, &hak_pool::L2_SIZES, &hak_pool::L25_SIZES];
        let limits = [hak_tiny::MAX_SIZE, hak_pool::L2_MAX, hak_pool::L25_MAX];
        for size in 1..=hak_pool::L25_MAX {
            let slot = slab_slot(size);
            let tier = limits.iter().position(|&l| size <= l).unwrap();
            assert_eq!(slot / hak_slab::MAX_CLASSES, tier, "size {size}: slot {slot} not in tier {tier}");
            let c = slot % hak_slab::MAX_CLASSES;
            let sizes = grids[tier];
            assert!(c < sizes.len() && sizes[c] as usize >= size, "size {size}: class {c} of tier {tier} too small");
            assert!(c == 0 || (sizes[c - 1] as usize) < size, "size {size}: class {c} of tier {tier} not the tightest");
            if let Some(&s) = SLOT_OF.get(size) {
                assert_eq!(s as usize, slot, "SLOT_OF for size {size}");
            }
        }
        assert_eq!(SLOT_OF[0], 0, "malloc(0) is a block of the smallest class");
    }

    /// The tiers' class tables (`class_of`, `l2_class_of`, `l25_class_of`,
    /// through `route`), their class sizes and the router's index (the
    /// grid's, `SLOT_OF`, `L25_SLOT_OF`) agree for every size up to 1 MiB.
    #[test]
    fn the_tiers_tables_and_the_routers_index_agree() {
        // No configuration applied in unit tests: every slab tier is on.
        for size in 0..=hak_pool::L25_MAX {
            let (tier, class) = route(size);
            assert!(tier != Tier::Big, "size {size}");
            assert_eq!(tier.slab().class_size(class), classes::size(classes::index(size.max(1))), "size {size}");
            assert_eq!(tier.slot(class), slab_slot(size.max(1)), "size {size}");
            if size <= hak_pool::L2_MAX {
                assert_eq!(SLOT_OF[size] as usize, tier.slot(class), "SLOT_OF for size {size}");
            } else {
                let s = L25_SLOT_OF[(size - 1) >> L25_STEP] as usize;
                assert_eq!(s, tier.slot(class), "L25_SLOT_OF for size {size}");
            }
        }
        assert_eq!(route(hak_pool::L25_MAX + 1).0, Tier::Big);
        for t in Tier::SLAB {
            assert_eq!(t.slab().index(), t as u32, "{t:?}");
            for c in 0..t.slab().sizes().len() {
                assert_eq!(t.slab().class_size(c), classes::size(t as usize * TIER_CLASSES + c), "{t:?} class {c}");
            }
        }
    }
}
