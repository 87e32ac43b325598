//! hak-bigcache — hakmem's tier for blocks above 1 MiB, and for blocks
//! of 256 KiB and more that `realloc` grows (the router moves those here so
//! that they grow by `mremap` instead of being copied).
//!
//! Every big block is its own mapping, rounded up to whole 4 MiB segments and
//! segment aligned, so its record can be registered in the segment map
//! ([`hak_os::segmap`], tag [`TAG_BIG`]) for every segment it covers: a free
//! finds the record with one lookup and never trusts a header in front of the
//! block. Only the pages the program touches become resident.
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
#![cfg_attr(not(loom), no_std)]
#![warn(missing_docs)]

use core::ptr;
// Statistics counters and configuration knobs: relaxed, outside every
// protocol, plain `core` atomics in every build (see `hak_os::sync`).
use core::sync::atomic as stat;

use hak_os::lock::SpinLock;
use hak_os::sync::{AtomicU32, Ordering};
use hak_os::{diag, map, meta, segmap, SEGMENT_SIZE};

pub use hak_os::segmap::TAG_BIG;

#[cfg(all(test, loom))]
mod loom_models;

/// Smallest request the router's `malloc` sends here: just above 1 MiB,
/// the largest size of the L2.5 pool (the tier itself serves any size; the
/// router's `realloc` also moves growing blocks of 256 KiB and more here).
pub const MIN_SIZE: usize = (1 << 20) + 1;

/// Hard upper bound of cache entries.
pub const MAX_ENTRIES: usize = 64;

const LIVE: u32 = 1;
const CACHED: u32 = 2;

/// The record of one big mapping (from the metadata arena).
#[repr(C)]
pub struct BigBlock {
    base: usize,
    map_size: usize,
    user: usize,
    /// Usable bytes: the request rounded up to whole pages (what
    /// `malloc_usable_size` reports; the mapping may extend further).
    size: usize,
    state: AtomicU32,
    /// Dirty extent: the bytes from `base` that may be non-zero (and
    /// resident), a page multiple <= `map_size`. It is the high-water of
    /// `user - base + size` handed out since the mapping was made or last
    /// purged (0 for a fresh or purged mapping); every page beyond it is
    /// untouched since `mmap` or `madvise(MADV_DONTNEED)`, so reads as zero
    /// and costs no memory.
    dirty: usize,
    cached_at_ms: u64,
    /// Until when (in `cached_at_ms` time) the dirty tail is taken as
    /// densely used without probing it (see `trim_dirty`); 0 at first.
    dense_until_ms: u64,
    /// Value of the cache's release counter when this mapping was cached.
    seq: u64,
    /// The mapping carries the huge-page advice (see `BigCache::fit_huge`).
    huge: bool,
}

/// Tier counters (relaxed).
pub struct BigStats {
    /// Blocks handed out.
    pub allocs: stat::AtomicUsize,
    /// Blocks freed.
    pub frees: stat::AtomicUsize,
    /// Allocations served from the cache.
    pub cache_hits: stat::AtomicUsize,
    /// Fresh mappings made.
    pub maps: stat::AtomicUsize,
    /// Mappings returned to the OS.
    pub unmaps: stat::AtomicUsize,
    /// Cached mappings whose pages were purged by decay.
    pub purges: stat::AtomicUsize,
    /// `realloc`s served by mremap or in place.
    pub remaps: stat::AtomicUsize,
    /// Bytes currently mapped by this tier (live and cached).
    pub mapped_bytes: stat::AtomicUsize,
}

impl BigStats {
    const fn new() -> BigStats {
        BigStats {
            allocs: stat::AtomicUsize::new(0),
            frees: stat::AtomicUsize::new(0),
            cache_hits: stat::AtomicUsize::new(0),
            maps: stat::AtomicUsize::new(0),
            unmaps: stat::AtomicUsize::new(0),
            purges: stat::AtomicUsize::new(0),
            remaps: stat::AtomicUsize::new(0),
            mapped_bytes: stat::AtomicUsize::new(0),
        }
    }
}

struct Cache {
    entries: [*mut BigBlock; MAX_ENTRIES],
    n: usize,
    /// Sum of the entries' mapping sizes.
    bytes: usize,
    /// Sum of the entries' dirty extents (an upper bound of their resident bytes).
    dirty: usize,
    /// Release counter: orders entries from least to most recently cached.
    seq: u64,
}

// SAFETY: entries are only followed under the cache lock.
unsafe impl Send for Cache {}

impl Cache {
    /// Takes entry `i` out of the cache (the last entry fills its slot) and
    /// out of the byte and dirty totals.
    fn remove(&mut self, i: usize) -> *mut BigBlock {
        let rec = self.entries[i];
        self.n -= 1;
        self.entries[i] = self.entries[self.n];
        // SAFETY: cached records are valid while in the cache (we hold its lock).
        unsafe {
            self.bytes -= (*rec).map_size;
            self.dirty -= (*rec).dirty;
        }
        rec
    }
}

