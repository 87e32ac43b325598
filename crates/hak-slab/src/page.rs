//! Page descriptors: [`Page`], the owner values, the remote list's word
//! encoding, carving and refilling a page's free list, and the static empty
//! page every heap starts with.

use core::ptr;
use core::sync::atomic as stat;

use hak_os::map;
use hak_os::sync::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use crate::abandon::collect_remote;

/// A free block: its first word links to the next free block.
#[repr(C)]
pub struct Block {
    pub(crate) next: *mut Block,
}

/// Owner value of free pages (on the tier's lists). Never a valid token,
/// and never 0, so a null token matches no page.
pub const NO_OWNER: usize = 1;

/// Owner value of pages given up with blocks still out (exhausted pages, and
/// every page of an exited thread), adopted by the next heap that frees into
/// them or that needs a page with free space. Never a valid token.
pub const ABANDONED: usize = 3;

/// Owner value of an abandoned page while a remote freer reclaims it.
pub(crate) const RECLAIMING: usize = 2;

/// Descriptor of one page (a run of `1 << page_shift` bytes serving one
/// class). 128 bytes: the first cache line holds what the owner's fast paths
/// touch and, on purpose, the remote list: a remote freer reads `owner` and
/// pushes onto `remote`, and the owner collects `remote` next to `free` and
/// `used`, so a block passed between two threads moves one line, not two.
/// With `remote` on a line of its own, `prodcons` ran at a third of the
/// speed (2 and 4 threads).
#[repr(C, align(64))]
pub struct Page {
    /// Owner-only: blocks ready to hand out.
    free: *mut Block,
    /// Blocks handed out and not yet returned. Written by the owner only;
    /// also read by a remote freer of an abandoned page ([`free_remote`]),
    /// so it is a relaxed atomic (plain loads and stores on x86-64): that
    /// read is not a data race, and its ordering comes from the remote
    /// list's RMWs. Use [`PagePtr::used`] and [`PagePtr::set_used`].
    used: stat::AtomicU32,
    /// Blocks carved so far (owner-only).
    capacity: u32,
    /// Token of the owning heap, [`NO_OWNER`] when free, [`ABANDONED`]
    /// when abandoned, `RECLAIMING` while a freer reclaims it.
    owner: AtomicUsize,
    /// Blocks the page can hold.
    reserved: u32,
    /// Size of each block in bytes.
    block_size: u32,
    /// First byte of the page.
    start: usize,
    /// Class index in the tier.
    class: u32,
    /// Bytes from `start` that may be resident, as of the page's last class
    /// change: the deepest carve of the classes it served since it was last
    /// purged, less what a trim returned (see [`page_depth`] and
    /// [`SlabTier::trim_for_class`]); 0 after a purge. Written by whoever
    /// holds the empty page alone (the heap taking it over, or the purge
    /// while it is off every list); read under the tier lock while the page
    /// is on the dirty list.
    depth: u32,
    /// Blocks freed by other threads (multi-producer, single-consumer stack),
    /// with their count in the top 16 bits (see [`REMOTE_COUNT_SHIFT`]).
    remote: AtomicPtr<Block>,
    /// List links (heap lists: owner-only; tier lists: under the tier lock).
    next: PagePtr,
    // ---- second cache line (from `prev` on): bookkeeping of the slow paths
    prev: PagePtr,
    /// When the page was last released (ms, for decay).
    freed_at_ms: u64,
    /// Link of the tier's abandoned-page hint list (under the tier lock).
    hint_next: PagePtr,
    /// On a hint list of the tier (under the tier lock; the page may have
    /// been adopted or released since it was put there).
    hinted: bool,
    /// In the tier's hint inbox (`SlabTier::push_inbox`): set by the one
    /// remote freer that pushes the page (Acquire CAS), cleared by the
    /// drain under the tier lock after it read `inbox_next` (Release).
    in_inbox: AtomicBool,
    /// The class the page had when it was pushed to the inbox (written by
    /// its pusher, read by the drain).
    inbox_class: u8,
    /// Bytes from `start` that are mapped (a page of a grown segment is
    /// mapped as far as its blocks were ever carved, [`map_to`]; whole
    /// otherwise). Written by whoever holds the page alone, as `depth`;
    /// also read by statistics, so a relaxed atomic.
    mapped: stat::AtomicU32,
    /// Links of the tier's per-class dirty list (under the tier lock).
    class_next: PagePtr,
    class_prev: PagePtr,
    /// Link of the tier's hint inbox (written by the page's pusher before
    /// its Release CAS on the inbox head, read by the drain after its
    /// Acquire swap).
    inbox_next: PagePtr,
    /// The token of the heap that last abandoned the page (relaxed, any
    /// thread; a hint for adoption on free, see `Heap::free_slow`).
    abandoned_by: AtomicUsize,
}

