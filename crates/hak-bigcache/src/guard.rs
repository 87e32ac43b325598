//! Guard pages after big blocks (the router's secure mode): the OS page
//! right after a block's last page is made inaccessible, so a linear
//! overflow off the end of the block faults at once (within the slack of
//! its last page) instead of running through the rest of its mapping.
//!
//! Contract: with guards on, big mappings are neither cached nor grown in
//! place (a guard would end up inside a later, bigger block): the caller
//! turns the cache off ([`BigCache::configure`](crate::BigCache::configure))
//! and never calls [`realloc`](crate::realloc); the router's secure mode
//! does neither. A freed mapping is unmapped, its guard with it.

use core::sync::atomic::{AtomicBool, Ordering};

use hak_os::map;

/// Whether new mappings get a guard page after their block.
static GUARD: AtomicBool = AtomicBool::new(false);

/// Puts a guard page after every big block mapped from now on (see the
/// module's contract: no cache, no `realloc`).
pub fn set_guard(on: bool) {
    GUARD.store(on, Ordering::Relaxed);
}

/// Whether guards are on.
#[inline]
pub(crate) fn on() -> bool {
    GUARD.load(Ordering::Relaxed)
}

/// The size of a mapping of `need` bytes (pages) for a block of `end`
/// bytes from its start (offset and usable size, a page multiple): one
/// page more when guards are on and the page after the block would lie
/// beyond `need`.
pub(crate) fn mapping_size(need: usize, end: usize) -> usize {
    if on() && end + map::page_size() > need {
        need.saturating_add(map::page_size())
    } else {
        need
    }
}

/// Makes the page at `end` bytes into the mapping at `base` inaccessible,
/// when guards are on. A refusal of the kernel (too many mappings) leaves
/// the block without its guard.
///
/// # Safety
/// `base` is a fresh mapping of at least `end` + one page bytes (see
/// [`mapping_size`]), `end` a page multiple, and nothing lies in that page.
pub(crate) unsafe fn place(base: *mut u8, end: usize) {
    if on() {
        // SAFETY: per contract, an unused page of our mapping.
        unsafe { map::protect_none(base.add(end), map::page_size()) };
    }
}
