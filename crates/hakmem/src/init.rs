//! One-time initialisation: the state machine that runs it once, the
//! configuration applied to the routing limits and the tiers, the
//! thread-exit key and the fork handlers.

use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use hak_config::Features;
use hak_os::{map, meta, segmap, thread};

use crate::aligned::ALIGNED_BY_CLASS;
use crate::alloc::{L25_LIMIT, L2_LIMIT, TINY_LIMIT};
use crate::ctx::{thread_exit, CACHE_BUDGET, GLOBAL};
use crate::{learn, pressure, stats, TIERS};

// The states of initialisation: not begun, running (in one thread; the
// others go on without it, through the global heaps), done.
const UNINIT: u8 = 0;
const BUSY: u8 = 1;
pub(crate) const READY: u8 = 2;
pub(crate) static STATE: AtomicU8 = AtomicU8::new(UNINIT);
/// The thread-exit key plus one (0: none could be created).
pub(crate) static KEY: AtomicUsize = AtomicUsize::new(0);

/// Initialises hakmem: reads the configuration, creates the segment map,
/// the thread-exit key and the fork handlers. Idempotent and cheap after the
/// first call; called lazily by the first allocation of every thread.
pub fn init() {
    if STATE.load(Ordering::Acquire) == READY {
        return;
    }
    if STATE.compare_exchange(UNINIT, BUSY, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return;
    }
    let cfg = hak_config::get();
    let f = cfg.features();
    let t = cfg.tunables();
    let tiny = if f.contains(Features::TINY_POOL) { hak_tiny::MAX_SIZE + 1 } else { 0 };
    let l2 = if f.contains(Features::POOL) { hak_pool::L2_MAX + 1 } else { tiny };
    let l25 = if f.contains(Features::L25_POOL) { hak_pool::L25_MAX + 1 } else { l2 };
    TINY_LIMIT.store(tiny, Ordering::Relaxed);
    L2_LIMIT.store(l2, Ordering::Relaxed);
    L25_LIMIT.store(l25, Ordering::Relaxed);
    let secure = f.contains(Features::SECURE);
    if secure {
        hak_slab::secure::enable(f.contains(Features::SECURE_ZERO));
        hak_bigcache::set_guard(true);
        crate::secure::install_fault_reporter();
    }
    ALIGNED_BY_CLASS.store(tiny > 0 && l2 > tiny && l25 > l2 && !secure, Ordering::Relaxed);
    // HAKMEM_FREE_PAGES_KEEP counts 64 KiB tiny pages; larger-page tiers
    // keep the same number of bytes (at least one page).
    for tier in TIERS {
        tier.set_keep_free_pages((t.free_pages_keep * (64 << 10) / tier.page_size()).max(1));
    }
    CACHE_BUDGET.store(t.thread_cache_kb.saturating_mul(1 << 10), Ordering::Relaxed);
    crate::ctx::TRANSFER.store(t.transfer, Ordering::Relaxed);
    let decay = if f.contains(Features::BATCH_MADVISE) { t.decay_ms } else { 0 };
    for tier in TIERS {
        tier.set_decay_ms(decay);
    }
    // Freed big blocks kept resident make way whenever a slab tier grows
    // (see `hak_bigcache::BigCache::cut_for_growth`).
    map::set_growth_hook(hak_bigcache::cut_for_growth);
    hak_bigcache::configure(
        f.contains(Features::BIGCACHE) && !secure,
        t.bigcache_entries,
        cfg.bigcache_max_bytes(),
        decay,
        f.contains(Features::THP),
    );
    if f.contains(Features::ELO) {
        let start = learn::Start {
            bigcache_entries: f.contains(Features::BIGCACHE).then_some(t.bigcache_entries as u64),
            decay_ms: (decay > 0).then_some(decay),
            thread_cache_kb: (t.thread_cache_kb > 0).then_some(t.thread_cache_kb as u64),
        };
        learn::enable(start, hak_elo::Config::DEFAULT.seed, t.elo_epoch_ms, t.verbose);
    }
    if f.contains(Features::SITE_RULES) {
        crate::sites::enable(t.site_sample);
    }
    pressure::init(
        t,
        pressure::Configured {
            decay_ms: decay,
            big_entries: t.bigcache_entries,
            cache_bytes: t.thread_cache_kb.saturating_mul(1 << 10),
        },
    );
    segmap::init();
    if let Some(key) = thread::key_create(thread_exit) {
        KEY.store(key.index() + 1, Ordering::Relaxed);
    }
    STATE.store(READY, Ordering::Release);
    // These may allocate (re-entering us, which now works).
    thread::atfork(prefork, postfork_parent, postfork_child);
    if f.contains(Features::STATS) {
        stats::keep_stderr();
        thread::atexit(stats::at_exit);
    }
}

// ---------------------------------------------------------------- fork

extern "C" fn prefork() {
    if STATE.load(Ordering::Acquire) != READY {
        return;
    }
    GLOBAL.raw_lock();
    crate::sites::LONG.raw_lock();
    for t in TIERS {
        t.prefork();
    }
    hak_bigcache::prefork();
    hak_slab::transfer::prefork();
    segmap::prefork();
    meta::prefork();
}

fn postfork() {
    if STATE.load(Ordering::Acquire) != READY {
        return;
    }
    meta::postfork();
    // SAFETY: taken by prefork in this thread.
    unsafe { segmap::postfork() };
    // SAFETY: taken by prefork in this thread.
    unsafe { hak_slab::transfer::postfork() };
    hak_bigcache::postfork();
    for t in TIERS {
        t.postfork();
    }
    // SAFETY: taken by prefork in this thread.
    unsafe {
        crate::sites::LONG.force_unlock();
        GLOBAL.force_unlock();
    }
}

extern "C" fn postfork_parent() {
    postfork();
}

extern "C" fn postfork_child() {
    postfork();
    learn::after_fork_child();
    pressure::after_fork_child();
}
