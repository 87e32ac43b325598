//! The mapping record: one [`BigBlock`] per big mapping (from the metadata
//! arena), its states (LIVE while the program holds the block, CACHED from
//! the free's CAS until the mapping is reused or destroyed), where a block
//! sits in its mapping, and the mapping's registration in the segment map
//! ([`BigCache::map_fresh`] registers a new one, [`BigCache::destroy`]
//! unregisters and unmaps it).

use core::ptr;

use hak_os::sync::{AtomicU32, Ordering};
use hak_os::{diag, map, meta, segmap};

use crate::{BigCache, TAG_BIG};

/// State of a block the program holds.
pub(crate) const LIVE: u32 = 1;
/// State of a mapping whose block was freed: in the cache, or on its way
/// to it or to being unmapped (only its freeing thread or the cache lock's
/// holder touch it).
pub(crate) const CACHED: u32 = 2;

/// The record of one big mapping (from the metadata arena).
#[repr(C)]
pub struct BigBlock {
    pub(crate) base: usize,
    pub(crate) map_size: usize,
    pub(crate) user: usize,
    /// Usable bytes: the request rounded up to whole pages (what
    /// `malloc_usable_size` reports; the mapping may extend further).
    pub(crate) size: usize,
    pub(crate) state: AtomicU32,
    /// Dirty extent: the bytes from `base` that may be non-zero (and
    /// resident), a page multiple <= `map_size`. It is the high-water of
    /// `user - base + size` handed out since the mapping was made or last
    /// purged (0 for a fresh or purged mapping); every page beyond it is
    /// untouched since `mmap` or `madvise(MADV_DONTNEED)`, so reads as zero
    /// and costs no memory.
    pub(crate) dirty: usize,
    pub(crate) cached_at_ms: u64,
    /// Until when (in `cached_at_ms` time) the dirty tail is taken as
    /// densely used without probing it (see `trim_dirty`); 0 at first.
    pub(crate) dense_until_ms: u64,
    /// Value of the cache's release counter when this mapping was cached.
    pub(crate) seq: u64,
    /// The mapping carries the huge-page advice (see `BigCache::fit_huge`).
    pub(crate) huge: bool,
}

/// Room reserved in front of a big block (its first page).
pub(crate) const COLOR_SPAN: usize = 4096;
/// Where blocks with an alignment of at most this start in their mapping.
pub(crate) const BLOCK_OFFSET: usize = 1024;

/// Usable bytes of a block `n` bytes long starting `offset` bytes into its
/// mapping: up to the end of its last page.
pub(crate) fn usable(offset: usize, n: usize) -> usize {
    round_pages(offset + n) - offset
}

/// `n` rounded up to whole OS pages (`n` well below `usize::MAX`).
fn round_pages(n: usize) -> usize {
    let ps = map::page_size();
    (n + ps - 1) & !(ps - 1)
}

/// The size of a mapping for `n` bytes (block and offset): `n` rounded up
/// to whole pages, and above eight pages to one of eight sizes per
/// doubling (at most an eighth more than `n`), so that a released mapping fits the
/// next request of about its size (None on overflow). A mapping starts at
/// a segment boundary but ends where its size says (decision 0048): the
/// rest of its last segment is not hakmem's, see [`covers`].
pub(crate) fn round_mapping(n: usize) -> Option<usize> {
    let ps = map::page_size();
    let n = n.checked_add(ps - 1)? & !(ps - 1);
    if n <= 8 * ps {
        return Some(n);
    }
    // n in (2^k, 2^(k+1)]: steps of 2^(k-3), at least a page (2^k >= 8 pages).
    let step = (1usize << (usize::BITS - 1 - (n - 1).leading_zeros())) / 8;
    n.checked_add(step - 1).map(|v| v & !(step - 1))
}

/// Whether `p` lies in the mapping of the record of segment-map entry
/// `entry`. A mapping ends inside its last segment, whose entry names the
/// record for the whole segment: an address past the mapping's end is
/// memory that is not hakmem's (another library's mapping, or nothing).
///
/// The record's bounds change when its owner moves or resizes the mapping
/// (`realloc`, a cached mapping grown for a request), always with the
/// segment map updated around them: entries cleared before a range is
/// given up, set before one is used. So once the bounds are read the entry
/// is read again, and a changed entry means `p` is not in this mapping.
///
/// # Safety
/// `entry` is `segmap::lookup_any(p)` (or `lookup`) and tagged [`TAG_BIG`].
pub unsafe fn covers(entry: usize, p: *const u8) -> bool {
    let rec = (entry & !segmap::TAG_MASK) as *const BigBlock;
    // SAFETY: records registered in the segment map are never unmapped (a
    // recycled one is still readable memory).
    let (base, size) = unsafe { (ptr::read_volatile(&(*rec).base), ptr::read_volatile(&(*rec).map_size)) };
    (p as usize).wrapping_sub(base) < size && segmap::lookup_any(p as usize) == entry
}

