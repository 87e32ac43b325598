//! The per-thread block cache seen from the outside: the block a thread
//! freed last is the one it gets next, whatever page it is on, and cached
//! blocks go back to their pages (and the pages to the tier) when the
//! thread flushes, exits, or does its periodic upkeep, whoever owned the
//! blocks. Its own test
//! binary: it reads the process-wide L2 tier's page counters, so the tests
//! run one at a time.

mod common;
use common::{alloc_written, free_all};

use std::sync::Mutex;
use std::thread;

static SERIAL: Mutex<()> = Mutex::new(());

/// 2 KiB blocks: 128 per 256 KiB L2 page; the default budget (256 KiB)
/// caches 128 of them.
const L2_BLOCK: usize = 2048;

fn l2_pages() -> usize {
    hak_pool::L2.pages_in_use()
}

/// Whether the cache has its default budget: the tests that observe the
/// cache itself (not only that nothing is lost) need it.
fn default_cache() -> bool {
    match std::env::var("HAKMEM_THREAD_CACHE_KB") {
        Ok(v) if v != "256" => {
            eprintln!("HAKMEM_THREAD_CACHE_KB={v}: skipped (this test needs the default budget)");
            false
        }
        _ => true,
    }
}

#[test]
fn the_block_freed_last_is_reused_first_on_any_page() {
    if !default_cache() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    thread::spawn(|| {
        // 3000 blocks of 64 B span three 64 KiB pages; block 5 is on the
        // first, the current page is the third.
        let blocks = alloc_written(3000, 64);
        free_all(&blocks[5..6]);
        let again = hakmem::alloc(64) as usize;
        assert_eq!(again, blocks[5], "the block freed last was not reused first");
        // Its contents are the caller's again: the whole block is writable.
        // SAFETY: a live 64-byte block.
        unsafe { std::ptr::write_bytes(again as *mut u8, 0xab, 64) };
        free_all(&blocks);
    })
    .join()
    .unwrap();
}

#[test]
fn an_exiting_thread_returns_its_cached_blocks() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = l2_pages();
    thread::spawn(|| {
        let blocks = alloc_written(4000, L2_BLOCK);
        free_all(&blocks);
    })
    .join()
    .unwrap();
    assert_eq!(l2_pages(), before, "pages of blocks cached by an exited thread stayed in use");
}

#[test]
fn thread_flush_returns_cached_blocks() {
    if !default_cache() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = l2_pages();
    thread::spawn(move || {
        let blocks = alloc_written(4000, L2_BLOCK);
        free_all(&blocks);
        let cached = l2_pages();
        hakmem::thread_flush();
        let flushed = l2_pages();
        assert!(flushed < cached, "flush returned no page ({cached} in use before and after)");
        // At most the heap's current page stays.
        assert!(flushed <= before + 1, "{flushed} pages in use after the flush, {before} before the test");
    })
    .join()
    .unwrap();
    assert_eq!(l2_pages(), before);
}

/// A thread allocates 4000 L2 blocks (and whatever `prepare` allocates),
/// frees the L2 blocks, so that its cache pins pages, sleeps past the
/// upkeep interval (50 ms, checked every 1024 ticks), runs `work` on what
/// `prepare` gave, and must then have returned the cached blocks' pages.
fn cache_goes_back_after(prepare: fn() -> Vec<usize>, work: fn(Vec<usize>), what: &str) {
    if !default_cache() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = l2_pages();
    let what = what.to_string();
    thread::spawn(move || {
        let blocks = alloc_written(4000, L2_BLOCK);
        let extra = prepare();
        free_all(&blocks);
        // The cache holds the first 128 blocks freed (the first page); the
        // heap keeps its current page.
        let cached = l2_pages();
        assert!(cached > before + 1, "the cache pinned no page ({cached} in use, {before} before)");
        std::thread::sleep(std::time::Duration::from_millis(60));
        work(extra);
        let after = l2_pages();
        assert!(after <= before + 1, "{after} pages in use after the {what}, {before} before the test");
    })
    .join()
    .unwrap();
}

#[test]
fn a_thread_that_keeps_allocating_returns_its_cache_within_an_upkeep_interval() {
    // Light work of another size.
    cache_goes_back_after(
        Vec::new,
        |_| {
            for _ in 0..2048 {
                let p = hakmem::alloc(64);
                // SAFETY: a live block.
                unsafe { hakmem::free(p) };
            }
        },
        "upkeep",
    );
}

/// A thread that only frees (a consumer) never reaches the allocation
/// path's upkeep: its frees that find their bin full count towards it, so
/// its cache still goes back within an upkeep interval.
#[test]
fn a_thread_that_only_frees_returns_its_cache_within_an_upkeep_interval() {
    // Tiny blocks to free after the sleep: 256 fill their bin, the rest
    // find it full. Frees only.
    cache_goes_back_after(|| alloc_written(256 + 2048, 64), |small| free_all(&small), "frees");
}

/// A thread that frees blocks of another thread's pages (here exhausted
/// pages the allocating thread gave up, so the freer adopts them when its
/// cache drains) loses none of them: every page goes back to the tier.
#[test]
fn blocks_freed_into_another_threads_cache_are_not_lost() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = l2_pages();
    let (to_b, from_a) = std::sync::mpsc::channel::<Vec<usize>>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let a = thread::spawn(move || {
        to_b.send(alloc_written(1000, L2_BLOCK)).unwrap();
        // Stay alive (owning the pages) until B has freed and exited.
        done_rx.recv().unwrap();
        // Take back what B freed into our pages, then exit.
        hakmem::thread_flush();
    });
    let b = thread::spawn(move || {
        // Allocate once so this thread has a cache; then free A's blocks:
        // the first ones land in our cache, the rest go to their pages.
        let own = alloc_written(1, 64);
        let blocks = from_a.recv().unwrap();
        free_all(&blocks);
        free_all(&own);
    });
    b.join().unwrap();
    done_tx.send(()).unwrap();
    a.join().unwrap();
    assert_eq!(l2_pages(), before, "blocks freed into another thread's cache never reached their pages");
}
