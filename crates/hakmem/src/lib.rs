//! hakmem — a general-purpose memory allocator.
//!
//! This crate is the router over hakmem's tiers:
//!
//! | request            | tier                     | crate          |
//! |--------------------|--------------------------|----------------|
//! | 0 ..= 1 KiB        | tiny, 20 classes         | `hak-tiny`     |
//! | 1 KiB ..= 32 KiB   | L2 pool, 20 classes      | `hak-pool`     |
//! | 32 KiB ..= 1 MiB   | L2.5 pool, 20 classes    | `hak-pool`     |
//! | > 1 MiB            | big blocks + BigCache    | `hak-bigcache` |
//!
//! The size picks the tier and class by tables against constant bounds; `free` finds the owner
//! through the segment map (`hak-os`), never through a header. Each thread has
//! a context holding one heap per slab tier; the same-thread fast paths take no
//! lock and do no atomic read-modify-write.
//!
//! Rust programs use it as their global allocator:
//!
//! ```no_run
//! #[global_allocator]
//! static A: hakmem::HakMem = hakmem::HakMem;
//! fn main() {
//!     let v: Vec<u64> = (0..1000).collect();
//!     assert_eq!(v.iter().sum::<u64>(), 499_500);
//! }
//! ```
//!
//! C programs use `libhakmem.so` (crate `hakmem-cdylib`) with `LD_PRELOAD`.
#![no_std]
#![warn(missing_docs)]

// One file per concern: init.rs (one-time initialisation, configuration,
// fork handlers), ctx.rs (thread contexts, upkeep, thread exit, the global
// heaps), alloc.rs (routing, the allocation paths), aligned.rs, free.rs,
// realloc.rs, global.rs (`GlobalAlloc`), info.rs (the statistics
// snapshot), stats.rs (its report), trim.rs (`malloc_trim`), learn.rs
// (ELO), pressure.rs (the response to memory pressure), sites.rs (site
// rules); tls.rs holds the thread's slot.
mod aligned;
mod alloc;
mod ctx;
mod free;
mod global;
mod info;
mod init;
mod learn;
mod pressure;
mod realloc;
mod secure;
mod sites;
mod stats;
mod tls;
mod trim;

use hak_pool::{L2, L25};
use hak_slab::SlabTier;
use hak_tiny::TINY;

pub use self::aligned::{alloc_aligned, alloc_aligned_or_report};
pub use self::alloc::{alloc, alloc_or_report, alloc_zeroed};
pub use self::ctx::{has_context, thread_flush, ThreadCtx};
pub use self::free::{free, free_or_forward, owns, usable_size};
pub use self::global::HakMem;
pub use self::info::{snapshot, ClassStats, Stats, TierStats, STATS_CLASSES, STATS_TIERS, STATS_VERSION};
pub use self::init::init;
pub use self::realloc::{realloc, REALLOC_MAP_MAX_LIVE, REALLOC_MAP_MIN};
pub use self::sites::{set_site_sample, site_counts, site_hint};
pub use self::stats::{print_stats, print_to};
pub use self::trim::{set_trim_threshold, trim};

// `tls.rs` names the dormant records and the context type at the root.
pub(crate) use self::ctx::DORMANT;

/// Alignment of every block hakmem returns.
pub const MIN_ALIGN: usize = 16;

/// The router's tiers, in size order. A slab tier's value is its router
/// index (`SlabTier::index`, `SegMeta::tier_index`), its place in
/// [`TIERS`] and in a context's heaps, and the first factor of its cache
/// slots ([`hak_slab::slot`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[repr(usize)]
pub(crate) enum Tier {
    /// 0 ..= 1 KiB: `hak-tiny`.
    Tiny = 0,
    /// 1 KiB ..= 32 KiB: `hak-pool`'s L2.
    L2 = 1,
    /// 32 KiB ..= 1 MiB: `hak-pool`'s L2.5.
    L25 = 2,
    /// Above 1 MiB: big blocks (`hak-bigcache`).
    Big = 3,
}

/// Number of slab tiers (every tier but [`Tier::Big`]).
pub(crate) const SLAB_TIERS: usize = Tier::Big as usize;

impl Tier {
    /// The slab tiers, in order.
    pub(crate) const SLAB: [Tier; SLAB_TIERS] = [Tier::Tiny, Tier::L2, Tier::L25];

    /// The slab tier's engine instance (not for [`Tier::Big`]).
    #[inline(always)]
    pub(crate) fn slab(self) -> &'static SlabTier {
        TIERS[self as usize]
    }

    /// The cache slot of class `class` of this slab tier.
    #[inline(always)]
    pub(crate) const fn slot(self, class: usize) -> usize {
        hak_slab::slot(self as usize, class)
    }
}

/// The slab tiers' engine instances, by [`Tier`].
static TIERS: [&SlabTier; SLAB_TIERS] = [&TINY, &L2, &L25];
