//! Site rules (`HAKMEM_SITE_RULES`): the router's driver of
//! `hak_siterules`. It learns which call sites allocate blocks of more
//! than 32 KiB that outlive the other blocks of their size (or are large
//! and long-lived, or grown by `realloc`), and serves those sites' later
//! requests from mappings of their own, so they never pin an L2.5 page
//! that short-lived blocks would otherwise empty and give back.
//!
//! * **Where.** Only requests of the L2.5 sizes (32 KiB .. 1 MiB), on
//!   their own out-of-line path: C `malloc` reaches `alloc_mid_report` by
//!   a tail jump, and with site rules on that function's fast-path bound
//!   (`MID_FAST_LIMIT`, a load in its compare) excludes the L2.5 sizes, so
//!   it tail-jumps to [`alloc_mid`], a naked trampoline
//!   ([`hak_os::with_return_address!`]) that reads the return address at
//!   `[rsp]`: `malloc`'s caller. Sizes up to 32 KiB and their fast path are
//!   untouched; with site rules off the L2.5 fast path has the same
//!   instructions as without them (big requests pass the trampoline).
//! * **The site.** A return address inside the object that holds hakmem
//!   itself (a call from `calloc`, `realloc`'s moves, aligned allocation:
//!   not a tail jump) is no site: [`hak_os::caller::own_text`] gives that
//!   object's code range when hakmem is a shared library (`LD_PRELOAD`);
//!   linked into a program (Rust's `GlobalAlloc`, `libhakmem.a`) every
//!   return address is taken.
//! * **Sampling.** Every request of a site still being learned (fewer
//!   than `MIN_SAMPLES`, 16, samples: [`SiteTable::query`]), then one L2.5
//!   request in `HAKMEM_SITE_SAMPLE` (64; jittered, per thread, see
//!   [`Sampler`]) of a thread with a context, is a sample: served by a
//!   mapping of its own, recorded
//!   ([`SiteTable::record_alloc`]) and kept in the tables (`Tables::sampled`) by address, so
//!   that its `free` (the big-block path, where `free.rs` calls
//!   [`on_free_big`]) and its `realloc` ([`on_realloc_big`]) see it.
//! * **Hints.** Any hint but `None` (`LongLived`: at most a quarter of the
//!   site's samples died young while a quarter of the other sites' samples
//!   of its size died young; `Big`: the same from 256 KiB without the
//!   churn; `Grow`) sends the request to a mapping of its own, while the
//!   big tier holds fewer than [`REALLOC_MAP_MAX_LIVE`] live blocks.
//!   Everything else takes the usual L2.5 path.

use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use hak_os::diag::Line;
use hak_os::lock::SpinLock;
use hak_siterules::{Hint, SampledBlocks, Sampler, SiteReport, SiteTable};

use crate::alloc::{alloc_big_raw, alloc_mid_plain};
use crate::ctx::live;
use crate::realloc::{attempt, REALLOC_MAP_MAX_LIVE};
use hak_slab::Heap;

use crate::{tls, Tier, MIN_ALIGN};

/// The learned sites (on the lifetime clock [`CLOCK_KIB`]) and the tags
/// of live sampled blocks by address: 160 KiB, mapped when site rules are
/// turned on ([`enable`]), so that a process without them holds none of
/// that address space (`ulimit -v` counts it; it used to be part of the
/// library's image).
struct Tables {
    sites: SiteTable,
    sampled: SampledBlocks,
}

/// The [`Tables`], null until site rules are on; never unmapped.
static TABLES: AtomicPtr<Tables> = AtomicPtr::new(core::ptr::null_mut());

/// The tables, once site rules are on.
#[inline]
fn tables() -> Option<&'static Tables> {
    let p = TABLES.load(Ordering::Acquire);
    // SAFETY: published (Release) after being made in place; never
    // unmapped.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Maps and makes the tables (once; false if they cannot be mapped).
fn map_tables() -> bool {
    if tables().is_some() {
        return true;
    }
    let p = hak_os::map::map(core::mem::size_of::<Tables>()).cast::<Tables>();
    if p.is_null() {
        return false;
    }
    // SAFETY: a fresh zeroed mapping (page aligned: more than the tables'
    // alignment), ours until published.
    unsafe {
        SiteTable::init_zeroed(core::ptr::addr_of_mut!((*p).sites), YOUNG_KIB);
        SampledBlocks::init_zeroed(core::ptr::addr_of_mut!((*p).sampled));
    }
    if TABLES.compare_exchange(core::ptr::null_mut(), p, Ordering::AcqRel, Ordering::Acquire).is_err() {
        // SAFETY: our mapping, never published.
        unsafe { hak_os::map::unmap(p.cast(), core::mem::size_of::<Tables>()) };
    }
    true
}

