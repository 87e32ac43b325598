//! `loom`: model-checks hakmem's cross-thread structures with loom.
//!
//! The models live next to the code they check, in `#[cfg(all(test,
//! loom))] mod loom_models` of hak-os (segment map, spin lock, metadata
//! arena), hak-slab (remote frees, abandonment and detach, adoption,
//! abandoned-page hints, tier page lists) and hak-bigcache (cache, double-free CAS).
//! `RUSTFLAGS="--cfg loom"` swaps the `hak_os::sync` facade to loom's
//! atomics and cells, so the checked structures are the shipped ones.
//!
//! The build goes to its own target directory (`target/loom`) so it does
//! not invalidate normal builds; release mode because loom explores tens of
//! thousands of executions. The whole suite takes about 15 s at the default
//! preemption bound of 3 (plus the first build), so CI runs all of it.

use crate::util::{self, Result};
use std::time::Instant;

/// Packages whose library tests hold loom models (hak-tiny and hak-pool
/// have none but are built under `cfg(loom)` too, so the facade keeps them
/// compiling).
const PACKAGES: [&str; 7] = ["hak-os", "hak-slab", "hak-bigcache", "hak-tiny", "hak-pool", "hak-elo", "hak-siterules"];

/// Default `LOOM_MAX_PREEMPTIONS`.
const DEFAULT_PREEMPTIONS: u32 = 3;

pub fn loom_cmd(args: &[String]) -> Result<()> {
    let mut preemptions =
        std::env::var("LOOM_MAX_PREEMPTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_PREEMPTIONS);
    let mut filter: Option<&str> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--preemptions" => {
                let v = it.next().ok_or("--preemptions needs a number")?;
                preemptions = v.parse().map_err(|_| format!("--preemptions: `{v}` is not a number"))?;
            }
            s if s.starts_with('-') => return Err(format!("loom: unknown option `{s}`")),
            s if filter.is_none() => filter = Some(s),
            s => return Err(format!("loom: unexpected argument `{s}`")),
        }
    }
    run(preemptions, filter)
}

/// Builds and runs the models; the step `cargo xtask test` calls.
pub fn run(preemptions: u32, filter: Option<&str>) -> Result<()> {
    let start = Instant::now();
    let mut rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
    if !rustflags.split_whitespace().any(|f| f == "--cfg=loom") && !rustflags.contains("--cfg loom") {
        if !rustflags.is_empty() {
            rustflags.push(' ');
        }
        rustflags.push_str("--cfg loom");
    }
    let target = util::target_dir().join("loom");
    let mut cmd = util::cargo();
    cmd.args(["test", "--release", "--lib", "--target-dir"]).arg(&target);
    for p in PACKAGES {
        cmd.args(["-p", p]);
    }
    cmd.args(["--", "--nocapture", "--test-threads=1"]);
    if let Some(f) = filter {
        cmd.arg(f);
    }
    cmd.env("RUSTFLAGS", &rustflags).env("LOOM_MAX_PREEMPTIONS", preemptions.to_string());
    println!("loom: RUSTFLAGS=\"{rustflags}\" LOOM_MAX_PREEMPTIONS={preemptions}");
    util::run(&mut cmd).map_err(|e| {
        format!(
            "{e}\nloom: a model failed; rerun it alone with its trace:\n  \
             LOOM_LOCATION=1 LOOM_LOG=trace cargo xtask loom --preemptions {preemptions} <model name>"
        )
    })?;
    println!(
        "==> xtask loom: all models passed in {:.0} s (LOOM_MAX_PREEMPTIONS={preemptions})",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
