//! What every benchmark record carries besides its numbers (BENCHMARKS.md,
//! "What a record holds"): commit, toolchain, flags, machine, HAKMEM_* env.
//! Read-only: git is queried with `--no-optional-locks`, it never writes.

use crate::util;

/// `(label, value)` lines, in print order.
pub fn record() -> Vec<(&'static str, String)> {
    let mut r = vec![
        ("git commit", git_commit()),
        (
            "rustc",
            util::output_of("rustc", ["-V"]).unwrap_or_else(|| "unknown".into()),
        ),
        (
            "cargo profile",
            "release (libhakmem.so: cargo build --release -p hakmem-cdylib)".into(),
        ),
        (
            "RUSTFLAGS",
            std::env::var("RUSTFLAGS").unwrap_or_else(|_| "(unset)".into()),
        ),
    ];
    let cc = crate::cbuild::compiler();
    let cc_version = util::output_of(&cc, ["--version"])
        .and_then(|v| v.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    r.push(("C compiler", format!("{cc}: {cc_version}")));
    r.push(("CPU", cpu_model()));
    r.push(("cores", cores()));
    r.push(("kernel", read_trim("/proc/sys/kernel/osrelease")));
    r.push((
        "date (UTC)",
        util::output_of("date", ["-u", "+%Y-%m-%dT%H:%M:%SZ"]).unwrap_or_default(),
    ));
    r.push(("HAKMEM_* env", hakmem_env()));
    r
}

/// `<sha> (clean)` or `<sha> (dirty: N changed files)`.
pub fn git_commit() -> String {
    let Some(sha) = util::output_of("git", ["rev-parse", "HEAD"]) else {
        return "unknown (not a git checkout?)".into();
    };
    let status = util::output_of("git", ["--no-optional-locks", "status", "--porcelain"]);
    match status {
        Some(s) if s.is_empty() => format!("{sha} (clean)"),
        Some(s) => format!(
            "{sha} (dirty: {} changed or untracked files)",
            s.lines().count()
        ),
        None => format!("{sha} (dirty flag unknown)"),
    }
}

pub fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "model name").then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Online CPUs and what this process may use (cgroup/affinity limits).
pub fn cores() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let online = info.lines().filter(|l| l.starts_with("processor")).count();
    let usable = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    if usable == online {
        format!("{online}")
    } else {
        format!("{online} online, {usable} usable by this process")
    }
}

/// Every `HAKMEM_*` variable in effect, `NAME=value` space-separated.
pub fn hakmem_env() -> String {
    let mut vars: Vec<String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("HAKMEM_"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    vars.sort();
    if vars.is_empty() {
        "(none: defaults, HAKMEM_MODE unset)".into()
    } else {
        vars.join(" ")
    }
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
