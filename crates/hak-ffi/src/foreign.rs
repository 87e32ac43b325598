//! Pointers hakmem does not own ("foreign" pointers).
//!
//! A pointer for which `hakmem::owns` is false is never dereferenced by
//! hakmem. It is either handed to the next allocator in the symbol chain
//! (glibc's `free` / `malloc_usable_size`, found with `dlsym(RTLD_NEXT, …)`)
//! when that allocator owns it, or reported as an invalid pointer (message on
//! stderr, then `abort()`, as glibc does).
//!
//! ## "Owned by glibc"
//!
//! hakmem never uses `brk`: all its memory comes from `mmap`. So a pointer that
//! lies in the program-break heap, `[start_brk, sbrk(0))`, can only come from
//! glibc's main arena (or from a program managing `brk` itself, in which case
//! glibc's own checks decide, exactly as without hakmem). The current top is
//! `sbrk(0)` (reads glibc's cached `__curbrk`, no system call, no allocation).
//! The bottom is the lower of two values:
//!
//! * `sbrk(0)` recorded by [`record_brk`] at init (`hak_ffi::init`, called
//!   from the library constructor). Under `LD_PRELOAD` the constructor runs
//!   before glibc's malloc has ever been used, so the break at init *is* the
//!   start of the heap. This is the only thing done at start-up (one call);
//! * the kernel's `start_brk`, field 47 of `/proc/self/stat` (Linux >= 3.5),
//!   read once, lazily, when the first foreign pointer shows up, with
//!   `open`/`read` into a stack buffer: it is the exact start of the `[heap]`
//!   mapping, also when glibc grew the heap before hakmem was initialised
//!   (hakmem loaded by `dlopen`, or `__libc_malloc` called directly by an
//!   earlier constructor). Without `/proc` the init value alone is used.
//!
//! Rejected alternatives: the linker symbol `end` marks the end of the
//! executable's bss, but the kernel randomises the heap start up to 32 MiB
//! above it, and `end` is not reliably visible from a shared library;
//! `/proc/self/maps` needs an unbounded parse on every lookup.
//!
//! Not recognised (reported as invalid): blocks glibc served with `mmap`
//! (>= 128 KiB by default) or from its per-thread arenas. Recognising them
//! would mean reading glibc's chunk header in front of the pointer, which
//! breaks the rule that foreign memory is never dereferenced. Under
//! `LD_PRELOAD` glibc's malloc is not used at all (every call is interposed),
//! so these only arise when code calls `__libc_malloc` directly.
//!
//! ## Resolving the next allocator
//!
//! `dlsym(RTLD_NEXT, "free")` and `dlsym(RTLD_NEXT, "malloc_usable_size")` are
//! resolved once, lazily (the first time a glibc-owned pointer shows up),
//! outside any lock. `dlsym` may itself call `malloc`/`calloc`/`free`; those
//! calls re-enter hakmem and simply proceed (allocation does not depend on the
//! resolution). If the resolving thread re-enters this module for another
//! foreign pointer while still inside `dlsym`, the lookup reports `Busy` and
//! the caller degrades gracefully (free: the block is leaked; usable size: 0;
//! realloc: `NULL`/`ENOMEM` with the old block kept) instead of recursing.
//! Other threads never wait for the resolver: they call `dlsym` themselves
//! (the results are identical), so a thread holding the loader lock while
//! freeing a foreign pointer cannot deadlock against a resolver that is
//! waiting for that lock. `realloc` of the next allocator is deliberately not
//! resolved: a foreign block being reallocated is migrated into hakmem
//! (allocate, copy `min(usable, n)`, forward-free), so later frees of it take
//! the fast path.

use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::report::invalid_pointer;
use crate::sys::{dlsym_next, errno, program_break, read_proc_self_stat, set_errno, thread_id, ENOMEM};

/// Program break seen by [`record_brk`] (0 = not recorded).
static BRK_AT_INIT: AtomicUsize = AtomicUsize::new(0);
/// Lowest address of the program-break heap (0 = not yet computed,
/// `usize::MAX` = unknown, i.e. nothing is recognised as glibc's).
static BRK_LO: AtomicUsize = AtomicUsize::new(0);

