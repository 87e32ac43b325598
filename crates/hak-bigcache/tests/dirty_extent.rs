//! What a program sees of the dirty extent: zeroed blocks served from dirty
//! cached mappings read as zeros everywhere, reused and shrunk mappings
//! give their unused pages back, the resident budget purges old cached
//! mappings, and contents survive `realloc`. Each test builds its own
//! [`BigCache`] (the segment map is the process-wide one); the helpers run
//! its validity walker ([`BigCache::check`]) after every operation.

use hak_bigcache::BigCache;
use hak_os::segmap;

const MIB: usize = 1 << 20;
const PAGE: usize = 4096;

fn alloc(c: &BigCache, size: usize, zero: bool) -> *mut u8 {
    let p = c.alloc(size, 16, zero);
    assert!(!p.is_null(), "alloc({size}) failed");
    c.check();
    p
}

fn free(c: &BigCache, p: *mut u8) {
    // SAFETY: `p` is a live block of `c`, found through the segment map.
    unsafe { c.free(segmap::lookup(p as usize), p) };
    c.check();
}

fn realloc(c: &BigCache, p: *mut u8, n: usize) -> *mut u8 {
    // SAFETY: `p` is a live block of `c` that the test owns.
    let q = unsafe { c.realloc(segmap::lookup(p as usize), p, n) };
    assert!(!q.is_null(), "realloc({n}) failed");
    c.check();
    q
}

/// Bytes the cache `c` has mapped (its own counter: other tests' mappings
/// may lie anywhere around ours).
/// Whether two blocks lie in one mapping: mappings start at a segment
/// boundary, and a reused one places its block 1 KiB further in than last
/// time (decision 0051).
fn same_mapping(p: *mut u8, q: *mut u8) -> bool {
    p as usize / hak_os::SEGMENT_SIZE == q as usize / hak_os::SEGMENT_SIZE
}

fn mapped(c: &BigCache) -> usize {
    c.stats.mapped_bytes.load(std::sync::atomic::Ordering::Relaxed)
}

fn usable(p: *mut u8) -> usize {
    // SAFETY: `p` is a live big block.
    unsafe { hak_bigcache::usable_size(segmap::lookup(p as usize), p) }
}

fn fill(p: *mut u8, n: usize, v: u8) {
    // SAFETY: the callers pass live blocks at least `n` bytes long.
    unsafe { core::ptr::write_bytes(p, v, n) }
}

/// The offset of the first non-zero byte of `[p, p+n)`, if any.
fn first_nonzero(p: *const u8, n: usize) -> Option<usize> {
    // SAFETY: the callers pass live blocks at least `n` bytes long.
    unsafe { core::slice::from_raw_parts(p, n) }.iter().position(|&b| b != 0)
}

/// Resident pages among the whole pages of `[from, to)` (`mincore`, a page
/// at a time: a page that is not mapped any more (a shrunk mapping's end)
/// is not resident).
fn resident_pages(from: usize, to: usize) -> usize {
    let a = (from + PAGE - 1) & !(PAGE - 1);
    let b = to & !(PAGE - 1);
    (a..b)
        .step_by(PAGE)
        .filter(|&pg| {
            let mut v = 0u8;
            // SAFETY: mincore reads no memory of the range; v holds its one byte.
            let r = unsafe { libc::mincore(pg as *mut libc::c_void, PAGE, &mut v) };
            assert!(r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOMEM), "mincore failed");
            r == 0 && v & 1 != 0
        })
        .count()
}

/// Whether the system maps transparent huge pages without being asked.
fn thp_always() -> bool {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").is_ok_and(|s| s.contains("[always]"))
}