impl Page {
    hak_os::loom_const_fn! {
    fn empty() -> Page {
        Page {
            free: ptr::null_mut(),
            used: stat::AtomicU32::new(0),
            capacity: 0,
            owner: AtomicUsize::new(NO_OWNER),
            reserved: 0,
            block_size: 0,
            start: 0,
            class: 0,
            remote: AtomicPtr::new(ptr::null_mut()),
            next: PagePtr::NULL,
            prev: PagePtr::NULL,
            freed_at_ms: 0,
            hint_next: PagePtr::NULL,
            hinted: false,
            in_inbox: AtomicBool::new(false),
            inbox_class: 0,
            mapped: stat::AtomicU32::new(0),
            inbox_next: PagePtr::NULL,
            abandoned_by: AtomicUsize::new(0),
            depth: 0,
            class_next: PagePtr::NULL,
            class_prev: PagePtr::NULL,
        }
    }
    }

    /// Size in bytes of the blocks this page serves (the usable size of each).
    #[inline(always)]
    pub fn block_size(&self) -> usize {
        self.block_size as usize
    }

    /// The index of the block `p` starts in this page, if `p` is the start
    /// of one of the blocks the page can hold (any thread: the class of a
    /// page with a live block does not change).
    pub fn block_index(&self, p: usize) -> Option<usize> {
        let bs = self.block_size as usize;
        if bs == 0 || p < self.start || !(p - self.start).is_multiple_of(bs) {
            return None;
        }
        let i = (p - self.start) / bs;
        (i < self.reserved as usize).then_some(i)
    }

    /// Whether `p` is the start of a block of this page (slow check used by
    /// diagnostics and `realloc`).
    pub fn is_block_start(&self, p: usize) -> bool {
        self.block_size != 0
            && p >= self.start
            && (p - self.start).is_multiple_of(self.block_size as usize)
            && (p - self.start) / (self.block_size as usize) < self.capacity as usize
    }
}

/// A pointer to a page descriptor: the only way the engine reaches a page's
/// fields, so every dereference of a raw page pointer is in this impl.
/// Zero cost: one pointer, passed and returned in a register, and every
/// accessor inlines to the plain load or store it names.
///
/// Every accessor is `unsafe` with one contract: `self` points to a live
/// page descriptor (not null), and the caller may touch the field under the
/// page protocol (see [`Page`]'s fields): the owner-only fields (`free`,
/// `capacity`, `reserved`, `block_size`, `start`, `class`, `depth`) and
/// the heap-list links by the page's owner (a heap whose token is in
/// `owner`, a reclaimer, or whoever holds a free page off every list); the
/// tier-list links, `freed_at_ms` and the hint fields under the tier lock
/// (or by whoever holds the free page off every list); the inbox fields by
/// the thread that claimed the page for the inbox, then by the drain (see
/// [`PagePtr::claim_inbox`]). The atomics
/// (`owner`, `remote`, `used`) may be read by any thread that reached the
/// page (descriptors are never freed while their tier lives).
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct PagePtr(*mut Page);

