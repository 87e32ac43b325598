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
//! covering from a margin ([`MARGIN`] segments, 40 GiB) below that address:
//! a few hundred KiB of `MAP_NORESERVE` address space, not the 256 MiB a
//! table of the whole space would take (which `ulimit -v` forbids).
//!
//! The process-wide table is an *extent* (decision 0045): 256 MiB of
//! address space chosen at random in the band between the point where
//! `mmap` places memory and the stack's reach, which the kernel never maps
//! into on its own (`hak_os`'s `layout` module), of which only two pieces are mapped:
//! the entries from `low` to the band, and those from the band's end to the
//! top (the stack). The band's own entries (0.1 to 2.1 MiB: the kernel puts
//! a random gap of up to 1 TiB there) stay unmapped; since the extent lies
//! in the band, a lookup of an address there faults instead of reading
//! another mapping (no memory of any allocator is there: only a pointer
//! into a mapping a program placed there itself, freed by mistake, gets
//! there). A registration below `low` maps more of the extent in place;
//! one in the band (a kernel without the band, a registration the layout
//! did not foresee) falls back to a contiguous table. Without a band (no
//! stack limit, no `/proc`), and for maps of fewer entries, the tables are
//! contiguous and kernel-placed: a registration below `low` grows the table
//! downwards (at least doubling its reach): a new table is mapped, the
//! entries copied, and the new table published; old tables stay mapped (a
//! lookup may still be reading one) and keep receiving writes.
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
//! its entries (an extent grown in place: its new part is mapped, zero,
//! before `low` moves).
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
/// Segments covered below the first registered one (40 GiB of address
/// space, 80 KiB of table: slab segments start 32 GiB below it,
/// `region::DISTANCE`, so 2048 of them fit before the table grows; an
/// extent grows in place, one mapping per further 8 GiB).
pub const MARGIN: usize = 10 << 10;

/// Most tables a map makes (each growth at least doubles the reach; the
/// last one covers everything).
const MAX_TABLES: usize = 16;

/// One table of a map: entry `i` (for `low <= i < entries`) at
/// `base.wrapping_add(i)`, mapped except for the entries `[gap.0, gap.1)`
/// (an extent's band; empty when `gap.0 == gap.1`).
#[derive(Clone, Copy)]
struct Table {
    base: *mut AtomicUsize,
    low: usize,
    gap: (usize, usize),
    /// An extent (grows in place), else a contiguous kernel-placed table.
    extent: bool,
}

impl Table {
    const NONE: Table = Table { base: core::ptr::null_mut(), low: 0, gap: (0, 0), extent: false };

    /// The mapped entries from `from` (at least `low`) to `to` (exclusive), as two ranges.
    fn mapped(&self, from: usize, to: usize) -> impl Iterator<Item = usize> {
        let from = from.max(self.low);
        let (g0, g1) = (self.gap.0.clamp(from, to.max(from)), self.gap.1.clamp(from, to.max(from)));
        (from..g0).chain(g1.max(g0)..to)
    }
}

/// The tables a map has made, the last one current. Only touched under
/// the writers' lock.
struct Tables {
    list: [Table; MAX_TABLES],
    n: usize,
}

// SAFETY: the pointers are to tables that live as long as the map; the
// struct moves between threads only inside the lock.
unsafe impl Send for Tables {}

impl Tables {
    fn current(&self) -> Option<Table> {
        self.list.get(self.n.wrapping_sub(1)).copied()
    }
}