#[test]
fn calloc_from_dirty_cached_mapping_is_zero() {
    let c = BigCache::new();
    // A dirty 3 MiB block, reused for a larger zeroed block in the same
    // 3.25 MiB mapping: zeros before and beyond what the first use wrote.
    let p = alloc(&c, 3 * MIB, false);
    fill(p, usable(p), 0xAB);
    free(&c, p);
    let q = alloc(&c, 3 * MIB + (MIB / 8), true);
    assert!(same_mapping(q, p), "the cached mapping was not reused");
    assert_eq!(first_nonzero(q, usable(q)), None);
    // Read it all (mapping the kernel's zero page), dirty a page in eight,
    // free, and ask again: zeros everywhere.
    fill(q, usable(q), 0);
    for off in (0..usable(q)).step_by(8 * PAGE) {
        // SAFETY: inside the live block.
        unsafe { *q.add(off) = 0xCD };
    }
    free(&c, q);
    let r = alloc(&c, 3 * MIB + 12345, true);
    assert_eq!(first_nonzero(r, usable(r)), None);
    free(&c, r);
}

#[test]
fn calloc_after_realloc_growth_is_zero() {
    let c = BigCache::new();
    // Grown in place within its mapping, then moved to a larger one by
    // mremap: every byte written along the way must read as zero in the
    // next zeroed block from that mapping.
    let mut p = alloc(&c, MIB, false);
    fill(p, usable(p), 0x11);
    p = realloc(&c, p, 3 * MIB);
    fill(p, usable(p), 0x22);
    p = realloc(&c, p, 7 * MIB);
    fill(p, usable(p), 0x33);
    free(&c, p);
    let q = alloc(&c, 7 * MIB, true);
    assert_eq!(first_nonzero(q, usable(q)), None);
    free(&c, q);
}

#[test]
fn calloc_of_very_large_dirty_block_is_zero_and_cleared_in_place() {
    let c = BigCache::new();
    // Whatever its size, a densely used dirty prefix is cleared in place:
    // zeros, and its pages stay resident (no fault to read them again).
    let n = 72 * MIB;
    let p = alloc(&c, n, false);
    fill(p, usable(p), 0x5A);
    free(&c, p);
    let q = alloc(&c, n, true);
    assert!(same_mapping(q, p), "the cached mapping was not reused");
    let end = q as usize + usable(q);
    let pages = (end - q as usize) / PAGE;
    assert!(resident_pages(q as usize, end) > pages - 2, "the dirty prefix was returned to the OS");
    assert_eq!(first_nonzero(q, usable(q)), None);
    free(&c, q);
}

#[test]
fn calloc_of_a_sparsely_used_block_returns_its_chunks_and_is_zero() {
    let c = BigCache::new();
    // A 16 MiB block of which the program wrote one page in 64: zeroing
    // gives the mostly untouched chunks back to the OS instead of reading
    // (faulting in) every page of them.
    let n = 16 * MIB;
    let p = alloc(&c, n, false);
    for off in (0..usable(p)).step_by(64 * PAGE) {
        // SAFETY: inside the live block.
        unsafe { *p.add(off + 100) = 0xEE };
    }
    // SAFETY: the last byte of the live block.
    unsafe { *p.add(usable(p) - 1) = 0xEF };
    free(&c, p);
    let q = alloc(&c, n, true);
    assert!(same_mapping(q, p), "the cached mapping was not reused");
    let end = q as usize + usable(q);
    // (With transparent huge pages always on, the writes above made whole
    // 2 MiB pages resident: nothing to check then.)
    if !thp_always() {
        assert!(resident_pages(q as usize, end) <= 2, "the sparse chunks were read instead of returned");
    }
    assert_eq!(first_nonzero(q, usable(q)), None);
    free(&c, q);
}

#[test]
fn calloc_of_a_block_with_untouched_holes_is_zero() {
    let c = BigCache::new();
    // Mostly resident with a few never-touched pages in between: the
    // resident pages are cleared, the holes read as zeros.
    let p = alloc(&c, 6 * MIB, false);
    for off in (0..usable(p)).step_by(PAGE) {
        if off / PAGE % 5 != 3 {
            // SAFETY: inside the live block.
            unsafe { *p.add(off + 7) = 0x77 };
        }
    }
    free(&c, p);
    let q = alloc(&c, 6 * MIB, true);
    assert!(same_mapping(q, p), "the cached mapping was not reused");
    assert_eq!(first_nonzero(q, usable(q)), None);
    free(&c, q);
}

