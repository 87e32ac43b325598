//! The checks of the feature `strict-free` that run out of line (decision
//! 0038): settling a free of a block that carries the cache's key
//! ([`Push::Suspect`]) against the bin and the block's page. Compiled in
//! every build (the router's `free_suspect` calls them); reached only with
//! the feature.

use super::{Bin, Cache, Push, MAX_BIN};
use crate::Block;

impl Cache {
    /// [`Cache::push_at`] of a block that carries the cache's key
    /// ([`Push::Suspect`]): [`Push::DoubleFree`] if its bin holds it, else
    /// (the program's data equal to the key by chance, or a block on its
    /// page's free list: check [`Cache::page_holds`] first) the push.
    ///
    /// # Safety
    /// As [`Cache::push_at`].
    #[cold]
    #[inline(never)]
    pub unsafe fn push_suspect(this: *mut Cache, bin: usize, p: *mut u8) -> Push {
        // SAFETY: per contract.
        unsafe {
            if Self::bin_holds(this, bin, p) {
                return Push::DoubleFree;
            }
            Self::push_unchecked(this, bin, p)
        }
    }

    /// Whether the bin at `bin` bytes from the cache holds `p`.
    ///
    /// # Safety
    /// As [`Cache::push_at`].
    pub unsafe fn bin_holds(this: *mut Cache, bin: usize, p: *mut u8) -> bool {
        // SAFETY: per contract.
        unsafe { Self::holds(this.byte_add(bin) as *mut Bin, p.cast()) }
    }

    /// Whether `p`, a block of page `pg` whose key is the freeing thread's
    /// `token`, is on the page's free list: carved and never handed out, so
    /// its free is a free of a free block. Walks at most the page's carved
    /// blocks, and only a page `token` owns (whose list it may read); false
    /// for any other page.
    ///
    /// # Safety
    /// `pg` is the descriptor of `p`'s page; the caller is the thread whose
    /// heaps own pages under `token`.
    #[cold]
    #[inline(never)]
    pub unsafe fn page_holds(pg: *mut crate::Page, p: *mut u8, token: usize) -> bool {
        // SAFETY: per contract; the free list is read only by its owner.
        unsafe {
            let pg = crate::page::PagePtr::from_raw(pg);
            if pg.owner(hak_os::sync::Ordering::Relaxed) != token {
                return false;
            }
            let mut b = pg.free();
            let mut n = 0;
            while !b.is_null() && n < pg.capacity() {
                if b == p as *mut Block {
                    return true;
                }
                b = (*b).next;
                n += 1;
            }
            false
        }
    }

    /// Whether `bin` holds block `b` (whose key says so): a walk of at most
    /// [`MAX_BIN`] links, out of line. A key equal to the cache's address by
    /// chance (the program's data) walks the bin and finds nothing.
    ///
    /// # Safety
    /// `bin` is a valid bin of a cache used by the calling thread only.
    #[cold]
    #[inline(never)]
    unsafe fn holds(bin: *mut Bin, b: *mut Block) -> bool {
        // SAFETY: per contract; cached blocks link to the next one.
        unsafe {
            let mut c = (*bin).head;
            let mut n = 0;
            while c != super::empty() && !c.is_null() && n < MAX_BIN {
                if c == b {
                    return true;
                }
                c = (*c).next;
                n += 1;
            }
            false
        }
    }
}
