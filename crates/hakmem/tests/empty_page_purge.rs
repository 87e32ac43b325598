//! When a tier purges its empty pages (`madvise`) before the decay interval
//! has passed. Its own test binary: it reads the process-wide L2.5 tier's
//! counters, and the default decay interval (500 ms) is far longer than the
//! test's steps.
//!
//! * Live memory that merely fluctuates must not be purged: empty pages
//!   reused within the decay interval stay committed as long as there are no
//!   more of them than pages in use. (With a fixed 16 MiB cap, the `mid`
//!   benchmark purged and faulted back 1 400 MiB per second.)
//! * A program that frees most of its memory gets all but the kept pages
//!   back once the decay interval has passed (the cap keeps at most the
//!   recent peak of pages in use committed until then: decision 0036).

mod common;
use common::{alloc_written, free_all};

use hak_pool::L25;

const BLOCK: usize = 1 << 20; // one block per 1 MiB L2.5 page

fn decommitted() -> usize {
    L25.stats.pages_decommitted.load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn fluctuating_live_memory_is_not_purged_but_a_big_drop_is() {
    assert_eq!(L25.page_size(), BLOCK, "the test assumes 1 MiB L2.5 pages");
    // 48 pages in use; free and reallocate 24 of them, many times: the
    // 24 empty pages exceed 16 MiB but not the pages still in use.
    let base = alloc_written(24, BLOCK);
    let mut wave = alloc_written(24, BLOCK);
    let before = decommitted();
    for _ in 0..20 {
        free_all(&wave);
        wave = alloc_written(24, BLOCK);
    }
    assert_eq!(decommitted(), before, "pages freed and reused within the decay interval were purged");
    // Now free everything: once the decay interval has passed, at most the
    // kept pages (16 MiB) stay committed (plus the page the thread's heap
    // keeps as its current one).
    free_all(&wave);
    free_all(&base);
    let decay = hak_config::get().tunables.decay_ms;
    std::thread::sleep(std::time::Duration::from_millis(decay + 100));
    L25.purge_expired();
    let purged = decommitted() - before;
    assert!(purged >= 48 - 16 - 1, "only {purged} of 48 freed 1 MiB pages were purged after the decay interval");
}
