//! The transfer slots (decision 0052): whole bins handed from a thread
//! whose bin of a class is full to a thread whose bin of it is empty, a
//! chain of blocks at a time, without going through their pages.
//!
//! Where one thread frees what others allocate (a consumer, a reclaimer,
//! a ring of threads whose hand-offs settle into producer and consumer),
//! the consumer's bin stays full and the producer's empty: without a
//! transfer every block goes from the consumer to its page's remote list
//! and from there back to the producer's page pops, two trips through a
//! page descriptor that both threads write. Here the consumer's full bin
//! becomes a chain in its slot's transfer ([`Cache::give`]), and the
//! producer's empty bin takes a chain ([`Cache::take`]) before its page
//! slow path: one lock per bin of blocks, and the blocks never touch a
//! page. tcmalloc's transfer cache does the same between its thread caches
//! and its central lists.
//!
//! Each slot (tier and class) holds at most [`CHAINS`] chains under a spin
//! lock that is only ever *tried*: a thread that finds it held goes the
//! page way, so no thread waits on another (4 threads on 2 cores). A given
//! bin's blocks get the key `given` of their cache (its address with the
//! low bit set: no cache's address, decision 0042); [`Cache::take`] checks
//! each and writes its own, so a block freed again while in a chain (its
//! key rewritten by the bin or page it went to) is reported there. Chains nobody takes
//! go back to their pages by their giver: [`Cache::reclaim_given`] takes
//! back the chains a cache gave (the router calls it with every drain of
//! the cache: each upkeep pass, `malloc_trim`, thread exit), so their
//! blocks take the giver's free path as they would have without the
//! transfer (a page the giver abandoned is adopted back by it, and its
//! idle blocks go back to the OS).

use super::{empty, key, Bin, Cache, Cached, SLOTS};
use crate::Block;
use hak_os::lock::SpinLock;
use hak_os::sync::{AtomicU32, Ordering};

/// Most chains one slot holds.
pub const CHAINS: usize = 8;

/// One chain: a bin's list of `count` blocks, each keyed `key` (`given`).
#[derive(Clone, Copy)]
struct Chain {
    head: *mut Block,
    count: u32,
    key: usize,
}

impl Chain {
    /// Calls `f` on each block of the chain, after checking that its key
    /// is the chain's (else a block freed again while in the chain:
    /// reported) and reading its link (so `f` may reuse the block).
    ///
    /// # Safety
    /// The chain has left its slot: its blocks are the caller's alone.
    unsafe fn each(&self, mut f: impl FnMut(*mut Block)) {
        let mut p = self.head;
        for _ in 0..self.count {
            // SAFETY: per contract, `p` is one of the chain's free blocks.
            unsafe {
                if (*(p as *mut Cached)).key != self.key {
                    key::listed_twice(p);
                }
                let next = (*p).next;
                f(p);
                p = next;
            }
        }
    }
}

/// A slot's chains (under its lock).
struct Chains {
    chain: [Chain; CHAINS],
    n: usize,
}

// SAFETY: the blocks a chain links are free blocks that no thread uses
// while the chain is in the slot; the lock serialises access.
unsafe impl Send for Chains {}

/// One slot's transfer: the chains and their number (read without the lock
/// to skip an empty or full slot).
struct Slot {
    chains: SpinLock<Chains>,
    n: AtomicU32,
}

const fn new_slot() -> Slot {
    Slot { chains: SpinLock::new(Chains { chain: [NO_CHAIN; CHAINS], n: 0 }), n: AtomicU32::new(0) }
}

const NO_CHAIN: Chain = Chain { head: core::ptr::null_mut(), count: 0, key: 0 };

/// Every slot's transfer (the process's; not compiled under loom, whose
/// atomics are not `const`: the slot is a spin lock and two relaxed hints).
static SLOTS_TRANSFER: [Slot; SLOTS + 1] = [const { new_slot() }; SLOTS + 1];

/// The key of the blocks of a bin that cache `this` gave: its address with
/// the low bit set (a cache is aligned: no cache's own key).
fn given(this: *mut Cache) -> usize {
    this as usize | 1
}

/// The transfer of `slot`.
fn slot_of(slot: usize) -> &'static Slot {
    &SLOTS_TRANSFER[slot.min(SLOTS)]
}