/// Record the current program break (idempotent; called by `hak_ffi::init`,
/// i.e. from the library constructor). One `sbrk(0)`: no system call once
/// glibc has cached the break, which it does during its own start-up.
pub(crate) fn record_brk() {
    if BRK_AT_INIT.load(Ordering::Relaxed) == 0 {
        let _ = BRK_AT_INIT.compare_exchange(0, program_break(), Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// Bottom of the program-break heap, computed on first use (the first
/// foreign pointer): the lower of the kernel's `start_brk` and the break
/// recorded at init (or the current break if init has not run).
fn brk_lo() -> usize {
    let lo = BRK_LO.load(Ordering::Relaxed);
    if lo != 0 {
        return lo;
    }
    compute_brk_lo()
}

#[cold]
#[inline(never)]
fn compute_brk_lo() -> usize {
    record_brk();
    let saved = errno();
    let at_init = BRK_AT_INIT.load(Ordering::Relaxed);
    let start = read_start_brk();
    set_errno(saved);
    let lo = match (start, at_init) {
        (0, 0) => usize::MAX,
        (0, n) => n,
        (s, 0) => s,
        (s, n) => s.min(n),
    };
    // Losing the race is fine: every thread computes the same bound.
    match BRK_LO.compare_exchange(0, lo, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => lo,
        Err(other) => other,
    }
}

/// The kernel's `start_brk` for this process (field 47 of `/proc/self/stat`),
/// or 0 when it cannot be read. Uses only `open`/`read`/`close` and a stack
/// buffer.
fn read_start_brk() -> usize {
    let mut buf = [0u8; 1024];
    let len = read_proc_self_stat(&mut buf);
    parse_start_brk(&buf[..len])
}

/// Extract field 47 (`start_brk`) from the text of `/proc/<pid>/stat`.
/// Field 2 (`comm`) is parenthesised and may contain spaces or `)`, so fields
/// are counted from the last `)`. Returns 0 when absent or malformed.
fn parse_start_brk(stat: &[u8]) -> usize {
    let Some(close) = stat.iter().rposition(|&c| c == b')') else {
        return 0;
    };
    // The token after ')' is field 3; field 47 is the 45th token.
    let Some(tok) = stat[close + 1..].split(|&c| c == b' ' || c == b'\n').filter(|t| !t.is_empty()).nth(47 - 3) else {
        return 0;
    };
    let mut v: usize = 0;
    for &c in tok {
        if !c.is_ascii_digit() {
            return 0;
        }
        v = match v.checked_mul(10).and_then(|v| v.checked_add((c - b'0') as usize)) {
            Some(v) => v,
            None => return 0,
        };
    }
    v
}

/// True when `p` lies in glibc's program-break heap (see the module doc).
/// Never dereferences `p`.
pub(crate) fn glibc_owns(p: *const u8) -> bool {
    let lo = brk_lo();
    let a = p as usize;
    a >= lo && a < program_break()
}

/// Whether `dlsym` results are published in the slots below.
static RESOLVED: AtomicBool = AtomicBool::new(false);
/// `pthread_self()` of the thread that claimed the resolution, 0 if none.
static RESOLVER: AtomicUsize = AtomicUsize::new(0);
/// Address of the next allocator's `free` (0 = absent).
static NEXT_FREE: AtomicUsize = AtomicUsize::new(0);
/// Address of the next allocator's `malloc_usable_size` (0 = absent).
static NEXT_USABLE: AtomicUsize = AtomicUsize::new(0);

/// Result of looking up a function of the next allocator.
enum Lookup {
    /// The function's address.
    Found(usize),
    /// There is no next allocator providing it.
    Missing,
    /// This thread is itself inside `dlsym` resolving it (re-entry).
    Busy,
}

/// Look up one slot, resolving all slots on first use.
fn lookup(slot: &AtomicUsize) -> Lookup {
    if !RESOLVED.load(Ordering::Acquire) && !resolve() {
        return Lookup::Busy;
    }
    match slot.load(Ordering::Relaxed) {
        0 => Lookup::Missing,
        f => Lookup::Found(f),
    }
}

/// Resolve the next allocator's functions. Returns false only on re-entry
/// from the thread currently inside `dlsym` for us.
#[cold]
#[inline(never)]
fn resolve() -> bool {
    let me = thread_id();
    if RESOLVER.load(Ordering::Acquire) == me {
        return false;
    }
    let claimed = RESOLVER.compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire).is_ok();
    // `dlsym` may call malloc/calloc, which re-enter hakmem's allocation
    // path; that path does not depend on this resolution.
    let f = dlsym_next(c"free");
    let u = dlsym_next(c"malloc_usable_size");
    NEXT_FREE.store(f, Ordering::Relaxed);
    NEXT_USABLE.store(u, Ordering::Relaxed);
    RESOLVED.store(true, Ordering::Release);
    if claimed {
        RESOLVER.store(0, Ordering::Release);
    }
    true
}

/// Signature of `free`.
type FreeFn = unsafe extern "C" fn(*mut c_void);
/// Signature of `malloc_usable_size`.
type UsableFn = unsafe extern "C" fn(*mut c_void) -> usize;

/// Call the next allocator's `free` on `p`.
///
/// # Safety
/// `f` must be the address of a `free` function returned by `dlsym`.
unsafe fn call_free(f: usize, p: *mut u8) {
    // SAFETY: per the contract `f` is the non-null address of a function with
    // the C signature of `free`.
    let f: FreeFn = unsafe { core::mem::transmute::<usize, FreeFn>(f) };
    // SAFETY: `p` is a live block of the next allocator (caller's check).
    unsafe { f(p.cast()) }
}

/// Call the next allocator's `malloc_usable_size` on `p`.
///
/// # Safety
/// `f` must be the address of a `malloc_usable_size` returned by `dlsym`.
unsafe fn call_usable(f: usize, p: *const u8) -> usize {
    // SAFETY: per the contract `f` is the non-null address of a function with
    // the C signature of `malloc_usable_size`.
    let f: UsableFn = unsafe { core::mem::transmute::<usize, UsableFn>(f) };
    // SAFETY: `p` is a live block of the next allocator (caller's check).
    unsafe { f(p.cast_mut().cast()) }
}

/// `free` of a non-null pointer hakmem does not own.
///
/// # Safety
/// `p` must not be a hakmem block; if it is a glibc block it must be live.
#[cold]
#[inline(never)]
pub(crate) unsafe fn free(p: *mut u8, func: &[u8]) {
    let saved = errno();
    if glibc_owns(p) {
        match lookup(&NEXT_FREE) {
            // SAFETY: `f` came from dlsym("free") and `p` is glibc's.
            Lookup::Found(f) => unsafe { call_free(f, p) },
            // Re-entered from our own dlsym: leak this block rather than recurse.
            Lookup::Busy => {}
            Lookup::Missing => invalid_pointer(func, p),
        }
        set_errno(saved);
        return;
    }
    invalid_pointer(func, p)
}

/// `malloc_usable_size` of a non-null pointer hakmem does not own: the next
/// allocator's answer when glibc owns it, else 0.
///
/// # Safety
/// If `p` is a glibc block it must be live.
#[cold]
#[inline(never)]
pub(crate) unsafe fn usable_size(p: *const u8) -> usize {
    if !glibc_owns(p) {
        return 0;
    }
    let saved = errno();
    let n = match lookup(&NEXT_USABLE) {
        // SAFETY: `f` came from dlsym("malloc_usable_size") and `p` is glibc's.
        Lookup::Found(f) => unsafe { call_usable(f, p) },
        Lookup::Missing | Lookup::Busy => 0,
    };
    set_errno(saved);
    n
}

/// `realloc` of a non-null pointer hakmem does not own (glibc semantics):
/// `n == 0` frees it and returns null; otherwise the block migrates into
/// hakmem (allocate, copy `min(usable, n)`, free the old block with the next
/// allocator's `free`). On failure returns null with `errno = ENOMEM`, the old
/// block untouched. A pointer no allocator owns is reported and aborts.
///
/// # Safety
/// `p` must not be a hakmem block; if it is a glibc block it must be live.
#[cold]
#[inline(never)]
pub(crate) unsafe fn realloc(p: *mut u8, n: usize) -> *mut u8 {
    if !glibc_owns(p) {
        invalid_pointer(b"realloc", p);
    }
    if n == 0 {
        // SAFETY: forwarded contract.
        unsafe { free(p, b"realloc") };
        return core::ptr::null_mut();
    }
    if n > isize::MAX as usize {
        set_errno(ENOMEM);
        return core::ptr::null_mut();
    }
    let saved = errno();
    let (free_fn, usable_fn) = match (lookup(&NEXT_FREE), lookup(&NEXT_USABLE)) {
        (Lookup::Found(f), Lookup::Found(u)) => (f, u),
        (Lookup::Busy, _) | (_, Lookup::Busy) => {
            set_errno(ENOMEM);
            return core::ptr::null_mut();
        }
        _ => invalid_pointer(b"realloc", p),
    };
    let q = hakmem::alloc(n);
    if q.is_null() {
        set_errno(ENOMEM);
        return q;
    }
    // SAFETY: `usable_fn` is glibc's malloc_usable_size and `p` is live.
    let old = unsafe { call_usable(usable_fn, p) };
    // SAFETY: `p` is readable for `old` bytes (its usable size), `q` is a
    // fresh block of at least `n` bytes, and they cannot overlap (`q` is
    // hakmem's, `p` glibc's).
    unsafe { core::ptr::copy_nonoverlapping(p, q, old.min(n)) };
    // SAFETY: `free_fn` is glibc's free and `p` is live and now unused.
    unsafe { call_free(free_fn, p) };
    set_errno(saved);
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_start_brk() {
        let line = b"1234 (my (weird) prog) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 \
            5000 1000000 200 18446744073709551615 94000000000000 94000000100000 140000000000000 \
            0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0 94000000200000 94000000210000 94000000300000 \
            140000000001000 140000000002000 140000000002000 140000000003000 0\n";
        assert_eq!(parse_start_brk(line), 94000000300000);
        assert_eq!(parse_start_brk(b"1 (x) S 1 2 3"), 0);
        assert_eq!(parse_start_brk(b"no paren"), 0);
    }

    #[test]
    fn start_brk_matches_kernel() {
        let s = read_start_brk();
        assert_ne!(s, 0);
        record_brk();
        let lo = brk_lo();
        assert!(lo <= s);
        assert!(lo != 0 && lo <= program_break());
    }

    #[test]
    fn stack_is_not_glibc() {
        let x = 0u8;
        assert!(!glibc_owns(&x));
        assert!(!glibc_owns(core::ptr::null()));
    }
}
