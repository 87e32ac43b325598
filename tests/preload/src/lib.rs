//! Test harness for running programs on `libhakmem.so` with `LD_PRELOAD`.
//!
//! The tests in `tests/*.rs` use it to
//! - locate the library under test ([`hakmem_so`], from the `HAKMEM_SO`
//!   environment variable that `cargo xtask test` sets),
//! - compile the C test programs of `c/` with `cc` ([`compile_c`]),
//! - run a command with or without the preload under a timeout ([`run`]),
//!   killing its whole process group when the time is up (a deadlock is a
//!   test failure, never a hung test run),
//! - run a real program twice, without and with the preload, each in a fresh
//!   directory, and compare what a user sees: stdout and the exit status
//!   ([`compare_with_and_without_preload`]).
//!
//! All scratch files go to `<target dir>/hakmem-preload-tests/`.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Default time limit of one program run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// How the dynamic loader reports a library it could not preload (it then
/// runs the program without it, silently for anyone not reading stderr).
const NOT_PRELOADED: &str = "cannot be preloaded";

/// Absolute path of the library under test, from `HAKMEM_SO`.
///
/// Panics with instructions when the variable is missing or does not name a
/// file: these tests never silently run against glibc.
pub fn hakmem_so() -> PathBuf {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| {
        let Some(v) = std::env::var_os("HAKMEM_SO").filter(|v| !v.is_empty()) else {
            panic!(
                "HAKMEM_SO is not set: run via `cargo xtask test` or set HAKMEM_SO \
                 to the absolute path of target/release/libhakmem.so"
            );
        };
        let p = PathBuf::from(v);
        assert!(
            p.is_absolute(),
            "HAKMEM_SO={} is not an absolute path: run via `cargo xtask test` or set HAKMEM_SO \
             to an absolute path (the preloaded programs run in other directories)",
            p.display()
        );
        assert!(
            p.is_file(),
            "HAKMEM_SO={} does not exist: build it with `cargo build --release -p hakmem-cdylib`; \
             run via `cargo xtask test` or set HAKMEM_SO",
            p.display()
        );
        p
    })
    .clone()
}

/// Directory of the C test sources.
pub fn c_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("c")
}

/// `<target dir>/hakmem-preload-tests`, created on first use.
///
/// The target directory is found from the running test executable
/// (`<target>/<profile>/deps/<test>`), so `CARGO_TARGET_DIR` and `--target`
/// are honoured.
pub fn scratch_root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let exe = std::env::current_exe().expect("current_exe");
        let target = exe
            .ancestors()
            .find(|a| a.file_name() == Some(OsStr::new("deps")))
            .and_then(|deps| deps.parent()) // <profile>
            .and_then(|profile| profile.parent()) // <target> (or <target>/<triple>)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
        let root = target.join("hakmem-preload-tests");
        std::fs::create_dir_all(&root).expect("create scratch root");
        root
    })
    .clone()
}

/// A fresh, empty directory for one run: `<scratch>/<name>-<pid>-<n>`.
pub fn fresh_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = scratch_root().join(format!("{name}-{}-{n}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("clean scratch dir");
    }
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Finds `tool` in `PATH`; panics naming the Debian package that provides
/// it when it is missing (a missing tool fails the test, never skips it).
pub fn require_tool(tool: &str, apt_package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let cand = dir.join(tool);
        if let Ok(md) = std::fs::metadata(&cand) {
            use std::os::unix::fs::PermissionsExt;
            if md.is_file() && md.permissions().mode() & 0o111 != 0 {
                return cand;
            }
        }
    }
    panic!(
        "`{tool}` is required by this test but is not in PATH: install it with \
         `apt-get install {apt_package}`"
    );
}

/// Compiles `c/<name>.c` (with `c/check.h`) into an executable and returns
/// its path. Compiled once per test process; the result is written under a
/// unique name and renamed into place, so concurrent test binaries never see
/// a half-written file.
pub fn compile_c(name: &str) -> PathBuf {
    static DONE: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let done = DONE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = done.get(name) {
        return p.clone();
    }
    let src = c_dir().join(format!("{name}.c"));
    let out = compile_c_file(
        &src,
        &scratch_root().join("bin"),
        &["-O2", "-Wno-free-nonheap-object", "-I", &c_dir().to_string_lossy()],
    );
    done.insert(name.to_string(), out.clone());
    out
}