impl Cache {
    /// Hands the full bin at `bin` bytes from the cache (a
    /// [`bin_offset`](super::bin_offset)) to its slot's transfer, leaving
    /// the bin empty. False (nothing changed) if the bin is not full, holds
    /// nothing, or the slot is full or its lock held.
    ///
    /// # Safety
    /// `this` is a pinned cache used by the calling thread only; `bin` is
    /// the bin offset of a slot.
    pub unsafe fn give(this: *mut Cache, bin: usize) -> bool {
        let slot = bin / core::mem::size_of::<Bin>();
        if slot >= SLOTS {
            return false;
        }
        let s = slot_of(slot);
        // SAFETY: per contract, the bin is this thread's.
        unsafe {
            let b = Self::bin(this, slot);
            let count = (*b).cap - (*b).room;
            if count == 0 || (*b).room != 0 || s.n.load(Ordering::Relaxed) as usize >= CHAINS {
                return false;
            }
            // Keyed as given before the chain is published (a taker checks
            // the keys); the blocks were freed into the bin by this thread
            // just now, so their lines are at hand.
            Self::key_chain((*b).head, count, given(this));
            let g = s.chains.try_lock();
            let Some(mut g) = g.filter(|g| g.n < CHAINS) else {
                // Not given: the bin's own key again.
                Self::key_chain((*b).head, count, this as usize);
                return false;
            };
            let n = g.n;
            g.chain[n] = Chain { head: (*b).head, count, key: given(this) };
            g.n = n + 1;
            s.n.store(g.n as u32, Ordering::Relaxed);
            drop(g);
            (*b).head = empty();
            (*b).room = (*b).cap;
            true
        }
    }

    /// Fills the empty bin of `slot` with a chain of its transfer, checking
    /// each block's key against the chain's and writing the cache's (a
    /// mismatch is reported: a block freed again while in the chain). False
    /// (nothing changed) if the bin is not empty, caches nothing, or no
    /// chain fits or the slot's lock is held.
    ///
    /// # Safety
    /// `this` is a pinned cache used by the calling thread only, `slot <=
    /// SLOTS`.
    pub unsafe fn take(this: *mut Cache, slot: usize) -> bool {
        if slot >= SLOTS {
            return false;
        }
        let s = slot_of(slot);
        if s.n.load(Ordering::Relaxed) == 0 {
            return false;
        }
        // SAFETY: per contract, the bin is this thread's; a chain's blocks
        // are free blocks nobody else uses once it left the slot.
        unsafe {
            let b = Self::bin(this, slot);
            if (*b).cap == 0 || (*b).room != (*b).cap {
                return false;
            }
            let Some(mut g) = s.chains.try_lock() else { return false };
            let Some(n) = g.n.checked_sub(1) else { return false };
            let c = g.chain[n];
            if c.count > (*b).room {
                return false;
            }
            g.n = n;
            s.n.store(n as u32, Ordering::Relaxed);
            drop(g);
            c.each(|p| (*(p as *mut Cached)).key = this as usize);
            (*b).head = c.head;
            (*b).room -= c.count;
            true
        }
    }

    /// Writes `key` into the first `count` blocks of the list at `head`.
    ///
    /// # Safety
    /// The list holds at least `count` free blocks of the caller's.
    unsafe fn key_chain(head: *mut Block, count: u32, key: usize) {
        let mut p = head;
        for _ in 0..count {
            // SAFETY: per contract.
            unsafe {
                (*(p as *mut Cached)).key = key;
                p = (*p).next;
            }
        }
    }

    /// Blocks in the transfer of `slot` (statistics: they count as cached).
    pub fn transfer_len(slot: usize) -> usize {
        let s = slot_of(slot);
        if s.n.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let g = s.chains.lock();
        g.chain[..g.n].iter().map(|c| c.count as usize).sum()
    }

    /// Takes back every chain this cache gave that no thread took, and hands
    /// each block (key checked, then marked as on a page list, as
    /// [`Cache::drain`] does) to `free`, which must free it to its page.
    /// Returns the number of blocks.
    ///
    /// # Safety
    /// `this` is a cache used by the calling thread only; `free` frees a
    /// slab block to its page, not to a cache.
    pub unsafe fn reclaim_given(this: *mut Cache, mut free: impl FnMut(*mut u8)) -> usize {
        let mut freed = 0;
        for slot in 0..SLOTS {
            let s = slot_of(slot);
            if s.n.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let mut mine = [NO_CHAIN; CHAINS];
            let mut m = 0;
            {
                let mut g = s.chains.lock();
                let mut kept = 0;
                for i in 0..g.n {
                    let c = g.chain[i];
                    if c.key == given(this) {
                        mine[m] = c;
                        m += 1;
                    } else {
                        g.chain[kept] = c;
                        kept += 1;
                    }
                }
                g.n = kept;
                s.n.store(kept as u32, Ordering::Relaxed);
            }
            for c in &mine[..m] {
                // SAFETY: a chain taken out of its slot is ours alone.
                unsafe {
                    c.each(|p| {
                        // Back on a page list (as `Cache::drain`).
                        (*(p as *mut Cached)).key = if cfg!(feature = "strict-free") { 0 } else { key::paged(p) };
                        free(p.cast());
                    })
                };
                freed += c.count as usize;
            }
        }
        freed
    }
}

/// Takes every slot's lock (fork prepare handler).
pub fn prefork() {
    for s in SLOTS_TRANSFER.iter() {
        s.chains.raw_lock();
    }
}

/// Releases the locks [`prefork`] took (in the parent and in the child).
///
/// # Safety
/// After [`prefork`] in the calling thread.
pub unsafe fn postfork() {
    for s in SLOTS_TRANSFER.iter() {
        // SAFETY: taken by prefork in this thread.
        unsafe { s.chains.force_unlock() };
    }
}
