//! Which empty page a heap gets, and what memory it brings along.
//!
//! * A heap that needs a page takes a released page of its own class first
//!   (its carved blocks are still on its free list), even when a page of
//!   another class was released after it.
//! * A page that changes class returns to the OS what the previous class
//!   carved beyond the new class's first carve: a page that served a class
//!   of big blocks and then one of small blocks does not keep the big
//!   class's memory resident.
//! * In a tier of 1 MiB pages (L2.5's) a page that changes class keeps
//!   what the new class can use, and returns only the tail that a class of
//!   blocks leaving more than a quarter of the page unreachable can never
//!   use; and a class without released pages of its own takes the released
//!   page whose depth is closest to what it keeps.
//!
//! * In a tier of 256 KiB pages (L2's) a page that changes class keeps its
//!   memory: the new class fills it again, so returning it would only make
//!   the kernel fault it back in.
//!
//! * The tier's lists stay whole: each released page is handed out once,
//!   also when one is taken from the middle of the dirty list.
//!
//! Each test uses its own tier (page tiers are process-wide), with 64 KiB
//! pages like the tiny tier's or 1 MiB pages like L2.5's, and assumes 4 KiB
//! OS pages where it measures what is resident (the trim rounds to the OS
//! page; those tests are skipped elsewhere).

use hak_slab::{seg_of_entry, Heap, SlabTier};
use std::ptr;

static SIZES: [u32; 3] = [16, 64, 1024];
const SMALL: usize = 0;
const MID: usize = 1;
const BIG: usize = 2;

/// A heap of `tier` (leaked: tests are short and a heap must not move once
/// it owns pages).
fn heap(tier: &'static SlabTier) -> &'static mut Heap {
    assert!(hak_os::segmap::init());
    let h = Box::leak(Box::new(Heap::uninit()));
    h.init(tier);
    h
}

/// Start of the page holding `p`.
fn page_start(tier: &SlabTier, p: *mut u8) -> usize {
    p as usize & !(tier.page_size() - 1)
}

/// Allocates `n` blocks of `class` of [`SIZES`], writing every byte of each.
fn alloc_written(h: &mut Heap, class: usize, n: usize) -> Vec<*mut u8> {
    alloc_written_of(h, &SIZES, class, n)
}

/// Allocates `n` blocks of `class` of a tier of classes `sizes`, writing
/// every byte of each.
fn alloc_written_of(h: &mut Heap, sizes: &[u32], class: usize, n: usize) -> Vec<*mut u8> {
    let bs = sizes[class] as usize;
    (0..n)
        .map(|i| {
            // SAFETY: the heap is initialised and used by this thread only.
            let p = unsafe { h.alloc(class) };
            assert!(!p.is_null());
            // SAFETY: a live block of bs bytes.
            unsafe { ptr::write_bytes(p, i as u8 | 1, bs) };
            p
        })
        .collect()
}

/// Frees every block to `h`, then gives all of `h`'s pages back to the
/// tier (its empty pages are released, as at thread exit).
fn free_and_release(h: &mut Heap, blocks: &[*mut u8]) {
    // SAFETY: live blocks of pages `h` owns; segment entries of slab memory
    // point to their segment records.
    unsafe {
        for &p in blocks {
            let seg = &*seg_of_entry(hak_os::segmap::lookup(p as usize));
            h.free(seg.page_of(p as usize), p);
        }
        h.abandon_all();
    }
}

/// The OS page size.
fn os_page() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// Resident pages among `[from, to)` (page-aligned, `mincore` page by
/// page: a slab page is mapped only as far as it was carved, and a page
/// that is not mapped is not resident).
fn resident_pages(from: usize, to: usize) -> usize {
    let ps = os_page();
    (from..to)
        .step_by(ps)
        .filter(|&p| {
            let mut v = 0u8;
            // SAFETY: one page's byte; mincore touches no memory of the range.
            let r = unsafe { libc::mincore(p as *mut libc::c_void, ps, &mut v) };
            assert!(r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOMEM), "mincore failed");
            r == 0 && v & 1 != 0
        })
        .count()
}

