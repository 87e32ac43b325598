//! Secure mode in the router (`HAKMEM_SECURE=1`, docs/security.md,
//! decision 0035): every block carries its requested size and a canary in
//! a trailer (`hak_slab::secure`), set at allocation and checked on free,
//! with the trailer of the block before it (underflow); frees of pointers
//! that do not start a block abort. The slow paths call in here behind
//! one test of `hak_slab::secure::on()`; the fast paths never do (secure
//! mode has no thread cache and no current pages, so they always miss).

use core::ptr;

use hak_os::{diag, segmap};
use hak_slab::secure::{arm, arm_head, check_before, check_head, check_live, disarm, state, State, TRAILER};

use crate::alloc::{alloc_slow, route};
use crate::Tier;

/// Whether secure mode is on.
#[inline(always)]
pub fn on() -> bool {
    hak_slab::secure::on()
}

/// Secure `malloc(size)` of a slab size or a big one: the class of `size`
/// plus the trailer; null when out of memory.
pub(crate) fn alloc(size: usize) -> *mut u8 {
    let Some(need) = size.checked_add(TRAILER) else { return ptr::null_mut() };
    let (tier, class) = route(need);
    if tier == Tier::Big || !fits(tier, class) {
        return alloc_big(size, crate::MIN_ALIGN, false);
    }
    let p = alloc_slow(tier, class);
    if !p.is_null() {
        // SAFETY: a fresh block of its class, which holds `size + TRAILER`.
        unsafe { arm(p, tier.slab().class_size(class), size) };
    }
    p
}

/// Secure aligned allocation from slab class `(tier, class)`, whose block
/// size is a multiple of the alignment and holds `size + TRAILER`.
pub(crate) fn alloc_class(tier: Tier, class: usize, size: usize, align: usize) -> *mut u8 {
    if !fits(tier, class) {
        return alloc_big(size, align, false);
    }
    let p = alloc_slow(tier, class);
    if !p.is_null() {
        // SAFETY: as in `alloc`.
        unsafe { arm(p, tier.slab().class_size(class), size) };
    }
    p
}

/// Whether a secure page of `class` holds two blocks besides its block 0
/// (`hak_slab::secure`'s sentinel); bigger classes are served as big
/// blocks.
fn fits(tier: Tier, class: usize) -> bool {
    tier.slab().class_size(class) * 3 <= tier.slab().page_size()
}

/// Secure big block: the trailer after the requested bytes, the head
/// canary before them.
pub(crate) fn alloc_big(size: usize, align: usize, zero: bool) -> *mut u8 {
    let Some(need) = size.checked_add(TRAILER) else { return ptr::null_mut() };
    let p = crate::alloc::alloc_big_raw(need, align, zero);
    if !p.is_null() {
        // SAFETY: a fresh live big block of at least `need` bytes.
        unsafe {
            let u = hak_bigcache::usable_size(segmap::lookup(p as usize), p);
            arm(p, u, size);
            arm_head(p);
        }
    }
    p
}

/// Checks the free of slab pointer `p` of segment `seg` and marks the
/// block free: aborts unless `p` starts a live, undamaged block whose
/// predecessor's trailer is intact.
///
/// # Safety
/// `p` lies in the slab segment `seg`.
pub(crate) unsafe fn check_free_slab(seg: &hak_slab::SegMeta, p: *mut u8) {
    // SAFETY: page descriptors of a live segment stay readable.
    unsafe {
        let pg = &*seg.page_of(p as usize);
        let Some(i) = pg.block_index(p as usize) else {
            diag::fatal("free(): invalid pointer (not a block start) detected at", p as usize)
        };
        let bs = pg.block_size();
        check_live(p, bs);
        check_before(p, bs, i);
        disarm(p, bs);
    }
}

/// Checks the free of big pointer `p` (entry `e`) and marks it free.
///
/// # Safety
/// `e` is `p`'s segment-map entry, tagged big.
pub(crate) unsafe fn check_free_big(e: usize, p: *mut u8) {
    // SAFETY: checked to be a live big block before any byte is read.
    unsafe {
        let Some(u) = hak_bigcache::live_size(e, p) else {
            if hak_bigcache::quarantined(e, p) {
                diag::fatal("free(): double free detected", p as usize)
            }
            diag::fatal("free(): double free or invalid pointer", p as usize)
        };
        check_live(p, u);
        check_head(p);
        disarm(p, u);
    }
}

/// Installs the fault reporter (`hak_os::signal`): called once, by
/// `init` in secure mode only.
pub(crate) fn install_fault_reporter() {
    hak_os::signal::install_fault_reporter(classify_fault);
}

/// Names a fault at `addr` hakmem set a trap for: a guard page (the last
/// OS page of a slab segment, the page after a live big block) or a
/// quarantined freed big block. Runs in the signal handler: reads only the
/// segment map and records that are never unmapped.
fn classify_fault(addr: usize) -> Option<&'static str> {
    const OVERFLOW: &str = "heap buffer overflow into a guard page at";
    const FREED: &str = "use after free (write or read of a freed block) at";
    let e = crate::free::entry(addr as *const u8);
    if e == 0 {
        // Not hakmem's (nor in the band the map leaves unmapped: reading
        // it here would fault inside the handler).
        return None;
    }
    if e & segmap::TAG_MASK == segmap::TAG_SLAB {
        // SAFETY: a slab entry's record stays readable for the process's life.
        let base = unsafe { (*hak_slab::seg_of_entry(e)).base };
        let ps = hak_os::map::page_size();
        let guard = base + hak_os::SEGMENT_SIZE - ps;
        return (addr >= guard && addr - guard < ps).then_some(OVERFLOW);
    }
    match hak_bigcache::fault_kind(addr)? {
        hak_bigcache::Fault::Guard => Some(OVERFLOW),
        hak_bigcache::Fault::Freed => Some(FREED),
    }
}

/// The size the program asked for of live block `p` (its usable size in
/// secure mode: the canary follows it), or 0 when `p` is not hakmem's.
///
/// # Safety
/// `p` is null, a live hakmem block, or not hakmem memory.
pub(crate) unsafe fn usable_size(p: *const u8) -> usize {
    // SAFETY: forwarded contract.
    let u = unsafe { crate::free::block_size(p) };
    if u == 0 {
        return 0;
    }
    // SAFETY: a live block of `u` bytes.
    match unsafe { state(p as *mut u8, u) } {
        State::Live(n) => n,
        _ => diag::fatal("malloc_usable_size(): invalid pointer", p as usize),
    }
}

/// Secure `realloc`: always a new block (a fresh trailer), the old one
/// checked and freed.
///
/// # Safety
/// `p` is null or a live hakmem block owned by the caller.
pub(crate) unsafe fn realloc(p: *mut u8, new_size: usize) -> *mut u8 {
    if p.is_null() {
        return crate::alloc::alloc(new_size);
    }
    if new_size > isize::MAX as usize {
        return ptr::null_mut();
    }
    if crate::free::entry(p) == 0 {
        diag::fatal("realloc(): invalid pointer", p as usize);
    }
    // SAFETY: per contract.
    let old = unsafe { usable_size(p) };
    let q = crate::alloc::alloc(new_size);
    if q.is_null() {
        return q;
    }
    // SAFETY: both blocks are live and hold the copied length.
    unsafe {
        ptr::copy_nonoverlapping(p, q, old.min(new_size));
        crate::free::free(p);
    }
    q
}
