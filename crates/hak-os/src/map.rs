//! Virtual memory: reservation, aligned mappings, decommit, remapping,
//! residency, and the page size.
//!
//! All mappings are private, anonymous and read-write. "Decommit" is
//! `madvise(MADV_DONTNEED)`: the range stays mapped and reads back as zeros,
//! but its physical pages return to the OS.
//!
//! [`page_size`] is the process's one page-size cache. [`residency`] serves
//! hak-bigcache's zeroing and trimming probes, [`move_mapping`] its
//! `realloc`.
//!
//! With the `fault-injection` feature, [`map`] (and so [`map_aligned`]),
//! [`remap_in_place`] when it grows and [`move_mapping`] can be made to
//! fail on chosen calls (see [`fault`](crate::fault)); without it they
//! hold no trace of it.

use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

/// The cached page size (0 until first read).
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The OS page size (4 KiB on x86-64 Linux): `sysconf(_SC_PAGESIZE)`, read
/// once; 4096 if that fails or is not a power of two. hakmem's only page
/// size cache.
#[inline]
pub fn page_size() -> usize {
    let v = PAGE_SIZE.load(Ordering::Relaxed);
    if v != 0 {
        return v;
    }
    page_size_slow()
}

#[cold]
fn page_size_slow() -> usize {
    // SAFETY: sysconf has no preconditions; for _SC_PAGESIZE glibc returns
    // a value the loader cached, without allocating and without touching
    // errno (hak-ffi's `valloc`/`pvalloc` rely on that: errno is unchanged
    // on success).
    let r = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let v = if r > 0 && (r as usize).is_power_of_two() { r as usize } else { 4096 };
    PAGE_SIZE.store(v, Ordering::Relaxed);
    v
}

/// Whether every mapped byte counts against a limit ([`mapping_counted`]):
/// 0 before the first read, 1 no, 2 yes.
static COUNTED: AtomicUsize = AtomicUsize::new(0);

/// Whether every mapped byte counts against a limit the process lives
/// under, touched or not: an address-space limit (`RLIMIT_AS`, `ulimit
/// -v`), or strict overcommit (`vm.overcommit_memory=2`, which charges
/// every private writable byte to the commit limit until it is unmapped;
/// `MADV_DONTNEED` does not uncharge it). Then a slab page grows by what
/// its blocks need, not by doubling, every segment maps only what its
/// pages carve, and a purged page is unmapped (decisions 0045, 0048). Read
/// once, at first use (a limit set later is not seen).
#[inline]
pub fn mapping_counted() -> bool {
    match COUNTED.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => mapping_counted_slow(),
    }
}

#[cold]
fn mapping_counted_slow() -> bool {
    let mut r = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: `r` is a valid out-parameter; getrlimit cannot fail for
    // RLIMIT_AS with a valid pointer.
    let limited = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut r) } == 0 && r.rlim_cur != libc::RLIM_INFINITY;
    let counted = limited || strict_overcommit();
    COUNTED.store(if counted { 2 } else { 1 }, Ordering::Relaxed);
    counted
}

/// Whether the kernel's overcommit policy is strict
/// (`/proc/sys/vm/overcommit_memory` reads 2).
/// errno is left as it was (a missing `/proc` is not the caller's error).
pub fn strict_overcommit() -> bool {
    let mut buf = [0u8; 8];
    let mut n = 0;
    quiet(|| {
        n = crate::process::read_file(c"/proc/sys/vm/overcommit_memory", &mut buf).unwrap_or(0);
        n != 0
    });
    buf[..n].first() == Some(&b'2')
}

/// True when fault injection makes the calling thread's current mapping
/// attempt fail (see [`fault`](crate::fault)); it then sets `errno` to
/// `ENOMEM`, as the kernel would.
#[cfg(feature = "fault-injection")]
#[inline]
fn injected_failure() -> bool {
    if crate::fault::should_fail() {
        crate::set_errno(libc::ENOMEM);
        return true;
    }
    false
}

/// Maps `size` bytes (a page multiple) of zeroed memory anywhere; null on
/// failure. The mapping is charged to the process's commit like any
/// private writable mapping (no `MAP_NORESERVE`), so the kernel's
/// overcommit policy applies: a request it would refuse to `brk` or a plain
/// `mmap` (one larger than RAM and swap under the default heuristic, or
/// beyond the commit limit under `vm.overcommit_memory=2`) fails here too,
/// and `malloc` returns NULL with `ENOMEM` instead of a block the OOM killer
/// ends the process for when it is touched.
pub fn map(size: usize) -> *mut u8 {
    map_with(size, 0)
}

/// Maps `size` bytes of zeroed memory that is not charged to the commit
/// (`MAP_NORESERVE`): for tables that are mostly never touched (the
/// segment map), whose reservation says nothing about the memory used.
pub fn map_reserve(size: usize) -> *mut u8 {
    map_with(size, libc::MAP_NORESERVE)
}