impl BigCache {
    /// Maps a fresh mapping of `need` bytes ([`round_mapping`]) aligned to
    /// `align` (at least a segment), makes its record with a LIVE block of
    /// `size` bytes `color` bytes into it, and registers the record in the
    /// segment map for every segment the mapping covers. Returns the block,
    /// or null (nothing left behind) when the OS or the metadata arena
    /// refuses or the segment map cannot describe the range.
    pub(crate) fn map_fresh(&self, need: usize, align: usize, color: usize, size: usize) -> *mut u8 {
        // With guards (secure mode), the page after the block's last one.
        let end = color + usable(color, size);
        let need = crate::guard::mapping_size(need, end);
        let base = map::map_aligned(need, align);
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
        // SAFETY: fresh mapping of at least `end` + a page (mapping_size).
        unsafe { crate::guard::place(base, end) };
        if !segmap::set_range(base as usize, need, rec as usize | TAG_BIG) {
            // SAFETY: unpublished mapping and record.
            unsafe {
                map::unmap(base, need);
                meta::free(rec.cast(), core::mem::size_of::<BigBlock>());
            }
            return ptr::null_mut();
        }
        // SAFETY: the record is published and its block is the caller's.
        unsafe { crate::check::check_record(rec, LIVE) };
        self.stats.maps.fetch_add(1, Ordering::Relaxed);
        self.stats.allocs.fetch_add(1, Ordering::Relaxed);
        self.stats.mapped_bytes.fetch_add(need, Ordering::Relaxed);
        // SAFETY: the record is ours until the caller gets the block.
        self.stats.live_bytes.fetch_add(unsafe { (*rec).size }, Ordering::Relaxed);
        // SAFETY: base + color lies in the first page of our mapping.
        unsafe { base.add(color) }
    }

    /// Unregisters `rec`'s mapping from the segment map, unmaps it and
    /// recycles the record (marked not live).
    pub(crate) fn destroy(&self, rec: *mut BigBlock) {
        // SAFETY: the record left the cache (or never entered it) and its block is
        // not live: unregister, unmap, recycle.
        unsafe {
            debug_assert_eq!((*rec).state.load(Ordering::Relaxed), CACHED, "destroying a mapping that is not CACHED");
            let (base, size) = ((*rec).base, (*rec).map_size);
            segmap::clear_range(base, size);
            map::unmap(base as *mut u8, size);
            self.stats.mapped_bytes.fetch_sub(size, Ordering::Relaxed);
            self.stats.returned_bytes.fetch_add(size, Ordering::Relaxed);
            self.stats.unmaps.fetch_add(1, Ordering::Relaxed);
            // Records stay readable forever: a stale lookup racing the clear above
            // must still read a valid (dead) record, so the record is recycled, not
            // unmapped, and its state says "not live".
            (*rec).state.store(0, Ordering::Release);
            meta::free(rec.cast(), core::mem::size_of::<BigBlock>());
        }
    }
}

/// The record of a pointer whose segment-map entry is tagged [`TAG_BIG`];
/// aborts when `p` is not the start of a live block.
pub(crate) fn live_record(entry: usize, p: *const u8, what: &str) -> *mut BigBlock {
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

/// Usable bytes of big block `p` if it is the start of a live block (no
/// abort otherwise: secure mode checks before it frees).
///
/// # Safety
/// `entry` is `segmap::lookup(p)`, tagged [`TAG_BIG`].
pub unsafe fn live_size(entry: usize, p: *const u8) -> Option<usize> {
    let rec = (entry & !segmap::TAG_MASK) as *mut BigBlock;
    // SAFETY: records registered in the segment map are never unmapped.
    unsafe { ((*rec).user == p as usize && (*rec).state.load(Ordering::Acquire) == LIVE).then(|| (*rec).size) }
}
