//! Configuration switches change routing, never behaviour: the C API
//! sections run unchanged with tiers switched off (their sizes fall through to
//! the next tier up, down to "everything is a big block"), with the
//! BigCache and batched madvise off, and under every mode. A malformed value
//! is reported once on stderr and the default is used.

use hakmem_preload_tests::{compile_c, fresh_dir, run, Preload};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(180);

fn run_api_with(env: &[(&str, &str)], sections: &[&str]) -> hakmem_preload_tests::Run {
    let bin = compile_c("api");
    let dir = fresh_dir("config");
    let mut last = None;
    for section in sections {
        let mut cmd = Command::new(&bin);
        cmd.arg(section).current_dir(&dir);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let r = run(cmd, Preload::Yes, T);
        assert!(r.status.success(), "api {section} with {env:?} failed: {}", r.report());
        assert_eq!(r.stdout_str().lines().last(), Some("OK"), "api {section} with {env:?}: {}", r.report());
        last = Some(r);
    }
    last.expect("at least one section")
}

const SECTIONS: &[&str] = &["sizes", "realloc", "align", "calloc", "errors", "malloc0"];

#[test]
fn tiny_tier_off() {
    run_api_with(&[("HAKMEM_TINY_POOL", "0")], SECTIONS);
}

#[test]
fn pools_off() {
    run_api_with(&[("HAKMEM_POOL", "0"), ("HAKMEM_L25_POOL", "0")], SECTIONS);
}

/// L2 off: its sizes are L2.5 blocks (40 KiB for a 1025-byte request,
/// which the `sizes` section's sanity bound on usable sizes rejects, so it
/// is left out).
#[test]
fn l2_pool_off() {
    run_api_with(&[("HAKMEM_POOL", "0")], &["realloc", "align", "calloc", "errors", "malloc0"]);
}

#[test]
fn l25_pool_off() {
    run_api_with(&[("HAKMEM_L25_POOL", "0")], SECTIONS);
}

/// Every slab tier off: every request is a big block (slow, but correct).
#[test]
fn every_slab_tier_off() {
    run_api_with(
        &[("HAKMEM_TINY_POOL", "off"), ("HAKMEM_POOL", "off"), ("HAKMEM_L25_POOL", "off")],
        &["realloc", "calloc", "errors", "malloc0"],
    );
}

#[test]
fn bigcache_and_madvise_off() {
    run_api_with(&[("HAKMEM_BIGCACHE", "0"), ("HAKMEM_BATCH_MADVISE", "0"), ("HAKMEM_DECAY_MS", "0")], SECTIONS);
}

/// The per-thread block cache off: every free goes to its page; the
/// resolved configuration shows the setting.
#[test]
fn thread_cache_off() {
    let r = run_api_with(&[("HAKMEM_THREAD_CACHE_KB", "0"), ("HAKMEM_VERBOSE", "1")], SECTIONS);
    assert!(r.stderr_str().contains("thread_cache_kb=0"), "stderr: {}", r.report());
}

#[test]
fn every_mode() {
    for mode in ["minimal", "fast", "balanced", "learning", "research"] {
        run_api_with(&[("HAKMEM_MODE", mode)], &["pow2", "realloc"]);
    }
}

#[test]
fn malformed_values_are_reported_once_and_ignored() {
    let r = run_api_with(&[("HAKMEM_MODE", "turbo"), ("HAKMEM_DECAY_MS", "12x")], &["realloc"]);
    let err = r.stderr_str();
    assert_eq!(
        err.matches("hakmem: ignoring HAKMEM_MODE=turbo (expected one of minimal, fast, balanced, learning, research)")
            .count(),
        1,
        "stderr: {err}"
    );
    assert_eq!(err.matches("hakmem: ignoring HAKMEM_DECAY_MS=12x").count(), 1, "stderr: {err}");
}

#[test]
fn verbose_prints_the_resolved_configuration_once() {
    let r = run_api_with(&[("HAKMEM_VERBOSE", "1"), ("HAKMEM_MODE", "balanced")], &["malloc0"]);
    let err = r.stderr_str();
    let lines: Vec<_> = err.lines().filter(|l| l.starts_with("hakmem: mode=")).collect();
    assert_eq!(lines.len(), 1, "stderr: {err}");
    assert!(lines[0].contains("mode=balanced") && lines[0].contains("THP"), "{}", lines[0]);
}