fn map_with(size: usize, extra_flags: libc::c_int) -> *mut u8 {
    #[cfg(feature = "fault-injection")]
    if injected_failure() {
        return ptr::null_mut();
    }
    // SAFETY: an anonymous private mapping at a kernel-chosen address has no
    // preconditions; failure is reported as MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra_flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        p.cast()
    }
}

/// Unmaps `[p, p+size)`.
///
/// # Safety
/// The range must be a mapping (or part of one) made by this module that no
/// one uses any more.
pub unsafe fn unmap(p: *mut u8, size: usize) {
    // SAFETY: forwarded contract.
    unsafe { try_unmap(p, size) };
}

/// [`unmap`], reporting whether the kernel did it: unmapping part of a
/// mapping splits it in two, which fails (`ENOMEM`, errno restored) when
/// the process is at `vm.max_map_count`; the range is then still mapped.
///
/// # Safety
/// As [`unmap`].
pub unsafe fn try_unmap(p: *mut u8, size: usize) -> bool {
    if size == 0 {
        return true;
    }
    // SAFETY: per the caller's contract.
    quiet(|| unsafe { libc::munmap(p.cast(), size) } == 0)
}

/// Maps `size` bytes (a page multiple) exactly at `addr` (page-aligned) if
/// no mapping is there (`MAP_FIXED_NOREPLACE`: never replaces one); null
/// otherwise, errno untouched (a taken range or a limit is an expected
/// outcome: the callers have a fallback or report the failure themselves).
/// A kernel older than 4.17 takes the flag as a hint: a mapping it places
/// elsewhere is undone and null returned.
pub fn map_at(addr: *mut u8, size: usize) -> *mut u8 {
    match map_exactly(addr, size) {
        MapAt::Mapped(p) => p,
        MapAt::Taken | MapAt::Refused => ptr::null_mut(),
    }
}

/// What [`map_exactly`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapAt {
    /// Mapped at the address asked for.
    Mapped(*mut u8),
    /// Something is mapped in the range (`EEXIST`): it stays taken.
    Taken,
    /// The kernel refused for another reason (a limit: `ENOMEM`); may
    /// succeed later.
    Refused,
}

/// [`map_at`] that tells a taken range from a refusal; errno untouched.
pub fn map_exactly(addr: *mut u8, size: usize) -> MapAt {
    map_exactly_with(addr, size, 0)
}

/// [`map_exactly`] of memory not charged to the commit (`MAP_NORESERVE`,
/// as [`map_reserve`]): the segment map's table, placed where it chooses.
pub fn reserve_exactly(addr: *mut u8, size: usize) -> MapAt {
    map_exactly_with(addr, size, libc::MAP_NORESERVE)
}

fn map_exactly_with(addr: *mut u8, size: usize, extra_flags: libc::c_int) -> MapAt {
    // SAFETY: __errno_location always returns this thread's errno.
    let saved = unsafe { *libc::__errno_location() };
    let r = try_map_at(addr, size, extra_flags);
    if r.is_err() {
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = saved };
    }
    match r {
        Ok(p) => MapAt::Mapped(p),
        Err(libc::EEXIST) => MapAt::Taken,
        Err(_) => MapAt::Refused,
    }
}

/// The mapping of [`map_exactly`]; on failure the `errno` of the refusal,
/// left set.
fn try_map_at(addr: *mut u8, size: usize, extra_flags: libc::c_int) -> Result<*mut u8, i32> {
    #[cfg(feature = "fault-injection")]
    if injected_failure() {
        return Err(libc::ENOMEM);
    }
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE | extra_flags;
    // SAFETY: MAP_FIXED_NOREPLACE fails rather than replace a mapping, so
    // no one's memory is touched.
    let p = unsafe { libc::mmap(addr.cast(), size, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0) };
    if p == libc::MAP_FAILED {
        return Err(crate::errno());
    }
    if p != addr.cast() {
        // SAFETY: a fresh mapping the kernel placed elsewhere; no one knows it.
        unsafe { unmap(p.cast(), size) };
        return Err(libc::EEXIST);
    }
    Ok(p.cast())
}

