//! The statistics report: [`print_to`] writes a [`snapshot`](crate::snapshot)
//! as text lines to any sink (`hak_stats_print`'s callback), [`print_stats`]
//! to stderr (`hak_print_stats`, and at exit with `HAKMEM_STATS=1`).

use core::sync::atomic::Ordering;

use hak_os::diag::Line;

use crate::info::{snapshot, ClassStats, Stats, TierStats};
use crate::{Tier, SLAB_TIERS};

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

/// Names of the tiers in [`Stats::tiers`] order.
const TIER_NAMES: [&str; 4] = ["tiny", "L2", "L2.5", "big"];

/// Writes the report of `st` to `sink`, one line (ending in `\n`) per call:
/// the configuration, one line per tier, one per class that has served
/// blocks, and the totals. Every line starts with `hakmem: `.
pub fn print_to(st: &Stats, sink: &mut dyn FnMut(&[u8])) {
    let mut cfg = [0u8; hak_config::LINE_MAX];
    let n = hak_config::write_config(&mut cfg);
    let mut l = Line::new();
    l.s("hakmem: stats ").b(cfg.get(..n).unwrap_or(&[])).s("\n");
    sink(l.as_bytes());
    for (i, t) in st.tiers.iter().enumerate() {
        sink(tier_line(TIER_NAMES.get(i).copied().unwrap_or("?"), t).as_bytes());
        if i < SLAB_TIERS {
            for c in st.classes.get(i).into_iter().flatten() {
                if c.allocated != 0 || c.pages != 0 {
                    sink(class_line(c).as_bytes());
                }
            }
        }
    }
    let mut l = Line::new();
    l.s("hakmem: total: resident ")
        .u(st.resident_bytes)
        .s(" B, mapped ")
        .u(st.mapped_bytes)
        .s(" B, live ")
        .u(st.live_bytes)
        .s(" B, returned ")
        .u(st.returned_bytes)
        .s(" B\n");
    sink(l.as_bytes());
}

fn tier_line(name: &str, t: &TierStats) -> Line {
    let mut l = Line::new();
    l.s("hakmem: tier ")
        .s(name)
        .s(": allocated ")
        .u(t.allocated)
        .s(" freed ")
        .u(t.freed)
        .s(" live ")
        .u(t.live_blocks)
        .s(" (")
        .u(t.live_bytes)
        .s(" B) cached ")
        .u(t.cached_blocks)
        .s(" (")
        .u(t.cached_bytes)
        .s(" B) resident ")
        .u(t.resident_bytes)
        .s(" B (free ")
        .u(t.free_resident_bytes)
        .s(" B) mapped ")
        .u(t.mapped_bytes)
        .s(" B returned ")
        .u(t.returned_bytes)
        .s(" B remote_frees ")
        .u(t.remote_frees)
        .s(" pages ")
        .u(t.pages)
        .s(" free_pages ")
        .u(t.free_pages)
        .s(" abandoned ")
        .u(t.pages_abandoned)
        .s(" adopted ")
        .u(t.pages_adopted)
        .s(" segments ")
        .u(t.segments)
        .s("\n");
    l
}

fn class_line(c: &ClassStats) -> Line {
    let mut l = Line::new();
    l.s("hakmem:   class ")
        .u(c.block_size)
        .s(" B: allocated ")
        .u(c.allocated)
        .s(" freed ")
        .u(c.freed)
        .s(" live ")
        .u(c.live)
        .s(" cached ")
        .u(c.cached)
        .s(" pages ")
        .u(c.pages)
        .s(" remote_pending ")
        .u(c.remote_pending)
        .s(" resident ")
        .u(c.resident_bytes)
        .s(" B\n");
    l
}

/// Prints the statistics report ([`print_to`]) to stderr, then the
/// learning driver's, the pressure response's and site rules' lines.
pub fn print_stats() {
    let st = snapshot();
    let fd = out_fd();
    print_to(&st, &mut |b| hak_os::diag::write_fd(fd, b));
    crate::learn::print_stats(fd);
    crate::pressure::print_stats(fd);
    crate::sites::print_stats(&mut |b| hak_os::diag::write_fd(fd, b));
}

/// `atexit` hook installed when statistics are enabled.
pub extern "C" fn at_exit() {
    print_stats();
}

// The tier names follow `Tier`'s order.
const _: () = assert!(Tier::Big as usize == 3 && TIER_NAMES.len() == Tier::Big as usize + 1);
