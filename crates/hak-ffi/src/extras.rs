//! Introspection and glibc's extras: `hak_stats_get`, `hak_stats_print`,
//! `mallinfo2`, `mallinfo`, `malloc_stats`, `malloc_trim`, `malloc_info`,
//! `mallopt`. Every number comes from [`hakmem::snapshot`]; the mappings
//! are documented in `crates/hakmem/API.md`.
//!
//! No stdio inside the allocator: `malloc_stats` and the default
//! `hak_stats_print` write to stderr through `hak_os::diag`. `malloc_info`
//! must write to the caller's `FILE *`: it calls the C library's `fwrite`,
//! looked up once with `dlsym(RTLD_NEXT, "fwrite")`, outside every
//! allocator lock, one line at a time from a stack buffer. Writing through
//! `fwrite` (not to `fileno(fp)`) keeps the XML in order with what the
//! program already buffered in that stream and takes the stream's lock as
//! any stdio call does; stdio may allocate its buffer, which re-enters
//! malloc as any program call would.

use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

use hak_os::diag::Line;
use hakmem::Stats;

use crate::sys::{dlsym_next, EINVAL};

/// glibc's `struct mallinfo2` (glibc 2.33+), field for field.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Mallinfo2 {
    /// Non-mmapped space: resident bytes of the slab tiers.
    pub arena: usize,
    /// Free chunks: free slab pages plus cached big mappings.
    pub ordblks: usize,
    /// Fastbin blocks: blocks in the calling thread's cache.
    pub smblks: usize,
    /// Mmapped regions: live big blocks.
    pub hblks: usize,
    /// Bytes in mmapped regions: resident bytes of the big tier.
    pub hblkhd: usize,
    /// Always 0 (as in glibc).
    pub usmblks: usize,
    /// Bytes in fastbin blocks: bytes in the calling thread's cache.
    pub fsmblks: usize,
    /// Allocated non-mmapped bytes: live bytes of the slab tiers.
    pub uordblks: usize,
    /// Free non-mmapped bytes: `arena − uordblks`.
    pub fordblks: usize,
    /// Releasable bytes: what `malloc_trim` would return now.
    pub keepcost: usize,
}

/// glibc's `struct mallinfo`: [`Mallinfo2`] with `int` fields (truncated,
/// as glibc truncates).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Mallinfo {
    /// See [`Mallinfo2::arena`].
    pub arena: c_int,
    /// See [`Mallinfo2::ordblks`].
    pub ordblks: c_int,
    /// See [`Mallinfo2::smblks`].
    pub smblks: c_int,
    /// See [`Mallinfo2::hblks`].
    pub hblks: c_int,
    /// See [`Mallinfo2::hblkhd`].
    pub hblkhd: c_int,
    /// See [`Mallinfo2::usmblks`].
    pub usmblks: c_int,
    /// See [`Mallinfo2::fsmblks`].
    pub fsmblks: c_int,
    /// See [`Mallinfo2::uordblks`].
    pub uordblks: c_int,
    /// See [`Mallinfo2::fordblks`].
    pub fordblks: c_int,
    /// See [`Mallinfo2::keepcost`].
    pub keepcost: c_int,
}

const BIG: usize = 3;

/// `mallinfo2` of a snapshot.
pub fn mallinfo_of(st: &Stats) -> Mallinfo2 {
    let slab = || st.tiers.iter().take(BIG);
    let big = st.tiers.get(BIG).copied().unwrap_or_default();
    let arena: u64 = slab().map(|t| t.resident_bytes).sum();
    let used: u64 = slab().map(|t| t.live_bytes).sum();
    Mallinfo2 {
        arena: arena as usize,
        ordblks: (slab().map(|t| t.free_pages).sum::<u64>() + big.free_pages) as usize,
        smblks: slab().map(|t| t.cached_blocks).sum::<u64>() as usize,
        hblks: big.live_blocks as usize,
        hblkhd: big.resident_bytes as usize,
        usmblks: 0,
        fsmblks: slab().map(|t| t.cached_bytes).sum::<u64>() as usize,
        uordblks: used as usize,
        fordblks: arena.saturating_sub(used) as usize,
        keepcost: st.tiers.iter().map(|t| t.free_resident_bytes).sum::<u64>() as usize,
    }
}

