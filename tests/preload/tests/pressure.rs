//! The pressure response (`c/pressure.c`), with a fake cgroup directory
//! (`HAKMEM_CGROUP_DIR`) whose `memory.current` the program rewrites: a
//! 256 MiB burst of mixed blocks freed near the limit is back to the OS
//! within 100 ms; the same burst far from the limit, or near it with
//! `HAKMEM_PRESSURE=0`, stays resident for the decay interval (so the
//! response is what returned it). hakmem only: glibc has no such response.

use hakmem_preload_tests::{compile_c, fresh_dir, run, Preload, Run};
use std::process::Command;
use std::time::Duration;

/// The decay interval of these runs: far above the 100 ms the response has.
const DECAY_MS: &str = "1000";

struct Figures {
    burst_mib: i64,
    back_ms: i64,
    rss_at_300ms_mib: i64,
}

fn pressure(mode: &str, env: &[(&str, &str)]) -> (Figures, Run) {
    let bin = compile_c("pressure");
    let dir = fresh_dir("pressure");
    let mut cmd = Command::new(&bin);
    cmd.arg(mode)
        .current_dir(&dir)
        .env("HAKMEM_CGROUP_DIR", &dir)
        .env("HAKMEM_DECAY_MS", DECAY_MS)
        .env("HAKMEM_VERBOSE", "1")
        .env("HAKMEM_STATS", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let r = run(cmd, Preload::Yes, Duration::from_secs(60));
    assert!(r.status.success() && r.stdout_str().lines().last() == Some("OK"), "pressure {mode}: {}", r.report());
    let _ = std::fs::remove_dir_all(&dir);
    let out = r.stdout_str();
    let field = |name: &str| -> i64 {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name}= in {}", r.report()))
    };
    let f = Figures { burst_mib: field("burst"), back_ms: field("back_ms"), rss_at_300ms_mib: field("rss_at_300ms") };
    eprintln!("pressure {mode} {env:?}: {}", out.lines().next().unwrap_or(""));
    assert!(f.burst_mib >= 200, "the burst was not resident: {}", r.report());
    (f, r)
}

/// Near the limit: the freed burst is back to the OS within 100 ms (not
/// after the 1000 ms decay interval); both changes of level are printed
/// with `HAKMEM_VERBOSE=1`, and the statistics count them.
#[test]
fn a_burst_freed_near_the_limit_goes_back_at_once() {
    let (f, r) = pressure("near", &[]);
    assert!((0..=100).contains(&f.back_ms), "back to the baseline after {} ms: {}", f.back_ms, r.report());
    let err = r.stderr_str();
    assert!(err.contains("hakmem: pressure: near limit: purging at once"), "{}", r.report());
    assert!(err.contains("hakmem: pressure: near limit is over"), "{}", r.report());
    assert!(err.contains("hakmem: pressure: level=none changes=2"), "{}", r.report());
}

/// Far from the limit: the burst stays resident for the decay interval
/// (the control: what returns it near the limit is the response).
#[test]
fn a_burst_freed_far_from_the_limit_waits_for_the_decay_interval() {
    let (f, r) = pressure("low", &[]);
    assert!(f.rss_at_300ms_mib >= f.burst_mib / 4, "returned before the decay interval: {}", r.report());
    assert!(f.back_ms == -1 || f.back_ms >= 300, "back after {} ms: {}", f.back_ms, r.report());
    let err = r.stderr_str();
    assert!(err.contains("hakmem: pressure: watching"), "{}", r.report());
    assert!(!err.contains("purging at once"), "{}", r.report());
    assert!(err.contains("hakmem: pressure: level=none changes=0"), "{}", r.report());
}

/// `HAKMEM_PRESSURE=0`: near the limit, nothing changes (the burst waits
/// for the decay interval), and the configuration line says so.
#[test]
fn the_response_can_be_switched_off() {
    let (f, r) = pressure("near", &[("HAKMEM_PRESSURE", "0")]);
    assert!(f.rss_at_300ms_mib >= f.burst_mib / 4, "returned before the decay interval: {}", r.report());
    let err = r.stderr_str();
    assert!(err.contains(" pressure=off"), "{}", r.report());
    assert!(err.contains("hakmem: pressure: response off"), "{}", r.report());
    assert!(!err.contains("purging at once"), "{}", r.report());
    assert!(!err.contains("hakmem: pressure: level="), "{}", r.report());
}