/// Maps `size` bytes aligned to `align` (a power of two >= the page size);
/// null on failure. Never holds more than `size` bytes of address space
/// unless both cheap ways fail: first a plain mapping, kept when it
/// happens to be aligned (the kernel aligns large anonymous mappings to
/// huge pages, so often it is); else, once that is unmapped, a mapping at
/// the aligned address just below it ([`map_at`]: the kernel maps downwards,
/// so the range below a fresh mapping is normally free); only then the
/// classic over-reservation of `size + align`, trimmed at both ends (which
/// needs `align` more bytes of address space for a moment, too many under
/// a tight `ulimit -v`).
pub fn map_aligned(size: usize, align: usize) -> *mut u8 {
    let Some(total) = size.checked_add(align) else { return ptr::null_mut() };
    let p = map(size);
    if p.is_null() {
        return p;
    }
    if (p as usize) & (align - 1) == 0 {
        return p;
    }
    // SAFETY: we just mapped it and nobody else knows it.
    unsafe { unmap(p, size) };
    let below = (p as usize) & !(align - 1);
    if below != 0 {
        let q = map_at(below as *mut u8, size);
        if !q.is_null() {
            return q;
        }
    }
    let raw = map(total);
    if raw.is_null() {
        return raw;
    }
    let start = raw as usize;
    let aligned = (start + align - 1) & !(align - 1);
    let head = aligned - start;
    let tail = total - head - size;
    // SAFETY: head and tail are the unused parts of our fresh mapping.
    unsafe {
        unmap(raw, head);
        unmap((aligned + size) as *mut u8, tail);
    }
    aligned as *mut u8
}

/// Returns the physical pages of `[p, p+size)` to the OS; the range stays
/// mapped and, when this returns true, reads as zeros afterwards. False
/// when the kernel refused (`MADV_DONTNEED` fails on locked memory, e.g.
/// after `mlockall`): the old contents are still there, so a caller that
/// needs zeros must clear the range itself. Parts of the range that are
/// not mapped (a slab page mapped only as far as it was carved) stay
/// unmapped: the kernel releases the mapped parts and reports `ENOMEM`,
/// which counts as success (what is mapped there later is zeros).
///
/// # Safety
/// The range must lie in a mapping made by this module and hold no live data.
pub unsafe fn decommit(p: *mut u8, size: usize) -> bool {
    if size == 0 {
        return true;
    }
    // SAFETY: per the caller's contract; a refusal is an expected outcome,
    // so errno stays as it was (`quiet` restores it).
    quiet(|| unsafe { libc::madvise(p.cast(), size, libc::MADV_DONTNEED) == 0 || crate::errno() == libc::ENOMEM })
}

/// Makes `[p, p+size)` inaccessible (`PROT_NONE`): a guard page, where a
/// read or write faults. Returns whether the kernel agreed (it refuses
/// when the process has too many mappings, `vm.max_map_count`: the range
/// then stays accessible, errno untouched).
///
/// # Safety
/// The range is page-aligned, lies in a mapping made by this module and
/// holds nothing anyone will use.
pub unsafe fn protect_none(p: *mut u8, size: usize) -> bool {
    // SAFETY: per the caller's contract.
    quiet(|| unsafe { libc::mprotect(p.cast(), size, libc::PROT_NONE) == 0 })
}

/// Replaces `[p, p+size)` by an inaccessible, unbacked range (`mmap` with
/// `MAP_FIXED`, `PROT_NONE`, `MAP_NORESERVE`): its pages are released and
/// no longer charged to the commit limit, the addresses stay reserved (no
/// later `mmap` gets them) and any access faults. Returns whether the
/// kernel agreed (errno untouched when not; the range is then unchanged).
///
/// # Safety
/// The range is page-aligned, lies in a mapping made by this module and
/// holds nothing anyone will use.
pub unsafe fn quarantine(p: *mut u8, size: usize) -> bool {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE;
    // SAFETY: per the caller's contract (MAP_FIXED replaces only our range).
    quiet(|| unsafe { libc::mmap(p.cast(), size, libc::PROT_NONE, flags, -1, 0) } == p.cast())
}

/// Runs `f`, a system call whose failure the caller handles as an expected
/// outcome (an advice the kernel may refuse, an attempt with a fallback),
/// and restores errno when it returns false: an allocation that succeeds
/// never reports an error (glibc's `malloc` and `realloc` leave errno
/// alone on success).
#[inline]
pub fn quiet(f: impl FnOnce() -> bool) -> bool {
    // SAFETY: __errno_location always returns this thread's errno.
    let saved = unsafe { *libc::__errno_location() };
    let ok = f();
    if !ok {
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = saved };
    }
    ok
}

/// The growth hook (see [`set_growth_hook`]); null when unset.
static GROWTH_HOOK: core::sync::atomic::AtomicPtr<()> = core::sync::atomic::AtomicPtr::new(ptr::null_mut());

/// Registers `f` to run whenever a slab tier grows the allocator's
/// footprint (it calls [`growth`] before taking a page of a new segment or
/// one it had returned to the OS). The router uses it to cut the big-block
/// cache's resident pages first (a program whose footprint grows should
/// not also keep freed memory resident; the big-block tier cuts its own
/// cache when it grows). `f` must not take a slab tier's lock.
pub fn set_growth_hook(f: fn()) {
    GROWTH_HOOK.store(f as *mut (), core::sync::atomic::Ordering::Release);
}