/// Getter and setter of plain fields of [`Page`], per [`PagePtr`]'s contract.
macro_rules! plain_fields {
    ($($get:ident $(/ $set:ident)?: $t:ty;)*) => {$(
        #[doc = concat!("The page's `", stringify!($get), "` (see [`PagePtr`]'s contract).")]
        ///
        /// # Safety
        /// As every [`PagePtr`] accessor.
        #[inline(always)]
        pub(crate) unsafe fn $get(self) -> $t {
            // SAFETY: per the contract.
            unsafe { (*self.0).$get }
        }
        $(
        #[doc = concat!("Sets the page's `", stringify!($get), "` (see [`PagePtr`]'s contract).")]
        ///
        /// # Safety
        /// As every [`PagePtr`] accessor.
        #[inline(always)]
        pub(crate) unsafe fn $set(self, v: $t) {
            // SAFETY: per the contract.
            unsafe { (*self.0).$get = v }
        }
        )?
    )*};
}

impl PagePtr {
    /// No page (list ends).
    pub(crate) const NULL: PagePtr = PagePtr(ptr::null_mut());

    /// The handle of descriptor `p` (or null).
    #[inline(always)]
    pub(crate) const fn from_raw(p: *mut Page) -> PagePtr {
        PagePtr(p)
    }

    /// The raw descriptor pointer (for the public API).
    #[inline(always)]
    pub(crate) const fn as_ptr(self) -> *mut Page {
        self.0
    }

    /// Whether this is [`PagePtr::NULL`].
    #[inline(always)]
    pub(crate) fn is_null(self) -> bool {
        self.0.is_null()
    }

    plain_fields! {
        free / set_free: *mut Block;
        capacity / set_capacity: u32;
        reserved / set_reserved: u32;
        block_size / set_block_size: u32;
        start: usize;
        class / set_class: u32;
        depth / set_depth: u32;
        next / set_next: PagePtr;
        prev / set_prev: PagePtr;
        freed_at_ms / set_freed_at_ms: u64;
        hint_next / set_hint_next: PagePtr;
        hinted / set_hinted: bool;
        class_next / set_class_next: PagePtr;
        class_prev / set_class_prev: PagePtr;
        inbox_class / set_inbox_class: u8;
        inbox_next / set_inbox_next: PagePtr;
    }

    /// The token of the heap that last abandoned the page (0, `ORPHAN`: an
    /// exiting one, or none yet).
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor.
    #[inline]
    pub(crate) unsafe fn abandoned_by(self) -> usize {
        // SAFETY: per contract.
        unsafe { (*self.0).abandoned_by.load(Ordering::Relaxed) }
    }

    /// Records `token` as the heap that abandons the page.
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor; the caller owns the page.
    #[inline]
    pub(crate) unsafe fn set_abandoned_by(self, token: usize) {
        // SAFETY: per contract.
        unsafe { (*self.0).abandoned_by.store(token, Ordering::Relaxed) }
    }

    /// Claims the page for the tier's hint inbox: true for the one caller
    /// that found it out of the inbox (Acquire: the previous drain's reads
    /// of the inbox fields happened before).
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor.
    #[inline]
    pub(crate) unsafe fn claim_inbox(self) -> bool {
        // SAFETY: per contract.
        unsafe { (*self.0).in_inbox.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok() }
    }

    /// Lets the page be pushed to the inbox again (Release: after the
    /// drain read its inbox fields).
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor; the caller drained the page.
    #[inline]
    pub(crate) unsafe fn release_inbox(self) {
        // SAFETY: per contract.
        unsafe { (*self.0).in_inbox.store(false, Ordering::Release) }
    }

    /// Blocks handed out and not yet returned (relaxed; any thread).
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor.
    #[inline(always)]
    pub(crate) unsafe fn used(self) -> u32 {
        // SAFETY: per the contract.
        unsafe { (*self.0).used.load(stat::Ordering::Relaxed) }
    }

    /// Sets the count of blocks out (owner only; relaxed).
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor.
    #[inline(always)]
    pub(crate) unsafe fn set_used(self, n: u32) {
        // SAFETY: per the contract.
        unsafe { (*self.0).used.store(n, stat::Ordering::Relaxed) }
    }

