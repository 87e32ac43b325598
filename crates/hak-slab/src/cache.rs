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
//! Each page publishes where the bin of its [`slot`] (tier index and class)
//! lies in a cache, [`bin_offset`], in its segment record
//! ([`SegMeta::bin_of`](crate::SegMeta::bin_of)); a free page publishes
//! that of [`NO_SLOT`](crate::NO_SLOT), whose bin never has room, so a late second free
//! of a block whose page went back to the tier takes the page path and is
//! reported there.

use super::{Block, MAX_CLASSES, SLOTS};
use core::ptr;

/// The cache slot of class `class` of the tier with router index `tier`.
#[inline(always)]
pub const fn slot(tier: usize, class: usize) -> usize {
    tier * MAX_CLASSES + class
}

/// Where the bin of `slot` lies in a [`Cache`], in bytes: what segment
/// records publish for their pages ([`SegMeta::bin_of`](crate::SegMeta::bin_of)),
/// so that the free path reaches the bin with one addition.
#[inline(always)]
pub const fn bin_offset(slot: usize) -> usize {
    slot * core::mem::size_of::<Bin>()
}

mod key;
mod strict;
#[cfg(not(loom))]
pub mod transfer;
pub(crate) use key::{clear_key, key_carved};
#[cfg(not(feature = "strict-free"))]
use key::{listed_twice, OUT};
pub(crate) use key::{page_state, set_page_state, AGED, FRESH, RETURNED};
use key::{paged, Cached};

/// One class's list of cached blocks, and the class's block-start test.
#[repr(C)]
struct Bin {
    head: *mut Block,
    /// Blocks the bin can still take.
    room: u32,
    /// Blocks the bin holds at most.
    cap: u32,
    /// The page-offset mask of the slot's tier (page size - 1); 0 in a bin
    /// that tests nothing (no tier set its capacities, or `NO_SLOT`).
    mask: usize,
    /// `ceil(2^64 / block size)`: `off` (under `mask`) is a multiple of the
    /// block size exactly when `off * magic mod 2^64 < magic` (Lemire, Kaser
    /// and Kurz, "Faster remainder by direct computation", 2019: exact for
    /// `off` and the size below 2^32). 1 in a bin that tests nothing.
    magic: u64,
}

impl Bin {
    /// A bin of an unpinned cache: empty ([`empty`]), no room, and a `mask`
    /// that no pointer passes, so that a push reaches no write: the room
    /// test comes after the block-start test and writes first (see
    /// [`Cache::take_room`]); the push reports [`Push::Full`] for this mask.
    const EMPTY: Bin = Bin { head: empty(), room: 0, cap: 0, mask: UNPINNED, magic: 1 };
}

/// The `mask` of a bin of an unpinned cache (see [`Bin::EMPTY`]).
const UNPINNED: usize = usize::MAX;

/// What every empty bin's head points to (decision 0046): a block-shaped
/// pair of words whose key (0) is no cache's address, so that
/// [`Cache::pop`]'s key check, which reads the head's key anyway, is also
/// its empty test (one compare and branch fewer than a null test first).
/// Never written: a pop writes only a block whose key is its cache's, and a
/// push writes the block it links, not the head it links to.
/// (Its words are read through [`empty()`], never through the field.)
#[allow(dead_code)]
struct EmptyMark(Cached);
// SAFETY: never written (see above); its only pointer is null.
unsafe impl Sync for EmptyMark {}
static EMPTY_MARK: EmptyMark = EmptyMark(Cached { next: ptr::null_mut(), key: 0 });

/// The head of an empty bin (see [`EmptyMark`]).
#[inline(always)]
const fn empty() -> *mut Block {
    &EMPTY_MARK as *const EmptyMark as *mut Block
}

