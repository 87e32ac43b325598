//! `test`: exactly what CI runs (`.ci/run` calls `cargo xtask test`).
//!
//! Steps run in order, each announced by a `==> [i/n] ...` header; the first
//! failure stops the sequence with a non-zero exit.
//!
//! Contract with `tests/preload` (package `hakmem-preload-tests`): it is run
//! with `cargo test --release -p hakmem-preload-tests` and the environment
//! variable `HAKMEM_SO` holding the absolute path of the freshly built
//! `libhakmem.so`; the tests LD_PRELOAD it into the programs they spawn.
//! The security suite (`tests/security`, package `hakmem-security-tests`)
//! follows the same contract, right after it.

use crate::model::{self, Allocator};
use crate::util::{self, Result};
use crate::{cbuild, preload, workloads};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Package name of the LD_PRELOAD test suite in `tests/preload`.
pub const PRELOAD_TESTS_PKG: &str = "hakmem-preload-tests";
/// Environment variable carrying the absolute path of libhakmem.so to it.
pub const HAKMEM_SO_ENV: &str = "HAKMEM_SO";
/// Package name of the security suite in `tests/security` (same contract).
pub const SECURITY_TESTS_PKG: &str = "hakmem-security-tests";

const STEPS: usize = 7;

/// The thread cache's budget variable (0: no cache), set for a second run
/// of the router's tests.
const NO_CACHE_ENV: &str = "HAKMEM_THREAD_CACHE_KB";

fn header(i: usize, what: &str) {
    println!();
    println!("==> [{i}/{STEPS}] {what}");
}

pub fn test_cmd(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        return Err(format!("test takes no arguments (got `{a}`)"));
    }
    let start = Instant::now();
    let mut skipped = Vec::new();

    header(1, "gates: cargo fmt --check, cargo clippy -D warnings, cargo doc with warnings denied");
    gates().map_err(|e| format!("step 1 (gates) failed: {e}"))?;

    header(
        2,
        &format!(
            "workspace tests: cargo test --workspace --exclude {PRELOAD_TESTS_PKG} --exclude \
             {SECURITY_TESTS_PKG}, then the router's again with {NO_CACHE_ENV}=0, hak-config's with \
             --features secure, hak-slab's with --features strict-free"
        ),
    );
    let mut cmd = util::cargo();
    cmd.args(["test", "--workspace", "--exclude", PRELOAD_TESTS_PKG, "--exclude", SECURITY_TESTS_PKG]);
    util::run(&mut cmd).map_err(|e| format!("step 2 (workspace tests) failed: {e}"))?;
    // Without a thread cache every free past the fast path's push takes
    // the paths below it (a full bin's upkeep tick among them): the router's
    // tests again in that configuration.
    let mut cmd = util::cargo();
    cmd.args(["test", "-p", "hakmem"]).env(NO_CACHE_ENV, "0");
    util::run(&mut cmd).map_err(|e| format!("step 2 (router tests with {NO_CACHE_ENV}=0) failed: {e}"))?;
    // The `secure` build feature changes every mode's defaults: the
    // configuration's tests check that (a few seconds; the other crates'
    // secure paths are tested through HAKMEM_SECURE=1).
    let mut cmd = util::cargo();
    cmd.args(["test", "-p", "hak-config", "--features", "secure"]);
    util::run(&mut cmd).map_err(|e| format!("step 2 (hak-config tests with --features secure) failed: {e}"))?;
    // The `strict-free` build feature compiles the fast path's free checks
    // in (decision 0038): the page engine's tests of both builds.
    let mut cmd = util::cargo();
    cmd.args(["test", "-p", "hak-slab", "--features", "strict-free"]);
    util::run(&mut cmd).map_err(|e| format!("step 2 (hak-slab tests with --features strict-free) failed: {e}"))?;
    crate::dist::embedding_checks().map_err(|e| format!("step 2 (tier examples, benches compile) failed: {e}"))?;

    header(3, "build-preload: cargo build --release -p hakmem-cdylib");
    let so = preload::build_preload().map_err(|e| format!("step 3 (build-preload) failed: {e}"))?;
    println!("libhakmem.so: {}", so.display());

    header(4, &format!("preload tests: {HAKMEM_SO_ENV}=<libhakmem.so> cargo test --release -p {PRELOAD_TESTS_PKG}"));
    let suite = util::root().join("tests").join("preload");
    if suite.join("Cargo.toml").is_file() {
        if !workspace_has_package(PRELOAD_TESTS_PKG)? {
            return Err(format!(
                "step 4 (preload tests) failed: {} exists but package `{PRELOAD_TESTS_PKG}` is not a \
                 workspace member: add \"tests/preload\" to [workspace] members in Cargo.toml",
                suite.join("Cargo.toml").display()
            ));
        }
        let mut cmd = util::cargo();
        cmd.args(["test", "--release", "-p", PRELOAD_TESTS_PKG]).env(HAKMEM_SO_ENV, &so);
        util::run(&mut cmd).map_err(|e| format!("step 4 (preload tests) failed: {e}"))?;
    } else {
        println!(
            "NOTICE: {} does not exist yet: skipping the LD_PRELOAD test suite ({PRELOAD_TESTS_PKG}).",
            suite.join("Cargo.toml").display()
        );
        skipped.push("4 (tests/preload not written yet)");
    }

    header(
        5,
        &format!(
            "security tests: {HAKMEM_SO_ENV}=<libhakmem.so> cargo test --release -p {SECURITY_TESTS_PKG} \
             (misuse cases under glibc and hakmem, docs/security.md)"
        ),
    );
    if !workspace_has_package(SECURITY_TESTS_PKG)? {
        return Err(format!(
            "step 5 (security tests) failed: package `{SECURITY_TESTS_PKG}` is not a workspace member: add \
             \"tests/security\" to [workspace] members in Cargo.toml"
        ));
    }
    let mut cmd = util::cargo();
    cmd.args(["test", "--release", "-p", SECURITY_TESTS_PKG]).env(HAKMEM_SO_ENV, &so);
    util::run(&mut cmd).map_err(|e| format!("step 5 (security tests) failed: {e}"))?;

    header(
        6,
        "workload smoke under LD_PRELOAD=libhakmem.so: larson 0.3 s at 1 and 4 threads, \
         every other workload of benches/c for 0.1 s",
    );
    workload_smoke(so).map_err(|e| format!("step 6 (workload smoke) failed: {e}"))?;

    header(7, "loom models: cargo xtask loom (release, target/loom, LOOM_MAX_PREEMPTIONS=3)");
    crate::loom::run(3, None).map_err(|e| format!("step 7 (loom models) failed: {e}"))?;

    println!();
    let secs = start.elapsed().as_secs_f64();
    if skipped.is_empty() {
        println!("==> xtask test: all {STEPS} steps passed in {secs:.0} s");
    } else {
        println!("==> xtask test: passed in {secs:.0} s; skipped step {}", skipped.join(", step "));
    }
    Ok(())
}

