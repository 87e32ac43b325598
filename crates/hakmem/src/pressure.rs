//! The pressure response (`HAKMEM_PRESSURE`, on by default): near the
//! memory cgroup's limit or under pressure stall, hakmem gives memory back
//! at once instead of after the decay interval, and goes back to its
//! configured caching when the pressure is gone.
//!
//! Reading: `hak_os::pressure` finds the process's cgroup at start (or
//! takes `HAKMEM_CGROUP_DIR`) and reads its files; [`check`] reads them at
//! most every [`INTERVAL_MS`] (every [`IDLE_INTERVAL_MS`] while no limit is
//! set and the stall information is only the system's), from slow paths
//! only (a thread's upkeep pass, a big-block allocation), one thread at a
//! time (a try-flag: the others go on at once). With the response off, or
//! nothing to watch, the deadline stays at `u64::MAX`: one relaxed load
//! and a compare per upkeep pass and big allocation, nothing on the fast
//! paths.
//!
//! Levels ([`level_of`]): *near the limit* when the group's usage is
//! `HAKMEM_PRESSURE_PCT` % (90) of its lower limit or more; *under
//! pressure* when `some avg10` of the stall information is
//! `HAKMEM_PRESSURE_PSI` % (10) or more. Hysteresis: a level holds until
//! the usage is [`PCT_HYSTERESIS`] points below the threshold and the stall
//! figure below half of its threshold.
//!
//! Response ([`respond`], at each check while the level is not none): the
//! decay interval of every slab tier and of the big-block cache is 0 (freed
//! pages are purged at the next upkeep pass of their thread, freed big
//! blocks at once), the big-block cache keeps at most
//! [`PRESSURE_BIG_ENTRIES`] mappings, the thread caches shrink to
//! [`PRESSURE_CACHE_KB`] KiB per class (each thread re-sizes its cache at
//! its next upkeep pass: the generation of `learn`), and [`crate::trim`]
//! returns every empty page and cached mapping now. When the level falls
//! to none, the configured values come back (and ELO's, when it runs).
//! Each change of level is printed with `HAKMEM_VERBOSE=1`
//! (`hakmem: pressure: ...`).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use hak_os::diag::Line;
use hak_os::pressure::{Psi, Reading, Source};

use crate::ctx::CACHE_BUDGET;
use crate::{learn, TIERS};

/// Shortest interval between two reads (ms).
pub(crate) const INTERVAL_MS: u64 = 100;
/// Interval between two reads while the group has no limit and the stall
/// information is the whole system's (ms): a limit set later is seen
/// within a second.
pub(crate) const IDLE_INTERVAL_MS: u64 = 1000;
/// Points below `HAKMEM_PRESSURE_PCT` the usage must fall to end *near the
/// limit*.
pub(crate) const PCT_HYSTERESIS: u64 = 10;
/// KiB per class a thread caches while the level is not none (within the
/// cache's floor of 16 blocks).
pub(crate) const PRESSURE_CACHE_KB: usize = 32;
/// Mappings the big-block cache keeps at most while the level is not none
/// (the smallest capacity ELO tries: fewer cost an `mmap` and page faults
/// per big allocation).
pub(crate) const PRESSURE_BIG_ENTRIES: usize = 8;

/// How close the process is to running out of memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Level {
    /// No limit near, no stall.
    None = 0,
    /// The cgroup's usage is near its limit.
    NearLimit = 1,
    /// Tasks stall waiting for memory.
    Pressure = 2,
}

impl Level {
    fn from_u8(v: u8) -> Level {
        match v {
            1 => Level::NearLimit,
            2 => Level::Pressure,
            _ => Level::None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::NearLimit => "near limit",
            Level::Pressure => "under pressure",
        }
    }
}

/// The thresholds of [`level_of`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Thresholds {
    /// Usage in percent of the limit (1..=100).
    pub(crate) pct: u64,
    /// `some avg10` in hundredths of a percent; 0: stall ignored.
    pub(crate) psi: u32,
}

