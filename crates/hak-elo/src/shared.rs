//! [`Shared`]: the process-wide driver of one knob's [`Learner`]. Any
//! thread may offer to step it from a slow path; at most one does, by a
//! try-lock (a thread that loses returns at once, it never spins). The
//! chosen strategy's value is published in an atomic read with one relaxed
//! load.

use hak_os::sync::cell::UnsafeCell;
use hak_os::sync::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::config::{Config, Error};
use crate::learner::Learner;
use crate::step::{Phase, Step};

/// Everything the try-lock protects.
struct State<const N: usize, M> {
    learner: Learner<N>,
    /// The caller's measurement state (counter snapshots), handed to
    /// `measure` under the lock.
    probe: M,
    /// Whether the first epoch has been opened.
    started: bool,
    /// Epoch length (ms).
    epoch_ms: u64,
    /// Exploring epochs' length ([`Config::explore_permille`] of `epoch_ms`).
    explore_ms: u64,
}

impl<const N: usize, M> State<N, M> {
    /// The length of the learner's next epoch: shorter while it explores.
    fn next_epoch_ms(&self) -> u64 {
        match self.learner.phase() {
            Phase::Frozen => self.epoch_ms,
            Phase::Learn | Phase::Canary => self.explore_ms,
        }
    }
}

/// `epoch_ms × permille / 1000`, at least 1 ms.
const fn explore_ms(epoch_ms: u64, permille: u32) -> u64 {
    let ms = (epoch_ms as u128 * permille as u128 / 1000) as u64;
    if ms == 0 {
        1
    } else {
        ms
    }
}

/// One knob's learner shared by all threads, stepped on a time base.
///
/// `values[s]` is strategy `s`'s value (a capacity, a budget, an
/// interval): slow paths read the chosen one with
/// [`current_value`](Shared::current_value). `M` is the caller's
/// measurement state (e.g. counter snapshots at the last epoch end), only
/// touched by `measure` under the lock.
///
/// ```
/// use hak_elo::{Config, Shared};
/// // Candidate cache capacities; measure: cost per op of the last epoch.
/// let knob: Shared<3, u64> = Shared::new([16, 32, 64], Config::DEFAULT, 1, 0).unwrap();
/// assert_eq!(knob.current_value(), 32);
/// assert!(knob.try_step(0, |_| Some(0)).is_none()); // opens the first epoch
/// assert!(knob.try_step(100, |_| Some(7)).is_none()); // not due yet (200 ms epochs)
/// let step = knob.try_step(200, |_| Some(7)).unwrap(); // the warm-up epoch ends
/// assert_eq!(knob.current_value(), [16, 32, 64][step.strategy]);
/// ```
pub struct Shared<const N: usize, M: Copy = ()> {
    /// The try-lock over `state`.
    busy: AtomicBool,
    /// When the running epoch ends (ms, the caller's clock); 0 before the
    /// first epoch is opened.
    deadline: AtomicU64,
    /// `values[current]`.
    value: AtomicU64,
    /// The current strategy index.
    index: AtomicUsize,
    values: [u64; N],
    state: UnsafeCell<State<N, M>>,
}

// SAFETY: `state` is only accessed by the thread holding `busy` (acquired
// with Acquire, released with Release), so accesses are ordered; everything
// else is atomic or immutable. `M` moves between threads with the lock.
unsafe impl<const N: usize, M: Copy + Send> Sync for Shared<N, M> {}

impl<const N: usize, M: Copy> Shared<N, M> {
    hak_os::loom_const_fn! {
        /// A driver for strategies `values` (index = strategy), starting on
        /// `initial`, with measurement state `probe`. Errors: those of
        /// [`Learner::new`] and [`Error::ZeroEpoch`].
        pub fn new(values: [u64; N], config: Config, initial: usize, probe: M) -> Result<Shared<N, M>, Error> {
            if config.epoch_ms == 0 {
                return Err(Error::ZeroEpoch);
            }
            let learner = match Learner::new(config, initial) {
                Ok(l) => l,
                Err(e) => return Err(e),
            };
            Ok(Shared {
                busy: AtomicBool::new(false),
                deadline: AtomicU64::new(0),
                value: AtomicU64::new(values[initial]),
                index: AtomicUsize::new(initial),
                values,
                state: UnsafeCell::new(State {
                    learner,
                    probe,
                    started: false,
                    epoch_ms: config.epoch_ms,
                    explore_ms: explore_ms(config.epoch_ms, config.clamped().explore_permille),
                }),
            })
        }
    }