/// The `mask` of [`Bin`] for blocks of `size` bytes on pages of `1 <<
/// page_shift` bytes: with `strict-free` the page mask (the block-start
/// test takes the offset in the page); by default the alignment every
/// block start of the class has (the largest power of two dividing `size`),
/// less one.
pub(crate) const fn block_mask(size: usize, page_shift: u32) -> usize {
    let page = (1usize << page_shift) - 1;
    if cfg!(feature = "strict-free") {
        page
    } else {
        ((size & size.wrapping_neg()) - 1) & page
    }
}

/// The `magic` of [`Bin`] for blocks of `size` bytes (at least 2).
pub(crate) const fn block_magic(size: usize) -> u64 {
    u64::MAX / size as u64 + 1
}

/// Whether `off` (an offset in a page) is a multiple of the block size
/// whose [`block_magic`] is `magic`: one multiplication and a compare
/// ([`Cache::push_at`] spells it out on x86-64).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
pub(crate) const fn starts_block(off: usize, magic: u64) -> bool {
    (off as u64).wrapping_mul(magic) < magic
}

/// Cached blocks per slot, owned by one thread (40 bytes per slot).
///
/// [`Cache::set_caps`] pins the cache: it fills a table of pointers into
/// the cache itself, so the cache must not move afterwards (the router's
/// is part of a thread context record that never moves). Until then it
/// caches nothing and [`Cache::pop`] finds nothing. Every operation takes
/// the cache as a raw pointer: a `&mut Cache` would invalidate the table's
/// pointers under Rust's aliasing rules. Neither [`Cache::pop`] nor
/// [`Cache::push`] writes an unpinned cache, so a never-written one can
/// stand in for a thread that has no cache.
///
/// Double frees, default build (decision 0042): a block freed again while
/// it is its bin's last block is reported by the push
/// ([`Push::DoubleFree`]); any other block listed twice (deeper in a bin,
/// in two threads' bins, in a bin and on a page list) is reported by the
/// pop, drain or page pop that reaches it second, from its key (see
/// `key::Cached`), before it is handed out twice. A pointer that is not a
/// multiple of its class's alignment (the largest power of two dividing the
/// block size) is refused ([`Push::Invalid`]). With `strict-free` (decision
/// 0038): an exact block-start test instead of the alignment test, and the
/// key checked by the push (a block freed again while it is in its bin,
/// wherever in the bin, is [`Push::DoubleFree`], as glibc's tcache does;
/// the program's data equal to the key costs a scan of the bin, nothing
/// else; a free of a block carved and never handed out is found on its
/// page, [`Cache::page_holds`]).
#[repr(C)]
pub struct Cache {
    /// First, so that a bin lies at its [`bin_offset`] from the cache.
    bins: [Bin; SLOTS + 1],
    /// Each slot's bin. [`Cache::pop`] loads its bin's address instead of
    /// computing it from the slot: with a computed address (an index or a
    /// loaded offset), a malloc right after a free of the same class (whose
    /// bin address comes late, from the segment record) ran slower than the
    /// page path the cache replaces, which also reaches its list through a
    /// loaded pointer (docs/decisions/0019). Points to [`NO_BIN`] until
    /// [`Cache::set_caps`].
    bin_of: [*mut Bin; SLOTS + 1],
}

/// The bin every slot of an unpinned cache points to: always empty, never
/// written (a pop writes only a bin whose head is not null).
static NO_BIN: NoBin = NoBin(Bin::EMPTY);
struct NoBin(Bin);
// SAFETY: never written (see above); its only pointer is null.
unsafe impl Sync for NoBin {}

