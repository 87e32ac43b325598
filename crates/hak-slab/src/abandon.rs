//! Abandonment: giving up pages with live blocks, adopting them (on free,
//! or from the tier's hints), reclaiming those whose last block a freer
//! without their ownership returns, and the free paths that decide which
//! (the owner's fast test, the remote free).

use core::ptr;

use hak_os::sync::Ordering;
use hak_os::{diag, segmap};

use crate::check::{check_owned, check_used};
use crate::page::{
    empty_page, remote_count, remote_ptr, remote_word, Block, Page, PagePtr, ABANDONED, NO_OWNER, RECLAIMING,
};
use crate::stats::count;
use crate::{seg_of_entry, Heap, MAX_CLASSES};

/// [`PagePtr::abandoned_by`] of a page abandoned at its owner's exit: no
/// live heap allocates from it any more.
pub(crate) const ORPHAN: usize = 0;

/// Abandoned pages with free space that [`Heap::abandon_all`] records in the
/// tier per lock acquisition at most.
pub(crate) const HINT_BATCH: usize = 32;

impl Heap {
    /// Gives up an exhausted page (no free block, fully carved, on no list,
    /// no current-page reference) rather than keeping it where nobody
    /// collects what other threads free into it while we allocate other
    /// classes: it is abandoned, and the next heap that frees one of its
    /// blocks adopts it (we, or whoever received the block), or a freer
    /// without a heap reclaims it.
    ///
    /// If a remote free raced in ([`abandon`] returned false), its freer may
    /// have seen our token and will do nothing more: we take the page back
    /// with a CAS `ABANDONED → token` (AcqRel) and put it on the partial
    /// list, where the next refill collects the block. That CAS competes
    /// with every adopter's and reclaimer's CAS from `ABANDONED`, so exactly
    /// one of us owns the page; if ours fails, the winner collects.
    ///
    /// # Safety
    /// As above; called by the owning thread.
    pub(crate) unsafe fn detach(&mut self, pg: PagePtr) {
        // SAFETY: we own the page until `abandon` stores ABANDONED, and again
        // if our CAS wins (the page's fields then are as we left them, or
        // as the last owner released them with its store of ABANDONED).
        unsafe {
            if abandon(pg, self.token) {
                count(&(*self.tier).stats.pages_abandoned, 1);
                return;
            }
            if pg.cas_owner(ABANDONED, self.token, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                self.link(pg);
            }
        }
    }

    /// Takes over a page whose owner we just became by a CAS `ABANDONED →
    /// token` (on free, or from the tier's hints; AcqRel: acquires the
    /// fields released by the abandoning store): collects the remote frees
    /// that arrived meanwhile. The caller puts the page on a list.
    ///
    /// # Safety
    /// We own `pg`, which is on no list.
    pub(crate) unsafe fn adopt(&mut self, pg: PagePtr) {
        // SAFETY: per contract.
        unsafe {
            let tier = &*self.tier;
            count(&tier.stats.pages_adopted, 1);
            self.remote_collected += collect_remote(pg) as usize;
        }
    }
    /// Returns every page to the tier: empty pages are released, the others
    /// abandoned for adoption (those with free space also recorded as hints
    /// for heaps that need a page). Called at thread exit; the heap is
    /// reusable afterwards (after [`Heap::init`]).
    ///
    /// # Safety
    /// Called by the owning thread, which will not use the heap again without
    /// re-initialising it.
    pub unsafe fn abandon_all(&mut self) {
        if self.tier.is_null() {
            return;
        }
        // Batched blocks go to their pages first (ours included: their
        // remote lists are collected below).
        self.flush_remote();
        // SAFETY: all pages reached are ours, until abandoned.
        unsafe {
            self.check();
            let tier = &*self.tier;
            // Recorded after the pages are abandoned: a hint is only taken
            // by a CAS from ABANDONED.
            let mut hints = [(PagePtr::NULL, 0usize); HINT_BATCH];
            let mut nh = 0;
            for c in 0..MAX_CLASSES {
                let cur = self.cur[c];
                if cur != empty_page() {
                    cur.set_used(cur.used() - 1); // the current-page reference
                    check_used(cur, false);
                    self.cur[c] = empty_page();
                    self.uncount_cur(c);
                    self.link(cur);
                }
                loop {
                    let pg = self.partial[c];
                    if pg.is_null() {
                        break;
                    }
                    self.unlink(pg);
                    self.remote_collected += collect_remote(pg) as usize;
                    if pg.used() == 0 {
                        tier.release_page(pg);
                        continue;
                    }
                    let has_room = !pg.free().is_null() || pg.capacity() < pg.reserved();
                    count(&tier.stats.pages_abandoned, 1);
                    if !abandon(pg, ORPHAN) {
                        reclaim(pg);
                    }
                    if has_room {
                        if nh == HINT_BATCH {
                            tier.push_hints(&hints);
                            nh = 0;
                        }
                        hints[nh] = (pg, c);
                        nh += 1;
                    }
                }
            }
            tier.push_hints(&hints[..nh]);
            self.flush_stats();
        }
    }
}