/// The big-block tier: a bounded cache of released mappings plus its policy
/// and counters. The process-wide instance serves this crate's free
/// functions; an embedder or a loom model may build its own.
pub struct BigCache {
    cache: SpinLock<Cache>,
    enabled: stat::AtomicBool,
    max_n: stat::AtomicUsize,
    max_bytes: stat::AtomicUsize,
    max_dirty: stat::AtomicUsize,
    decay_ms: stat::AtomicU64,
    thp: stat::AtomicBool,
    /// The counters of this tier.
    pub stats: BigStats,
}

/// Default resident budget of the cache (see [`BigCache::set_max_dirty`]),
/// half the default byte cap; a quarter of it (32 MiB) whenever the
/// allocator's footprint grows (see [`BigCache::cut_for_growth`]). Extents
/// overcount what is resident: a program that reads a calloc'ed block
/// maps the kernel's zero page, which costs no memory, and `calloc-large`
/// (1-64 MiB blocks read in full, written one page in eight) holds about
/// 90 MiB of extents in three mappings for about 20 MiB of resident pages.
/// A 32 MiB budget purged its mappings on most releases, which made it
/// several times slower than with them kept (side by side, not in a
/// record). The budget bounds what a program keeps resident of its freed
/// big blocks while it neither frees nor allocates any more (the decay
/// purges need one or the other); the upkeep's [`decay`] returns the rest
/// within about the decay interval of light activity.
pub const MAX_DIRTY: usize = 128 << 20;

/// Reuse trimming (see `trim_dirty`) needs the dirty extent to pass the
/// block's end by more than this, and by more than a quarter of the end.
const TRIM_SLACK: usize = 1 << 20;

/// Zeroed requests look at the dirty prefix in chunks of this many pages:
/// one `mincore` call (and a stack vector of as many bytes) per chunk.
const ZERO_CHUNK_PAGES: usize = 512;

/// Pages probed by [`dense`] (trimming skips a densely used tail).
const PROBE_PAGES: usize = 64;

/// A tail found densely used is kept without probing again for this long:
/// the probe is a system call, and `large` (which reuses mappings every
/// 16 us) ran 5 % slower with one on most reuses.
const PROBE_INTERVAL_MS: u64 = 1000;

/// With THP on, a mapping carries the huge-page advice exactly while its
/// block is at least a transparent huge page (x86-64's 2 MiB): a smaller
/// block's first touch would fault in a whole huge page, up to eight times
/// a 256 KiB block moved into a mapping by `realloc`.
const HUGE_PAGE: usize = 2 << 20;

/// Room reserved in front of a big block (its first page).
const COLOR_SPAN: usize = 4096;
/// Where blocks with an alignment of at most this start in their mapping.
const BLOCK_OFFSET: usize = 1024;

/// Usable bytes of a block `n` bytes long starting `offset` bytes into its
/// mapping: up to the end of its last page.
fn usable(offset: usize, n: usize) -> usize {
    round_pages(offset + n) - offset
}

/// `n` rounded up to whole OS pages (`n` well below `usize::MAX`).
fn round_pages(n: usize) -> usize {
    let ps = map::page_size();
    (n + ps - 1) & !(ps - 1)
}

/// Reuse trimming: when the dirty extent of `rec` passes `end` (the end of
/// the block's usable bytes, from `base`) by more than max(1 MiB, end / 4),
/// returns the pages beyond `end` to the OS and lowers the extent to `end`.
///
/// With `probe` (reuse from the cache), a tail whose first pages are
/// mostly resident is kept (and not probed again for
/// [`PROBE_INTERVAL_MS`]): the program touches whole blocks, and the next
/// larger block served from this mapping would fault every page back
/// (`large` alternates small and large blocks in one mapping and ran 25x
/// slower when trimmed). A sparse tail is what a reused mapping
/// accumulates from programs that touch a few pages per block (`realloc-grow`
/// grows each vector in place and writes its last byte): trimming it kept
/// that benchmark's peak RSS down by a third at no measurable cost.
///
/// # Safety
/// `rec` is ours alone (taken from the cache, or live and owned by the
/// caller) and nothing beyond `end` holds data anyone needs.
unsafe fn trim_dirty(rec: *mut BigBlock, end: usize, probe: bool) {
    // SAFETY: per the contract; the probed pages lie in the dirty tail
    // (longer than TRIM_SLACK > PROBE_PAGES pages).
    unsafe {
        let d = (*rec).dirty;
        if d <= end || d - end <= TRIM_SLACK.max(end / 4) {
            return;
        }
        if probe {
            let now = (*rec).cached_at_ms;
            if now < (*rec).dense_until_ms {
                return;
            }
            if dense((*rec).base + end) {
                (*rec).dense_until_ms = now + PROBE_INTERVAL_MS;
                return;
            }
        }
        if map::decommit(((*rec).base + end) as *mut u8, d - end) {
            (*rec).dirty = end;
        }
    }
}