/// Most blocks one bin holds.
pub const MAX_BIN: usize = 256;
/// Fewest blocks a caching bin of blocks up to [`LARGE_BLOCK`] bytes
/// holds, whatever the budget: a bin of a few big blocks overflows into the
/// page paths at every small swing of its class's live count
/// (docs/decisions/0012).
pub const MIN_BIN: usize = 16;
/// Fewest blocks a caching bin of blocks above [`LARGE_BLOCK`] bytes holds.
/// Sixteen blocks of 40 to 64 KiB kept by a phase that has moved on to
/// other sizes pin as many 1 MiB pages of the L2.5 tier: four keep the
/// swings' page trips rare and the pinned pages few (docs/decisions/0012,
/// 2026-12 addendum).
pub const MIN_BIN_LARGE: usize = 4;
/// Size above which a bin's floor is [`MIN_BIN_LARGE`] instead of
/// [`MIN_BIN`] (the L2 tier's largest class).
pub const LARGE_BLOCK: usize = 32 << 10;
/// Largest block size that is cached: above it a bin's floor of
/// [`MIN_BIN`] blocks would hold megabytes, and the page paths' cost is
/// small beside what the program does with so big a block.
pub const MAX_CACHED: usize = 64 << 10;

/// Outcome of [`Cache::push`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Push {
    /// The block is cached.
    Cached,
    /// The bin is full (or caches nothing): free the block to its page.
    Full,
    /// The block is in the bin: a double free (checked before the room, so
    /// a first free that filled the bin does not hide it). See [`Cache`].
    DoubleFree,
    /// The pointer does not start a block of its page's class (an
    /// interior or unaligned pointer); nothing was written.
    Invalid,
    /// From [`Cache::push_at`] only: the block carries the cache's key, so it
    /// may be in the bin. Nothing was written; settle it with
    /// [`Cache::push_suspect`] (out of line, so that the fast path keeps
    /// its frame).
    Suspect,
}

impl Cache {
    /// An empty cache that caches nothing until [`Cache::set_caps`].
    pub const fn new() -> Cache {
        Cache { bins: [Bin::EMPTY; SLOTS + 1], bin_of: [&NO_BIN.0 as *const Bin as *mut Bin; SLOTS + 1] }
    }

    /// The bin of `slot`, reached from `this` without a reference to the
    /// whole cache (`bin_of` holds raw pointers into `bins`).
    ///
    /// # Safety
    /// `this` is valid, `slot <= SLOTS`.
    #[inline(always)]
    unsafe fn bin(this: *mut Cache, slot: usize) -> *mut Bin {
        // SAFETY: per contract.
        unsafe { (ptr::addr_of_mut!((*this).bins) as *mut Bin).add(slot) }
    }

    /// Sets the capacity of every class of `tier`: `budget` bytes' worth of
    /// blocks, at least [`MIN_BIN`] ([`MIN_BIN_LARGE`] above
    /// [`LARGE_BLOCK`] bytes) and at most [`MAX_BIN`]; classes above
    /// [`MAX_CACHED`] bytes are not cached, nor any when `budget` is 0.
    /// Every class of the tier gets its block-start test ([`Push::Invalid`]),
    /// cached or not.
    /// Call it on an empty cache (a new one, or after
    /// [`Cache::drain`]). Pins the cache (see [`Cache`]).
    ///
    /// # Safety
    /// `this` is a valid cache used by the calling thread only; the tier's
    /// index is below [`MAX_TIERS`](crate::MAX_TIERS).
    pub unsafe fn set_caps(this: *mut Cache, tier: &super::SlabTier, budget: usize) {
        // Secure mode caches nothing: every operation takes the checked
        // page paths (`crate::secure`).
        let budget = if crate::secure::on() { 0 } else { budget };
        // SAFETY: per contract; the pointers are derived from `this`, not
        // from a reference that later borrows would invalidate.
        unsafe {
            let table = ptr::addr_of_mut!((*this).bin_of) as *mut *mut Bin;
            for i in 0..=SLOTS {
                let bin = Self::bin(this, i);
                *table.add(i) = bin;
                // An empty bin's head is the empty mark, in a cache made
                // from zeroed memory too (`Cache::pop` reads its key).
                if (*bin).head.is_null() {
                    (*bin).head = empty();
                }
            }
            // The free pages' bin tests nothing, in a cache made from
            // zeroed memory too (its magic would refuse every pointer).
            let none = Self::bin(this, crate::NO_SLOT);
            (*none).mask = 0;
            (*none).magic = 1;
            for (c, &size) in tier.sizes().iter().enumerate() {
                let size = size as usize;
                let floor = if size > LARGE_BLOCK { MIN_BIN_LARGE } else { MIN_BIN };
                let n = if budget == 0 || size > MAX_CACHED { 0 } else { (budget / size).clamp(floor, MAX_BIN) as u32 };
                let bin = Self::bin(this, slot(tier.index() as usize, c));
                (*bin).cap = n;
                (*bin).room = n;
                (*bin).mask = block_mask(size, tier.page_shift);
                (*bin).magic = block_magic(size);
            }
        }
    }