#[test]
fn reuse_trims_a_sparse_dirty_tail() {
    let c = BigCache::new();
    // A 12 MiB block touched one page in sixteen (a program growing a
    // buffer and writing here and there), then the mapping is reused for
    // 1 MiB: its tail beyond the new block is given back.
    let p = alloc(&c, 12 * MIB, false);
    for off in (0..usable(p)).step_by(16 * PAGE) {
        // SAFETY: inside the live block.
        unsafe { *p.add(off) = 1 };
    }
    let end = p as usize + usable(p);
    let tail_from = p as usize + 2 * MIB;
    assert!(resident_pages(tail_from, end) > 100);
    free(&c, p);
    let q = alloc(&c, MIB, false);
    assert!(same_mapping(q, p), "the cached mapping was not reused");
    assert_eq!(resident_pages(q as usize + usable(q), end), 0, "the dirty tail is still resident");
    free(&c, q);
}

#[test]
fn reuse_keeps_a_densely_used_tail() {
    let c = BigCache::new();
    // A program touching whole blocks: the next large block from this
    // mapping would fault every page back, so the tail stays.
    let p = alloc(&c, 12 * MIB, false);
    fill(p, usable(p), 7);
    let end = p as usize + usable(p);
    free(&c, p);
    let q = alloc(&c, MIB, false);
    assert!(same_mapping(q, p), "the cached mapping was not reused");
    let tail = q as usize + usable(q);
    assert_eq!(resident_pages(tail, end), (end - tail) / PAGE);
    free(&c, q);
}

#[test]
fn realloc_growing_into_a_densely_used_tail_keeps_it() {
    let c = BigCache::new();
    // A vector filled to 3 MiB and freed; the next vector takes the mapping
    // at 300 KiB (the reuse keeps the dense tail) and grows in place: its
    // growth must not return the tail it is about to fill again.
    let p = alloc(&c, 3 * MIB, false);
    fill(p, usable(p), 7);
    let end = p as usize + usable(p);
    free(&c, p);
    let q = alloc(&c, 300 << 10, false);
    assert!(same_mapping(q, p), "the cached mapping was not reused");
    fill(q, 300 << 10, 8);
    let r = realloc(&c, q, 600 << 10);
    assert_eq!(r, q, "a growth within the mapping moved the block");
    let tail = r as usize + usable(r);
    assert_eq!(resident_pages(tail, end), (end - tail) / PAGE, "growth returned the dense tail");
    // SAFETY: the first 300 KiB of the live block.
    let kept = unsafe { core::slice::from_raw_parts(r, 300 << 10) };
    assert!(kept.iter().all(|&b| b == 8), "growth lost contents");
    free(&c, r);
}

#[test]
fn realloc_growing_in_a_larger_reused_mapping_keeps_its_dense_tail() {
    let c = BigCache::new();
    // A 12 MiB block filled and freed (a 13 MiB mapping); a 1 MiB block
    // reuses that mapping and grows to 2 MiB: the mapping loses what lies
    // beyond its first segment, but not the first segment's dense tail
    // that the block grows into.
    let p = alloc(&c, 12 * MIB, false);
    fill(p, usable(p), 7);
    free(&c, p);
    let q = alloc(&c, MIB, false);
    assert!(same_mapping(q, p), "the cached mapping was not reused");
    let r = realloc(&c, q, 2 * MIB);
    assert_eq!(r, q, "a growth within the mapping moved the block");
    let tail = r as usize + usable(r);
    let map_end = (r as usize & !(4 * MIB - 1)) + 4 * MIB;
    assert_eq!(resident_pages(tail, map_end), (map_end - tail) / PAGE, "growth returned the dense tail");
    assert_eq!(mapped(&c), 4 * MIB, "the mapping kept what lies past its first segment");
    free(&c, r);
}

