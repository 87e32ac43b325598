//! hak-bigcache — hakmem's tier for blocks above 1 MiB, and for blocks
//! of 256 KiB and more that `realloc` grows (the router moves those here so
//! that they grow by `mremap` instead of being copied).
//!
//! Every big block is its own mapping, segment aligned, so its record can be
//! registered in the segment map ([`hak_os::segmap`], tag [`TAG_BIG`]) for
//! every segment it covers: a free finds the record with one lookup and never
//! trusts a header in front of the block. A mapping ends where its block
//! needs, rounded to one of eight sizes per doubling (at most an eighth over),
//! not at the end of a segment: the kernel charges it (commit, address space)
//! close to the block's size. The rest of its last segment is not hakmem's;
//! [`covers`] tells an address there from the mapping's. Only the pages the
//! program touches become resident.
//!
//! Released mappings go to a bounded cache (entries and bytes) and are reused:
//! the most recently cached resident mapping of at most four times the need
//! first, else the best fit within twice the need. A cached
//! mapping not reused within the decay interval has its pages returned with
//! `madvise(MADV_DONTNEED)` (the "batch madvise" policy: purges happen in
//! batches when a block is next released, and from the router's periodic
//! upkeep through [`decay`]); mappings that do not fit in the cache are
//! unmapped at once.
//!
//! Each mapping keeps a *dirty extent*: the bytes from the mapping start
//! that may be non-zero and resident, the high-water of the usable size
//! handed out since the mapping was made or last purged (0 then). It drives
//! three things: (1) reuse trimming: a mapping reused (or a block shrunk in
//! place) far below its extent has the sparse tail returned to the OS, so a
//! reused mapping's resident pages stay close to what the program uses;
//! (2) zeroed requests from the cache clear only the resident pages of the
//! dirty prefix that are not zero, in place, instead of faulting every page
//! in again; (3) a resident budget: when the cached mappings' extents add up
//! to more than [`MAX_DIRTY`] (a quarter of it when the allocator's
//! footprint grows), the least recently cached are purged (they stay cached).
//!
//! `realloc` keeps the block in place when the mapping already has room
//! (trimming the dirty tail only when the block shrinks),
//! shrinks by unmapping the tail, and grows with `mremap` (in place when the
//! following address space is free, else moved to a new aligned range: page
//! tables move, bytes are not copied).
//!
//! Concurrency: the cache is a [`BigCache`] instance (the process-wide one
//! behind this crate's free functions is a `static`; loom models build
//! their own). Its entries are only touched under its lock; a block's
//! `state` word (LIVE → CACHED by one CAS in [`BigCache::free`]) makes
//! concurrent double frees fail for all but one caller; a record leaves the
//! cache (taken for reuse, evicted, trimmed) only under the lock, so no
//! cached mapping is handed out twice or purged while reused.
//!
//! ```
//! use hak_bigcache::BigCache;
//!
//! // An embedder's own instance (the free functions use the process-wide one).
//! let cache = BigCache::new();
//! let p = cache.alloc(8 << 20, 16, false);
//! assert!(!p.is_null());
//! // SAFETY: `p` holds 8 MiB.
//! unsafe { p.write_bytes(1, 8 << 20) };
//! // A free finds the block's record through the segment map.
//! // SAFETY: `p` is a live block of `cache`.
//! unsafe { cache.free(hak_os::segmap::lookup(p as usize), p) };
//! assert_eq!(cache.cached().0, 1); // kept for reuse
//! let q = cache.alloc(6 << 20, 16, true); // fits the cached mapping
//! assert_eq!(cache.stats.cache_hits.load(core::sync::atomic::Ordering::Relaxed), 1);
//! // A zeroed request from the cache reads zero, however dirty the mapping was.
//! // SAFETY: `q` holds 6 MiB.
//! assert!(unsafe { core::slice::from_raw_parts(q, 6 << 20) }.iter().all(|&b| b == 0));
//! // SAFETY: as above.
//! unsafe { cache.free(hak_os::segmap::lookup(q as usize), q) };
//! cache.trim(); // unmaps every cached mapping
//! assert_eq!(cache.cached(), (0, 0));
//! ```
//!
//! The example `big_global` (`cargo run -p hak-bigcache --example
//! big_global`) builds a `#[global_allocator]` on this tier.
#![cfg_attr(not(loom), no_std)]
#![warn(missing_docs)]

