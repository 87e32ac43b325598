//! Loom models of the page engine (`cargo xtask loom`).
//!
//! Every model builds a fresh [`SlabTier`] and fresh [`Heap`]s (the shipped
//! types, with the loom atomics of `hak_os::sync`), runs real engine
//! operations on several loom threads, joins them, and then checks the
//! whole tier with [`check`]:
//!
//! * every page is in exactly one place: a tier list (dirty or clean, then
//!   unowned with an empty remote list), one list of its owning heap (cur
//!   or partial: then `owner` is that heap's token), or abandoned (on no
//!   list, `owner == ABANDONED`, and at least one of its blocks still held
//!   by the program: otherwise the page is leaked, its blocks all free or
//!   on a remote list nobody will collect);
//! * per page, blocks balance: the free and remote lists and the blocks the
//!   model still holds are disjoint sets of carved blocks (none lost, none
//!   handed out twice), and `used` counts exactly the held and the remotely
//!   freed ones (a free page keeps its carved blocks on its free list,
//!   unless clean: then it has none);
//! * the tier's dirty list is a well-formed doubly-linked list whose length
//!   is `dirty_count`, and so are its per-class dirty lists, which hold
//!   exactly the same pages, each on the list of its class; its hint lists
//!   hold each page at most once, exactly the pages marked `hinted` (hints
//!   may name pages in any state).
//!
//! Models are small on purpose (two or three threads, a handful of
//! operations each): loom explores every interleaving up to the preemption
//! bound (`LOOM_MAX_PREEMPTIONS`), so each added operation multiplies the
//! run time.
//!
//! Each model's main thread yields once right after spawning, so loom's
//! first execution runs the spawned threads' operations before the main
//! thread's racing ones. Loom's DPOR remembers one last access per atomic:
//! when a thread's own load precedes its RMW (a CAS loop's first read), the
//! race of that RMW with another thread's earlier load goes unnoticed
//! unless the RMW runs first in some execution (without the yield,
//! `remote_free_vs_owner_refill` explored a single execution). Every model
//! was checked to fail on deliberately broken variants of the code (missing
//! re-checks, weakened orderings, non-atomic adoption, split critical
//! sections).

extern crate std;

use std::boxed::Box;
use std::collections::{HashMap, HashSet};
use std::format;
use std::vec::Vec;

use loom::thread;

use core::ptr;

use hak_os::sync::Ordering;

use super::*;
use crate::page::{empty_page, remote_count, remote_ptr, PagePtr};

/// Four 16 KiB blocks per 64 KiB page, carved one at a time: pages are
/// exhausted (and detached by the next allocation) after four allocations.
static SIZES_4: [u32; 1] = [16384];
/// Two 32 KiB blocks per 64 KiB page.
static SIZES_2: [u32; 1] = [32768];
/// 1 KiB blocks, carved four at a time (for multi-block lists).
static SIZES_1K: [u32; 1] = [1024];

/// A pointer that may cross loom threads (the model's protocol, not Rust's
/// types, decides who touches what).
struct P<T>(*mut T);
impl<T> Clone for P<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for P<T> {}
// SAFETY: see above; every model documents its hand-offs.
unsafe impl<T> Send for P<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for P<T> {}

/// One execution's tier and heaps, torn down (segments unmapped) on drop.
struct World {
    tier: &'static SlabTier,
    heaps: Vec<*mut Heap>,
}

impl World {
    /// A world around a tier with 64 KiB pages and classes `sizes`.
    fn new(sizes: &'static [u32]) -> World {
        World::with(SlabTier::new("loom", 0, 16, sizes))
    }

    fn with(tier: SlabTier) -> World {
        World { tier: Box::leak(Box::new(tier)), heaps: Vec::new() }
    }

