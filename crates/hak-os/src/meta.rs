//! The metadata arena: zeroed, 64-byte aligned records for allocator
//! bookkeeping (segment records, big-block records, thread contexts), carved
//! from 1 MiB mappings and recycled through per-size free lists. It never
//! calls the allocator it serves and never returns memory to the OS (records
//! are small and reused).

use core::ptr;

use crate::lock::SpinLock;

const CHUNK: usize = 1 << 20;
const GRAIN: usize = 64;
const MAX_RECORD: usize = 64 * 1024;
const LISTS: usize = MAX_RECORD / GRAIN;

struct Arena {
    cur: usize,
    end: usize,
    free: [*mut u8; LISTS + 1],
}

// SAFETY: the raw pointers are only touched under the arena lock.
unsafe impl Send for Arena {}

static ARENA: SpinLock<Arena> = SpinLock::new(Arena { cur: 0, end: 0, free: [ptr::null_mut(); LISTS + 1] });

/// Allocates a zeroed record of `size` bytes (<= 64 KiB), 64-byte aligned.
/// Null when the OS refuses memory or the size is out of range.
pub fn alloc(size: usize) -> *mut u8 {
    if size == 0 || size > MAX_RECORD {
        return ptr::null_mut();
    }
    let grains = size.div_ceil(GRAIN);
    let bytes = grains * GRAIN;
    let mut a = ARENA.lock();
    let head = a.free[grains];
    if !head.is_null() {
        // SAFETY: free records hold the next pointer in their first word.
        a.free[grains] = unsafe { *(head as *mut *mut u8) };
        drop(a);
        // SAFETY: the record is ours now, `bytes` long.
        unsafe { ptr::write_bytes(head, 0, bytes) };
        return head;
    }
    if a.end - a.cur < bytes {
        let c = crate::map::map(CHUNK);
        if c.is_null() {
            return c;
        }
        a.cur = c as usize;
        a.end = c as usize + CHUNK;
    }
    let p = a.cur as *mut u8;
    a.cur += bytes;
    p // fresh mapping: already zero
}

/// Returns a record obtained from [`alloc`] with the same `size`.
///
/// # Safety
/// `p` came from `alloc(size)` and is not used any more.
pub unsafe fn free(p: *mut u8, size: usize) {
    if p.is_null() || size == 0 || size > MAX_RECORD {
        return;
    }
    let grains = size.div_ceil(GRAIN);
    let mut a = ARENA.lock();
    // SAFETY: the record is at least 64 bytes and no longer used.
    unsafe { *(p as *mut *mut u8) = a.free[grains] };
    a.free[grains] = p;
}

/// Fork support: take the arena lock before `fork`.
pub fn prefork() {
    ARENA.raw_lock();
}

/// Fork support: release the arena lock in parent and child after `fork`.
pub fn postfork() {
    // SAFETY: taken by `prefork` in this thread (or held by a thread that does
    // not exist in the child).
    unsafe { ARENA.force_unlock() };
}
