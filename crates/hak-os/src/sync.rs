//! The synchronisation facade: every atomic, every `UnsafeCell` shared
//! between threads, and every spin-wait hint of hakmem's cross-thread
//! structures comes from here, so that the structures that ship are the
//! structures the `loom` crate model-checks.
//!
//! * Normal builds re-export `core`'s atomics and wrap `core::cell::UnsafeCell`
//!   in a zero-cost type with loom's pointer API ([`cell::UnsafeCell::get_mut`]
//!   returning a [`cell::MutPtr`]); every function here is `#[inline(always)]`
//!   and compiles to exactly what direct use of `core` would.
//! * Builds with `RUSTFLAGS="--cfg loom"` (`cargo xtask loom`) re-export
//!   loom's atomics and cells instead: loom then explores the interleavings
//!   and weak-memory outcomes of the real code.
//!
//! Loom atomics are not `const`-constructible and loom needs fresh state for
//! every explored execution, so every structure holding them is an *instance*
//! type whose process-wide instance is a `static` in normal builds only
//! (`SegMap`, `MetaArena`, `SlabTier`, `BigCache`); models build their own
//! instances. Constructors that are `const fn` in normal builds are declared
//! with [`loom_const_fn!`](crate::loom_const_fn), plain `fn` under loom.
//!
//! Not covered by loom: the router's thread-local context slot (an
//! initial-exec TLS word declared in assembly, one per thread by
//! construction), plain memory (block links, page counters: loom checks the
//! *protocols* that hand them between threads, not data races on them), and
//! relaxed statistics counters and configuration knobs, which are outside
//! every protocol and stay `core` atomics in both builds to keep the
//! explored state space small.

#[cfg(not(loom))]
pub use core::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
#[cfg(loom)]
pub use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// Runs `f` under loom (`loom::model`), printing how many executions were
/// explored and how long it took: the driver of every crate's loom models.
#[cfg(loom)]
pub fn loom_model<F: Fn() + Sync + Send + 'static>(name: &str, f: F) {
    use std::sync::atomic::{AtomicUsize as StdUsize, Ordering as O};
    use std::sync::Arc;
    let runs = Arc::new(StdUsize::new(0));
    let r = runs.clone();
    let start = std::time::Instant::now();
    loom::model(move || {
        r.fetch_add(1, O::Relaxed);
        f()
    });
    std::println!("loom model {name}: {} executions in {:.2} s", runs.load(O::Relaxed), start.elapsed().as_secs_f64());
}

/// Declares a function that is `const fn` in normal builds and a plain `fn`
/// under `cfg(loom)` (where atomics cannot be built in constant context).
///
/// ```
/// struct Flag(hak_os::sync::AtomicBool);
/// impl Flag {
///     hak_os::loom_const_fn! {
///         /// A cleared flag.
///         pub fn new() -> Flag { Flag(hak_os::sync::AtomicBool::new(false)) }
///     }
/// }
/// static F: Flag = Flag::new();
/// # let _ = &F;
/// ```
#[macro_export]
macro_rules! loom_const_fn {
    ($(#[$attr:meta])* $vis:vis fn $($rest:tt)*) => {
        $(#[$attr])*
        #[cfg(not(loom))]
        $vis const fn $($rest)*

        $(#[$attr])*
        #[cfg(loom)]
        $vis fn $($rest)*
    };
}

/// Busy-wait hint for one turn of a spin loop (loom: yields to the model's
/// scheduler, which a spin loop under loom must do to make progress).
#[inline(always)]
pub fn spin_loop() {
    #[cfg(not(loom))]
    core::hint::spin_loop();
    #[cfg(loom)]
    loom::hint::spin_loop();
}

/// Gives the CPU to another thread (`sched_yield`; loom: a model yield).
#[inline]
pub fn yield_now() {
    #[cfg(not(loom))]
    // SAFETY: sched_yield has no preconditions.
    unsafe {
        libc::sched_yield();
    }
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// `UnsafeCell` with loom's tracked-pointer API.
pub mod cell {
    #[cfg(loom)]
    pub use loom::cell::{ConstPtr, MutPtr, UnsafeCell};

    /// A cell whose contents are shared under an external protocol (a lock).
    /// Normal builds: `core::cell::UnsafeCell`, nothing more.
    #[cfg(not(loom))]
    #[repr(transparent)]
    pub struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

    #[cfg(not(loom))]
    impl<T> UnsafeCell<T> {
        /// A cell holding `value`.
        #[inline(always)]
        pub const fn new(value: T) -> Self {
            UnsafeCell(core::cell::UnsafeCell::new(value))
        }

        /// A pointer for shared (read) access; under loom the access is
        /// tracked until the returned value is dropped.
        #[inline(always)]
        pub fn get(&self) -> ConstPtr<T> {
            ConstPtr(self.0.get())
        }

        /// A pointer for exclusive access; under loom the access is tracked
        /// (and checked against every other access for a happens-before
        /// order) until the returned value is dropped.
        #[inline(always)]
        pub fn get_mut(&self) -> MutPtr<T> {
            MutPtr(self.0.get())
        }
    }

    /// A shared access to the contents of an [`UnsafeCell`].
    #[cfg(not(loom))]
    pub struct ConstPtr<T>(*const T);

    #[cfg(not(loom))]
    impl<T> ConstPtr<T> {
        /// The contents.
        ///
        /// # Safety
        /// No exclusive access to the contents exists while the reference lives.
        #[inline(always)]
        pub unsafe fn deref(&self) -> &T {
            // SAFETY: per the caller's contract.
            unsafe { &*self.0 }
        }
    }

    /// An exclusive access to the contents of an [`UnsafeCell`].
    #[cfg(not(loom))]
    pub struct MutPtr<T>(*mut T);

    #[cfg(not(loom))]
    impl<T> MutPtr<T> {
        /// The contents.
        ///
        /// # Safety
        /// No other access to the contents exists while the reference lives.
        #[allow(clippy::mut_from_ref)]
        #[inline(always)]
        pub unsafe fn deref(&self) -> &mut T {
            // SAFETY: per the caller's contract.
            unsafe { &mut *self.0 }
        }
    }
}
