//! A tier's statistics counters, and the switch of the free path's event
//! counters.

use core::sync::atomic as stat;

use hak_os::sync::Ordering;

/// Counters of a tier (slow-path events only, relaxed). `pages_abandoned`,
/// `pages_adopted` and `remote_collected` count events of the free path,
/// which several threads would hit on one shared line: they are only kept
/// after [`set_stats`]`(true)`.
pub struct TierStats {
    /// Segments reserved from the OS.
    pub segments: stat::AtomicUsize,
    /// Pages handed to heaps (fresh or reused).
    pub pages_acquired: stat::AtomicUsize,
    /// Empty pages returned by heaps.
    pub pages_released: stat::AtomicUsize,
    /// Empty pages whose memory was returned to the OS.
    pub pages_decommitted: stat::AtomicUsize,
    /// Pages abandoned with live blocks (exhausted, or at thread exit).
    pub pages_abandoned: stat::AtomicUsize,
    /// Abandoned pages adopted by heaps.
    pub pages_adopted: stat::AtomicUsize,
    /// Blocks collected from remote-free lists.
    pub remote_collected: stat::AtomicUsize,
    /// Pages that returned memory on a class change, beyond what the new
    /// class keeps (`SlabTier::trim_for_class`).
    pub pages_trimmed: stat::AtomicUsize,
}

/// Whether the free path's event counters are kept (see [`TierStats`]).
static STATS_ON: stat::AtomicBool = stat::AtomicBool::new(false);

/// Turns the free path's event counters of every tier on or off (the router
/// turns them on when statistics are requested).
pub fn set_stats(on: bool) {
    STATS_ON.store(on, Ordering::Relaxed);
}

/// Adds `n` to an event counter of [`TierStats`] if they are kept.
#[inline(always)]
pub(crate) fn count_event(counter: &stat::AtomicUsize, n: usize) {
    if STATS_ON.load(Ordering::Relaxed) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