/// The ELO driver (`HAKMEM_ELO=1`, or the `learning` mode) scores epochs
/// of its first knob, the decay interval, while a big-block churn runs
/// (contents checked by the program), and every knob holds one of its
/// candidates; its state is in the `HAKMEM_STATS` report. Off by default:
/// no such line.
#[test]
fn elo_learns_while_the_program_runs() {
    let bin = compile_c("elo");
    for env in [&[("HAKMEM_ELO", "1")][..], &[("HAKMEM_MODE", "learning")][..], &[][..]] {
        let mut cmd = Command::new(&bin);
        cmd.env("HAKMEM_STATS", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let r = run(cmd, Preload::Yes, T);
        assert!(r.status.success(), "elo with {env:?}: {}", r.report());
        assert_eq!(r.stdout_str().lines().last(), Some("OK"), "{}", r.report());
        let err = r.stderr_str();
        if env.is_empty() {
            assert!(!err.contains("hakmem: elo "), "ELO ran without being switched on: {err}");
            continue;
        }
        let field = |knob: &str, name: &str| -> u64 {
            let line = err
                .lines()
                .find(|l| l.starts_with(&format!("hakmem: elo {knob}: value=")))
                .unwrap_or_else(|| panic!("no ELO stats line of {knob} with {env:?}: {err}"));
            let v = line.split(' ').find_map(|w| w.strip_prefix(name)).unwrap_or_else(|| panic!("{name} in {line}"));
            v.parse().unwrap_or_else(|_| panic!("{name}{v} in {line}"))
        };
        assert!([50, 150, 500, 1500].contains(&field("decay_ms", "value=")), "{err}");
        assert!([8, 16, 32, 64].contains(&field("bigcache_entries", "value=")), "{err}");
        assert!(field("decay_ms", "epochs=") >= 3, "too few epochs scored in 1.5 s: {err}");
    }
}

/// Fields `name=N` of the `hakmem: elo KNOB:` stats line, from stderr.
fn elo_line(err: &str, knob: &str) -> Option<std::collections::HashMap<String, String>> {
    let line = err.lines().find(|l| l.starts_with(&format!("hakmem: elo {knob}: value=")))?;
    Some(line.split(' ').filter_map(|w| w.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

/// The three knobs take turns: with short epochs (`HAKMEM_ELO_EPOCH_MS=20`)
/// the decay interval is learned and frozen first, then the turn passes to
/// the big-block cache's capacity; the knob not yet on turn keeps its
/// configured value. Every value is one of the knob's candidates, and the
/// decisions are printed with `HAKMEM_VERBOSE=1`.
#[test]
fn elo_knobs_take_turns() {
    let bin = compile_c("elo");
    let mut cmd = Command::new(&bin);
    cmd.arg("3");
    for (k, v) in [("HAKMEM_ELO", "1"), ("HAKMEM_ELO_EPOCH_MS", "20"), ("HAKMEM_STATS", "1"), ("HAKMEM_VERBOSE", "1")] {
        cmd.env(k, v);
    }
    let r = run(cmd, Preload::Yes, T);
    assert!(r.status.success(), "{}", r.report());
    let err = r.stderr_str();
    let num = |f: &std::collections::HashMap<String, String>, k: &str| -> u64 {
        f.get(k).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{k} in {err}"))
    };
    let decay = elo_line(&err, "decay_ms").unwrap_or_else(|| panic!("no decay_ms line: {err}"));
    assert!([50, 150, 500, 1500].contains(&num(&decay, "value")), "{err}");
    assert!(num(&decay, "freezes") >= 1, "the decay interval never froze in 3 s of 20 ms epochs: {err}");
    assert!(err.contains("hakmem: elo decay_ms: froze at "), "{err}");
    let big = elo_line(&err, "bigcache_entries").unwrap_or_else(|| panic!("no bigcache_entries line: {err}"));
    assert!([8, 16, 32, 64].contains(&num(&big, "value")), "{err}");
    assert!(num(&big, "epochs") >= 1, "the turn never passed to the capacity: {err}");
    let cache = elo_line(&err, "thread_cache_kb").unwrap_or_else(|| panic!("no thread_cache_kb line: {err}"));
    assert!([64, 128, 256, 512].contains(&num(&cache, "value")), "{err}");
}

/// A phase shift is noticed and re-learned: the program churns big blocks
/// for 2 s, then allocates small blocks back to back (one big block every
/// 10 ms). With 20 ms epochs the first knob is frozen before the shift;
/// after it the driver logs a
/// re-learn (the cost jumped, or the operation rate changed 4x) within a
/// few epochs, and the first knob, the decay interval, freezes again while
/// the second phase lasts.
#[test]
fn elo_relearns_after_a_phase_shift() {
    let bin = compile_c("elo");
    let mut cmd = Command::new(&bin);
    cmd.args(["4", "shift"]);
    for (k, v) in [("HAKMEM_ELO", "1"), ("HAKMEM_ELO_EPOCH_MS", "20"), ("HAKMEM_VERBOSE", "1")] {
        cmd.env(k, v);
    }
    let r = run(cmd, Preload::Yes, T);
    assert!(r.status.success(), "{}", r.report());
    let (out, err) = (r.stdout_str(), r.stderr_str());
    let shift_ms: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("shift at "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no shift line: {out}"));
    // `hakmem: elo KNOB: ... at epoch E, T ms`: (line, E, T).
    let events: Vec<(&str, u64, u64)> = err
        .lines()
        .filter(|l| l.starts_with("hakmem: elo "))
        .filter_map(|l| {
            let (_, tail) = l.rsplit_once(" at epoch ")?;
            let (e, t) = tail.split_once(", ")?;
            Some((l, e.parse().ok()?, t.strip_suffix(" ms")?.parse().ok()?))
        })
        .collect();
    let before = events.iter().any(|(l, _, t)| *t < shift_ms && l.starts_with("hakmem: elo decay_ms: froze at "));
    assert!(before, "the decay interval did not freeze before the shift at {shift_ms} ms: {err}");
    let relearn = events
        .iter()
        .find(|(l, _, t)| *t >= shift_ms && l.contains("relearning ("))
        .unwrap_or_else(|| panic!("no re-learn after the shift at {shift_ms} ms: {err}"));
    let refrozen = events
        .iter()
        .find(|(l, e, _)| *e > relearn.1 && l.starts_with("hakmem: elo decay_ms: froze at "))
        .unwrap_or_else(|| panic!("the decay interval did not freeze again after {}: {err}", relearn.0));
    assert!(refrozen.2 < shift_ms + 1900, "re-learned only at {} ms (shift at {shift_ms}): {err}", refrozen.2);
}
