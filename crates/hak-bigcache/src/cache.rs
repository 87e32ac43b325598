//! The cache of released mappings: [`BigCache`] (policy, counters and the
//! locked entry array), allocation (`BigCache::alloc`: reuse by the fit
//! rule in `take_cached`, else a fresh mapping), free (the LIVE → CACHED
//! CAS in `try_free`, then `release`: insert with eviction of the oldest,
//! and the purges), and emptying the cache (`trim`).

use core::ptr;
// Statistics counters and configuration knobs: relaxed, outside every
// protocol, plain `core` atomics in every build (see `hak_os::sync`).
use core::sync::atomic as stat;

use hak_os::lock::SpinLock;
use hak_os::sync::Ordering;
use hak_os::{diag, segmap, SEGMENT_SIZE};

use crate::check::check_record;
use crate::dirty::{trim_dirty, zero_dirty_prefix};
use crate::record::{round_mapping, usable, BigBlock, BLOCK_OFFSET, CACHED, COLOR_SPAN, LIVE};
use crate::{MAX_DIRTY, MAX_ENTRIES};

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
    /// Freed mappings put in quarantine (secure mode, see `quarantine`).
    pub quarantined: stat::AtomicUsize,
    /// Bytes currently mapped by this tier (live, cached and quarantined:
    /// the last hold address space only).
    pub mapped_bytes: stat::AtomicUsize,
    /// Usable bytes of the live blocks (their requests rounded up to pages).
    pub live_bytes: stat::AtomicUsize,
    /// Bytes returned to the OS: mappings unmapped, cached mappings purged.
    pub returned_bytes: stat::AtomicUsize,
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
            quarantined: stat::AtomicUsize::new(0),
            mapped_bytes: stat::AtomicUsize::new(0),
            live_bytes: stat::AtomicUsize::new(0),
            returned_bytes: stat::AtomicUsize::new(0),
        }
    }
}

/// The cache proper, behind [`BigCache`]'s lock.
pub(crate) struct Cache {
    pub(crate) entries: [*mut BigBlock; MAX_ENTRIES],
    pub(crate) n: usize,
    /// Sum of the entries' mapping sizes.
    pub(crate) bytes: usize,
    /// Sum of the entries' dirty extents (an upper bound of their resident bytes).
    pub(crate) dirty: usize,
    /// Release counter: orders entries from least to most recently cached.
    pub(crate) seq: u64,
}

// SAFETY: entries are only followed under the cache lock.
unsafe impl Send for Cache {}

