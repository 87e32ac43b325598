//! Where the kernel places memory (x86-64 Linux, top-down layout), as far
//! as the segment map needs to know: the band of address space between the
//! point where `mmap` places memory and the reach of the main stack, which
//! no mapping enters unless a program asks for that address itself.
//!
//! The kernel maps top-down from `mmap_base`, which lies below the stack by
//! the stack's limit plus its random offset (at most 16 GiB) plus a random
//! gap of up to 1 TiB (`vm.mmap_rnd_bits` = 28). Nothing lands in that gap
//! on its own: an address hint or `MAP_FIXED` is needed. The segment map
//! leaves the part of its table that describes the gap unmapped (0.1 to
//! 2.1 MiB of address space, which `ulimit -v` counts) and places the table
//! itself in the gap, so that a lookup there (only a pointer into a mapping
//! placed there on purpose: a misuse) faults rather than reading another
//! mapping (decision 0045).
//!
//! The band's lower end: a one-page probe lands in the highest free gap
//! below `mmap_base`, so at that moment everything between the probe and
//! `mmap_base` is mapped, and `mmap_base` lies at most the process's whole
//! address space (`/proc/self/statm`'s first field) above the probe. Its
//! upper end: the top of the 47-bit space less the stack's random offset,
//! its limit (`RLIMIT_STACK`) and a slack. No band when the stack has no
//! limit (or a very large one), in the legacy bottom-up layout, when
//! `/proc` cannot be read, or on other architectures.

/// Top of the address space `mmap` uses without a hint above it (47 bits).
#[cfg(target_arch = "x86_64")]
const TOP: usize = 1 << 47;
/// The kernel's largest random offset of the stack's top on x86-64
/// (`STACK_RND_MASK` pages).
#[cfg(target_arch = "x86_64")]
const STACK_RANDOM: usize = 16 << 30;
/// Room kept on both sides of the band for what is not modelled (guard
/// gaps, alignment of mappings, the vDSO near the stack).
#[cfg(target_arch = "x86_64")]
const SLACK: usize = 1 << 30;
/// Stack limits above this make no band (the stack may reach that far).
#[cfg(target_arch = "x86_64")]
const MAX_STACK: usize = 64 << 30;

/// The band `[lo, hi)` of addresses that the kernel does not place
/// mappings in on its own and the main stack does not reach (see the
/// module doc), or None when it cannot be told.
/// Leaves `errno` as it was (an allocation that succeeds reports no error).
#[cfg(target_arch = "x86_64")]
pub(crate) fn kernel_free_band() -> Option<(usize, usize)> {
    let saved = crate::errno();
    let band = band();
    // SAFETY: __errno_location always returns this thread's errno.
    unsafe { *libc::__errno_location() = saved };
    band
}

#[cfg(target_arch = "x86_64")]
fn band() -> Option<(usize, usize)> {
    let page = crate::map::page_size();
    let p = crate::map::map_reserve(page);
    if p.is_null() {
        return None;
    }
    // SAFETY: we just mapped it and nobody else knows it.
    unsafe { crate::map::unmap(p, page) };
    if (p as usize) < TOP / 2 {
        // The legacy bottom-up layout (`setarch -L`): `mmap` maps upwards
        // from a third of the space, into what would be the band.
        return None;
    }
    let lo = (p as usize).checked_add(crate::process::vm_bytes()?)?.checked_add(SLACK)?;
    let hi = TOP.checked_sub(STACK_RANDOM + stack_limit()? + SLACK)?;
    (hi > lo).then_some((lo, hi))
}

/// Other architectures: no band (their layouts are not modelled).
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn kernel_free_band() -> Option<(usize, usize)> {
    None
}

/// The main stack's limit (`RLIMIT_STACK`, soft), None when unlimited or
/// above [`MAX_STACK`].
#[cfg(target_arch = "x86_64")]
fn stack_limit() -> Option<usize> {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `r` is a valid out-parameter.
    if unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut r) } != 0 {
        return None;
    }
    let cur = usize::try_from(r.rlim_cur).ok()?;
    (r.rlim_cur != libc::RLIM_INFINITY && cur <= MAX_STACK).then_some(cur)
}

/// A random word (`getrandom`, else the clock mixed with an address), for
/// placing tables where their address says nothing about other mappings'.
pub(crate) fn random() -> usize {
    let mut v = 0usize;
    let word = core::mem::size_of::<usize>();
    let got = || {
        // SAFETY: `v` is a word of writable bytes; GRND_NONBLOCK never blocks.
        unsafe { libc::getrandom(core::ptr::addr_of_mut!(v).cast(), word, libc::GRND_NONBLOCK) == word as isize }
    };
    if crate::map::quiet(got) {
        return v;
    }
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-parameter.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let x = (ts.tv_nsec as usize) ^ (ts.tv_sec as usize).rotate_left(32) ^ (core::ptr::addr_of!(v) as usize);
    x.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}