/// Zeroes the block of `rec` (usable bytes ending `end` bytes into the
/// mapping) where its mapping may be dirty: beyond the dirty extent the
/// pages are zero already. The dirty prefix is cleared in place, chunk by
/// chunk (see [`clear_chunk`]), whatever its size.
///
/// Why not `madvise` every time: the program then faults every page in
/// again (0.5 us per read fault, 1.2 us per write fault on our VM, against
/// 0.05 us to clear a resident page), which made calloc-then-fill of
/// 1-16 MiB blocks 8x slower than glibc. Why skip zero pages: a program
/// that reads a calloc'ed block maps the kernel's zero page; writing zeros
/// over it would copy it into a private page (a fault, and memory), and
/// made `calloc-large` 10 % slower and twice as big. Why no size bound
/// (there was one at 32 MiB, like glibc's largest mmap threshold): the
/// work is proportional to the resident pages, which the program paid
/// for when it touched them; returning a 64 MiB prefix to the OS instead
/// made `calloc-large` fault every page again, 3.5x slower.
///
/// # Safety
/// `rec` was just taken from the cache and is ours alone.
unsafe fn zero_dirty_prefix(rec: *mut BigBlock, end: usize) {
    // SAFETY: per the contract; `[user, base + prefix)` lies in the block.
    unsafe {
        let off = (*rec).user - (*rec).base;
        let prefix = (*rec).dirty.min(end);
        if prefix <= off {
            return;
        }
        let ps = map::page_size();
        let chunk = ZERO_CHUNK_PAGES * ps;
        let to = (*rec).base + prefix;
        let mut a = (*rec).user;
        while a < to {
            let b = ((a & !(chunk - 1)) + chunk).min(to);
            clear_chunk(a, b);
            a = b;
        }
    }
}

/// Zeroes `[from, to)` (8-byte aligned, within one chunk of
/// [`ZERO_CHUNK_PAGES`] pages), choosing by how much of it is resident
/// (`mincore`):
///
/// - mostly resident: every page is read and the ones that are not all
///   zeros are cleared ([`clear_nonzero_pages`]); reading a page that is
///   not resident maps the zero page (or swaps it in), so the result is
///   exact whatever `mincore` said;
/// - mostly not resident (a program that used a few pages of a big block):
///   the whole chunk is returned to the OS with one `madvise`, instead of
///   faulting in its untouched pages to read them. A non-resident page may
///   be swapped out and hold data, so skipping it would not do; and when
///   the kernel refuses the `madvise` (locked memory), the chunk is read
///   and cleared after all.
///
/// # Safety
/// The range is writable memory of one of our mappings that no one else
/// uses, and lies within one aligned chunk of [`ZERO_CHUNK_PAGES`] pages
/// (the `mincore` vector has a byte for each of them).
unsafe fn clear_chunk(from: usize, to: usize) {
    let ps = map::page_size();
    let a = from & !(ps - 1);
    let b = (to + ps - 1) & !(ps - 1);
    let pages = (b - a) / ps;
    let mut v = [0u8; ZERO_CHUNK_PAGES];
    // SAFETY: `v` holds a byte for each of the `pages` <= ZERO_CHUNK_PAGES
    // pages; mincore only reads page tables of our mapping.
    let r = unsafe { libc::mincore(a as *mut libc::c_void, b - a, v.as_mut_ptr()) };
    let resident = if r == 0 { v[..pages].iter().filter(|&&x| x & 1 != 0).count() } else { pages };
    // The whole pages inside the range (the ends may be partial pages).
    let (ia, ib) = ((from + ps - 1) & !(ps - 1), to & !(ps - 1));
    // SAFETY: per the contract; [ia, ib) are whole pages inside the range.
    unsafe {
        if resident * 2 >= pages || ia >= ib {
            clear_nonzero_pages(from, to);
            return;
        }
        clear_nonzero_pages(from, ia);
        if !map::decommit(ia as *mut u8, ib - ia) {
            clear_nonzero_pages(ia, ib);
        }
        clear_nonzero_pages(ib, to);
    }
}

/// Zeroes `[from, to)` (8-byte aligned bounds) page by page, leaving alone
/// the pages that already read as zero.
///
/// # Safety
/// The range is writable memory no one else uses.
unsafe fn clear_nonzero_pages(from: usize, to: usize) {
    let ps = map::page_size();
    let mut a = from;
    while a < to {
        let b = ((a & !(ps - 1)) + ps).min(to);
        // SAFETY: [a, b) lies in the range and is 8-byte aligned.
        unsafe {
            let words = core::slice::from_raw_parts(a as *const u64, (b - a) / 8);
            if words.chunks(16).any(|c| c.iter().fold(0, |x, &w| x | w) != 0) {
                ptr::write_bytes(a as *mut u8, 0, b - a);
            }
        }
        a = b;
    }
}