/// The source gates: formatting (`rustfmt.toml`), clippy with every
/// warning denied (the workspace lints deny `clippy::undocumented_unsafe_blocks`)
/// and the API docs with rustdoc's warnings denied (broken intra-doc links).
fn gates() -> Result<()> {
    let mut cmd = util::cargo();
    cmd.args(["fmt", "--all", "--check"]);
    util::run(&mut cmd).map_err(|e| format!("{e} (run `cargo fmt --all` and commit)"))?;
    let mut cmd = util::cargo();
    cmd.args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]);
    util::run(&mut cmd)?;
    // The shipped library alone: test builds turn on hak-os's
    // `fault-injection` (a dev-dependency feature), this build does not.
    let mut cmd = util::cargo();
    cmd.args(["clippy", "-p", "hakmem-cdylib", "--", "-D", "warnings"]);
    util::run(&mut cmd)?;
    let mut cmd = util::cargo();
    cmd.args(["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-D warnings");
    util::run(&mut cmd)
}

/// Every workload of `benches/c/` under hakmem (larson for 0.3 s at 1 and 4
/// threads, the others for 0.1 s, retention with its --quick burst): each
/// must exit 0, show that hakmem was really preloaded (`allocator-check:
/// hakmem`) and print its metric line. A correctness smoke test, not a
/// measurement (`cargo xtask bench` measures).
fn workload_smoke(so: PathBuf) -> Result<()> {
    let start = Instant::now();
    let mut runs = 0;
    let hakmem = Allocator::preloaded("hakmem", so);
    let params = workloads::Params { seconds: 0.1, threads: vec![1, 4], quick: true, seed: workloads::SEED };
    for spec in workloads::CATALOGUE {
        let binary = cbuild::build(spec.program)?;
        let mut workload = if spec.name == "larson" {
            workloads::larson(binary, 0.3, &[1, 4])
        } else {
            spec.workload(binary, &params)
        };
        workload.timeout = Duration::from_secs(60);
        for case in &workload.cases {
            let mut cmd = workload.command(case, &hakmem);
            let line = util::display_cmd(&cmd);
            println!("$ {line}");
            let out = util::run_captured(&mut cmd, workload.timeout)?;
            if !out.ok() {
                return Err(out.failure(&line));
            }
            let value = model::judge(&out, &hakmem, &workload.metric)
                .map_err(|e| format!("`{line}`: {e}; stdout:\n{}", out.stdout))?;
            println!(
                "{} {} = {} {}",
                spec.name,
                workload.metric.name,
                model::fmt_value(value, &workload.metric),
                workload.metric.unit
            );
            runs += 1;
        }
    }
    println!(
        "workload smoke: {runs} runs of {} workloads passed in {:.1} s (including their build)",
        workloads::CATALOGUE.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Whether the workspace has a member package called `name`.
fn workspace_has_package(name: &str) -> Result<bool> {
    let mut cmd = util::cargo();
    cmd.args(["metadata", "--no-deps", "--format-version", "1", "--offline", "--quiet"]);
    let out = cmd.output().map_err(|e| format!("cannot run `{}`: {e}", util::display_cmd(&cmd)))?;
    if !out.status.success() {
        return Err(format!("`{}` failed:\n{}", util::display_cmd(&cmd), String::from_utf8_lossy(&out.stderr)));
    }
    // std only, no JSON parser: package names appear as `"name":"<name>"`.
    let json = String::from_utf8_lossy(&out.stdout);
    Ok(json.contains(&format!("\"name\":\"{name}\"")))
}
