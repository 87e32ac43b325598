//! Where slab segments go: 4 MiB windows handed out downwards from
//! [`DISTANCE`] below where `mmap` places memory, so that a segment can map
//! only what its pages use ([`map::map_exactly`]) and grow in place.
//!
//! A segment's whole window is registered in the segment map, so its
//! unmapped parts (the pages not given out yet, the parts of pages not
//! carved yet) must not fill with someone else's mappings: a pointer into
//! them would look like a slab block. The kernel maps top-down into the
//! highest free gap that fits; windows sit far below that point, each
//! bounded above by the next window, so a new mapping lands in a window's
//! hole only once the [`DISTANCE`] of address space above the windows is
//! used up (even then nothing breaks for a correct program: the page
//! whose range is taken just stops growing). A window that cannot be
//! mapped (taken) is skipped; a refusal (a limit) uses up none, and the
//! callers fall back to a whole, kernel-placed segment
//! ([`map::map_aligned`]).

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::map::{self, MapAt};
use crate::{SEGMENT_MASK, SEGMENT_SIZE};

/// Address space left free between the point where `mmap` was placing
/// memory when the first window was chosen and the highest window
/// (32 GiB: a program maps that much more before the kernel could put
/// anything in a window's tail). Inside the segment map's first table
/// (which reaches 40 GiB below that point: 2048 windows).
pub const DISTANCE: usize = 32 << 30;

/// Windows tried per request before giving up (each taken one is skipped).
const TRIES: usize = 4;

/// The base of the last window handed out (the next one is a segment
/// lower); 0 before the first.
static LAST: AtomicUsize = AtomicUsize::new(0);

/// The base of the window below the last one handed out, or 0 when there
/// is no room below (or no address to start from).
fn candidate() -> usize {
    let mut last = LAST.load(Ordering::Relaxed);
    if last == 0 {
        let page = map::page_size();
        let probe = map::map_reserve(page);
        if probe.is_null() {
            return 0;
        }
        // SAFETY: we just mapped it and nobody else knows it.
        unsafe { map::unmap(probe, page) };
        let top = (probe as usize & !SEGMENT_MASK).saturating_sub(DISTANCE);
        if top < DISTANCE {
            return 0;
        }
        // The first chooser wins; the others use its choice.
        last = match LAST.compare_exchange(0, top + SEGMENT_SIZE, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => top + SEGMENT_SIZE,
            Err(v) => v,
        };
    }
    last.checked_sub(SEGMENT_SIZE).filter(|&b| b >= SEGMENT_SIZE).unwrap_or(0)
}

/// Maps the first `head` bytes (a page multiple, at most a segment) of a
/// fresh segment-aligned window that no one else uses, and returns its
/// base; null when no window could be mapped (errno untouched). The rest of
/// the window is the caller's to map with [`map::map_exactly`] later (it
/// may find it taken: see the module doc).
///
/// Windows are claimed by mapping them (`MAP_FIXED_NOREPLACE`: of two
/// threads trying one window, one wins); the last window handed out only
/// moves down, past windows mapped or found taken. A refusal for another
/// reason (a limit) moves nothing, so failures under `ulimit -v` use up no
/// windows.
pub fn map_window(head: usize) -> *mut u8 {
    for _ in 0..TRIES {
        let base = candidate();
        if base == 0 {
            break;
        }
        match map::map_exactly(base as *mut u8, head) {
            MapAt::Mapped(p) => {
                LAST.fetch_min(base, Ordering::Relaxed);
                return p;
            }
            MapAt::Taken => {
                LAST.fetch_min(base, Ordering::Relaxed);
            }
            MapAt::Refused => break,
        }
    }
    core::ptr::null_mut()
}