/// The level a reading shows, given the level before it (hysteresis, see
/// the module doc).
pub(crate) fn level_of(r: &Reading, t: Thresholds, prev: Level) -> Level {
    let held = prev != Level::None;
    let stall = r.psi_some_avg10.is_some_and(|avg| {
        let bar = if held { t.psi / 2 } else { t.psi };
        t.psi != 0 && avg >= bar.max(1)
    });
    if stall {
        return Level::Pressure;
    }
    let near = match (r.limit(), r.current) {
        (Some(limit), Some(current)) => {
            let pct = if held { t.pct.saturating_sub(PCT_HYSTERESIS) } else { t.pct };
            u128::from(current) * 100 >= u128::from(limit) * u128::from(pct)
        }
        _ => false,
    };
    if near {
        Level::NearLimit
    } else {
        Level::None
    }
}

/// When the next read is due (ms of `hak_os::now_ms`); `u64::MAX`: never
/// (the response is off or there is nothing to watch).
static NEXT_MS: AtomicU64 = AtomicU64::new(u64::MAX);
/// Taken by the one thread that reads and responds.
static BUSY: AtomicBool = AtomicBool::new(false);
/// The current [`Level`].
static LEVEL: AtomicU8 = AtomicU8::new(Level::None as u8);
/// Changes of level so far.
static CHANGES: AtomicU64 = AtomicU64::new(0);
/// [`Thresholds::pct`] and [`Thresholds::psi`].
static PCT: AtomicU64 = AtomicU64::new(90);
static PSI: AtomicU64 = AtomicU64::new(1000);
static VERBOSE: AtomicBool = AtomicBool::new(false);
/// The configured values the response overrides, restored when it ends.
static DECAY_MS: AtomicU64 = AtomicU64::new(0);
static BIG_ENTRIES: AtomicUsize = AtomicUsize::new(0);
static CACHE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The source, written once by [`init`] before [`NEXT_MS`] leaves
/// `u64::MAX` (Release), read by [`check`] after it (Acquire).
struct Slot(UnsafeCell<Option<Source>>);
// SAFETY: see above: one write before publication, reads after.
unsafe impl Sync for Slot {}
static SOURCE: Slot = Slot(UnsafeCell::new(None));

/// The configured values the response overrides.
pub(crate) struct Configured {
    /// The decay interval of the tiers and the big-block cache (ms).
    pub(crate) decay_ms: u64,
    /// The big-block cache's capacity.
    pub(crate) big_entries: usize,
    /// The thread-cache budget per class (bytes).
    pub(crate) cache_bytes: usize,
}

/// Sets the response up (from the router's `init`, once): finds what to
/// watch and arms the first read; prints what it watches with `verbose`.
pub(crate) fn init(t: &hak_config::Tunables, configured: Configured) {
    DECAY_MS.store(configured.decay_ms, Ordering::Relaxed);
    BIG_ENTRIES.store(configured.big_entries, Ordering::Relaxed);
    CACHE_BYTES.store(configured.cache_bytes, Ordering::Relaxed);
    PCT.store(t.pressure_pct.clamp(1, 100), Ordering::Relaxed);
    PSI.store(t.pressure_psi.min(100) * 100, Ordering::Relaxed);
    VERBOSE.store(t.verbose, Ordering::Relaxed);
    if !t.pressure {
        if t.verbose {
            Line::new().s("hakmem: pressure: response off (HAKMEM_PRESSURE=0)\n").emit();
        }
        return;
    }
    let mut found = None;
    hak_os::map::quiet(|| {
        // SAFETY: read once here and copied at once; nothing keeps it.
        found = match unsafe { hak_os::env::getenv(c"HAKMEM_CGROUP_DIR") } {
            Some(dir) if !dir.is_empty() => Source::from_dir(dir),
            _ => Source::discover(),
        };
        false
    });
    let Some(source) = found else {
        if t.verbose {
            Line::new().s("hakmem: pressure: no memory cgroup or pressure file: nothing to watch\n").emit();
        }
        return;
    };
    if t.verbose {
        let mut l = Line::new();
        l.s("hakmem: pressure: watching ");
        match source.dir() {
            Some(d) => l.b(d),
            None => l.s("no cgroup"),
        };
        l.s(match source.psi() {
            Psi::Dir => " (stall: its memory.pressure)",
            Psi::Proc => " (stall: /proc/pressure/memory)",
            Psi::None => " (no stall information)",
        });
        l.s(", near the limit at ").u(t.pressure_pct.clamp(1, 100)).s("%\n").emit();
    }
    // SAFETY: the one write, before publication (no reader yet).
    unsafe { *SOURCE.0.get() = Some(source) };
    NEXT_MS.store(0, Ordering::Release);
}