    /// Pops the block freed last into `slot`'s bin (checking its key and
    /// marking it handed out, see `key::Cached`); null if it is empty. A block
    /// whose key is not the cache's is reported (`key::listed_twice`).
    ///
    /// # Safety
    /// `this` is a valid cache used by its owning thread only, `slot <=
    /// SLOTS`, and the cache has not moved since it was pinned; one not made
    /// by [`Cache::new`] (say, zeroed memory) is pinned before its first pop.
    #[inline(always)]
    pub unsafe fn pop(this: *mut Cache, slot: usize) -> *mut u8 {
        // SAFETY: per contract `bin_of[slot]` points to our bin of `slot`
        // or to the never-written empty NO_BIN; cached blocks are free
        // blocks whose first word links to the next cached block.
        unsafe {
            let bin = *(ptr::addr_of!((*this).bin_of) as *const *mut Bin).add(slot);
            let b = (*bin).head;
            // Default: a block whose key is not the cache's left the bin
            // since it was cached (popped, freed by another path or thread)
            // and is listed twice: report it before handing it out twice
            // (decision 0042). An empty bin's head, the empty mark, has a
            // key that is no cache's: the same compare finds it (0046).
            #[cfg(not(feature = "strict-free"))]
            if (*(b as *mut Cached)).key != this as usize {
                core::hint::cold_path();
                if b == empty() {
                    return ptr::null_mut();
                }
                return listed_twice(b).as_ptr();
            }
            #[cfg(feature = "strict-free")]
            if b == empty() {
                return ptr::null_mut();
            }
            let next = (*b).next;
            (*bin).head = next;
            (*bin).room += 1;
            // Handed out: no longer the bin's (see `Cached`).
            #[cfg(feature = "strict-free")]
            {
                (*(b as *mut Cached)).key = 0;
            }
            #[cfg(not(feature = "strict-free"))]
            {
                (*(b as *mut Cached)).key = OUT;
            }
            b.cast()
        }
    }

    /// Caches block `p` in `slot`'s bin if it has room; reports a pointer
    /// that starts no block of the slot's class ([`Push::Invalid`]) and a
    /// block of the bin freed again ([`Push::DoubleFree`]). Writes nothing
    /// when the bin has no room (as every bin of an unpinned cache).
    ///
    /// # Safety
    /// `this` is a valid cache used by its owning thread only, `slot <=
    /// SLOTS` is the slot of `p`'s page, and `p` is a block (at least 16
    /// bytes) its caller frees, or a pointer into a block of the slot (which
    /// it reports).
    #[inline(always)]
    pub unsafe fn push(this: *mut Cache, slot: usize, p: *mut u8) -> Push {
        // SAFETY: forwarded contract.
        unsafe {
            match Self::push_at(this, bin_offset(slot), p) {
                Push::Suspect => Self::push_suspect(this, bin_offset(slot), p),
                r => r,
            }
        }
    }

    /// [`Cache::push_at`] without its checks: [`Push::Cached`] or
    /// [`Push::Full`].
    ///
    /// # Safety
    /// As [`Cache::push_at`], and `p` starts a block that the bin does not
    /// hold.
    pub unsafe fn push_unchecked(this: *mut Cache, bin: usize, p: *mut u8) -> Push {
        // SAFETY: per contract.
        unsafe { Self::link_if_room(this, this.byte_add(bin) as *mut Bin, p) }
    }

