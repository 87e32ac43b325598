//! Freed big blocks the big-block cache keeps resident make way when the
//! program's footprint grows through another tier: both when a tier maps a
//! new segment and when it reuses pages it had returned to the OS. Without
//! that, freeing a 96 MiB block and then allocating 100 MiB of 1 MiB blocks
//! would peak at twice the program's size. Its own test binary: it watches
//! one cached mapping of the process-wide tier.

use hak_config::Features;

const PAGE: usize = 4096;
const MIB: usize = 1 << 20;

/// Resident pages among `[p, p + n)` (page-aligned `p`, `mincore`).
fn resident_pages(p: usize, n: usize) -> usize {
    let mut v = vec![0u8; n / PAGE];
    // SAFETY: the range lies in a mapping the big tier keeps cached; v has a byte per page.
    let r = unsafe { libc::mincore(p as *mut libc::c_void, n, v.as_mut_ptr()) };
    assert_eq!(r, 0, "mincore failed");
    v.iter().filter(|&&x| x & 1 != 0).count()
}

/// Allocates `n` blocks of 1 MiB (L2.5) and touches every page.
fn touched_mib_blocks(n: usize) -> Vec<usize> {
    (0..n)
        .map(|_| {
            let p = hakmem::alloc(MIB);
            assert!(!p.is_null());
            // SAFETY: a live block of 1 MiB.
            unsafe { std::ptr::write_bytes(p, 0x3C, MIB) };
            p as usize
        })
        .collect()
}

fn free_all(blocks: &[usize]) {
    for &b in blocks {
        // SAFETY: live hakmem blocks.
        assert!(unsafe { hakmem::free(b as *mut u8) });
    }
}

/// Frees a touched 96 MiB big block (cached, resident: within the budget)
/// and returns the page-aligned span of its pages.
fn cached_big_block() -> (usize, usize) {
    let n = 96 * MIB;
    let p = hakmem::alloc(n);
    assert!(!p.is_null());
    // SAFETY: a live block of n bytes.
    unsafe { std::ptr::write_bytes(p, 0x5C, n) };
    let first = (p as usize + PAGE - 1) & !(PAGE - 1);
    let span = (n - (first - p as usize)) & !(PAGE - 1);
    // SAFETY: a live hakmem block.
    assert!(unsafe { hakmem::free(p) });
    assert!(resident_pages(first, span) > span / PAGE / 2, "the cache kept nothing resident");
    (first, span)
}

#[test]
fn growth_through_another_tier_purges_cached_big_blocks() {
    hakmem::init();
    let f = hak_config::get().features;
    if !f.contains(Features::BIGCACHE | Features::BATCH_MADVISE | Features::L25_POOL) {
        eprintln!("skipped: needs the big-block cache with decayed purges and the L2.5 tier");
        return;
    }
    // New segments.
    let (first, span) = cached_big_block();
    let blocks = touched_mib_blocks(100);
    assert_eq!(resident_pages(first, span), 0, "a cached big block stayed resident while new segments were mapped");
    // Freed: most of those pages go back to the OS and on the tier's clean
    // list. Reusing them (no new segment) must cut the cache too.
    free_all(&blocks);
    let (first, span) = cached_big_block();
    let blocks = touched_mib_blocks(100);
    assert_eq!(resident_pages(first, span), 0, "a cached big block stayed resident while purged pages were reused");
    free_all(&blocks);
}
