//! Parsing `HAKMEM_*` values into a [`Config`]: the value parsers, the
//! rejection report, and the pure entry points tests use without touching
//! the process environment.

use crate::config::{Config, Tunables};
use crate::mode::{Mode, FEATURE_VARS};
use crate::out::Out;

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
    /// and values longer than 64 bytes are cut with `...`, so [`LINE_MAX`](crate::LINE_MAX) suffices.
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
        elo_epoch_ms: read(l, r, "HAKMEM_ELO_EPOCH_MS", parse_u64, INT_EXPECTED).unwrap_or(d.elo_epoch_ms).max(1),
        site_sample: read(l, r, "HAKMEM_SITE_SAMPLE", parse_u64, INT_EXPECTED)
            .unwrap_or(d.site_sample)
            .clamp(1, 1 << 30),
        pressure: read(l, r, "HAKMEM_PRESSURE", parse_bool, BOOL_EXPECTED).unwrap_or(d.pressure),
        transfer: read(l, r, "HAKMEM_TRANSFER", parse_bool, BOOL_EXPECTED).unwrap_or(d.transfer),
        pressure_pct: read(l, r, "HAKMEM_PRESSURE_PCT", parse_u64, INT_EXPECTED)
            .unwrap_or(d.pressure_pct)
            .clamp(1, 100),
        pressure_psi: read(l, r, "HAKMEM_PRESSURE_PSI", parse_u64, INT_EXPECTED).unwrap_or(d.pressure_psi).min(100),
        verbose: read(l, r, "HAKMEM_VERBOSE", parse_bool, BOOL_EXPECTED).unwrap_or(d.verbose),
    };
    Config { mode, features, tunables }
}
