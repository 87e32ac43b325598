//! Free blocks idle in partly used pages: their interiors go back to the
//! OS (decision 0047).
//!
//! An empty page is purged after the decay interval (`lists.rs`), but a
//! page that still holds one live block keeps every free block of it
//! resident for as long as that block lives: a program that keeps one
//! block in sixteen of a spike keeps nearly the whole spike (`retention`'s
//! sparse case).
//!
//! Here the owning heap returns the interior of every block that stayed
//! on its page's free list for half a decay interval or more: the OS pages
//! entirely inside the block past its first 16 bytes (its link and key,
//! which the lists need). A block's state rides in the low bits of its
//! key (`cache/key.rs`, [`FRESH`] → [`AGED`] → [`RETURNED`]): each pass
//! ([`Heap::return_idle_blocks`], from [`Heap::maintain`] once per half
//! decay interval) ages the fresh blocks and returns the aged ones. Frees
//! push and mallocs pop at the head and a pass moves every block it visits
//! one state on, so a page's list always reads fresh blocks, then aged
//! ones, then returned ones: a pass stops at the first returned block and
//! reads only blocks that changed since the last one. A free to a page
//! writes the fresh key ([`Cache::to_page`](crate::Cache::to_page), which
//! the router calls before every such free), a page pop writes 0. A block
//! whose key is not a page list's (a double free in wait for the page
//! pop's report; a block an embedder freed with `Heap::free` alone) is
//! left alone.
//!
//! Only classes whose blocks span an OS page past their first 16 bytes
//! are visited; the tiny tier never is. Not in secure mode (its lists are
//! shuffled and its blocks carry trailers) nor with `strict-free` (whose
//! keys are owner tokens).

use hak_os::map;
use hak_os::sync::Ordering;

use crate::cache::{page_state, set_page_state, AGED, FRESH, RETURNED};
use crate::page::{empty_page, PagePtr};
use crate::{Block, Heap, MAX_CLASSES};

/// What a pass does to the fresh blocks it meets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Return {
    /// Ages them; returns the blocks that were aged already (the periodic
    /// pass).
    Idle,
    /// Returns them too (`malloc_trim`, memory pressure).
    All,
}

impl Heap {
    /// Returns the interiors of this heap's idle free blocks (see the
    /// module docs) and ages the fresh ones, or returns all of them with
    /// [`Return::All`]. Returns the bytes given back to the OS.
    ///
    /// # Safety
    /// Called by the owning thread.
    pub unsafe fn return_idle_blocks(&mut self, how: Return) -> usize {
        if self.tier.is_null() || crate::secure::on() || cfg!(feature = "strict-free") {
            return 0;
        }
        let ps = map::page_size();
        let mut bytes = 0;
        // SAFETY: a heap with a tier; the current and partial pages are
        // ours, their free lists owner-only.
        unsafe {
            let tier = &*self.tier;
            for (c, &size) in tier.sizes.iter().enumerate().take(MAX_CLASSES) {
                if (size as usize) < ps + 16 {
                    continue;
                }
                let cur = self.cur[c];
                if cur != empty_page() {
                    bytes += return_in_page(cur, how, ps);
                }
                let mut pg = self.partial[c];
                while !pg.is_null() {
                    bytes += return_in_page(pg, how, ps);
                    pg = pg.next();
                }
            }
            tier.stats.bytes_decommitted.fetch_add(bytes, Ordering::Relaxed);
        }
        bytes
    }
}

/// One page's part of [`Heap::return_idle_blocks`]: walks its free list
/// from the head to the first returned block. A link that leaves the
/// page's carved blocks (a write after free) ends the walk: the page pop
/// that reaches it reports it.
///
/// # Safety
/// The caller owns `pg`.
unsafe fn return_in_page(pg: PagePtr, how: Return, ps: usize) -> usize {
    // SAFETY: owner-only fields and free list of a page we own; every
    // block visited lies among the page's carved blocks (checked).
    unsafe {
        let bs = pg.block_size() as usize;
        let start = pg.start();
        let end = start + pg.capacity() as usize * bs;
        let mut bytes = 0;
        let mut b = pg.free();
        let mut left = pg.capacity();
        while !b.is_null() && left != 0 {
            let a = b as usize;
            if a < start || a >= end || !(a - start).is_multiple_of(bs) {
                break;
            }
            match page_state(b) {
                Some(RETURNED) => break,
                Some(AGED) => bytes += return_interior(b, bs, ps),
                Some(FRESH) if how == Return::All => bytes += return_interior(b, bs, ps),
                Some(FRESH) => set_page_state(b, AGED),
                _ => {}
            }
            left -= 1;
            b = (*b).next;
        }
        bytes
    }
}

/// Returns the OS pages of block `b` (of `bs` bytes) past its first 16
/// bytes and marks it [`RETURNED`]; the bytes returned.
///
/// # Safety
/// `b` is a free block on a page list of the caller's, wholly mapped.
unsafe fn return_interior(b: *mut Block, bs: usize, ps: usize) -> usize {
    let lo = (b as usize + 16).next_multiple_of(ps);
    let hi = (b as usize + bs) & !(ps - 1);
    // SAFETY: per contract; the range holds none of the list's words.
    unsafe {
        if hi > lo && !map::decommit(lo as *mut u8, hi - lo) {
            return 0;
        }
        set_page_state(b, RETURNED);
    }
    hi.saturating_sub(lo)
}