#[test]
fn realloc_shrink_in_place_shrinks_the_mapping_and_keeps_contents() {
    let c = BigCache::new();
    let p = alloc(&c, 3 * MIB, false);
    for (i, b) in (0..usable(p)).map(|i| (i, i as u8)) {
        // SAFETY: inside the live block.
        unsafe { *p.add(i) = b };
    }
    let q = realloc(&c, p, MIB);
    assert_eq!(q, p, "a shrink within the mapping moved the block");
    // SAFETY: the first MiB of the live block.
    let kept = unsafe { core::slice::from_raw_parts(q, MIB) };
    assert!(kept.iter().enumerate().all(|(i, &b)| b == i as u8), "shrink lost contents");
    // The mapping shrank to a 1 MiB block's (1.125 MiB: eight sizes per
    // doubling); what lay beyond is gone.
    assert_eq!(mapped(&c), 9 * MIB / 8, "the mapping did not shrink");
    free(&c, q);
}

#[test]
fn realloc_keeps_contents() {
    let c = BigCache::new();
    let pattern = |i: usize| (i.wrapping_mul(31) >> 3) as u8;
    let mut p = alloc(&c, MIB + 100, false);
    let mut n = MIB + 100;
    for i in 0..n {
        // SAFETY: inside the live block.
        unsafe { *p.add(i) = pattern(i) };
    }
    // In place, across segments (mremap), and back down.
    for &m in &[3 * MIB, 9 * MIB, 17 * MIB + 5, 5 * MIB, 2 * MIB] {
        p = realloc(&c, p, m);
        let kept = n.min(m);
        // SAFETY: the live block holds at least `kept` bytes.
        let s = unsafe { core::slice::from_raw_parts(p, kept) };
        assert!(s.iter().enumerate().all(|(i, &b)| b == pattern(i)), "realloc to {m} lost contents");
        for i in kept..m {
            // SAFETY: inside the live block.
            unsafe { *p.add(i) = pattern(i) };
        }
        n = m;
    }
    free(&c, p);
}

#[test]
fn resident_budget_purges_the_oldest_cached_mappings() {
    let c = BigCache::new();
    c.set_max_dirty(4 * MIB);
    let a = alloc(&c, 3 * MIB, false);
    let b = alloc(&c, 3 * MIB, false);
    fill(a, usable(a), 1);
    fill(b, usable(b), 2);
    let (ea, eb) = (a as usize + usable(a), b as usize + usable(b));
    free(&c, a);
    assert!(resident_pages(a as usize, ea) > 700, "purged within the budget");
    free(&c, b);
    // 6 MiB of dirty cached mappings > 4 MiB: the older one is purged,
    // the newer one stays resident; both stay cached.
    assert_eq!(resident_pages(a as usize, ea), 0, "the oldest cached mapping is still resident");
    assert!(resident_pages(b as usize, eb) > 700, "the newest cached mapping was purged");
    assert_eq!(c.cached().0, 2);
    // The purged mapping reads as zeros when reused for a zeroed block.
    let z = alloc(&c, 3 * MIB, true);
    assert_eq!(first_nonzero(z, usable(z)), None);
    free(&c, z);
}

#[test]
fn a_fresh_mapping_first_cuts_the_cache_to_a_quarter_of_the_budget() {
    let c = BigCache::new();
    c.set_max_dirty(16 * MIB);
    // Two dirty 6 MiB mappings fit the 16 MiB budget and stay resident.
    let a = alloc(&c, 6 * MIB, false);
    let b = alloc(&c, 6 * MIB, false);
    fill(a, usable(a), 3);
    fill(b, usable(b), 4);
    let (ea, eb) = (a as usize + usable(a), b as usize + usable(b));
    free(&c, a);
    free(&c, b);
    assert!(resident_pages(a as usize, ea) > 1500, "purged within the budget");
    assert!(resident_pages(b as usize, eb) > 1500, "purged within the budget");
    // A request neither can serve maps fresh memory: the cache is first cut
    // to a quarter of the budget (4 MiB), which purges both (they stay
    // cached).
    let big = alloc(&c, 20 * MIB, false);
    assert_eq!(resident_pages(a as usize, ea), 0, "a cached mapping outlived a fresh mapping");
    assert_eq!(resident_pages(b as usize, eb), 0, "a cached mapping outlived a fresh mapping");
    assert_eq!(c.cached().0, 2);
    free(&c, big);
}

