//! A small spin lock that yields the CPU when contended, for slow paths only.
//!
//! Allocation fast paths never take a lock. Slow paths (page acquisition,
//! abandonment, the big-block cache) take one of these for a few hundred
//! nanoseconds; after a short spin a waiter calls `sched_yield` so that a
//! preempted holder can run (the 4-threads-on-2-cores case).

use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};

use crate::sync::cell::{MutPtr, UnsafeCell};
use crate::sync::{AtomicBool, Ordering};

/// A mutual-exclusion lock around `T` that never allocates.
pub struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialised by `locked` (acquire on lock,
// release on unlock), so sharing the lock is safe whenever T may be sent.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    crate::loom_const_fn! {
        /// A new unlocked lock.
        pub fn new(value: T) -> Self {
            SpinLock { locked: AtomicBool::new(false), value: UnsafeCell::new(value) }
        }
    }

    /// Acquires the lock, spinning then yielding while it is held elsewhere.
    #[inline]
    pub fn lock(&self) -> SpinGuard<'_, T> {
        self.acquire();
        SpinGuard { lock: self, value: ManuallyDrop::new(self.value.get_mut()) }
    }

    /// Acquires the lock if it is free, without waiting: `None` if another
    /// thread holds it (for callers that have another way to go).
    #[inline]
    pub fn try_lock(&self) -> Option<SpinGuard<'_, T>> {
        if self.locked.load(Ordering::Relaxed)
            || self.locked.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err()
        {
            return None;
        }
        Some(SpinGuard { lock: self, value: ManuallyDrop::new(self.value.get_mut()) })
    }

    #[inline]
    fn acquire(&self) {
        if self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_contended();
        }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        loop {
            if !self.locked.load(Ordering::Relaxed)
                && self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
            {
                return;
            }
            spins += 1;
            if spins < 64 {
                crate::sync::spin_loop();
            } else {
                crate::sync::yield_now();
            }
        }
    }

    /// Acquires the lock without a guard (fork prepare handler); pair with
    /// [`SpinLock::force_unlock`].
    pub fn raw_lock(&self) {
        self.acquire();
    }

    /// Releases a lock taken with [`SpinLock::raw_lock`], or resets it in a
    /// fork child where its holder no longer exists.
    ///
    /// # Safety
    /// No guard of this lock may be alive in the calling thread.
    pub unsafe fn force_unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

/// Guard of a held [`SpinLock`]; releases it when dropped.
pub struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
    /// The exclusive access to the value (under loom: tracked from lock to
    /// unlock, so a missing happens-before between two holders is reported).
    value: ManuallyDrop<MutPtr<T>>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held by us.
        unsafe { MutPtr::deref(&self.value) }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves the lock is held by us, exclusively.
        unsafe { MutPtr::deref(&self.value) }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        // End the access before the unlock publishes the value.
        // SAFETY: dropped once, here; not used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.value) };
        self.lock.locked.store(false, Ordering::Release);
    }
}