/// `hak_stats_get`: fills the first `size` bytes of `*out` (at most
/// `sizeof(struct hak_stats)` of this library) with a snapshot and sets
/// `out->size` to the bytes filled. 0 on success; -1 with `errno = EINVAL`
/// when `out` is null or `size` is below 8 (the `size` and `version`
/// fields).
///
/// # Safety
/// `out` is null or points to `size` writable bytes.
#[inline]
pub unsafe fn stats_get(out: *mut Stats, size: usize) -> c_int {
    if out.is_null() || size < 8 {
        crate::sys::set_errno(EINVAL);
        return -1;
    }
    let mut st = hakmem::snapshot();
    let n = size.min(core::mem::size_of::<Stats>());
    st.size = n as u32;
    // SAFETY: per contract `out` has `size >= n` writable bytes; `st` has n.
    unsafe { core::ptr::copy_nonoverlapping((&st as *const Stats).cast::<u8>(), out.cast::<u8>(), n) };
    0
}

/// The callback type of `hak_stats_print`.
pub type WriteFn = unsafe extern "C" fn(arg: *mut c_void, line: *const c_char);

/// `hak_stats_print`: writes the statistics report line by line, each a
/// NUL-terminated string ending in `\n`, to `write(arg, line)`; to stderr
/// when `write` is null.
///
/// # Safety
/// `write`, when not null, may be called with `arg` and a string valid for
/// the call.
#[inline]
pub unsafe fn stats_print(write: Option<WriteFn>, arg: *mut c_void) {
    let st = hakmem::snapshot();
    match write {
        None => hakmem::print_to(&st, &mut |b| hak_os::diag::write_bytes(b)),
        Some(f) => hakmem::print_to(&st, &mut |b| {
            let mut z = [0u8; 600];
            let n = b.len().min(z.len() - 1);
            if let (Some(dst), Some(src)) = (z.get_mut(..n), b.get(..n)) {
                dst.copy_from_slice(src);
            }
            // SAFETY: per contract; `z` is NUL-terminated (its last byte is
            // never written).
            unsafe { f(arg, z.as_ptr().cast()) }
        }),
    }
}

/// `mallinfo2`: see [`Mallinfo2`] for each field.
#[inline]
pub fn mallinfo2() -> Mallinfo2 {
    mallinfo_of(&hakmem::snapshot())
}

/// `mallinfo`: [`mallinfo2`] with the fields truncated to `int`.
#[inline]
pub fn mallinfo() -> Mallinfo {
    let m = mallinfo2();
    Mallinfo {
        arena: m.arena as c_int,
        ordblks: m.ordblks as c_int,
        smblks: m.smblks as c_int,
        hblks: m.hblks as c_int,
        hblkhd: m.hblkhd as c_int,
        usmblks: m.usmblks as c_int,
        fsmblks: m.fsmblks as c_int,
        uordblks: m.uordblks as c_int,
        fordblks: m.fordblks as c_int,
        keepcost: m.keepcost as c_int,
    }
}

/// `label` then `v` right-aligned in 10 columns (glibc's `%10u`).
fn padded<'a>(l: &'a mut Line, label: &str, v: u64) -> &'a mut Line {
    let digits = if v == 0 { 1 } else { v.ilog10() as usize + 1 };
    l.s(label);
    for _ in digits..10 {
        l.s(" ");
    }
    l.u(v).s("\n")
}

