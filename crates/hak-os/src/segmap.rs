//! The segment map: address → owner record, in O(1), without touching the
//! address's memory.
//!
//! One word per 4 MiB of the 47-bit user address space (2^25 words, 256 MiB of
//! `MAP_NORESERVE` virtual memory; only the pages holding non-zero entries are
//! ever committed). An entry is 0 for "not ours", or a pointer to the owner's
//! metadata record with a tag in its low bits ([`TAG_SLAB`], [`TAG_BIG`]).
//!
//! Protocol: an entry is written (Release) before the memory it describes is
//! handed to any user, and cleared after the memory is withdrawn; lookups load
//! with Acquire. A pointer a user legitimately holds was published by a write
//! that happens-before the user received it, so its lookup sees the entry.

use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use crate::SEGMENT_SHIFT;

/// Tag of entries owned by a slab tier (pointer to its segment record).
pub const TAG_SLAB: usize = 1;
/// Tag of entries owned by the big-block tier (pointer to the block record).
pub const TAG_BIG: usize = 2;
/// Mask of the tag bits (records are at least 8-byte aligned).
pub const TAG_MASK: usize = 7;

const ADDRESS_BITS: usize = 47;
const ENTRIES: usize = 1 << (ADDRESS_BITS - SEGMENT_SHIFT);

static TABLE: AtomicPtr<AtomicUsize> = AtomicPtr::new(core::ptr::null_mut());
/// Number of valid indices: 0 until the table exists, then ENTRIES. Written
/// after TABLE (Release) and read before it, so a lookup that passes the
/// bound check always sees the table; the single bound check then also
/// rejects every address at or above 2^47.
static LIMIT: AtomicUsize = AtomicUsize::new(0);

fn table_or_create() -> *mut AtomicUsize {
    let t = TABLE.load(Ordering::Acquire);
    if !t.is_null() {
        if LIMIT.load(Ordering::Relaxed) == 0 {
            LIMIT.store(ENTRIES, Ordering::Release);
        }
        return t;
    }
    let bytes = ENTRIES * core::mem::size_of::<usize>();
    let fresh = crate::map::map(bytes).cast::<AtomicUsize>();
    if fresh.is_null() {
        return fresh;
    }
    match TABLE.compare_exchange(core::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {
            LIMIT.store(ENTRIES, Ordering::Release);
            fresh
        }
        Err(winner) => {
            // SAFETY: our mapping lost the race and was never published.
            unsafe { crate::map::unmap(fresh.cast(), bytes) };
            // The winner may not have published LIMIT yet; we are about to
            // register memory through the table, so make sure it is.
            LIMIT.store(ENTRIES, Ordering::Release);
            winner
        }
    }
}

/// Makes sure the table exists; false if it could not be mapped.
pub fn init() -> bool {
    !table_or_create().is_null()
}

/// The entry for address `p`: 0 when `p` is not in hakmem memory.
#[inline(always)]
pub fn lookup(p: usize) -> usize {
    let idx = p >> SEGMENT_SHIFT;
    if idx >= LIMIT.load(Ordering::Acquire) {
        return 0;
    }
    let t = TABLE.load(Ordering::Relaxed);
    // SAFETY: idx < LIMIT, which is non-zero only once the table (never
    // unmapped) is published.
    unsafe { (*t.add(idx)).load(Ordering::Acquire) }
}

/// Sets the entries of every segment in `[base, base+len)` to `value`.
/// Returns false if the table could not be created (then nothing was set).
pub fn set_range(base: usize, len: usize, value: usize) -> bool {
    let t = table_or_create();
    if t.is_null() || len == 0 {
        return !t.is_null();
    }
    let first = base >> SEGMENT_SHIFT;
    let last = (base + len - 1) >> SEGMENT_SHIFT;
    if last >= ENTRIES {
        return false;
    }
    for i in first..=last {
        // SAFETY: i < ENTRIES; the table is never unmapped.
        unsafe { (*t.add(i)).store(value, Ordering::Release) };
    }
    true
}

/// Clears the entries of every segment in `[base, base+len)`.
pub fn clear_range(base: usize, len: usize) {
    let _ = set_range(base, len, 0);
}