/// Reads and responds if a read is due at `now_ms` (the upkeep pass's
/// hook: one load and a compare when it is not).
#[inline(always)]
pub(crate) fn on_upkeep(now_ms: u64) {
    if now_ms >= NEXT_MS.load(Ordering::Relaxed) {
        check(now_ms);
    }
}

/// [`on_upkeep`] for the big-block allocation path (reads the clock only
/// when the response watches something).
#[inline(always)]
pub(crate) fn poll() {
    if NEXT_MS.load(Ordering::Relaxed) != u64::MAX {
        on_upkeep(hak_os::now_ms());
    }
}

/// The current level.
pub(crate) fn level() -> Level {
    Level::from_u8(LEVEL.load(Ordering::Relaxed))
}

/// Reads the source, updates the level and responds (see the module doc);
/// returns at once when another thread is at it or the read is not due.
#[cold]
#[inline(never)]
pub(crate) fn check(now_ms: u64) {
    if BUSY.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        return;
    }
    if now_ms < NEXT_MS.load(Ordering::Acquire) {
        BUSY.store(false, Ordering::Release);
        return;
    }
    // SAFETY: NEXT_MS left u64::MAX after the one write (Acquire above).
    let Some(source) = (unsafe { &*SOURCE.0.get() }) else {
        BUSY.store(false, Ordering::Release);
        return;
    };
    let mut r = Reading::default();
    // Reading files must not leave an errno behind: this runs inside
    // allocations that succeed.
    hak_os::map::quiet(|| {
        r = source.read();
        false
    });
    let t = Thresholds { pct: PCT.load(Ordering::Relaxed), psi: PSI.load(Ordering::Relaxed) as u32 };
    let prev = level();
    let now = level_of(&r, t, prev);
    let watched = r.limit().is_some() || source.psi() == Psi::Dir;
    NEXT_MS.store(now_ms + if watched { INTERVAL_MS } else { IDLE_INTERVAL_MS }, Ordering::Relaxed);
    if now != prev {
        LEVEL.store(now as u8, Ordering::Relaxed);
        CHANGES.fetch_add(1, Ordering::Relaxed);
        if VERBOSE.load(Ordering::Relaxed) {
            log(prev, now, &r);
        }
        if now == Level::None {
            restore();
        }
    }
    BUSY.store(false, Ordering::Release);
    if now != Level::None {
        respond();
    }
}

/// The response while the level is not none (idempotent: applied again at
/// every check, so that a knob ELO turns meanwhile is overridden again).
fn respond() {
    set_decay(0);
    hak_bigcache::set_max_entries(BIG_ENTRIES.load(Ordering::Relaxed).min(PRESSURE_BIG_ENTRIES));
    let small = CACHE_BYTES.load(Ordering::Relaxed).min(PRESSURE_CACHE_KB << 10);
    if CACHE_BUDGET.swap(small, Ordering::Relaxed) != small {
        learn::resize_caches();
    }
    crate::trim();
}

/// The configured values back (then ELO's, when it runs).
fn restore() {
    set_decay(DECAY_MS.load(Ordering::Relaxed));
    hak_bigcache::set_max_entries(BIG_ENTRIES.load(Ordering::Relaxed));
    CACHE_BUDGET.store(CACHE_BYTES.load(Ordering::Relaxed), Ordering::Relaxed);
    learn::resize_caches();
    learn::reapply();
}

fn set_decay(ms: u64) {
    for tier in TIERS {
        tier.set_decay_ms(ms);
    }
    hak_bigcache::set_decay_ms(ms);
}

