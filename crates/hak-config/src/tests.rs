//! Unit tests of parsing, rendering and the process-wide configuration.

use super::*;
use crate::out::Out;
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

/// What the cargo feature `secure` adds to every mode's defaults, spelt out
/// here (not through `Features::SECURE_BUILD`) so that the tests check it.
#[cfg(feature = "secure")]
const BUILD: Features = Features::SECURE;
#[cfg(not(feature = "secure"))]
const BUILD: Features = Features::empty();

const MINIMAL: Features = Features::TINY_POOL
    .union(Features::POOL)
    .union(Features::L25_POOL)
    .union(Features::BIGCACHE)
    .union(Features::BATCH_MADVISE)
    .union(BUILD);

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

/// Secure mode is off by default and `HAKMEM_SECURE=1` turns it on; the
/// cargo feature `secure` makes it the default of every mode, which
/// `HAKMEM_SECURE=0` still turns off.
#[test]
fn secure_default_follows_the_build_and_the_variable_wins() {
    let built_in = cfg!(feature = "secure");
    for mode in ["minimal", "fast", "balanced", "learning", "research"] {
        let (c, _) = parse(&[("HAKMEM_MODE", mode)]);
        assert_eq!(c.enabled(Features::SECURE), built_in, "{mode}");
        let (c, _) = parse(&[("HAKMEM_MODE", mode), ("HAKMEM_SECURE", "0")]);
        assert!(!c.enabled(Features::SECURE), "{mode}");
        let (c, _) = parse(&[("HAKMEM_MODE", mode), ("HAKMEM_SECURE", "1")]);
        assert!(c.enabled(Features::SECURE), "{mode}");
    }
    assert_eq!(Config::DEFAULT.enabled(Features::SECURE), built_in);
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
    let (c, msgs) =
        parse(&[("HAKMEM_MODE", "foo"), ("HAKMEM_THP", "maybe"), ("HAKMEM_DECAY_MS", "12x"), ("HAKMEM_VERBOSE", "2")]);
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
    let features = if cfg!(feature = "secure") {
        "TINY_POOL|POOL|L25_POOL|BIGCACHE|BATCH_MADVISE|SECURE"
    } else {
        "TINY_POOL|POOL|L25_POOL|BIGCACHE|BATCH_MADVISE"
    };
    assert_eq!(
        core::str::from_utf8(&buf[..n]).unwrap(),
        std::format!(
            "mode=minimal features={features} \
             bigcache_entries=32 bigcache_max_mb=256 decay_ms=500 free_pages_keep=16 thread_cache_kb=256"
        )
    );
    // The longest possible line fits in LINE_MAX.
    let big = usize::MAX;
    let t = Tunables {
        bigcache_entries: big,
        bigcache_max_mb: big,
        decay_ms: u64::MAX,
        free_pages_keep: big,
        thread_cache_kb: big,
        elo_epoch_ms: u64::MAX,
        site_sample: u64::MAX,
        pressure: true,
        pressure_pct: u64::MAX,
        pressure_psi: u64::MAX,
        transfer: true,
        verbose: true,
    };
    let c = Config { mode: Mode::Research, features: Features::all(), tunables: t };
    let n = c.render(&mut buf);
    assert!(
        n < LINE_MAX
            && buf[..n].ends_with(
                b"elo_epoch_ms=18446744073709551615 site_sample=18446744073709551615 pressure_pct=18446744073709551615 pressure_psi=18446744073709551615 transfer=on"
            ),
        "{n}"
    );
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

#[test]
fn elo_epoch_length() {
    assert_eq!(parse(&[]).0.tunables.elo_epoch_ms, 200);
    assert_eq!(parse(&[("HAKMEM_ELO_EPOCH_MS", "50")]).0.tunables.elo_epoch_ms, 50);
    // An epoch of 0 ms would never end: it counts as 1.
    assert_eq!(parse(&[("HAKMEM_ELO_EPOCH_MS", "0")]).0.tunables.elo_epoch_ms, 1);
    let (c, msgs) = parse(&[("HAKMEM_ELO_EPOCH_MS", "-3")]);
    assert_eq!((c.tunables.elo_epoch_ms, msgs.len()), (200, 1));
}

#[test]
fn site_sample_interval() {
    assert_eq!(parse(&[]).0.tunables.site_sample, 64);
    assert_eq!(parse(&[("HAKMEM_SITE_SAMPLE", "1")]).0.tunables.site_sample, 1);
    // 0 would never sample: it counts as 1; huge values stop at 2^30.
    assert_eq!(parse(&[("HAKMEM_SITE_SAMPLE", "0")]).0.tunables.site_sample, 1);
    assert_eq!(parse(&[("HAKMEM_SITE_SAMPLE", "99999999999")]).0.tunables.site_sample, 1 << 30);
    let (c, msgs) = parse(&[("HAKMEM_SITE_SAMPLE", "often")]);
    assert_eq!((c.tunables.site_sample, msgs.len()), (64, 1));
    // Rendered only with site rules on.
    let mut buf = [0u8; LINE_MAX];
    let n = parse(&[("HAKMEM_SITE_SAMPLE", "8")]).0.render(&mut buf);
    assert!(!buf[..n].windows(11).any(|w| w == b"site_sample"));
    let n = parse(&[("HAKMEM_SITE_SAMPLE", "8"), ("HAKMEM_SITE_RULES", "1")]).0.render(&mut buf);
    assert!(buf[..n].ends_with(b" site_sample=8"), "{}", core::str::from_utf8(&buf[..n]).unwrap());
}

#[test]
fn transfer_switch_is_off_by_default_and_rendered_when_on() {
    assert!(!parse(&[]).0.tunables.transfer);
    let (c, msgs) = parse(&[("HAKMEM_TRANSFER", "1")]);
    assert!(msgs.is_empty() && c.tunables.transfer);
    let mut buf = [0u8; 512];
    let n = c.render(&mut buf);
    assert!(core::str::from_utf8(&buf[..n]).unwrap().contains(" transfer=on"));
    let (c, msgs) = parse(&[("HAKMEM_TRANSFER", "maybe")]);
    assert_eq!((c.tunables.transfer, msgs.len()), (false, 1));
}

#[test]
fn pressure_switch_and_thresholds() {
    let t = parse(&[]).0.tunables;
    assert_eq!((t.pressure, t.pressure_pct, t.pressure_psi), (true, 90, 10));
    let (c, msgs) = parse(&[("HAKMEM_PRESSURE", "0"), ("HAKMEM_PRESSURE_PCT", "75"), ("HAKMEM_PRESSURE_PSI", "0")]);
    assert!(msgs.is_empty());
    assert_eq!((c.tunables.pressure, c.tunables.pressure_pct, c.tunables.pressure_psi), (false, 75, 0));
    // Out of range: clamped to a percentage (a threshold of 0 % would be
    // pressure all the time).
    let t = parse(&[("HAKMEM_PRESSURE_PCT", "0"), ("HAKMEM_PRESSURE_PSI", "250")]).0.tunables;
    assert_eq!((t.pressure_pct, t.pressure_psi), (1, 100));
    assert_eq!(parse(&[("HAKMEM_PRESSURE_PCT", "1000")]).0.tunables.pressure_pct, 100);
    let (c, msgs) = parse(&[("HAKMEM_PRESSURE", "sometimes"), ("HAKMEM_PRESSURE_PCT", "9x")]);
    assert_eq!((c.tunables, msgs.len()), (Tunables::DEFAULT, 2));
    // Rendered only when off or not the defaults.
    let line = |pairs: &[(&str, &str)]| {
        let mut buf = [0u8; LINE_MAX];
        let n = parse(pairs).0.render(&mut buf);
        String::from_utf8(buf[..n].to_vec()).unwrap()
    };
    assert!(!line(&[]).contains("pressure"));
    assert!(line(&[("HAKMEM_PRESSURE", "off")]).ends_with(" pressure=off"));
    assert!(line(&[("HAKMEM_PRESSURE_PCT", "80")]).ends_with(" pressure_pct=80 pressure_psi=10"));
}
