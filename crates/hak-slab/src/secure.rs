//! Secure mode's part of the page engine (docs/security.md, decision 0035):
//! the process-wide switch and secret, encoded free-list links checked on
//! every pop, the one-word block trailer (canary and live/free state) and
//! the shuffled carving of secure pages.
//!
//! Nothing here runs in the default mode: the switch is read on slow paths
//! only. In secure mode the router turns the thread cache off, a heap's
//! current page stays the empty page (so `Heap::try_alloc` always misses)
//! and heaps own their pages under a token the router's `free_fast` never
//! passes, so every operation reaches the secure slow paths.
//!
//! A free block's first word holds its link XOR a key made of the secret
//! and the block's address (as glibc's safe-linking, keyed): a forged or
//! overwritten link decodes to an address that is not a carved block of the
//! page, and the pop aborts. Every carved block's last word (its
//! *trailer*) holds, encoded with the secret and the address, either the
//! size the program asked for plus a 16-bit check, or the free mark, below
//! a keyed top byte with its top and bottom bits set (the byte right before
//! the next block: a one-byte underflow of that block by a NUL or ASCII
//! byte always changes it; a keyed byte missed one in 256). One
//! aligned word, so a thread reading its neighbour's trailer never sees it
//! torn.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use hak_os::diag;

use crate::page::{Block, PagePtr};

static ON: AtomicBool = AtomicBool::new(false);
static ZERO: AtomicBool = AtomicBool::new(false);
static SECRET: [AtomicUsize; 2] = [AtomicUsize::new(0x9e37_79b9_7f4a_7c15), AtomicUsize::new(0xbf58_476d_1ce4_e5b9)];

/// Bytes of a block's trailer (the last word of every secure block).
pub const TRAILER: usize = 8;
/// Bytes after the requested size filled with the canary pattern and
/// checked on free (at most; fewer when the block has less slack).
pub const FILL_MAX: usize = 64;
/// Trailer size value of a free block.
const FREE_SIZE: usize = (1 << 40) - 1;

/// splitmix64's finaliser.
#[inline]
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Turns secure mode on for the process (before any block is allocated):
/// draws the secret from the time-stamp counter and two addresses that
/// ASLR moves; `zero` also zeroes blocks on free.
pub fn enable(zero: bool) {
    let local = 0u8;
    let mut seed = hak_os::now_ms() as u64 ^ (ptr::addr_of!(local) as u64).rotate_left(32);
    seed ^= ptr::addr_of!(ON) as u64;
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no memory effects.
        seed ^= unsafe { core::arch::x86_64::_rdtsc() };
    }
    let a = mix(seed);
    let b = mix(a ^ 0x5851_f42d_4c95_7f2d);
    SECRET[0].store(a as usize | 1, Ordering::Relaxed);
    SECRET[1].store(b as usize, Ordering::Relaxed);
    ZERO.store(zero, Ordering::Relaxed);
    ON.store(true, Ordering::Release);
}

/// Whether secure mode is on (one relaxed load; slow paths only).
#[inline(always)]
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Whether secure mode zeroes freed blocks (`HAKMEM_SECURE_ZERO`).
#[inline]
pub fn zero_on_free() -> bool {
    ZERO.load(Ordering::Relaxed)
}

#[inline(always)]
fn secret(i: usize) -> usize {
    SECRET[i & 1].load(Ordering::Relaxed)
}

/// The key of the link stored in the free block at `at`.
#[inline(always)]
fn link_key(at: usize) -> usize {
    secret(0) ^ at.rotate_left(23)
}

/// Stores `next` (encoded) as the link of the free block `b`.
///
/// # Safety
/// `b` is a block (at least 16 bytes) the caller may write.
#[inline(always)]
pub(crate) unsafe fn set_link(b: *mut Block, next: *mut Block) {
    // SAFETY: per contract.
    unsafe { (*b).next = (next as usize ^ link_key(b as usize)) as *mut Block }
}

/// The link of free block `b` of page `pg`, decoded and checked: null or
/// a carved block of the page whose trailer says free. Aborts otherwise
/// (a write after free, or a forged link).
///
/// # Safety
/// The caller owns `pg`; `b` is a carved block of it on its free list.
#[inline]
pub(crate) unsafe fn link(pg: PagePtr, b: *mut Block) -> *mut Block {
    // SAFETY: per contract; the decoded link is read only once checked.
    unsafe {
        let n = ((*b).next as usize ^ link_key(b as usize)) as *mut Block;
        if !n.is_null() && (!pg.is_block_start(n as usize) || !is_free(n.cast(), pg.block_size() as usize)) {
            diag::fatal("malloc(): corrupted free list (write after free?) detected at", b as usize);
        }
        n
    }
}

/// The state a block's trailer records.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    /// Handed out, for this many requested bytes.
    Live(usize),
    /// Free (on a free list, a remote list or a thread's way to one).
    Free,
    /// Neither: the trailer was overwritten.
    Corrupt,
}