    /// Links free block `b` into the free list (owner only): second, after
    /// the head, so that the block freed last is not the next one out (a
    /// stale free of it after the next malloc of its class finds it still
    /// on the list: a double free, not a free of the block that malloc
    /// handed out; decision 0051); at the head of an empty list.
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor; `b` is a block of the page that is not
    /// on its free list, and the caller owns the page.
    #[inline(always)]
    pub(crate) unsafe fn link_freed(self, b: *mut Block) {
        // SAFETY: per the contract; the head is a free block of the page,
        // whose first word is its link.
        unsafe {
            let head = self.free();
            if head.is_null() {
                (*b).next = head;
                self.set_free(b);
            } else {
                (*b).next = (*head).next;
                (*head).next = b;
            }
        }
    }

    /// The page's `owner` word (any thread).
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor.
    #[inline(always)]
    pub(crate) unsafe fn owner(self, order: Ordering) -> usize {
        // SAFETY: per the contract.
        unsafe { (*self.0).owner.load(order) }
    }

    /// Stores the page's `owner` (by its owner, giving it up or handing it over).
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor.
    #[inline(always)]
    pub(crate) unsafe fn set_owner(self, v: usize, order: Ordering) {
        // SAFETY: per the contract.
        unsafe { (*self.0).owner.store(v, order) }
    }

    /// Compare-exchange of the page's `owner` (any thread).
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor.
    #[inline(always)]
    pub(crate) unsafe fn cas_owner(self, cur: usize, new: usize, ok: Ordering, err: Ordering) -> Result<usize, usize> {
        // SAFETY: per the contract.
        unsafe { (*self.0).owner.compare_exchange(cur, new, ok, err) }
    }

    /// The page's remote-list word (any thread; see [`remote_ptr`]).
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor.
    #[inline(always)]
    pub(crate) unsafe fn remote(self, order: Ordering) -> *mut Block {
        // SAFETY: per the contract.
        unsafe { (*self.0).remote.load(order) }
    }

    /// Stores the remote-list word (by whoever holds the free page).
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor.
    #[inline(always)]
    pub(crate) unsafe fn set_remote(self, w: *mut Block, order: Ordering) {
        // SAFETY: per the contract.
        unsafe { (*self.0).remote.store(w, order) }
    }

    /// Swaps the remote-list word (the owner takes the list).
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor.
    #[inline(always)]
    pub(crate) unsafe fn swap_remote(self, w: *mut Block, order: Ordering) -> *mut Block {
        // SAFETY: per the contract.
        unsafe { (*self.0).remote.swap(w, order) }
    }

    /// Compare-exchange of the remote-list word (any thread).
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor.
    #[inline(always)]
    pub(crate) unsafe fn cas_remote(
        self,
        cur: *mut Block,
        new: *mut Block,
        ok: Ordering,
        err: Ordering,
    ) -> Result<*mut Block, *mut Block> {
        // SAFETY: per the contract.
        unsafe { (*self.0).remote.compare_exchange(cur, new, ok, err) }
    }

    /// Weak compare-exchange of the remote-list word (a pusher's loop).
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor.
    #[inline(always)]
    pub(crate) unsafe fn cas_remote_weak(
        self,
        cur: *mut Block,
        new: *mut Block,
        ok: Ordering,
        err: Ordering,
    ) -> Result<*mut Block, *mut Block> {
        // SAFETY: per the contract.
        unsafe { (*self.0).remote.compare_exchange_weak(cur, new, ok, err) }
    }

    /// [`Page::is_block_start`] of the page.
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor (an owner-only read).
    #[inline(always)]
    pub(crate) unsafe fn is_block_start(self, p: usize) -> bool {
        // SAFETY: per the contract.
        unsafe { (*self.0).is_block_start(p) }
    }

    /// Bytes from the page's start that are mapped (see [`Page`]).
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor (any thread may read it).
    #[inline]
    pub(crate) unsafe fn mapped(self) -> u32 {
        // SAFETY: per the contract.
        unsafe { (*self.0).mapped.load(stat::Ordering::Relaxed) }
    }

    /// Sets the bytes mapped (by whoever holds the page alone).
    ///
    /// # Safety
    /// As every [`PagePtr`] accessor.
    #[inline]
    pub(crate) unsafe fn set_mapped(self, n: u32) {
        // SAFETY: per the contract.
        unsafe { (*self.0).mapped.store(n, stat::Ordering::Relaxed) }
    }

