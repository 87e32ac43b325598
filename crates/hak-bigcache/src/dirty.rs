//! The dirty extent of a mapping (see [`BigBlock`]'s `dirty`) and what it
//! drives on reuse: trimming a sparse dirty tail (`trim_dirty`, probing
//! with `dense` whether it is in use), and clearing only the dirty, resident,
//! non-zero pages of a zeroed request (`zero_dirty_prefix`, chunk by chunk
//! in `clear_chunk`). The residency probe is `hak_os::map::residency`.

use core::ptr;

use hak_os::map;

use crate::record::BigBlock;

/// Reuse trimming (see `trim_dirty`) needs the dirty extent to pass the
/// block's end by more than this, and by more than a quarter of the end.
const TRIM_SLACK: usize = 1 << 20;

/// Zeroed requests look at the dirty prefix in chunks of this many pages:
/// one `mincore` call (and a stack vector of as many bytes) per chunk.
const ZERO_CHUNK_PAGES: usize = 512;

/// Pages probed by [`dense`] (trimming skips a densely used tail).
const PROBE_PAGES: usize = 64;

/// A tail found densely used is kept without probing again for this long:
/// the probe is a system call, and `large` (which reuses mappings every
/// 16 us) ran 5 % slower with one on most reuses (docs/decisions/0024).
const PROBE_INTERVAL_MS: u64 = 1000;

/// Reuse trimming: when the dirty extent of `rec` passes `end` (the end of
/// the block's usable bytes, from `base`) by more than max(1 MiB, end / 4),
/// returns the pages beyond `end` to the OS and lowers the extent to `end`.
///
/// With `probe` (reuse from the cache), a tail whose first pages are
/// mostly resident is kept (and not probed again for
/// [`PROBE_INTERVAL_MS`]): the program touches whole blocks, and the next
/// larger block served from this mapping would fault every page back
/// (`large` alternates small and large blocks in one mapping and ran 25x
/// slower when trimmed). A sparse tail is what a reused mapping
/// accumulates from programs that touch a few pages per block (`realloc-grow`
/// grows each vector in place and writes its last byte): trimming it kept
/// that benchmark's peak RSS down by a third at no measurable cost
/// (docs/decisions/0024).
///
/// # Safety
/// `rec` is ours alone (taken from the cache, or live and owned by the
/// caller) and nothing beyond `end` holds data anyone needs.
pub(crate) unsafe fn trim_dirty(rec: *mut BigBlock, end: usize, probe: bool) {
    // SAFETY: per the contract; the probed pages lie in the dirty tail
    // (longer than TRIM_SLACK > PROBE_PAGES pages).
    unsafe {
        let d = (*rec).dirty;
        if d <= end || d - end <= TRIM_SLACK.max(end / 4) {
            return;
        }
        if probe {
            let now = (*rec).cached_at_ms;
            if now < (*rec).dense_until_ms {
                return;
            }
            if dense((*rec).base + end) {
                (*rec).dense_until_ms = now + PROBE_INTERVAL_MS;
                return;
            }
        }
        if map::decommit(((*rec).base + end) as *mut u8, d - end) {
            (*rec).dirty = end;
        }
    }
}

/// Zeroes the block of `rec` (usable bytes ending `end` bytes into the
/// mapping) where its mapping may be dirty: beyond the dirty extent the
/// pages are zero already. The dirty prefix is cleared in place, chunk by
/// chunk (see [`clear_chunk`]), whatever its size.
///
/// Why not `madvise` every time: the program then faults every page in
/// again (0.5 us per read fault, 1.2 us per write fault on our VM, against
/// 0.05 us to clear a resident page), which made calloc-then-fill of
/// 1-16 MiB blocks 8x slower than glibc. Why skip zero pages: a program
/// that reads a calloc'ed block maps the kernel's zero page; writing zeros
/// over it would copy it into a private page (a fault, and memory), and
/// made `calloc-large` 10 % slower and twice as big. Why no size bound
/// (there was one at 32 MiB, like glibc's largest mmap threshold): the
/// work is proportional to the resident pages, which the program paid
/// for when it touched them; returning a 64 MiB prefix to the OS instead
/// made `calloc-large` fault every page again, 3.5x slower
/// (docs/decisions/0024).
///
/// # Safety
/// `rec` was just taken from the cache and is ours alone.
pub(crate) unsafe fn zero_dirty_prefix(rec: *mut BigBlock, end: usize) {
    // SAFETY: per the contract; `[user, base + prefix)` lies in the block.
    unsafe {
        let off = (*rec).user - (*rec).base;
        let prefix = (*rec).dirty.min(end);
        if prefix <= off {
            return;
        }
        let ps = map::page_size();
        let chunk = ZERO_CHUNK_PAGES * ps;
        let to = (*rec).base + prefix;
        let mut a = (*rec).user;
        while a < to {
            let b = ((a & !(chunk - 1)) + chunk).min(to);
            clear_chunk(a, b);
            a = b;
        }
    }
}