impl Cache {
    /// Takes entry `i` out of the cache (the last entry fills its slot) and
    /// out of the byte and dirty totals.
    pub(crate) fn remove(&mut self, i: usize) -> *mut BigBlock {
        let rec = self.entries[i];
        self.n -= 1;
        self.entries[i] = self.entries[self.n];
        // SAFETY: cached records are valid while in the cache (we hold its lock).
        unsafe {
            debug_assert_eq!((*rec).state.load(Ordering::Relaxed), CACHED, "a cache entry is not CACHED");
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
    pub(crate) cache: SpinLock<Cache>,
    /// Freed mappings kept inaccessible (secure mode, see `quarantine`).
    pub(crate) quarantine: SpinLock<crate::quarantine::Fifo>,
    enabled: stat::AtomicBool,
    max_n: stat::AtomicUsize,
    max_bytes: stat::AtomicUsize,
    pub(crate) max_dirty: stat::AtomicUsize,
    pub(crate) decay_ms: stat::AtomicU64,
    pub(crate) thp: stat::AtomicBool,
    /// The counters of this tier.
    pub stats: BigStats,
}

impl BigCache {
    hak_os::loom_const_fn! {
        /// An empty cache with the default policy (enabled, 32 entries,
        /// 256 MiB, 1 s decay, a [`MAX_DIRTY`] resident budget, no THP).
        pub fn new() -> BigCache {
            BigCache {
                cache: SpinLock::new(Cache { entries: [ptr::null_mut(); MAX_ENTRIES], n: 0, bytes: 0, dirty: 0, seq: 0 }),
                quarantine: SpinLock::new(crate::quarantine::Fifo::new()),
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

    /// Sets how many released mappings the cache keeps (at most
    /// [`MAX_ENTRIES`](crate::MAX_ENTRIES)), leaving the rest of the
    /// configuration as it is. A lower bound takes effect at the next
    /// release, which evicts the least recently cached entries beyond it.
    pub fn set_max_entries(&self, n: usize) {
        self.max_n.store(n.min(crate::MAX_ENTRIES), Ordering::Relaxed);
    }

    /// Sets the decay interval (ms): cached mappings not reused for that
    /// long have their pages purged by the next [`decay`](BigCache::decay)
    /// pass; 0 purges at release. Leaves the rest of the configuration as it
    /// is.
    pub fn set_decay_ms(&self, ms: u64) {
        self.decay_ms.store(ms, Ordering::Relaxed);
    }

    /// How many released mappings the cache keeps at most.
    pub fn max_entries(&self) -> usize {
        self.max_n.load(Ordering::Relaxed)
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
    /// slowed `mid` in the same kind of A/B run (docs/decisions/0023).
    pub fn alloc(&self, size: usize, align: usize, zero: bool) -> *mut u8 {
        let size = size.max(1);
        let Some(need) = size.checked_add(COLOR_SPAN).and_then(round_mapping) else { return ptr::null_mut() };
        if need > isize::MAX as usize {
            return ptr::null_mut();
        }
        let color = if align <= BLOCK_OFFSET { BLOCK_OFFSET } else { 0 };
        if align <= SEGMENT_SIZE {
            let mut rec = self.take_cached(need);
            if rec.is_null() {
                rec = self.take_grown(need);
            }
            if !rec.is_null() {
                self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                self.stats.allocs.fetch_add(1, Ordering::Relaxed);
                // SAFETY: the record came out of the cache and is ours.
                unsafe {
                    // A reused mapping's block starts 1 KiB further in than
                    // its last one (1 or 2 KiB in, in turn; decision 0051):
                    // a stale free of the block that was freed here, after
                    // this malloc, is then no block start, reported, and
                    // does not free this one.
                    let color = if color != 0 && (*rec).user == (*rec).base + color { color * 2 } else { color };
                    (*rec).user = (*rec).base + color;
                    (*rec).size = usable(color, size);
                    self.stats.live_bytes.fetch_add((*rec).size, Ordering::Relaxed);
                    let end = color + (*rec).size;
                    trim_dirty(rec, end, true);
                    if zero {
                        zero_dirty_prefix(rec, end);
                    }
                    (*rec).dirty = (*rec).dirty.max(end);
                    self.fit_huge(rec);
                    debug_assert_eq!((*rec).state.load(Ordering::Relaxed), CACHED, "reused mapping not CACHED");
                    (*rec).state.store(LIVE, Ordering::Release);
                    check_record(rec, LIVE);
                    return (*rec).user as *mut u8;
                }
            }
        }
        // A fresh mapping grows the footprint: first cut what the cache
        // keeps resident (see `cut_for_growth`).
        self.cut_for_growth();
        self.map_fresh(need, align.max(SEGMENT_SIZE), color, size)
    }

    /// Takes a cached mapping of at least `need` bytes.
    ///
    /// The most recently cached *resident* mapping of at most four times
    /// `need` wins: its pages and TLB entries are the warmest, and handing a
    /// larger mapping to a smaller request costs no memory (its pages are
    /// resident either way). Failing that, the smallest mapping of at most
    /// twice `need`. A request below a segment counts as a segment in these
    /// two ratios: a 1 MiB block may take a resident mapping of up to
    /// 16 MiB, as when mappings were whole segments. (The caller then trims
    /// the mapping's dirty tail and, for a zeroed request, clears its dirty
    /// prefix.)
    fn take_cached(&self, need: usize) -> *mut BigBlock {
        if !self.enabled.load(Ordering::Relaxed) {
            return ptr::null_mut();
        }
        // Where every mapped byte counts (`ulimit -v`, strict overcommit),
        // a small block takes no large mapping (0049).
        let fit = if hak_os::map::mapping_counted() { need } else { need.max(SEGMENT_SIZE) };
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
            if resident && ms / 4 <= fit && (pick == MAX_ENTRIES || seq > pick_seq) {
                pick = i;
                pick_seq = seq;
            }
            if ms / 2 <= fit && ms < best {
                best = ms;
                best_i = i;
            }
        }
        let i = if pick != MAX_ENTRIES { pick } else { best_i };
        if i == MAX_ENTRIES {
            return ptr::null_mut();
        }
        let rec = c.remove(i);
        self.check_locked(&c);
        rec
    }

    /// A cached resident mapping smaller than `need` (the largest, of at
    /// least half of it), grown to `need` by `mremap` (in place, or moved
    /// with its pages): when a request is larger than every cached mapping,
    /// the pages a smaller one holds serve it instead of staying resident
    /// beside a fresh mapping (`large`: decision 0048). Null when there is
    /// none or it cannot grow (then it is unmapped).
    fn take_grown(&self, need: usize) -> *mut BigBlock {
        if !self.enabled.load(Ordering::Relaxed) {
            return ptr::null_mut();
        }
        let rec = {
            let mut c = self.cache.lock();
            let mut pick = MAX_ENTRIES;
            let mut pick_size = 0;
            for i in 0..c.n {
                // SAFETY: cached records are valid while in the cache (under lock).
                let (ms, resident) = unsafe { ((*c.entries[i]).map_size, (*c.entries[i]).dirty != 0) };
                if resident && ms < need && ms >= need / 2 && ms > pick_size {
                    pick = i;
                    pick_size = ms;
                }
            }
            if pick == MAX_ENTRIES {
                return ptr::null_mut();
            }
            let rec = c.remove(pick);
            self.check_locked(&c);
            rec
        };
        // SAFETY: the record left the cache: ours alone; its mapping is
        // smaller than `need`.
        if unsafe { self.grow_mapping(rec, need) } {
            return rec;
        }
        self.destroy(rec);
        ptr::null_mut()
    }

    /// Frees the big block `p` whose segment-map entry is `entry`. Aborts on
    /// a double free or a pointer that is not a block start.
    ///
    /// # Safety
    /// `entry` is the segment-map entry of `p` and is tagged [`TAG_BIG`](crate::TAG_BIG).
    pub unsafe fn free(&self, entry: usize, p: *mut u8) {
        // SAFETY: forwarded contract.
        if !unsafe { self.try_free(entry, p) } {
            let rec = (entry & !segmap::TAG_MASK) as *mut BigBlock;
            // SAFETY: registered records stay valid.
            let off = (p as usize).wrapping_sub(unsafe { (*rec).base });
            // A block start of this mapping, now or before a reuse (1 or
            // 2 KiB in, decision 0051): freed already.
            if off == BLOCK_OFFSET || off == 2 * BLOCK_OFFSET {
                diag::fatal("free(): double free detected", p as usize);
            }
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
        // SAFETY: the record is ours now (CACHED by our CAS).
        self.stats.live_bytes.fetch_sub(unsafe { (*rec).size }, Ordering::Relaxed);
        self.release(rec);
        true
    }

    /// Caches `rec` (just made CACHED by its free), evicting the oldest
    /// entries to make room, or unmaps it when it does not fit; then runs
    /// the purges (decay and resident budget).
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
                debug_assert!(!c.entries[..c.n].contains(&rec), "a released mapping is already cached");
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
            self.check_locked(&c);
        }
        for &e in &evict[..ne] {
            self.retire(e);
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
                let rec = c.remove(last);
                self.check_locked(&c);
                rec
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

    /// Cached entries, their mapped bytes and their dirty extents (an upper
    /// bound of their resident bytes) right now.
    pub fn cached_dirty(&self) -> (usize, usize, usize) {
        let c = self.cache.lock();
        (c.n, c.bytes, c.dirty)
    }

    /// Takes the cache lock before `fork`.
    pub fn prefork(&self) {
        self.cache.raw_lock();
        self.quarantine.raw_lock();
    }

    /// Releases the cache lock after `fork` (parent and child).
    pub fn postfork(&self) {
        // SAFETY: taken by prefork (or by a thread that is gone in the child).
        unsafe {
            self.quarantine.force_unlock();
            self.cache.force_unlock();
        }
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
