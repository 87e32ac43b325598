//! A program that frees most of its blocks while a few stay live in every
//! page gets the freed blocks' memory back (decision 0047): at once with
//! `malloc_trim` (`hakmem::trim`), and after the decay interval without it
//! (the upkeep pass of a thread that goes on allocating a little). The live
//! blocks keep their contents. Its own test binary: each test runs in its
//! own thread (own thread cache and heaps) and no other test runs here.
//! Assumes 4 KiB OS pages (skipped elsewhere).

mod common;
use common::{alloc_written, free_all};

fn os_page() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// Resident OS pages of the blocks `blocks` of `size` bytes.
fn resident(blocks: &[usize], size: usize) -> usize {
    let ps = os_page();
    let mut v = vec![0u8; size / ps + 2];
    blocks
        .iter()
        .map(|&b| {
            let lo = b & !(ps - 1);
            let len = b + size - lo;
            assert!(hak_os::map::residency(lo as *const u8, len, &mut v));
            v.iter().take(len.div_ceil(ps)).filter(|&&r| r & 1 != 0).count()
        })
        .sum()
}

/// Allocates 512 blocks of `size`, writes them, frees all but every 16th:
/// (live, freed).
fn spike(size: usize) -> (Vec<usize>, Vec<usize>) {
    let all = alloc_written(512, size);
    let (live, freed): (Vec<usize>, Vec<usize>) =
        all.iter().partition(|&&b| all.iter().position(|&x| x == b).unwrap() % 16 == 0);
    free_all(&freed);
    (live, freed)
}

fn intact(live: &[usize], size: usize) -> bool {
    live.iter().all(|&b| {
        // SAFETY: live blocks of `size` bytes, written by `alloc_written`.
        let s = unsafe { std::slice::from_raw_parts(b as *const u8, size) };
        s.iter().all(|&x| x == s[0] && x & 1 == 1)
    })
}

#[test]
fn malloc_trim_returns_free_blocks_of_partly_used_pages() {
    if os_page() != 4096 {
        return;
    }
    // 48 KiB blocks: the L2.5 tier (1 MiB pages, 21 blocks each).
    let size = 48 << 10;
    let (live, freed) = spike(size);
    let before = resident(&freed, size);
    assert!(before * os_page() >= freed.len() * size * 9 / 10, "the spike was not resident: {before} pages");
    hakmem::trim();
    let after = resident(&freed, size);
    // What may stay: each free block's first OS page (its list link), the
    // blocks the thread cache keeps, and the pages of the live blocks
    // that the freed ranges share.
    assert!(after * 4 < before, "malloc_trim left {after} of {before} pages of freed blocks resident");
    assert!(intact(&live, size), "a live block lost its contents");
    free_all(&live);
}

#[test]
fn idle_free_blocks_return_after_the_decay_interval() {
    if os_page() != 4096 {
        return;
    }
    // 20 000-byte blocks: the L2 tier (256 KiB pages).
    let size = 20_000;
    let (live, freed) = spike(size);
    let before = resident(&freed, size);
    // Light activity for three decay intervals: the upkeep passes (at most
    // one per 50 ms) age the free blocks, then return them.
    let decay = hak_config::get().tunables.decay_ms;
    let until = std::time::Instant::now() + std::time::Duration::from_millis(3 * decay + 200);
    while std::time::Instant::now() < until {
        let small = alloc_written(8, 64);
        free_all(&small);
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let after = resident(&freed, size);
    assert!(
        after * 3 < before,
        "{after} of {before} pages of freed blocks still resident after {} ms",
        3 * decay + 200
    );
    assert!(intact(&live, size), "a live block lost its contents");
    free_all(&live);
}
