//! Secure mode's heap paths ([`crate::secure`]): allocation from the
//! partial pages (a secure heap has no current page), the owner's free
//! (validated, encoded, never handed out next), and the collection of
//! remote frees into an encoded free list.

use core::ptr;

use hak_os::diag;

use crate::page::{carve_blocks, Block, PagePtr};
use crate::secure::{carve, is_free, link, sentinel, set_link};
use crate::Heap;

impl Heap {
    /// [`Heap::alloc_slow`] in secure mode: the first page of the class's
    /// partial list that can be refilled, else an abandoned page, else one
    /// of the tier's. Pages stay on the partial list while they serve.
    ///
    /// # Safety
    /// As [`Heap::alloc`].
    pub(crate) unsafe fn alloc_secure(&mut self, class: usize) -> *mut u8 {
        // SAFETY: every page reached from the heap lists is ours, and so is
        // every page acquired or adopted here.
        unsafe {
            let tier = &*self.tier;
            loop {
                let pg = self.partial[class];
                if pg.is_null() {
                    break;
                }
                if self.refill_secure(pg) {
                    return pop_secure(pg);
                }
                self.unlink(pg);
                self.detach(pg);
            }
            let pg = self.adopt_serving(class, Self::refill_secure);
            if !pg.is_null() {
                self.link(pg);
                return pop_secure(pg);
            }
            let pg = tier.acquire_page(class, self);
            if pg.is_null() {
                return ptr::null_mut();
            }
            self.link(pg);
            if !self.refill_secure(pg) {
                diag::fatal("malloc(): fresh page without a free block", pg.start());
            }
            pop_secure(pg)
        }
    }

    /// Makes sure `pg`'s free list holds two blocks when the page has them
    /// (remote frees, then fresh ones), so that the block freed last (kept
    /// second) is not the next one handed out. Returns whether it has one.
    ///
    /// # Safety
    /// We own `pg`.
    unsafe fn refill_secure(&mut self, pg: PagePtr) -> bool {
        // SAFETY: per contract.
        unsafe {
            let few = |pg: PagePtr| pg.free().is_null() || link(pg, pg.free()).is_null();
            if pg.capacity() == 0 {
                // Block 0 is never handed out: its trailer (free) is the
                // canary in front of block 1, so every block handed out has
                // a carved block before it, whose trailer a free checks.
                sentinel(pg.start() as *mut u8, pg.block_size() as usize);
                pg.set_capacity(1);
            }
            if few(pg) {
                self.remote_collected += crate::abandon::collect_remote(pg) as usize;
                if few(pg) && pg.capacity() < pg.reserved() {
                    let bs = pg.block_size() as usize;
                    let n = carve_blocks(bs, (pg.reserved() - pg.capacity()) as usize);
                    carve(pg, pg.start() + pg.capacity() as usize * bs, n, bs, &mut self.rng);
                    pg.set_capacity(pg.capacity() + n as u32);
                }
            }
            !pg.free().is_null()
        }
    }

    /// [`Heap::free_local_slow`] in secure mode: `p` must be a carved block
    /// start of a page with blocks out; it goes second on the free list.
    /// A page that empties goes back to the tier unless it is the class's
    /// only page.
    ///
    /// # Safety
    /// We own `pg`.
    pub(crate) unsafe fn free_local_secure(&mut self, pg: PagePtr, p: *mut u8) {
        // SAFETY: we own the page; `p` is checked to be one of its blocks.
        unsafe {
            let u = pg.used();
            if u == 0 || !pg.is_block_start(p as usize) {
                diag::fatal("free(): double free or invalid pointer", p as usize);
            }
            let b = p as *mut Block;
            let head = pg.free();
            if head.is_null() {
                set_link(b, ptr::null_mut());
                pg.set_free(b);
            } else {
                set_link(b, link(pg, head));
                set_link(head, b);
            }
            pg.set_used(u - 1);
            let class = pg.class() as usize;
            if u == 1 && !(self.partial[class] == pg && pg.next().is_null()) {
                self.unlink(pg);
                self.remote_collected += crate::abandon::collect_remote(pg) as usize;
                (*self.tier).release_page(pg);
            }
        }
    }
}

/// Pops the first block of `pg`'s (checked) free list.
///
/// # Safety
/// We own `pg`, whose free list is not empty.
unsafe fn pop_secure(pg: PagePtr) -> *mut u8 {
    // SAFETY: per contract.
    unsafe {
        let b = pg.free();
        if !is_free(b.cast(), pg.block_size() as usize) {
            diag::fatal("malloc(): corrupted free block (write after free?) detected at", b as usize);
        }
        pg.set_free(link(pg, b));
        pg.set_used(pg.used() + 1);
        b.cast()
    }
}

/// The secure half of `collect_remote`: appends the `n` blocks of the raw
/// remote chain `r` to `pg`'s free list, each checked (a carved block of
/// the page, marked free) and its link encoded. Returns `n`.
///
/// # Safety
/// The caller owns `pg` and took the chain from its remote list.
pub(crate) unsafe fn collect_chain(pg: PagePtr, r: *mut Block, n: u32) -> u32 {
    // SAFETY: per contract; each block is checked before it is read.
    unsafe {
        let bs = pg.block_size() as usize;
        let mut b = r;
        for _ in 0..n {
            if !pg.is_block_start(b as usize) || !is_free(b.cast(), bs) {
                diag::fatal("free(): corrupted remote free list detected at", b as usize);
            }
            let next = (*b).next;
            set_link(b, pg.free());
            pg.set_free(b);
            b = next;
        }
        n
    }
}
