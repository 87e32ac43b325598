//! The key in a free block's second word: which free list the block is on
//! (decision 0042), or, with the feature `strict-free`, the key of decision
//! 0038 (see [`Cached`]).

use crate::Block;
use core::ptr;

/// A free block as the double-free checks see it: the link, then the key.
///
/// Default build (decision 0042): the key says where the block is. Every
/// step that puts a block on a list writes it, and every step that takes
/// one off checks it first, so a block on two lists (a double free) is
/// found when the second list reaches it, before it is handed out twice
/// ([`listed_twice`]):
///
/// | step | checks | writes |
/// |---|---|---|
/// | push into a bin ([`Cache::push_at`](super::Cache::push_at)) | the bin's head is not the block | the cache's address |
/// | pop from a bin ([`Cache::pop`](super::Cache::pop)) | the cache's address | [`OUT`] |
/// | drain of a bin ([`Cache::drain`](super::Cache::drain)) | the cache's address | [`paged`] |
/// | free past the cache ([`Cache::to_page`](super::Cache::to_page)) | not [`paged`] | [`paged`] |
/// | carve ([`key_carved`]) | — | [`paged`] |
/// | pop from a page ([`clear_key`]) | not [`OUT`] | 0 |
/// | pass of the idle-block return (`idle.rs`) | [`paged`], any state | [`paged`] with the next state ([`FRESH`]) |
///
/// The push writes the key with the link, in the line it writes anyway:
/// it loads nothing from the block (decision 0013's cold load); the pop
/// and the page pop load the key from the line whose link they load.
/// Nothing checks a page pop's 0 and no page pop checks for a bin's key:
/// hak-slab's own heaps, whose frees write no key, never see a false
/// report. The price: a block pushed into a bin while it is on a page list
/// (the push does not read the key) is found by the page pop only while
/// its key still is the bin pop's [`OUT`]; the program may overwrite it
/// once the bin handed the block out.
///
/// With `strict-free` (decision 0038): the key is a heap token or a
/// cache's address (0 once the block is handed out). A block in a bin
/// carries its cache's address; a block carved onto a page's free list and
/// not handed out yet carries the page owner's token (the router's token
/// is its context, whose first field is its cache: the same value). A free
/// of a block whose key is the freeing cache's address is checked against
/// the bin and the page ([`Push::Suspect`](super::Push::Suspect)); any
/// other value (the program's data) skips the check.
#[repr(C)]
pub(super) struct Cached {
    pub(super) next: *mut Block,
    pub(super) key: usize,
}

/// Default build: the key of a block a bin handed out. A page pop that
/// finds it found a block that a bin handed out and that no free put back
/// on a page since: it is on two lists. Not a user-space address and not a
/// small integer, so the program's data equals it only by a rare chance
/// (then a report; never a block handed out twice).
#[cfg_attr(feature = "strict-free", allow(dead_code))]
pub(super) const OUT: usize = 0xffff_ffff_d00d_f1ee;

/// Default build: the key of block `b` on a page list (carved, drained, or
/// freed past the cache). A free past the cache that finds it frees a
/// block that is already free. It depends on the block's address: a live
/// block's body may hold stale words of earlier free blocks (a page carved
/// anew for another class keeps its old contents), and a program that
/// copies them around must not make a key that a free would take for its
/// own block's.
#[inline(always)]
pub(super) fn paged(b: *mut Block) -> usize {
    0xffff_ffff_d00d_f2ee ^ b as usize
}

/// Default build: the states a block on a page list goes through while it
/// stays there (`idle.rs`), kept in the low bits of its key
/// ([`paged`]`(b) ^ state`): freed or carved ([`FRESH`]), seen free by
/// one pass of the idle-block return ([`AGED`]), its interior returned to
/// the OS ([`RETURNED`]). Every check that looks for a page list's key
/// accepts all three ([`is_paged`]).
pub(crate) const FRESH: usize = 0;
/// See [`FRESH`].
pub(crate) const AGED: usize = 1;
/// See [`FRESH`].
pub(crate) const RETURNED: usize = 2;

/// Default build: whether `key` is a page list's key of block `b`, in any
/// state ([`FRESH`]).
#[inline(always)]
pub(super) fn is_paged(b: *mut Block, key: usize) -> bool {
    key ^ paged(b) <= 3
}

/// Default build: the state of block `b`, on a page list, or `None` when
/// its key is not a page list's (a double free in wait for the page pop's
/// report, or a write after free: left alone).
///
/// # Safety
/// `b` is a block of at least 16 bytes on a page list of the caller's.
#[inline(always)]
pub(crate) unsafe fn page_state(b: *mut Block) -> Option<usize> {
    // SAFETY: per contract.
    let key = unsafe { (*(b as *mut Cached)).key };
    is_paged(b, key).then_some(key ^ paged(b))
}