    /// The chosen strategy's value: one relaxed load, for slow paths.
    #[inline]
    pub fn current_value(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    /// The chosen strategy's index (one relaxed load).
    #[inline]
    pub fn current(&self) -> usize {
        self.index.load(Ordering::Relaxed)
    }

    /// The strategies' values.
    pub const fn values(&self) -> &[u64; N] {
        &self.values
    }

    /// Whether an epoch is due at `now_ms` (one relaxed load): the cheap
    /// test a caller may make before computing anything for `try_step`.
    #[inline]
    pub fn due(&self, now_ms: u64) -> bool {
        now_ms >= self.deadline.load(Ordering::Relaxed)
    }

    /// Ends the running epoch if it is due at `now_ms` and no other thread
    /// is stepping: calls `measure` (under the lock, with the measurement
    /// state) for the epoch's cost, steps the learner, publishes the next
    /// strategy and starts the next epoch (`now_ms + epoch_ms`, or the
    /// shorter exploring length while the learner is in LEARN or CANARY).
    ///
    /// Returns the step, or `None` when nothing was stepped: not due,
    /// another thread holds the lock (this one returns at once), the first
    /// call (it only opens the first epoch: `measure` runs so it can take
    /// its snapshots and its cost is discarded), or `measure` returned
    /// `None` (no evidence, e.g. no operations: the epoch restarts and the
    /// learner is unchanged).
    pub fn try_step(&self, now_ms: u64, measure: impl FnOnce(&mut M) -> Option<u64>) -> Option<Step> {
        if !self.due(now_ms) {
            return None;
        }
        self.locked(|st| {
            // Re-checked under the lock: another thread may just have stepped.
            if !self.due(now_ms) {
                return None;
            }
            let cost = measure(&mut st.probe);
            let mut step = None;
            if !st.started {
                st.started = true;
            } else if let Some(cost) = cost {
                let s = st.learner.end_epoch(cost);
                self.publish(s.strategy);
                step = Some(s);
            }
            self.deadline.store(now_ms.saturating_add(st.next_epoch_ms()), Ordering::Relaxed);
            step
        })
        .flatten()
    }

    /// Runs `f` on the learner (for reports) unless a thread is stepping it
    /// (then `None`, at once).
    pub fn with_learner<R>(&self, f: impl FnOnce(&Learner<N>) -> R) -> Option<R> {
        self.locked(|st| f(&st.learner))
    }

    /// Replaces the learner (a new configuration, e.g. from the
    /// environment at start-up) and publishes `initial`; the next
    /// `try_step` opens a fresh first epoch. The measurement state is kept.
    /// `Err(Error::Busy)` if a thread is stepping; configuration errors as
    /// in [`new`](Shared::new). Nothing changes on error.
    pub fn reconfigure(&self, config: Config, initial: usize) -> Result<(), Error> {
        if config.epoch_ms == 0 {
            return Err(Error::ZeroEpoch);
        }
        let learner = Learner::new(config, initial)?;
        self.locked(|st| {
            st.learner = learner;
            st.started = false;
            st.epoch_ms = config.epoch_ms;
            st.explore_ms = explore_ms(config.epoch_ms, config.clamped().explore_permille);
            self.publish(initial);
            self.deadline.store(0, Ordering::Relaxed);
        })
        .ok_or(Error::Busy)
    }

    /// Re-opens LEARN ([`Learner::reopen`]) unless a thread is stepping the
    /// learner; publishes the strategy of its next epoch and makes that
    /// epoch due at once (its caller's measurement decides whether the epoch
    /// that ends then is scored). Returns whether LEARN was re-opened.
    pub fn reopen(&self) -> bool {
        self.locked(|st| {
            st.learner.reopen();
            self.publish(st.learner.current());
            self.deadline.store(0, Ordering::Relaxed);
        })
        .is_some()
    }

    /// The value of the learner's best strategy ([`Learner::best`]: the
    /// frozen one, or the best-rated so far while learning); `None` while a
    /// thread is stepping it.
    pub fn best_value(&self) -> Option<u64> {
        self.locked(|st| self.values.get(st.learner.best()).copied()).flatten()
    }

    /// Runs `f` on the state under the try-lock; `None` (at once) if
    /// another thread holds it.
    fn locked<R>(&self, f: impl FnOnce(&mut State<N, M>) -> R) -> Option<R> {
        // Test first: a held lock costs a load, not a cache-line write.
        if self.busy.load(Ordering::Relaxed)
            || self.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err()
        {
            return None;
        }
        let r = {
            let cell = self.state.get_mut();
            // SAFETY: this thread holds the lock, the only way to `state`;
            // the access ends with `cell`, before the lock is released.
            f(unsafe { cell.deref() })
        };
        self.busy.store(false, Ordering::Release);
        Some(r)
    }

    /// For a `fork` child: releases the lock if a thread of the parent
    /// held it at the fork (that thread does not exist in the child).
    /// Call only while no other thread of the child can step.
    pub fn after_fork_child(&self) {
        self.busy.store(false, Ordering::Release);
    }

    fn publish(&self, s: usize) {
        if let Some(&v) = self.values.get(s) {
            self.value.store(v, Ordering::Relaxed);
            self.index.store(s, Ordering::Relaxed);
        }
    }
}
