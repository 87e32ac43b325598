//! Remote-free batching: a heap that frees blocks of pages owned by other
//! heaps (or abandoned) links consecutive blocks of one page into a chain,
//! per class, and delivers the chain to the page's remote list with one
//! CAS ([`push_remote`]) instead of one CAS per block.
//!
//! A thread cache drains bin by bin, and a bin's blocks of one class were
//! mostly carved one after another from one page by the thread that
//! allocated them: runs of blocks of one page are the common case for a
//! thread that frees what others allocated (a consumer, a ring of threads
//! handing batches on). A block whose page differs from its class's chain
//! flushes the chain first, so random frees (issue 21's reclaimer) cost
//! what they cost before, plus a compare.
//!
//! A batched block still counts as used by its page, like a cached block:
//! no page goes back to the tier while a chain holds one of its blocks. The
//! chains are flushed when they reach [`BATCH_MAX`] blocks, at every upkeep
//! pass ([`Heap::maintain`]), on [`Heap::collect`] (and so `malloc_trim`,
//! `hak_thread_flush`) and at thread exit ([`Heap::abandon_all`]); a flush
//! does what the remote free of each block would have done (the freer of an
//! abandoned page's last block reclaims it; crossing the hint threshold
//! records a hint). Secure mode does not batch.

use core::ptr;

use hak_os::diag;
use hak_os::sync::Ordering;

use crate::abandon::push_remote;
use crate::page::{Block, PagePtr, NO_OWNER};
use crate::{free_remote, Heap};

/// Most blocks one chain holds before it is pushed.
pub const BATCH_MAX: u32 = 64;

/// Blocks of one page freed by a heap that does not own it, not yet pushed
/// to its remote list (owner-only: the heap's thread).
#[derive(Clone, Copy)]
pub(crate) struct Batch {
    /// The page of every block of the chain (null: empty chain).
    page: PagePtr,
    /// Newest block; each links to the one freed before it.
    head: *mut Block,
    /// Oldest block (its link is written when the chain is pushed).
    tail: *mut Block,
    /// Blocks in the chain.
    n: u32,
}

impl Batch {
    /// No chain.
    pub(crate) const EMPTY: Batch = Batch { page: PagePtr::NULL, head: ptr::null_mut(), tail: ptr::null_mut(), n: 0 };
}

impl Heap {
    /// Frees block `p` of page `pg`, which another heap owns or which is
    /// abandoned and not adopted by us: appends it to the chain of its
    /// class (pushing the chain first if it holds another page's blocks),
    /// and pushes the chain once it holds [`BATCH_MAX`] blocks.
    ///
    /// # Safety
    /// `p` is a live block of `pg`; `self` belongs to the calling thread.
    pub(crate) unsafe fn free_batched(&mut self, pg: PagePtr, p: *mut u8) {
        // SAFETY: we hold the live block `p`, so the page keeps its class
        // and is not released; the chain's blocks are ours until pushed.
        unsafe {
            let class = pg.class() as usize;
            let Some(bt) = self.batch.get_mut(class) else {
                free_remote(pg.as_ptr(), p);
                return;
            };
            // As in `free_remote`: a free page means this block was freed
            // already.
            if pg.owner(Ordering::Relaxed) == NO_OWNER {
                diag::fatal("free(): double free detected", p as usize);
            }
            let b = p as *mut Block;
            if bt.page != pg {
                if bt.n != 0 {
                    flush(bt);
                }
                (*b).next = ptr::null_mut();
                *bt = Batch { page: pg, head: b, tail: b, n: 1 };
            } else {
                if bt.head == b {
                    diag::fatal("free(): double free detected", p as usize);
                }
                (*b).next = bt.head;
                bt.head = b;
                bt.n += 1;
            }
            if bt.n >= BATCH_MAX {
                flush(bt);
            }
        }
    }

    /// Pushes every chain of blocks freed to other heaps' pages to its
    /// page's remote list (see the module docs for when it runs).
    pub fn flush_remote(&mut self) {
        for bt in self.batch.iter_mut() {
            if bt.n != 0 {
                // SAFETY: the chain holds live blocks of its page, ours
                // until pushed.
                unsafe { flush(bt) };
            }
        }
    }

    /// Blocks held in this heap's chains (statistics and tests).
    pub fn batched(&self) -> usize {
        self.batch.iter().map(|b| b.n as usize).sum()
    }
}

/// Pushes the non-empty chain `bt` and empties it.
///
/// # Safety
/// `bt` is a chain of the calling thread's heap.
#[inline(never)]
unsafe fn flush(bt: &mut Batch) {
    let Batch { page, head, tail, n } = core::mem::replace(bt, Batch::EMPTY);
    // SAFETY: per contract the chain holds `n` live blocks of `page`.
    unsafe { push_remote(page, head, tail, n) };
}