// One file per concern.
// `BigCache`, `BigStats`, the entries and the fit rule (`take_cached`),
// alloc, free and release (eviction), `trim`.
mod cache;
// The debug-build validity walker: `BigCache::check`, `check_record`.
mod check;
// The dirty extent on reuse: `trim_dirty`, `zero_dirty_prefix`,
// `clear_chunk`, `dense` (residency probes through `hak_os::map::residency`).
mod dirty;
// Huge-page advice: `BigCache::fit_huge`.
mod huge;
// Decay, purge and the resident budget: `BigCache::decay`,
// `BigCache::cut_for_growth`, `enforce_budget`, `MAX_DIRTY`.
mod purge;
// The mapping record `BigBlock`, its states (LIVE, CACHED), block layout,
// segment-map registration (`map_fresh`, `destroy`), `usable_size`.
mod record;
// `realloc`: in place, grown by `mremap`, or moved (`hak_os::map::move_mapping`).
mod remap;
// Guard pages after big blocks (secure mode): `set_guard`, `mapping_size`, `place`.
mod guard;
// The quarantine of freed mappings (secure mode): `BigCache::retire`,
// `quarantined`, `fault_kind`.
mod quarantine;

#[cfg(all(test, loom))]
mod loom_models;
#[cfg(all(test, not(loom)))]
mod tests;

pub use cache::{BigCache, BigStats};
pub use guard::set_guard;
pub use hak_os::segmap::TAG_BIG;
pub use purge::MAX_DIRTY;
pub use quarantine::{fault_kind, quarantined, Fault, MAX_QUARANTINED, MAX_QUARANTINED_BYTES};
pub use record::{covers, live_size, usable_size, BigBlock};

/// Smallest request the router's `malloc` sends here: just above 1 MiB,
/// the largest size of the L2.5 pool (the tier itself serves any size; the
/// router's `realloc` also moves growing blocks of 256 KiB and more here).
pub const MIN_SIZE: usize = (1 << 20) + 1;

/// Hard upper bound of cache entries.
pub const MAX_ENTRIES: usize = 64;

// ------------------------------------------------ the process-wide instance

/// The process-wide big-block tier (normal builds only: loom models build
/// their own [`BigCache`]).
#[cfg(not(loom))]
static BIG: BigCache = BigCache::new();

/// The counters of the process-wide tier.
#[cfg(not(loom))]
pub static STATS: &BigStats = &BIG.stats;

/// Sets the process-wide cache policy (see [`BigCache::configure`]).
#[cfg(not(loom))]
pub fn configure(enabled: bool, max_entries: usize, max_bytes: usize, decay_ms: u64, thp: bool) {
    BIG.configure(enabled, max_entries, max_bytes, decay_ms, thp)
}

/// Sets how many released mappings the process-wide cache keeps (see
/// [`BigCache::set_max_entries`]): the knob the router's learning driver
/// turns.
#[cfg(not(loom))]
pub fn set_max_entries(n: usize) {
    BIG.set_max_entries(n)
}

/// Sets the process-wide tier's decay interval (ms) at run time (see
/// [`BigCache::set_decay_ms`]): a knob the router's learning driver turns.
#[cfg(not(loom))]
pub fn set_decay_ms(ms: u64) {
    BIG.set_decay_ms(ms)
}

/// How many released mappings the process-wide cache keeps at most.
#[cfg(not(loom))]
pub fn max_entries() -> usize {
    BIG.max_entries()
}