    /// Links `p` into `bin` if it has room ([`Push::Cached`]), else
    /// [`Push::Full`] (nothing written).
    ///
    /// # Safety
    /// As [`Cache::link`], without the room.
    #[inline(always)]
    unsafe fn link_if_room(this: *mut Cache, bin: *mut Bin, p: *mut u8) -> Push {
        // SAFETY: per contract.
        unsafe {
            if (*bin).room == 0 {
                return Push::Full;
            }
            Self::link(this, bin, p);
            Push::Cached
        }
    }

    /// Puts `p` at the head of `bin` of cache `this`, keyed, and takes one
    /// room.
    ///
    /// # Safety
    /// `bin` is a bin of `this` with room; `p` is a block of its slot that
    /// it does not hold.
    #[inline(always)]
    unsafe fn link(this: *mut Cache, bin: *mut Bin, p: *mut u8) {
        // SAFETY: per contract.
        unsafe {
            let b = p as *mut Cached;
            (*b).next = (*bin).head;
            (*b).key = this as usize;
            (*bin).head = b.cast();
            (*bin).room -= 1;
        }
    }

    /// [`Cache::push`] to the bin at `bin` bytes from the cache: the
    /// [`bin_offset`] of the slot, as a segment record publishes it
    /// ([`SegMeta::bin_of`](crate::SegMeta::bin_of)); a block that carries
    /// the cache's key is left to [`Cache::push_suspect`] ([`Push::Suspect`]).
    ///
    /// # Safety
    /// As [`Cache::push`], with `bin` the [`bin_offset`] of the slot.
    #[inline(always)]
    #[allow(clippy::pointers_in_nomem_asm_block)] // see the asm below
    pub unsafe fn push_at(this: *mut Cache, bin: usize, p: *mut u8) -> Push {
        // SAFETY: per contract (the bins come first in the cache); p's
        // first word becomes the link.
        unsafe {
            let mut bin = this.byte_add(bin) as *mut Bin;
            // Materialise the bin's address in a register: folded into
            // each access as `base + index`, the compare with memory, the
            // store and the read-modify-write below cost more
            // micro-operations (indexed forms are not fused on Intel cores),
            // and `churn-fixed`, a free then a malloc of one class, ran
            // slower (docs/decisions/0019). The empty `asm!` hides the address's
            // origin from the compiler and emits no instruction; forming
            // the address costs one `add`.
            // (The pointer goes through unchanged and the asm touches no
            // memory, so `nomem` is true; through `addr`/`with_addr` the
            // compiler rebuilt the indexed accesses.)
            #[cfg(target_arch = "x86_64")]
            core::arch::asm!("/* {0} */", inout(reg) bin, options(pure, nomem, nostack, preserves_flags));
            // The checks of the feature `strict-free` (decision 0038): an
            // exact block-start test and a key in the block's second word.
            // Off by default: they cost larson 3 % (1 thread) to 5 % (4
            // threads) in session 12's side-by-side runs, over the 2 % budget.
            // A block starts at a multiple of its size from its page's start
            // (pages are aligned to their size): one mask, one multiply,
            // one compare with the magic's line, which the push writes.
            #[cfg(feature = "strict-free")]
            let mut x = p as usize & (*bin).mask;
            // The product with the magic in memory: loaded into a register
            // for the multiply and the compare, it cost one more instruction.
            #[cfg(all(feature = "strict-free", target_arch = "x86_64"))]
            core::arch::asm!(
                "imul {x}, qword ptr [{b} + {m}]",
                x = inout(reg) x,
                b = in(reg) bin,
                m = const core::mem::offset_of!(Bin, magic),
                options(pure, readonly, nostack)
            );
            #[cfg(all(feature = "strict-free", target_arch = "x86_64"))]
            if x as u64 >= (*bin).magic {
                return Self::refused(bin);
            }
            #[cfg(all(feature = "strict-free", not(target_arch = "x86_64")))]
            if !starts_block(x, (*bin).magic) {
                return Self::refused(bin);
            }
            let b = p as *mut Cached;
            // The key: the cache's address in a free block's second word
            // (compared with the register that holds it anyway; the block's
            // line is written below in any case).
            #[cfg(feature = "strict-free")]
            if (*b).key == this as usize {
                return Push::Suspect;
            }
            // Default (decision 0042): the block-start test is an alignment
            // test (`mask` is the largest power of two dividing the block
            // size, less one: exact for the classes of power-of-two sizes);
            // the key is written, not read (the pop checks it), and the
            // block the bin received last, freed again, is reported here.
            #[cfg(not(feature = "strict-free"))]
            if p as usize & (*bin).mask != 0 {
                return Self::refused(bin);
            }
            let head = (*bin).head;
            #[cfg(not(feature = "strict-free"))]
            if head == b.cast() {
                return Push::DoubleFree;
            }
            // The room last: a first free that filled the bin does not hide
            // a second one (the head test above).
            if !Self::take_room(bin) {
                return Push::Full;
            }
            (*b).next = head;
            (*b).key = this as usize;
            (*bin).head = b.cast();
            Push::Cached
        }
    }

