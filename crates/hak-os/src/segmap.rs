//! The segment map: address → owner record, in O(1), without touching the
//! address's memory.
//!
//! One word per 4 MiB segment of the 47-bit user address space. An entry is 0
//! for "not ours", or a pointer to the owner's metadata record with a tag in
//! its low bits ([`TAG_SLAB`], [`TAG_BIG`]).
//!
//! The table covers the top of the address space, from a lowest index `low`
//! up to the end, because that is where `mmap` places memory (downwards from
//! below the stack). It is created by the first registration (or [`init`]),
//! covering from a margin ([`MARGIN`] segments, 64 GiB) below that address:
//! a few MiB of `MAP_NORESERVE` address space, not the 256 MiB a table of the
//! whole space would take (which `ulimit -v` forbids). A registration below
//! `low` grows the table downwards (at least doubling its reach): a new table
//! is mapped, the entries copied, and the new table published; old tables stay
//! mapped (a lookup may still be reading one) and keep receiving writes.
//!
//! Lookups are lock-free and cost what a whole-space table costs: one compare
//! with `low`, then an indexed load from a table pointer biased by `low`, so
//! that entry `i` is at `table + i`. Addresses at or beyond `entries <<
//! SEGMENT_SHIFT` (2^47: no user mapping lives there) are not valid inputs.
//!
//! Protocol: an entry is written (Release) before the memory it describes is
//! handed to any user, and cleared after the memory is withdrawn; lookups load
//! with Acquire. A pointer a user legitimately holds was published by a write
//! that happens-before the user received it, so its lookup sees the entry.
//! Writers (registrations, clears, growth) hold the map's spin lock, a slow
//! path. Growth publishes the new table (Release) before the new `low`
//! (Release); a lookup loads `low` (Acquire) before the table (Acquire), so a
//! lookup that passes the bound check sees a table covering the index, with
//! its entries.
//!
//! The map is a [`SegMap`] instance; the process-wide one behind the free
//! functions of this module is a `static` (loom builds replace it with a
//! std-locked stand-in that is not model-checked, because a loom model cannot
//! hold 2^25 atomics; the `segmap_*` loom models check [`SegMap`] instances
//! with small tables instead).

use crate::lock::SpinLock;
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
/// Segments covered below the first registered one (64 GiB of address
/// space; 128 KiB of table: slab segments start 32 GiB below it,
/// `region::DISTANCE`).
pub const MARGIN: usize = 1 << 14;
/// Most tables a map makes (each growth at least doubles the reach; the
/// last one covers everything).
const MAX_TABLES: usize = 16;

/// The tables a map has made: `(first entry, low)` of each, the last one
/// current. Only touched under the writers' lock.
struct Tables {
    list: [(*mut AtomicUsize, usize); MAX_TABLES],
    n: usize,
}

// SAFETY: the pointers are to tables that live as long as the map; the
// struct moves between threads only inside the lock.
unsafe impl Send for Tables {}

/// A segment map: a lazily created, downward-growing table of one word per
/// segment-sized slot of the address space below `entries << SEGMENT_SHIFT`.
pub struct SegMap {
    /// The current table, biased: entry `i` (for `low <= i < entries`) is at
    /// `table.wrapping_add(i)`. Null before the first table.
    table: AtomicPtr<AtomicUsize>,
    /// Lowest covered index; `entries` (nothing covered) before the first
    /// table.
    low: AtomicUsize,
    entries: usize,
    margin: usize,
    writers: SpinLock<Tables>,
}

// SAFETY: all shared state is atomic or under the lock; tables are never
// freed while the map is alive.
unsafe impl Sync for SegMap {}

impl SegMap {
    crate::loom_const_fn! {
        /// A map of the whole 47-bit user address space ([`ENTRIES`] entries,
        /// [`MARGIN`]).
        pub fn new() -> SegMap {
            SegMap::with_margin(ENTRIES, MARGIN)
        }
    }

    crate::loom_const_fn! {
        /// A map of `entries` segment slots (addresses below `entries <<
        /// SEGMENT_SHIFT`) whose first table covers everything.
        pub fn with_entries(entries: usize) -> SegMap {
            SegMap::with_margin(entries, entries)
        }
    }

    crate::loom_const_fn! {
        /// A map of `entries` segment slots whose first table covers from
        /// `margin` slots below the first registration to the top.
        pub fn with_margin(entries: usize, margin: usize) -> SegMap {
            SegMap {
                table: AtomicPtr::new(core::ptr::null_mut()),
                low: AtomicUsize::new(entries),
                entries,
                margin,
                writers: SpinLock::new(Tables { list: [(core::ptr::null_mut(), 0); MAX_TABLES], n: 0 }),
            }
        }
    }

    /// Lowest index covered (`entries` before the first table).
    pub fn low(&self) -> usize {
        self.low.load(Ordering::Acquire)
    }

