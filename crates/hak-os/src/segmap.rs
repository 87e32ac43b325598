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
//! The table itself is created lazily by the first registration (racing
//! creators: one CAS wins, the losers unmap theirs) and published in two
//! steps, the table pointer and then the bound that lookups check (see
//! [`SegMap`]).
//!
//! The map is a [`SegMap`] instance; the process-wide one behind the free
//! functions of this module is a `static` (loom builds replace it with a
//! std-locked stand-in that is not model-checked, because a loom model cannot
//! hold 2^25 atomics; the `segmap_*` loom models check [`SegMap`] instances
//! with small tables instead).

use crate::sync::{AtomicPtr, AtomicUsize, Ordering};
use crate::SEGMENT_SHIFT;

/// Tag of entries owned by a slab tier (pointer to its segment record).
pub const TAG_SLAB: usize = 1;
/// Tag of entries owned by the big-block tier (pointer to the block record).
pub const TAG_BIG: usize = 2;
/// Mask of the tag bits (records are at least 8-byte aligned).
pub const TAG_MASK: usize = 7;

const ADDRESS_BITS: usize = 47;
/// Number of entries of the process-wide map (one per segment of the 47-bit
/// user address space).
pub const ENTRIES: usize = 1 << (ADDRESS_BITS - SEGMENT_SHIFT);

/// A segment map: a lazily created table of `entries` words, one per
/// segment-sized slot of the address space.
///
/// Publication order: `table` is set first (CAS from null, AcqRel), `limit`
/// (the number of valid indices, 0 until then) second (Release). A lookup
/// loads `limit` (Acquire) before `table` (Relaxed), so a lookup that passes
/// the bound check always sees the table, and the single bound check also
/// rejects every address beyond the table.
pub struct SegMap {
    table: AtomicPtr<AtomicUsize>,
    limit: AtomicUsize,
    entries: usize,
}

// SAFETY: all shared state is atomic; the table is never freed while the map
// is alive.
unsafe impl Sync for SegMap {}

impl SegMap {
    crate::loom_const_fn! {
        /// A map of the whole 47-bit user address space ([`ENTRIES`] entries).
        pub fn new() -> SegMap {
            SegMap::with_entries(ENTRIES)
        }
    }

    crate::loom_const_fn! {
        /// A map of `entries` segment slots (addresses below
        /// `entries << SEGMENT_SHIFT`); the table is created by the first
        /// registration.
        pub fn with_entries(entries: usize) -> SegMap {
            SegMap { table: AtomicPtr::new(core::ptr::null_mut()), limit: AtomicUsize::new(0), entries }
        }
    }

    fn table_or_create(&self) -> *mut AtomicUsize {
        let t = self.table.load(Ordering::Acquire);
        if !t.is_null() {
            if self.limit.load(Ordering::Relaxed) == 0 {
                self.limit.store(self.entries, Ordering::Release);
            }
            return t;
        }
        let fresh = alloc_table(self.entries);
        if fresh.is_null() {
            return fresh;
        }
        match self.table.compare_exchange(core::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                self.limit.store(self.entries, Ordering::Release);
                fresh
            }
            Err(winner) => {
                // SAFETY: our table lost the race and was never published.
                unsafe { free_table(fresh, self.entries) };
                // The winner may not have published the limit yet; we are
                // about to register memory through the table, so make sure
                // it is.
                self.limit.store(self.entries, Ordering::Release);
                winner
            }
        }
    }

    /// Makes sure the table exists; false if it could not be created.
    pub fn init(&self) -> bool {
        !self.table_or_create().is_null()
    }

    /// The entry for address `p`: 0 when `p` is not registered.
    #[inline(always)]
    pub fn lookup(&self, p: usize) -> usize {
        let idx = p >> SEGMENT_SHIFT;
        if idx >= self.limit.load(Ordering::Acquire) {
            return 0;
        }
        let t = self.table.load(Ordering::Relaxed);
        // SAFETY: idx < limit, which is non-zero only once the table (never
        // freed while the map lives) is published.
        unsafe { (*t.add(idx)).load(Ordering::Acquire) }
    }

    /// Sets the entries of every segment in `[base, base+len)` to `value`.
    /// Returns false if the table could not be created or the range lies
    /// beyond it (then nothing was set).
    pub fn set_range(&self, base: usize, len: usize, value: usize) -> bool {
        let t = self.table_or_create();
        if t.is_null() || len == 0 {
            return !t.is_null();
        }
        let first = base >> SEGMENT_SHIFT;
        let last = (base + len - 1) >> SEGMENT_SHIFT;
        if last >= self.entries {
            return false;
        }
        for i in first..=last {
            // SAFETY: i < entries; the table is never freed while the map lives.
            unsafe { (*t.add(i)).store(value, Ordering::Release) };
        }
        true
    }

    /// Clears the entries of every segment in `[base, base+len)`.
    pub fn clear_range(&self, base: usize, len: usize) {
        let _ = self.set_range(base, len, 0);
    }
}