    /// A push whose pointer failed `bin`'s block-start test: [`Push::Full`]
    /// in a bin of an unpinned cache (whose mask no pointer passes, see
    /// [`Bin::EMPTY`]), else [`Push::Invalid`].
    ///
    /// # Safety
    /// `bin` is a valid bin.
    #[inline(always)]
    unsafe fn refused(bin: *mut Bin) -> Push {
        // A volatile read: the mask read again here, on the refused path,
        // so that the test's `test [bin + mask], p` keeps its memory
        // operand instead of a load into a register shared with this
        // compare (one instruction more on every push).
        // SAFETY: per contract.
        if unsafe { ptr::addr_of!((*bin).mask).read_volatile() } == UNPINNED {
            Push::Full
        } else {
            Push::Invalid
        }
    }

    /// Takes one room of `bin`; false (nothing changed) if it has none.
    /// On x86-64 one `sub` of memory and one `jb` (decision 0046): the
    /// subtraction is done before the test, and undone on the full path.
    /// So it writes the bin even when it is full: never call it on a bin of
    /// an unpinned cache (which may be in read-only memory and shared by
    /// threads; [`Cache::push_at`] refuses those first, by their mask).
    ///
    /// # Safety
    /// `bin` is a bin of a pinned cache used by the calling thread only.
    #[inline(always)]
    unsafe fn take_room(bin: *mut Bin) -> bool {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: per contract; the asm changes the bin's `room` word only
        // (and the flags), and the full path puts back the 0 it found.
        unsafe {
            core::arch::asm!(
                "sub dword ptr [{bin} + {room}], 1",
                "jb {full}",
                bin = in(reg) bin,
                room = const core::mem::offset_of!(Bin, room),
                full = label {
                    // SAFETY: as above; the room was 0 before the `sub`.
                    unsafe { (*bin).room = 0 };
                    return false;
                },
                options(nostack),
            );
            true
        }
        #[cfg(not(target_arch = "x86_64"))]
        // SAFETY: per contract.
        unsafe {
            if (*bin).room == 0 {
                return false;
            }
            (*bin).room -= 1;
            true
        }
    }

    /// Marks block `p`, freed past the cache (its bin full, or a thread
    /// without a cache), as on a page list (`key::paged`):
    /// a bin that still holds it (a double free, this thread's or
    /// another's) then finds a key that is not its own and reports it
    /// ([`Cache::pop`], [`Cache::drain`]) instead of handing it out twice.
    /// False if it was on a page list already (a double free: nothing
    /// written). The default build's free path calls it before every free
    /// to a page, except in secure mode (whose blocks keep their trailer
    /// there); with `strict-free` it does nothing.
    ///
    /// # Safety
    /// `p` lies in a slab block of at least 16 bytes that its caller frees.
    #[inline(always)]
    pub unsafe fn to_page(p: *mut u8) -> bool {
        #[cfg(not(feature = "strict-free"))]
        // SAFETY: per contract; the block's second word is the key's.
        unsafe {
            let b = p as *mut Cached;
            if key::is_paged(b.cast(), (*b).key) {
                return false;
            }
            (*b).key = paged(b.cast());
        }
        #[cfg(feature = "strict-free")]
        let _ = p;
        true
    }