/// The owner's free fast path: if the page is owned by `token` and does not
/// become empty, pushes `p` onto its free list and returns true (no
/// atomics; second on the list, see `PagePtr::link_freed`). Otherwise
/// (also when the list is empty) returns false: call [`Heap::free_slow`] (or
/// [`free_remote`] without a heap). Also refuses an immediate double free
/// (`p` already at the head of the free list), which the slow path then
/// reports.
///
/// # Safety
/// `p` is a live block of `pg`; `token` is the calling thread's token (0 if
/// it has none).
#[inline(always)]
pub unsafe fn free_fast(pg: *mut Page, p: *mut u8, token: usize) -> bool {
    let pg = PagePtr::from_raw(pg);
    // SAFETY: the owner check comes first: a thread that does not own the
    // page reads nothing else of it; then owner-only fields.
    unsafe {
        if pg.owner(Ordering::Relaxed) != token {
            return false;
        }
        let u = pg.used();
        let head = pg.free();
        // (An empty list: the slow path puts a block ahead of `p` first,
        // see `Heap::free_local_slow`.)
        if u >= 2 && !head.is_null() && head != p as *mut Block {
            pg.link_freed(p as *mut Block);
            pg.set_used(u - 1);
            return true;
        }
        false
    }
}

/// Frees block `p` of page `pg` from a thread that does not own the page
/// (or has no heap): one CAS onto the page's remote list. The remote list of
/// an abandoned page is collected by whoever adopts the page; if our push
/// put the page's last block out on the list (its count reaches `used`),
/// nobody will, and we reclaim the page (`reclaim`), which returns it to the tier.
///
/// Handshake with `abandon`: the push is an AcqRel CAS, then `owner` and
/// `used` are read. The abandoning thread writes `used` (owner-only) and
/// stores `owner = ABANDONED` before an RMW on `remote` (CAS null → null,
/// AcqRel), which found the list empty. Both sides are RMWs on one
/// location, totally ordered: either that CAS sees our block (the
/// abandoner takes the page back or reclaims it), or our push reads from it
/// (or from a later push) and we see ABANDONED (or a later owner, who
/// collects) and the `used` it left, which the list's count then reaches
/// exactly when its last block is freed. A stale `used` (the page was taken
/// meanwhile) only costs a reclaim attempt that finds the page owned or not
/// empty.
///
/// # Safety
/// `p` is a live block of `pg`.
#[inline]
pub unsafe fn free_remote(pg: *mut Page, p: *mut u8) {
    let pg = PagePtr::from_raw(pg);
    // SAFETY: the remote list is a Treiber stack of blocks we own until the
    // CAS publishes them; page descriptors stay readable forever.
    unsafe {
        let b = p as *mut Block;
        // A page goes back to the tier only once every block of it has been
        // freed, and whoever still holds a block sees the owner that handed
        // it out (or a later one), never that earlier NO_OWNER: so a free
        // page here means this block was freed already. Report it before
        // the push would overwrite the link of a block on the free list the
        // released page keeps for its next owner.
        if pg.owner(Ordering::Relaxed) == NO_OWNER {
            diag::fatal("free(): double free detected", p as usize);
        }
        push_remote(pg, b, b, 1);
    }
}

