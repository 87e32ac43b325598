//! # hak-config — hakmem's modes, feature flags and tunables
//!
//! The configuration is read from `HAKMEM_*` environment variables once, lazily,
//! on the first call to [`get`]. This crate runs inside `malloc`: it never
//! allocates, never panics, reads variables with `libc::getenv` and writes
//! diagnostics with `libc::write(2, ..)` from a fixed stack buffer.
//!
//! A malformed value is reported once on stderr and its default is used, e.g.
//! `hakmem: ignoring HAKMEM_DECAY_MS=12x (expected a non-negative integer)`.
//! An empty value (`HAKMEM_THP=`) counts as unset.
//!
//! ## Mode
//!
//! | Variable | Default | Values |
//! |---|---|---|
//! | `HAKMEM_MODE` | `minimal` | `minimal`, `fast`, `balanced`, `learning`, `research` (any case) |
//!
//! The mode selects the default feature set:
//!
//! | Mode | Features on |
//! |---|---|
//! | `minimal` | `TINY_POOL POOL L25_POOL BIGCACHE BATCH_MADVISE` |
//! | `fast` | same as `minimal` |
//! | `balanced` | `minimal` + `THP` |
//! | `learning` | `balanced` + `ELO` |
//! | `research` | `learning` + `SITE_RULES` |
//!
//! ## Feature switches (override the mode)
//!
//! Values: `1 0 on off true false yes no` (any case).
//!
//! | Variable | Feature | Default |
//! |---|---|---|
//! | `HAKMEM_TINY_POOL` | tiny tier (<= 1 KiB) | on |
//! | `HAKMEM_POOL` | L2 pool (1–32 KiB) | on |
//! | `HAKMEM_L25_POOL` | L2.5 pool (32 KiB–1 MiB) | on |
//! | `HAKMEM_BIGCACHE` | cache of released big mappings | on |
//! | `HAKMEM_ELO` | learning of policy choices | `learning`, `research` |
//! | `HAKMEM_SITE_RULES` | per-call-site rules | `research` |
//! | `HAKMEM_BATCH_MADVISE` | batched, decayed `madvise` of freed memory | on |
//! | `HAKMEM_THP` | transparent huge pages for big mappings | `balanced` and up |
//! | `HAKMEM_STATS` | print per-tier counters at exit | off |
//!
//! ## Tunables
//!
//! Values are decimal integers (digits only; overflow is rejected).
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `HAKMEM_BIGCACHE_ENTRIES` | 32 | max mappings kept in the BigCache |
//! | `HAKMEM_BIGCACHE_MAX_MB` | 256 | max MiB kept in the BigCache |
//! | `HAKMEM_DECAY_MS` | 500 | how long released memory stays committed before `madvise` |
//! | `HAKMEM_FREE_PAGES_KEEP` | 16 | empty pages a tier keeps committed |
//! | `HAKMEM_THREAD_CACHE_KB` | 256 | per class, KiB of freed blocks a thread keeps for reuse (at least 16 blocks of a class up to 64 KiB; 0: none) |
//! | `HAKMEM_VERBOSE` | off | boolean: print the resolved configuration once at start |

#![no_std]
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(test)]
extern crate std;

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, Ordering};

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
            .union(Features::BATCH_MADVISE);
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
    }
}

/// Each feature with the variable that overrides it.
pub const FEATURE_VARS: [(Features, &str); 9] = [
    (Features::TINY_POOL, "HAKMEM_TINY_POOL"),
    (Features::POOL, "HAKMEM_POOL"),
    (Features::L25_POOL, "HAKMEM_L25_POOL"),
    (Features::BIGCACHE, "HAKMEM_BIGCACHE"),
    (Features::ELO, "HAKMEM_ELO"),
    (Features::SITE_RULES, "HAKMEM_SITE_RULES"),
    (Features::BATCH_MADVISE, "HAKMEM_BATCH_MADVISE"),
    (Features::THP, "HAKMEM_THP"),
    (Features::STATS, "HAKMEM_STATS"),
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

/// Buffer size that always holds a rendered config line or a [`Rejected`] message.
pub const LINE_MAX: usize = 320;

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
    /// decay_ms=500 free_pages_keep=16 thread_cache_kb=256` (one line, no newline) into `buf`; returns the
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
        out.len
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}