    /// Blocks currently cached, over all slots.
    ///
    /// # Safety
    /// `this` is a valid cache used by the calling thread only.
    pub unsafe fn cached(this: *mut Cache) -> usize {
        // SAFETY: per contract.
        unsafe {
            (0..=SLOTS)
                .map(|i| {
                    let bin = Self::bin(this, i);
                    ((*bin).cap - (*bin).room) as usize
                })
                .sum()
        }
    }

    /// Blocks cached in `slot`'s bin (0 for a slot beyond [`SLOTS`]).
    ///
    /// # Safety
    /// `this` is a valid cache used by the calling thread only.
    pub unsafe fn len(this: *mut Cache, slot: usize) -> usize {
        if slot > SLOTS {
            return 0;
        }
        // SAFETY: per contract, slot <= SLOTS.
        unsafe {
            let bin = Self::bin(this, slot);
            (*bin).cap.saturating_sub((*bin).room) as usize
        }
    }

    /// Empties every bin, handing each block to `free` (which must return it
    /// to its page, not to this cache), its key 0 (on a page list). Aborts
    /// if a bin holds more blocks than any bin can (a cycle made by a double
    /// free) and, by default, on a block whose key is not the cache's (see
    /// `key::Cached`).
    ///
    /// # Safety
    /// `this` is a valid cache used by the calling thread only.
    pub unsafe fn drain(this: *mut Cache, mut free: impl FnMut(*mut u8)) {
        for i in 0..=SLOTS {
            // SAFETY: per contract; a cached block's first word links to
            // the next one, read before `free` reuses the block.
            unsafe {
                let bin = Self::bin(this, i);
                let mut b = (*bin).head;
                (*bin).head = empty();
                (*bin).room = (*bin).cap;
                let mut n = 0;
                // (Null: a bin of a cache made from zeroed memory, not
                // pinned yet.)
                while b != empty() && !b.is_null() {
                    if n == MAX_BIN {
                        hak_os::diag::fatal("free(): thread cache corrupted (double free?) at", b as usize);
                    }
                    // A block of the bin whose key is not the cache's (see
                    // `Cache::pop`).
                    #[cfg(not(feature = "strict-free"))]
                    if (*(b as *mut Cached)).key != this as usize {
                        hak_os::diag::fatal("free(): thread cache corrupted (double free?) at", b as usize);
                    }
                    let next = (*b).next;
                    // Back on a page list (see `key::Cached`).
                    (*(b as *mut Cached)).key = if cfg!(feature = "strict-free") { 0 } else { paged(b) };
                    free(b.cast());
                    b = next;
                    n += 1;
                }
            }
        }
    }
}

impl Default for Cache {
    fn default() -> Cache {
        Cache::new()
    }
}

#[cfg(test)]
mod tests {
    use super::{block_magic, starts_block};
    use crate::classes;

    /// The block-start test is exact for every class of the grid at every
    /// offset of the largest page (1 MiB).
    #[test]
    fn starts_block_is_exact_for_every_class() {
        for class in 0..classes::COUNT {
            let size = classes::size(class);
            let magic = block_magic(size);
            for off in 0..classes::MAX_SIZE {
                assert_eq!(starts_block(off, magic), off % size == 0, "size {size} offset {off}");
            }
        }
        // A bin that tests nothing (mask 0, magic 1) passes every pointer.
        assert!(starts_block(0, 1));
    }
}