    /// A new heap of the tier (its own address as token).
    fn heap(&mut self) -> P<Heap> {
        let h = Box::into_raw(Box::new(Heap::uninit()));
        // SAFETY: fresh box.
        unsafe { (*h).init(self.tier) };
        self.heaps.push(h);
        P(h)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for &h in &self.heaps {
            // SAFETY: boxed in `heap`, no thread uses it any more.
            drop(unsafe { Box::from_raw(h) });
        }
        // SAFETY: leaked in `new`; every thread of the execution has been
        // joined, nothing refers to the tier any more.
        drop(unsafe { Box::from_raw(self.tier as *const SlabTier as *mut SlabTier) });
    }
}

use hak_os::sync::loom_model as model;

/// The page descriptor of block `b` (through the tier's segment list).
unsafe fn page_of(tier: &SlabTier, b: usize) -> *mut Page {
    let segs = tier.segments.lock().unwrap();
    let &(_, rec) = segs.iter().find(|&&(base, _)| b & !hak_os::SEGMENT_MASK == base).expect("block outside the tier");
    // SAFETY: a live segment record of the tier; b lies in its segment.
    unsafe { (*(rec as *const SegMeta)).page_of(b) }
}

/// The blocks of a singly-linked block list.
unsafe fn list(mut b: *mut Block) -> Vec<usize> {
    let mut v = Vec::new();
    while !b.is_null() {
        v.push(b as usize);
        assert!(v.len() < 100_000, "cyclic block list");
        // SAFETY: list blocks are carved blocks of a live page.
        b = unsafe { (*b).next };
    }
    v
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Dirty,
    Clean,
    Cur(usize),
    Partial(usize),
}

