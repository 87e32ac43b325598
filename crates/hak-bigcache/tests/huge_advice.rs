//! With transparent huge pages on, a big block's mapping carries the
//! huge-page advice exactly while the block is at least 2 MiB, also when
//! the mapping is reused from the cache or resized by `realloc` (the
//! advice stays with a mapping): a small block in a huge-page mapping would
//! fault in a whole 2 MiB page on its first touch.

use hak_bigcache::BigCache;
use hak_os::segmap;

const MIB: usize = 1 << 20;

/// The `VmFlags` of the mapping holding `p` (from `/proc/self/smaps`).
fn vm_flags(p: *mut u8) -> String {
    let a = p as usize;
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("read smaps");
    let mut inside = false;
    for line in smaps.lines() {
        let range = line.split(' ').next().unwrap_or("");
        if let Some((lo, hi)) = range.split_once('-') {
            if let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16)) {
                inside = lo <= a && a < hi;
                continue;
            }
        }
        if inside {
            if let Some(flags) = line.strip_prefix("VmFlags:") {
                return flags.to_string();
            }
        }
    }
    panic!("no mapping holds {p:?}");
}

fn advised(p: *mut u8) -> bool {
    vm_flags(p).split_whitespace().any(|f| f == "hg")
}

#[test]
fn the_huge_page_advice_follows_the_block_size() {
    if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
        eprintln!("skipped: the kernel has no transparent huge pages");
        return;
    }
    let c = BigCache::new();
    c.configure(true, 32, 256 * MIB, 1000, true);
    let p = c.alloc(3 * MIB, 16, false);
    assert!(!p.is_null());
    assert!(advised(p), "a 3 MiB block's fresh mapping has no huge-page advice");
    // SAFETY: p is a live block of c.
    unsafe { c.free(segmap::lookup(p as usize), p) };
    c.check();
    let q = c.alloc(300 << 10, 16, false);
    // One mapping (they start at a segment boundary; a reused one places
    // its block 1 KiB further in, decision 0051).
    assert_eq!(
        q as usize / hak_os::SEGMENT_SIZE,
        p as usize / hak_os::SEGMENT_SIZE,
        "the cached mapping was not reused"
    );
    assert!(!advised(q), "a 300 KiB block kept the huge-page advice");
    // SAFETY: q is a live block of c that the test owns.
    let r = unsafe { c.realloc(segmap::lookup(q as usize), q, 5 * MIB / 2) };
    assert_eq!(r, q, "a growth within the mapping moved the block");
    assert!(advised(r), "a block grown to 2.5 MiB has no huge-page advice");
    // SAFETY: r is a live block of c.
    unsafe { c.free(segmap::lookup(r as usize), r) };
    c.check();
}