/// Allocates `n` bytes from `c`, locks the block's pages (on fault), lets
/// `dirty` write it, frees it and asks again for a zeroed block: it must
/// reuse the mapping and read as zeros. `madvise(MADV_DONTNEED)` fails on
/// locked memory, so whatever would return pages to the OS must clear them
/// instead. Skipped when the memory-lock limit refuses the lock.
fn locked_zeroed_reuse(c: &BigCache, n: usize, dirty: fn(*mut u8)) {
    let p = alloc(c, n, false);
    let base = p as usize & !(PAGE - 1);
    let len = (p as usize + usable(p)) - base;
    // SAFETY: locks pages of our own live block (on fault: nothing is
    // touched by the call itself).
    if unsafe { libc::mlock2(base as *const libc::c_void, len, libc::MLOCK_ONFAULT) } != 0 {
        eprintln!("skipped: mlock2 refused ({})", std::io::Error::last_os_error());
        free(c, p);
        return;
    }
    dirty(p);
    free(c, p);
    let q = alloc(c, n, true);
    assert!(same_mapping(q, p), "the cached mapping was not reused");
    assert_eq!(first_nonzero(q, usable(q)), None);
    // SAFETY: unlocks the range locked above.
    unsafe { libc::munlock(base as *const libc::c_void, len) };
    free(c, q);
}

#[test]
fn calloc_of_locked_memory_is_zero() {
    // A sparsely used block, whose chunks would be returned to the OS.
    locked_zeroed_reuse(&BigCache::new(), 3 * MIB, |p| {
        for off in (0..usable(p)).step_by(64 * PAGE) {
            // SAFETY: inside the live block.
            unsafe { *p.add(off + 100) = 0xEE };
        }
    });
}

#[test]
fn calloc_after_a_refused_purge_is_zero() {
    // A budget of 0 purges every released mapping, but not locked memory:
    // the mapping must stay marked dirty, so that a zeroed reuse clears it.
    let c = BigCache::new();
    c.set_max_dirty(0);
    locked_zeroed_reuse(&c, 3 * MIB, |p| fill(p, usable(p), 0xAB));
}

#[test]
fn decay_purges_mappings_cached_longer_than_the_interval() {
    let c = BigCache::new();
    c.configure(true, 32, 256 * MIB, 100, false);
    let p = alloc(&c, 3 * MIB, false);
    fill(p, usable(p), 9);
    let e = p as usize + usable(p);
    free(&c, p);
    c.decay();
    assert!(resident_pages(p as usize, e) > 700, "purged before the decay interval");
    std::thread::sleep(std::time::Duration::from_millis(150));
    c.decay();
    c.check();
    assert_eq!(resident_pages(p as usize, e), 0, "not purged after the decay interval");
    assert_eq!(c.cached().0, 1, "decay unmapped the mapping instead of purging it");
}

#[test]
fn a_request_larger_than_every_cached_mapping_grows_one_and_reads_zero() {
    let c = BigCache::new();
    // A filled 3 MiB block is freed; a zeroed 5 MiB request fits no cached
    // mapping, so the cached one grows to serve it (decision 0048): it
    // leaves the cache, its filled pages come along (resident, cleared),
    // and no second mapping sits beside it.
    let p = alloc(&c, 3 * MIB, false);
    fill(p, usable(p), 0x3C);
    free(&c, p);
    assert_eq!(c.cached().0, 1);
    let q = alloc(&c, 5 * MIB, true);
    assert_eq!(c.cached().0, 0, "the cached mapping was not taken");
    assert_eq!(c.stats.maps.load(std::sync::atomic::Ordering::Relaxed), 1, "a second mapping was made");
    assert_eq!(mapped(&c), 11 * MIB / 2, "the mapping is not a 5 MiB block's (5.5 MiB)");
    assert!(resident_pages(q as usize, q as usize + 3 * MIB) > 700, "the cached mapping's pages did not come along");
    assert_eq!(first_nonzero(q, usable(q)), None);
    fill(q, usable(q), 0x4D);
    free(&c, q);
    // Not resident: a fresh mapping serves the larger request.
    c.set_max_dirty(0);
    let r = alloc(&c, 8 * MIB, true);
    assert_eq!(first_nonzero(r, usable(r)), None);
    free(&c, r);
}