/// The lifetime clock: KiB requested above 32 KiB so far, process-wide,
/// estimated from the samples (each sample of the base rate stands for the
/// interval's worth of requests of its size, a sample of a site being
/// learned for itself). Lifetimes in bytes allocated rather than in
/// seconds: what pins a page is how much allocation of its tier a block
/// outlives, whatever the program's speed.
static CLOCK_KIB: AtomicU64 = AtomicU64::new(0);

/// A sampled block freed less than this many KiB of requests above 32 KiB
/// after its allocation died young: 64 MiB, the traffic of 64 L2.5 pages
/// (1 MiB each). A block freed sooner only delays its page's reuse a
/// little; one that outlives that much churn of its tier keeps a page
/// resident that the churn around it has left.
const YOUNG_KIB: u64 = 64 << 10;

/// Whether site rules run (`HAKMEM_SITE_RULES`), set once by `init`.
static ON: AtomicBool = AtomicBool::new(false);
/// log2 of the mean sampling interval (`HAKMEM_SITE_SAMPLE`).
static SHIFT: AtomicU32 = AtomicU32::new(6);

/// Requests served by a mapping because of their site's hint (statistics).
static HINTED: AtomicUsize = AtomicUsize::new(0);

/// The code range of the shared object holding hakmem (`[start, end)`;
/// `end` 0: none, every return address is a site), found at the first
/// sample ([`OWN_STATE`]).
static OWN_START: AtomicUsize = AtomicUsize::new(0);
static OWN_END: AtomicUsize = AtomicUsize::new(0);
/// 0: not looked up, 1: being looked up, 2: known.
static OWN_STATE: AtomicU8 = AtomicU8::new(0);

/// Turns site rules on, sampling about one L2.5 request in `sample`
/// (rounded down to a power of two; 0 counts as 1). Called by `init`.
pub(crate) fn enable(sample: u64) {
    if !map_tables() {
        hak_os::diag::write_bytes(b"hakmem: site rules off: their tables (160 KiB) could not be mapped\n");
        return;
    }
    set_sample(sample);
    ON.store(true, Ordering::Relaxed);
    crate::alloc::MID_FAST_LIMIT.store(hak_pool::L2_MAX + 1, Ordering::Relaxed);
}

/// Sets the sampling interval (`init`; tests through
/// [`set_site_sample`]).
fn set_sample(sample: u64) {
    let shift = 63 - sample.max(1).leading_zeros();
    SHIFT.store(shift.min(30), Ordering::Relaxed);
}

/// Whether site rules run: one relaxed load.
#[inline(always)]
pub(crate) fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// A thread's sampling countdown (a field of its context, zeroed at
/// creation: zero means not started).
#[derive(Clone, Copy)]
pub(crate) struct ThreadSampler {
    /// The sampler, valid once `shift_plus_one` is not 0.
    sampler: Sampler,
    /// The [`SHIFT`] the sampler was made for, plus one (0: not started).
    shift_plus_one: u32,
}

impl ThreadSampler {
    /// A sampler not started (the dormant records' value).
    pub(crate) const fn new() -> ThreadSampler {
        ThreadSampler { sampler: Sampler::new(0, 1), shift_plus_one: 0 }
    }

    /// Counts one request; true if it is to be sampled. Restarts the
    /// sampler when the interval changed (or at the first request).
    fn tick(&mut self, seed: usize) -> bool {
        let shift = SHIFT.load(Ordering::Relaxed);
        if self.shift_plus_one != shift + 1 {
            self.shift_plus_one = shift + 1;
            self.sampler = Sampler::new(shift, (seed >> 4) as u32);
        }
        self.sampler.tick()
    }
}