/// Checks the whole tier after every thread joined (see the module docs).
/// `held`: blocks the program still holds.
unsafe fn check(w: &World, held: &[usize]) {
    let tier = w.tier;
    let mut place: HashMap<usize, Place> = HashMap::new();
    let mut put = |pg: PagePtr, p: Place| {
        if let Some(prev) = place.insert(pg.as_ptr() as usize, p) {
            panic!("page {pg:?} is both in {prev:?} and in {p:?}");
        }
    };
    // SAFETY (whole body): single-threaded after the joins; every pointer
    // walked is a page or block of this tier.
    unsafe {
        {
            let mut s = tier.shared.lock();
            // Hints still in the inbox join the hint lists (as the next
            // heap that takes hints would have them).
            tier.drain_inbox(&mut s);
            assert!(tier.inbox.load(Ordering::SeqCst).is_null(), "inbox not empty after the drain");
            let mut n = 0;
            let mut dirty = HashSet::new();
            let mut prev = PagePtr::NULL;
            let mut pg = s.dirty;
            while !pg.is_null() {
                assert_eq!(pg.prev(), prev, "dirty list: broken prev link");
                put(pg, Place::Dirty);
                dirty.insert(pg.as_ptr() as usize);
                n += 1;
                prev = pg;
                pg = pg.next();
            }
            assert_eq!(s.dirty_tail, prev, "dirty list: wrong tail");
            assert_eq!(s.dirty_count, n, "dirty list: wrong count");
            let mut by_class = 0;
            for (c, &head) in s.dirty_of.iter().enumerate() {
                let mut prev = PagePtr::NULL;
                let mut pg = head;
                while !pg.is_null() {
                    assert_eq!(pg.class_prev(), prev, "class dirty list: broken prev link");
                    assert_eq!(pg.class() as usize, c, "page on another class's dirty list");
                    assert!(
                        dirty.remove(&(pg.as_ptr() as usize)),
                        "page {pg:?} on a class dirty list but not on the dirty list (or twice)"
                    );
                    by_class += 1;
                    prev = pg;
                    pg = pg.class_next();
                }
            }
            assert_eq!(by_class, n, "class dirty lists: wrong count");
            assert!(dirty.is_empty(), "dirty pages on no class dirty list: {dirty:?}");
            let mut pg = s.clean;
            while !pg.is_null() {
                put(pg, Place::Clean);
                pg = pg.next();
            }
            let mut hinted = HashSet::new();
            for &head in &s.hints {
                let mut pg = head;
                while !pg.is_null() {
                    assert!(pg.hinted(), "page {pg:?} on a hint list but not marked hinted");
                    assert!(hinted.insert(pg.as_ptr() as usize), "page {pg:?} twice on the hint lists");
                    pg = pg.hint_next();
                }
            }
            for (_, rec) in tier.segments.lock().unwrap().iter() {
                let rec = *rec as *mut SegMeta;
                for i in 0..hak_os::SEGMENT_SIZE >> (*rec).page_shift {
                    let pg = PagePtr::from_raw(ptr::addr_of_mut!((*rec).pages).cast::<Page>().add(i));
                    assert!(
                        !pg.hinted() || hinted.contains(&(pg.as_ptr() as usize)),
                        "page {i} marked hinted but on no hint list"
                    );
                }
            }
        }
        for (i, &h) in w.heaps.iter().enumerate() {
            let h = &*h;
            for c in 0..MAX_CLASSES {
                if h.cur[c] != empty_page() {
                    put(h.cur[c], Place::Cur(i));
                }
                let mut prev = PagePtr::NULL;
                let mut pg = h.partial[c];
                while !pg.is_null() {
                    assert_eq!(pg.prev(), prev, "heap list: broken prev link");
                    assert_eq!(pg.class() as usize, c, "page on another class's list");
                    put(pg, Place::Partial(i));
                    prev = pg;
                    pg = pg.next();
                }
            }
        }
        let mut held_by_page: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut seen = HashSet::new();
        for &b in held {
            assert!(seen.insert(b), "block {b:#x} held twice");
            held_by_page.entry(page_of(tier, b) as usize).or_default().push(b);
        }
        let segs = tier.segments.lock().unwrap().clone();
        for (_, rec) in segs {
            let rec = rec as *mut SegMeta;
            let npages = hak_os::SEGMENT_SIZE >> (*rec).page_shift;
            for i in 0..npages {
                let pg = PagePtr::from_raw(ptr::addr_of_mut!((*rec).pages).cast::<Page>().add(i));
                let owner = pg.owner(Ordering::SeqCst);
                let word = pg.remote(Ordering::SeqCst);
                let remote = list(remote_ptr(word));
                assert_eq!(remote.len(), remote_count(word) as usize, "page {i}: remote count disagrees with the list");
                let held_here = held_by_page.get(&(pg.as_ptr() as usize)).cloned().unwrap_or_default();
                let what = format!(
                    "page {i} (owner {owner:#x}, used {:#x}, remote {remote:x?}, held {held_here:x?})",
                    pg.used()
                );
                match place.get(&(pg.as_ptr() as usize)).copied() {
                    Some(p @ (Place::Dirty | Place::Clean)) => {
                        assert_eq!(owner, NO_OWNER, "{what}: free page with an owner");
                        assert!(remote.is_empty() && held_here.is_empty(), "{what}: free page with blocks out");
                        assert!(p == Place::Dirty || pg.capacity() == 0, "{what}: clean page with carved blocks");
                    }
                    Some(Place::Cur(h) | Place::Partial(h)) => {
                        assert_eq!(owner, (*w.heaps[h]).token, "{what}: on a list of heap {h} but not owned by it");
                    }
                    None => {
                        assert_eq!(owner, ABANDONED, "{what}: on no list but not abandoned");
                        assert!(!held_here.is_empty(), "{what}: abandoned with no block left to free: leaked");
                    }
                }
                // Block ledger.
                let free = list(pg.free());
                let mut all = HashSet::new();
                for &b in free.iter().chain(&remote).chain(&held_here) {
                    assert!(all.insert(b), "{what}: block {b:#x} in two places");
                    assert!(pg.is_block_start(b), "{what}: {b:#x} is not a carved block");
                }
                // The current page carries one phantom count (Heap::make_cur).
                let phantom = matches!(place.get(&(pg.as_ptr() as usize)), Some(Place::Cur(_))) as usize;
                let used = pg.used() as usize;
                assert_eq!(
                    used,
                    remote.len() + held_here.len() + phantom,
                    "{what}: used does not count held + remote blocks (+1 when current)"
                );
                assert_eq!(all.len(), pg.capacity() as usize, "{what}: a carved block is lost");
            }
        }
    }
}