/// Whether most of the [`PROBE_PAGES`] pages from page-aligned `p` are
/// resident (a heuristic: false when `mincore` fails).
fn dense(p: usize) -> bool {
    let mut v = [0u8; PROBE_PAGES];
    // SAFETY: `v` holds one byte per probed page; mincore only reads page
    // tables (the caller's pages are mapped).
    let r = unsafe { libc::mincore(p as *mut libc::c_void, PROBE_PAGES * map::page_size(), v.as_mut_ptr()) };
    r == 0 && v.iter().filter(|&&b| b & 1 != 0).count() * 2 > PROBE_PAGES
}

fn round_segments(n: usize) -> Option<usize> {
    n.checked_add(SEGMENT_SIZE - 1).map(|v| v & !(SEGMENT_SIZE - 1))
}

impl BigCache {
    hak_os::loom_const_fn! {
        /// An empty cache with the default policy (enabled, 32 entries,
        /// 256 MiB, 1 s decay, a [`MAX_DIRTY`] resident budget, no THP).
        pub fn new() -> BigCache {
            BigCache {
                cache: SpinLock::new(Cache { entries: [ptr::null_mut(); MAX_ENTRIES], n: 0, bytes: 0, dirty: 0, seq: 0 }),
                enabled: stat::AtomicBool::new(true),
                max_n: stat::AtomicUsize::new(32),
                max_bytes: stat::AtomicUsize::new(256 << 20),
                max_dirty: stat::AtomicUsize::new(MAX_DIRTY),
                decay_ms: stat::AtomicU64::new(1000),
                thp: stat::AtomicBool::new(false),
                stats: BigStats::new(),
            }
        }
    }

    /// Sets the cache policy: whether to cache at all, the entry and byte
    /// limits, the decay interval after which cached pages are purged, and
    /// whether mappings get the huge-page advice (while their block is at
    /// least 2 MiB, see `fit_huge`).
    pub fn configure(&self, enabled: bool, max_entries: usize, max_bytes: usize, decay_ms: u64, thp: bool) {
        self.thp.store(thp, Ordering::Relaxed);
        self.enabled.store(enabled, Ordering::Relaxed);
        self.max_n.store(max_entries.min(MAX_ENTRIES), Ordering::Relaxed);
        self.max_bytes.store(max_bytes, Ordering::Relaxed);
        self.decay_ms.store(decay_ms, Ordering::Relaxed);
    }

    /// Sets the cache's resident budget: when the dirty extents of the
    /// cached mappings add up to more than `bytes`, the least recently
    /// cached ones are purged (`MADV_DONTNEED`, the mappings stay cached)
    /// until they fit. Default [`MAX_DIRTY`].
    pub fn set_max_dirty(&self, bytes: usize) {
        self.max_dirty.store(bytes, Ordering::Relaxed);
    }

