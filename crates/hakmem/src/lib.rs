//! hakmem — a general-purpose memory allocator.
//!
//! This crate is the router over hakmem's tiers:
//!
//! | request            | tier                     | crate          |
//! |--------------------|--------------------------|----------------|
//! | 0 ..= 1 KiB        | tiny, 20 classes         | `hak-tiny`     |
//! | 1 KiB ..= 32 KiB   | L2 pool, 20 classes      | `hak-pool`     |
//! | 32 KiB ..= 1 MiB   | L2.5 pool, 20 classes    | `hak-pool`     |
//! | > 1 MiB            | big blocks + BigCache    | `hak-bigcache` |
//!
//! The size picks the tier and class by tables against constant bounds; `free` finds the owner
//! through the segment map (`hak-os`), never through a header. Each thread has
//! a context holding one heap per slab tier; the same-thread fast paths take no
//! lock and do no atomic read-modify-write.
//!
//! Rust programs use it as their global allocator:
//!
//! ```no_run
//! #[global_allocator]
//! static A: hakmem::HakMem = hakmem::HakMem;
//! fn main() {
//!     let v: Vec<u64> = (0..1000).collect();
//!     assert_eq!(v.iter().sum::<u64>(), 499_500);
//! }
//! ```
//!
//! C programs use `libhakmem.so` (crate `hakmem-cdylib`) with `LD_PRELOAD`.
#![no_std]
#![warn(missing_docs)]

mod stats;
mod tls;

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

use hak_config::Features;
use hak_os::lock::SpinLock;
use hak_os::{map, meta, segmap};
use hak_pool::{L2, L25};
use hak_slab::{Cache, Heap, Push, SlabTier};
use hak_tiny::TINY;

pub use stats::print_stats;

/// Alignment of every block hakmem returns.
pub const MIN_ALIGN: usize = 16;

/// The slab tiers, by router index (matches `SegMeta::tier_index`).
static TIERS: [&SlabTier; 3] = [&TINY, &L2, &L25];

/// One thread's allocator state: a heap per slab tier.
#[repr(C)]
pub struct ThreadCtx {
    /// Blocks this thread freed, per class of every tier, handed out again
    /// before any page is touched (drained by [`upkeep`], thread
    /// exit and [`thread_flush`]). First, so the free path's bin address is
    /// the context plus the slot's offset (one instruction fewer).
    cache: Cache,
    heaps: [Heap; 3],
    /// When upkeep last ran (CLOCK_MONOTONIC_COARSE, ms).
    last_upkeep_ms: u64,
}

impl ThreadCtx {
    /// A context that caches nothing and whose heaps have no pages (see
    /// [`Dormant`]).
    const fn dormant() -> ThreadCtx {
        ThreadCtx { cache: Cache::new(), heaps: [Heap::uninit(), Heap::uninit(), Heap::uninit()], last_upkeep_ms: 0 }
    }
}

/// Allocations (and frees that find their bin full) between two upkeep
/// checks of a thread.
const UPKEEP_TICKS: u32 = 1024;
/// Minimum interval between two upkeep passes of a thread.
const UPKEEP_MS: u64 = 50;

/// Every [`UPKEEP_TICKS`] allocations or frees that find their bin full,
/// at most every [`UPKEEP_MS`]: the thread drains its block cache into the
/// pages, takes back pages other threads freed into, returns empty pages
/// and purges expired ones ([`Heap::maintain`]), and purges the big-block
/// mappings cached longer than the decay interval
/// ([`hak_bigcache::decay`]). This is what returns a
/// burst freed by another thread while the owner only does light work (its
/// allocations never reach a slow path), and the cache of a thread that
/// only frees (a consumer, whose cached blocks nobody would reuse). Costs
/// two instructions on the allocation fast path.
///
/// # Safety
/// `c` is this thread's live context, and the thread is in no other
/// operation on it.
#[cold]
#[inline(never)]
unsafe fn upkeep(c: *mut ThreadCtx) {
    // SAFETY: per contract.
    unsafe {
        tls::set_tick(UPKEEP_TICKS);
        let now = hak_os::now_ms();
        if now.wrapping_sub((*c).last_upkeep_ms) >= UPKEEP_MS {
            (*c).last_upkeep_ms = now;
            drain_cache(c);
            for h in (*c).heaps.iter_mut() {
                h.maintain();
            }
            hak_bigcache::decay();
        }
    }
}