/// A variable whose value was rejected (its default is used instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected<'v> {
    /// The variable name, e.g. `HAKMEM_DECAY_MS`.
    pub var: &'static str,
    /// The rejected value as found in the environment.
    pub value: &'v [u8],
    /// What was expected, e.g. `a non-negative integer`.
    pub expected: &'static str,
}

/// Longest part of a rejected value that is echoed back.
const VALUE_ECHO_MAX: usize = 64;

impl Rejected<'_> {
    /// Renders `hakmem: ignoring VAR=value (expected ...)` (no newline) into `buf`;
    /// returns the bytes written. Non-printable bytes of the value are shown as `?`
    /// and values longer than 64 bytes are cut with `...`, so [`LINE_MAX`] suffices.
    pub fn render(&self, buf: &mut [u8]) -> usize {
        let mut out = Out::new(buf);
        out.str("hakmem: ignoring ");
        out.str(self.var);
        out.str("=");
        for &b in self.value.iter().take(VALUE_ECHO_MAX) {
            out.byte(if b == b' ' || b.is_ascii_graphic() { b } else { b'?' });
        }
        if self.value.len() > VALUE_ECHO_MAX {
            out.str("...");
        }
        out.str(" (expected ");
        out.str(self.expected);
        out.str(")");
        out.len
    }
}

const MODE_EXPECTED: &str = "one of minimal, fast, balanced, learning, research";
const BOOL_EXPECTED: &str = "one of 1, 0, on, off, true, false, yes, no";
const INT_EXPECTED: &str = "a non-negative integer";

/// Parses a boolean switch: `1 on true yes` / `0 off false no`, ignoring ASCII case.
pub fn parse_bool(value: &[u8]) -> Option<bool> {
    let is = |words: [&str; 4]| words.iter().any(|w| w.as_bytes().eq_ignore_ascii_case(value));
    if is(["1", "on", "true", "yes"]) {
        Some(true)
    } else if is(["0", "off", "false", "no"]) {
        Some(false)
    } else {
        None
    }
}

/// Parses a decimal integer made of ASCII digits only; `None` on anything else or overflow.
pub fn parse_u64(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, &c| {
        if c.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(c - b'0'))
        } else {
            None
        }
    })
}

fn parse_usize(value: &[u8]) -> Option<usize> {
    parse_u64(value).and_then(|n| usize::try_from(n).ok())
}

/// Looks `var` up; `None` if unset or empty; reports and returns `None` if malformed.
fn read<'v, T>(
    lookup: &impl Fn(&[u8]) -> Option<&'v [u8]>,
    report: &mut impl FnMut(&Rejected<'v>),
    var: &'static str,
    parse: fn(&[u8]) -> Option<T>,
    expected: &'static str,
) -> Option<T> {
    let value = lookup(var.as_bytes()).filter(|v| !v.is_empty())?;
    let parsed = parse(value);
    if parsed.is_none() {
        report(&Rejected { var, value, expected });
    }
    parsed
}

/// Builds a configuration from `lookup` (variable name -> value), silently
/// ignoring malformed values. Pure: used by tests without touching the process env.
pub fn parse_from<'v>(lookup: impl Fn(&[u8]) -> Option<&'v [u8]>) -> Config {
    parse_with(lookup, |_| {})
}