/// Allocates `size` bytes aligned to `align` (a power of two), zeroed when
/// `zero`, from the process-wide tier. Null when the size overflows or the
/// OS refuses.
///
/// ```
/// let p = hak_bigcache::alloc(3 << 20, 4096, true);
/// assert!(!p.is_null() && p as usize % 4096 == 0);
/// let entry = hak_os::segmap::lookup(p as usize);
/// assert_eq!(entry & hak_os::segmap::TAG_MASK, hak_bigcache::TAG_BIG);
/// // SAFETY: `p` is live; `entry` is its segment-map entry.
/// assert!(unsafe { hak_bigcache::usable_size(entry, p) } >= 3 << 20);
/// // Grow by mremap (in place when the address space after it is free):
/// // SAFETY: as above.
/// let q = unsafe { hak_bigcache::realloc(entry, p, 40 << 20) };
/// assert!(!q.is_null());
/// // SAFETY: `q` is live (and `p` no longer is).
/// unsafe { hak_bigcache::free(hak_os::segmap::lookup(q as usize), q) };
/// ```
#[cfg(not(loom))]
pub fn alloc(size: usize, align: usize, zero: bool) -> *mut u8 {
    BIG.alloc(size, align, zero)
}

/// Frees the big block `p` whose segment-map entry is `entry`. Aborts on a
/// double free or a pointer that is not a block start.
///
/// # Safety
/// `entry` is `segmap::lookup(p)` and is tagged [`TAG_BIG`].
#[cfg(not(loom))]
pub unsafe fn free(entry: usize, p: *mut u8) {
    // SAFETY: forwarded contract.
    unsafe { BIG.free(entry, p) }
}

/// Resizes big block `p` (see [`BigCache::realloc`]).
///
/// # Safety
/// `entry` is `segmap::lookup(p)`, tagged [`TAG_BIG`], and `p` is live and
/// owned by the caller.
#[cfg(not(loom))]
pub unsafe fn realloc(entry: usize, p: *mut u8, new_size: usize) -> *mut u8 {
    // SAFETY: forwarded contract.
    unsafe { BIG.realloc(entry, p, new_size) }
}

/// Purges the process-wide tier's cached mappings older than the decay
/// interval (see [`BigCache::decay`]).
#[cfg(not(loom))]
pub fn decay() {
    BIG.decay()
}

/// [`BigCache::cut_for_growth`] on the process-wide tier (the router's
/// growth hook, see [`hak_os::map::set_growth_hook`]).
#[cfg(not(loom))]
pub fn cut_for_growth() {
    BIG.cut_for_growth()
}

/// Unmaps every cached mapping of the process-wide tier.
#[cfg(not(loom))]
pub fn trim() {
    BIG.trim()
}

/// Live blocks of the process-wide tier right now.
#[cfg(not(loom))]
pub fn live() -> usize {
    BIG.live()
}

/// Cached entries and bytes of the process-wide tier right now.
#[cfg(not(loom))]
pub fn cached() -> (usize, usize) {
    BIG.cached()
}

/// Cached entries, bytes and dirty extents of the process-wide tier right
/// now (see [`BigCache::cached_dirty`]).
#[cfg(not(loom))]
pub fn cached_dirty() -> (usize, usize, usize) {
    BIG.cached_dirty()
}

/// Sets the process-wide cache's resident budget (see
/// [`BigCache::set_max_dirty`]).
#[cfg(not(loom))]
pub fn set_max_dirty(bytes: usize) {
    BIG.set_max_dirty(bytes)
}

/// Quarantined entries and address space of the process-wide tier right
/// now (secure mode, see [`BigCache::quarantined`]).
#[cfg(not(loom))]
pub fn quarantined_now() -> (usize, usize) {
    BIG.quarantined()
}

/// Takes the process-wide cache lock before `fork`.
#[cfg(not(loom))]
pub fn prefork() {
    BIG.prefork()
}

/// Releases the process-wide cache lock after `fork` (parent and child).
#[cfg(not(loom))]
pub fn postfork() {
    BIG.postfork()
}

/// Checks the process-wide tier's cache (see [`BigCache::check`]): a no-op
/// without debug assertions.
#[cfg(not(loom))]
pub fn check() {
    BIG.check()
}
