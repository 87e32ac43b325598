//! The segment map: address → owner record, in O(1), without touching the
//! address's memory.
//!
//! One word per 4 MiB of the 47-bit user address space (2^25 entries), in two
//! levels so that only what registered segments need is ever mapped: a root
//! of [`ROOT_SLOTS`] (2^12) chunk pointers inside the [`SegMap`] itself (the
//! process-wide instance is a `static`: 32 KiB of `.data`, no reservation),
//! each pointing to a chunk of [`CHUNK_ENTRIES`] (2^13) entries (64 KiB of
//! `MAP_NORESERVE` memory covering 32 GiB of address space) mapped by the
//! first registration in its range, or, until then, to a shared chunk of
//! zeros that is never written. Slots hold chunk pointers biased by their
//! range's first index, so a lookup is a bound check, two loads and no
//! other test (see [`SegMap`]). (The single-level table this replaces
//! reserved 256 MiB of address space at start-up, which `RLIMIT_AS` counts:
//! hakmem could not start under `ulimit -v` below about 267 MiB, issue 21.)
//! An entry is 0 for "not ours", or a pointer to the owner's metadata record
//! with a tag in its low bits ([`TAG_SLAB`], [`TAG_BIG`]).
//!
//! Protocol: an entry is written (Release) before the memory it describes is
//! handed to any user, and cleared after the memory is withdrawn; lookups load
//! with Acquire. A pointer a user legitimately holds was published by a write
//! that happens-before the user received it, so its lookup sees the entry.
//! A chunk is created by the first registration in its range (racing
//! creators: one CAS from the chunk of zeros wins, the losers unmap theirs and use the
//! winner's) before that registration writes any entry into it, so the
//! chunk's publication happens-before every entry stored in it; chunks are
//! never freed while the map lives. A failure to map a chunk makes
//! [`SegMap::set_range`] return false with nothing set (the allocation that
//! needed it fails cleanly; a later registration tries again).
//!
//! The map is a [`SegMap`] instance; the process-wide one behind the free
//! functions of this module is a `static` (loom builds replace it with a
//! std-locked stand-in that is not model-checked, because a loom model cannot
//! hold 2^12 + 2^13 atomics; the `segmap_*` loom models check [`SegMap`]
//! instances with small levels, `SegMap::<2, 2>`, instead).

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
/// Entries per second-level chunk of the process-wide map (64 KiB, 32 GiB of
/// address space).
pub const CHUNK_ENTRIES: usize = 1 << 13;
/// First-level slots of the process-wide map.
pub const ROOT_SLOTS: usize = ENTRIES / CHUNK_ENTRIES;
const _: () = assert!(ROOT_SLOTS * CHUNK_ENTRIES == ENTRIES && ROOT_SLOTS == 1 << 12);

/// A two-level segment map of `R * C` segment-sized slots of the address
/// space: `R` root slots (in the struct), each null or pointing to a lazily
/// mapped chunk of `C` entries (`C` a power of two). The defaults are the
/// process-wide map's ([`ROOT_SLOTS`], [`CHUNK_ENTRIES`]); loom models use
/// small levels.
pub struct SegMap<const R: usize = ROOT_SLOTS, const C: usize = CHUNK_ENTRIES> {
    /// Slot `r` holds `bias(chunk, r)`: the address of its chunk's first
    /// entry minus `r * C` entries, so that the entry of segment index `idx`
    /// is at `slot + idx` (no masking in `lookup`). A slot without a chunk
    /// holds `bias(zero, r)`, the never-written chunk of zeros (so `lookup`
    /// needs no null test either).
    roots: [AtomicPtr<AtomicUsize>; R],
    /// Registrations at or beyond this index are refused (`with_entries`).
    entries: usize,
    /// Loom builds: chunks currently allocated (published or not), so the
    /// models can check that a losing creator frees its chunk.
    #[cfg(loom)]
    live_chunks: std::sync::atomic::AtomicUsize,
    /// Loom builds: this map's chunk of zeros (normal builds share
    /// [`ZERO_CHUNK`]).
    #[cfg(loom)]
    zero: *mut AtomicUsize,
}

/// The chunk of zeros that slots without a chunk point into (never written:
/// `set_range` writes only into mapped chunks). 64 KiB of `.bss`; its pages
/// are only ever read, so they stay the kernel's shared zero page.
#[cfg(not(loom))]
static ZERO_CHUNK: [AtomicUsize; CHUNK_ENTRIES] = [const { AtomicUsize::new(0) }; CHUNK_ENTRIES];

// SAFETY: all shared state is atomic; chunks are never freed while the map
// is alive.
unsafe impl<const R: usize, const C: usize> Sync for SegMap<R, C> {}
// SAFETY: as above; the chunks are owned by the map.
unsafe impl<const R: usize, const C: usize> Send for SegMap<R, C> {}