    /// Writes a fresh free descriptor for the page at `start`, linked to `next`.
    ///
    /// # Safety
    /// `self` points to descriptor memory nobody else can reach yet.
    pub(crate) unsafe fn init(self, start: usize, next: PagePtr) {
        // SAFETY: per the contract.
        unsafe {
            self.0.write(Page::empty());
            (*self.0).start = start;
            (*self.0).next = next;
        }
    }
}

/// The remote list word is a block pointer (47 bits of user address space)
/// with the number of blocks in the list in its top 16 bits, so the owner
/// learns the count with its swap instead of walking the list. A page holds
/// at most 4096 blocks, far below the 65535 the field can count.
pub(crate) const REMOTE_COUNT_SHIFT: u32 = 48;

#[inline(always)]
pub(crate) fn remote_ptr(w: *mut Block) -> *mut Block {
    ((w as usize) & ((1usize << REMOTE_COUNT_SHIFT) - 1)) as *mut Block
}

#[inline(always)]
pub(crate) fn remote_count(w: *mut Block) -> u32 {
    ((w as usize) >> REMOTE_COUNT_SHIFT) as u32
}

#[inline(always)]
pub(crate) fn remote_word(p: *mut Block, count: u32) -> *mut Block {
    ((p as usize) | ((count as usize) << REMOTE_COUNT_SHIFT)) as *mut Block
}

/// Makes the page's `free` list non-empty if it can: remote
/// frees, then carving fresh blocks. Returns whether `free` is non-empty.
///
/// # Safety
/// The caller owns `pg`.
pub(crate) unsafe fn refill(pg: PagePtr) -> bool {
    // SAFETY: owner-only fields of a page we own.
    unsafe {
        if !pg.free().is_null() {
            return true;
        }
        if collect_remote(pg) != 0 {
            return true;
        }
        if pg.capacity() < pg.reserved() {
            let bs = pg.block_size() as usize;
            let n = carve_blocks(bs, (pg.reserved() - pg.capacity()) as usize);
            if !map_to(pg, (pg.capacity() as usize + n) * bs) {
                return false;
            }
            extend(pg);
            return true;
        }
        false
    }
}

/// Granule of [`map_to`]'s mappings and the least a fresh page of a
/// window maps: one OS page, so that a class's first mapping is its first
/// carve (about 4 KiB) and not more (16 KiB steps held 2.7 MiB of address
/// space in `python3 -c 'print(1)'`, one page head per class; decision 0045).
#[inline]
pub(crate) fn map_step() -> usize {
    map::page_size()
}

/// Makes sure the first `bytes` of page `pg` are mapped: maps in place
/// what is missing, at least as much again as is mapped (in [`map_step`]s,
/// never past what the page's blocks can reach); only what is missing
/// where every mapped byte counts (`ulimit -v`, strict overcommit:
/// [`map::mapping_counted`]) or when that much is refused. False when the kernel
/// refused (a limit: retried at the next refill) or the range is taken
/// (see [`hak_os::region`]); the page then serves what it has.
///
/// # Safety
/// The caller holds `pg` alone (its owner, or the tier handing it out).
pub(crate) unsafe fn map_to(pg: PagePtr, bytes: usize) -> bool {
    // SAFETY: per contract, owner-only fields.
    unsafe {
        let have = pg.mapped() as usize;
        if bytes <= have {
            return true;
        }
        let reach = (pg.reserved() as usize * pg.block_size() as usize).next_multiple_of(map::page_size());
        let need = bytes.next_multiple_of(map_step()).min(reach.max(bytes));
        let want = if map::mapping_counted() {
            need
        } else {
            bytes.max(2 * have).next_multiple_of(map_step()).min(reach.max(bytes))
        };
        let at = (pg.start() + have) as *mut u8;
        let mut to = want;
        let mut got = map::map_exactly(at, want - have);
        if got == map::MapAt::Refused && need < want {
            // Under a limit: what the carve needs may still fit.
            to = need;
            got = map::map_exactly(at, need - have);
        }
        if matches!(got, map::MapAt::Mapped(_)) {
            pg.set_mapped(to as u32);
            true
        } else {
            false
        }
    }
}

