//! Thread contexts: the per-thread record (block cache and one heap per slab
//! tier), the dormant records of threads without one, its creation
//! ([`ctx_slow`]), the periodic upkeep, thread exit and [`thread_flush`]; the
//! global heaps of threads that have no usable context.

use core::ptr;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use hak_os::lock::SpinLock;
use hak_os::{meta, segmap, thread};
use hak_slab::{Cache, Heap};

use crate::alloc::alloc_or_report;
use crate::free::free_to_page;
use crate::init::{init, KEY, READY, STATE};
use crate::{learn, tls, Tier, SLAB_TIERS};

/// One thread's allocator state: a heap per slab tier.
#[repr(C)]
pub struct ThreadCtx {
    /// Blocks this thread freed, per class of every tier, handed out again
    /// before any page is touched (drained by [`upkeep`], thread
    /// exit and [`thread_flush`]). First, so the free path's bin address is
    /// the context plus the slot's offset (one instruction fewer).
    pub(crate) cache: Cache,
    /// One heap per slab tier, by [`Tier`].
    pub(crate) heaps: [Heap; SLAB_TIERS],
    /// When upkeep last ran (CLOCK_MONOTONIC_COARSE, ms).
    last_upkeep_ms: u64,
    /// The thread-cache budget's generation the cache was sized at
    /// ([`learn::cache_generation`]).
    cache_gen: usize,
    /// Blocks this thread returned to their pages per cache slot since it
    /// last added them to [`RETURNED`] (statistics: counted where a block
    /// leaves the thread cache for its page, a slow path; added at upkeep,
    /// flush, exit and on a statistics read by this thread).
    returned: [u64; hak_slab::SLOTS],
    /// Site rules' sampling countdown (`sites.rs`; zero: not started).
    pub(crate) sites: crate::sites::ThreadSampler,
}