impl SegMap {
    crate::loom_const_fn! {
        /// A map of the whole 47-bit user address space ([`ENTRIES`] entries).
        pub fn new() -> SegMap {
            SegMap::with_entries(ENTRIES)
        }
    }
}

impl<const R: usize, const C: usize> SegMap<R, C> {
    const CHUNK_POW2: () = assert!(C.is_power_of_two() && C <= CHUNK_ENTRIES && R > 0);

    /// The slot value of chunk `c` at root slot `r` (see `roots`).
    #[inline(always)]
    const fn bias(c: *mut AtomicUsize, r: usize) -> *mut AtomicUsize {
        c.wrapping_sub(r * C)
    }

    /// The chunk of slot value `s` at root slot `r`.
    #[inline(always)]
    fn unbias(s: *mut AtomicUsize, r: usize) -> *mut AtomicUsize {
        s.wrapping_add(r * C)
    }

    /// The chunk of zeros of this map.
    #[inline(always)]
    fn zero(&self) -> *mut AtomicUsize {
        #[cfg(not(loom))]
        return ZERO_CHUNK.as_ptr().cast_mut();
        #[cfg(loom)]
        return self.zero;
    }

    /// The chunk of root slot `r`: null if it has none yet.
    fn chunk(&self, r: usize) -> *mut AtomicUsize {
        let c = Self::unbias(self.roots[r].load(Ordering::Acquire), r);
        if c == self.zero() {
            core::ptr::null_mut()
        } else {
            c
        }
    }

    /// A map of `entries` segment slots (addresses below
    /// `entries << SEGMENT_SHIFT`; at most `R * C`); chunks are created by
    /// the registrations that need them.
    #[cfg(not(loom))]
    pub const fn with_entries(entries: usize) -> SegMap<R, C> {
        #[allow(clippy::let_unit_value)]
        let () = Self::CHUNK_POW2;
        let entries = if entries < R * C { entries } else { R * C };
        let zero = ZERO_CHUNK.as_ptr().cast_mut();
        let mut roots = [const { AtomicPtr::new(core::ptr::null_mut()) }; R];
        let mut r = 0;
        while r < R {
            roots[r] = AtomicPtr::new(Self::bias(zero, r));
            r += 1;
        }
        SegMap { roots, entries }
    }

    /// A map of `entries` segment slots (addresses below
    /// `entries << SEGMENT_SHIFT`; at most `R * C`); chunks are created by
    /// the registrations that need them.
    #[cfg(loom)]
    pub fn with_entries(entries: usize) -> SegMap<R, C> {
        #[allow(clippy::let_unit_value)]
        let () = Self::CHUNK_POW2;
        let v: std::vec::Vec<AtomicUsize> = (0..C).map(|_| AtomicUsize::new(0)).collect();
        let zero: *mut AtomicUsize = std::boxed::Box::into_raw(v.into_boxed_slice()).cast();
        SegMap {
            roots: core::array::from_fn(|r| AtomicPtr::new(Self::bias(zero, r))),
            entries: entries.min(R * C),
            live_chunks: std::sync::atomic::AtomicUsize::new(0),
            zero,
        }
    }

    /// The chunk of root slot `r` (< R), created if missing; null if it could
    /// not be mapped.
    fn chunk_or_create(&self, r: usize) -> *mut AtomicUsize {
        let c = self.chunk(r);
        if !c.is_null() {
            return c;
        }
        let fresh = self.alloc_chunk();
        if fresh.is_null() {
            return fresh;
        }
        // Release: the chunk's zeroed contents happen-before any load through
        // the published pointer (lookups load the slot with Acquire).
        let absent = Self::bias(self.zero(), r);
        match self.roots[r].compare_exchange(absent, Self::bias(fresh, r), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => fresh,
            Err(winner) => {
                // SAFETY: our chunk lost the race and was never published.
                unsafe { self.free_chunk(fresh) };
                Self::unbias(winner, r)
            }
        }
    }

    /// Kept for the API: chunks are created by the registrations that need
    /// them, so there is nothing to prepare; always true.
    pub fn init(&self) -> bool {
        true
    }

    /// The entry for address `p`: 0 when `p` is not registered (including
    /// every address at or beyond `R * C` segments, and every address whose
    /// chunk was never created).
    #[inline(always)]
    pub fn lookup(&self, p: usize) -> usize {
        let idx = p >> SEGMENT_SHIFT;
        if idx >= R * C {
            return 0;
        }
        let r = idx / C;
        // Acquire pairs with the creating CAS (the chunk's zeroed contents);
        // it is a plain load on x86-64. (Relaxed would be enough for a user's
        // own pointers, whose entry store happens-after the slot's CAS in the
        // registering thread, but a lookup of a foreign address in a chunk
        // just created by another thread has no other edge to the chunk's
        // initialisation.)
        let s = self.roots[r].load(Ordering::Acquire);
        // SAFETY: `s` is `bias(c, r)` for a chunk `c` of C entries (a
        // published chunk or the chunk of zeros), never freed while the map
        // lives; r * C <= idx < r * C + C, so `s + idx` is entry idx - r * C
        // of `c`.
        unsafe { (*s.wrapping_add(idx)).load(Ordering::Acquire) }
    }

