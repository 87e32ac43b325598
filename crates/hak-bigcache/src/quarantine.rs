//! The quarantine of freed big blocks (secure mode, with guards on): a
//! freed mapping is not unmapped at once but replaced by an inaccessible,
//! unbacked range (`hak_os::map::quarantine`: `PROT_NONE`, its pages
//! released, not charged) that stays registered in the segment map with
//! its record in state [`QUARANTINED`], in a FIFO bounded by
//! [`MAX_QUARANTINED`] entries and [`MAX_QUARANTINED_BYTES`] of address
//! space (the oldest are unmapped to make room; a mapping bigger than the
//! byte bound is unmapped at once). While quarantined:
//! (a) `mmap` cannot hand its addresses out again, so a stale pointer never
//!     reaches a later block;
//! (b) a free of its block is recognised ([`quarantined`]) and reported as
//!     a double free;
//! (c) any access faults, and [`fault_kind`] names the fault (the secure
//!     mode's signal reporter, `hak_os::signal`).
//!
//! [`fault_kind`] runs in a signal handler: it reads only the segment map
//! and the records' atomics (records are never unmapped), takes no lock.

use hak_os::sync::Ordering;
use hak_os::{map, segmap};

use crate::record::{BigBlock, CACHED, LIVE};
use crate::{BigCache, TAG_BIG};

/// State of a mapping in the quarantine (after LIVE and CACHED).
pub(crate) const QUARANTINED: u32 = 3;
/// Entries the quarantine holds at most.
pub const MAX_QUARANTINED: usize = 64;
/// Address space the quarantine holds at most (1 GiB).
pub const MAX_QUARANTINED_BYTES: usize = 1 << 30;

/// The FIFO: a ring of records, oldest at `head`.
pub(crate) struct Fifo {
    ring: [*mut BigBlock; MAX_QUARANTINED],
    head: usize,
    n: usize,
    bytes: usize,
}

// SAFETY: the records are only touched under the quarantine's lock (or by
// lock-free readers of their atomics).
unsafe impl Send for Fifo {}

impl Fifo {
    /// An empty quarantine.
    pub(crate) const fn new() -> Fifo {
        Fifo { ring: [core::ptr::null_mut(); MAX_QUARANTINED], head: 0, n: 0, bytes: 0 }
    }

    /// Takes the oldest entry out (null when empty).
    fn pop(&mut self) -> *mut BigBlock {
        if self.n == 0 {
            return core::ptr::null_mut();
        }
        let rec = self.ring[self.head % MAX_QUARANTINED];
        self.head = (self.head + 1) % MAX_QUARANTINED;
        self.n -= 1;
        // SAFETY: a quarantined record, ours under the lock.
        self.bytes -= unsafe { (*rec).map_size };
        rec
    }
}

impl BigCache {
    /// Retires `rec` (CACHED, its block freed, in no cache): quarantined
    /// when guards are on and the kernel agrees, else unregistered and
    /// unmapped ([`BigCache::destroy`]).
    pub(crate) fn retire(&self, rec: *mut BigBlock) {
        if !crate::guard::on() {
            return self.destroy(rec);
        }
        // SAFETY: the record is ours (CACHED, out of the cache).
        let (base, size) = unsafe { ((*rec).base, (*rec).map_size) };
        // SAFETY: our mapping, whose block was freed.
        if size > MAX_QUARANTINED_BYTES || !unsafe { map::quarantine(base as *mut u8, size) } {
            return self.destroy(rec);
        }
        // SAFETY: as above; the pages are gone, nothing is dirty.
        unsafe {
            (*rec).dirty = 0;
            (*rec).state.store(QUARANTINED, Ordering::Release);
        }
        let mut out = [core::ptr::null_mut(); MAX_QUARANTINED];
        let mut no = 0;
        {
            let mut q = self.quarantine.lock();
            while no < MAX_QUARANTINED && q.n > 0 && (q.n == MAX_QUARANTINED || q.bytes + size > MAX_QUARANTINED_BYTES)
            {
                out[no] = q.pop();
                no += 1;
            }
            let tail = (q.head + q.n) % MAX_QUARANTINED;
            q.ring[tail] = rec;
            q.n += 1;
            q.bytes += size;
        }
        self.stats.quarantined.fetch_add(1, Ordering::Relaxed);
        for &old in &out[..no] {
            // SAFETY: out of the quarantine: ours; `destroy` wants CACHED.
            unsafe { (*old).state.store(CACHED, Ordering::Release) };
            self.destroy(old);
        }
    }

    /// Quarantined entries and their address space right now.
    pub fn quarantined(&self) -> (usize, usize) {
        let q = self.quarantine.lock();
        (q.n, q.bytes)
    }
}

/// Whether `p` is the block of a quarantined mapping (a free of it is a
/// double free).
///
/// # Safety
/// `entry` is `segmap::lookup(p)`, tagged [`TAG_BIG`].
pub unsafe fn quarantined(entry: usize, p: *const u8) -> bool {
    let rec = (entry & !segmap::TAG_MASK) as *const BigBlock;
    // SAFETY: records registered in the segment map are never unmapped.
    unsafe { (*rec).user == p as usize && (*rec).state.load(Ordering::Acquire) == QUARANTINED }
}

/// What a fault at `addr` hit, if it is one of the big tier's traps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The guard page right after a live block.
    Guard,
    /// A quarantined (freed) mapping.
    Freed,
}

/// Classifies a fault at `addr` (async-signal safe: atomics only).
pub fn fault_kind(addr: usize) -> Option<Fault> {
    let e = segmap::lookup(addr);
    if e & segmap::TAG_MASK != TAG_BIG {
        return None;
    }
    let rec = (e & !segmap::TAG_MASK) as *const BigBlock;
    // SAFETY: records registered in the segment map are never unmapped;
    // their fields other than `state` are written before registration.
    unsafe {
        let state = (*rec).state.load(Ordering::Acquire);
        let (base, size) = ((*rec).base, (*rec).map_size);
        if addr < base || addr - base >= size {
            return None;
        }
        let guard = (*rec).user + (*rec).size;
        if state == QUARANTINED {
            Some(Fault::Freed)
        } else if state == LIVE && addr >= guard && addr - guard < map::page_size() && crate::guard::on() {
            Some(Fault::Guard)
        } else {
            None
        }
    }
}