    /// Allocates `size` bytes aligned to `align` (a power of two), zeroed when
    /// `zero`. Null when the size overflows or the OS refuses.
    ///
    /// A mapping reused from the cache is trimmed to the block (see
    /// `trim_dirty`); for a zeroed request only its dirty prefix is cleared
    /// (see `zero_dirty_prefix`).
    ///
    /// Blocks with an alignment of at most 1 KiB start 1 KiB into their
    /// first page: page-strided accesses then do not share their page offset
    /// with page-aligned data and stack slots at offset 0 (4K aliasing;
    /// it sped up the `large` touch-every-page loop in an A/B run). The
    /// offset is the same for every block: varying it (jemalloc-style
    /// colouring) spreads page-strided accesses over every L1 set, which
    /// slowed `mid` in the same kind of A/B run.
    pub fn alloc(&self, size: usize, align: usize, zero: bool) -> *mut u8 {
        let size = size.max(1);
        let Some(need) = size.checked_add(COLOR_SPAN).and_then(round_segments) else { return ptr::null_mut() };
        if need > isize::MAX as usize {
            return ptr::null_mut();
        }
        let color = if align <= BLOCK_OFFSET { BLOCK_OFFSET } else { 0 };
        if align <= SEGMENT_SIZE {
            let rec = self.take_cached(need);
            if !rec.is_null() {
                self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                self.stats.allocs.fetch_add(1, Ordering::Relaxed);
                // SAFETY: the record came out of the cache and is ours.
                unsafe {
                    (*rec).user = (*rec).base + color;
                    (*rec).size = usable(color, size);
                    let end = color + (*rec).size;
                    trim_dirty(rec, end, true);
                    if zero {
                        zero_dirty_prefix(rec, end);
                    }
                    (*rec).dirty = (*rec).dirty.max(end);
                    self.fit_huge(rec);
                    (*rec).state.store(LIVE, Ordering::Release);
                    return (*rec).user as *mut u8;
                }
            }
        }
        // A fresh mapping grows the footprint: first cut what the cache
        // keeps resident (see `cut_for_growth`).
        self.cut_for_growth();
        let base = map::map_aligned(need, align.max(SEGMENT_SIZE));
        if base.is_null() {
            return base;
        }
        let rec = meta::alloc(core::mem::size_of::<BigBlock>()) as *mut BigBlock;
        if rec.is_null() {
            // SAFETY: unpublished mapping.
            unsafe { map::unmap(base, need) };
            return ptr::null_mut();
        }
        // SAFETY: fresh record, ours alone.
        unsafe {
            (*rec).base = base as usize;
            (*rec).map_size = need;
            (*rec).user = base as usize + color;
            (*rec).size = usable(color, size);
            ptr::addr_of_mut!((*rec).state).write(AtomicU32::new(LIVE));
            (*rec).dirty = color + (*rec).size;
            (*rec).dense_until_ms = 0;
            (*rec).huge = false;
            self.fit_huge(rec);
        }
        if !segmap::set_range(base as usize, need, rec as usize | TAG_BIG) {
            // SAFETY: unpublished mapping and record.
            unsafe {
                map::unmap(base, need);
                meta::free(rec.cast(), core::mem::size_of::<BigBlock>());
            }
            return ptr::null_mut();
        }
        self.stats.maps.fetch_add(1, Ordering::Relaxed);
        self.stats.allocs.fetch_add(1, Ordering::Relaxed);
        self.stats.mapped_bytes.fetch_add(need, Ordering::Relaxed);
        // SAFETY: base + color lies in the first page of our mapping.
        unsafe { base.add(color) }
    }

    /// Gives `rec`'s mapping the huge-page advice, or takes it away, so that
    /// with THP on it carries the advice exactly while its block is at least
    /// [`HUGE_PAGE`] (the advice stays with a mapping that is cached and
    /// reused, or resized by `realloc`). Nothing when THP is off.
    ///
    /// # Safety
    /// `rec` is ours: being handed out, or live and owned by the caller.
    unsafe fn fit_huge(&self, rec: *mut BigBlock) {
        if !self.thp.load(Ordering::Relaxed) {
            return;
        }
        // SAFETY: per contract; the range is the record's mapping.
        unsafe {
            let want = (*rec).size >= HUGE_PAGE;
            if (*rec).huge != want {
                map::advise_huge((*rec).base as *mut u8, (*rec).map_size, want);
                (*rec).huge = want;
            }
        }
    }

    /// Takes a cached mapping of at least `need` bytes.
    ///
    /// The most recently cached *resident* mapping of at most four times
    /// `need` wins: its pages and TLB entries are the warmest, and handing a
    /// larger mapping to a smaller request costs no memory (its pages are
    /// resident either way). Failing that, the smallest mapping of at most
    /// twice `need`. (The caller then trims the mapping's dirty tail and,
    /// for a zeroed request, clears its dirty prefix.)
    fn take_cached(&self, need: usize) -> *mut BigBlock {
        if !self.enabled.load(Ordering::Relaxed) {
            return ptr::null_mut();
        }
        let mut c = self.cache.lock();
        let mut pick = MAX_ENTRIES;
        let mut pick_seq = 0u64;
        let mut best = usize::MAX;
        let mut best_i = MAX_ENTRIES;
        for i in 0..c.n {
            // SAFETY: cached records are valid while in the cache (under lock).
            let (ms, resident, seq) = unsafe {
                let e = c.entries[i];
                ((*e).map_size, (*e).dirty != 0, (*e).seq)
            };
            if ms < need {
                continue;
            }
            if resident && ms / 4 <= need && (pick == MAX_ENTRIES || seq > pick_seq) {
                pick = i;
                pick_seq = seq;
            }
            if ms / 2 <= need && ms < best {
                best = ms;
                best_i = i;
            }
        }
        let i = if pick != MAX_ENTRIES { pick } else { best_i };
        if i == MAX_ENTRIES {
            return ptr::null_mut();
        }
        c.remove(i)
    }

    /// Frees the big block `p` whose segment-map entry is `entry`. Aborts on
    /// a double free or a pointer that is not a block start.
    ///
    /// # Safety
    /// `entry` is the segment-map entry of `p` and is tagged [`TAG_BIG`].
    pub unsafe fn free(&self, entry: usize, p: *mut u8) {
        // SAFETY: forwarded contract.
        if !unsafe { self.try_free(entry, p) } {
            diag::fatal("free(): double free or invalid pointer", p as usize);
        }
    }