    /// Sets the entries of every segment in `[base, base+len)` to `value`.
    /// Returns false if a chunk the range needs could not be mapped or the
    /// range lies beyond the map (then nothing was set). Setting 0 never
    /// creates a chunk (a missing chunk's entries are all 0).
    pub fn set_range(&self, base: usize, len: usize, value: usize) -> bool {
        if len == 0 {
            return true;
        }
        let Some(end) = base.checked_add(len - 1) else {
            return false;
        };
        let (first, last) = (base >> SEGMENT_SHIFT, end >> SEGMENT_SHIFT);
        if last >= self.entries {
            return false;
        }
        if value != 0 {
            // Create every chunk first, so that a failure sets nothing.
            for r in first / C..=last / C {
                if self.chunk_or_create(r).is_null() {
                    return false;
                }
            }
        }
        for r in first / C..=last / C {
            let c = self.chunk(r);
            if c.is_null() {
                continue; // value == 0: nothing to clear
            }
            let lo = first.max(r * C) - r * C;
            let hi = last.min(r * C + C - 1) - r * C;
            for i in lo..=hi {
                // SAFETY: i < C; the chunk is never freed while the map lives.
                unsafe { (*c.add(i)).store(value, Ordering::Release) };
            }
        }
        true
    }

    /// Clears the entries of every segment in `[base, base+len)`.
    pub fn clear_range(&self, base: usize, len: usize) {
        let _ = self.set_range(base, len, 0);
    }

    /// Number of chunks created so far (published ones).
    pub fn chunks(&self) -> usize {
        (0..R).filter(|&r| !self.chunk(r).is_null()).count()
    }

    /// A zeroed chunk of `C` atomics: `MAP_NORESERVE` memory (zero bytes are
    /// a valid `AtomicUsize(0)`); null on failure.
    #[cfg(not(loom))]
    fn alloc_chunk(&self) -> *mut AtomicUsize {
        crate::map::map(C * core::mem::size_of::<usize>()).cast()
    }

    /// # Safety
    /// `c` came from `alloc_chunk` and is not used by anyone any more.
    #[cfg(not(loom))]
    unsafe fn free_chunk(&self, c: *mut AtomicUsize) {
        // SAFETY: per the caller's contract.
        unsafe { crate::map::unmap(c.cast(), C * core::mem::size_of::<usize>()) };
    }

    #[cfg(loom)]
    fn alloc_chunk(&self) -> *mut AtomicUsize {
        self.live_chunks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let v: std::vec::Vec<AtomicUsize> = (0..C).map(|_| AtomicUsize::new(0)).collect();
        std::boxed::Box::into_raw(v.into_boxed_slice()).cast()
    }

    #[cfg(loom)]
    unsafe fn free_chunk(&self, c: *mut AtomicUsize) {
        self.live_chunks.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: `c` came from `alloc_chunk`, a boxed slice of C atomics.
        drop(unsafe { std::boxed::Box::from_raw(core::ptr::slice_from_raw_parts_mut(c, C)) });
    }

    /// Loom builds: chunks allocated and not yet freed (published or not).
    #[cfg(loom)]
    pub fn live_chunks(&self) -> usize {
        self.live_chunks.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Default for SegMap {
    fn default() -> Self {
        SegMap::new()
    }
}

impl<const R: usize, const C: usize> Drop for SegMap<R, C> {
    /// Unmaps the chunks (the process-wide map is a `static`, never dropped).
    fn drop(&mut self) {
        for r in 0..R {
            let c = self.chunk(r);
            if !c.is_null() {
                // SAFETY: the map is going away (`&mut self`); its chunks
                // came from alloc_chunk and nobody can look them up any more.
                unsafe { self.free_chunk(c) };
            }
        }
        #[cfg(loom)]
        // SAFETY: the chunk of zeros is a boxed slice of C atomics made by
        // `with_entries`, unreachable once the map is gone.
        drop(unsafe { std::boxed::Box::from_raw(core::ptr::slice_from_raw_parts_mut(self.zero, C)) });
    }
}

/// The process-wide segment map.
#[cfg(not(loom))]
static GLOBAL: SegMap = SegMap::new();

/// Kept for the API: the process-wide map needs no preparation; always true.
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
