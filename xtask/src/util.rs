//! Paths, command display and process running shared by all commands.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub type Result<T> = std::result::Result<T, String>;

/// Every `HAKMEM_*` variable in effect, sorted by name.
pub fn hakmem_env() -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("HAKMEM_")).collect();
    vars.sort();
    vars
}

/// The workspace root (parent of `xtask/`).
pub fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().expect("xtask lives in the workspace root").to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` if set, else `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                std::env::current_dir().unwrap_or_else(|_| root()).join(dir)
            }
        }
        _ => root().join("target"),
    }
}

/// A `cargo` command running in the workspace root. Uses `$CARGO` (the cargo
/// that runs us, already chosen by rustup from rust-toolchain.toml).
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root());
    cmd
}

/// `LD_LIBRARY_PATH` without the entries `cargo run` prepended for us
/// (target dirs and the toolchain's library dirs), `None` if nothing is left.
/// Workloads must see the user's environment, not cargo's.
pub fn user_ld_library_path() -> Option<String> {
    let value = std::env::var("LD_LIBRARY_PATH").ok()?;
    let target = target_dir();
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")));
    let kept: Vec<&str> = value
        .split(':')
        .filter(|entry| {
            let p = Path::new(entry);
            !entry.is_empty()
                && !p.starts_with(&target)
                && !p.starts_with(root().join("target"))
                && !rustup_home.as_ref().is_some_and(|r| p.starts_with(r.join("toolchains")))
                && !entry.contains("/lib/rustlib/")
        })
        .collect();
    if kept.is_empty() {
        None
    } else {
        Some(kept.join(":"))
    }
}

/// Give `cmd` the user's `LD_LIBRARY_PATH` (see [`user_ld_library_path`]).
pub fn restore_user_env(cmd: &mut Command) {
    match user_ld_library_path() {
        Some(v) => cmd.env("LD_LIBRARY_PATH", v),
        None => cmd.env_remove("LD_LIBRARY_PATH"),
    };
}

/// Quote one word for a POSIX shell, only when needed.
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The command as a copy-pasteable shell line, with the environment variables
/// it sets explicitly in front (`LD_LIBRARY_PATH` is left out: it only undoes
/// what `cargo run` added). Variables it removes are shown as `-u NAME` of env(1)
/// only for `LD_PRELOAD`, the one that matters to allocators.
pub fn display_cmd(cmd: &Command) -> String {
    let mut words = Vec::new();
    let mut unset = Vec::new();
    for (k, v) in cmd.get_envs() {
        let k = k.to_string_lossy();
        if k == "LD_LIBRARY_PATH" {
            continue;
        }
        match v {
            Some(v) => words.push(format!("{k}={}", shell_quote(&v.to_string_lossy()))),
            None if k == "LD_PRELOAD" => unset.push(k.to_string()),
            None => {}
        }
    }
    let mut line = String::new();
    if !unset.is_empty() {
        line.push_str("env");
        for k in unset {
            line.push_str(&format!(" -u {k}"));
        }
        line.push(' ');
    }
    for w in words {
        line.push_str(&w);
        line.push(' ');
    }
    let program = cmd.get_program();
    if std::env::var_os("CARGO").is_some_and(|c| c == program) {
        // `$CARGO` is the cargo running us: show it as a person would type it.
        line.push_str("cargo");
    } else {
        line.push_str(&shell_quote(&program.to_string_lossy()));
    }
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&shell_quote(&a.to_string_lossy()));
    }
    line
}