/// [`upkeep`] (for a live context; a thread without one only winds its
/// tick up again), then the allocation that was due. Reads the context
/// again, so that the fast path keeps `size` where it came in.
#[cold]
#[inline(never)]
fn upkeep_then_alloc(size: usize, on_null: fn()) -> *mut u8 {
    let c = tls::ctx();
    if live(c) {
        // SAFETY: a live context belongs to this thread, which is between
        // two operations.
        unsafe { upkeep(c) };
    } else {
        tls::set_tick(UPKEEP_TICKS);
    }
    alloc_or_report(size, on_null)
}

// Routing limits (exclusive upper bounds). A tier switched off by the
// configuration gets the limit of the tier below it, so its sizes fall
// through to the next tier up.
static TINY_LIMIT: AtomicUsize = AtomicUsize::new(hak_tiny::MAX_SIZE + 1);
static L2_LIMIT: AtomicUsize = AtomicUsize::new(hak_pool::L2_MAX + 1);
static L25_LIMIT: AtomicUsize = AtomicUsize::new(hak_pool::L25_MAX + 1);

const UNINIT: u8 = 0;
const BUSY: u8 = 1;
const READY: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static KEY: AtomicUsize = AtomicUsize::new(0);
/// What a thread's TLS slot holds while the thread has no context: `[0]`
/// before its first allocation (the slot's initial value) and `[1]` once
/// its context was torn down (it is exiting). Never written: every bin of
/// their caches is empty with no room and every heap's current page is
/// the empty page, so the fast paths miss on them with no check of their
/// own, and a slow path tells them from a live context by address. Static
/// addresses, they equal no owner value of a page (`NO_OWNER` = 1,
/// `RECLAIMING` = 2, `ABANDONED` = 3 or a context's address), so a free
/// never takes a page for theirs.
#[repr(C)]
struct Dormant([ThreadCtx; 2]);
// SAFETY: never written (see above).
unsafe impl Sync for Dormant {}
static DORMANT: Dormant = Dormant([ThreadCtx::dormant(), ThreadCtx::dormant()]);

/// The TLS value of a thread whose context was torn down.
fn exited() -> *mut ThreadCtx {
    &DORMANT.0[1] as *const ThreadCtx as *mut ThreadCtx
}

/// Whether `c` (a TLS value) is a live context of this thread.
#[inline(always)]
fn live(c: *mut ThreadCtx) -> bool {
    (c as usize).wrapping_sub(&DORMANT as *const Dormant as usize) >= core::mem::size_of::<Dormant>()
}

/// Heaps shared by threads that have no usable context (during
/// initialisation and after their context was torn down at exit).
struct GlobalHeaps([Heap; 3]);
// SAFETY: only used under its lock; the pages it owns are ordinary pages.
unsafe impl Send for GlobalHeaps {}
static GLOBAL: SpinLock<GlobalHeaps> = SpinLock::new(GlobalHeaps([Heap::uninit(), Heap::uninit(), Heap::uninit()]));

/// Initialises hakmem: reads the configuration, creates the segment map,
/// the thread-exit key and the fork handlers. Idempotent and cheap after the
/// first call; called lazily by the first allocation of every thread.
pub fn init() {
    if STATE.load(Ordering::Acquire) == READY {
        return;
    }
    if STATE.compare_exchange(UNINIT, BUSY, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return;
    }
    let cfg = hak_config::get();
    let f = cfg.features();
    let t = cfg.tunables();
    let tiny = if f.contains(Features::TINY_POOL) { hak_tiny::MAX_SIZE + 1 } else { 0 };
    let l2 = if f.contains(Features::POOL) { hak_pool::L2_MAX + 1 } else { tiny };
    let l25 = if f.contains(Features::L25_POOL) { hak_pool::L25_MAX + 1 } else { l2 };
    TINY_LIMIT.store(tiny, Ordering::Relaxed);
    L2_LIMIT.store(l2, Ordering::Relaxed);
    L25_LIMIT.store(l25, Ordering::Relaxed);
    ALIGNED_BY_CLASS.store(tiny > 0 && l2 > tiny && l25 > l2, Ordering::Relaxed);
    // HAKMEM_FREE_PAGES_KEEP counts 64 KiB tiny pages; larger-page tiers
    // keep the same number of bytes (at least one page).
    for tier in TIERS {
        tier.set_keep_free_pages((t.free_pages_keep * (64 << 10) / tier.page_size()).max(1));
    }
    CACHE_BUDGET.store(t.thread_cache_kb.saturating_mul(1 << 10), Ordering::Relaxed);
    let decay = if f.contains(Features::BATCH_MADVISE) { t.decay_ms } else { 0 };
    for tier in TIERS {
        tier.set_decay_ms(decay);
    }
    // Freed big blocks kept resident make way whenever a slab tier grows
    // (see `hak_bigcache::BigCache::cut_for_growth`).
    map::set_growth_hook(hak_bigcache::cut_for_growth);
    hak_bigcache::configure(
        f.contains(Features::BIGCACHE),
        t.bigcache_entries,
        cfg.bigcache_max_bytes(),
        decay,
        f.contains(Features::THP),
    );
    segmap::init();
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: key is a valid out-parameter; the destructor is `extern "C"`.
    if unsafe { libc::pthread_key_create(&mut key, Some(thread_exit)) } == 0 {
        KEY.store(key as usize + 1, Ordering::Relaxed);
    }
    STATE.store(READY, Ordering::Release);
    // These may allocate (re-entering us, which now works).
    // SAFETY: the handlers are `extern "C"` functions without preconditions.
    unsafe {
        libc::pthread_atfork(Some(prefork), Some(postfork_parent), Some(postfork_child));
        if f.contains(Features::STATS) {
            hak_slab::set_stats(true);
            stats::keep_stderr();
            libc::atexit(stats::at_exit);
        }
    }
}