/// Compiles the C file `src` with `cc -std=gnu11 -g -Wall -pthread` plus
/// `flags` into `bin_dir` (named after the file's stem), linked with `-ldl`;
/// the result is written under a unique name and renamed into place, so
/// concurrent test binaries never see a half-written file. Panics with
/// the compiler's messages on failure.
pub fn compile_c_file(src: &Path, bin_dir: &Path, flags: &[&str]) -> PathBuf {
    let cc = require_tool("cc", "gcc");
    assert!(src.is_file(), "missing C test source {}", src.display());
    let name = src.file_stem().expect("a C source file name").to_string_lossy().into_owned();
    std::fs::create_dir_all(bin_dir).expect("create bin dir");
    let out = bin_dir.join(&name);
    let tmp = bin_dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let output = Command::new(&cc)
        .args(["-std=gnu11", "-g", "-Wall", "-pthread"])
        .args(flags)
        .arg("-o")
        .arg(&tmp)
        .arg(src)
        .arg("-ldl")
        .stdin(Stdio::null())
        .output()
        .expect("run cc");
    assert!(
        output.status.success(),
        "compiling {} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&tmp, &out).expect("rename compiled program");
    out
}

/// With or without `LD_PRELOAD=$HAKMEM_SO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preload {
    /// Plain run on the system allocator (`LD_PRELOAD` removed).
    No,
    /// Run with `LD_PRELOAD=$HAKMEM_SO` (and `HAKMEM_EXPECT_SO` set to the
    /// same path, which the C programs use to check where symbols resolve).
    Yes,
}

/// What one run produced.
#[derive(Debug)]
pub struct Run {
    /// Human-readable description of the command.
    pub what: String,
    /// Exit status.
    pub status: ExitStatus,
    /// Captured stdout.
    pub stdout: Vec<u8>,
    /// Captured stderr.
    pub stderr: Vec<u8>,
    /// Wall time.
    pub elapsed: Duration,
}

impl Run {
    /// stdout as text (lossy).
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// stderr as text (lossy).
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// Terminating signal, if any.
    pub fn signal(&self) -> Option<i32> {
        self.status.signal()
    }
    /// A report of the run for assertion messages (output tails included).
    pub fn report(&self) -> String {
        format!(
            "{}\n  status: {}\n  --- stdout (tail) ---\n{}\n  --- stderr (tail) ---\n{}",
            self.what,
            describe_status(self.status),
            tail(&self.stdout_str(), 40),
            tail(&self.stderr_str(), 40)
        )
    }
    /// Asserts exit status 0.
    pub fn assert_success(&self) -> &Self {
        assert!(self.status.success(), "expected exit status 0: {}", self.report());
        self
    }
}