#[test]
fn a_heap_takes_a_released_page_of_its_own_class_first() {
    static TIER: SlabTier = SlabTier::new("reuse", 0, 16, &SIZES);
    // Two heaps fill a page each, of two classes, and release them: the
    // page of MID is released last, so it heads the tier's dirty list.
    let a = heap(&TIER);
    let big = alloc_written(a, BIG, 40);
    let big_page = page_start(&TIER, big[0]);
    let b = heap(&TIER);
    let mid = alloc_written(b, MID, 100);
    let mid_page = page_start(&TIER, mid[0]);
    assert_ne!(big_page, mid_page);
    free_and_release(a, &big);
    free_and_release(b, &mid);

    // A third heap needs a BIG block: it gets the BIG page, one of the
    // blocks already carved there, not the MID page released after it.
    let c = heap(&TIER);
    let again = alloc_written(c, BIG, 40);
    for &p in &again {
        assert_eq!(page_start(&TIER, p), big_page, "a BIG block came from another page");
        assert!(big.contains(&p), "a BIG block was carved anew instead of reused");
    }
    // And one that needs a MID block gets the MID page.
    let d = heap(&TIER);
    let p = alloc_written(d, MID, 1)[0];
    assert_eq!(page_start(&TIER, p), mid_page);
}

#[test]
fn a_page_that_changes_class_returns_the_previous_class_carve() {
    static TIER: SlabTier = SlabTier::new("trim", 1, 16, &SIZES);
    if os_page() != 4096 {
        return; // the ranges below are in 4 KiB pages
    }
    // 40 blocks of 1 KiB: 40 KiB carved and written.
    let a = heap(&TIER);
    let big = alloc_written(a, BIG, 40);
    let page = page_start(&TIER, big[0]);
    assert!(resident_pages(page + 4096, page + 40 * 1024) >= 9);
    free_and_release(a, &big);

    // A heap of small blocks takes the page (no page of its class is
    // released): it carves the first 4 KiB again, and what lies beyond is
    // returned.
    let b = heap(&TIER);
    let small = alloc_written(b, SMALL, 200);
    assert!(small.iter().all(|&p| page_start(&TIER, p) == page), "the small blocks did not reuse the released page");
    assert_eq!(resident_pages(page + 4096, page + 40 * 1024), 0, "the previous class's carve stayed resident");
    assert_eq!(TIER.stats.pages_trimmed.load(std::sync::atomic::Ordering::Relaxed), 1);
    // The new class's blocks are usable, and their contents stay.
    for (i, &p) in small.iter().enumerate() {
        // SAFETY: live 16-byte blocks written by alloc_written.
        unsafe { assert!(std::slice::from_raw_parts(p, 16).iter().all(|&x| x == i as u8 | 1)) };
    }
}

/// Two released pages of one class go to two heaps, and a third heap gets
/// a page of its own: the class list hands out each page once.
#[test]
fn released_pages_of_one_class_are_each_taken_once() {
    static TIER: SlabTier = SlabTier::new("reuse3", 2, 16, &SIZES);
    let a = heap(&TIER);
    let pa = alloc_written(a, MID, 1);
    let b = heap(&TIER);
    let pb = alloc_written(b, MID, 1);
    free_and_release(a, &pa);
    free_and_release(b, &pb);
    let mut pages = Vec::new();
    for _ in 0..3 {
        let h = heap(&TIER);
        let p = alloc_written(h, MID, 1)[0];
        pages.push(page_start(&TIER, p));
    }
    pages.sort();
    pages.dedup();
    assert_eq!(pages.len(), 3, "a page was handed to two heaps");
}

/// A page taken for its class from the middle of the dirty list leaves
/// the others on it, newest first, and none of them twice.
#[test]
fn a_page_taken_from_the_middle_of_the_dirty_list_leaves_the_others_whole() {
    static TIER: SlabTier = SlabTier::new("reuse4", 3, 16, &SIZES);
    // Released in this order: P1 (BIG), P2 (MID), P3 (BIG): dirty = P3 P2 P1.
    let mut rel = Vec::new();
    let mut held = Vec::new();
    for class in [BIG, MID, BIG] {
        let h = heap(&TIER);
        let v = alloc_written(h, class, 1);
        rel.push(page_start(&TIER, v[0]));
        held.push((h, v));
    }
    for (h, v) in held {
        free_and_release(h, &v);
    }
    // MID takes P2 from the middle of the dirty list.
    let h = heap(&TIER);
    let mut got = vec![page_start(&TIER, alloc_written(h, MID, 1)[0])];
    assert_eq!(got[0], rel[1]);
    // SMALL has no page of its own: it takes P3, then P1, then a clean page.
    for _ in 0..3 {
        let h = heap(&TIER);
        got.push(page_start(&TIER, alloc_written(h, SMALL, 1)[0]));
    }
    assert_eq!(&got[1..3], &[rel[2], rel[0]]);
    let mut d = got.clone();
    d.sort();
    d.dedup();
    assert_eq!(d.len(), 4, "a page was handed to two heaps: {got:x?}");
}

