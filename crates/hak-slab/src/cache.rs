//! The per-thread block cache: recently freed blocks of every class, kept
//! by the thread that freed them and handed out again before any page is
//! touched.
//!
//! A page-local free list reuses the block freed last *on that page*: when a
//! class spans several pages, an allocation pops the current page while the
//! frees land on others, so the block it gets was freed long ago and is
//! cold, and every operation touches a page descriptor. The cache keeps per
//! class a LIFO list of the blocks this thread freed, whatever their page
//! and owner: the next allocation of the class gets the block freed last
//! (warm), and neither operation touches a page. Blocks in a cache still
//! count as used by their pages; the owner of the cache returns them with
//! [`Cache::drain`] (through the ordinary free paths) when it does its
//! upkeep and when it exits, so memory still goes back to pages, and from
//! there to the tier and the OS.
//!
//! Each page publishes its [`slot`] (tier index and class) in its segment
//! record ([`SegMeta::slot_of`](crate::SegMeta::slot_of)); a free page
//! publishes [`NO_SLOT`](crate::NO_SLOT), whose bin never has room, so a late second free
//! of a block whose page went back to the tier takes the page path and is
//! reported there.

use super::{Block, MAX_CLASSES, SLOTS};
use core::ptr;

/// The cache slot of class `class` of the tier with router index `tier`.
#[inline(always)]
pub const fn slot(tier: usize, class: usize) -> usize {
    tier * MAX_CLASSES + class
}

/// One class's list of cached blocks.
#[repr(C)]
struct Bin {
    head: *mut Block,
    /// Blocks the bin can still take.
    room: u32,
    /// Blocks the bin holds at most.
    cap: u32,
}

/// Cached blocks per slot, owned by one thread (24 bytes per slot).
///
/// [`Cache::set_caps`] pins the cache: it fills a table of pointers into
/// the cache itself, so the cache must not move afterwards (the router's
/// is part of a thread context record that never moves). Until then it
/// caches nothing and [`Cache::pop`] finds nothing.
#[repr(C)]
pub struct Cache {
    bins: [Bin; SLOTS + 1],
    /// Each slot's bin. [`Cache::pop`] loads its bin's address instead of
    /// computing it from the slot: with a computed address (an index or a
    /// loaded offset), a malloc right after a free of the same class (whose
    /// bin address comes late, from the segment record) ran at 75–85 % of
    /// the speed of the page path the cache replaces, which also reaches
    /// its list through a loaded pointer (A/B of a 16-byte free/malloc ring
    /// on this machine's Xeon, not in a record). Points to [`NO_BIN`] until
    /// [`Cache::set_caps`].
    bin_of: [*mut Bin; SLOTS + 1],
}

/// The bin every slot of an unpinned cache points to: always empty, never
/// written (a pop writes only a bin whose head is not null).
static NO_BIN: NoBin = NoBin(Bin { head: ptr::null_mut(), room: 0, cap: 0 });
struct NoBin(Bin);
// SAFETY: never written (see above); its only pointer is null.
unsafe impl Sync for NoBin {}

/// Most blocks one bin holds.
pub const MAX_BIN: usize = 256;
/// Fewest blocks a caching bin holds: a class whose budget holds fewer
/// blocks is not cached (a bin of one or two large blocks saves little and
/// holds much memory).
pub const MIN_BIN: usize = 4;

/// Outcome of [`Cache::push`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Push {
    /// The block is cached.
    Cached,
    /// The bin is full (or caches nothing): free the block to its page.
    Full,
    /// The block is already the bin's last cached block: a double free.
    DoubleFree,
}

impl Cache {
    /// An empty cache that caches nothing until [`Cache::set_caps`].
    pub const fn new() -> Cache {
        const B: Bin = Bin { head: ptr::null_mut(), room: 0, cap: 0 };
        Cache { bins: [B; SLOTS + 1], bin_of: [&NO_BIN.0 as *const Bin as *mut Bin; SLOTS + 1] }
    }

    /// Sets the capacity of every class of `tier`: `budget` bytes' worth of
    /// blocks, at most [`MAX_BIN`]; a class of which `budget` holds fewer
    /// than [`MIN_BIN`] blocks is not cached (so 0 turns the tier's caching
    /// off). Blocks already cached stay. Pins the cache (see [`Cache`]).
    pub fn set_caps(&mut self, tier: &super::SlabTier, budget: usize) {
        for (p, bin) in self.bin_of.iter_mut().zip(self.bins.iter_mut()) {
            *p = bin;
        }
        for (c, &size) in tier.sizes().iter().enumerate() {
            let n = budget / size as usize;
            let n = if n < MIN_BIN { 0 } else { n.min(MAX_BIN) as u32 };
            let bin = &mut self.bins[slot(tier.index() as usize, c)];
            let count = bin.cap - bin.room;
            bin.cap = n;
            bin.room = n.saturating_sub(count);
        }
    }

    /// Pops the block freed last into `slot`'s bin; null if it is empty.
    ///
    /// # Safety
    /// `slot <= SLOTS`; the cache is used by its owning thread only and has
    /// not moved since it was pinned; one not made by [`Cache::new`] (say,
    /// zeroed memory) is pinned before its first pop.
    #[inline(always)]
    pub unsafe fn pop(&mut self, slot: usize) -> *mut u8 {
        // SAFETY: per contract `bin_of[slot]` points to our bin of `slot`
        // or to the never-written empty NO_BIN; cached blocks are free
        // blocks whose first word links to the next cached block.
        unsafe {
            let bin = &mut **self.bin_of.get_unchecked(slot);
            let b = bin.head;
            if !b.is_null() {
                let next = (*b).next;
                bin.head = next;
                bin.room += 1;
                // The next pop reads `next`'s link: start loading it now.
                super::prefetch(next.cast());
            }
            b.cast()
        }
    }

    /// Caches block `p` in `slot`'s bin if it has room.
    ///
    /// # Safety
    /// `slot <= SLOTS` is the slot of `p`'s page, `p` a live block nobody
    /// uses any more; the cache is used by its owning thread only.
    #[inline(always)]
    pub unsafe fn push(&mut self, slot: usize, p: *mut u8) -> Push {
        // SAFETY: per contract; p's first word becomes the link.
        unsafe {
            let bin = self.bins.get_unchecked_mut(slot);
            if bin.room == 0 {
                return Push::Full;
            }
            let b = p as *mut Block;
            if bin.head == b {
                return Push::DoubleFree;
            }
            (*b).next = bin.head;
            bin.head = b;
            bin.room -= 1;
            Push::Cached
        }
    }

    /// Blocks currently cached, over all slots.
    pub fn cached(&self) -> usize {
        self.bins.iter().map(|b| b.cap.saturating_sub(b.room) as usize).sum()
    }

    /// Empties every bin, handing each block to `free` (which must return it
    /// to its page, not to this cache).
    ///
    /// # Safety
    /// The cache is used by its owning thread only.
    pub unsafe fn drain(&mut self, mut free: impl FnMut(*mut u8)) {
        for bin in self.bins.iter_mut() {
            let mut b = bin.head;
            bin.head = ptr::null_mut();
            bin.room = bin.cap;
            while !b.is_null() {
                // SAFETY: a cached block's first word links to the next one;
                // read before `free` reuses the word.
                let next = unsafe { (*b).next };
                free(b.cast());
                b = next;
            }
        }
    }
}

impl Default for Cache {
    fn default() -> Cache {
        Cache::new()
    }
}
