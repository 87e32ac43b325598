//! The resolved configuration ([`Config`]) and its numeric tunables, with
//! the one-line rendering `HAKMEM_VERBOSE` and the statistics print.

use crate::mode::{Features, Mode};
use crate::out::Out;

/// Numeric tunables and the verbose switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tunables {
    /// Max mappings kept in the BigCache (`HAKMEM_BIGCACHE_ENTRIES`, default 32).
    pub bigcache_entries: usize,
    /// Max MiB kept in the BigCache (`HAKMEM_BIGCACHE_MAX_MB`, default 256).
    pub bigcache_max_mb: usize,
    /// Milliseconds released memory stays committed before `madvise` (`HAKMEM_DECAY_MS`, default 500).
    pub decay_ms: u64,
    /// Empty pages a tier keeps committed (`HAKMEM_FREE_PAGES_KEEP`, default 16).
    pub free_pages_keep: usize,
    /// Per size class, KiB of freed blocks a thread caches for its next
    /// allocations (`HAKMEM_THREAD_CACHE_KB`, default 256; every class up
    /// to 64 KiB gets at least 16 blocks; 0 turns the cache off).
    pub thread_cache_kb: usize,
    /// Length of one ELO epoch in ms (`HAKMEM_ELO_EPOCH_MS`, default 200;
    /// 0 counts as 1). Rendered only when ELO is on.
    pub elo_epoch_ms: u64,
    /// Site rules sample about one request above 32 KiB in this many
    /// (`HAKMEM_SITE_SAMPLE`, default 64; rounded down to a power of two,
    /// 0 counts as 1, above 2^30 as 2^30). Rendered only when
    /// `SITE_RULES` is on.
    pub site_sample: u64,
    /// Respond to memory pressure: purge at once and shrink the caches
    /// near the memory cgroup's limit or under pressure stall
    /// (`HAKMEM_PRESSURE`, default on). Rendered only when off.
    pub pressure: bool,
    /// Near the limit: usage at this percentage of the cgroup's lower limit
    /// (`memory.max`/`memory.high`, v1 `memory.limit_in_bytes`) or above
    /// (`HAKMEM_PRESSURE_PCT`, default 90; 0 counts as 1, above 100 as 100).
    pub pressure_pct: u64,
    /// Under pressure: pressure stall information `some avg10` at this
    /// percentage or above (`HAKMEM_PRESSURE_PSI`, default 10; 0 ignores
    /// the stall information).
    pub pressure_psi: u64,
    /// Hand full thread-cache bins of other threads' blocks to threads whose
    /// bin is empty (`HAKMEM_TRANSFER`, default off: decision 0052's
    /// transfer slots, which win where one thread frees what others
    /// allocate and lose at 8 ring threads). Rendered only when on.
    pub transfer: bool,
    /// Print the resolved configuration once at start (`HAKMEM_VERBOSE`, default off).
    pub verbose: bool,
}

impl Tunables {
    /// The documented defaults.
    pub const DEFAULT: Tunables = Tunables {
        bigcache_entries: 32,
        bigcache_max_mb: 256,
        decay_ms: 500,
        free_pages_keep: 16,
        thread_cache_kb: 256,
        elo_epoch_ms: 200,
        site_sample: 64,
        pressure: true,
        pressure_pct: 90,
        pressure_psi: 10,
        transfer: false,
        verbose: false,
    };
}

impl Default for Tunables {
    fn default() -> Self {
        Tunables::DEFAULT
    }
}

/// The resolved configuration: mode, features after overrides, tunables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// The mode from `HAKMEM_MODE`.
    pub mode: Mode,
    /// The mode's features with the per-feature overrides applied.
    pub features: Features,
    /// Numeric tunables.
    pub tunables: Tunables,
}

/// Buffer size that always holds a rendered config line or a [`Rejected`](crate::Rejected) message.
pub const LINE_MAX: usize = 448;

impl Config {
    /// The configuration used when no variable is set (mode `minimal`).
    pub const DEFAULT: Config = Config::for_mode(Mode::Minimal);

    /// `mode` with its default features and the default tunables.
    pub const fn for_mode(mode: Mode) -> Config {
        Config { mode, features: mode.default_features(), tunables: Tunables::DEFAULT }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The enabled features.
    pub fn features(&self) -> Features {
        self.features
    }

    /// True if every flag in `f` is enabled.
    pub fn enabled(&self, f: Features) -> bool {
        self.features.contains(f)
    }

    /// The tunables.
    pub fn tunables(&self) -> &Tunables {
        &self.tunables
    }

    /// BigCache byte budget (`bigcache_max_mb` MiB, saturating).
    pub fn bigcache_max_bytes(&self) -> usize {
        self.tunables.bigcache_max_mb.saturating_mul(1 << 20)
    }

    /// Renders `mode=minimal features=TINY_POOL|... bigcache_entries=32 bigcache_max_mb=256
    /// decay_ms=500 free_pages_keep=16 thread_cache_kb=256` (plus ` elo_epoch_ms=200` when ELO is on, ` site_sample=64` when SITE_RULES is on,
    /// ` pressure=off` when the pressure response is off, its thresholds when they are not the
    /// defaults; one line, no newline) into `buf`; returns the
    /// bytes written. [`LINE_MAX`] bytes always suffice; a smaller buffer cuts the text.
    pub fn render(&self, buf: &mut [u8]) -> usize {
        let t = &self.tunables;
        let mut out = Out::new(buf);
        out.str("mode=");
        out.str(self.mode.name());
        out.str(" features=");
        out.features(self.features);
        out.str(" bigcache_entries=");
        out.num(t.bigcache_entries as u64);
        out.str(" bigcache_max_mb=");
        out.num(t.bigcache_max_mb as u64);
        out.str(" decay_ms=");
        out.num(t.decay_ms);
        out.str(" free_pages_keep=");
        out.num(t.free_pages_keep as u64);
        out.str(" thread_cache_kb=");
        out.num(t.thread_cache_kb as u64);
        if self.features.contains(Features::ELO) {
            out.str(" elo_epoch_ms=");
            out.num(t.elo_epoch_ms);
        }
        if self.features.contains(Features::SITE_RULES) {
            out.str(" site_sample=");
            out.num(t.site_sample);
        }
        if !t.pressure {
            out.str(" pressure=off");
        } else if t.pressure_pct != Tunables::DEFAULT.pressure_pct || t.pressure_psi != Tunables::DEFAULT.pressure_psi {
            out.str(" pressure_pct=");
            out.num(t.pressure_pct);
            out.str(" pressure_psi=");
            out.num(t.pressure_psi);
        }
        if t.transfer {
            out.str(" transfer=on");
        }
        out.len
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}
