//! The process-wide table's extent (see the parent module and
//! `crate::layout`): where it goes and which of its pieces are mapped.

use super::{table_page_entries, Table, ENTRIES};
use crate::sync::AtomicUsize;
use crate::SEGMENT_SHIFT;

/// Least band worth leaving out of an extent (entries: 4 GiB of address
/// space, 8 KiB of table).
const MIN_GAP: usize = 1 << 10;

/// A new extent (see the module doc) covering from `low` for a map of the
/// whole space ([`ENTRIES`]), or None: another map, no band, a band too
/// small, or its pieces could not be mapped.
pub(super) fn new_extent(entries: usize, low: usize) -> Option<Table> {
    if entries != ENTRIES {
        return None;
    }
    let (lo, hi) = crate::layout::kernel_free_band()?;
    let page = crate::map::page_size();
    let per_page = table_page_entries();
    let word = core::mem::size_of::<usize>();
    // The band's entries, rounded inwards to whole pages of the table.
    let h = (lo >> SEGMENT_SHIFT).next_multiple_of(per_page);
    let s = (hi >> SEGMENT_SHIFT) / per_page * per_page;
    if s < h + MIN_GAP {
        return None;
    }
    // The whole extent inside the band, ending at a random page.
    let size = entries * word;
    let first_end = lo.checked_add(size)?.next_multiple_of(page);
    let room = hi.checked_sub(first_end)? / page;
    let end = first_end + (crate::layout::random() % (room + 1)) * page;
    let base = (end - size) as *mut AtomicUsize;
    let lo_page = low / per_page * per_page;
    let gap = (h.max(lo_page).min(entries), s.max(lo_page).min(entries));
    let head = (lo_page, gap.0);
    let tail = (gap.1, entries);
    let map = |(from, to): (usize, usize)| {
        from >= to
            || matches!(
                crate::map::reserve_exactly(base.wrapping_add(from).cast(), (to - from) * word),
                crate::map::MapAt::Mapped(_)
            )
    };
    if !map(tail) {
        return None;
    }
    if !map(head) {
        // SAFETY: the tail we just mapped; nobody knows it.
        unsafe { crate::map::unmap(base.wrapping_add(tail.0).cast(), (tail.1 - tail.0) * word) };
        return None;
    }
    Some(Table { base, low, gap, extent: true })
}
