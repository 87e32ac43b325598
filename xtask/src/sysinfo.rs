//! What every benchmark record carries besides its numbers (BENCHMARKS.md,
//! "What a record holds"): commit, toolchain, flags, machine, load, HAKMEM_* env.
//! Read-only: git is queried with `--no-optional-locks`, it never writes.

use crate::json::Json;
use crate::util;

/// The machine and toolchain a benchmark ran on.
pub struct Machine {
    pub git_sha: Option<String>,
    /// `None` when `git status` could not run.
    pub git_dirty: Option<bool>,
    /// Changed or untracked files (`git status --porcelain` lines).
    pub git_changed_files: usize,
    pub rustc: String,
    pub rustflags: Option<String>,
    pub cc: String,
    pub cc_version: String,
    pub cpu_model: String,
    pub cores_online: usize,
    pub cores_usable: usize,
    pub kernel: String,
    pub date_utc: String,
    /// `/proc/loadavg` when the record was taken.
    pub loadavg: String,
    /// Every `HAKMEM_*` variable in effect, sorted.
    pub hakmem_env: Vec<(String, String)>,
}

/// The profile libhakmem.so is built with, as the record states it.
pub const PROFILE: &str = "release (cargo build --release -p hakmem-cdylib; [profile.release] lto = true, codegen-units = 1, panic = \"abort\", debug = 1)";

pub fn machine() -> Machine {
    let git_sha = util::output_of("git", ["rev-parse", "HEAD"]);
    let status =
        git_sha.as_ref().and_then(|_| util::output_of("git", ["--no-optional-locks", "status", "--porcelain"]));
    let cc = crate::cbuild::compiler();
    let cc_version = util::output_of(&cc, ["--version"])
        .and_then(|v| v.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    Machine {
        git_dirty: status.as_ref().map(|s| !s.is_empty()),
        git_changed_files: status.as_ref().map_or(0, |s| s.lines().count()),
        git_sha,
        rustc: util::output_of("rustc", ["-V"]).unwrap_or_else(|| "unknown".into()),
        rustflags: std::env::var("RUSTFLAGS").ok(),
        cc,
        cc_version,
        cpu_model: info
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == "model name").then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into()),
        cores_online: info.lines().filter(|l| l.starts_with("processor")).count(),
        cores_usable: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        kernel: read_trim("/proc/sys/kernel/osrelease"),
        date_utc: util::output_of("date", ["-u", "+%Y-%m-%dT%H:%M:%SZ"]).unwrap_or_default(),
        loadavg: loadavg(),
        hakmem_env: util::hakmem_env(),
    }
}

impl Machine {
    /// `<sha> (clean)` or `<sha> (dirty: N changed or untracked files)`.
    pub fn git_commit(&self) -> String {
        match (&self.git_sha, self.git_dirty) {
            (None, _) => "unknown (not a git checkout?)".into(),
            (Some(sha), Some(false)) => format!("{sha} (clean)"),
            (Some(sha), Some(true)) => format!("{sha} (dirty: {} changed or untracked files)", self.git_changed_files),
            (Some(sha), None) => format!("{sha} (dirty flag unknown)"),
        }
    }

    pub fn cores(&self) -> String {
        if self.cores_usable == self.cores_online {
            format!("{}", self.cores_online)
        } else {
            format!("{} online, {} usable by this process", self.cores_online, self.cores_usable)
        }
    }

    pub fn hakmem_env_line(&self) -> String {
        if self.hakmem_env.is_empty() {
            "(none: defaults, HAKMEM_MODE unset)".into()
        } else {
            let v: Vec<String> = self.hakmem_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            v.join(" ")
        }
    }

    /// `(label, value)` lines, in print order.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        vec![
            ("git commit", self.git_commit()),
            ("rustc", self.rustc.clone()),
            ("cargo profile", PROFILE.into()),
            ("RUSTFLAGS", self.rustflags.clone().unwrap_or_else(|| "(unset)".into())),
            ("C compiler", format!("{}: {}", self.cc, self.cc_version)),
            ("CPU", self.cpu_model.clone()),
            ("cores", self.cores()),
            ("kernel", self.kernel.clone()),
            ("date (UTC)", self.date_utc.clone()),
            ("load average", self.loadavg.clone()),
            ("HAKMEM_* env", self.hakmem_env_line()),
        ]
    }

    pub fn json(&self) -> Json {
        let mut env = Json::obj();
        for (k, v) in &self.hakmem_env {
            env.push(k, v.as_str());
        }
        Json::obj()
            .with("git_commit", self.git_sha.clone())
            .with("git_dirty", self.git_dirty)
            .with("git_changed_files", self.git_changed_files)
            .with("rustc", self.rustc.as_str())
            .with("profile", PROFILE)
            .with("rustflags", self.rustflags.clone())
            .with("cc", format!("{}: {}", self.cc, self.cc_version))
            .with("cflags", crate::cbuild::CFLAGS.join(" "))
            .with("cpu_model", self.cpu_model.as_str())
            .with("cores_online", self.cores_online)
            .with("cores_usable", self.cores_usable)
            .with("kernel", self.kernel.as_str())
            .with("date_utc", self.date_utc.as_str())
            .with("loadavg_start", self.loadavg.as_str())
            .with("hakmem_env", env)
    }
}

/// The three load averages and the running/total tasks, from /proc/loadavg.
pub fn loadavg() -> String {
    read_trim("/proc/loadavg")
}

/// Installed version of a Debian package (`dpkg-query -W`), if any.
pub fn dpkg_version(package: &str) -> Option<String> {
    let out = util::output_of("dpkg-query", ["-W", "-f=${Version}\\n", package])?;
    let v = out.lines().next()?.trim().to_string();
    (!v.is_empty()).then_some(v)
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_else(|_| "unknown".into())
}
