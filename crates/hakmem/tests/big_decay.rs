//! A big block freed by a program that then only does light work of other
//! sizes (no further big releases, which is when the big-block cache used
//! to purge) has its pages returned within about the decay interval: the
//! threads' periodic upkeep purges the cache. Its own test binary: it
//! watches the pages of one cached mapping of the process-wide tier.

use std::time::{Duration, Instant};

use hak_config::Features;

const PAGE: usize = 4096;

/// Resident pages among `[p, p + n)` (page-aligned `p`, `mincore`).
fn resident_pages(p: usize, n: usize) -> usize {
    let mut v = vec![0u8; n / PAGE];
    // SAFETY: the range lies in a mapping the big tier keeps cached; v has a byte per page.
    let r = unsafe { libc::mincore(p as *mut libc::c_void, n, v.as_mut_ptr()) };
    assert_eq!(r, 0, "mincore failed");
    v.iter().filter(|&&x| x & 1 != 0).count()
}

#[test]
fn a_freed_big_block_is_purged_within_the_decay_interval_under_light_work() {
    hakmem::init();
    let cfg = hak_config::get();
    if !cfg.features.contains(Features::BIGCACHE | Features::BATCH_MADVISE) {
        eprintln!("skipped: needs the big-block cache with decayed purges");
        return;
    }
    let decay = cfg.tunables.decay_ms;
    let n = 8 << 20;
    let p = hakmem::alloc(n);
    assert!(!p.is_null());
    // SAFETY: a live block of n bytes.
    unsafe { std::ptr::write_bytes(p, 0x5C, n) };
    let first = (p as usize + PAGE - 1) & !(PAGE - 1);
    let span = (n - (first - p as usize)) & !(PAGE - 1);
    // SAFETY: a live hakmem block.
    assert!(unsafe { hakmem::free(p) });
    assert!(resident_pages(first, span) > span / PAGE / 2, "purged at once: the cache kept nothing");
    // Light work: a few dozen small pairs per millisecond (the upkeep
    // runs every 1024 allocations, at most every 50 ms).
    let start = Instant::now();
    let limit = Duration::from_millis(decay + 3000);
    while resident_pages(first, span) != 0 {
        assert!(start.elapsed() < limit, "the freed big block was still resident after {limit:?}");
        for _ in 0..32 {
            let q = hakmem::alloc(48);
            // SAFETY: a live block.
            unsafe { hakmem::free(q) };
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(start.elapsed() >= Duration::from_millis(decay / 2), "purged long before the decay interval");
}
