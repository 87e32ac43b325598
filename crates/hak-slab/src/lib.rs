//! hak-slab — the page engine under hakmem's tiny and pool tiers.
//!
//! A [`SlabTier`] is a table of block sizes (its classes) plus a page size. It
//! reserves 4 MiB segments, registers them in the segment map
//! ([`hak_os::segmap`], tag [`TAG_SLAB`]), and hands out their pages; each page
//! serves blocks of one class. Page descriptors live in a [`SegMeta`] record
//! outside the segment, so page memory is only touched when blocks are carved
//! from it (lazily, about 4 KiB at a time).
//!
//! A [`Heap`] belongs to one thread. Per class it keeps a *current* page and
//! a list of partially free pages.
//!
//! * **alloc** pops the current page's `free` list: two loads, two stores, no
//!   atomics. When it is empty the slow path refills it from the page's
//!   remote frees, then by carving more blocks; an exhausted page (no free
//!   block, fully carved) is *detached* (abandoned, below), and the heap
//!   switches to another page: a partially free page of its own, else an
//!   abandoned page with free space ([`SlabTier`] keeps per-class hints of
//!   those), else an empty page of the tier (resident ones first), else a
//!   new one.
//! * **free by the owner** links into the page's `free` list, no atomics,
//!   second after its head (decision 0051): the next allocation of that
//!   class gets one of the most recently freed blocks, still warm in the
//!   cache, but not the block freed last while another is free; into an
//!   empty list of a class above 64 KiB (no bin caches those) the page's
//!   next block is carved first (a separate local-free list, as mimalloc
//!   has, hands out the coldest blocks first, which was slower on larson
//!   and the aligned workload).
//! * **free by another thread** pushes onto the page's lock-free `remote` list
//!   (one CAS). The owner takes the whole list with one swap when it needs
//!   blocks.
//! * **abandonment**: a page whose owner does not need it (exhausted, or
//!   every page at thread exit, [`Heap::abandon_all`]) is given up
//!   (`owner = ABANDONED`) instead of being kept on an owner's list that
//!   nobody looks at. A heap that allocates the page's class and frees a
//!   block of it adopts it (CAS `ABANDONED → token`; within bounds, see
//!   `Heap::wants`): the page follows its data and later frees are local
//!   again (larson's hand-over pattern). Other freers push to its remote
//!   list (batched per page, `batch`), and the push that makes an eighth of
//!   it free records it as a hint, so the threads that allocate the class
//!   reuse it (issue 21's reclaimer; docs/decisions/0039). A heap
//!   that needs a page adopts an abandoned one with free space before taking
//!   a clean one. A free into an abandoned page by a thread that cannot
//!   adopt (no heap, or an exiting thread's) goes to the remote list, where
//!   the page's next owner collects it; the free of the page's last block
//!   *reclaims* the page: it owns the page for a moment (CAS `ABANDONED →
//!   RECLAIMING`), collects the remote list and returns the now empty page
//!   to the tier. So a page whose last block is freed never stays
//!   abandoned.
//!
//! Page states (`owner`): a heap's token (on exactly one list of that heap:
//! current or partial), [`NO_OWNER`] (free, on the tier's dirty or clean
//! list), [`ABANDONED`] (on no heap list, live blocks out, maybe some of
//! them freed onto the remote list; maybe on a hint list of the tier),
//! `RECLAIMING` (transiently owned by a reclaiming freer). Each transition
//! and its orderings is documented where it happens and checked by the loom
//! models (`cargo xtask loom`).
//!
//! Memory accounting: `Page::used` counts blocks handed out and not yet
//! returned (remote frees are counted when collected). A page whose count
//! reaches zero goes back to the tier, which keeps a bounded number of empty
//! pages committed and `madvise`s the rest away once they stayed unused for
//! the decay interval (batched, oldest first).
//!
//! Modules, one concern each: `page` (the descriptor, owner values, remote
//! list word, carving; `PagePtr`, the one place page pointers are
//! dereferenced), `segment` ([`SegMeta`], new segments), `tier`
//! ([`SlabTier`]: handing pages out and taking them back), `lists` (the
//! tier's empty-page lists and purging), `heap` ([`Heap`]: allocation and
//! the owner's frees), `abandon` (abandonment, adoption, reclaim, remote
//! frees), `stats` ([`TierStats`], [`SlabTier::usage`]), `cache` ([`Cache`]), `check` (the
//! validity walkers of debug builds: [`SlabTier::check`], [`Heap::check`]),
//! [`classes`] (the size-class grid every slab tier and the router derive
//! their tables from).
#![cfg_attr(not(loom), no_std)]
#![warn(missing_docs)]

pub use hak_os::segmap::TAG_SLAB;

/// Maximum number of classes of one tier.
pub const MAX_CLASSES: usize = 24;
/// Maximum number of pages of one segment (64 KiB pages in 4 MiB segments).
pub const MAX_PAGES: usize = hak_os::SEGMENT_SIZE >> 16;

#[cfg(all(test, loom))]
mod loom_models;

mod abandon;
mod batch;
mod cache;
mod check;
pub mod classes;
mod heap;
mod idle;
mod lists;
mod page;
pub mod secure;
mod secure_heap;
mod segment;
mod stats;
mod tier;

pub use abandon::{free_fast, free_remote};
pub use batch::BATCH_MAX;
#[cfg(not(loom))]
pub use cache::transfer;
pub use cache::{bin_offset, slot, Cache, Push, LARGE_BLOCK, MAX_BIN, MAX_CACHED, MIN_BIN, MIN_BIN_LARGE};
pub use heap::Heap;
pub use idle::Return;
pub use page::{Block, Page, ABANDONED, NO_OWNER, TRIM_MAX_PAGE_SHIFT};
pub use segment::{seg_of_entry, SegMeta, GRANULE_SHIFT};
pub use stats::{ClassUsage, TierStats, TierUsage};
pub use tier::SlabTier;

/// Tiers one process (one [`Cache`]) serves at most: router indices are
/// below this.
pub const MAX_TIERS: usize = 4;
/// Cache slots: one per class of every tier (see [`slot`]).
pub const SLOTS: usize = MAX_TIERS * MAX_CLASSES;
/// The slot of a free page: its bin in every [`Cache`] has no room.
pub const NO_SLOT: usize = SLOTS;
// Bin offsets are published as `u32`s (`SegMeta::bins`).
const _: () = assert!(bin_offset(NO_SLOT) <= u32::MAX as usize);