/// Classes of a tier of 1 MiB pages: 64 KiB blocks fill a page, 640 KiB and
/// 704 KiB ones leave 384 and 320 KiB of it unreachable, 1 MiB ones fill it.
static L25_LIKE: [u32; 4] = [64 << 10, 640 << 10, 704 << 10, 1 << 20];
const K64: usize = 0;
const K640: usize = 1;
const K704: usize = 2;
const M1: usize = 3;
const KIB: usize = 1024;

fn trims(tier: &SlabTier) -> usize {
    tier.stats.pages_trimmed.load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn a_large_page_keeps_what_its_new_class_can_use_and_returns_the_tail_it_cannot() {
    static TIER: SlabTier = SlabTier::new("l25-tail", 2, 20, &L25_LIKE);
    if os_page() != 4096 {
        return; // the counts below are in 4 KiB pages
    }
    // A 1 MiB block written whole, then freed: its page is 1 MiB deep.
    let a = heap(&TIER);
    let m = alloc_written_of(a, &L25_LIKE, M1, 1);
    let page = page_start(&TIER, m[0]);
    assert_eq!(resident_pages(page, page + 1024 * KIB), 256);
    free_and_release(a, &m);

    // 64 KiB blocks fill a page: the class takes the page and keeps all of
    // it (it will carve there), returning nothing.
    let b = heap(&TIER);
    let k = alloc_written_of(b, &L25_LIKE, K64, 1);
    assert_eq!(page_start(&TIER, k[0]), page, "the 64 KiB class did not reuse the released page");
    assert_eq!(resident_pages(page + 64 * KIB, page + 1024 * KIB), 240, "memory the class can carve was returned");
    assert_eq!(trims(&TIER), 0);
    free_and_release(b, &k);

    // A 640 KiB block leaves 384 KiB of a page unreachable: the class takes
    // the page and returns that tail, and its block holds what it stores.
    let c = heap(&TIER);
    let q = alloc_written_of(c, &L25_LIKE, K640, 1);
    assert_eq!(page_start(&TIER, q[0]), page, "the 640 KiB class did not reuse the released page");
    assert_eq!(resident_pages(page + 640 * KIB, page + 1024 * KIB), 0, "the unreachable tail stayed resident");
    assert_eq!(resident_pages(page, page + 640 * KIB), 160);
    assert_eq!(trims(&TIER), 1);
    // SAFETY: a live 640 KiB block written by alloc_written_of.
    unsafe { assert!(std::slice::from_raw_parts(q[0], 640 * KIB).iter().all(|&x| x == 1)) };
    free_and_release(c, &q);

    // Back to a class that fills the page: nothing more to return.
    let d = heap(&TIER);
    let m = alloc_written_of(d, &L25_LIKE, M1, 1);
    assert_eq!(page_start(&TIER, m[0]), page);
    assert_eq!(trims(&TIER), 1);
}

#[test]
fn a_class_takes_the_released_page_closest_to_the_depth_it_keeps() {
    static TIER: SlabTier = SlabTier::new("l25-fit", 3, 20, &L25_LIKE);
    // DEEP: sixteen 64 KiB blocks, 1 MiB carved. SHALLOW: one 704 KiB
    // block. SHALLOW is released last and heads the dirty list.
    let a = heap(&TIER);
    let k = alloc_written_of(a, &L25_LIKE, K64, 16);
    let deep = page_start(&TIER, k[0]);
    assert!(k.iter().all(|&p| page_start(&TIER, p) == deep));
    let b = heap(&TIER);
    let s = alloc_written_of(b, &L25_LIKE, K704, 1);
    let shallow = page_start(&TIER, s[0]);
    assert_ne!(deep, shallow);
    free_and_release(a, &k);
    free_and_release(b, &s);

    // A 1 MiB block needs a whole page: it gets the deep one, already
    // resident, not the newer shallow one, which it would fault in anew.
    let c = heap(&TIER);
    let m = alloc_written_of(c, &L25_LIKE, M1, 1);
    assert_eq!(page_start(&TIER, m[0]), deep, "the 1 MiB class took the shallower page");
    // Released again, the deep page heads the dirty list. A 640 KiB block
    // still gets the shallow one: its 704 KiB are closer to the 640 KiB
    // the class keeps, so it returns 64 KiB instead of 384.
    free_and_release(c, &m);
    let d = heap(&TIER);
    let q = alloc_written_of(d, &L25_LIKE, K640, 1);
    assert_eq!(page_start(&TIER, q[0]), shallow, "the 640 KiB class took the deeper page");
    assert_eq!(trims(&TIER), 1, "the 640 KiB class's page returned its 64 KiB beyond 640 KiB");
    if os_page() == 4096 {
        assert_eq!(resident_pages(shallow + 640 * KIB, shallow + 1024 * KIB), 0);
        assert_eq!(resident_pages(deep, deep + 1024 * KIB), 256, "the deep page lost memory");
    }
}

#[test]
fn a_purged_page_starts_shallow_again() {
    static TIER: SlabTier = SlabTier::new("l25-purge", 2, 20, &L25_LIKE);
    // A 1 MiB block written whole; then the page serves 64 KiB blocks (a
    // class change: the page records its 1 MiB depth) and is released.
    let a = heap(&TIER);
    let m = alloc_written_of(a, &L25_LIKE, M1, 1);
    let page = page_start(&TIER, m[0]);
    free_and_release(a, &m);
    let b = heap(&TIER);
    let k = alloc_written_of(b, &L25_LIKE, K64, 1);
    assert_eq!(page_start(&TIER, k[0]), page);
    free_and_release(b, &k);

    // Purged (no page kept, no decay): its memory is gone.
    TIER.set_keep_free_pages(0);
    TIER.set_decay_ms(0);
    TIER.purge_expired();
    assert_eq!(TIER.stats.pages_decommitted.load(std::sync::atomic::Ordering::Relaxed), 1);
    if os_page() == 4096 {
        assert_eq!(resident_pages(page, page + 1024 * KIB), 0);
    }
    // The 640 KiB class takes it: nothing lies beyond its reach, so
    // nothing is trimmed.
    let c = heap(&TIER);
    let q = alloc_written_of(c, &L25_LIKE, K640, 1);
    assert_eq!(page_start(&TIER, q[0]), page);
    assert_eq!(trims(&TIER), 0, "a purged page was trimmed as if still deep");
}

/// Classes of a tier of 256 KiB pages: 32 KiB blocks (8 fill a page) and
/// 4 KiB ones.
static L2_LIKE: [u32; 2] = [4 << 10, 32 << 10];

#[test]
fn a_256_kib_page_that_changes_class_keeps_its_memory() {
    static TIER: SlabTier = SlabTier::new("l2-keep", 1, 18, &L2_LIKE);
    if os_page() != 4096 {
        return; // the counts below are in 4 KiB pages
    }
    // Eight 32 KiB blocks written whole, then freed: the page is 256 KiB deep.
    let a = heap(&TIER);
    let big = alloc_written_of(a, &L2_LIKE, 1, 8);
    let page = page_start(&TIER, big[0]);
    assert!(big.iter().all(|&p| page_start(&TIER, p) == page));
    assert_eq!(resident_pages(page, page + 256 * KIB), 64);
    free_and_release(a, &big);

    // A heap of 4 KiB blocks takes the page: nothing is returned, and its
    // 64 blocks fill the page again without a fault.
    let b = heap(&TIER);
    let small = alloc_written_of(b, &L2_LIKE, 0, 1);
    assert_eq!(page_start(&TIER, small[0]), page, "the 4 KiB class did not reuse the released page");
    assert_eq!(trims(&TIER), 0);
    assert_eq!(resident_pages(page, page + 256 * KIB), 64, "the page's memory was returned on a class change");
    let rest = alloc_written_of(b, &L2_LIKE, 0, 63);
    assert!(rest.iter().all(|&p| page_start(&TIER, p) == page));
    assert_eq!(resident_pages(page, page + 256 * KIB), 64);
    // The blocks hold what they store.
    for (i, &p) in rest.iter().enumerate() {
        // SAFETY: live 4 KiB blocks written by alloc_written_of.
        unsafe { assert!(std::slice::from_raw_parts(p, 4096).iter().all(|&x| x == i as u8 | 1)) };
    }
}