    /// [`BigCache::free`] that returns false instead of aborting when `p` is
    /// not a live block start (a double free: of concurrent frees of one
    /// block, exactly one succeeds).
    ///
    /// # Safety
    /// As [`BigCache::free`].
    pub unsafe fn try_free(&self, entry: usize, p: *mut u8) -> bool {
        let rec = (entry & !segmap::TAG_MASK) as *mut BigBlock;
        // SAFETY: registered records stay valid; the CAS makes concurrent
        // double frees fail for all but one caller.
        unsafe {
            if (*rec).user != p as usize
                || (*rec).state.compare_exchange(LIVE, CACHED, Ordering::AcqRel, Ordering::Relaxed).is_err()
            {
                return false;
            }
        }
        self.stats.frees.fetch_add(1, Ordering::Relaxed);
        self.release(rec);
        true
    }

    fn release(&self, rec: *mut BigBlock) {
        let now = hak_os::now_ms();
        let decay = self.decay_ms.load(Ordering::Relaxed);
        let mut evict: [*mut BigBlock; MAX_ENTRIES + 1] = [ptr::null_mut(); MAX_ENTRIES + 1];
        let mut ne = 0;
        {
            // SAFETY: the record is ours (state CACHED by our CAS).
            let (size, dirty) = unsafe { ((*rec).map_size, (*rec).dirty) };
            // SAFETY: as above.
            unsafe { (*rec).cached_at_ms = now };
            let mut c = self.cache.lock();
            c.seq += 1;
            // SAFETY: the record is ours.
            unsafe { (*rec).seq = c.seq };
            let max_n = self.max_n.load(Ordering::Relaxed);
            let max_b = self.max_bytes.load(Ordering::Relaxed);
            if !self.enabled.load(Ordering::Relaxed) || size > max_b || max_n == 0 {
                evict[ne] = rec;
                ne += 1;
            } else {
                // Make room: oldest first.
                while c.n >= max_n || c.bytes + size > max_b {
                    let mut oldest = 0;
                    for i in 1..c.n {
                        // SAFETY: cached records, under lock.
                        if unsafe { (*c.entries[i]).cached_at_ms < (*c.entries[oldest]).cached_at_ms } {
                            oldest = i;
                        }
                    }
                    evict[ne] = c.remove(oldest);
                    ne += 1;
                }
                let n = c.n;
                c.entries[n] = rec;
                c.n += 1;
                c.bytes += size;
                c.dirty += dirty;
            }
            // Purge (keeping the mappings cached): entries older than the
            // decay interval, then the least recently cached ones while the
            // dirty extents exceed the resident budget (this one included:
            // a mapping dirtier than the whole budget is purged at once).
            // Done under the lock so no purge can race a reuse of the same
            // mapping.
            self.purge_decayed(&mut c, now, decay);
            self.enforce_budget(&mut c, self.max_dirty.load(Ordering::Relaxed));
        }
        for &e in &evict[..ne] {
            self.destroy(e);
        }
    }

    /// Purges the cached mappings cached at least `decay` ms before `now`.
    fn purge_decayed(&self, c: &mut Cache, now: u64, decay: u64) {
        for i in 0..c.n {
            let e = c.entries[i];
            // SAFETY: cached record, under lock.
            if unsafe { now.saturating_sub((*e).cached_at_ms) } >= decay {
                self.purge(c, e);
            }
        }
    }

    /// Purges the least recently cached dirty mappings until the dirty
    /// extents fit `budget` (a mapping whose `madvise` the kernel refuses
    /// stays dirty and is passed over).
    fn enforce_budget(&self, c: &mut Cache, budget: usize) {
        let mut after = 0u64;
        while c.dirty > budget {
            let mut oldest = ptr::null_mut::<BigBlock>();
            for &e in &c.entries[..c.n] {
                // SAFETY: cached records, under lock.
                unsafe {
                    if (*e).dirty != 0 && (*e).seq > after && (oldest.is_null() || (*e).seq < (*oldest).seq) {
                        oldest = e;
                    }
                }
            }
            if oldest.is_null() {
                break;
            }
            // SAFETY: a cached record, under lock.
            after = unsafe { (*oldest).seq };
            self.purge(c, oldest);
        }
    }

    /// Cuts the cached mappings' dirty extents to a quarter of the
    /// resident budget, least recently cached first. Called before the
    /// allocator's footprint grows (a fresh or growing big mapping here; a
    /// slab tier's new or purged page through the router's growth hook, see
    /// [`hak_os::map::set_growth_hook`]): the full budget is for a program
    /// whose footprint holds still and reuses what it freed; one whose
    /// footprint grows should not keep that much freed memory resident
    /// besides (freeing a 100 MiB block and then allocating 100 MiB of small
    /// blocks would otherwise peak at twice the program's size).
    pub fn cut_for_growth(&self) {
        let budget = self.max_dirty.load(Ordering::Relaxed) / 4;
        let mut c = self.cache.lock();
        if c.dirty > budget {
            self.enforce_budget(&mut c, budget);
        }
    }

