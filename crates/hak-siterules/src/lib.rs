//! hak-siterules — call-site rules for hakmem: which call sites allocate
//! blocks that are large and long-lived, grown by `realloc`, or long-lived
//! amid short-lived ones of their size, learned from sampled allocations
//! and answered as a route [`Hint`] per site.
//!
//! A pure policy crate: it knows neither the router nor any tier, and runs
//! inside the allocator (no allocation, fixed size, lock-free, no panic on
//! a reachable path). Switched on by `HAKMEM_SITE_RULES` (mode `research`).
//!
//! # The site
//!
//! A site is the return address of the outermost allocator entry — the
//! address `malloc`'s (`calloc`'s, `realloc`'s, `posix_memalign`'s) caller
//! continues at — as a non-zero `usize`. Capturing it is the allocator's
//! job (the C entry points or a trampoline pass it down); it is captured
//! only on sampled or slow paths, never on the fast path.
//!
//! # How the allocator drives it
//!
//! * Per allocation, on the path that samples, [`Sampler::tick`] (a
//!   per-thread countdown: one decrement, one branch), or the allocator's
//!   own countdown rewound with [`Sampler::next_interval`].
//! * For a sampled allocation above [`HINT_MIN_SIZE`]:
//!   [`SiteTable::record_alloc`]`(site, size, now)` returns a
//!   [`SampleTag`] the allocator keeps with the block (beside its record,
//!   or in a [`SampledBlocks`] map by address).
//! * When such a block is resized: [`SiteTable::record_realloc`]`(&mut
//!   tag, new_size)`; when it is freed: [`SiteTable::record_free`]`(tag,
//!   now)`. `now` is any monotonic clock (milliseconds by default, see
//!   [`DEFAULT_YOUNG_AGE`]; [`SiteTable::with_young_age`] for another).
//! * On a slow or sampled path for a request above [`HINT_MIN_SIZE`]:
//!   [`SiteTable::hint`]`(site, size)`, and route by the hint.
//! * At exit with `HAKMEM_STATS=1`: [`SiteTable::stats`] and
//!   [`SiteTable::top`] into a caller's fixed array, each written as one
//!   line with [`Stats::write`] and [`SiteReport::write`] (into a
//!   `hak_os::diag::Line`).
//!
//! A sampled block's `free` and `realloc` must reach a path that looks for
//! its tag. Fast paths that never look (a thread cache taking the block)
//! would make every sampled block look immortal, so the allocator serves
//! sampled blocks where their free is slow anyway: in a mapping of their
//! own (tcmalloc gives sampled allocations a span of their own for the
//! same reason), whose `free` and `realloc` look the address up in
//! [`SampledBlocks`] (a probe of [`PROBE`] slots).
//!
//! # The hints and their thresholds
//!
//! No hint before [`MIN_SAMPLES`] (16) samples of a site. Then, in order
//! ([`derive()`]):
//!
//! | hint | when | route |
//! |---|---|---|
//! | [`Hint::Grow`] | ≥ 1 sampled block in [`GROW_DIV`] (4) later grown by `realloc` | a mapping with slack (grows in place) |
//! | [`Hint::Big`] | ≤ 1 in [`YOUNG_DIV`] (4) died young, mean size ≥ [`BIG_MIN_SIZE`] (256 KiB) | a mapping of its own (its requests below 256 KiB: as `LongLived`) |
//! | [`Hint::LongLived`] | ≤ 1 in 4 died young, and ≥ 1 in 4 of the *other* sites' samples in the size buckets (log2) of its own samples died young over the run (≥ 16 of them) | a separate heap or page set |
//! | [`Hint::None`] | otherwise | by size, as usual |
//!
//! A block dies young when freed less than the table's young age after its
//! allocation (500 clock ticks: the default decay interval in ms). Blocks
//! still alive count as not young, so a site whose blocks live long earns
//! its hint before any of them is freed; a short-lived site's blocks die
//! young as fast as they are sampled, so at most the few in flight count
//! against it. A site reaching [`AGE_SAMPLES`] samples halves its counters,
//! so hints follow a change of behaviour. The reasons for each number are
//! on its constant.
//!
//! # Costs
//!
//! * [`SiteTable::hint`]: one Fibonacci hash (a multiply and a shift), at
//!   most [`PROBE`] (8) relaxed key loads, one byte load. The hint is
//!   recomputed when a sample is recorded, so a lookup does no arithmetic.
//! * [`SiteTable::record_alloc`]: the same probe, a CAS the first time a
//!   site is seen, about eight relaxed atomic adds (entry and table-wide
//!   counters). `record_free` and `record_realloc`: a few relaxed adds, no
//!   probe. Sampled paths only: at one allocation in 1024, well under a
//!   nanosecond per allocation.
//! * Memory: `N` × 64 bytes (one cache line per site) plus 1 KiB of size
//!   buckets: 66 KiB for the default `N` = 1024, in the allocator's static
//!   data (untouched pages are never faulted in). [`SampledBlocks`]: `M` ×
//!   24 bytes (96 KiB for 4096 live sampled blocks).
//!
//! # Concurrency
//!
//! An entry's key goes 0 → site with one CAS and is never freed, so every
//! site holds at most one entry and a lookup stops at the first free slot.
//! When a site's window of [`PROBE`] slots is full of other sites its
//! sample is dropped and counted ([`Stats::dropped`]): nothing blocks and
//! nothing is evicted, so no entry can be torn. Counters are relaxed
//! `core` atomics (statistics, outside every protocol; a racing aging may
//! lose an increment); the hint is one atomic byte that only ever holds a
//! valid hint. Loom models (`cargo xtask loom`): two threads claiming the
//! same key and colliding keys, a writer recording while a reader looks up
//! the hint, a full window, and [`SampledBlocks`]' insert/take races.
#![cfg_attr(not(loom), no_std)]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

// One file per concern.
// `SampledBlocks`: live sampled blocks' tags by address.
mod blocks;
// `Hint`, the thresholds, `Counts`, `derive`.
mod hint;
// `Stats`, `SiteReport`, `SiteTable::{stats, top, site}`, the report lines.
mod report;
// `Sampler`: the per-thread countdown.
mod sampler;
// `SiteTable`: entries, probe, claim, record_*, hint.
mod table;
// `SampleTag`: a sampled block's record.
mod tag;

#[cfg(all(test, loom))]
mod loom_models;

pub use blocks::SampledBlocks;
pub use hint::{
    derive, Counts, Hint, BIG_MIN_SIZE, DEFAULT_YOUNG_AGE, GROW_DIV, HINT_MIN_SIZE, MIN_SAMPLES, YOUNG_DIV,
};
pub use report::{SiteReport, Stats};
pub use sampler::Sampler;
pub use table::{SiteTable, AGE_SAMPLES, PROBE};
pub use tag::SampleTag;
