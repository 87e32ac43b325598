//! hak-os — the platform layer of hakmem.
//!
//! Everything hakmem asks of the operating system goes through this crate:
//! mappings ([`map`]), the segment map that answers "is this pointer ours and
//! who owns it" ([`segmap`]), a metadata arena for records that must never
//! come from the allocator itself ([`meta`]), a yielding spin lock
//! ([`lock`]), allocation-free diagnostics on stderr ([`diag`]) and the
//! synchronisation facade that lets loom check all of the above ([`sync`]).
//!
//! Nothing here allocates through Rust's allocator or panics.
#![cfg_attr(not(loom), no_std)]
#![warn(missing_docs)]

pub mod diag;
pub mod lock;
pub mod map;
pub mod meta;
pub mod segmap;
pub mod sync;

#[cfg(all(test, loom))]
mod loom_models;

/// Milliseconds of `CLOCK_MONOTONIC_COARSE` (a vDSO read, no system call):
/// the clock of every decay interval and upkeep pace.
pub fn now_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-parameter.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// log2 of the segment size: all hakmem memory lives in 4 MiB aligned segments.
pub const SEGMENT_SHIFT: usize = 22;
/// Size of a segment in bytes (4 MiB).
pub const SEGMENT_SIZE: usize = 1 << SEGMENT_SHIFT;
/// Mask of the offset inside a segment.
pub const SEGMENT_MASK: usize = SEGMENT_SIZE - 1;
