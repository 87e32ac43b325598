//! Site rules (`HAKMEM_SITE_RULES`): the driver of `hak_siterules` — which
//! call sites allocate big long-lived blocks or blocks that `realloc`
//! grows, learned from sampled allocations, and those sites' later
//! requests served by mappings of their own (the big tier).
//!
//! * The site: the return address of the outermost allocator entry,
//!   captured by a naked shim ([`hak_os::with_return_address!`]) at the
//!   entry of the out-of-line functions the fast paths of `malloc` reach
//!   by a tail jump (`upkeep_then_alloc`, `alloc_routed_slow`) and at the
//!   entry of `realloc`. From C `malloc` it is `malloc`'s caller; where
//!   such a function is reached by `call` (`calloc`, `posix_memalign`,
//!   `realloc`'s own moves from C `realloc`, which calls the router's
//!   `realloc`), it is an address inside the entry point: one site for all
//!   its callers. From Rust's `GlobalAlloc` (inlined into the caller) it
//!   is the Rust caller's return address.
//! * Sampling at no fast-path cost: the allocation that finds the upkeep
//!   tick at zero (one in 1024 allocations and frees that find their bin
//!   full) is the sample. A sample above [`HINT_MIN_SIZE`] bytes, up to
//!   the largest slab size, is served by a mapping of its own (the thread
//!   cache never sees its free), recorded ([`SiteTable::record_alloc`]) and
//!   kept in [`SAMPLED`] by address; its `free` and `realloc` (big-block
//!   paths, one relaxed flag load when the feature is off) record its fate.
//!   No sample is taken while the big tier holds [`SAMPLE_MAX_LIVE`] live
//!   blocks.
//! * Hints, on the out-of-line paths only (a miss of the thread cache and
//!   the current page, or a `realloc` that moves a block): `Big` (from 256
//!   KiB) and `Grow` (from [`GROW_MAP_MIN`]) are served by a mapping of
//!   their own; `LongLived` is not acted on (no separate heap yet), `None`
//!   routes by size as usual.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use hak_os::diag::Line;
use hak_siterules::{Hint, SampledBlocks, SiteReport, SiteTable, HINT_MIN_SIZE};

use crate::alloc::alloc_big;
use crate::realloc::{attempt, REALLOC_MAP_MAX_LIVE};
use crate::MIN_ALIGN;

/// The learned sites.
pub(crate) static SITES: SiteTable = SiteTable::new();
/// The tags of live sampled blocks, by address.
pub(crate) static SAMPLED: SampledBlocks = SampledBlocks::new();

/// Whether site rules run (`HAKMEM_SITE_RULES`), set once by `init`.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// Allocations between two samples when not 0 (tests); 0: the upkeep
/// tick's interval.
static SAMPLE_TICKS: AtomicU32 = AtomicU32::new(0);

/// No sample is served by a mapping while the big tier holds this many
/// live blocks (a quarter of `realloc`'s cap): samples never make the
/// number of mappings grow without bound.
pub(crate) const SAMPLE_MAX_LIVE: usize = REALLOC_MAP_MAX_LIVE / 4;

/// A request of a `Grow` site is served by a mapping from this size (a
/// quarter of [`crate::REALLOC_MAP_MIN`]): smaller growing buffers (strings)
/// are many, and a mapping each would cost more than their copies.
pub const GROW_MAP_MIN: usize = 64 * 1024;

