//! Secure mode (`HAKMEM_SECURE=1`) through the Rust API, in a test binary
//! of its own (the configuration is read once per process): every kind of
//! allocation keeps its bytes, reports the size asked for as its usable
//! size, is aligned as asked, and the pages stay consistent (debug builds
//! walk every page's decoded free list on the slow paths) while threads
//! free each other's blocks. The misuse it catches is tested under
//! `LD_PRELOAD` by `tests/security`.

use std::thread;

fn fill(p: *mut u8, n: usize, seed: u8) {
    // SAFETY: `p` is a live block of at least `n` bytes.
    unsafe { std::ptr::write_bytes(p, seed, n) };
}

fn holds(p: *const u8, n: usize, seed: u8) -> bool {
    // SAFETY: `p` is a live block of at least `n` bytes.
    (0..n).all(|i| unsafe { *p.add(i) } == seed)
}

#[test]
fn secure_mode_serves_every_path_and_keeps_the_pages_consistent() {
    // SAFETY: set before hakmem reads its configuration (its first use in
    // this process), while no other thread runs.
    unsafe { std::env::set_var("HAKMEM_SECURE", "1") };
    hakmem::init();
    let sizes = [0usize, 1, 8, 16, 24, 100, 1000, 4096, 5000, 40_000, 300_000, 700_000, 3 << 20];
    let mut live = Vec::new();
    for (k, &n) in sizes.iter().enumerate() {
        for r in 0..40 {
            let p = hakmem::alloc(n);
            assert!(!p.is_null());
            // SAFETY: a live block.
            assert_eq!(unsafe { hakmem::usable_size(p) }, n, "usable size of a {n}-byte block");
            fill(p, n, k as u8 + r as u8);
            live.push((p, n, k as u8 + r as u8));
        }
    }
    for align in [32usize, 64, 256, 4096, 1 << 16] {
        let p = hakmem::alloc_aligned(100, align);
        assert!(!p.is_null() && (p as usize).is_multiple_of(align), "align {align}: {p:?}");
        fill(p, 100, 7);
        live.push((p, 100, 7));
    }
    let z = hakmem::alloc_zeroed(5000);
    assert!(holds(z, 5000, 0));
    live.push((z, 5000, 0));
    // Grow and shrink one block through realloc: its bytes follow it.
    let mut r = hakmem::alloc(10);
    fill(r, 10, 9);
    for n in [100usize, 3000, 400_000, 50] {
        // SAFETY: `r` is live.
        r = unsafe { hakmem::realloc(r, n) };
        assert!(!r.is_null() && holds(r, 10, 9), "realloc to {n}");
        // SAFETY: live.
        assert_eq!(unsafe { hakmem::usable_size(r) }, n);
    }
    live.push((r, 10, 9));
    for &(p, n, seed) in &live {
        assert!(holds(p, n, seed), "a {n}-byte block lost its bytes");
    }
    // Every second block is freed by another thread (remote frees, checked
    // when the owner collects them), the rest here.
    let (theirs, mine): (Vec<_>, Vec<_>) = live.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let theirs: Vec<usize> = theirs.into_iter().map(|(_, (p, _, _))| p as usize).collect();
    thread::spawn(move || {
        for p in theirs {
            // SAFETY: live blocks handed over to this thread.
            unsafe { hakmem::free(p as *mut u8) };
        }
    })
    .join()
    .unwrap();
    for (_, (p, _, _)) in mine {
        // SAFETY: live, freed once.
        unsafe { hakmem::free(p) };
    }
    // The freed blocks are reused (the collected remote frees too).
    for _ in 0..3 {
        let ps: Vec<*mut u8> = (0..500).map(|_| hakmem::alloc(24)).collect();
        for &p in &ps {
            assert!(!p.is_null());
            fill(p, 24, 3);
        }
        for p in ps {
            // SAFETY: live, freed once.
            unsafe { hakmem::free(p) };
        }
    }
    hakmem::thread_flush();
}