hak_os::with_return_address! {
    /// Requests above L2's that `alloc_mid_report` does not serve on its
    /// fast path (big ones; every L2.5 size with site rules on):
    /// [`alloc_mid_at`] with the return address on top of the stack
    /// (`malloc`'s caller, reached by tail jumps from `malloc` and
    /// `alloc_mid_report`).
    #[allow(improper_ctypes_definitions)]
    pub(crate) unsafe extern "C" fn alloc_mid(size: usize, on_null: fn()) -> *mut u8 => alloc_mid_at
}

/// A request of `size` bytes (above 32 KiB) from return address `site`:
/// with site rules on, a sampled or hinted L2.5 request gets a block of
/// [`place`]; the rest the usual path.
#[inline(never)]
#[allow(improper_ctypes_definitions)]
extern "C" fn alloc_mid_at(size: usize, on_null: fn(), site: usize) -> *mut u8 {
    if size <= hak_pool::L25_MAX && on() && !crate::secure::on() && !own(site) {
        let p = place(size, site);
        if !p.is_null() {
            return p;
        }
    }
    alloc_mid_plain(size, on_null)
}

/// A block for a sampled request (a mapping, recorded) or a hinted one
/// (the long-lived heap, or a mapping); null when neither (or when none can
/// be had: the usual path serves it).
fn place(size: usize, site: usize) -> *mut u8 {
    let Some(t) = tables() else { return core::ptr::null_mut() };
    let (hint, learning) = t.sites.query(site, size);
    if learning {
        return sample(size, site, 1);
    }
    let c = tls::ctx();
    // SAFETY: a live context is this thread's, between two operations.
    if live(c) && unsafe { (*c).sites.tick(c as usize) } {
        return sample(size, site, 1 << SHIFT.load(Ordering::Relaxed));
    }
    let p = match hint {
        Hint::None => return core::ptr::null_mut(),
        Hint::LongLived => alloc_long(size),
        Hint::Big | Hint::Grow => mapping(size),
    };
    if !p.is_null() {
        HINTED.fetch_add(1, Ordering::Relaxed);
    }
    p
}

/// The heap of long-lived blocks: L2.5 pages of their own, shared by all
/// threads under its lock (an allocation of a `LongLived` site is rare
/// next to the requests around it, and it is already off the fast path).
/// Its pages are ordinary pages of the L2.5 tier, owned by this heap's
/// token: frees from any thread reach them as remote frees (or adopt them
/// once they are full and abandoned), and an empty page goes back to the
/// tier as any other. So short-lived blocks' pages empty and serve the
/// next size class, while the long-lived blocks sit together in few pages.
pub(crate) struct LongHeap(Heap, u32);
// SAFETY: only used under its lock; its pages are ordinary pages.
unsafe impl Send for LongHeap {}
pub(crate) static LONG: SpinLock<LongHeap> = SpinLock::new(LongHeap(Heap::uninit(), 0));

/// A block of `size` bytes from the long-lived heap (null: the usual path
/// serves it, e.g. with the L2.5 tier switched off).
fn alloc_long(size: usize) -> *mut u8 {
    let (tier, class) = crate::alloc::route(size);
    if tier != Tier::L25 {
        return core::ptr::null_mut();
    }
    let mut g = LONG.lock();
    if !g.0.is_init() {
        g.0.init(tier.slab());
    }
    // SAFETY: the heap is used under its lock only; route gives a class of
    // the L2.5 tier.
    let p = unsafe { g.0.alloc(class) };
    g.1 = g.1.wrapping_add(1);
    if g.1.is_multiple_of(LONG_TRIM_EVERY) {
        // SAFETY: under the lock, as every use of the heap.
        unsafe { g.0.trim() };
    }
    g.0.flush_stats();
    p
}

/// The long-lived heap collects the frees other threads (and its own,
/// which reach it as remote frees) made into its pages and gives back the
/// pages they emptied, its current ones included, every this many of its
/// allocations: long-lived blocks freed together (a module's tree at the
/// end of a compilation) would otherwise keep up to a page per class
/// until that class is asked for again.
const LONG_TRIM_EVERY: u32 = 64;

/// A block of `size` bytes in a mapping of its own, while the big tier
/// holds fewer than [`REALLOC_MAP_MAX_LIVE`] live blocks; errno kept.
fn mapping(size: usize) -> *mut u8 {
    if hak_bigcache::live() >= REALLOC_MAP_MAX_LIVE {
        return core::ptr::null_mut();
    }
    attempt(|| alloc_big_raw(size, MIN_ALIGN, false))
}

