//! Threads: a key whose destructor runs at thread exit, fork and exit
//! handlers, and the calling thread's identity.
//!
//! Users: the router's `init` (the thread-exit key, fork handlers, the
//! stats exit handler) and `ctx_slow` (the key's value); hak-ffi's
//! foreign-pointer detection ([`id`]).

use core::ffi::c_void;

/// A thread-specific data key (`pthread_key_t`) made by [`key_create`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key(libc::pthread_key_t);

impl Key {
    /// The key as a number, e.g. to keep it in an atomic (keys are small:
    /// glibc numbers them from 0 up to `PTHREAD_KEYS_MAX`).
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The key numbered `i` (the inverse of [`Key::index`]). A number no
    /// [`key_create`] returned makes [`set_value`] fail, nothing worse.
    pub const fn from_index(i: usize) -> Key {
        Key(i as libc::pthread_key_t)
    }
}

/// Creates a key whose `destructor` runs at the exit of every thread that
/// set a non-null value for it ([`set_value`]), with that value as its
/// argument (`pthread_key_create`). `None` when the process is out of keys.
///
/// glibc allocates nothing for the first 32 keys of a process; later keys
/// and their values may make it call `calloc`.
pub fn key_create(destructor: extern "C" fn(*mut c_void)) -> Option<Key> {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: key is a valid out-parameter; the destructor is a safe
    // `extern "C"` function, callable with any pointer.
    if unsafe { libc::pthread_key_create(&mut key, Some(destructor)) } == 0 {
        Some(Key(key))
    } else {
        None
    }
}

/// Sets the calling thread's value of `key` (`pthread_setspecific`);
/// false when the key is not valid. The destructor runs at thread exit if
/// the value is not null then.
///
/// For keys below 32 glibc stores the value in the thread descriptor
/// without allocating; higher keys may allocate their second-level array
/// (re-entering `malloc`).
pub fn set_value(key: Key, value: *mut c_void) -> bool {
    // SAFETY: pthread_setspecific only stores the value; an invalid key is
    // reported as EINVAL.
    unsafe { libc::pthread_setspecific(key.0, value.cast_const()) == 0 }
}

/// The calling thread's value of `key` (`pthread_getspecific`); null if it
/// set none.
pub fn value(key: Key) -> *mut c_void {
    // SAFETY: pthread_getspecific only reads; an invalid key reads as null.
    unsafe { libc::pthread_getspecific(key.0) }
}

/// Registers fork handlers (`pthread_atfork`): `prepare` runs in the
/// parent before `fork`, `parent` in the parent after it, `child` in the
/// child. False on failure (out of memory). glibc allocates the handler
/// record with `malloc`: call this only once the allocator can serve a
/// re-entrant call.
pub fn atfork(prepare: extern "C" fn(), parent: extern "C" fn(), child: extern "C" fn()) -> bool {
    // SAFETY: the handlers are safe `extern "C"` functions without
    // arguments.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) == 0 }
}

/// Registers `f` to run at normal process exit (`atexit`), after the
/// handlers registered later. False on failure. Like [`atfork`], may
/// allocate.
pub fn atexit(f: extern "C" fn()) -> bool {
    // SAFETY: `f` is a safe `extern "C"` function without arguments.
    unsafe { libc::atexit(f) == 0 }
}

/// The calling thread's identity (`pthread_self`, an address in glibc):
/// distinct between live threads, never 0, and may be reused by a thread
/// started after this one exits. Reads the thread pointer; no system call.
#[inline]
pub fn id() -> usize {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as usize }
}