/// "exit status 3" / "killed by signal 6 (SIGABRT)".
pub fn describe_status(s: ExitStatus) -> String {
    if let Some(code) = s.code() {
        format!("exit status {code}")
    } else if let Some(sig) = s.signal() {
        let name = match sig {
            libc::SIGABRT => " (SIGABRT)",
            libc::SIGSEGV => " (SIGSEGV)",
            libc::SIGBUS => " (SIGBUS)",
            libc::SIGKILL => " (SIGKILL)",
            libc::SIGALRM => " (SIGALRM)",
            libc::SIGILL => " (SIGILL)",
            libc::SIGTRAP => " (SIGTRAP)",
            _ => "",
        };
        format!("killed by signal {sig}{name}{}", if s.core_dumped() { ", core dumped" } else { "" })
    } else {
        format!("{s:?}")
    }
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    let start = v.len().saturating_sub(lines);
    let mut out = String::new();
    if start > 0 {
        out.push_str(&format!("  [... {start} lines omitted]\n"));
    }
    for l in &v[start..] {
        out.push_str("  | ");
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Applies the preload choice to `cmd`.
pub fn set_preload(cmd: &mut Command, preload: Preload) {
    match preload {
        Preload::No => {
            cmd.env_remove("LD_PRELOAD").env_remove("HAKMEM_EXPECT_SO");
        }
        Preload::Yes => {
            let so = hakmem_so();
            cmd.env("LD_PRELOAD", &so).env("HAKMEM_EXPECT_SO", &so);
        }
    }
}

/// Runs `cmd` (stdin from /dev/null unless already configured by `input`)
/// with or without the preload, capturing stdout/stderr, in its own process
/// group. When `timeout` passes, the whole group is killed with SIGKILL and
/// the test fails with a "timed out (deadlock?)" message.
///
/// With [`Preload::Yes`] it also asserts that the loader did preload the
/// library.
pub fn run(mut cmd: Command, preload: Preload, timeout: Duration) -> Run {
    run_with_input(&mut cmd, preload, timeout, None)
}

/// Like [`run`], feeding `input` on stdin.
pub fn run_with_input(cmd: &mut Command, preload: Preload, timeout: Duration, input: Option<Vec<u8>>) -> Run {
    set_preload(cmd, preload);
    let what =
        format!("{:?}{}", cmd, if preload == Preload::Yes { " [LD_PRELOAD=libhakmem]" } else { " [no preload]" });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.process_group(0);
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let pgid = child.id() as libc::pid_t;

    let (tx, rx) = mpsc::channel::<(u8, Vec<u8>)>();
    let mut out = child.stdout.take().expect("stdout pipe");
    let mut err = child.stderr.take().expect("stderr pipe");
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        let _ = tx.send((1, v));
    });
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        let _ = tx2.send((2, v));
    });
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("stdin pipe");
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&input);
        });
    }

    let kill_group = || {
        // SAFETY: kill(2) on the process group we created for this child
        // (process_group(0) made its pid the group id); no memory involved.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    };

    let deadline = start + timeout;
    let status = loop {
        match child.try_wait().expect("try_wait") {
            Some(s) => break s,
            None if Instant::now() >= deadline => {
                kill_group();
                let s = child.wait().expect("wait after kill");
                // Collect what was printed so far (pipes close once the group is dead).
                let mut got = [Vec::new(), Vec::new()];
                while let Ok((i, v)) = rx.recv_timeout(Duration::from_secs(2)) {
                    got[i as usize - 1] = v;
                }
                let run = Run {
                    what,
                    status: s,
                    stdout: std::mem::take(&mut got[0]),
                    stderr: std::mem::take(&mut got[1]),
                    elapsed: start.elapsed(),
                };
                panic!(
                    "timed out after {:?} (deadlock or livelock?); killed its process group: {}",
                    timeout,
                    run.report()
                );
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    // The program is done; collect both pipes. Grandchildren that still hold
    // them open (a daemonised helper) get until the deadline, then the group
    // is killed.
    let mut got: [Option<Vec<u8>>; 2] = [None, None];
    while got.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(5));
        match rx.recv_timeout(left) {
            Ok((i, v)) => got[i as usize - 1] = Some(v),
            Err(_) => {
                kill_group();
                panic!("{what}: exited with {} but its output pipes stayed open", describe_status(status));
            }
        }
    }
    let [o, e] = got;
    let run =
        Run { what, status, stdout: o.unwrap_or_default(), stderr: e.unwrap_or_default(), elapsed: start.elapsed() };
    if preload == Preload::Yes {
        assert!(
            !run.stderr_str().contains(NOT_PRELOADED),
            "the dynamic loader did not preload {}: {}",
            hakmem_so().display(),
            run.report()
        );
    }
    run
}

/// Runs a compiled C test program under the preload with `args`; asserts
/// exit status 0 and that the last line of stdout is `OK`.
pub fn run_c_ok(name: &str, args: &[&str], timeout: Duration) -> Run {
    let bin = compile_c(name);
    let dir = fresh_dir(name);
    let mut cmd = Command::new(&bin);
    cmd.args(args).current_dir(&dir);
    let r = run(cmd, Preload::Yes, timeout);
    let _ = std::fs::remove_dir(&dir); // empty unless the program left files
    assert!(r.status.success(), "C test `{name} {}` failed: {}", args.join(" "), r.report());
    assert!(
        r.stdout_str().lines().last() == Some("OK"),
        "C test `{name} {}` did not finish with OK: {}",
        args.join(" "),
        r.report()
    );
    r
}

/// Both runs of a real program.
pub struct Comparison {
    /// The plain run and the directory it ran in.
    pub plain: (Run, PathBuf),
    /// The preloaded run and the directory it ran in.
    pub preload: (Run, PathBuf),
}

/// Runs a program twice — without, then with `LD_PRELOAD` — each in a fresh
/// directory prepared by `setup`, with the command built by `make_cmd(dir)`,
/// and asserts the same exit status and byte-identical stdout. The plain run
/// must also succeed (a failing reference run means the test itself is
/// broken on this machine, which is reported as such). The directories are
/// removed when the returned [`Comparison`] is dropped, unless the test is
/// failing.
pub fn compare_with_and_without_preload(
    name: &str,
    setup: impl Fn(&Path),
    make_cmd: impl Fn(&Path) -> Command,
    timeout: Duration,
) -> Comparison {
    let mut runs = Vec::new();
    for (label, preload) in [("plain", Preload::No), ("preload", Preload::Yes)] {
        let dir = fresh_dir(&format!("{name}-{label}"));
        setup(&dir);
        let mut cmd = make_cmd(&dir);
        cmd.current_dir(&dir);
        let r = run(cmd, preload, timeout);
        runs.push((r, dir));
    }
    let preload = runs.pop().unwrap();
    let plain = runs.pop().unwrap();
    assert!(
        plain.0.status.success(),
        "reference run without LD_PRELOAD failed (test environment problem, not hakmem): {}",
        plain.0.report()
    );
    assert_eq!(
        describe_status(preload.0.status),
        describe_status(plain.0.status),
        "{name}: exit status differs under LD_PRELOAD\nwith preload: {}\nwithout: {}",
        preload.0.report(),
        plain.0.report()
    );
    if preload.0.stdout != plain.0.stdout {
        panic!(
            "{name}: stdout differs under LD_PRELOAD ({} vs {} bytes)\n{}\nwith preload: {}\nwithout: {}",
            preload.0.stdout.len(),
            plain.0.stdout.len(),
            first_difference(&plain.0.stdout_str(), &preload.0.stdout_str()),
            preload.0.report(),
            plain.0.report()
        );
    }
    Comparison { plain, preload }
}

impl Drop for Comparison {
    /// Removes both run directories unless the test is failing (then they
    /// stay for inspection; their paths are in the failure report).
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.plain.1);
            let _ = std::fs::remove_dir_all(&self.preload.1);
        }
    }
}

