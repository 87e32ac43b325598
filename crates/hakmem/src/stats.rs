//! `HAKMEM_STATS=1`: per-tier counters printed to stderr at exit.

use core::sync::atomic::Ordering;

use hak_os::diag::Line;

use crate::TIERS;

/// Where statistics go: a duplicate of stderr taken at initialisation when
/// statistics are on (programs such as GNU coreutils close stderr in their
/// own exit handler, which runs before ours), else stderr itself.
static STATS_FD: core::sync::atomic::AtomicI32 = core::sync::atomic::AtomicI32::new(-1);

/// Duplicates stderr for the exit-time report (called by `init` when
/// `HAKMEM_STATS` is on).
pub(crate) fn keep_stderr() {
    if let Some(fd) = hak_os::process::dup_cloexec(2, 10) {
        STATS_FD.store(fd, Ordering::Relaxed);
    }
}

fn out_fd() -> i32 {
    let fd = STATS_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        fd
    } else {
        2
    }
}

/// Prints per-tier counters to stderr (one `hakmem:` line per tier).
pub fn print_stats() {
    let mut l = Line::new();
    let mut cfg = [0u8; hak_config::LINE_MAX];
    let n = hak_config::write_config(&mut cfg);
    l.s("hakmem: stats ").b(cfg.get(..n).unwrap_or(&[])).s("\n");
    l.emit_to(out_fd());
    for t in TIERS {
        let s = &t.stats;
        let mut l = Line::new();
        l.s("hakmem: tier ")
            .s(t.name)
            .s(": segments=")
            .u(s.segments.load(Ordering::Relaxed) as u64)
            .s(" pages_in_use=")
            .u(t.pages_in_use() as u64)
            .s(" pages_acquired=")
            .u(s.pages_acquired.load(Ordering::Relaxed) as u64)
            .s(" pages_released=")
            .u(s.pages_released.load(Ordering::Relaxed) as u64)
            .s(" pages_decommitted=")
            .u(s.pages_decommitted.load(Ordering::Relaxed) as u64)
            .s(" abandoned=")
            .u(s.pages_abandoned.load(Ordering::Relaxed) as u64)
            .s(" adopted=")
            .u(s.pages_adopted.load(Ordering::Relaxed) as u64)
            .s(" trimmed=")
            .u(s.pages_trimmed.load(Ordering::Relaxed) as u64)
            .s("\n");
        l.emit_to(out_fd());
    }
    let b = &hak_bigcache::STATS;
    let (cn, cb) = hak_bigcache::cached();
    let mut l = Line::new();
    l.s("hakmem: tier big: allocs=")
        .u(b.allocs.load(Ordering::Relaxed) as u64)
        .s(" frees=")
        .u(b.frees.load(Ordering::Relaxed) as u64)
        .s(" cache_hits=")
        .u(b.cache_hits.load(Ordering::Relaxed) as u64)
        .s(" maps=")
        .u(b.maps.load(Ordering::Relaxed) as u64)
        .s(" unmaps=")
        .u(b.unmaps.load(Ordering::Relaxed) as u64)
        .s(" purges=")
        .u(b.purges.load(Ordering::Relaxed) as u64)
        .s(" remaps=")
        .u(b.remaps.load(Ordering::Relaxed) as u64)
        .s(" mapped_kb=")
        .u((b.mapped_bytes.load(Ordering::Relaxed) >> 10) as u64)
        .s(" cached=")
        .u(cn as u64)
        .s("/")
        .u((cb >> 10) as u64)
        .s("kb\n");
    l.emit_to(out_fd());
    crate::learn::print_stats(out_fd());
}

/// `atexit` hook installed when statistics are enabled.
pub extern "C" fn at_exit() {
    print_stats();
}