/// Pushes the chain of `n` blocks of page `pg` from `first` (linked through
/// their first words) to `last` (whose link is written here) onto the
/// page's remote list with one CAS: [`free_remote`] of one block, and the
/// remote-free batching of a heap (`batch.rs`). Afterwards, as for one
/// block: if the page is abandoned, the push that brings the list's count
/// to `used` reclaims it, and the push that brings it across
/// [`hint_threshold`] records it as a hint.
///
/// # Safety
/// The chain holds `n >= 1` distinct live blocks of `pg`, which the caller
/// frees.
#[inline]
pub(crate) unsafe fn push_remote(pg: PagePtr, first: *mut Block, last: *mut Block, n: u32) {
    // SAFETY: the remote list is a Treiber stack of blocks we own until the
    // CAS publishes them; page descriptors stay readable forever; while we
    // hold the chain the page keeps its class.
    unsafe {
        let class = pg.class() as usize;
        let mut head = pg.remote(Ordering::Relaxed);
        let count = loop {
            let had = remote_count(head);
            if remote_ptr(head) == first || had + n > u16::MAX as u32 {
                diag::fatal("free(): double free detected", first as usize);
            }
            (*last).next = remote_ptr(head);
            // Release: publishes the blocks' links to the collector.
            // Acquire: if the push reads from an abandoner's CAS null →
            // null (`abandon`), we see the owner and `used` it left.
            match pg.cas_remote_weak(head, remote_word(first, had + n), Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break had + n,
                Err(h) => head = h,
            }
        };
        // Any other owner value: an owner or adopter collects on its
        // refills, a reclaimer re-checks after giving the page up, and a
        // free page (NO_OWNER) had our blocks collected before release.
        if pg.owner(Ordering::Relaxed) == ABANDONED {
            let used = pg.used();
            let t = hint_threshold(used);
            if count == used {
                reclaim(pg);
            } else if count - n < t && t <= count {
                hint(pg, class);
            }
        }
    }
}

/// Remote frees pending on an abandoned page with `used` blocks out at
/// which the freer that brings the count there records the page as a hint
/// ([`hint`]): an eighth of them (at least one).
///
/// An exhausted page is abandoned by its owner, and a thread that frees its
/// blocks without allocating their class does not adopt it (see
/// [`Heap::free_slow`]), so without the hint the page came back only once
/// every block was freed: with blocks of random lifetimes that is many
/// times the mean lifetime, and issue 21's reclaimer pattern held 6.5x its
/// live bytes. With it an allocating heap adopts the page once an eighth of
/// it is free: 1.38x (a quarter: 1.49x, at the same throughput;
/// docs/decisions/0039).
#[inline(always)]
pub(crate) fn hint_threshold(used: u32) -> u32 {
    used.div_ceil(8).max(1)
}

/// Records abandoned page `pg` (of class `class`) as a hint in its tier's
/// inbox, for the next heap that needs a page of the class (`SlabTier::
/// push_inbox`, `take_abandoned`). A stale hint (the page was adopted or
/// reclaimed meanwhile) costs its taker a failed CAS.
///
/// # Safety
/// `pg` is a page descriptor of a live segment.
#[cold]
#[inline(never)]
unsafe fn hint(pg: PagePtr, class: usize) {
    // SAFETY: page descriptors and segment records stay valid forever.
    unsafe {
        let seg = seg_of_entry(segmap::lookup(pg.start()));
        (*(*seg).tier).push_inbox(pg, class);
    }
}