/// The sampled request, standing for `weight` requests of its size on
/// the lifetime clock: a mapping, recorded and kept by address.
#[cold]
fn sample(size: usize, site: usize, weight: u64) -> *mut u8 {
    let now = CLOCK_KIB.fetch_add((size as u64 >> 10) * weight, Ordering::Relaxed);
    let p = mapping(size);
    if p.is_null() {
        return p;
    }
    if let Some(t) = tables() {
        if let Some(tag) = t.sites.record_alloc(site, size, now) {
            if !t.sampled.insert(p as usize, tag) {
                t.sites.forget(tag);
            }
        }
    }
    p
}

/// Whether `site` is no site: 0, or inside the shared object that holds
/// hakmem (a call from hakmem's own code).
fn own(site: usize) -> bool {
    if site == 0 {
        return true;
    }
    if OWN_STATE.load(Ordering::Acquire) != 2 {
        find_own_text();
    }
    site >= OWN_START.load(Ordering::Relaxed) && site < OWN_END.load(Ordering::Relaxed)
}

/// Looks up hakmem's own code range once (a racing thread sees an empty
/// range until it is known: its sites are taken, at worst one internal).
#[cold]
fn find_own_text() {
    if OWN_STATE.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
        return;
    }
    if let Some((start, end)) = hak_os::caller::own_text(alloc_mid_at as *const () as usize) {
        OWN_START.store(start, Ordering::Relaxed);
        OWN_END.store(end, Ordering::Relaxed);
    }
    OWN_STATE.store(2, Ordering::Release);
}

/// Records the free of big block `p` if it is a sampled block (site rules
/// on; before the block goes back to the big tier).
#[cold]
pub(crate) fn on_free_big(p: *mut u8) {
    let Some(t) = tables() else { return };
    if let Some(tag) = t.sampled.take(p as usize) {
        t.sites.record_free(tag, CLOCK_KIB.load(Ordering::Relaxed));
    }
}

/// Records the resize of big block `old`, now `new` with `new_size` bytes
/// (site rules on), if it is a sampled block.
#[cold]
pub(crate) fn on_realloc_big(old: *mut u8, new: *mut u8, new_size: usize) {
    let Some(t) = tables() else { return };
    if let Some(mut tag) = t.sampled.take(old as usize) {
        t.sites.record_realloc(&mut tag, new_size);
        if !t.sampled.insert(new as usize, tag) {
            t.sites.forget(tag);
        }
    }
}

/// How many sites [`print_stats`] lists.
const TOP: usize = 8;

/// The table's totals and its most sampled sites for `HAKMEM_STATS=1`;
/// nothing when site rules are off.
pub(crate) fn print_stats(sink: &mut dyn FnMut(&[u8])) {
    let Some(t) = tables().filter(|_| on()) else { return };
    let mut l = Line::new();
    l.s("hakmem: ");
    t.sites.stats().write(&mut l);
    l.s(" hinted=").u(HINTED.load(Ordering::Relaxed) as u64);
    l.s(" sampled_live=").u(t.sampled.len() as u64).s("\n");
    sink(l.as_bytes());
    let mut top = [SiteReport::default(); TOP];
    let n = t.sites.top(&mut top);
    for r in top.iter().take(n) {
        let mut l = Line::new();
        l.s("hakmem: ");
        r.write(&mut l);
        l.s("\n");
        sink(l.as_bytes());
    }
}

/// What site rules did so far (tests): samples recorded, frees of sampled
/// blocks recorded, requests served by a mapping for their hint.
#[doc(hidden)]
pub fn site_counts() -> (u64, u64, usize) {
    let Some(t) = tables() else { return (0, 0, HINTED.load(Ordering::Relaxed)) };
    let st = t.sites.stats();
    (st.samples, st.frees, HINTED.load(Ordering::Relaxed))
}

/// The hint learned for return address `site` (tests; `Hint::None` as
/// `"none"`), by its report name.
#[doc(hidden)]
pub fn site_hint(site: usize) -> &'static str {
    tables().and_then(|t| t.sites.site(site)).map_or("none", |r| r.hint.name())
}

/// Samples about one L2.5 request in `sample` from now on (tests: 1
/// samples every request, `u64::MAX` about one in 2^30, i.e. none).
#[doc(hidden)]
pub fn set_site_sample(sample: u64) {
    set_sample(sample);
}
