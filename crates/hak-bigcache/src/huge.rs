//! Huge-page advice: with THP on, a mapping carries `MADV_HUGEPAGE` exactly
//! while its block is at least [`HUGE_PAGE`] (`BigCache::fit_huge`, run
//! whenever a block is handed out or resized).

use hak_os::map;
use hak_os::sync::Ordering;

use crate::record::BigBlock;
use crate::BigCache;

/// With THP on, a mapping carries the huge-page advice exactly while its
/// block is at least a transparent huge page (x86-64's 2 MiB): a smaller
/// block's first touch would fault in a whole huge page, up to eight times
/// a 256 KiB block moved into a mapping by `realloc`.
const HUGE_PAGE: usize = 2 << 20;

impl BigCache {
    /// Gives `rec`'s mapping the huge-page advice, or takes it away, so that
    /// with THP on it carries the advice exactly while its block is at least
    /// [`HUGE_PAGE`] (the advice stays with a mapping that is cached and
    /// reused, or resized by `realloc`). Nothing when THP is off.
    ///
    /// # Safety
    /// `rec` is ours: being handed out, or live and owned by the caller.
    pub(crate) unsafe fn fit_huge(&self, rec: *mut BigBlock) {
        if !self.thp.load(Ordering::Relaxed) {
            return;
        }
        // SAFETY: per contract; the range is the record's mapping.
        unsafe {
            let want = (*rec).size >= HUGE_PAGE;
            if (*rec).huge != want {
                map::advise_huge((*rec).base as *mut u8, (*rec).map_size, want);
                (*rec).huge = want;
            }
        }
    }
}