/// Default build: sets the state of block `b` on a page list.
///
/// # Safety
/// As [`page_state`].
#[inline(always)]
pub(crate) unsafe fn set_page_state(b: *mut Block, state: usize) {
    // SAFETY: per contract.
    unsafe { (*(b as *mut Cached)).key = paged(b) ^ state };
}

/// Keys block `b`, carved onto the free list of a page owned by `token`
/// (see [`Cached`]).
///
/// # Safety
/// `b` is a block of at least 16 bytes that nothing else uses.
#[inline(always)]
pub(crate) unsafe fn key_carved(b: *mut Block, token: usize) {
    #[cfg(not(feature = "strict-free"))]
    let token = {
        let _ = token;
        paged(b)
    };
    // SAFETY: per contract.
    unsafe { (*(b as *mut Cached)).key = token };
}

/// Marks block `b`, handed out from its page's free list. By default it
/// checks first that no bin handed `b` out since it was put on the page
/// list ([`OUT`]): a block on a page list and in a bin at once (a free of
/// a block never handed out, as `free(p + 16)` of a 16-byte block) is
/// reported before it is handed out twice. Returns `b` (last in the
/// caller, so that the report is a tail jump).
///
/// # Safety
/// `b` is a block of at least 16 bytes being handed out.
#[inline(always)]
pub(crate) unsafe fn clear_key(b: *mut Block) -> *mut u8 {
    // SAFETY: per contract.
    unsafe {
        #[cfg(not(feature = "strict-free"))]
        if (*(b as *mut Cached)).key == OUT {
            return listed_twice(b).as_ptr();
        }
        (*(b as *mut Cached)).key = 0;
    }
    b.cast()
}

/// The report of a free block found on a list whose key says it is not
/// there, before it is handed out twice (decision 0042): a key of
/// [`OUT`] or [`paged`] means the block left this list since it was put
/// there (a pop, or a free past the cache) while a stale link still leads
/// to it: a double free; any other key (another thread's cache, the
/// program's data) means a double free by another thread or a write after
/// free.
///
/// It never returns, but is not declared `-> !`: a call the compiler knows
/// cannot return is a `call` (after aligning the stack, which the fast path
/// then did in its prologue, two instructions per pop); this one is a tail
/// jump. The value it would return is opaque for the same reason.
#[cold]
#[inline(never)]
#[cfg_attr(feature = "strict-free", allow(dead_code))]
pub(super) fn listed_twice(b: *mut Block) -> ptr::NonNull<u8> {
    if core::hint::black_box(true) {
        // SAFETY: `b` is a block of at least 16 bytes on one of our lists.
        let key = unsafe { (*(b as *mut Cached)).key };
        if is_paged(b, key) || key == OUT {
            hak_os::diag::fatal("free(): double free detected (a block found twice on the free lists) at", b as usize)
        }
        hak_os::diag::fatal("malloc(): corrupted free list (write after free or double free?) detected at", b as usize)
    }
    core::hint::black_box(ptr::NonNull::dangling())
}

#[cfg(all(test, not(feature = "strict-free"), not(loom)))]
mod tests {
    extern crate std;
    use std::boxed::Box;
    use std::println;
    use std::string::String;
    use std::vec::Vec;

    use super::super::{block_mask, slot, Cache, Push};
    use super::{clear_key, paged, Cached};
    use crate::{classes, Block, SlabTier};

    static SIZES: [u32; 2] = [16, 48];
    static TIER: SlabTier = SlabTier::new("key-test", 1, 16, &SIZES);

    /// The default block-start test passes every block start of every
    /// class of the grid, and is exact for the classes of power-of-two
    /// sizes (offsets of a 1 MiB page).
    #[test]
    fn the_alignment_test_passes_every_block_start() {
        for class in 0..classes::COUNT {
            let size = classes::size(class);
            let mask = block_mask(size, 20);
            for off in 0..classes::MAX_SIZE {
                if off % size == 0 {
                    assert_eq!(off & mask, 0, "size {size}: block start {off} refused");
                } else if size.is_power_of_two() {
                    assert_ne!(off & mask, 0, "size {size}: offset {off} accepted");
                }
            }
        }
    }