impl Default for SegMap {
    fn default() -> Self {
        SegMap::new()
    }
}

/// A zeroed table of `entries` atomics: `MAP_NORESERVE` memory (zero bytes
/// are a valid `AtomicUsize(0)`); null on failure.
#[cfg(not(loom))]
fn alloc_table(entries: usize) -> *mut AtomicUsize {
    crate::map::map_reserve(entries * core::mem::size_of::<usize>()).cast()
}

/// # Safety
/// `t` came from `alloc_table(entries)` and was never published.
#[cfg(not(loom))]
unsafe fn free_table(t: *mut AtomicUsize, entries: usize) {
    // SAFETY: per the caller's contract.
    unsafe { crate::map::unmap(t.cast(), entries * core::mem::size_of::<usize>()) };
}

#[cfg(loom)]
fn alloc_table(entries: usize) -> *mut AtomicUsize {
    let v: std::vec::Vec<AtomicUsize> = (0..entries).map(|_| AtomicUsize::new(0)).collect();
    std::boxed::Box::into_raw(v.into_boxed_slice()).cast()
}

#[cfg(loom)]
unsafe fn free_table(t: *mut AtomicUsize, entries: usize) {
    // SAFETY: `t` came from `alloc_table(entries)`, a boxed slice.
    drop(unsafe { std::boxed::Box::from_raw(core::ptr::slice_from_raw_parts_mut(t, entries)) });
}

#[cfg(loom)]
impl Drop for SegMap {
    fn drop(&mut self) {
        let t = self.table.load(Ordering::Relaxed);
        if !t.is_null() {
            // SAFETY: the map is going away; its table came from alloc_table.
            unsafe { free_table(t, self.entries) };
        }
    }
}

/// The process-wide segment map.
#[cfg(not(loom))]
static GLOBAL: SegMap = SegMap::new();

/// Makes sure the process-wide table exists; false if it could not be mapped.
#[cfg(not(loom))]
pub fn init() -> bool {
    GLOBAL.init()
}

/// The process-wide entry for address `p`: 0 when `p` is not in hakmem memory.
#[cfg(not(loom))]
#[inline(always)]
pub fn lookup(p: usize) -> usize {
    GLOBAL.lookup(p)
}

/// Sets the process-wide entries of every segment in `[base, base+len)` to
/// `value`. Returns false if the table could not be created (then nothing
/// was set).
#[cfg(not(loom))]
pub fn set_range(base: usize, len: usize, value: usize) -> bool {
    GLOBAL.set_range(base, len, value)
}

/// Clears the process-wide entries of every segment in `[base, base+len)`.
#[cfg(not(loom))]
pub fn clear_range(base: usize, len: usize) {
    GLOBAL.clear_range(base, len)
}

#[cfg(loom)]
mod stand_in {
    //! Loom builds: the process-wide map used incidentally by the models of
    //! other structures (slab segments, big blocks) is a std-locked hash map
    //! that survives across executions and is invisible to loom. Models
    //! that need a happens-before edge get it from the model's own handoff.
    use std::collections::HashMap;
    use std::sync::Mutex;

    static MAP: Mutex<Option<HashMap<usize, usize>>> = Mutex::new(None);

    pub fn lookup(p: usize) -> usize {
        let m = MAP.lock().unwrap_or_else(|e| e.into_inner());
        m.as_ref().and_then(|m| m.get(&(p >> super::SEGMENT_SHIFT)).copied()).unwrap_or(0)
    }

    pub fn set_range(base: usize, len: usize, value: usize) -> bool {
        let mut m = MAP.lock().unwrap_or_else(|e| e.into_inner());
        let m = m.get_or_insert_with(HashMap::new);
        if len == 0 {
            return true;
        }
        for i in (base >> super::SEGMENT_SHIFT)..=((base + len - 1) >> super::SEGMENT_SHIFT) {
            if value == 0 {
                m.remove(&i);
            } else {
                m.insert(i, value);
            }
        }
        true
    }
}

/// Loom builds: see the module documentation.
#[cfg(loom)]
pub fn init() -> bool {
    true
}

/// Loom builds: see the module documentation.
#[cfg(loom)]
pub fn lookup(p: usize) -> usize {
    stand_in::lookup(p)
}

/// Loom builds: see the module documentation.
#[cfg(loom)]
pub fn set_range(base: usize, len: usize, value: usize) -> bool {
    stand_in::set_range(base, len, value)
}

/// Loom builds: see the module documentation.
#[cfg(loom)]
pub fn clear_range(base: usize, len: usize) {
    stand_in::set_range(base, len, 0);
}