/// Prepares `c` and winds the calling thread's upkeep tick.
///
/// # Safety
/// `c` points to a zeroed `ThreadCtx` record that is becoming the calling
/// thread's context.
unsafe fn init_ctx(c: *mut ThreadCtx) {
    // SAFETY: per contract.
    unsafe {
        for (i, tier) in TIERS.iter().enumerate() {
            (*c).heaps[i].init_with_token(tier, c as usize);
            Cache::set_caps(ptr::addr_of_mut!((*c).cache), tier, CACHE_BUDGET.load(Ordering::Relaxed));
        }
        tls::set_tick(UPKEEP_TICKS);
        (*c).last_upkeep_ms = hak_os::now_ms();
    }
}

/// The calling thread's live context, creating it if needed; null when the
/// thread must use the global heaps.
#[cold]
fn ctx_slow() -> *mut ThreadCtx {
    let c = tls::ctx();
    if live(c) {
        return c;
    }
    if c == exited() {
        return ptr::null_mut();
    }
    init();
    if STATE.load(Ordering::Acquire) != READY {
        return ptr::null_mut();
    }
    // The first `init` allocates (fork handlers, `atexit`), re-entering us:
    // that allocation may have made this thread's context already.
    let c = tls::ctx();
    if live(c) {
        return c;
    }
    let key = KEY.load(Ordering::Relaxed);
    if key == 0 {
        return ptr::null_mut();
    }
    let c = meta::alloc(core::mem::size_of::<ThreadCtx>()) as *mut ThreadCtx;
    if c.is_null() {
        return c;
    }
    // SAFETY: fresh zeroed record.
    unsafe { init_ctx(c) };
    tls::set_ctx(c);
    // SAFETY: the key was created by init; keys < 32 need no allocation.
    unsafe { libc::pthread_setspecific((key - 1) as libc::pthread_key_t, c as *const libc::c_void) };
    c
}

/// pthread key destructor: drains the exiting thread's block cache, returns
/// its empty pages and abandons the others; whoever frees their blocks
/// adopts them.
extern "C" fn thread_exit(arg: *mut libc::c_void) {
    let c = arg as *mut ThreadCtx;
    if c.is_null() {
        return;
    }
    // From now on this thread uses the global heaps.
    tls::set_ctx(exited());
    // SAFETY: the context belonged to this thread, which no longer uses it,
    // and no page refers to it once its heaps abandoned their pages.
    unsafe {
        drain_cache(c);
        for h in (*c).heaps.iter_mut() {
            h.abandon_all();
        }
        meta::free(c.cast(), core::mem::size_of::<ThreadCtx>());
    }
}

/// Whether the calling thread has a context of its own (tests: a thread
/// gets one at its first allocation and never after its exit began).
#[doc(hidden)]
pub fn has_context() -> bool {
    live(tls::ctx())
}

/// Returns the calling thread's cached free memory: drains its block cache
/// into the pages, collects remote frees, releases empty pages and trims
/// the big-block cache.
pub fn thread_flush() {
    let c = tls::ctx();
    // SAFETY: a live context belongs to this thread.
    unsafe {
        if live(c) {
            drain_cache(c);
            for h in (*c).heaps.iter_mut() {
                h.collect();
            }
        }
    }
    hak_bigcache::trim();
}

#[inline(always)]
fn route(size: usize) -> (usize, usize) {
    if size < TINY_LIMIT.load(Ordering::Relaxed) {
        (0, hak_tiny::class_of(size))
    } else if size < L2_LIMIT.load(Ordering::Relaxed) {
        (1, hak_pool::l2_class_of(size.max(hak_tiny::MAX_SIZE + 1)))
    } else if size < L25_LIMIT.load(Ordering::Relaxed) {
        (2, hak_pool::l25_class_of(size.max(hak_pool::L2_MAX + 1)))
    } else {
        (3, 0)
    }
}