impl ThreadCtx {
    /// A context that caches nothing and whose heaps have no pages (see
    /// [`Dormant`]).
    const fn dormant() -> ThreadCtx {
        ThreadCtx {
            cache: Cache::new(),
            heaps: [const { Heap::uninit() }; SLAB_TIERS],
            last_upkeep_ms: 0,
            cache_gen: 0,
            returned: [0; hak_slab::SLOTS],
            sites: crate::sites::ThreadSampler::new(),
        }
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
pub(crate) unsafe fn upkeep(c: *mut ThreadCtx) {
    // SAFETY: per contract.
    unsafe {
        tls::set_tick(UPKEEP_TICKS);
        let now = hak_os::now_ms();
        learn::on_upkeep(now);
        if now.wrapping_sub((*c).last_upkeep_ms) >= UPKEEP_MS {
            (*c).last_upkeep_ms = now;
            drain_cache(c);
            let gen = learn::cache_generation();
            if (*c).cache_gen != gen {
                // The budget changed (ELO's thread-cache knob): re-size
                // the cache while it is empty.
                (*c).cache_gen = gen;
                size_cache(c);
            }
            for h in (*c).heaps.iter_mut() {
                h.maintain();
            }
            flush_counts(c);
            hak_bigcache::decay();
            crate::pressure::on_upkeep(now);
        }
    }
}

/// Whether full bins go to the transfer slots (`HAKMEM_TRANSFER`, set once
/// by `init`; decision 0052). Taking a chain and taking back one's own need
/// no switch: with it off there are none.
pub(crate) static TRANSFER: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// [`upkeep`] if its interval has passed: for a thread whose frees go to
/// the transfer slots a bin at a time (decision 0052), which do not count
/// towards the tick as frees past a full bin do.
///
/// # Safety
/// As [`upkeep`].
#[cold]
#[inline(never)]
pub(crate) unsafe fn upkeep_if_due(c: *mut ThreadCtx) {
    // SAFETY: per contract.
    unsafe {
        if hak_os::now_ms().wrapping_sub((*c).last_upkeep_ms) >= UPKEEP_MS {
            upkeep(c);
        }
    }
}

/// [`upkeep`] (for a live context; a thread without one only winds its
/// tick up again), then the allocation that was due. Reads the context
/// again, so that the fast path keeps `size` where it came in.
#[cold]
#[inline(never)]
pub(crate) fn upkeep_then_alloc(size: usize, on_null: fn()) -> *mut u8 {
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

/// What a thread's TLS slot holds while the thread has no context: `[0]`
/// before its first allocation (the slot's initial value) and `[1]` once
/// its context was torn down (it is exiting). Never written: every bin of
/// their caches is empty with no room and a block-start mask that no
/// pointer passes (a free's push refuses it before it takes room, which
/// writes; `hak_slab::Cache`), and every heap's current page is the empty
/// page, so the fast paths miss on them with no check of their own, and a
/// slow path tells them from a live context by address. Static
/// addresses, they equal no owner value of a page (`NO_OWNER` = 1,
/// `RECLAIMING` = 2, `ABANDONED` = 3 or a context's address), so a free
/// never takes a page for theirs.
#[repr(C)]
pub(crate) struct Dormant([ThreadCtx; 2]);
// SAFETY: never written (see above).
unsafe impl Sync for Dormant {}
pub(crate) static DORMANT: Dormant = Dormant([ThreadCtx::dormant(), ThreadCtx::dormant()]);

/// The TLS value of a thread whose context was torn down.
fn exited() -> *mut ThreadCtx {
    &DORMANT.0[1] as *const ThreadCtx as *mut ThreadCtx
}

/// Whether `c` (a TLS value) is a live context of this thread.
#[inline(always)]
pub(crate) fn live(c: *mut ThreadCtx) -> bool {
    (c as usize).wrapping_sub(&DORMANT as *const Dormant as usize) >= core::mem::size_of::<Dormant>()
}

/// Heaps shared by threads that have no usable context (during
/// initialisation and after their context was torn down at exit).
pub(crate) struct GlobalHeaps(pub(crate) [Heap; SLAB_TIERS]);
// SAFETY: only used under its lock; the pages it owns are ordinary pages.
unsafe impl Send for GlobalHeaps {}
pub(crate) static GLOBAL: SpinLock<GlobalHeaps> = SpinLock::new(GlobalHeaps([const { Heap::uninit() }; SLAB_TIERS]));

/// Prepares `c` and winds the calling thread's upkeep tick.
///
/// # Safety
/// `c` points to a zeroed `ThreadCtx` record that is becoming the calling
/// thread's context.
unsafe fn init_ctx(c: *mut ThreadCtx) {
    // SAFETY: per contract.
    unsafe {
        for t in Tier::SLAB {
            (*c).heaps[t as usize].init_with_token(t.slab(), c as usize);
        }
        (*c).cache_gen = learn::cache_generation();
        size_cache(c);
        tls::set_tick(UPKEEP_TICKS);
        (*c).last_upkeep_ms = hak_os::now_ms();
    }
}

/// The calling thread's live context, creating it if needed; null when the
/// thread must use the global heaps.
#[cold]
pub(crate) fn ctx_slow() -> *mut ThreadCtx {
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
    // The key was created by init; keys < 32 need no allocation.
    thread::set_value(thread::Key::from_index(key - 1), c.cast());
    c
}

/// pthread key destructor: drains the exiting thread's block cache, returns
/// its empty pages and abandons the others; whoever frees their blocks
/// adopts them.
pub(crate) extern "C" fn thread_exit(arg: *mut core::ffi::c_void) {
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
        flush_counts(c);
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
            flush_counts(c);
        }
    }
    hak_bigcache::trim();
}

/// Blocks returned to their pages per cache slot, by every thread, as far
/// as their counts were added (see `ThreadCtx::returned`); frees by
/// threads without a context are added here at once.
pub(crate) static RETURNED: [AtomicU64; hak_slab::SLOTS] = [const { AtomicU64::new(0) }; hak_slab::SLOTS];

/// Counts block `p` of `seg`, about to go back to its page, as returned by
/// context `c` (or, without one, straight into [`RETURNED`]).
///
/// # Safety
/// `c` is the calling thread's live context or a dormant record; `p` is a
/// live block of `seg`.
#[inline]
pub(crate) unsafe fn count_returned(c: *mut ThreadCtx, seg: &hak_slab::SegMeta, p: *mut u8) {
    let slot = seg.bin_of(p as usize) / hak_slab::bin_offset(1);
    if live(c) {
        // SAFETY: per contract, the thread's own context.
        if let Some(n) = unsafe { (*c).returned.get_mut(slot) } {
            *n += 1;
        }
    } else if let Some(n) = RETURNED.get(slot) {
        n.fetch_add(1, Ordering::Relaxed);
    }
}

/// Adds `c`'s statistics counts to the process's ([`RETURNED`], and each
/// heap's to its tier).
///
/// # Safety
/// `c` is the calling thread's live context (or its context being torn
/// down).
pub(crate) unsafe fn flush_counts(c: *mut ThreadCtx) {
    // SAFETY: per contract.
    unsafe {
        for (n, total) in (*c).returned.iter_mut().zip(RETURNED.iter()) {
            if *n != 0 {
                total.fetch_add(core::mem::take(n), Ordering::Relaxed);
            }
        }
        for h in (*c).heaps.iter_mut() {
            h.flush_stats();
        }
    }
}

/// Bytes' worth of blocks each class of a thread's [`Cache`] holds, within
/// the cache's bounds (`HAKMEM_THREAD_CACHE_KB`; 0: no caching).
pub(crate) static CACHE_BUDGET: AtomicUsize = AtomicUsize::new(0);

/// Sets the capacity of every class of `c`'s cache from [`CACHE_BUDGET`].
///
/// # Safety
/// `c` is the calling thread's context (or one becoming it) and its cache
/// is empty.
unsafe fn size_cache(c: *mut ThreadCtx) {
    for t in Tier::SLAB {
        // SAFETY: per contract.
        unsafe { Cache::set_caps(ptr::addr_of_mut!((*c).cache), t.slab(), CACHE_BUDGET.load(Ordering::Relaxed)) };
    }
}

/// Returns every block of `c`'s cache to its page (the free path below the
/// cache), with the bins it gave to the transfer slots that no thread took.
///
/// # Safety
/// `c` is the calling thread's live context.
pub(crate) unsafe fn drain_cache(c: *mut ThreadCtx) {
    // SAFETY: cached blocks are live slab blocks, freed here for good.
    unsafe {
        let cache = ptr::addr_of_mut!((*c).cache);
        let free = |p: *mut u8| {
            let seg = &*hak_slab::seg_of_entry(segmap::lookup(p as usize));
            count_returned(c, seg, p);
            free_to_page(c, seg, p)
        };
        Cache::drain(cache, free);
        // The bins it gave that no thread took (decision 0052).
        Cache::reclaim_given(cache, free);
    }
}