/// Zeroes `[from, to)` (8-byte aligned, within one chunk of
/// [`ZERO_CHUNK_PAGES`] pages), choosing by how much of it is resident
/// (`mincore`):
///
/// - mostly resident: every page is read and the ones that are not all
///   zeros are cleared ([`clear_nonzero_pages`]); reading a page that is
///   not resident maps the zero page (or swaps it in), so the result is
///   exact whatever `mincore` said;
/// - mostly not resident (a program that used a few pages of a big block):
///   the whole chunk is returned to the OS with one `madvise`, instead of
///   faulting in its untouched pages to read them. A non-resident page may
///   be swapped out and hold data, so skipping it would not do; and when
///   the kernel refuses the `madvise` (locked memory), the chunk is read
///   and cleared after all.
///
/// # Safety
/// The range is writable memory of one of our mappings that no one else
/// uses, and lies within one aligned chunk of [`ZERO_CHUNK_PAGES`] pages
/// (the `mincore` vector has a byte for each of them).
unsafe fn clear_chunk(from: usize, to: usize) {
    let ps = map::page_size();
    let a = from & !(ps - 1);
    let b = (to + ps - 1) & !(ps - 1);
    let pages = (b - a) / ps;
    let mut v = [0u8; ZERO_CHUNK_PAGES];
    // `v` holds a byte for each of the `pages` <= ZERO_CHUNK_PAGES pages.
    let ok = map::residency(a as *const u8, b - a, &mut v);
    let resident = if ok { v[..pages].iter().filter(|&&x| x & 1 != 0).count() } else { pages };
    // The whole pages inside the range (the ends may be partial pages).
    let (ia, ib) = ((from + ps - 1) & !(ps - 1), to & !(ps - 1));
    // SAFETY: per the contract; [ia, ib) are whole pages inside the range.
    unsafe {
        if resident * 2 >= pages || ia >= ib {
            clear_nonzero_pages(from, to);
            return;
        }
        clear_nonzero_pages(from, ia);
        if !map::decommit(ia as *mut u8, ib - ia) {
            clear_nonzero_pages(ia, ib);
        }
        clear_nonzero_pages(ib, to);
    }
}

/// Zeroes `[from, to)` (8-byte aligned bounds) page by page, leaving alone
/// the pages that already read as zero.
///
/// # Safety
/// The range is writable memory no one else uses.
unsafe fn clear_nonzero_pages(from: usize, to: usize) {
    let ps = map::page_size();
    let mut a = from;
    while a < to {
        let b = ((a & !(ps - 1)) + ps).min(to);
        // SAFETY: [a, b) lies in the range and is 8-byte aligned.
        unsafe {
            let words = core::slice::from_raw_parts(a as *const u64, (b - a) / 8);
            if words.chunks(16).any(|c| c.iter().fold(0, |x, &w| x | w) != 0) {
                ptr::write_bytes(a as *mut u8, 0, b - a);
            }
        }
        a = b;
    }
}

/// Whether most of the [`PROBE_PAGES`] pages from page-aligned `p` are
/// resident (a heuristic: false when `mincore` fails).
fn dense(p: usize) -> bool {
    let mut v = [0u8; PROBE_PAGES];
    let ok = map::residency(p as *const u8, PROBE_PAGES * map::page_size(), &mut v);
    ok && v.iter().filter(|&&b| b & 1 != 0).count() * 2 > PROBE_PAGES
}