#[inline(always)]
fn trailer_key(b: usize) -> usize {
    secret(1) ^ b.rotate_left(41)
}

#[inline(always)]
fn check16(size: usize, b: usize) -> usize {
    (mix((size ^ b ^ secret(0).rotate_left(7)) as u64) as usize) & 0xffff
}

/// The bits of a trailer word below its top byte.
const LOW56: usize = (1 << 56) - 1;

/// The top byte of block `b`'s trailer (in place): keyed, with its top and
/// bottom bits set, as the fill bytes (see the module docs).
#[inline(always)]
fn trailer_top(b: usize) -> usize {
    ((trailer_key(b) >> 56) | 0x81) << 56
}

#[inline(always)]
fn trailer_word(b: usize, size: usize) -> usize {
    ((((size << 16) | check16(size, b)) ^ trailer_key(b)) & LOW56) | trailer_top(b)
}

/// The trailer word's address of the block `b` of `block` bytes.
#[inline(always)]
fn trailer_at(b: *mut u8, block: usize) -> *mut usize {
    b.wrapping_add(block - TRAILER).cast()
}

/// Reads the state of block `b` (`block` bytes) from its trailer.
///
/// # Safety
/// `b` is a carved block of `block >= 16` bytes (or a big block of that
/// usable size).
#[inline]
pub unsafe fn state(b: *mut u8, block: usize) -> State {
    // SAFETY: per contract the trailer lies in the block; one aligned word.
    let raw = unsafe { ptr::read_volatile(trailer_at(b, block)) };
    if raw & !LOW56 != trailer_top(b as usize) {
        return State::Corrupt;
    }
    let w = (raw ^ trailer_key(b as usize)) & LOW56;
    let size = w >> 16;
    if w & 0xffff != check16(size, b as usize) {
        return State::Corrupt;
    }
    match size {
        FREE_SIZE => State::Free,
        s if s <= block - TRAILER => State::Live(s),
        _ => State::Corrupt,
    }
}

/// Whether block `b`'s trailer says free.
///
/// # Safety
/// As [`state`].
#[inline]
pub unsafe fn is_free(b: *mut u8, block: usize) -> bool {
    // SAFETY: forwarded.
    unsafe { state(b, block) == State::Free }
}

/// The canary byte at offset `i` of block `b`: keyed, with its top and
/// bottom bits set, so the bytes a real one-byte overflow writes (a string's
/// terminating NUL, ASCII text) never equal it. Without the top bit an
/// overflow by `A` (0x41) went unseen in one run in 128.
#[inline(always)]
fn fill_byte(b: usize, i: usize) -> u8 {
    (trailer_key(b) >> ((i & 7) * 8)) as u8 | 0x81
}

/// Hands out block `b` of `block` bytes for `size` requested bytes: fills
/// up to [`FILL_MAX`] bytes after them with the canary and writes the live
/// trailer.
///
/// # Safety
/// `b` is a block of `block` bytes the caller owns, `size + TRAILER <= block`.
pub unsafe fn arm(b: *mut u8, block: usize, size: usize) {
    let end = (size + FILL_MAX).min(block - TRAILER);
    // SAFETY: per contract every byte written lies in the block.
    unsafe {
        for i in size..end {
            *b.add(i) = fill_byte(b as usize, i);
        }
        ptr::write_volatile(trailer_at(b, block), trailer_word(b as usize, size));
    }
}

/// Marks block `b` of `block` bytes free (and zeroes it when asked).
///
/// # Safety
/// `b` is a block of `block` bytes that the caller is freeing.
pub unsafe fn disarm(b: *mut u8, block: usize) {
    // SAFETY: per contract.
    unsafe {
        if zero_on_free() {
            ptr::write_bytes(b, 0, block - TRAILER);
        }
        ptr::write_volatile(trailer_at(b, block), trailer_word(b as usize, FREE_SIZE));
    }
}

/// Checks the live block `b` of `block` bytes that is being freed and
/// returns its requested size: aborts on a free trailer (double free), a
/// damaged trailer or canary (overflow).
///
/// # Safety
/// As [`state`].
pub unsafe fn check_live(b: *mut u8, block: usize) -> usize {
    // SAFETY: per contract.
    unsafe {
        match state(b, block) {
            State::Free => diag::fatal("free(): double free detected", b as usize),
            State::Corrupt => diag::fatal("free(): heap overflow (block trailer) detected at", b as usize),
            State::Live(size) => {
                let end = (size + FILL_MAX).min(block - TRAILER);
                for i in size..end {
                    if *b.add(i) != fill_byte(b as usize, i) {
                        diag::fatal("free(): heap overflow (canary) detected at", b as usize);
                    }
                }
                size
            }
        }
    }
}