/// `malloc_stats`: glibc's summary on stderr, one `Arena N:` block per slab
/// tier (tiny, L2, L2.5), then the totals including big blocks. The
/// `max mmap` lines give the current big blocks (hakmem keeps no peak).
#[inline]
pub fn malloc_stats() {
    let st = hakmem::snapshot();
    for (i, t) in st.tiers.iter().take(BIG).enumerate() {
        let mut l = Line::new();
        l.s("Arena ").u(i as u64).s(":\n");
        padded(&mut l, "system bytes     = ", t.resident_bytes);
        padded(&mut l, "in use bytes     = ", t.live_bytes);
        l.emit();
    }
    let big = st.tiers.get(BIG).copied().unwrap_or_default();
    let mut l = Line::new();
    l.s("Total (incl. mmap):\n");
    padded(&mut l, "system bytes     = ", st.resident_bytes);
    padded(&mut l, "in use bytes     = ", st.live_bytes);
    padded(&mut l, "max mmap regions = ", big.live_blocks);
    padded(&mut l, "max mmap bytes   = ", big.live_bytes);
    l.emit();
}

/// `malloc_trim`: [`hakmem::trim`] (`pad` is ignored: hakmem keeps no top
/// of heap). 1 if memory was returned to the OS, else 0.
#[inline]
pub fn malloc_trim(_pad: usize) -> c_int {
    c_int::from(hakmem::trim())
}

/// glibc's `mallopt` parameter numbers (`<malloc.h>`).
mod param {
    pub const M_MXFAST: i32 = 1;
    pub const M_TRIM_THRESHOLD: i32 = -1;
    pub const M_TOP_PAD: i32 = -2;
    pub const M_MMAP_THRESHOLD: i32 = -3;
    pub const M_MMAP_MAX: i32 = -4;
    pub const M_CHECK_ACTION: i32 = -5;
    pub const M_PERTURB: i32 = -6;
    pub const M_ARENA_TEST: i32 = -7;
    pub const M_ARENA_MAX: i32 = -8;
}

/// `mallopt`: 1 when `param` is one of glibc's and `value` one it would
/// accept, else 0. `M_TRIM_THRESHOLD` sets [`hakmem::set_trim_threshold`];
/// the others are accepted and have no effect (API.md says why for each).
#[inline]
pub fn mallopt(param: c_int, value: c_int) -> c_int {
    use param::*;
    let ok = match param {
        M_TRIM_THRESHOLD => {
            // glibc takes the value as unsigned long (-1: never trim).
            hakmem::set_trim_threshold(value as core::ffi::c_ulong as usize);
            true
        }
        // glibc refuses values above its fastbin maximum (80 * size_t / 4).
        M_MXFAST => (0..=160).contains(&value),
        // glibc refuses thresholds above HEAP_MAX (32 MiB on 64-bit).
        M_MMAP_THRESHOLD => (value as core::ffi::c_ulong) <= 32 << 20,
        M_TOP_PAD | M_MMAP_MAX | M_CHECK_ACTION | M_PERTURB => true,
        M_ARENA_TEST | M_ARENA_MAX => value > 0,
        _ => false,
    };
    c_int::from(ok)
}

/// `fwrite`'s type.
type FwriteFn = unsafe extern "C" fn(*const c_void, usize, usize, *mut c_void) -> usize;

/// The C library's `fwrite` (0: not looked up yet; 1: not found).
static FWRITE: AtomicUsize = AtomicUsize::new(0);

fn fwrite_fn() -> Option<FwriteFn> {
    let mut f = FWRITE.load(Ordering::Acquire);
    if f == 0 {
        f = dlsym_next(c"fwrite");
        if f == 0 {
            f = 1;
        }
        FWRITE.store(f, Ordering::Release);
    }
    // SAFETY: a non-trivial value is the address of the C library's
    // `fwrite`, whose type is `FwriteFn`.
    (f > 1).then(|| unsafe { core::mem::transmute::<usize, FwriteFn>(f) })
}