    /// Makes sure the table covers index `idx` (under the writers' lock):
    /// creates or grows it. False if a table could not be mapped.
    fn cover(&self, t: &mut Tables, idx: usize) -> bool {
        let cur = self.low.load(Ordering::Relaxed);
        if idx >= cur {
            return true;
        }
        let mut low = idx.saturating_sub(self.margin);
        if t.n > 0 {
            // At least double the reach, so growths are few.
            low = low.min(cur.saturating_sub(self.entries - cur));
        }
        if t.n + 1 >= MAX_TABLES {
            low = 0;
        }
        let fresh = alloc_table(self.entries - low);
        if fresh.is_null() {
            return false;
        }
        if let Some(&(old, old_low)) = t.list.get(t.n.wrapping_sub(1)) {
            for i in old_low..self.entries {
                // SAFETY: both indices are within their tables; writers are
                // excluded by the lock, so the copy is exact.
                unsafe {
                    let v = (*old.add(i - old_low)).load(Ordering::Relaxed);
                    (*fresh.add(i - low)).store(v, Ordering::Relaxed);
                }
            }
        }
        if let Some(slot) = t.list.get_mut(t.n) {
            *slot = (fresh, low);
            t.n += 1;
        }
        self.table.store(fresh.wrapping_sub(low), Ordering::Release);
        self.low.store(low, Ordering::Release);
        true
    }

    /// Makes sure a table exists (covering from [`MARGIN`] segments below a
    /// fresh mapping's address); false if it could not be created.
    pub fn init(&self) -> bool {
        if self.low.load(Ordering::Acquire) < self.entries {
            return true;
        }
        let mut t = self.writers.lock();
        self.cover(&mut t, probe_index(self.entries))
    }

    /// The entry for address `p` (below `entries << SEGMENT_SHIFT`): 0 when
    /// `p` is not registered.
    #[inline(always)]
    pub fn lookup(&self, p: usize) -> usize {
        let idx = p >> SEGMENT_SHIFT;
        if idx < self.low.load(Ordering::Acquire) {
            return 0;
        }
        // Acquire: the table may be newer than the bound just read (a growth
        // between the two loads); its entries were written before it was
        // published. (A plain load on x86-64, as Relaxed.)
        let t = self.table.load(Ordering::Acquire);
        // SAFETY: low <= idx (< entries for a valid input): a table covering
        // idx was published before low (Release/Acquire), any later table
        // covers more, and tables are never freed while the map lives.
        unsafe { (*t.wrapping_add(idx)).load(Ordering::Acquire) }
    }

    /// Sets the entries of every segment in `[base, base+len)` to `value`.
    /// Returns false if the table could not be created or grown to cover it,
    /// or the range lies beyond `entries` (then nothing was set).
    pub fn set_range(&self, base: usize, len: usize, value: usize) -> bool {
        if len == 0 {
            return true;
        }
        let first = base >> SEGMENT_SHIFT;
        let last = (base + len - 1) >> SEGMENT_SHIFT;
        if last >= self.entries {
            return false;
        }
        let mut t = self.writers.lock();
        if !self.cover(&mut t, first) {
            return false;
        }
        // Every table gets the write: a lookup may still read an old one.
        for &(tab, tlow) in t.list.iter().take(t.n) {
            for i in first.max(tlow)..=last {
                // SAFETY: tlow <= i < entries: within the table.
                unsafe { (*tab.add(i - tlow)).store(value, Ordering::Release) };
            }
        }
        true
    }

    /// Clears the entries of every segment in `[base, base+len)`.
    pub fn clear_range(&self, base: usize, len: usize) {
        let _ = self.set_range(base, len, 0);
    }

    /// Before `fork`: takes the writers' lock, so the child does not inherit
    /// it held by a thread that does not exist there.
    pub fn prefork(&self) {
        core::mem::forget(self.writers.lock());
    }

    /// After `fork` (parent and child): releases the lock [`prefork`](SegMap::prefork) took.
    ///
    /// # Safety
    /// The calling thread called `prefork` and holds no guard of the lock.
    pub unsafe fn postfork(&self) {
        // SAFETY: per contract.
        unsafe { self.writers.force_unlock() };
    }
}

/// The index of a fresh mapping's address: where `mmap` places memory now
/// (the process-wide map's first table is centred there). `entries - 1`
/// when nothing can be mapped.
fn probe_index(entries: usize) -> usize {
    #[cfg(not(loom))]
    {
        let page = crate::map::page_size();
        let p = crate::map::map_reserve(page);
        if !p.is_null() {
            // SAFETY: we just mapped it and nobody else knows it.
            unsafe { crate::map::unmap(p, page) };
            return ((p as usize) >> SEGMENT_SHIFT).min(entries - 1);
        }
    }
    entries - 1
}

impl Default for SegMap {
    fn default() -> Self {
        SegMap::new()
    }
}

/// A zeroed table of `entries` atomics: `MAP_NORESERVE` memory (zero bytes
/// are a valid `AtomicUsize(0)`); null on failure. Never unmapped.
#[cfg(not(loom))]
fn alloc_table(entries: usize) -> *mut AtomicUsize {
    crate::map::map_reserve(entries * core::mem::size_of::<usize>()).cast()
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
        let t = self.writers.lock();
        for &(tab, tlow) in t.list.iter().take(t.n) {
            // SAFETY: the map is going away; its tables came from alloc_table.
            unsafe { free_table(tab, self.entries - tlow) };
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

/// Before `fork`: takes the process-wide map's writers' lock (see
/// [`SegMap::prefork`]).
#[cfg(not(loom))]
pub fn prefork() {
    GLOBAL.prefork()
}

/// After `fork`, in parent and child: releases what [`prefork`] took.
///
/// # Safety
/// The calling thread called [`prefork`].
#[cfg(not(loom))]
pub unsafe fn postfork() {
    // SAFETY: per contract.
    unsafe { GLOBAL.postfork() }
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