/// `hakmem: pressure: near limit (usage 950 of 1024 MiB, stall 0.00%)`.
fn log(prev: Level, now: Level, r: &Reading) {
    let mut l = Line::new();
    l.s("hakmem: pressure: ");
    if now == Level::None {
        l.s(prev.name()).s(" is over, configured caching back");
    } else {
        l.s(now.name()).s(": purging at once, caches shrunk");
    }
    l.s(" (usage ");
    match (r.current, r.limit()) {
        (Some(c), Some(m)) => l.u(c >> 20).s(" of ").u(m >> 20).s(" MiB"),
        _ => l.s("unlimited"),
    };
    l.s(", stall ");
    match r.psi_some_avg10 {
        Some(p) => {
            l.u(u64::from(p / 100)).s(".");
            if p % 100 < 10 {
                l.s("0");
            }
            l.u(u64::from(p % 100)).s("%")
        }
        None => l.s("unknown"),
    };
    l.s(")\n").emit();
}

/// `hakmem: pressure: level=none changes=0` for `HAKMEM_STATS=1`, nothing
/// when nothing is watched.
pub(crate) fn print_stats(fd: i32) {
    if NEXT_MS.load(Ordering::Relaxed) == u64::MAX {
        return;
    }
    let mut l = Line::new();
    l.s("hakmem: pressure: level=").s(level().name()).s(" changes=").u(CHANGES.load(Ordering::Relaxed)).s("\n");
    l.emit_to(fd);
}

/// In a `fork` child: the thread that was reading, if any, is gone.
pub(crate) fn after_fork_child() {
    BUSY.store(false, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds { pct: 90, psi: 1000 };

    fn r(current: Option<u64>, max: Option<u64>, high: Option<u64>, psi: Option<u32>) -> Reading {
        Reading { max, high, current, psi_some_avg10: psi }
    }

    #[test]
    fn near_the_lower_limit() {
        let gib = 1_000_000_000u64;
        assert_eq!(level_of(&r(Some(gib / 2), Some(gib), None, None), T, Level::None), Level::None);
        assert_eq!(level_of(&r(Some(gib * 9 / 10), Some(gib), None, None), T, Level::None), Level::NearLimit);
        // memory.high below memory.max counts.
        assert_eq!(level_of(&r(Some(gib * 9 / 20), Some(gib), Some(gib / 2), None), T, Level::None), Level::NearLimit);
        // No limit, or no usage: nothing to be near.
        assert_eq!(level_of(&r(Some(u64::MAX), None, None, None), T, Level::None), Level::None);
        assert_eq!(level_of(&r(None, Some(gib), None, None), T, Level::None), Level::None);
        // Usage above the limit (it happens, briefly).
        assert_eq!(level_of(&r(Some(2 * gib), Some(gib), None, None), T, Level::None), Level::NearLimit);
    }

    #[test]
    fn hysteresis() {
        let gib = 1u64 << 30;
        let at = |pct: u64, prev| level_of(&r(Some(gib / 100 * pct), Some(gib), None, None), T, prev);
        assert_eq!(at(85, Level::None), Level::None);
        assert_eq!(at(85, Level::NearLimit), Level::NearLimit);
        assert_eq!(at(81, Level::NearLimit), Level::NearLimit);
        assert_eq!(at(79, Level::NearLimit), Level::None);
        let stall = |avg, prev| level_of(&r(None, None, None, Some(avg)), T, prev);
        assert_eq!(stall(999, Level::None), Level::None);
        assert_eq!(stall(1000, Level::None), Level::Pressure);
        assert_eq!(stall(600, Level::Pressure), Level::Pressure);
        assert_eq!(stall(499, Level::Pressure), Level::None);
    }

    #[test]
    fn stall_wins_and_can_be_ignored() {
        let gib = 1u64 << 30;
        let both = r(Some(gib), Some(gib), None, Some(5000));
        assert_eq!(level_of(&both, T, Level::None), Level::Pressure);
        let ignore = Thresholds { pct: 90, psi: 0 };
        assert_eq!(level_of(&both, ignore, Level::None), Level::NearLimit);
        assert_eq!(level_of(&r(None, None, None, Some(10000)), ignore, Level::Pressure), Level::None);
    }
}