/// Gives up a page the caller owns, which is on no heap list and has live
/// blocks: stores `owner = ABANDONED` (Release: publishes the page's fields
/// to whoever takes it next with a CAS from ABANDONED), then re-checks the
/// remote list with an RMW (CAS null → null, AcqRel). Returns true if the
/// list was empty: every later remote freer sees ABANDONED (or a later
/// owner, see [`free_remote`]). False if a remote free raced in: its freer
/// may have read the owner before our store, so the caller must see that
/// the block is collected (take the page back, or [`reclaim`] it).
///
/// `by` is recorded in the page ([`PagePtr::abandoned_by`]): the token of
/// a live heap that gives the page up, [`ORPHAN`] at thread exit (see
/// `Heap::wants`).
///
/// # Safety
/// As above; after a true return the caller no longer owns the page.
pub(crate) unsafe fn abandon(pg: PagePtr, by: usize) -> bool {
    // SAFETY: per contract.
    unsafe {
        check_owned(pg, "abandoning");
        pg.set_abandoned_by(by);
        pg.set_owner(ABANDONED, Ordering::Release);
        pg.cas_remote(ptr::null_mut(), ptr::null_mut(), Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

/// Reclaims an abandoned page whose blocks may all be on its remote list
/// (or that its abandoner could not leave with an empty one): takes it for
/// a moment (CAS `ABANDONED → RECLAIMING`), collects its remote list,
/// returns it to its tier if that emptied it, else gives it up again with
/// [`abandon`] (looping while frees keep arriving). If the CAS fails
/// someone else owns the page (an adopter, which collects on its refills,
/// or another reclaimer, which re-checks): nothing to do.
///
/// # Safety
/// `pg` is a page descriptor of a live segment.
#[cold]
#[inline(never)]
pub(crate) unsafe fn reclaim(pg: PagePtr) {
    // SAFETY: each successful CAS makes us the page's only owner until our
    // store of ABANDONED; the previous owner's writes were released by its
    // own store of ABANDONED.
    unsafe {
        if pg.cas_owner(ABANDONED, RECLAIMING, Ordering::Acquire, Ordering::Relaxed).is_err() {
            return;
        }
        let seg = seg_of_entry(segmap::lookup(pg.start()));
        let tier = &*(*seg).tier;
        loop {
            let n = collect_remote(pg);
            count(&tier.stats.remote_collected, n as usize);
            if pg.used() == 0 {
                tier.release_page(pg);
                return;
            }
            if abandon(pg, pg.abandoned_by())
                || pg.cas_owner(ABANDONED, RECLAIMING, Ordering::Acquire, Ordering::Relaxed).is_err()
            {
                return;
            }
        }
    }
}

/// Blocks of page `pg` freed by other threads: takes them all and appends
/// them to `free`. Returns how many were taken.
///
/// # Safety
/// The caller owns `pg`.
pub(crate) unsafe fn collect_remote(pg: PagePtr) -> u32 {
    // SAFETY: owner-only fields; the swap synchronises with the pushers' CAS.
    unsafe {
        if pg.remote(Ordering::Relaxed).is_null() {
            return 0;
        }
        let w = pg.swap_remote(ptr::null_mut(), Ordering::Acquire);
        let r = remote_ptr(w);
        let n = remote_count(w);
        // More blocks than are out means a double free.
        if n == 0 || n > pg.used() {
            diag::fatal("free(): double free detected in page", pg.start());
        }
        if crate::secure::on() {
            crate::secure_heap::collect_chain(pg, r, n);
            pg.set_used(pg.used() - n);
            return n;
        }
        if pg.free().is_null() {
            // The usual case (refill): the chain becomes the free list as it
            // is; its count came with the swap, so no block is touched here
            // (the blocks were last written by the freeing threads' cores).
            pg.set_free(r);
        } else {
            let mut tail = r;
            for _ in 1..n {
                tail = (*tail).next;
            }
            (*tail).next = pg.free();
            pg.set_free(r);
        }
        pg.set_used(pg.used() - n);
        check_used(pg, true);
        n
    }
}