/// Run `cmd` with inherited stdio; error unless it exits 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", display_cmd(cmd));
    let status = cmd.status().map_err(|e| format!("cannot run `{}`: {e}", display_cmd(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed: {}", display_cmd(cmd), describe_status(status)))
    }
}

/// Run `cmd` and return its trimmed stdout, `None` if it cannot run or fails.
pub fn output_of<I, S>(program: &str, args: I) -> Option<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new(program)
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// What a finished (or killed) child produced.
pub struct Captured {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub timed_out: bool,
    /// Peak resident set size of the child in KiB (`ru_maxrss` from `wait4`).
    /// Linux folds into it the address space the child had before `exec`,
    /// which for a spawned child is ours: never below our own RSS. See
    /// [`Captured::peak_rss_kib`].
    pub max_rss_kib: u64,
}

impl Captured {
    /// The child's peak RSS in KiB: the `Peak RSS = N kB` line a workload
    /// program prints at exit (its `VmHWM`, its own address space only; see
    /// `benches/c/bench.h`), else [`Captured::max_rss_kib`].
    pub fn peak_rss_kib(&self) -> u64 {
        self.stdout
            .lines()
            .rev()
            .filter_map(|l| l.strip_prefix("Peak RSS = "))
            .find_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(self.max_rss_kib)
    }

    pub fn ok(&self) -> bool {
        !self.timed_out && self.status.success() && !self.preload_ignored()
    }
    /// The dynamic loader could not load an LD_PRELOAD library and ran the
    /// program without it (it only warns): the run measured the wrong allocator.
    pub fn preload_ignored(&self) -> bool {
        self.stderr.contains("from LD_PRELOAD cannot be preloaded")
    }
    /// One-line reason for a failure, with the tail of stderr.
    pub fn failure(&self, line: &str) -> String {
        let why = if self.preload_ignored() {
            "ran WITHOUT its LD_PRELOAD library (the loader could not load it)".to_string()
        } else if self.timed_out {
            format!("timed out after {:.1} s and was killed", self.elapsed.as_secs_f64())
        } else {
            describe_status(self.status)
        };
        let tail: Vec<&str> = self.stderr.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let mut msg = format!("`{line}` {why}");
        if !tail.is_empty() {
            msg.push_str("\n--- stderr (last lines) ---\n");
            msg.push_str(&tail.join("\n"));
        }
        msg
    }
}

/// Run `cmd` with stdin closed and stdout/stderr captured; kill it (SIGKILL)
/// if it runs longer than `timeout`, so a hung allocator cannot hang CI.
/// The child is reaped with `wait4`, which also gives its peak RSS.
/// Meant for workload binaries: only the direct child is killed, so a child
/// that forks long-lived grandchildren holding its pipes would still block.
pub fn run_captured(cmd: &mut Command, timeout: Duration) -> Result<Captured> {
    let line = display_cmd(cmd);
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{line}`: {e}"))?;
    let mut out_pipe = child.stdout.take().expect("piped");
    let mut err_pipe = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out_pipe.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err_pipe.read_to_end(&mut s);
        s
    });
    let pid = child.id() as libc::pid_t;
    let mut timed_out = false;
    let (raw_status, usage) = loop {
        match wait4(pid, false) {
            Ok(Some(done)) => break done,
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for `{line}`: {e}")),
        }
        if start.elapsed() > timeout {
            timed_out = true;
            let _ = child.kill();
            match wait4(pid, true) {
                Ok(Some(done)) => break done,
                Ok(None) => unreachable!("blocking wait4 returned no child"),
                Err(e) => return Err(format!("waiting for `{line}`: {e}")),
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    // The child is reaped: `child` must not be waited for again (dropping a
    // `Child` neither waits nor kills).
    drop(child);
    let elapsed = start.elapsed();
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    use std::os::unix::process::ExitStatusExt;
    Ok(Captured {
        status: std::process::ExitStatus::from_raw(raw_status),
        stdout,
        stderr,
        elapsed,
        timed_out,
        // Linux reports ru_maxrss in KiB.
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    })
}

/// `wait4(pid)`: `Some((status, rusage))` once the child has exited,
/// `None` if it is still running (only when `block` is false).
fn wait4(pid: libc::pid_t, block: bool) -> std::io::Result<Option<(i32, libc::rusage)>> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain old data, all-zero is a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let flags = if block { 0 } else { libc::WNOHANG };
        // SAFETY: valid pointers to locals; pid is our own unreaped child.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if r == pid {
            return Ok(Some((status, usage)));
        }
        if r == 0 {
            return Ok(None);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// "exit status 3", "killed by signal 11 (SIGSEGV)".
pub fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    match status.signal() {
        Some(sig) => {
            let name = match sig {
                4 => " (SIGILL)",
                6 => " (SIGABRT)",
                7 => " (SIGBUS)",
                8 => " (SIGFPE)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                _ => "",
            };
            format!("was killed by signal {sig}{name}")
        }
        None => format!("ended with {status}"),
    }
}

/// `--flag=value` split into the flag and its inline value; any other
/// argument as it is, with no inline value.
pub fn split_flag(arg: &str) -> (String, Option<String>) {
    match arg.split_once('=') {
        Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
        _ => (arg.to_string(), None),
    }
}

/// The value of `--runs`: an integer >= 1.
pub fn runs_value(v: &str) -> Result<usize> {
    v.parse().ok().filter(|&n| n >= 1).ok_or(format!("--runs: expected an integer >= 1, got `{v}`"))
}

/// The value of `--seconds`: a number of seconds in (0, 3600].
pub fn seconds_value(v: &str) -> Result<f64> {
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
        .ok_or(format!("--seconds: expected a number of seconds > 0, got `{v}`"))
}

/// The value of `--save`: a record name of `[A-Za-z0-9._-]`, not starting
/// with a dot (`example` is shown in the error).
pub fn save_name(v: &str, example: &str) -> Result<String> {
    let ok =
        !v.is_empty() && !v.starts_with('.') && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(v.to_string())
    } else {
        Err(format!("--save: expected a name like {example} ([A-Za-z0-9._-]), got `{v}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("larson"), "larson");
        assert_eq!(shell_quote("/a/b-c_d.so"), "/a/b-c_d.so");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn captured_run_is_killed_on_timeout() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; exec sleep 30"]);
        let out = run_captured(&mut cmd, Duration::from_millis(200)).unwrap();
        assert!(out.timed_out && !out.ok());
        assert!(out.elapsed < Duration::from_secs(10));
        assert_eq!(out.stdout, "started\n");
        assert!(out.failure("x").contains("timed out"));
    }

    #[test]
    fn captured_run_reports_peak_rss() {
        // A shell that holds a 64 MiB string has a peak RSS above 64 MiB.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo ${#x}"]);
        let out = run_captured(&mut cmd, Duration::from_secs(60)).unwrap();
        assert!(out.ok(), "{}", out.failure("sh"));
        assert_eq!(out.stdout.trim(), "67108864");
        assert!(out.max_rss_kib > 64 * 1024, "{}", out.max_rss_kib);
        let mut cmd = Command::new("true");
        let out = run_captured(&mut cmd, Duration::from_secs(30)).unwrap();
        assert!(out.max_rss_kib > 0 && out.max_rss_kib < 64 * 1024, "{}", out.max_rss_kib);
    }

    #[test]
    fn reported_peak_rss_wins_over_ru_maxrss() {
        // ru_maxrss of a spawned child counts our own pages before its
        // exec; the program's own VmHWM line does not.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo 'Throughput = 5 operations per second'; echo 'Peak RSS = 1234 kB (VmHWM)'"]);
        let out = run_captured(&mut cmd, Duration::from_secs(30)).unwrap();
        assert!(out.ok(), "{}", out.failure("sh"));
        assert_eq!(out.peak_rss_kib(), 1234);
        let mut cmd = Command::new("true");
        let out = run_captured(&mut cmd, Duration::from_secs(30)).unwrap();
        assert_eq!(out.peak_rss_kib(), out.max_rss_kib);
    }

    #[test]
    fn captured_run_reports_status_and_ignored_preload() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let out = run_captured(&mut cmd, Duration::from_secs(30)).unwrap();
        assert!(!out.ok() && !out.timed_out);
        assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("out\n", "err\n"));
        assert!(out.failure("x").contains("exited with status 3"), "{}", out.failure("x"));

        let mut cmd = Command::new("true");
        cmd.env("LD_PRELOAD", "/nonexistent/libnothing.so");
        let out = run_captured(&mut cmd, Duration::from_secs(30)).unwrap();
        assert!(out.status.success() && out.preload_ignored() && !out.ok());
    }

    #[test]
    fn display_shows_env_and_args() {
        let mut cmd = Command::new("/bin/prog");
        cmd.arg("1").arg("x y").env("LD_PRELOAD", "/l/libhakmem.so");
        assert_eq!(display_cmd(&cmd), "LD_PRELOAD=/l/libhakmem.so /bin/prog 1 'x y'");
        let mut cmd = Command::new("prog");
        cmd.env_remove("LD_PRELOAD").env("LD_LIBRARY_PATH", "/x");
        assert_eq!(display_cmd(&cmd), "env -u LD_PRELOAD prog");
    }
}