/// Allocates `n` blocks of class 0 from `h` (single-threaded set-up).
unsafe fn alloc_n(h: P<Heap>, n: usize) -> Vec<usize> {
    // SAFETY: the calling thread owns the heap.
    (0..n).map(|_| unsafe { (*h.0).alloc(0) } as usize).collect()
}

/// A heap that allocated one block of class 0 (returned): it has a current
/// page of the class, so it adopts abandoned class 0 pages it frees into
/// (`Heap::free_slow`).
unsafe fn allocating_heap(w: &mut World) -> (P<Heap>, usize) {
    let h = w.heap();
    // SAFETY: the calling thread owns the new heap.
    let b = unsafe { (*h.0).alloc(0) } as usize;
    (h, b)
}

/// Frees `b` through `h` (the router's slab free: fast path, then slow),
/// then pushes what `h` batched (as its next upkeep would).
unsafe fn heap_free(tier: &SlabTier, h: P<Heap>, b: usize) {
    // SAFETY: b is a live block of this tier; h belongs to the caller.
    unsafe {
        (*h.0).free(page_of(tier, b), b as *mut u8);
        (*h.0).flush_remote();
    }
}

/// A free by a thread without a heap.
unsafe fn remote_free(tier: &SlabTier, b: usize) {
    // SAFETY: b is a live block of this tier.
    unsafe { free_remote(page_of(tier, b), b as *mut u8) }
}

/// Remote frees racing the owner's refill: the owner allocates through
/// `collect_remote` and extension while another thread pushes two blocks.
#[test]
fn remote_free_vs_owner_refill() {
    model("remote_free_vs_owner_refill", || {
        let mut w = World::new(&SIZES_1K);
        let h = w.heap();
        let tier = w.tier;
        // SAFETY: single-threaded set-up; then the blocks of `give` belong
        // to the spawned thread and the heap to the main thread.
        unsafe {
            let mut mine = alloc_n(h, 4); // the whole first carve
            let g = [mine.pop().unwrap(), mine.pop().unwrap()];
            let t = thread::spawn(move || {
                remote_free(tier, g[0]);
                remote_free(tier, g[1]);
            });
            thread::yield_now();
            for _ in 0..2 {
                mine.push((*h.0).alloc(0) as usize);
            }
            t.join().unwrap();
            check(&w, &mine);
        }
    });
}

/// Several threads pushing onto one page's remote list at once, the owner
/// collecting concurrently.
#[test]
fn concurrent_remote_pushes() {
    model("concurrent_remote_pushes", || {
        let mut w = World::new(&SIZES_1K);
        let h = w.heap();
        let tier = w.tier;
        // SAFETY: as in remote_free_vs_owner_refill.
        unsafe {
            let mut mine = alloc_n(h, 4);
            let (a, b) = (mine.pop().unwrap(), mine.pop().unwrap());
            let t1 = thread::spawn(move || remote_free(tier, a));
            let t2 = thread::spawn(move || remote_free(tier, b));
            thread::yield_now();
            // Owner: local frees then allocations force collects.
            heap_free(tier, h, mine.pop().unwrap());
            for _ in 0..2 {
                mine.push((*h.0).alloc(0) as usize);
            }
            t1.join().unwrap();
            t2.join().unwrap();
            check(&w, &mine);
        }
    });
}