/// Carves the `n` blocks of `bs` bytes from `first` onto the front of
/// `pg`'s free list in an order shuffled by `rng` (each block gets its
/// encoded link and a free trailer).
///
/// # Safety
/// The caller owns `pg`; the blocks are uncarved blocks of it.
pub(crate) unsafe fn carve(pg: PagePtr, first: usize, n: usize, bs: usize, rng: &mut u64) {
    // Fisher–Yates over the batch's indices (at most 256 blocks: 4 KiB of
    // 16-byte blocks).
    let mut order = [0u16; 256];
    let n = n.min(order.len());
    for (i, o) in order.iter_mut().enumerate().take(n) {
        *o = i as u16;
    }
    for i in (1..n).rev() {
        *rng = mix(*rng);
        order.swap(i, (*rng as usize) % (i + 1));
    }
    // SAFETY: per contract.
    unsafe {
        let mut head = pg.free();
        for &i in order.iter().take(n) {
            let b = (first + i as usize * bs) as *mut Block;
            set_link(b, head);
            ptr::write_volatile(trailer_at(b.cast(), bs), trailer_word(b as usize, FREE_SIZE));
            head = b;
        }
        pg.set_free(head);
    }
}

/// A fresh random-number state for a heap.
pub(crate) fn seed(token: usize) -> u64 {
    mix((secret(1) ^ token) as u64)
}

/// Writes a free trailer in block `b` of `block` bytes, which stays off
/// every list (a page's block 0 in secure mode).
///
/// # Safety
/// `b` is an uncarved block of `block` bytes of a page the caller owns.
pub(crate) unsafe fn sentinel(b: *mut u8, block: usize) {
    // SAFETY: per contract.
    unsafe { ptr::write_volatile(trailer_at(b, block), trailer_word(b as usize, FREE_SIZE)) }
}

/// Bytes a secure page keeps off its lists (its block 0, see `sentinel`).
#[inline]
#[cfg(debug_assertions)]
pub(crate) fn reserved_blocks() -> u32 {
    on() as u32
}

/// Checks, for the free of block `b` (`block` bytes, at `index` in its
/// page), the trailer of the block before it: an underflow of `b` wrote
/// over it. Block 0 of a secure page is never handed out.
///
/// # Safety
/// `b` is a live block of a secure page.
pub unsafe fn check_before(b: *mut u8, block: usize, index: usize) {
    if index == 0 {
        return;
    }
    // SAFETY: the block before a live one is carved (carving goes in
    // address order, block 0 first).
    if unsafe { state(b.wrapping_sub(block), block) } == State::Corrupt {
        diag::fatal("free(): heap underflow detected at", b as usize);
    }
}

/// Head canary of a big block: the word before `b` (big blocks start
/// inside their mapping's first page).
#[inline]
fn head_word(b: usize) -> usize {
    trailer_word(b ^ 0x5a5a, 0x5a5a)
}

/// Writes the head canary of big block `b` when the word before it is in
/// its mapping (`b` not page-aligned).
///
/// # Safety
/// `b` is a big block the caller owns.
pub unsafe fn arm_head(b: *mut u8) {
    if b as usize & 4095 != 0 {
        // SAFETY: the word lies in the block's mapping, before the block.
        unsafe { ptr::write_volatile(b.sub(TRAILER).cast::<usize>(), head_word(b as usize)) }
    }
}

/// Checks the head canary of big block `b` (see [`arm_head`]).
///
/// # Safety
/// `b` is a live big block.
pub unsafe fn check_head(b: *mut u8) {
    // SAFETY: as in `arm_head`.
    if b as usize & 4095 != 0 && unsafe { ptr::read_volatile(b.sub(TRAILER).cast::<usize>()) } != head_word(b as usize)
    {
        diag::fatal("free(): heap underflow detected at", b as usize);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{state, trailer_word, State, TRAILER};

    /// A one-byte underflow of a block by a NUL or an ASCII byte lands in
    /// the top byte of the trailer before it and always changes its state
    /// (a keyed byte there equalled the written one once in 256 runs of
    /// the security suite's `under1`).
    #[test]
    fn an_ascii_or_nul_byte_over_a_trailers_last_byte_is_always_corrupt() {
        let mut slot = [0usize; 4];
        let block = slot.len() * 8;
        let b = slot.as_mut_ptr().cast::<u8>();
        for size in [1usize, 8, block - TRAILER, (1 << 40) - 1] {
            for v in 0..=0x7fu8 {
                slot[3] = trailer_word(b as usize, size);
                // SAFETY: `b` is a 32-byte slot whose last word is a trailer.
                let before = unsafe { state(b, block) };
                assert_ne!(before, State::Corrupt, "size {size}");
                // SAFETY: the last byte of the slot (the trailer's top byte).
                unsafe { *b.add(block - 1) = v };
                // SAFETY: as above.
                let after = unsafe { state(b, block) };
                assert_eq!(after, State::Corrupt, "byte {v:#x} over size {size}");
            }
        }
    }
}