/// Runs the growth hook, if one is registered (see [`set_growth_hook`]).
/// Callers hold no allocator lock.
pub fn growth() {
    let hook = GROWTH_HOOK.load(core::sync::atomic::Ordering::Acquire);
    if !hook.is_null() {
        // SAFETY: only `set_growth_hook` stores a non-null value, a `fn()`
        // cast to a data pointer (the same size on every target we build).
        let f: fn() = unsafe { core::mem::transmute::<*mut (), fn()>(hook) };
        f();
    }
}

/// Advises that `[p, p+size)` should (`on`) or should not use transparent
/// huge pages. The advice stays with the mapping until changed.
///
/// # Safety
/// The range must lie in a mapping made by this module.
pub unsafe fn advise_huge(p: *mut u8, size: usize, on: bool) {
    let advice = if on { libc::MADV_HUGEPAGE } else { libc::MADV_NOHUGEPAGE };
    // SAFETY: this advice only changes kernel policy (a kernel without THP
    // refuses it; errno stays as it was).
    quiet(|| unsafe { libc::madvise(p.cast(), size, advice) == 0 });
}

/// Tries to grow or shrink the mapping `[p, p+old)` to `new` bytes without
/// moving it. Returns true on success.
///
/// # Safety
/// `[p, p+old)` must be one whole mapping made by this module.
pub unsafe fn remap_in_place(p: *mut u8, old: usize, new: usize) -> bool {
    // Only growth needs memory; an injected failure, like a real one,
    // leaves errno alone.
    #[cfg(feature = "fault-injection")]
    if new > old && crate::fault::should_fail() {
        return false;
    }
    // A failure here is an expected outcome, not an error: keep errno as it
    // was so a successful realloc never reports ENOMEM.
    // SAFETY: without MREMAP_MAYMOVE the mapping either stays or fails.
    quiet(|| unsafe { libc::mremap(p.cast(), old, new, 0) } != libc::MAP_FAILED)
}

/// Moves the mapping `[src, src+old)` to `dest`, resized to `new` bytes
/// (`mremap(MREMAP_MAYMOVE | MREMAP_FIXED)`): the pages keep their contents
/// (and their advice) and appear at `[dest, dest+new)`, growing with zeros
/// past `old`; whatever was mapped at `[dest, dest+new)` is unmapped first,
/// atomically, and `[src, src+old)` is no longer mapped. Returns true on
/// success. On failure nothing changed (the source is still mapped with
/// its contents, the destination as it was) and `errno` is left as it was
/// (the caller has a fallback, as in [`quiet`]).
///
/// The big-block tier reserves `dest` with [`map_aligned`] first (so the
/// move keeps segment alignment and the destination range is its own while
/// it registers it), then moves onto it (`BigCache::realloc`).
///
/// # Safety
/// `[src, src+old)` must be one whole mapping made by this module that no
/// one uses during the move, and `[dest, dest+new)` a range no one else
/// uses (normally a reservation of the caller's), not overlapping the
/// source.
pub unsafe fn move_mapping(src: *mut u8, old: usize, new: usize, dest: *mut u8) -> bool {
    #[cfg(feature = "fault-injection")]
    if crate::fault::should_fail() {
        return false;
    }
    // SAFETY: per the caller's contract; with MREMAP_FIXED the kernel
    // replaces only [dest, dest+new), which the caller owns.
    quiet(|| unsafe {
        libc::mremap(src.cast(), old, new, libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED, dest.cast::<libc::c_void>())
            != libc::MAP_FAILED
    })
}

/// Fills `out` with the residency of the pages of `[p, p+len)`
/// (`mincore`): byte `i` has bit 0 set when page `i` of the range is in
/// memory. `p` must be page-aligned; `len` is rounded up to whole pages.
/// Returns false, and leaves `out` unspecified, when `mincore` fails (a
/// page of the range is not mapped, `p` is not aligned) or `out` has fewer
/// bytes than the range has pages. `errno` is left as `mincore` set it.
///
/// Looks only at page tables: touches no page of the range and faults none
/// in. hak-bigcache's `clear_chunk` counts a failure as "all resident",
/// its `dense` as "not dense".
pub fn residency(p: *const u8, len: usize, out: &mut [u8]) -> bool {
    let ps = page_size();
    let pages = (len >> ps.trailing_zeros()) + usize::from(len & (ps - 1) != 0);
    if pages > out.len() {
        return false;
    }
    // SAFETY: `out` holds a byte for each of the range's pages; mincore
    // writes only those and reads nothing but page tables (an unmapped
    // range is reported as ENOMEM, not touched).
    unsafe { libc::mincore(p as *mut libc::c_void, len, out.as_mut_ptr()) == 0 }
}
