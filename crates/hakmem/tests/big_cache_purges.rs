//! When the big-block cache gives back the pages of freed big blocks it
//! keeps resident (the blocks stay cached):
//!
//! * within about the decay interval, in a program that then only does
//!   light work of other sizes (no further big release, which is when the
//!   cache used to purge): the threads' upkeep purges it;
//! * at once when the program's footprint grows through another tier, both
//!   when a tier maps a new segment and when it reuses pages it had
//!   returned to the OS (freeing a 96 MiB block and then allocating 100 MiB
//!   of 1 MiB blocks would otherwise peak at twice the program's size).
//!
//! Its own test binary: the tests watch cached mappings of the process-wide
//! tier, one at a time.

mod common;
use common::{alloc_written, free_all};

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hak_config::Features;

const PAGE: usize = 4096;
const MIB: usize = 1 << 20;

/// The tests run one at a time: each one's allocations would purge (or
/// keep) the other's mapping.
static SERIAL: Mutex<()> = Mutex::new(());

/// Resident pages among `[p, p + n)` (page-aligned `p`, `mincore`).
fn resident_pages(p: usize, n: usize) -> usize {
    let mut v = vec![0u8; n / PAGE];
    // SAFETY: the range lies in a mapping the big tier keeps cached; v has a byte per page.
    let r = unsafe { libc::mincore(p as *mut libc::c_void, n, v.as_mut_ptr()) };
    assert_eq!(r, 0, "mincore failed");
    v.iter().filter(|&&x| x & 1 != 0).count()
}

/// Initialises hakmem; false (the test is skipped) unless the configuration
/// has the big-block cache with decayed purges and the `also` features.
fn big_cache_with(also: Features) -> bool {
    hakmem::init();
    let need = Features::BIGCACHE | Features::BATCH_MADVISE | also;
    let on = hak_config::get().features.contains(need);
    if !on {
        eprintln!("skipped: needs the features {need:?}");
    }
    on
}

/// Frees a touched big block of `n` bytes (cached, resident: within the
/// budget) and returns the page-aligned span of its pages.
fn cached_big_block(n: usize) -> (usize, usize) {
    let p = hakmem::alloc(n);
    assert!(!p.is_null());
    // SAFETY: a live block of n bytes.
    unsafe { std::ptr::write_bytes(p, 0x5C, n) };
    let first = (p as usize + PAGE - 1) & !(PAGE - 1);
    let span = (n - (first - p as usize)) & !(PAGE - 1);
    // SAFETY: a live hakmem block.
    assert!(unsafe { hakmem::free(p) });
    assert!(resident_pages(first, span) > span / PAGE / 2, "purged at once: the cache kept nothing resident");
    (first, span)
}

#[test]
fn a_freed_big_block_is_purged_within_the_decay_interval_under_light_work() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !big_cache_with(Features::empty()) {
        return;
    }
    let decay = hak_config::get().tunables.decay_ms;
    let (first, span) = cached_big_block(8 * MIB);
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

#[test]
fn growth_through_another_tier_purges_cached_big_blocks() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !big_cache_with(Features::L25_POOL) {
        return;
    }
    // New segments.
    let (first, span) = cached_big_block(96 * MIB);
    let blocks = alloc_written(100, MIB);
    assert_eq!(resident_pages(first, span), 0, "a cached big block stayed resident while new segments were mapped");
    // Freed, and their pages returned to the OS (as the decay does; the
    // purge cap keeps them resident for the decay interval after a peak) and
    // put on the tier's clean list. Reusing them (no new segment) must cut
    // the cache too.
    free_all(&blocks);
    assert!(hak_pool::L25.purge_all() > 0, "no empty L2.5 page to purge");
    let (first, span) = cached_big_block(96 * MIB);
    let blocks = alloc_written(100, MIB);
    assert_eq!(resident_pages(first, span), 0, "a cached big block stayed resident while purged pages were reused");
    free_all(&blocks);
}
