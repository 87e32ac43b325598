//! # hak-config — hakmem's modes, feature flags and tunables
//!
//! The configuration is read from `HAKMEM_*` environment variables once, lazily,
//! on the first call to [`get`]. This crate runs inside `malloc`: it never
//! allocates, never panics, reads variables with `hak_os::env::getenv` and
//! writes diagnostics with `hak_os::diag` (stderr) from a fixed stack buffer.
//!
//! A malformed value is reported once on stderr and its default is used, e.g.
//! `hakmem: ignoring HAKMEM_DECAY_MS=12x (expected a non-negative integer)`.
//! An empty value (`HAKMEM_THP=`) counts as unset.
//!
//! ## Mode
//!
//! | Variable | Default | Values |
//! |---|---|---|
//! | `HAKMEM_MODE` | `minimal` | `minimal`, `fast`, `balanced`, `learning`, `research` (any case) |
//!
//! The mode selects the default feature set:
//!
//! | Mode | Features on |
//! |---|---|
//! | `minimal` | `TINY_POOL POOL L25_POOL BIGCACHE BATCH_MADVISE` |
//! | `fast` | same as `minimal` |
//! | `balanced` | `minimal` + `THP` |
//! | `learning` | `balanced` + `ELO` |
//! | `research` | `learning` + `SITE_RULES` |
//!
//! ## Feature switches (override the mode)
//!
//! Values: `1 0 on off true false yes no` (any case).
//!
//! | Variable | Feature | Default |
//! |---|---|---|
//! | `HAKMEM_TINY_POOL` | tiny tier (<= 1 KiB) | on |
//! | `HAKMEM_POOL` | L2 pool (1–32 KiB) | on |
//! | `HAKMEM_L25_POOL` | L2.5 pool (32 KiB–1 MiB) | on |
//! | `HAKMEM_BIGCACHE` | cache of released big mappings | on |
//! | `HAKMEM_ELO` | learning, one at a time, of the big-block cache's capacity, the decay interval and the thread-cache budget while the program runs | `learning`, `research` |
//! | `HAKMEM_SITE_RULES` | per-call-site rules: call sites whose blocks above 32 KiB outlive the others of their size get mappings of their own | `research` |
//! | `HAKMEM_BATCH_MADVISE` | batched, decayed `madvise` of freed memory | on |
//! | `HAKMEM_THP` | transparent huge pages for big mappings | `balanced` and up |
//! | `HAKMEM_STATS` | print per-tier counters at exit | off |
//! | `HAKMEM_SECURE` | secure mode (docs/security.md): no thread cache, encoded free lists, canaries, exact double/invalid-free checks | off (on with the cargo feature `secure`) |
//! | `HAKMEM_SECURE_ZERO` | with `HAKMEM_SECURE`: zero blocks on free | off |
//!
//! ## Tunables
//!
//! Values are decimal integers (digits only; overflow is rejected).
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `HAKMEM_BIGCACHE_ENTRIES` | 32 | max mappings kept in the BigCache |
//! | `HAKMEM_BIGCACHE_MAX_MB` | 256 | max MiB kept in the BigCache |
//! | `HAKMEM_DECAY_MS` | 500 | how long released memory stays committed before `madvise` |
//! | `HAKMEM_FREE_PAGES_KEEP` | 16 | empty pages a tier keeps committed |
//! | `HAKMEM_THREAD_CACHE_KB` | 256 | per class, KiB of freed blocks a thread keeps for reuse (at least 16 blocks of a class up to 64 KiB; 0: none) |
//! | `HAKMEM_ELO_EPOCH_MS` | 200 | length of one ELO epoch (with `HAKMEM_ELO`); 0 counts as 1 |
//! | `HAKMEM_SITE_SAMPLE` | 64 | site rules sample about one request above 32 KiB in this many (with `HAKMEM_SITE_RULES`; a power of two, 0 counts as 1) |
//! | `HAKMEM_PRESSURE` | on | boolean: respond to memory pressure (near the memory cgroup's limit, or pressure stall): purge freed memory at once, shrink the thread caches and the big-block cache, back to the configured values when it is gone; each change printed with `HAKMEM_VERBOSE` |
//! | `HAKMEM_PRESSURE_PCT` | 90 | near the limit: the cgroup's usage at this % of its lower limit (`memory.max`, `memory.high`; v1 `memory.limit_in_bytes`) or above; over when below 10 points less (1..100) |
//! | `HAKMEM_PRESSURE_PSI` | 10 | under pressure: `some avg10` of the cgroup's `memory.pressure` (else `/proc/pressure/memory`) at this % or above; over below half of it (0: ignored) |
//! | `HAKMEM_TRANSFER` | off | boolean: a full thread-cache bin of other threads' blocks goes whole to a thread whose bin is empty (decision 0052) |
//! | `HAKMEM_CGROUP_DIR` | found from `/proc/self/cgroup` | path: read the cgroup files (and `memory.pressure`) from this directory instead (tests write fake files there); not parsed by this crate: the router reads it once at start |
//! | `HAKMEM_VERBOSE` | off | boolean: print the resolved configuration once at start |

#![no_std]
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(test)]
extern crate std;

mod config;
mod global;
mod mode;
mod out;
mod parse;
#[cfg(test)]
mod tests;

pub use config::{Config, Tunables, LINE_MAX};
pub use global::{get, write_config};
pub use mode::{mode_name, Features, Mode, FEATURE_VARS};
pub use parse::{parse_bool, parse_from, parse_u64, parse_with, Rejected};