/// Detaching an exhausted page: the owner's next allocation gives up its
/// exhausted current page (`abandon`: store ABANDONED, re-check `remote`)
/// while one thread frees a block of it through its own heap (adopting the
/// page if it sees ABANDONED, else pushing, and reclaiming if it sees
/// ABANDONED and its push made the last block free) and another frees the
/// other block without a heap (pushing, then maybe reclaiming). A push the
/// re-check sees makes the owner take the page back (CAS `ABANDONED →
/// token`), racing the freers' CASes: exactly one owner, no block lost, and
/// the page, all of whose blocks are freed, never left abandoned.
/// Afterwards the owner frees its new block.
#[test]
fn detach_vs_frees() {
    model("detach_vs_frees", || {
        let mut w = World::new(&SIZES_2);
        // SAFETY: set-up on the main thread; then h1 and block a belong to
        // the first spawned thread, block b to the second, h0 and the other
        // blocks to the main thread.
        unsafe {
            let (h1, own1) = allocating_heap(&mut w); // a page of its own: h1 may adopt
            let h0 = w.heap();
            let tier = w.tier;
            let mut mine = alloc_n(h0, 2); // page exhausted, still current
            let (a, b) = (mine.pop().unwrap(), mine.pop().unwrap());
            let t1 = thread::spawn(move || heap_free(tier, h1, a));
            let t2 = thread::spawn(move || remote_free(tier, b));
            thread::yield_now();
            mine.push((*h0.0).alloc(0) as usize);
            t1.join().unwrap();
            t2.join().unwrap();
            mine.push(own1);
            check(&w, &mine);
            mine.pop();
            for b in mine.drain(..) {
                heap_free(tier, h0, b);
            }
            check(&w, &[own1]);
        }
    });
}

/// Taking an abandoned page from the tier's hints: a heap that needs a
/// page pops the hint and adopts with a CAS `ABANDONED → token`, racing a
/// heap that adopts the page by freeing into it and a heapless freer that
/// reclaims it (and releases it if it frees the last block). Exactly one of
/// them owns the page; the others' blocks reach its lists.
#[test]
fn take_abandoned_race() {
    model("take_abandoned_race", || {
        let mut w = World::new(&SIZES_4);
        // SAFETY: set-up on the main thread (h0 abandons its page, which
        // has room, so it is hinted); then h1 belongs to the first spawned
        // thread, h2 and block a to the second, block b to the main thread.
        unsafe {
            let (h2, own2) = allocating_heap(&mut w); // before the hint: h2 may adopt
            let h0 = w.heap();
            let h1 = w.heap();
            let tier = w.tier;
            let mut given = alloc_n(h0, 2);
            (*h0.0).abandon_all();
            let (a, b) = (given.pop().unwrap(), given.pop().unwrap());
            let t1 = thread::spawn(move || (*h1.0).alloc(0) as usize);
            let t2 = thread::spawn(move || heap_free(tier, h2, a));
            thread::yield_now();
            remote_free(tier, b);
            let mine = [t1.join().unwrap(), own2];
            t2.join().unwrap();
            check(&w, &mine);
        }
    });
}

/// Two classes: 16 KiB and 8 KiB blocks.
static SIZES_2C: [u32; 2] = [16384, 8192];

/// A stale hint (single thread, every step of the hint's life): a page
/// hinted for class 0 is released, reused for class 1 and abandoned again
/// (already hinted: it stays on class 0's list). A heap that then needs a
/// class 0 page adopts it through the stale hint, keeps it as a class 1
/// page, and takes another page for class 0.
#[test]
fn stale_hint_of_another_class() {
    model("stale_hint_of_another_class", || {
        let mut w = World::new(&SIZES_2C);
        let h0 = w.heap();
        let h1 = w.heap();
        let h2 = w.heap();
        let tier = w.tier;
        // SAFETY: one thread owns everything.
        unsafe {
            let x = (*h0.0).alloc(0) as usize;
            (*h0.0).abandon_all(); // hinted for class 0
            remote_free(tier, x); // reclaimed and released
            check(&w, &[]);
            let y = (*h1.0).alloc(1) as usize; // the same page, resident, for class 1
            assert_eq!(page_of(tier, x), page_of(tier, y));
            (*h1.0).abandon_all();
            let z = (*h2.0).alloc(0) as usize;
            assert_ne!(page_of(tier, z), page_of(tier, y));
            assert_eq!((*h2.0).partial[1].as_ptr(), page_of(tier, y), "adopted through the stale hint");
            check(&w, &[y, z]);
            heap_free(tier, h2, y);
            check(&w, &[z]);
        }
    });
}

