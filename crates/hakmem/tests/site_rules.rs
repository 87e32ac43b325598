//! Site rules (`HAKMEM_SITE_RULES=1`) through the Rust API, in a test binary
//! of its own (the configuration is read once per process). The base
//! sampling rate is set to about one request in 2^30
//! (`HAKMEM_SITE_SAMPLE`), so the only samples are the first
//! `MIN_SAMPLES` (16) requests of each new site: the run is the same every
//! time, whatever the sampler's jitter.
//!
//! A long-lived site among a short-lived one of the same size learns its
//! rule from its first 16 blocks (served by mappings of their own, so that
//! their frees are seen), and from then on its blocks come from pages of
//! their own: no L2.5 page holds both a long-lived and a short-lived block.

use std::collections::HashSet;
use std::hint::black_box;

use hak_os::segmap;

/// Blocks of both sites: one L2.5 class (above 32 KiB).
const SIZE: usize = 48 << 10;
/// L2.5 pages: 1 MiB, aligned in their segments.
const PAGE: usize = 1 << 20;

/// The short-lived site (not inlined, and not a tail call: its own return
/// address inside this function is the site).
#[inline(never)]
fn scratch_site(n: usize) -> *mut u8 {
    let p = black_box(hakmem::alloc(n));
    assert!(!p.is_null());
    // SAFETY: a live block of n bytes.
    unsafe { p.write_bytes(0x5c, n) };
    p
}

/// The long-lived site (a different function: another return address).
#[inline(never)]
fn keep_site(n: usize) -> *mut u8 {
    let p = black_box(hakmem::alloc(n));
    assert!(!p.is_null());
    // SAFETY: a live block of n bytes.
    unsafe { p.write_bytes(0x4b, n) };
    p
}

fn is_mapping(p: *mut u8) -> bool {
    segmap::lookup(p as usize) & segmap::TAG_BIG != 0
}

fn free(p: *mut u8) {
    // SAFETY: a live hakmem block.
    assert!(unsafe { hakmem::free(p) });
}

#[test]
fn a_long_lived_site_gets_pages_of_its_own() {
    // SAFETY: set before hakmem reads its configuration (its first use in
    // this process), while no other thread runs.
    unsafe {
        std::env::set_var("HAKMEM_SITE_RULES", "1");
        std::env::set_var("HAKMEM_SITE_SAMPLE", "1073741824");
    }
    hakmem::init();
    assert_eq!(hakmem::site_counts(), (0, 0, 0));

    // The short-lived site: its first 16 blocks are samples (mappings),
    // freed at once: young.
    for _ in 0..16 {
        let p = scratch_site(SIZE);
        assert!(is_mapping(p), "a sample of a new site is a mapping of its own");
        free(p);
    }
    let p = scratch_site(SIZE);
    assert!(!is_mapping(p), "a learned short-lived site takes the usual path");
    free(p);
    assert_eq!(hakmem::site_counts(), (16, 16, 0));

    // The long-lived site: its first 16 blocks are samples, kept.
    let mut keeps: Vec<*mut u8> = (0..16).map(|_| keep_site(SIZE)).collect();
    assert!(keeps.iter().all(|&p| is_mapping(p)));
    assert_eq!(hakmem::site_counts(), (32, 16, 0));

    // From now on: both sites interleaved, scratch blocks kept for a while
    // (as a function's scratch is) so that they share pages if they can.
    let mut scratch = Vec::new();
    for _ in 0..64 {
        for _ in 0..4 {
            scratch.push(scratch_site(SIZE));
        }
        keeps.push(keep_site(SIZE));
    }
    assert_eq!(hakmem::site_counts(), (32, 16, 64), "64 hinted requests, no more samples");
    let keep_pages: HashSet<usize> = keeps[16..].iter().map(|&p| p as usize & !(PAGE - 1)).collect();
    assert!(keeps[16..].iter().all(|&p| !is_mapping(p)), "hinted blocks come from slab pages");
    for &p in &scratch {
        assert!(!is_mapping(p));
        assert!(!keep_pages.contains(&(p as usize & !(PAGE - 1))), "a page holds a long-lived and a short-lived block");
    }
    // 64 blocks of 48 KiB (a class of at most 56 KiB: 18 or more a page)
    // fill at most 4 pages.
    assert!(keep_pages.len() <= 4, "long-lived blocks spread over {} pages", keep_pages.len());

    // Every block keeps its bytes; a sampled block can be resized and freed.
    for &p in &scratch {
        // SAFETY: live blocks of SIZE bytes.
        assert!(unsafe { std::slice::from_raw_parts(p, SIZE) }.iter().all(|&b| b == 0x5c));
        free(p);
    }
    // SAFETY: a live block, grown and checked.
    unsafe {
        let q = hakmem::realloc(keeps[0], 3 * SIZE);
        assert!(!q.is_null() && std::slice::from_raw_parts(q, SIZE).iter().all(|&b| b == 0x4b));
        keeps[0] = q;
    }
    for &p in &keeps {
        // SAFETY: live blocks of at least SIZE bytes.
        assert!(unsafe { std::slice::from_raw_parts(p, SIZE) }.iter().all(|&b| b == 0x4b));
        free(p);
    }
    let (samples, frees, _) = hakmem::site_counts();
    assert_eq!((samples, frees), (32, 32), "every sampled block's free was seen");
}