    /// Purges the cached mappings older than the decay interval. The
    /// purges otherwise happen when a block is released; the router calls
    /// this from its periodic upkeep so that a program that stops
    /// releasing big blocks still gets their pages back within about the
    /// decay interval. Costs one relaxed load when the tier maps nothing.
    pub fn decay(&self) {
        if self.stats.mapped_bytes.load(Ordering::Relaxed) == 0 {
            return;
        }
        let now = hak_os::now_ms();
        let decay = self.decay_ms.load(Ordering::Relaxed);
        let mut c = self.cache.lock();
        self.purge_decayed(&mut c, now, decay);
    }

    /// Returns the dirty pages of cached mapping `e` to the OS (no-op when
    /// it has none). Called with the cache lock held (`c` is its guard's
    /// contents), so `e` cannot be reused meanwhile.
    fn purge(&self, c: &mut Cache, e: *mut BigBlock) {
        // SAFETY: `e` is a cached record (under the lock) whose block is not
        // live: nobody reads or writes its pages.
        unsafe {
            let d = (*e).dirty;
            if d == 0 || !map::decommit((*e).base as *mut u8, d) {
                // Nothing to purge, or the kernel refused (locked memory):
                // the extent stays as it is, so a zeroed reuse clears it.
                return;
            }
            (*e).dirty = 0;
            c.dirty -= d;
        }
        self.stats.purges.fetch_add(1, Ordering::Relaxed);
    }

    fn destroy(&self, rec: *mut BigBlock) {
        // SAFETY: the record left the cache (or never entered it) and its block is
        // not live: unregister, unmap, recycle.
        unsafe {
            let (base, size) = ((*rec).base, (*rec).map_size);
            segmap::clear_range(base, size);
            map::unmap(base as *mut u8, size);
            self.stats.mapped_bytes.fetch_sub(size, Ordering::Relaxed);
            self.stats.unmaps.fetch_add(1, Ordering::Relaxed);
            // Records stay readable forever: a stale lookup racing the clear above
            // must still read a valid (dead) record, so the record is recycled, not
            // unmapped, and its state says "not live".
            (*rec).state.store(0, Ordering::Release);
            meta::free(rec.cast(), core::mem::size_of::<BigBlock>());
        }
    }

    /// Resizes big block `p` to `new_size` bytes (>= 1), keeping its contents.
    /// Returns the (possibly moved) block, or null with `p` intact.
    ///
    /// # Safety
    /// `entry` is the segment-map entry of `p`, tagged [`TAG_BIG`], and `p`
    /// is live and owned by the caller.
    pub unsafe fn realloc(&self, entry: usize, p: *mut u8, new_size: usize) -> *mut u8 {
        let rec = live_record(entry, p, "realloc(): invalid pointer");
        let Some(need_tail) = new_size.checked_add(p as usize) else { return ptr::null_mut() };
        // SAFETY: live record owned by the caller; segment-map updates bracket the
        // mapping changes.
        unsafe {
            let base = (*rec).base;
            let old = (*rec).map_size;
            let old_size = (*rec).size;
            let Some(need) = round_segments(need_tail - base) else { return ptr::null_mut() };
            if need > isize::MAX as usize {
                return ptr::null_mut();
            }
            // Every successful path below leaves the block `new_size` bytes
            // usable (rounded to pages) and its dirty extent covering them
            // (a shrink trims it, see `trim_dirty`); the mapping is resized
            // only when the number of segments changes.
            let off = (*rec).user - base;
            (*rec).size = usable(off, new_size.max(1));
            let end = off + (*rec).size;
            if need <= old {
                if need < old {
                    // A growing block may sit in a larger reused mapping too:
                    // it loses the segments it does not need.
                    self.stats.remaps.fetch_add(1, Ordering::Relaxed);
                    segmap::clear_range(base + need, old - need);
                    map::unmap((base + need) as *mut u8, old - need);
                    (*rec).map_size = need;
                    (*rec).dirty = (*rec).dirty.min(need);
                    self.stats.mapped_bytes.fetch_sub(old - need, Ordering::Relaxed);
                }
                // Only a shrink trims: a block growing into a dirty tail
                // (a reused mapping the program had filled, kept by the
                // reuse probe) would fault every page of it in again.
                if (*rec).size < old_size {
                    trim_dirty(rec, end, false);
                }
                (*rec).dirty = (*rec).dirty.max(end);
                self.fit_huge(rec);
                return p;
            }
            self.stats.remaps.fetch_add(1, Ordering::Relaxed);
            // The mapping grows: first cut what the cache keeps resident
            // (see `cut_for_growth`).
            self.cut_for_growth();
            if map::remap_in_place(base as *mut u8, old, need) {
                if !segmap::set_range(base + old, need - old, rec as usize | TAG_BIG) {
                    // Cannot describe the new tail: undo.
                    map::remap_in_place(base as *mut u8, need, old);
                    (*rec).size = old_size;
                    return ptr::null_mut();
                }
                (*rec).map_size = need;
                (*rec).dirty = (*rec).dirty.max(end);
                self.stats.mapped_bytes.fetch_add(need - old, Ordering::Relaxed);
                self.fit_huge(rec);
                return p;
            }
            // Move. Segment-map entries must only ever describe address
            // ranges we hold: register the destination while it is our
            // reservation, and clear the source before the kernel frees it
            // (another thread may map and register that range at once).
            let dest = map::map_aligned(need, SEGMENT_SIZE);
            if dest.is_null() {
                (*rec).size = old_size;
                return ptr::null_mut();
            }
            if !segmap::set_range(dest as usize, need, rec as usize | TAG_BIG) {
                map::unmap(dest, need);
                (*rec).size = old_size;
                return ptr::null_mut();
            }
            segmap::clear_range(base, old);
            // The caller falls back to allocate-copy-free, which may
            // succeed: a failed move leaves errno as it was.
            let moved = map::quiet(|| {
                libc::mremap(
                    base as *mut libc::c_void,
                    old,
                    need,
                    libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                    dest.cast::<libc::c_void>(),
                ) != libc::MAP_FAILED
            });
            if !moved {
                // The source is untouched and still ours: describe it again.
                segmap::clear_range(dest as usize, need);
                map::unmap(dest, need);
                segmap::set_range(base, old, rec as usize | TAG_BIG);
                (*rec).size = old_size;
                return ptr::null_mut();
            }
            (*rec).base = dest as usize;
            (*rec).user = dest as usize + off;
            (*rec).map_size = need;
            (*rec).dirty = (*rec).dirty.max(end);
            self.stats.mapped_bytes.fetch_add(need - old, Ordering::Relaxed);
            // The moved mapping kept its advice.
            self.fit_huge(rec);
            (*rec).user as *mut u8
        }
    }