/// Describes the first differing line of two texts.
pub fn first_difference(a: &str, b: &str) -> String {
    let (mut la, mut lb) = (a.lines(), b.lines());
    let mut n = 1;
    loop {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => n += 1,
            (x, y) => {
                return format!(
                    "first difference at line {n}:\n  without preload: {:?}\n  with preload:    {:?}",
                    x.unwrap_or("<end of output>"),
                    y.unwrap_or("<end of output>")
                )
            }
        }
    }
}

/// Writes `contents` to `dir/name`.
pub fn write_file(dir: &Path, name: &str, contents: impl AsRef<[u8]>) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("create parent dir");
    }
    std::fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

/// Environment that makes tool output independent of the machine's locale
/// and time zone; applied to both runs of a comparison.
pub fn deterministic_env(cmd: &mut Command) -> &mut Command {
    cmd.env("LC_ALL", "C").env("LANG", "C").env("TZ", "UTC")
}

/// `cmd` with RLIMIT_AS set to `kib` KiB in the child before `exec`.
pub fn limited(mut cmd: Command, kib: u64) -> Command {
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the
    // parent; the closure runs in the child between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let r = libc::rlimit { rlim_cur: kib << 10, rlim_max: kib << 10 };
            if libc::setrlimit(libc::RLIMIT_AS, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}
