//! Modes and feature flags: what each mode turns on, and the variable of
//! each feature.

use crate::out::Out;

/// Operating mode, from `HAKMEM_MODE`; it selects the default [`Features`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The default: the tiers and the BigCache, nothing adaptive.
    Minimal,
    /// Same features as `Minimal` (reserved for speed-over-memory trade-offs).
    Fast,
    /// `Minimal` plus transparent huge pages.
    Balanced,
    /// `Balanced` plus ELO learning.
    Learning,
    /// `Learning` plus per-call-site rules.
    Research,
}

impl Mode {
    /// Every mode, in order of increasing machinery.
    pub const ALL: [Mode; 5] = [Mode::Minimal, Mode::Fast, Mode::Balanced, Mode::Learning, Mode::Research];

    /// The lower-case name used by `HAKMEM_MODE`.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Minimal => "minimal",
            Mode::Fast => "fast",
            Mode::Balanced => "balanced",
            Mode::Learning => "learning",
            Mode::Research => "research",
        }
    }

    /// Parses a mode name, ignoring ASCII case.
    pub fn parse(value: &[u8]) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name().as_bytes().eq_ignore_ascii_case(value))
    }

    /// The features this mode enables before per-feature overrides.
    pub const fn default_features(self) -> Features {
        let minimal = Features::TINY_POOL
            .union(Features::POOL)
            .union(Features::L25_POOL)
            .union(Features::BIGCACHE)
            .union(Features::BATCH_MADVISE)
            .union(Features::SECURE_BUILD);
        let balanced = minimal.union(Features::THP);
        let learning = balanced.union(Features::ELO);
        match self {
            Mode::Minimal | Mode::Fast => minimal,
            Mode::Balanced => balanced,
            Mode::Learning => learning,
            Mode::Research => learning.union(Features::SITE_RULES),
        }
    }
}

/// The lower-case name of `mode` (same as [`Mode::name`]).
pub fn mode_name(mode: Mode) -> &'static str {
    mode.name()
}

bitflags::bitflags! {
    /// Features that can be switched on and off, each by its own `HAKMEM_<NAME>` variable.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Features: u32 {
        /// Tiny tier, sizes <= 1 KiB (`HAKMEM_TINY_POOL`).
        const TINY_POOL = 1 << 0;
        /// L2 pool, sizes (1 KiB, 32 KiB] (`HAKMEM_POOL`).
        const POOL = 1 << 1;
        /// L2.5 pool, sizes (32 KiB, 1 MiB) (`HAKMEM_L25_POOL`).
        const L25_POOL = 1 << 2;
        /// Bounded cache of released big mappings (`HAKMEM_BIGCACHE`).
        const BIGCACHE = 1 << 3;
        /// ELO learning of policy choices (`HAKMEM_ELO`).
        const ELO = 1 << 4;
        /// Per-call-site allocation rules (`HAKMEM_SITE_RULES`).
        const SITE_RULES = 1 << 5;
        /// Batched, decayed `madvise` of released memory (`HAKMEM_BATCH_MADVISE`).
        const BATCH_MADVISE = 1 << 6;
        /// Transparent huge pages for big mappings (`HAKMEM_THP`).
        const THP = 1 << 7;
        /// Per-tier counters printed at exit (`HAKMEM_STATS`).
        const STATS = 1 << 8;
        /// Secure mode: no thread cache, encoded and validated free lists,
        /// canaries, exact double-free and invalid-free checks, randomised
        /// reuse (`HAKMEM_SECURE`; on by default with the cargo feature
        /// `secure`).
        const SECURE = 1 << 9;
        /// With [`Features::SECURE`]: freed blocks are zeroed
        /// (`HAKMEM_SECURE_ZERO`).
        const SECURE_ZERO = 1 << 10;
    }
}

impl Features {
    /// [`Features::SECURE`] when the cargo feature `secure` compiles it in
    /// as the default of every mode, else nothing.
    pub const SECURE_BUILD: Features = if cfg!(feature = "secure") { Features::SECURE } else { Features::empty() };
}

/// Each feature with the variable that overrides it.
pub const FEATURE_VARS: [(Features, &str); 11] = [
    (Features::TINY_POOL, "HAKMEM_TINY_POOL"),
    (Features::POOL, "HAKMEM_POOL"),
    (Features::L25_POOL, "HAKMEM_L25_POOL"),
    (Features::BIGCACHE, "HAKMEM_BIGCACHE"),
    (Features::ELO, "HAKMEM_ELO"),
    (Features::SITE_RULES, "HAKMEM_SITE_RULES"),
    (Features::BATCH_MADVISE, "HAKMEM_BATCH_MADVISE"),
    (Features::THP, "HAKMEM_THP"),
    (Features::STATS, "HAKMEM_STATS"),
    (Features::SECURE, "HAKMEM_SECURE"),
    (Features::SECURE_ZERO, "HAKMEM_SECURE_ZERO"),
];

impl Features {
    /// Renders the set flags as `TINY_POOL|POOL|...` (or `none`) into `buf`;
    /// returns the number of bytes written (the text is cut if `buf` is too small).
    pub fn names(self, buf: &mut [u8]) -> usize {
        let mut out = Out::new(buf);
        out.features(self);
        out.len
    }
}