/// Turns site rules on (from `init`).
pub(crate) fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether site rules run.
#[inline(always)]
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Samples about one allocation in `ticks` (at least [`MIN_SAMPLE_TICKS`];
/// 0: one in 1024, the upkeep interval) instead of one in 1024, for tests
/// that cannot make thousands of allocations per sample. Also shortens the
/// upkeep interval of the threads sampling.
#[doc(hidden)]
pub fn set_site_sample_ticks(ticks: u32) {
    let ticks = if ticks == 0 { 0 } else { ticks.max(MIN_SAMPLE_TICKS) };
    SAMPLE_TICKS.store(ticks, Ordering::Relaxed);
}

/// The shortest sampling interval: an allocation that is not sampled
/// counts two more ticks (its fast path, then its routed slow path) before
/// a thread without a context makes one, so the tick must not run out
/// again in between.
const MIN_SAMPLE_TICKS: u32 = 4;

/// The sampled allocation of `size` bytes from `site` (called when the
/// upkeep tick runs out, with site rules on): a block in a mapping of its
/// own, recorded; null when the request is not sampled (too small or too
/// big, no site, too many mappings, no memory).
#[cold]
pub(crate) fn sample(size: usize, site: usize) -> *mut u8 {
    let ticks = SAMPLE_TICKS.load(Ordering::Relaxed);
    if ticks != 0 {
        crate::tls::set_tick(ticks);
    }
    if size <= HINT_MIN_SIZE || size > hak_pool::L25_MAX || site == 0 || hak_bigcache::live() >= SAMPLE_MAX_LIVE {
        return core::ptr::null_mut();
    }
    let p = attempt(|| alloc_big(size, MIN_ALIGN, false));
    if p.is_null() {
        return p;
    }
    if let Some(tag) = SITES.record_alloc(site, size, hak_os::now_ms()) {
        if !SAMPLED.insert(p as usize, tag) {
            SITES.forget(tag);
        }
    }
    p
}

/// A block of `size` bytes in a mapping of its own when `site` has a
/// `Big` or `Grow` hint for that size (and the big tier has room), else
/// null. One relaxed flag load when site rules are off.
#[inline]
pub(crate) fn hinted(size: usize, site: usize) -> *mut u8 {
    if !enabled() || size <= HINT_MIN_SIZE {
        return core::ptr::null_mut();
    }
    hinted_slow(size, site)
}

#[cold]
#[inline(never)]
fn hinted_slow(size: usize, site: usize) -> *mut u8 {
    let map = match SITES.hint(site, size) {
        Hint::Big => true,
        Hint::Grow => size >= GROW_MAP_MIN,
        Hint::LongLived | Hint::None => false,
    };
    if !map || hak_bigcache::live() >= REALLOC_MAP_MAX_LIVE {
        return core::ptr::null_mut();
    }
    attempt(|| alloc_big(size, MIN_ALIGN, false))
}

/// Records the free of big block `p` if it is a sampled block (site rules
/// on).
#[cold]
pub(crate) fn on_free_big(p: *mut u8) {
    if let Some(tag) = SAMPLED.take(p as usize) {
        SITES.record_free(tag, hak_os::now_ms());
    }
}

/// Records the resize of big block `old`, now at `new` with `new_size`
/// bytes, if it is a sampled block (site rules on).
#[cold]
pub(crate) fn on_realloc_big(old: *mut u8, new: *mut u8, new_size: usize) {
    if let Some(mut tag) = SAMPLED.take(old as usize) {
        SITES.record_realloc(&mut tag, new_size);
        if !SAMPLED.insert(new as usize, tag) {
            SITES.forget(tag);
        }
    }
}

/// How many sites [`print_stats`] lists.
const TOP: usize = 8;

/// The table's totals and its most sampled sites for `HAKMEM_STATS=1`;
/// nothing when site rules are off.
pub(crate) fn print_stats(fd: i32) {
    if !enabled() {
        return;
    }
    let mut l = Line::new();
    l.s("hakmem: ");
    SITES.stats().write(&mut l);
    l.s(" sampled_live=").u(SAMPLED.len() as u64).s(" sampled_dropped=").u(SAMPLED.dropped());
    l.s("\n").emit_to(fd);
    let mut top = [SiteReport::default(); TOP];
    let n = SITES.top(&mut top);
    for r in top.iter().take(n) {
        let mut l = Line::new();
        l.s("hakmem: ");
        r.write(&mut l);
        l.s("\n").emit_to(fd);
    }
}

/// Site rules' totals (tests): samples recorded (net of withdrawn ones),
/// frees of sampled blocks recorded, sampled blocks still tracked.
#[doc(hidden)]
pub fn site_stats() -> (u64, u64, usize) {
    let st = SITES.stats();
    (st.samples, st.frees, SAMPLED.len())
}