/// `malloc_info`: writes glibc's XML (`<malloc version="1">` with one
/// `<heap>` per slab tier, its classes' cached blocks as `<size>`
/// elements, and the totals) to `fp` through `fwrite`. 0 on success;
/// `EINVAL` (returned, as glibc does) when `options` is not 0 or `fp` is
/// null; -1 when `fwrite` fails or cannot be found.
///
/// # Safety
/// `fp` is null or an open `FILE *`.
#[inline]
pub unsafe fn malloc_info(options: c_int, fp: *mut c_void) -> c_int {
    if options != 0 || fp.is_null() {
        return EINVAL;
    }
    let Some(fw) = fwrite_fn() else { return -1 };
    let st = hakmem::snapshot();
    let mut ok = true;
    let mut put = |l: &Line| {
        let b = l.as_bytes();
        // SAFETY: per contract `fp` is an open stream; `b` is valid.
        ok &= b.is_empty() || unsafe { fw(b.as_ptr().cast(), 1, b.len(), fp) } == b.len();
    };
    let mut l = Line::new();
    l.s("<malloc version=\"1\">\n");
    put(&l);
    let (mut fast_n, mut fast_b, mut rest_n, mut rest_b) = (0, 0, 0, 0);
    for (i, t) in st.tiers.iter().take(BIG).enumerate() {
        let mut l = Line::new();
        l.s("<heap nr=\"").u(i as u64).s("\">\n<sizes>\n");
        put(&l);
        let mut from = 1;
        for c in st.classes.get(i).into_iter().flatten().filter(|c| c.block_size != 0) {
            if c.cached != 0 {
                let mut l = Line::new();
                l.s("  <size from=\"").u(from).s("\" to=\"").u(c.block_size).s("\" total=\"");
                l.u(c.cached * c.block_size).s("\" count=\"").u(c.cached).s("\"/>\n");
                put(&l);
            }
            from = c.block_size + 1;
        }
        heap_totals(&mut put, "</sizes>\n", t.cached_blocks, t.cached_bytes, t.free_pages, t.free_resident_bytes);
        system_lines(&mut put, t.resident_bytes, t.mapped_bytes);
        let mut l = Line::new();
        l.s("</heap>\n");
        put(&l);
        fast_n += t.cached_blocks;
        fast_b += t.cached_bytes;
        rest_n += t.free_pages;
        rest_b += t.free_resident_bytes;
    }
    let big = st.tiers.get(BIG).copied().unwrap_or_default();
    heap_totals(&mut put, "", fast_n, fast_b, rest_n + big.free_pages, rest_b + big.free_resident_bytes);
    let mut l = Line::new();
    l.s("<total type=\"mmap\" count=\"").u(big.live_blocks).s("\" size=\"").u(big.live_bytes).s("\"/>\n");
    put(&l);
    system_lines(&mut put, st.resident_bytes, st.mapped_bytes);
    let mut l = Line::new();
    l.s("</malloc>\n");
    put(&l);
    if ok {
        0
    } else {
        -1
    }
}

/// `head`, then the `fast` (cached blocks) and `rest` (free pages) totals.
fn heap_totals(put: &mut dyn FnMut(&Line), head: &str, fast_n: u64, fast_b: u64, rest_n: u64, rest_b: u64) {
    let mut l = Line::new();
    l.s(head).s("<total type=\"fast\" count=\"").u(fast_n).s("\" size=\"").u(fast_b).s("\"/>\n");
    l.s("<total type=\"rest\" count=\"").u(rest_n).s("\" size=\"").u(rest_b).s("\"/>\n");
    put(&l);
}

/// The `system` (resident; hakmem keeps no peak, so `max` is the current
/// value) and `aspace` (mapped) lines.
fn system_lines(put: &mut dyn FnMut(&Line), resident: u64, mapped: u64) {
    let mut l = Line::new();
    l.s("<system type=\"current\" size=\"").u(resident).s("\"/>\n");
    l.s("<system type=\"max\" size=\"").u(resident).s("\"/>\n");
    l.s("<aspace type=\"total\" size=\"").u(mapped).s("\"/>\n");
    l.s("<aspace type=\"mprotect\" size=\"").u(mapped).s("\"/>\n");
    put(&l);
}