    /// Unmaps every cached mapping (e.g. `hak_thread_flush` / trimming).
    pub fn trim(&self) {
        loop {
            let rec = {
                let mut c = self.cache.lock();
                if c.n == 0 {
                    break;
                }
                let last = c.n - 1;
                c.remove(last)
            };
            self.destroy(rec);
        }
    }

    /// Live blocks right now (allocated and not yet freed).
    pub fn live(&self) -> usize {
        self.stats.allocs.load(Ordering::Relaxed).saturating_sub(self.stats.frees.load(Ordering::Relaxed))
    }

    /// Cached entries and bytes right now.
    pub fn cached(&self) -> (usize, usize) {
        let c = self.cache.lock();
        (c.n, c.bytes)
    }

    /// Takes the cache lock before `fork`.
    pub fn prefork(&self) {
        self.cache.raw_lock();
    }

    /// Releases the cache lock after `fork` (parent and child).
    pub fn postfork(&self) {
        // SAFETY: taken by prefork (or by a thread that is gone in the child).
        unsafe { self.cache.force_unlock() };
    }
}

impl Default for BigCache {
    fn default() -> Self {
        BigCache::new()
    }
}

/// Loom builds: a model's cache unmaps its cached mappings when dropped.
#[cfg(loom)]
impl Drop for BigCache {
    fn drop(&mut self) {
        self.trim();
    }
}

/// The record of a pointer whose segment-map entry is tagged [`TAG_BIG`];
/// aborts when `p` is not the start of a live block.
fn live_record(entry: usize, p: *const u8, what: &str) -> *mut BigBlock {
    let rec = (entry & !segmap::TAG_MASK) as *mut BigBlock;
    // SAFETY: records registered in the segment map are never unmapped.
    let (user, state) = unsafe { ((*rec).user, (*rec).state.load(Ordering::Acquire)) };
    if user != p as usize || state != LIVE {
        diag::fatal(what, p as usize);
    }
    rec
}

/// Usable bytes of big block `p`: its request rounded up to whole pages.
///
/// # Safety
/// `entry` is `segmap::lookup(p)`, tagged [`TAG_BIG`], and `p` is live.
pub unsafe fn usable_size(entry: usize, p: *const u8) -> usize {
    let rec = live_record(entry, p, "malloc_usable_size(): invalid pointer");
    // SAFETY: live record.
    unsafe { (*rec).size }
}

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

/// Allocates `size` bytes aligned to `align` (a power of two), zeroed when
/// `zero`, from the process-wide tier. Null when the size overflows or the
/// OS refuses.
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
