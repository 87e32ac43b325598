//! `realloc` of a big block ([`BigCache::realloc`]): in place when the
//! mapping's segments already fit the new size (unmapping the segments a
//! shrink no longer needs, trimming the dirty tail), else grown with
//! `mremap`: in place when the following address space is free, else moved
//! to a new segment-aligned range (`hak_os::map::move_mapping`: page tables move, bytes
//! are not copied).

use core::ptr;

use hak_os::sync::Ordering;
use hak_os::{map, segmap, SEGMENT_SIZE};

use crate::check::check_record;
use crate::dirty::trim_dirty;
use crate::record::{live_record, round_mapping, usable, LIVE};
use crate::{BigBlock, BigCache, TAG_BIG};

impl BigCache {
    /// Resizes big block `p` to `new_size` bytes (>= 1), keeping its contents.
    /// Returns the (possibly moved) block, or null with `p` intact.
    ///
    /// # Safety
    /// `entry` is the segment-map entry of `p`, tagged [`TAG_BIG`], and `p`
    /// is live and owned by the caller.
    pub unsafe fn realloc(&self, entry: usize, p: *mut u8, new_size: usize) -> *mut u8 {
        let rec = live_record(entry, p, "realloc(): invalid pointer");
        // SAFETY: a live record owned by the caller.
        let before = unsafe { (*rec).size };
        // SAFETY: forwarded contract.
        let q = unsafe { self.resize(rec, p, new_size) };
        if !q.is_null() {
            // SAFETY: as above; a moved block keeps its record.
            let after = unsafe { (*rec).size };
            self.stats.live_bytes.fetch_add(after.wrapping_sub(before), Ordering::Relaxed);
        }
        q
    }

    /// [`BigCache::realloc`] of the live block `p` of record `rec`.
    ///
    /// # Safety
    /// As [`BigCache::realloc`].
    unsafe fn resize(&self, rec: *mut BigBlock, p: *mut u8, new_size: usize) -> *mut u8 {
        let Some(need_tail) = new_size.checked_add(p as usize) else { return ptr::null_mut() };
        // SAFETY: live record owned by the caller; segment-map updates bracket the
        // mapping changes.
        unsafe {
            let base = (*rec).base;
            let old = (*rec).map_size;
            let old_size = (*rec).size;
            let Some(mut need) = round_mapping(need_tail - base) else { return ptr::null_mut() };
            if need > isize::MAX as usize {
                return ptr::null_mut();
            }
            // A growing block keeps its mapping's first segment (as far as
            // it is mapped): it is likely to grow again, into pages the
            // program may have filled before (a reused mapping).
            if new_size > old_size && need < old {
                need = need.next_multiple_of(SEGMENT_SIZE).min(old);
            }
            // Every successful path below leaves the block `new_size` bytes
            // usable (rounded to pages) and its dirty extent covering them
            // (a shrink trims it, see `trim_dirty`); the mapping is resized
            // only when the block's mapping size changes.
            let off = (*rec).user - base;
            (*rec).size = usable(off, new_size.max(1));
            let end = off + (*rec).size;
            if need <= old {
                if need < old {
                    // A growing block may sit in a larger reused mapping too:
                    // it loses the segments it does not need.
                    self.stats.remaps.fetch_add(1, Ordering::Relaxed);
                    // The record and the segment map describe only what we
                    // hold before the kernel may hand the tail to another
                    // mapping (`covers` reads `map_size`). The segment of
                    // the new end stays the block's.
                    (*rec).map_size = need;
                    (*rec).dirty = (*rec).dirty.min(need);
                    let kept = (base + need).next_multiple_of(SEGMENT_SIZE);
                    segmap::clear_range(kept, (base + old).saturating_sub(kept));
                    map::unmap((base + need) as *mut u8, old - need);
                    self.stats.returned_bytes.fetch_add(old - need, Ordering::Relaxed);
                    self.stats.mapped_bytes.fetch_sub(old - need, Ordering::Relaxed);
                }
                // Only a shrink trims: a block growing into a dirty tail
                // (a reused mapping the program had filled, kept by the
                // reuse probe) would fault every page of it in again.
                if (*rec).size < old_size {
                    trim_dirty(rec, end, false);
                }
                (*rec).dirty = (*rec).dirty.max(end);
                self.fit_huge(rec);
                check_record(rec, LIVE);
                return p;
            }
            self.stats.remaps.fetch_add(1, Ordering::Relaxed);
            if !self.grow_mapping(rec, need) {
                (*rec).size = old_size;
                return ptr::null_mut();
            }
            (*rec).dirty = (*rec).dirty.max(end);
            // A moved mapping kept its advice.
            self.fit_huge(rec);
            check_record(rec, LIVE);
            (*rec).user as *mut u8
        }
    }

    /// Grows the mapping of `rec` to `need` bytes, in place by `mremap`
    /// when the address space after it is free, else by moving it (its
    /// pages with it, no copy) to a fresh segment-aligned range; the block
    /// keeps its offset. False, with the mapping and record unchanged,
    /// when neither can be done. Fields other than `base`, `user` and
    /// `map_size` are the caller's to update.
    ///
    /// # Safety
    /// `rec` is ours alone (live and owned by the caller, or taken from the
    /// cache) and `need` is larger than its mapping.
    pub(crate) unsafe fn grow_mapping(&self, rec: *mut BigBlock, need: usize) -> bool {
        // SAFETY: per contract; segment-map updates bracket the mapping
        // changes.
        unsafe {
            let (base, old) = ((*rec).base, (*rec).map_size);
            // The mapping grows: first cut what the cache keeps resident
            // (see `cut_for_growth`).
            self.cut_for_growth();
            if map::remap_in_place(base as *mut u8, old, need) {
                if !segmap::set_range(base + old, need - old, rec as usize | TAG_BIG) {
                    // Cannot describe the new tail: undo.
                    map::remap_in_place(base as *mut u8, need, old);
                    return false;
                }
                (*rec).map_size = need;
                self.stats.mapped_bytes.fetch_add(need - old, Ordering::Relaxed);
                return true;
            }
            // Move. Segment-map entries must only ever describe address
            // ranges we hold: register the destination while it is our
            // reservation, and clear the source before the kernel frees it
            // (another thread may map and register that range at once).
            let dest = map::map_aligned(need, SEGMENT_SIZE);
            if dest.is_null() {
                return false;
            }
            if !segmap::set_range(dest as usize, need, rec as usize | TAG_BIG) {
                map::unmap(dest, need);
                return false;
            }
            segmap::clear_range(base, old);
            // A failed move leaves errno as it was: the caller's fallback
            // (allocate-copy-free, a fresh mapping) may succeed.
            if !map::move_mapping(base as *mut u8, old, need, dest) {
                // The source is untouched and still ours: describe it again.
                segmap::clear_range(dest as usize, need);
                map::unmap(dest, need);
                segmap::set_range(base, old, rec as usize | TAG_BIG);
                return false;
            }
            let off = (*rec).user - base;
            (*rec).base = dest as usize;
            (*rec).user = dest as usize + off;
            (*rec).map_size = need;
            self.stats.mapped_bytes.fetch_add(need - old, Ordering::Relaxed);
            true
        }
    }
}
