//! Fault injection (only with the feature `fault-injection`, off by
//! default; shown in the documentation whatever the features): makes
//! chosen mapping attempts of the calling thread fail, so that the
//! out-of-memory paths of every tier can be driven from tests without
//! `RLIMIT_AS` tricks.
//!
//! A *mapping attempt* is a call that needs new address space: each
//! `mmap` of [`map::map`](crate::map::map) (so [`map::map_aligned`](crate::map::map_aligned)
//! makes one or two, and the segment map and the metadata arena make theirs
//! through it), [`map::remap_in_place`](crate::map::remap_in_place) when it
//! grows, and [`map::move_mapping`](crate::map::move_mapping). A failed
//! attempt behaves as the kernel's `ENOMEM`: `map` returns null with
//! `errno` set to `ENOMEM`; `remap_in_place` and `move_mapping` return
//! false with `errno` unchanged (as they do for a real failure).
//!
//! Injection is per thread, so tests running in parallel in one binary do
//! not disturb each other: [`fail_nth_map`] and [`fail_map_after`] arm the
//! calling thread, [`clear`] disarms it (a thread must clear before it
//! exits: a later thread may get the same `pthread_self` value). At most
//! [`MAX_THREADS`] threads are armed at a time. Disarmed threads pay one
//! relaxed load per attempt; builds without the feature contain none of
//! this.
//!
//! ```
//! # #[cfg(feature = "fault-injection")] {
//! use hak_os::{fault, map};
//! assert!(fault::fail_nth_map(2));
//! let a = map::map(4096);
//! let b = map::map(4096); // the second attempt fails
//! let c = map::map(4096);
//! assert!(!a.is_null() && b.is_null() && !c.is_null());
//! assert_eq!((fault::attempts(), fault::injected()), (3, 1));
//! fault::clear();
//! # unsafe { map::unmap(a, 4096); map::unmap(c, 4096); }
//! # }
//! ```

use core::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// How many threads can be armed at the same time.
pub const MAX_THREADS: usize = 16;

/// The slot is free (its `tid` is 0) or counts attempts only.
const COUNT: u8 = 0;
/// Attempt number `n` fails, once.
const NTH: u8 = 1;
/// Every attempt after the first `n` fails.
const AFTER: u8 = 2;

/// One armed thread. `tid` is claimed by CAS; the other fields are written
/// by the owning thread only (before and after the claim), so relaxed
/// atomics suffice.
struct Slot {
    tid: AtomicUsize,
    mode: AtomicU8,
    n: AtomicU64,
    attempts: AtomicU64,
    injected: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)] // only used to build `SLOTS`
const FREE: Slot = Slot {
    tid: AtomicUsize::new(0),
    mode: AtomicU8::new(COUNT),
    n: AtomicU64::new(0),
    attempts: AtomicU64::new(0),
    injected: AtomicU64::new(0),
};

static SLOTS: [Slot; MAX_THREADS] = [FREE; MAX_THREADS];
/// Armed threads right now: the mapping path looks no further while 0.
static ARMED: AtomicUsize = AtomicUsize::new(0);

/// The calling thread's slot, if it is armed.
fn mine() -> Option<&'static Slot> {
    let me = crate::thread::id();
    SLOTS.iter().find(|s| s.tid.load(Ordering::Acquire) == me)
}

/// Arms the calling thread (re-arming it if it is armed); false when
/// [`MAX_THREADS`] other threads are armed.
fn arm(mode: u8, n: u64) -> bool {
    let slot = match mine() {
        Some(s) => s,
        None => {
            let me = crate::thread::id();
            let Some(s) =
                SLOTS.iter().find(|s| s.tid.compare_exchange(0, me, Ordering::AcqRel, Ordering::Relaxed).is_ok())
            else {
                return false;
            };
            ARMED.fetch_add(1, Ordering::AcqRel);
            s
        }
    };
    slot.mode.store(mode, Ordering::Relaxed);
    slot.n.store(n, Ordering::Relaxed);
    slot.attempts.store(0, Ordering::Relaxed);
    slot.injected.store(0, Ordering::Relaxed);
    true
}

/// Makes the calling thread's `n`-th mapping attempt from now fail (`n`
/// counts from 1: `fail_nth_map(1)` fails the next one), once; the attempts
/// before and after it succeed (as far as the kernel lets them). `n = 0`
/// fails none and only counts ([`attempts`]). Returns false when too many
/// threads are armed (see [`MAX_THREADS`]).
pub fn fail_nth_map(n: u64) -> bool {
    arm(NTH, n)
}

/// Lets the calling thread's next `n` mapping attempts proceed and makes
/// every later one fail, until [`clear`]. `n = 0` fails all of them.
/// Returns false when too many threads are armed.
pub fn fail_map_after(n: u64) -> bool {
    arm(AFTER, n)
}

/// Disarms the calling thread: its mapping attempts succeed again.
pub fn clear() {
    if let Some(s) = mine() {
        s.mode.store(COUNT, Ordering::Relaxed);
        s.tid.store(0, Ordering::Release);
        ARMED.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Mapping attempts the calling thread made since it was armed (0 when it
/// is not armed).
pub fn attempts() -> u64 {
    mine().map_or(0, |s| s.attempts.load(Ordering::Relaxed))
}

/// Failures injected into the calling thread's attempts since it was armed.
pub fn injected() -> u64 {
    mine().map_or(0, |s| s.injected.load(Ordering::Relaxed))
}

/// Counts one mapping attempt of the calling thread and says whether it
/// must fail (called by [`map`](crate::map) before each system call that
/// needs new address space).
#[inline]
pub(crate) fn should_fail() -> bool {
    if ARMED.load(Ordering::Relaxed) == 0 {
        return false;
    }
    should_fail_slow()
}

#[cold]
fn should_fail_slow() -> bool {
    let Some(s) = mine() else { return false };
    let k = s.attempts.load(Ordering::Relaxed) + 1;
    s.attempts.store(k, Ordering::Relaxed);
    let n = s.n.load(Ordering::Relaxed);
    let fail = match s.mode.load(Ordering::Relaxed) {
        NTH => k == n,
        AFTER => k > n,
        _ => false,
    };
    if fail {
        s.injected.fetch_add(1, Ordering::Relaxed);
    }
    fail
}