/// Like [`parse_from`], calling `report` once for every malformed value.
pub fn parse_with<'v>(lookup: impl Fn(&[u8]) -> Option<&'v [u8]>, mut report: impl FnMut(&Rejected<'v>)) -> Config {
    let (l, r) = (&lookup, &mut report);
    let mode = read(l, r, "HAKMEM_MODE", Mode::parse, MODE_EXPECTED).unwrap_or(Mode::Minimal);
    let mut features = mode.default_features();
    for (flag, var) in FEATURE_VARS {
        if let Some(on) = read(l, r, var, parse_bool, BOOL_EXPECTED) {
            features.set(flag, on);
        }
    }
    let d = Tunables::DEFAULT;
    let tunables = Tunables {
        bigcache_entries: read(l, r, "HAKMEM_BIGCACHE_ENTRIES", parse_usize, INT_EXPECTED)
            .unwrap_or(d.bigcache_entries),
        bigcache_max_mb: read(l, r, "HAKMEM_BIGCACHE_MAX_MB", parse_usize, INT_EXPECTED).unwrap_or(d.bigcache_max_mb),
        decay_ms: read(l, r, "HAKMEM_DECAY_MS", parse_u64, INT_EXPECTED).unwrap_or(d.decay_ms),
        free_pages_keep: read(l, r, "HAKMEM_FREE_PAGES_KEEP", parse_usize, INT_EXPECTED).unwrap_or(d.free_pages_keep),
        thread_cache_kb: read(l, r, "HAKMEM_THREAD_CACHE_KB", parse_usize, INT_EXPECTED).unwrap_or(d.thread_cache_kb),
        verbose: read(l, r, "HAKMEM_VERBOSE", parse_bool, BOOL_EXPECTED).unwrap_or(d.verbose),
    };
    Config { mode, features, tunables }
}

// ---------------------------------------------------------------------------
// The process-wide configuration.

const UNINIT: u8 = 0;
const BUSY: u8 = 1;
const READY: u8 = 2;
/// A waiter gave up on a parse that never finished (e.g. `fork` in the middle of
/// it): later callers return [`Config::DEFAULT`] at once, until the parse finishes.
const GAVE_UP: u8 = 3;
/// Spins a caller waits on `BUSY` before falling back to the default config.
const SPIN_LIMIT: u32 = 1 << 20;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static SLOT: Slot = Slot(UnsafeCell::new(Config::DEFAULT));
static FALLBACK: Config = Config::DEFAULT;

struct Slot(UnsafeCell<Config>);

// SAFETY: SLOT is written only by the one thread that moved STATE from UNINIT to
// BUSY, before its Release store of READY; it is read only after an Acquire load
// of READY. No reference to it exists while it is written.
unsafe impl Sync for Slot {}

/// The process-wide configuration, parsed from the environment on first use.
///
/// Concurrent first callers spin until the parse is done. A caller that waits
/// more than ~1M spins (parsing never takes that long; it would mean the parsing
/// thread is gone or re-entered) gets [`Config::DEFAULT`] instead of deadlocking.
/// Malformed values are reported once on stderr; with `HAKMEM_VERBOSE=1` the
/// resolved configuration is printed once.
#[inline]
pub fn get() -> &'static Config {
    if STATE.load(Ordering::Acquire) == READY {
        // SAFETY: READY was stored (Release) after SLOT's last write.
        return unsafe { &*SLOT.0.get() };
    }
    get_slow()
}

#[cold]
fn get_slow() -> &'static Config {
    if STATE.compare_exchange(UNINIT, BUSY, Ordering::Acquire, Ordering::Acquire).is_ok() {
        let config = parse_with(getenv, |rejected| {
            let mut buf = [0u8; LINE_MAX];
            let n = rejected.render(&mut buf);
            write_line(buf.get(..n).unwrap_or(&[]));
        });
        // SAFETY: we won UNINIT -> BUSY, so we are the only writer, and no reader
        // looks at SLOT before the READY store below.
        unsafe { *SLOT.0.get() = config };
        STATE.store(READY, Ordering::Release);
        if config.tunables.verbose {
            let mut buf = [0u8; LINE_MAX + 8];
            let mut out = Out::new(&mut buf);
            out.str("hakmem: ");
            let n = out.len;
            let m = buf.get_mut(n..).map_or(0, |rest| config.render(rest));
            write_line(buf.get(..n + m).unwrap_or(&[]));
        }
    }
    let mut spins = 0u32;
    loop {
        match STATE.load(Ordering::Acquire) {
            // SAFETY: as in `get`.
            READY => return unsafe { &*SLOT.0.get() },
            GAVE_UP => return &FALLBACK,
            _ if spins >= SPIN_LIMIT => {
                // Fails harmlessly if the parse has just finished (READY).
                let _ = STATE.compare_exchange(BUSY, GAVE_UP, Ordering::AcqRel, Ordering::Acquire);
            }
            _ => {
                spins += 1;
                core::hint::spin_loop();
            }
        }
    }
}