/// Thread exit (abandon_all) while other threads free into its pages: one
/// through its own heap (which may adopt), one without a heap. No page may
/// end abandoned with all its blocks freed (leaked), nor with remote frees
/// nobody collects.
#[test]
fn abandon_vs_remote_frees() {
    model("abandon_vs_remote_frees", || {
        let mut w = World::new(&SIZES_4);
        // SAFETY: set-up on the main thread; then h0 is the main thread's,
        // h1 and block a the first spawned thread's, block b the second's.
        unsafe {
            let (h1, own1) = allocating_heap(&mut w);
            let h0 = w.heap();
            let tier = w.tier;
            let mut mine = alloc_n(h0, 3);
            let (a, b) = (mine.pop().unwrap(), mine.pop().unwrap());
            let t1 = thread::spawn(move || heap_free(tier, h1, a));
            let t2 = thread::spawn(move || remote_free(tier, b));
            thread::yield_now();
            (*h0.0).abandon_all();
            t1.join().unwrap();
            t2.join().unwrap();
            // h0's thread is gone: its last block now belongs to no heap
            // (heap_free through h1 would adopt), check before and after
            // it is freed remotely.
            mine.insert(0, own1);
            check(&w, &mine);
            remote_free(tier, mine.pop().unwrap());
            check(&w, &mine);
        }
    });
}

/// Adoption of an abandoned page by two heaps at once (CAS ABANDONED →
/// token) racing a remote free without a heap: exactly one adopter owns
/// the page, on exactly one list, and every block is accounted for.
#[test]
fn adoption_race() {
    model("adoption_race", || {
        let mut w = World::new(&SIZES_4);
        // SAFETY: set-up on the main thread (h0 abandons its page); then h1
        // and block a belong to the first spawned thread, h2 and block b to
        // the second, block c to the main thread.
        unsafe {
            let (h1, own1) = allocating_heap(&mut w);
            let (h2, own2) = allocating_heap(&mut w);
            let h0 = w.heap();
            let tier = w.tier;
            let mut mine = alloc_n(h0, 4);
            (*h0.0).abandon_all();
            let (a, b, c) = (mine.pop().unwrap(), mine.pop().unwrap(), mine.pop().unwrap());
            let t1 = thread::spawn(move || heap_free(tier, h1, a));
            let t2 = thread::spawn(move || heap_free(tier, h2, b));
            thread::yield_now();
            remote_free(tier, c);
            t1.join().unwrap();
            t2.join().unwrap();
            mine.extend([own1, own2]);
            check(&w, &mine);
        }
    });
}

/// The tier's free-page lists: a heap releases an empty page (with
/// keep_free_pages = 0 and no decay, so the purge path runs: pages taken
/// off the dirty list under the lock, decommitted outside it, put on the
/// clean list under it again) while another heap acquires pages.
#[test]
fn tier_release_purge_vs_acquire() {
    model("tier_release_purge_vs_acquire", || {
        let mut w = World::new(&SIZES_4);
        w.tier.set_keep_free_pages(0);
        w.tier.set_decay_ms(0);
        let h0 = w.heap();
        let h1 = w.heap();
        let tier = w.tier;
        // SAFETY: set-up on the main thread; then h0 and its blocks belong
        // to the spawned thread, h1 to the main thread.
        unsafe {
            let first = alloc_n(h0, 4); // page 1 exhausted
            let second = alloc_n(h0, 1); // page 1 detached, page 2 current
            for &b in &first[1..] {
                heap_free(tier, h0, b); // page 1 adopted back, one block left
            }
            let last = first[0];
            let t = thread::spawn(move || heap_free(tier, h0, last)); // page 1 released and purged
            let mut mine = second;
            thread::yield_now();
            mine.push((*h1.0).alloc(0) as usize); // acquires a page
            t.join().unwrap();
            check(&w, &mine);
        }
    });
}

