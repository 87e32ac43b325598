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
// realloc.rs, global.rs (`GlobalAlloc`), stats.rs; tls.rs holds the
// thread's slot.
mod aligned;
mod alloc;
mod ctx;
mod free;
mod global;
mod init;
mod realloc;
mod stats;
mod tls;

use hak_pool::{L2, L25};
use hak_slab::SlabTier;
use hak_tiny::TINY;

pub use self::aligned::{alloc_aligned, alloc_aligned_or_report};
pub use self::alloc::{alloc, alloc_or_report, alloc_zeroed};
pub use self::ctx::{has_context, thread_flush, ThreadCtx};
pub use self::free::{free, free_or_forward, owns, usable_size};
pub use self::global::HakMem;
pub use self::init::init;
pub use self::realloc::{realloc, REALLOC_MAP_MAX_LIVE, REALLOC_MAP_MIN};
pub use self::stats::print_stats;

// `tls.rs` names the dormant records and the context type at the root.
pub(crate) use self::ctx::DORMANT;

/// Alignment of every block hakmem returns.
pub const MIN_ALIGN: usize = 16;

/// The slab tiers, by router index (matches `SegMeta::tier_index`).
static TIERS: [&SlabTier; 3] = [&TINY, &L2, &L25];