/// Blocks [`extend`] carves at a time from a page of `bs`-byte blocks with
/// `left` (at least one) blocks not carved yet: about 4 KiB's worth, at
/// least one block.
#[inline(always)]
pub(crate) const fn carve_blocks(bs: usize, left: usize) -> usize {
    let n = 4096 / bs;
    let n = if n < 1 { 1 } else { n };
    if n < left {
        n
    } else {
        left
    }
}

/// The depth of the empty page `pg`: its bytes from the start that may be
/// resident (its recorded depth, or its current class's carve if deeper).
///
/// # Safety
/// `pg` is a free page and the caller holds the tier lock, or owns it.
pub(crate) unsafe fn page_depth(pg: PagePtr) -> usize {
    // SAFETY: per contract.
    unsafe {
        let carved = (pg.capacity() as usize * pg.block_size() as usize).next_multiple_of(map::page_size());
        (pg.depth() as usize).max(carved)
    }
}

/// Bytes of the first carve of a page of `bs`-byte blocks.
pub(crate) const fn first_carve(bs: usize) -> usize {
    carve_blocks(bs, usize::MAX) * bs
}

/// Largest page (as a shift) that keeps only the new class's first carve
/// when it changes class (see `SlabTier::trim_for_class`): the tiny tier's
/// 64 KiB pages. L2's 256 KiB pages keep what the new class can use, as
/// L2.5's do (docs/decisions/0041).
pub const TRIM_MAX_PAGE_SHIFT: u32 = 16;

/// Carves about 4 KiB worth of fresh blocks (at least one) onto `free`.
///
/// # Safety
/// The caller owns `pg`, whose `free` list is empty and capacity not reached.
pub(crate) unsafe fn extend(pg: PagePtr) {
    // SAFETY: the blocks carved lie inside the page and are unused.
    unsafe {
        let bs = pg.block_size() as usize;
        let left = (pg.reserved() - pg.capacity()) as usize;
        let n = carve_blocks(bs, left);
        let first = pg.start() + pg.capacity() as usize * bs;
        let owner = pg.owner(Ordering::Relaxed);
        for i in 0..n {
            let b = (first + i * bs) as *mut Block;
            (*b).next = if i + 1 < n { (first + (i + 1) * bs) as *mut Block } else { ptr::null_mut() };
            crate::cache::key_carved(b, owner); // free of a free block: `Cache::page_holds`
        }
        pg.set_free(first as *mut Block);
        pg.set_capacity(pg.capacity() + n as u32);
    }
}

/// Hints the CPU to load the cache line at `p` (no fault for any address).
#[inline(always)]
pub(crate) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch never faults, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A static, never-written page used as the initial "current page" of every
/// class so the fast path needs no null check.
#[cfg(not(loom))]
struct EmptyPage(Page);
// SAFETY: the empty page is never written (its free list is null, so the fast
// path never touches it, and the slow path recognises it by address).
#[cfg(not(loom))]
unsafe impl Sync for EmptyPage {}
#[cfg(not(loom))]
static EMPTY: EmptyPage = EmptyPage(Page::empty());

/// Loom builds: zero bytes standing in for the empty page (loom atomics
/// cannot live in a static). Only its `free` field (null) is ever read.
#[cfg(loom)]
#[repr(C, align(64))]
struct EmptyPage([u8; core::mem::size_of::<Page>()]);
#[cfg(loom)]
static EMPTY: EmptyPage = EmptyPage([0; core::mem::size_of::<Page>()]);

/// The static empty page (see `EMPTY`).
#[inline(always)]
pub(crate) const fn empty_page() -> PagePtr {
    PagePtr(ptr::addr_of!(EMPTY.0) as *mut Page)
}

// A page descriptor is two cache lines; the remote list shares the first
// with the owner's fields (see [`Page`]).
#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<Page>() == 128);
#[cfg(not(loom))]
const _: () = assert!(core::mem::offset_of!(Page, remote) + 8 <= 64);