/// Allocates from slab tier `tier`, class `class`, through the thread's
/// context or the global heaps.
#[cold]
#[inline(never)]
fn alloc_slow(tier: usize, class: usize) -> *mut u8 {
    let c = ctx_slow();
    if !c.is_null() {
        // SAFETY: a live context of this thread; class is valid for the tier.
        unsafe {
            return (*c).heaps[tier].alloc(class);
        }
    }
    let mut g = GLOBAL.lock();
    let token = &g.0 as *const [Heap; 3] as usize;
    let h = &mut g.0[tier];
    if !h.is_init() {
        h.init_with_token(TIERS[tier], token);
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

fn no_report() {}

/// [`alloc`], calling `on_null` before returning null (the C layer passes a
/// function that sets `errno`). Every miss leaves through a tail call, so the
/// fast path needs no stack frame: 19 instructions for a cache hit up to
/// 32 KiB.
#[inline(always)]
pub fn alloc_or_report(size: usize, on_null: fn()) -> *mut u8 {
    // Tiny and L2 sizes first, against a constant: if either tier is
    // switched off its heaps never get pages nor its bins blocks, the fast
    // path misses and the slow path routes by configuration.
    if size <= hak_pool::L2_MAX {
        // SAFETY: SLOT_OF holds the slot of the tiny or L2 class of the
        // sizes of its 16-byte step.
        if let Some(p) = unsafe { try_heap(SLOT_OF[(size + 15) >> 4] as usize, size, on_null) } {
            return p;
        }
        return alloc_routed_slow(size, on_null);
    }
    alloc_mid_report(size, on_null)
}

/// The cache slot of the tiny or L2 class of every size up to
/// [`hak_pool::L2_MAX`], by 16-byte step: `SLOT_OF[(size + 15) >> 4]`
/// (every class boundary is a multiple of 16). Built from [`slab_index`]
/// at compile time; one load instead of a branch between the tiers.
static SLOT_OF: [u8; (hak_pool::L2_MAX >> 4) + 1] = slot_table();

const fn slot_table() -> [u8; (hak_pool::L2_MAX >> 4) + 1] {
    let mut t = [0u8; (hak_pool::L2_MAX >> 4) + 1];
    let mut i = 1;
    while i < t.len() {
        t[i] = slab_slot(i << 4) as u8;
        i += 1;
    }
    t
}

/// The fast path shared by every slab size: the calling thread's cache
/// pops a block of cache slot `slot` (tier `slot / MAX_CLASSES`, class
/// `slot % MAX_CLASSES`), else that tier's heap pops its current page.
/// `None` on a miss (an empty current page, or a thread without a context:
/// its [`Dormant`] record misses both). When the upkeep tick (shared with
/// frees that find their bin full) runs out, it runs the upkeep instead
/// and returns that allocation's final result.
///
/// # Safety
/// `slot` names a class of a slab tier (< 3) holding `size` bytes.
#[inline(always)]
unsafe fn try_heap(slot: usize, size: usize, on_null: fn()) -> Option<*mut u8> {
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
#[inline(never)]
fn alloc_mid_report(size: usize, on_null: fn()) -> *mut u8 {
    if size <= hak_pool::L25_MAX {
        // SAFETY: an L2.5 class (tier 2) of a size in (L2_MAX, L25_MAX].
        if let Some(p) = unsafe { try_heap(hak_slab::slot(2, hak_pool::l25_class_of(size)), size, on_null) } {
            return p;
        }
    }
    alloc_routed_slow(size, on_null)
}

/// A miss of the fast paths (tail-called: the hit paths have no frame):
/// routes `size` by configuration and tries [`try_heap`] for the routed
/// class, else takes its tier's slow path, or makes it a big block. (With a
/// tier switched off, the fast paths look in the bins of the tier the
/// default grid names, which stay empty; the bin looked at here is the one
/// the blocks of the serving tier are freed into.)
#[cold]
#[inline(never)]
fn alloc_routed_slow(size: usize, on_null: fn()) -> *mut u8 {
    let (tier, class) = route(size);
    if tier < 3 {
        // SAFETY: route gives a class of its tier.
        if let Some(p) = unsafe { try_heap(hak_slab::slot(tier, class), size, on_null) } {
            return p;
        }
    }
    let p = if tier < 3 { alloc_slow(tier, class) } else { alloc_big(size, MIN_ALIGN, false) };
    if p.is_null() {
        on_null();
    }
    p
}

#[cold]
fn alloc_big(size: usize, align: usize, zero: bool) -> *mut u8 {
    if size > isize::MAX as usize {
        return ptr::null_mut();
    }
    init();
    hak_bigcache::alloc(size, align, zero)
}

/// Like [`alloc`], with the first `size` bytes zeroed.
pub fn alloc_zeroed(size: usize) -> *mut u8 {
    let (tier, _) = route(size);
    if tier == 3 {
        return alloc_big(size, MIN_ALIGN, true);
    }
    let p = alloc(size);
    if !p.is_null() {
        // SAFETY: the block holds at least `size` bytes.
        unsafe { ptr::write_bytes(p, 0, size) };
    }
    p
}

/// Allocates `size` bytes aligned to `align` (any power of two); null when
/// out of memory or `align` is not a power of two.
pub fn alloc_aligned(size: usize, align: usize) -> *mut u8 {
    if !align.is_power_of_two() {
        return ptr::null_mut();
    }
    alloc_aligned_or_report(size, align, no_report)
}

/// Classes of the tiny, L2 and L2.5 tiers: every one has 20.
const SLAB_CLASSES: [usize; 3] = [hak_tiny::SIZES.len(), hak_pool::L2_SIZES.len(), hak_pool::L25_SIZES.len()];
const _: () = assert!(SLAB_CLASSES[0] == 20 && SLAB_CLASSES[1] == 20 && SLAB_CLASSES[2] == 20);

/// The classes of the three slab tiers as one index, for `size` in 1..=1
/// MiB: the tiny class, else 20 + the L2 class, else 40 + the L2.5 class.
/// The grids are 16-byte steps to 128 B, then four classes per power of
/// two up to 1 MiB, so the index comes from the size's logarithm with no
/// branch between tiers: the aligned path, whose rounded sizes straddle
/// the tiers at random, mispredicted the branch of tiny sizes on most
/// calls (cachegrind's branch simulation, not in a record).
#[inline(always)]
const fn slab_index(size: usize) -> usize {
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

/// The cache slot (tier × `MAX_CLASSES` + class) of the class that serves
/// `size` (1..=1 MiB) when every slab tier is on: [`slab_index`] holds the
/// tiny classes first, then L2's, then L2.5's.
#[inline(always)]
const fn slab_slot(size: usize) -> usize {
    let k = slab_index(size);
    let tier = (k >= SLAB_CLASSES[0]) as usize + (k >= SLAB_CLASSES[0] + SLAB_CLASSES[1]) as usize;
    hak_slab::slot(tier, k - tier * SLAB_CLASSES[0])
}

/// Whether every slab tier is on, so that [`alloc_aligned_or_report`] may
/// serve an aligned request as a plain one (set by [`init`]).
static ALIGNED_BY_CLASS: AtomicBool = AtomicBool::new(false);

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
    let rounded = (size.max(1) + align - 1) & !(align - 1);
    let (tier, class) = route(rounded);
    if tier < 3 {
        let (t, c) = if TIERS[tier].class_size(class) & (align - 1) == 0 {
            (tier, class)
        } else {
            match aligned_class_search(size, align) {
                Some(tc) => tc,
                None => return alloc_big(size, align, false),
            }
        };
        return alloc_slow(t, c);
    }
    alloc_big(size, align, false)
}

/// The smallest enabled slab class holding `size` bytes whose block size is a
/// multiple of `align`, if any.
#[cold]
fn aligned_class_search(size: usize, align: usize) -> Option<(usize, usize)> {
    let (tier, class) = route(size);
    if tier == 3 {
        return None;
    }
    let tiny_on = TINY_LIMIT.load(Ordering::Relaxed) > 0;
    let l2_on = L2_LIMIT.load(Ordering::Relaxed) > TINY_LIMIT.load(Ordering::Relaxed);
    let l25_on = L25_LIMIT.load(Ordering::Relaxed) > L2_LIMIT.load(Ordering::Relaxed);
    let from = |t: usize| if t == tier { class } else { 0 };
    let search = |t: usize| {
        let sizes = TIERS[t].sizes();
        (from(t)..sizes.len()).find(|&c| sizes[c] as usize & (align - 1) == 0).map(|c| (t, c))
    };
    let mut found = None;
    if tier == 0 && tiny_on {
        found = search(0);
    }
    if found.is_none() && tier <= 1 && l2_on {
        found = search(1);
    }
    if found.is_none() && l25_on {
        found = search(2);
    }
    found
}

/// Whether `p` lies in memory hakmem manages (one segment-map lookup; `p`'s
/// memory is never read).
#[inline]
pub fn owns(p: *const u8) -> bool {
    segmap::lookup(p as usize) != 0
}

/// Frees `p`. Returns true when `p` was null or hakmem's (now freed), false
/// when `p` is not hakmem's (it is left untouched). Aborts with a message on
/// a detected double free (see the thread cache's limits in `hak_slab::Cache`)
/// or a pointer into the middle of a big block. A pointer into the middle of
/// a slab block is not detected: its segment and page are found by address,
/// and the fast paths do not check that it starts a block (as jemalloc's and
/// tcmalloc's thread caches do not).
///
/// # Safety
/// `p` is null, a live hakmem block, or not hakmem memory at all.
#[inline(always)]
pub unsafe fn free(p: *mut u8) -> bool {
    let e = segmap::lookup(p as usize);
    // SAFETY: forwarded contract.
    if unsafe { free_slab(e, p) } {
        return true;
    }
    // SAFETY: forwarded contract.
    unsafe { free_other(e, p) }
}

/// [`free`] for the C layer: a non-null pointer that is not hakmem's goes
/// to `foreign` (tail-called), so that the fast path does not return a
/// result for its caller to test.
///
/// # Safety
/// As [`free`]; `foreign` accepts any non-null pointer that is not
/// hakmem's.
#[inline(always)]
pub unsafe fn free_or_forward(p: *mut u8, foreign: unsafe fn(*mut u8)) {
    let e = segmap::lookup(p as usize);
    // SAFETY: forwarded contract.
    if unsafe { free_slab(e, p) } {
        return;
    }
    // SAFETY: forwarded contract.
    unsafe { free_other_or_forward(p, e, foreign) }
}

/// The slab part of [`free`]: frees `p` if its segment-map entry `e` is a
/// slab segment's (true), else does nothing (false).
///
/// # Safety
/// As [`free`], with `e` the entry of `p`.
#[inline(always)]
unsafe fn free_slab(e: usize, p: *mut u8) -> bool {
    if e & segmap::TAG_SLAB == 0 {
        return false;
    }
    // SAFETY: slab entries point to live segment records; p lies in it.
    unsafe {
        let seg = &*hak_slab::seg_of_entry(e);
        let c = tls::ctx();
        // A dormant record's bins are full: the push writes nothing.
        match Cache::push_at(ptr::addr_of_mut!((*c).cache), seg.bin_of(p as usize), p) {
            Push::Cached => true,
            Push::DoubleFree => double_free(p),
            Push::Full => free_past_full_bin(seg, p),
        }
    }
}

/// [`free`] of a block whose bin is full (or of a thread without a
/// context): counts towards the upkeep (so a thread that only frees still
/// drains its cache), then frees to the page. Out of line, and reading the
/// context again, so that the fast path neither saves registers nor keeps
/// the context's address.
///
/// # Safety
/// The calling thread is in no other operation on its context; `p` is a
/// live block of `seg`.
#[cold]
#[inline(never)]
unsafe fn free_past_full_bin(seg: &hak_slab::SegMeta, p: *mut u8) -> bool {
    let c = tls::ctx();
    if !live(c) {
        // No context, so no page of its own: a remote free (a consumer
        // thread takes this path for every free).
        // SAFETY: p is a live block of seg.
        unsafe { hak_slab::free_remote(seg.page_of(p as usize), p) };
        return true;
    }
    tls::on_tick!(tls::block(), {
        // SAFETY: a live context of this thread, between two operations.
        unsafe { upkeep(c) };
    });
    // SAFETY: per contract, with the thread's live context.
    unsafe { free_to_page(c, seg, p) };
    true
}

/// Frees slab block `p` of segment `seg` to its page, below the thread
/// cache: the owner's fast path, else the slow paths.
///
/// # Safety
/// `p` is a live block of `seg`; `c` is the calling thread's live context
/// (or its context being torn down, which is still live to [`live`]).
#[inline(always)]
unsafe fn free_to_page(c: *mut ThreadCtx, seg: &hak_slab::SegMeta, p: *mut u8) {
    // SAFETY: per contract.
    unsafe {
        let pg = seg.page_of(p as usize);
        // All heaps of a context share its address as owner token.
        if !hak_slab::free_fast(pg, p, c as usize) {
            free_slab_slow(c, seg, pg, p);
        }
    }
}

#[cold]
#[inline(never)]
fn double_free(p: *mut u8) -> ! {
    hak_os::diag::fatal("free(): double free detected", p as usize)
}

/// Bytes' worth of blocks each class of a thread's [`Cache`] holds, within
/// the cache's bounds (`HAKMEM_THREAD_CACHE_KB`; 0: no caching).
static CACHE_BUDGET: AtomicUsize = AtomicUsize::new(0);

/// Returns every block of `c`'s cache to its page (the free path below the
/// cache).
///
/// # Safety
/// `c` is the calling thread's live context.
unsafe fn drain_cache(c: *mut ThreadCtx) {
    // SAFETY: cached blocks are live slab blocks, freed here for good.
    unsafe {
        Cache::drain(ptr::addr_of_mut!((*c).cache), |p| {
            free_to_page(c, &*hak_slab::seg_of_entry(segmap::lookup(p as usize)), p)
        });
    }
}

#[cold]
#[inline(never)]
unsafe fn free_slab_slow(c: *mut ThreadCtx, seg: &hak_slab::SegMeta, pg: *mut hak_slab::Page, p: *mut u8) {
    debug_assert!(live(c));
    // SAFETY: p is a live block of pg; c is this thread's context.
    unsafe { (*c).heaps.get_unchecked_mut(seg.tier_index as usize).free_slow(pg, p) }
}

#[cold]
unsafe fn free_other(e: usize, p: *mut u8) -> bool {
    if e & segmap::TAG_BIG != 0 {
        // SAFETY: entry tagged big for p.
        unsafe { hak_bigcache::free(e, p) };
        return true;
    }
    p.is_null()
}

/// [`free_other`], handing a pointer that is not hakmem's to `foreign`.
#[cold]
#[inline(never)]
unsafe fn free_other_or_forward(p: *mut u8, e: usize, foreign: unsafe fn(*mut u8)) {
    // SAFETY: forwarded contract.
    if !unsafe { free_other(e, p) } {
        // SAFETY: p is not hakmem's, per contract `foreign` takes it.
        unsafe { foreign(p) }
    }
}

/// The usable size of block `p`: 0 for null or memory that is not
/// hakmem's; otherwise the exact number of bytes the block offers.
///
/// # Safety
/// `p` is null, a live hakmem block, or not hakmem memory.
pub unsafe fn usable_size(p: *const u8) -> usize {
    let e = segmap::lookup(p as usize);
    if e & segmap::TAG_SLAB != 0 {
        // SAFETY: slab entry for p.
        unsafe {
            let seg = &*hak_slab::seg_of_entry(e);
            (*seg.page_of(p as usize)).block_size()
        }
    } else if e & segmap::TAG_BIG != 0 {
        // SAFETY: big entry for p.
        unsafe { hak_bigcache::usable_size(e, p) }
    } else {
        0
    }
}

/// A block that `realloc` grows to at least this many bytes moves into a
/// mapping of its own (the big tier), whatever its size class: from then on
/// it grows with `mremap` (page tables move, bytes are not copied) and,
/// within its mapping's segments, in place without a system call. A block
/// grown by `realloc` is usually a vector that keeps growing; copying it
/// from one L2.5 class to the next cost a copy of every byte at each step
/// and left each step's 1 MiB page resident (`realloc-grow`'s peak RSS).
/// glibc's first mmap threshold is 128 KiB; twice that keeps the number of
/// mappings (each at least one 4 MiB segment of address space and a VMA)
/// low for programs that grow many medium buffers. A mapped block stays
/// mapped while `realloc` keeps it at half this size or more, so a buffer
/// whose size swings around the threshold is not copied back and forth.
pub const REALLOC_MAP_MIN: usize = 256 * 1024;

/// `realloc` moves no more blocks into mappings of their own while the big
/// tier holds this many live blocks (16 GiB of address space, a small part
/// of Linux's default limit of 65 530 mappings per process): past it,
/// growing blocks stay in their size classes.
pub const REALLOC_MAP_MAX_LIVE: usize = 4096;

/// Resizes `p` to `new_size` bytes, keeping `min(old, new)` bytes of content.
/// `p` null behaves as [`alloc`]. A slab block stays in place when it has
/// room and would not waste more than half of it; a slab block grown to
/// [`REALLOC_MAP_MIN`] bytes or more gets a mapping of its own, and a
/// mapped block stays in its mapping (resized in place or by `mremap`)
/// while the new size is at least half of [`REALLOC_MAP_MIN`]. Returns
/// null on failure, leaving `p` intact; errno changes only when it returns
/// null (a failed attempt with a fallback leaves it alone). A `new_size`
/// of 0 returns a minimal block (the C layer implements glibc's
/// `realloc(p, 0)`).
///
/// # Safety
/// `p` is null or a live hakmem block owned by the caller.
pub unsafe fn realloc(p: *mut u8, new_size: usize) -> *mut u8 {
    if p.is_null() {
        return alloc(new_size);
    }
    if new_size > isize::MAX as usize {
        return ptr::null_mut();
    }
    let e = segmap::lookup(p as usize);
    // The destination of a move: a mapping of its own for a growing slab
    // block (when one can be had), else whatever `alloc` gives.
    let mut q = ptr::null_mut();
    let old = if e & segmap::TAG_SLAB != 0 {
        // SAFETY: slab entry for p.
        let bs = unsafe { (*(*hak_slab::seg_of_entry(e)).page_of(p as usize)).block_size() };
        if new_size <= bs && new_size >= bs / 2 {
            return p;
        }
        if new_size > bs && new_size >= REALLOC_MAP_MIN && hak_bigcache::live() < REALLOC_MAP_MAX_LIVE {
            q = attempt(|| alloc_big(new_size, MIN_ALIGN, false));
        }
        bs
    } else if e & segmap::TAG_BIG != 0 {
        if new_size >= REALLOC_MAP_MIN / 2 || route(new_size).0 == 3 {
            // SAFETY: big entry for a live block we own.
            let r = attempt(|| unsafe { hak_bigcache::realloc(e, p, new_size) });
            if !r.is_null() {
                return r;
            }
        }
        // SAFETY: big entry for p.
        unsafe { hak_bigcache::usable_size(e, p) }
    } else {
        hak_os::diag::fatal("realloc(): invalid pointer", p as usize);
    };
    if q.is_null() {
        q = alloc(new_size);
        if q.is_null() {
            return q;
        }
    }
    // SAFETY: both blocks are live and hold at least the copied length.
    unsafe {
        ptr::copy_nonoverlapping(p, q, old.min(new_size));
        free(p);
    }
    q
}

/// Runs `f`, an allocation the caller can do without (it has a fallback):
/// when `f` fails, errno is left as it was.
#[inline]
fn attempt(f: impl FnOnce() -> *mut u8) -> *mut u8 {
    let mut q = ptr::null_mut();
    map::quiet(|| {
        q = f();
        !q.is_null()
    });
    q
}

// ---------------------------------------------------------------- fork

extern "C" fn prefork() {
    if STATE.load(Ordering::Acquire) != READY {
        return;
    }
    GLOBAL.raw_lock();
    for t in TIERS {
        t.prefork();
    }
    hak_bigcache::prefork();
    meta::prefork();
}

fn postfork() {
    if STATE.load(Ordering::Acquire) != READY {
        return;
    }
    meta::postfork();
    hak_bigcache::postfork();
    for t in TIERS {
        t.postfork();
    }
    // SAFETY: taken by prefork in this thread.
    unsafe {
        GLOBAL.force_unlock();
    }
}

extern "C" fn postfork_parent() {
    postfork();
}

extern "C" fn postfork_child() {
    postfork();
}

// ---------------------------------------------------------------- GlobalAlloc

/// hakmem as a Rust global allocator:
/// `#[global_allocator] static A: hakmem::HakMem = hakmem::HakMem;`
pub struct HakMem;

/// `HakMem::dealloc` of a pointer hakmem does not own: a caller's bug
/// (`GlobalAlloc` only deallocates what it allocated), reported.
#[cold]
unsafe fn not_allocated_here(p: *mut u8) {
    hak_os::diag::fatal("dealloc(): pointer not allocated by hakmem", p as usize)
}

// SAFETY: blocks are valid for their layout (size and alignment) until
// freed; hakmem never hands out a block twice.
unsafe impl GlobalAlloc for HakMem {
    #[inline]
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.align() <= MIN_ALIGN {
            alloc(l.size())
        } else {
            alloc_aligned(l.size(), l.align())
        }
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, _l: Layout) {
        // SAFETY: p came from this allocator (anything else is reported).
        unsafe { free_or_forward(p, not_allocated_here) };
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if l.align() <= MIN_ALIGN {
            return alloc_zeroed(l.size());
        }
        let p = alloc_aligned(l.size(), l.align());
        if !p.is_null() {
            // SAFETY: the block holds l.size() bytes.
            unsafe { ptr::write_bytes(p, 0, l.size()) };
        }
        p
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        if l.align() <= MIN_ALIGN {
            // SAFETY: p came from this allocator with layout l.
            return unsafe { realloc(p, new_size) };
        }
        // SAFETY: p is live; usable_size reads the segment map only.
        if new_size <= unsafe { usable_size(p) } && new_size >= l.size() / 2 {
            return p;
        }
        let q = alloc_aligned(new_size, l.align());
        if !q.is_null() {
            // SAFETY: both blocks are live and large enough.
            unsafe {
                ptr::copy_nonoverlapping(p, q, l.size().min(new_size));
                free(p);
            }
        }
        q
    }
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
            if size <= hak_pool::L2_MAX {
                assert_eq!(SLOT_OF[(size + 15) >> 4] as usize, slot, "SLOT_OF for size {size}");
            }
        }
        assert_eq!(SLOT_OF[0], 0, "malloc(0) is a block of the smallest class");
    }
}
