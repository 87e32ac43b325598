//! hak-os — the platform layer of hakmem.
//!
//! Everything hakmem asks of the operating system goes through this crate
//! (as mimalloc's `prim` layer): mappings ([`map`]), the segment map that
//! answers "is this pointer ours and who owns it" ([`segmap`], placed
//! where the kernel does not map: `layout`), a metadata
//! arena for records that must never come from the allocator itself
//! ([`meta`]), a yielding spin lock ([`lock`]), the one stderr writer
//! ([`diag`]), environment variables ([`env`](mod@env)), thread-exit keys, fork and
//! exit handlers ([`thread`]), process services such as `abort`, `dlsym`
//! and small file reads ([`process`]), memory limits and pressure
//! ([`pressure`]), secure mode's fault reporter (`signal`), the initial-exec TLS block
//! (`tls`, x86-64) and the synchronisation facade that lets loom check all
//! of the above ([`sync`]). With the `fault-injection` feature, [`fault`]
//! makes chosen mappings fail.
//!
//! Nothing here allocates through Rust's allocator or panics. Outside this
//! crate only hak-ffi calls `libc` (for `errno`, which its C entry points
//! set as glibc's do).
#![cfg_attr(not(loom), no_std)]
#![warn(missing_docs)]

#[cfg(target_arch = "x86_64")]
pub mod caller;
pub mod diag;
pub mod env;
#[cfg(any(feature = "fault-injection", doc))]
pub mod fault;
#[cfg(not(loom))]
mod layout;
pub mod lock;
pub mod map;
pub mod meta;
pub mod pressure;
pub mod process;
pub mod region;
pub mod segmap;
#[cfg(not(loom))]
pub mod signal;
pub mod sync;
pub mod thread;
#[cfg(target_arch = "x86_64")]
pub mod tls;

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

/// The calling thread's `errno` (for this crate's retry loops and
/// [`map::quiet`]; hak-ffi keeps its own accessors for the C ABI).
#[inline]
pub(crate) fn errno() -> i32 {
    // SAFETY: __errno_location always returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's `errno`.
#[cfg(feature = "fault-injection")]
#[inline]
pub(crate) fn set_errno(e: i32) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = e }
}

/// log2 of the segment size: all hakmem memory lives in 4 MiB aligned segments.
pub const SEGMENT_SHIFT: usize = 22;
/// Size of a segment in bytes (4 MiB).
pub const SEGMENT_SIZE: usize = 1 << SEGMENT_SHIFT;
/// Mask of the offset inside a segment.
pub const SEGMENT_MASK: usize = SEGMENT_SIZE - 1;
