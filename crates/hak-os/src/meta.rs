//! The metadata arena: zeroed, 64-byte aligned records for allocator
//! bookkeeping (segment records, big-block records, thread contexts), carved
//! from mappings of 64 KiB (the first four) then 256 KiB, and
//! recycled through per-size free lists. It never
//! calls the allocator it serves and never returns memory to the OS (records
//! are small and reused).
//!
//! Protocol: everything, carving and both free-list operations, happens
//! under the arena's [`SpinLock`]; a record is zeroed by the thread that
//! received it, after the lock is released. The arena is a [`MetaArena`]
//! instance; the process-wide one behind [`alloc`]/[`free`] is a `static`
//! (under loom a std-locked arena with the same carving code: loom models
//! build their own [`MetaArena`]).

use core::ptr;

use crate::lock::SpinLock;

/// Bytes mapped per chunk once the arena holds [`SMALL_CHUNKS`] (256 KiB:
/// records are at most 64 KiB).
const CHUNK: usize = 256 << 10;
/// Bytes of each of the first chunks: what a small program needs (a few
/// segment records of 9 KiB and a thread context) and no more, since every
/// mapped byte counts against `ulimit -v` (decision 0045).
const SMALL_CHUNK: usize = 64 << 10;
/// Chunks of [`SMALL_CHUNK`] bytes before chunks of [`CHUNK`].
const SMALL_CHUNKS: usize = 4;
const GRAIN: usize = 64;
const MAX_RECORD: usize = 64 * 1024;
const LISTS: usize = MAX_RECORD / GRAIN;

/// The arena's state: the chunk being carved and one free list per size.
struct Arena {
    cur: usize,
    end: usize,
    /// Chunks mapped so far.
    chunks_mapped: usize,
    free: [*mut u8; LISTS + 1],
    /// Loom builds: chunks to unmap when a model's arena is dropped.
    #[cfg(loom)]
    chunks: std::vec::Vec<(usize, usize)>,
}

// SAFETY: the raw pointers are only touched under the arena lock.
unsafe impl Send for Arena {}

impl Arena {
    const fn new() -> Arena {
        Arena {
            cur: 0,
            end: 0,
            chunks_mapped: 0,
            free: [ptr::null_mut(); LISTS + 1],
            #[cfg(loom)]
            chunks: std::vec::Vec::new(),
        }
    }

    /// Takes a record of `grains` grains: from its free list, else carved.
    /// Returns the record and whether it must be zeroed (recycled).
    fn take(&mut self, grains: usize) -> (*mut u8, bool) {
        let head = self.free[grains];
        if !head.is_null() {
            // SAFETY: free records hold the next pointer in their first word.
            self.free[grains] = unsafe { *(head as *mut *mut u8) };
            return (head, true);
        }
        let bytes = grains * GRAIN;
        if self.end - self.cur < bytes {
            let size = if self.chunks_mapped < SMALL_CHUNKS { SMALL_CHUNK } else { CHUNK };
            let c = crate::map::map(size);
            if c.is_null() {
                return (c, false);
            }
            #[cfg(loom)]
            self.chunks.push((c as usize, size));
            self.chunks_mapped += 1;
            self.cur = c as usize;
            self.end = c as usize + size;
        }
        let p = self.cur as *mut u8;
        self.cur += bytes;
        (p, false) // fresh mapping: already zero
    }

    /// Pushes record `p` of `grains` grains on its free list.
    ///
    /// # Safety
    /// `p` is a record of that size that nobody uses any more.
    unsafe fn put(&mut self, p: *mut u8, grains: usize) {
        // SAFETY: the record is at least 64 bytes and no longer used.
        unsafe { *(p as *mut *mut u8) = self.free[grains] };
        self.free[grains] = p;
    }
}

/// The grains of a record of `size` bytes, None when out of range.
fn grains_of(size: usize) -> Option<usize> {
    if size == 0 || size > MAX_RECORD {
        None
    } else {
        Some(size.div_ceil(GRAIN))
    }
}

/// A metadata arena (see the module documentation).
pub struct MetaArena {
    arena: SpinLock<Arena>,
}

impl MetaArena {
    crate::loom_const_fn! {
        /// An empty arena; it maps its first chunk on first use.
        pub fn new() -> MetaArena {
            MetaArena { arena: SpinLock::new(Arena::new()) }
        }
    }

