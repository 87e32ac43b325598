//! `realloc` stops moving growing blocks into mappings of their own once
//! the big tier holds `REALLOC_MAP_MAX_LIVE` live blocks, so a program with
//! thousands of live big blocks does not also spend a mapping (and a VMA)
//! on every buffer it grows. Its own test binary: it counts the
//! process-wide big tier's live blocks.

/// Whether this process may reserve the test's 10 GiB of address space:
/// not under an address-space limit (`ulimit -v`, sanitizers) nor strict
/// overcommit, where untouched mappings count against the commit limit.
fn can_reserve_10_gib() -> bool {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct we pass.
    let limited = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut r) } != 0 || r.rlim_cur != libc::RLIM_INFINITY;
    let strict = std::fs::read_to_string("/proc/sys/vm/overcommit_memory").is_ok_and(|s| s.trim() == "2");
    !limited && !strict
}

#[test]
fn growing_blocks_get_no_mapping_past_the_cap() {
    if !can_reserve_10_gib() {
        eprintln!(
            "skipped: 4096 mappings of 2.5 MiB cannot be reserved here (address-space limit or strict overcommit)"
        );
        return;
    }
    let big = 2 << 20;
    let mut held = Vec::new();
    while hak_bigcache::live() < hakmem::REALLOC_MAP_MAX_LIVE {
        let p = hakmem::alloc(big);
        assert!(!p.is_null(), "big allocation {} failed", held.len());
        held.push(p);
    }
    let grow = |expect_mapping: bool| {
        let before = hak_bigcache::live();
        let p = hakmem::alloc(1000);
        // SAFETY: a live block of 1000 bytes.
        unsafe { std::ptr::write_bytes(p, 0x5A, 1000) };
        // SAFETY: p is live and ours.
        let q = unsafe { hakmem::realloc(p, hakmem::REALLOC_MAP_MIN + 100) };
        assert!(!q.is_null());
        // SAFETY: q is live and holds more than 1000 bytes.
        let kept = unsafe { std::slice::from_raw_parts(q, 1000) };
        assert!(kept.iter().all(|&b| b == 0x5A), "realloc lost contents");
        let mapped = hak_bigcache::live() == before + 1;
        assert_eq!(mapped, expect_mapping, "live big blocks went from {before} to {}", hak_bigcache::live());
        // SAFETY: q is live and ours.
        unsafe { hakmem::free(q) };
    };
    grow(false);
    for p in held.drain(..) {
        // SAFETY: each held block is live and ours.
        unsafe { hakmem::free(p) };
    }
    grow(true);
}