/// Renders the process-wide configuration line ([`Config::render`] of [`get`]) into
/// `buf`; returns the bytes written.
pub fn write_config(buf: &mut [u8]) -> usize {
    get().render(buf)
}

/// `getenv` for a variable name without its NUL (names up to 63 bytes).
fn getenv(name: &[u8]) -> Option<&'static [u8]> {
    let mut key = [0u8; 64];
    if name.len() >= key.len() {
        return None;
    }
    key.iter_mut().zip(name).for_each(|(dst, &src)| *dst = src);
    // SAFETY: `key` is NUL-terminated (zero-filled, name shorter than it); getenv only reads it.
    let p = unsafe { libc::getenv(key.as_ptr().cast()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: getenv returned a non-null pointer to a NUL-terminated string in the
    // environment. It stays valid until the environment is modified; we only read
    // it while parsing, and `Config` keeps no reference to it.
    Some(unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes())
}

/// Writes `msg` and a newline to stderr, ignoring errors.
fn write_line(msg: &[u8]) {
    for part in [msg, b"\n"] {
        let mut rest = part;
        while !rest.is_empty() {
            // SAFETY: `rest` is a live slice of `rest.len()` readable bytes.
            let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
            match usize::try_from(n) {
                Ok(n) if n > 0 => rest = rest.get(n..).unwrap_or(&[]),
                _ => return,
            }
        }
    }
}

/// A fixed-buffer text writer that silently cuts what does not fit.
struct Out<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Out<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Out { buf, len: 0 }
    }

    fn byte(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn str(&mut self, s: &str) {
        s.bytes().for_each(|b| self.byte(b));
    }

    fn num(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        digits.get(i..).unwrap_or(&[]).iter().for_each(|&b| self.byte(b));
    }

    fn features(&mut self, f: Features) {
        if f.is_empty() {
            self.str("none");
        }
        for (i, (name, _)) in f.iter_names().enumerate() {
            if i > 0 {
                self.byte(b'|');
            }
            self.str(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&[u8]) -> Option<&'a [u8]> + 'a {
        move |k| pairs.iter().find(|(n, _)| n.as_bytes() == k).map(|(_, v)| v.as_bytes())
    }

    /// Parses `pairs`, returning the config and the rendered rejection messages.
    fn parse(pairs: &[(&str, &str)]) -> (Config, Vec<String>) {
        let mut msgs = Vec::new();
        let config = parse_with(env(pairs), |r| {
            let mut buf = [0u8; LINE_MAX];
            let n = r.render(&mut buf);
            msgs.push(String::from_utf8(buf[..n].to_vec()).unwrap());
        });
        (config, msgs)
    }

    const MINIMAL: Features = Features::TINY_POOL
        .union(Features::POOL)
        .union(Features::L25_POOL)
        .union(Features::BIGCACHE)
        .union(Features::BATCH_MADVISE);

    #[test]
    fn defaults() {
        let (c, msgs) = parse(&[]);
        assert!(msgs.is_empty());
        assert_eq!(c, Config::DEFAULT);
        assert_eq!(c.mode(), Mode::Minimal);
        assert_eq!(c.features(), MINIMAL);
        let t = c.tunables();
        assert_eq!(
            (t.bigcache_entries, t.bigcache_max_mb, t.decay_ms, t.free_pages_keep, t.thread_cache_kb),
            (32, 256, 500, 16, 256)
        );
        assert!(!t.verbose);
        assert_eq!(c.bigcache_max_bytes(), 256 << 20);
    }

    #[test]
    fn modes_case_insensitive_with_default_features() {
        let cases = [
            ("minimal", Mode::Minimal, MINIMAL),
            ("FAST", Mode::Fast, MINIMAL),
            ("Balanced", Mode::Balanced, MINIMAL | Features::THP),
            ("lEaRnInG", Mode::Learning, MINIMAL | Features::THP | Features::ELO),
            ("research", Mode::Research, MINIMAL | Features::THP | Features::ELO | Features::SITE_RULES),
        ];
        for (value, mode, features) in cases {
            let (c, msgs) = parse(&[("HAKMEM_MODE", value)]);
            assert!(msgs.is_empty());
            assert_eq!((c.mode, c.features), (mode, features), "{value}");
            assert_eq!(mode_name(mode), value.to_ascii_lowercase());
        }
    }

    #[test]
    fn each_override_on_and_off() {
        for (flag, var) in FEATURE_VARS {
            for on in ["1", "on", "TRUE", "Yes"] {
                let (c, msgs) = parse(&[("HAKMEM_MODE", "minimal"), (var, on)]);
                assert!(msgs.is_empty());
                assert_eq!(c.features, MINIMAL | flag, "{var}={on}");
            }
            for off in ["0", "OFF", "false", "no"] {
                let (c, msgs) = parse(&[("HAKMEM_MODE", "research"), (var, off)]);
                assert!(msgs.is_empty());
                assert_eq!(c.features, Mode::Research.default_features() - flag, "{var}={off}");
            }
        }
    }

    #[test]
    fn feature_table_matches_flag_names() {
        let mut all = Features::empty();
        for (flag, var) in FEATURE_VARS {
            let name = flag.iter_names().next().unwrap().0;
            assert_eq!(var.strip_prefix("HAKMEM_"), Some(name));
            all |= flag;
        }
        assert_eq!(all, Features::all());
    }

    #[test]
    fn tunables_parsed() {
        let (c, msgs) = parse(&[
            ("HAKMEM_BIGCACHE_ENTRIES", "0"),
            ("HAKMEM_BIGCACHE_MAX_MB", "1024"),
            ("HAKMEM_DECAY_MS", "18446744073709551615"),
            ("HAKMEM_FREE_PAGES_KEEP", "007"),
            ("HAKMEM_THREAD_CACHE_KB", "0"),
            ("HAKMEM_VERBOSE", "on"),
        ]);
        assert!(msgs.is_empty());
        let t = c.tunables;
        assert_eq!(
            (t.bigcache_entries, t.bigcache_max_mb, t.decay_ms, t.free_pages_keep, t.thread_cache_kb),
            (0, 1024, u64::MAX, 7, 0)
        );
        assert!(t.verbose);
    }

    #[test]
    fn malformed_values_fall_back_and_are_reported() {
        let (c, msgs) = parse(&[
            ("HAKMEM_MODE", "foo"),
            ("HAKMEM_THP", "maybe"),
            ("HAKMEM_DECAY_MS", "12x"),
            ("HAKMEM_VERBOSE", "2"),
        ]);
        assert_eq!(c, Config::DEFAULT);
        assert_eq!(
            msgs,
            [
                "hakmem: ignoring HAKMEM_MODE=foo (expected one of minimal, fast, balanced, learning, research)",
                "hakmem: ignoring HAKMEM_THP=maybe (expected one of 1, 0, on, off, true, false, yes, no)",
                "hakmem: ignoring HAKMEM_DECAY_MS=12x (expected a non-negative integer)",
                "hakmem: ignoring HAKMEM_VERBOSE=2 (expected one of 1, 0, on, off, true, false, yes, no)",
            ]
        );
    }

    #[test]
    fn integer_garbage_and_overflow_rejected() {
        for bad in ["18446744073709551616", "99999999999999999999999", "-1", "+5", " 5", "5 ", "0x10", "1e3"] {
            let (c, msgs) = parse(&[("HAKMEM_DECAY_MS", bad), ("HAKMEM_BIGCACHE_ENTRIES", bad)]);
            assert_eq!(c.tunables, Tunables::DEFAULT, "{bad}");
            assert_eq!(msgs.len(), 2, "{bad}");
        }
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"42"), Some(42));
    }

    #[test]
    fn empty_value_counts_as_unset() {
        let (c, msgs) = parse(&[("HAKMEM_MODE", ""), ("HAKMEM_BIGCACHE", ""), ("HAKMEM_DECAY_MS", "")]);
        assert!(msgs.is_empty());
        assert_eq!(c, Config::DEFAULT);
    }

    #[test]
    fn rejected_value_sanitised_and_cut() {
        let long = [b'a'; 100];
        let mut buf = [0u8; LINE_MAX];
        let r = Rejected { var: "HAKMEM_POOL", value: &long, expected: "x" };
        let n = r.render(&mut buf);
        let s = core::str::from_utf8(&buf[..n]).unwrap();
        assert!(s.ends_with(&std::format!("={}... (expected x)", "a".repeat(64))), "{s}");
        let r = Rejected { var: "HAKMEM_POOL", value: b"a\nb\xff", expected: "x" };
        let n = r.render(&mut buf);
        assert_eq!(&buf[..n], b"hakmem: ignoring HAKMEM_POOL=a?b? (expected x)");
    }

    #[test]
    fn config_line() {
        let mut buf = [0u8; LINE_MAX];
        let n = Config::DEFAULT.render(&mut buf);
        assert_eq!(
            core::str::from_utf8(&buf[..n]).unwrap(),
            "mode=minimal features=TINY_POOL|POOL|L25_POOL|BIGCACHE|BATCH_MADVISE \
             bigcache_entries=32 bigcache_max_mb=256 decay_ms=500 free_pages_keep=16 thread_cache_kb=256"
        );
        // The longest possible line fits in LINE_MAX.
        let big = usize::MAX;
        let t = Tunables {
            bigcache_entries: big,
            bigcache_max_mb: big,
            decay_ms: u64::MAX,
            free_pages_keep: big,
            thread_cache_kb: big,
            verbose: true,
        };
        let c = Config { mode: Mode::Research, features: Features::all(), tunables: t };
        let n = c.render(&mut buf);
        assert!(n < LINE_MAX && buf[..n].ends_with(b"thread_cache_kb=18446744073709551615"));
        // Small buffers cut the text without panicking.
        for len in 0..8 {
            let mut small = [0u8; 8];
            assert_eq!(c.render(&mut small[..len]), len);
        }
    }

    #[test]
    fn feature_names() {
        let mut buf = [0u8; 64];
        let n = Features::empty().names(&mut buf);
        assert_eq!(&buf[..n], b"none");
        let n = (Features::ELO | Features::STATS).names(&mut buf);
        assert_eq!(&buf[..n], b"ELO|STATS");
    }

    #[test]
    fn numbers_render() {
        for n in [0u64, 7, 10, 1000, u64::MAX] {
            let mut buf = [0u8; 20];
            let mut out = Out::new(&mut buf);
            out.num(n);
            let len = out.len;
            assert_eq!(core::str::from_utf8(&buf[..len]).unwrap(), std::format!("{n}"));
        }
    }

    #[test]
    fn get_is_stable_and_concurrent() {
        let threads: Vec<_> = (0..8).map(|_| std::thread::spawn(|| get() as *const Config as usize)).collect();
        let first = get() as *const Config as usize;
        for t in threads {
            assert_eq!(t.join().unwrap(), first);
        }
        let mut buf = [0u8; LINE_MAX];
        assert!(write_config(&mut buf) > 0);
    }
}