    /// Allocates a zeroed record of `size` bytes (<= 64 KiB), 64-byte
    /// aligned. Null when the OS refuses memory or the size is out of range.
    pub fn alloc(&self, size: usize) -> *mut u8 {
        let Some(grains) = grains_of(size) else { return ptr::null_mut() };
        let (p, recycled) = self.arena.lock().take(grains);
        if recycled {
            // SAFETY: the record is ours now, `grains * GRAIN` bytes long.
            unsafe { ptr::write_bytes(p, 0, grains * GRAIN) };
        }
        p
    }

    /// Returns a record obtained from [`MetaArena::alloc`] with the same `size`.
    ///
    /// # Safety
    /// `p` came from `self.alloc(size)` and is not used any more.
    pub unsafe fn free(&self, p: *mut u8, size: usize) {
        let Some(grains) = grains_of(size) else { return };
        if p.is_null() {
            return;
        }
        // SAFETY: per the caller's contract.
        unsafe { self.arena.lock().put(p, grains) };
    }

    /// Fork support: takes the arena lock before `fork`.
    pub fn prefork(&self) {
        self.arena.raw_lock();
    }

    /// Fork support: releases the arena lock in parent and child after `fork`.
    pub fn postfork(&self) {
        // SAFETY: taken by `prefork` in this thread (or held by a thread that
        // does not exist in the child).
        unsafe { self.arena.force_unlock() };
    }
}

impl Default for MetaArena {
    fn default() -> Self {
        MetaArena::new()
    }
}

#[cfg(loom)]
impl Drop for MetaArena {
    fn drop(&mut self) {
        for &(c, size) in self.arena.lock().chunks.iter() {
            // SAFETY: the arena and every record carved from it go away.
            unsafe { crate::map::unmap(c as *mut u8, size) };
        }
    }
}

/// The process-wide arena.
#[cfg(not(loom))]
static ARENA: MetaArena = MetaArena::new();

/// Allocates a zeroed record of `size` bytes (<= 64 KiB), 64-byte aligned,
/// from the process-wide arena. Null when the OS refuses memory or the size
/// is out of range.
#[cfg(not(loom))]
pub fn alloc(size: usize) -> *mut u8 {
    ARENA.alloc(size)
}

/// Returns a record obtained from [`alloc`] with the same `size`.
///
/// # Safety
/// `p` came from `alloc(size)` and is not used any more.
#[cfg(not(loom))]
pub unsafe fn free(p: *mut u8, size: usize) {
    // SAFETY: per the caller's contract.
    unsafe { ARENA.free(p, size) }
}

/// Fork support: take the process-wide arena lock before `fork`.
#[cfg(not(loom))]
pub fn prefork() {
    ARENA.prefork();
}

/// Fork support: release the process-wide arena lock in parent and child
/// after `fork`.
#[cfg(not(loom))]
pub fn postfork() {
    ARENA.postfork();
}

/// Loom builds: the process-wide arena is the same carving code under a
/// std mutex (it outlives every model execution, which loom objects cannot).
#[cfg(loom)]
static ARENA: std::sync::Mutex<Arena> = std::sync::Mutex::new(Arena::new());

/// Loom builds: see [`ARENA`].
#[cfg(loom)]
pub fn alloc(size: usize) -> *mut u8 {
    let Some(grains) = grains_of(size) else { return ptr::null_mut() };
    let (p, recycled) = ARENA.lock().unwrap_or_else(|e| e.into_inner()).take(grains);
    if recycled {
        // SAFETY: the record is ours now.
        unsafe { ptr::write_bytes(p, 0, grains * GRAIN) };
    }
    p
}

/// Loom builds: see [`ARENA`].
///
/// # Safety
/// `p` came from `alloc(size)` and is not used any more.
#[cfg(loom)]
pub unsafe fn free(p: *mut u8, size: usize) {
    let Some(grains) = grains_of(size) else { return };
    if !p.is_null() {
        // SAFETY: per the caller's contract.
        unsafe { ARENA.lock().unwrap_or_else(|e| e.into_inner()).put(p, grains) };
    }
}

/// Loom builds: no-op.
#[cfg(loom)]
pub fn prefork() {}

/// Loom builds: no-op.
#[cfg(loom)]
pub fn postfork() {}