/// 32 KiB blocks in 512 KiB pages (8 pages a segment; the L2 tier itself has 256 KiB pages now).
static SIZES_L2: [u32; 1] = [32768];

/// Two heaps take their first page from an empty tier at once: both may
/// reserve a segment (outside the lock) and put its other pages on the
/// clean list (under it). Every page ends in exactly one place.
#[test]
fn concurrent_segment_creation() {
    model("concurrent_segment_creation", || {
        let mut w = World::with(SlabTier::new("loom-l2", 1, 19, &SIZES_L2));
        let h0 = w.heap();
        let h1 = w.heap();
        // SAFETY: h1 belongs to the spawned thread, h0 to the main thread.
        unsafe {
            let t = thread::spawn(move || (*h1.0).alloc(0) as usize);
            thread::yield_now();
            let mine = (*h0.0).alloc(0) as usize;
            let theirs = t.join().unwrap();
            check(&w, &[mine, theirs]);
        }
    });
}

/// Remote-free batching racing detachment: a heap that does not allocate
/// the class frees two blocks of another heap's exhausted current page
/// (one chain, not adopted) and pushes them with one CAS, while the owner's
/// next allocation detaches the page (`abandon`: store ABANDONED, re-check
/// `remote`). Either the re-check sees the chain (the owner takes the page
/// back) or the pusher sees ABANDONED and records a hint; no block lost.
/// Then the last two blocks are freed without a heap: the page, all of
/// whose blocks are free, is never left abandoned.
#[test]
fn batched_chain_vs_detach() {
    model("batched_chain_vs_detach", || {
        let mut w = World::new(&SIZES_4);
        let h0 = w.heap();
        let h1 = w.heap();
        let tier = w.tier;
        // SAFETY: set-up on the main thread; then h1 and blocks a, b belong
        // to the spawned thread, h0 and the other blocks to the main thread.
        unsafe {
            let mut mine = alloc_n(h0, 4); // page exhausted, still current
            let (a, b) = (mine.pop().unwrap(), mine.pop().unwrap());
            let t = thread::spawn(move || {
                (*h1.0).free(page_of(tier, a), a as *mut u8);
                (*h1.0).free(page_of(tier, b), b as *mut u8);
                assert_eq!((*h1.0).batched(), 2, "two blocks of one page not batched");
                (*h1.0).flush_remote();
            });
            thread::yield_now();
            mine.push((*h0.0).alloc(0) as usize);
            t.join().unwrap();
            check(&w, &mine);
            let new = mine.pop().unwrap();
            for b in mine.drain(..) {
                remote_free(tier, b);
            }
            check(&w, &[new]);
        }
    });
}

/// The hint of a partly freed abandoned page: a heapless freer's push onto
/// an exhausted, abandoned page crosses the hint threshold (an eighth of
/// four blocks, at least one: the first) and records the page in the tier's hints, while
/// another heap needing a page of the class takes hints (or a fresh page).
/// Afterwards the freed block is reachable: the racing heap got it, or the
/// next heap that needs a page adopts the page through the hint and hands
/// the block out again.
#[test]
fn hint_vs_take() {
    model("hint_vs_take", || {
        let mut w = World::new(&SIZES_4);
        let h0 = w.heap();
        let h1 = w.heap();
        let h2 = w.heap();
        let tier = w.tier;
        // SAFETY: set-up on the main thread (h0's first page exhausted and
        // detached by its fifth allocation); then block a belongs to the
        // spawned thread, h1, h2 and the other blocks to the main thread.
        unsafe {
            let mut mine = alloc_n(h0, 5);
            let a = mine[0];
            mine.remove(0);
            let t = thread::spawn(move || remote_free(tier, a));
            thread::yield_now();
            mine.push((*h1.0).alloc(0) as usize);
            t.join().unwrap();
            check(&w, &mine);
            if !mine.contains(&a) {
                let z = (*h2.0).alloc(0) as usize;
                assert_eq!(z, a, "the freed block of the abandoned page came back to no allocating heap");
                mine.push(z);
            }
            check(&w, &mine);
        }
    });
}