    /// Runs `case` in a child process (the reports abort) and returns its
    /// stderr; the child prints `HANDED OUT TWICE` if the misuse got
    /// through.
    fn in_child(case: &str) -> String {
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args(["--exact", "cache::key::tests::child", "--nocapture"])
            .env("HAK_KEY_CASE", case)
            .output()
            .unwrap();
        let (so, se) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!so.contains("HANDED OUT TWICE"), "{case}: {so}");
        assert!(!out.status.success(), "{case}: not reported\n{so}\n{se}");
        se.into_owned()
    }

    /// A cache sized for 16-byte blocks of slot (1, 0), and a zeroed,
    /// 64-aligned buffer of 64 such blocks (both leaked: test processes).
    fn fixture() -> (*mut Cache, *mut u8) {
        let c = Box::into_raw(Box::new(Cache::new()));
        let layout = std::alloc::Layout::from_size_align(16 * 64, 64).unwrap();
        // SAFETY: a layout of non-zero size; the blocks are ours.
        let v = unsafe { std::alloc::alloc_zeroed(layout) };
        // SAFETY: a cache of this thread.
        unsafe { Cache::set_caps(c, &TIER, 4096) };
        (c, v)
    }

    /// The misuse cases, each in its own child (see `in_child`).
    #[test]
    fn child() {
        let Ok(case) = std::env::var("HAK_KEY_CASE") else { return };
        let (c, v) = fixture();
        let b = |i: usize| v.wrapping_add(16 * i);
        let s = slot(1, 0);
        // SAFETY: a cache of this thread; 16-byte blocks of a zeroed buffer.
        unsafe {
            match case.as_str() {
                // free(a); free(b); free(a): the pop that reaches `a` again.
                "deep" => {
                    for i in [0, 1, 0] {
                        assert_eq!(Cache::push(c, s, b(i)), Push::Cached);
                    }
                    let got: Vec<_> = (0..3).map(|_| Cache::pop(c, s)).collect();
                    if got[0] == got[2] {
                        println!("HANDED OUT TWICE");
                    }
                }
                // Cached, then freed again past the cache (another thread's
                // page path): the bin's pop finds `paged`.
                "past_the_cache" => {
                    assert_eq!(Cache::push(c, s, b(0)), Push::Cached);
                    assert!(Cache::to_page(b(0)));
                    Cache::pop(c, s);
                    println!("HANDED OUT TWICE");
                }
                // Freed twice past the cache.
                "paged_twice" => {
                    assert!(Cache::to_page(b(0)));
                    if !Cache::to_page(b(0)) {
                        panic!("free(): double free detected");
                    }
                }
                // On a page list (carved), freed into a bin, handed out by
                // the bin, then popped from its page.
                "carved" => {
                    (*(b(0) as *mut Cached)).key = paged(b(0).cast());
                    assert_eq!(Cache::push(c, s, b(0)), Push::Cached);
                    assert_eq!(Cache::pop(c, s), b(0));
                    clear_key(b(0) as *mut Block);
                    println!("HANDED OUT TWICE");
                }
                // A cached block's key overwritten by the program.
                "written" => {
                    assert_eq!(Cache::push(c, s, b(0)), Push::Cached);
                    *(b(0) as *mut usize).add(1) = 7;
                    Cache::pop(c, s);
                    println!("HANDED OUT TWICE");
                }
                // Drained with a foreign key.
                "drain" => {
                    assert_eq!(Cache::push(c, s, b(0)), Push::Cached);
                    *(b(0) as *mut usize).add(1) = paged(b(0).cast());
                    Cache::drain(c, |_| {});
                    println!("HANDED OUT TWICE");
                }
                _ => panic!("unknown case {case}"),
            }
        }
    }

    #[test]
    fn a_block_listed_twice_is_reported_before_it_is_handed_out_twice() {
        for case in ["deep", "past_the_cache", "carved", "paged_twice"] {
            let err = in_child(case);
            assert!(err.contains("double free detected"), "{case}: {err}");
        }
        let err = in_child("written");
        assert!(err.contains("corrupted free list"), "written: {err}");
        let err = in_child("drain");
        assert!(err.contains("thread cache corrupted"), "drain: {err}");
    }

    /// Legitimate reuse is never reported: a block popped from a bin and
    /// freed again, a block drained and freed again, past the cache and
    /// into a bin, with its key untouched by the program.
    #[test]
    fn legitimate_reuse_is_not_reported() {
        let (c, v) = fixture();
        let b = |i: usize| v.wrapping_add(16 * i);
        let s = slot(1, 0);
        // SAFETY: as in `child`.
        unsafe {
            for _ in 0..3 {
                assert_eq!(Cache::push(c, s, b(0)), Push::Cached);
                assert_eq!(Cache::pop(c, s), b(0));
                // Out of a bin, then past the cache, then popped from its page.
                assert!(Cache::to_page(b(0)));
                assert_eq!(clear_key(b(0) as *mut Block), b(0));
                assert_eq!(Cache::push(c, s, b(0)), Push::Cached);
                let mut got = Vec::new();
                Cache::drain(c, |p| got.push(p));
                assert_eq!(got, [b(0)]);
                assert_eq!(clear_key(b(0) as *mut Block), b(0));
            }
        }
    }
}