/// A segment map: a lazily created, downward-growing table of one word per
/// segment-sized slot of the address space below `entries << SEGMENT_SHIFT`.
pub struct SegMap {
    /// The current table, biased: entry `i` (for `low <= i < entries`) is at
    /// `table.wrapping_add(i)`. Null before the first table.
    table: AtomicPtr<AtomicUsize>,
    /// Lowest covered index; `entries` (nothing covered) before the first
    /// table.
    low: AtomicUsize,
    /// The current table's unmapped entries `[gap >> 32, gap & u32::MAX)`
    /// (an extent's band; 0: none), for [`SegMap::lookup_any`]. Set before
    /// an extent is published; cleared after the table that replaces it.
    gap: AtomicUsize,
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
                gap: AtomicUsize::new(0),
                entries,
                margin,
                writers: SpinLock::new(Tables { list: [Table::NONE; MAX_TABLES], n: 0 }),
            }
        }
    }

    /// Lowest index covered (`entries` before the first table).
    pub fn low(&self) -> usize {
        self.low.load(Ordering::Acquire)
    }

    /// Makes sure the table covers and maps the entries `first..=last`
    /// (under the writers' lock): creates, grows or replaces it. False if a
    /// table could not be mapped.
    fn cover(&self, t: &mut Tables, first: usize, last: usize) -> bool {
        let cur = self.low.load(Ordering::Relaxed);
        let current = t.current();
        let in_gap = current.is_some_and(|c| first < c.gap.1 && last >= c.gap.0);
        if first >= cur && !in_gap {
            return true;
        }
        let mut low = first.saturating_sub(self.margin).min(cur);
        match current {
            Some(c) if c.extent && !in_gap => {
                if self.grow_extent(t, low) {
                    return true;
                }
            }
            None => {
                if let Some(x) = new_extent(self.entries, low) {
                    self.publish(t, x);
                    return true;
                }
            }
            Some(_) => {}
        }
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
        let base = fresh.wrapping_sub(low);
        if let Some(c) = current {
            for i in c.mapped(c.low, self.entries) {
                // SAFETY: both entries are mapped parts of their tables;
                // writers are excluded by the lock, so the copy is exact.
                unsafe {
                    let v = (*c.base.wrapping_add(i)).load(Ordering::Relaxed);
                    (*base.wrapping_add(i)).store(v, Ordering::Relaxed);
                }
            }
        }
        let gap = (self.entries, self.entries);
        self.publish(t, Table { base, low, gap, extent: false });
        true
    }

    /// Records `tab` as the current table and publishes it, then its `low`.
    /// Its gap is published so that a reader of [`SegMap::lookup_any`]
    /// never pairs a table with a smaller gap than its own: an extent's
    /// before the table, an empty one after.
    fn publish(&self, t: &mut Tables, tab: Table) {
        if let Some(slot) = t.list.get_mut(t.n) {
            *slot = tab;
            t.n += 1;
        }
        // Indices fit 32 bits (at most 2^35 entries would need more: a map
        // of 47 bits has 2^25).
        let gap = if tab.gap.0 < tab.gap.1 { (tab.gap.0 << 32) | tab.gap.1 } else { 0 };
        if gap != 0 {
            self.gap.store(gap, Ordering::Release);
        }
        self.table.store(tab.base, Ordering::Release);
        if gap == 0 {
            self.gap.store(0, Ordering::Release);
        }
        self.low.store(tab.low, Ordering::Release);
    }

    /// Grows the current table, an extent, in place down to `low`: maps
    /// the part of the extent below what it maps. False when that range
    /// could not be mapped (taken, or a limit).
    fn grow_extent(&self, t: &mut Tables, low: usize) -> bool {
        let Some(c) = t.list.get_mut(t.n.wrapping_sub(1)) else { return false };
        let per_page = table_page_entries();
        // The page holding the old `low` is mapped (or the gap's).
        let (from, to) = (low / per_page * per_page, c.low / per_page * per_page);
        if from < to {
            let at = c.base.wrapping_add(from).cast::<u8>();
            let bytes = (to - from) * core::mem::size_of::<usize>();
            if !matches!(crate::map::reserve_exactly(at, bytes), crate::map::MapAt::Mapped(_)) {
                return false;
            }
        }
        c.low = low;
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
        let idx = probe_index(self.entries);
        self.cover(&mut t, idx, idx)
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
        // covers more, and tables are never freed while the map lives. (An
        // extent's gap is not mapped: only an address in the band that no
        // allocator's memory is in gets there, and faults.)
        unsafe { (*t.wrapping_add(idx)).load(Ordering::Acquire) }
    }

    /// The entry for any address `p`, never faulting: 0 for an address
    /// beyond the map, below its table, or whose entry lies in the band an
    /// extent leaves unmapped (no allocator's memory is there, but a
    /// program may place a mapping there itself; [`SegMap::lookup`] would
    /// fault on it). For queries about arbitrary pointers (`hak_owns`),
    /// not for the free path, whose pointers are allocators' memory.
    pub fn lookup_any(&self, p: usize) -> usize {
        let idx = p >> SEGMENT_SHIFT;
        // Acquire on `low`: the table and gap published before it are seen
        // (or newer ones).
        if idx >= self.entries || idx < self.low.load(Ordering::Acquire) {
            return 0;
        }
        let gap = self.gap.load(Ordering::Acquire);
        if idx >= gap >> 32 && idx < gap & (u32::MAX as usize) {
            return 0;
        }
        self.lookup(p)
    }

    /// Sets the entries of every segment in `[base, base+len)` to `value`.
    /// Returns false if the table could not be created or grown to cover it,
    /// or the range lies beyond `entries` (then nothing was set). Setting 0
    /// never creates or grows a table (entries not covered are 0).
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
        if value != 0 && !self.cover(&mut t, first, last) {
            return false;
        }
        // Every table gets the write: a lookup may still read an old one.
        for tab in t.list.iter().take(t.n) {
            for i in tab.mapped(first, last + 1) {
                // SAFETY: a mapped entry of the table.
                unsafe { (*tab.base.wrapping_add(i)).store(value, Ordering::Release) };
            }
        }
        true
    }

    /// Bytes of address space the map's tables hold (what `ulimit -v`
    /// counts; pages of the tables, mapped or not touched).
    pub fn table_bytes(&self) -> usize {
        let t = self.writers.lock();
        let per_page = table_page_entries();
        let word = core::mem::size_of::<usize>();
        t.list.iter().take(t.n).fold(0, |sum, tab| {
            let from = tab.low / per_page * per_page;
            let gap = tab.gap.1.saturating_sub(tab.gap.0);
            sum + (self.entries - from - gap) * word
        })
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

/// Entries per OS page of a table (loom's tables are vectors: 1).
fn table_page_entries() -> usize {
    if cfg!(loom) {
        1
    } else {
        crate::map::page_size() / core::mem::size_of::<usize>()
    }
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
        for tab in t.list.iter().take(t.n) {
            // SAFETY: the map is going away; its tables came from alloc_table
            // (entry `low` first: loom maps have no extents).
            unsafe { free_table(tab.base.wrapping_add(tab.low), self.entries - tab.low) };
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

/// The process-wide entry for any address `p` (see [`SegMap::lookup_any`]):
/// 0 when `p` is not in hakmem memory; never faults.
#[cfg(not(loom))]
pub fn lookup_any(p: usize) -> usize {
    GLOBAL.lookup_any(p)
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

/// Bytes of address space the process-wide map's tables hold.
#[cfg(not(loom))]
pub fn table_bytes() -> usize {
    GLOBAL.table_bytes()
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
mod stand_in;

#[cfg(not(loom))]
mod extent;
#[cfg(not(loom))]
use extent::new_extent;

/// Loom builds: contiguous tables only.
#[cfg(loom)]
fn new_extent(_entries: usize, _low: usize) -> Option<Table> {
    None
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
pub fn lookup_any(p: usize) -> usize {
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
