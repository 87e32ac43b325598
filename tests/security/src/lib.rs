//! The security test suite of issue 17: misuse cases run under glibc and
//! under hakmem (`LD_PRELOAD=$HAKMEM_SO`), each classified by what the
//! process did.
//!
//! Each case is one misuse performed by a small C program of `c/` (one file
//! per misuse family, the case chosen by `argv[1]`, the block size by
//! `argv[2]`; the protocol is described in `c/sec.h`). [`catalogue`] lists
//! every case and size; [`run_all`] compiles the programs once, runs every
//! case under every [`Config`] in parallel, each child under a timeout, and
//! classifies it ([`Outcome`]); [`markdown`] renders the results as the table
//! of `docs/security.md`. The tests in `tests/*.rs` compare the hakmem
//! column with the documented expectation of each case ([`Expect`]).
//!
//! Shared with `tests/preload` (package `hakmem-preload-tests`): the
//! `HAKMEM_SO` contract ([`hakmem_preload_tests::hakmem_so`]), the tool
//! lookup and the scratch directory under the target directory.

use hakmem_preload_tests::{compile_c_file, describe_status, scratch_root, set_preload, Preload};
use std::collections::BTreeMap;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Time limit of one case (a hang is a failure, never a stuck test run).
pub const CASE_TIMEOUT: Duration = Duration::from_secs(10);

/// Environment variable naming the Markdown file to write the table to.
pub const TABLE_ENV: &str = "HAKMEM_SECURITY_TABLE";

/// Block sizes of the sized cases: a tiny block, a page (pool L2), a
/// 256 KiB block (pool L2.5; glibc serves it with `mmap`), a 2 MiB block
/// (hakmem's big tier; glibc `mmap`).
pub const SIZES: [usize; 4] = [8, 4096, 256 << 10, 2 << 20];

/// One misuse family: a C program and its cases.
pub struct Family {
    /// The C program (`c/<program>.c`).
    pub program: &'static str,
    /// Heading in the table.
    pub title: &'static str,
    /// Cases: name (`argv[1]`), whether it runs at every size of [`SIZES`]
    /// (otherwise once, without a size), and what it does.
    pub cases: &'static [(&'static str, bool, &'static str)],
}

/// Every misuse family, in table order.
pub const FAMILIES: &[Family] = &[
    Family {
        program: "double_free",
        title: "double free",
        cases: &[
            ("immediate", true, "`free(p); free(p)`"),
            ("after_others", true, "`free(p)`, three other blocks of the size freed, `free(p)`"),
            (
                "after_reuse",
                true,
                "`free(p); q = malloc(size); free(p)`, `q` kept: when `q == p` the stale free releases the live `q`",
            ),
            ("other_thread", true, "thread A frees `p`, then thread B frees it again"),
            (
                "other_thread_cached",
                true,
                "the main thread frees `p` (its thread cache keeps it), then thread B frees it again; the main thread goes on",
            ),
        ],
    },
    Family {
        program: "invalid_free",
        title: "invalid free",
        cases: &[
            ("stack", false, "`free()` of a pointer into a zeroed stack array"),
            ("static", false, "`free()` of a pointer into a zeroed static array"),
            ("mmap", false, "`free()` of the second page of a zeroed 2-page `mmap` (another allocator's memory)"),
            ("interior", true, "`free(p + 16)`"),
            ("unaligned", true, "`free(p + 1)`"),
            ("realloc_moved", true, "`q = realloc(p, 4 * size)` moved the block, then `free(p)`"),
        ],
    },
    Family {
        program: "overflow",
        title: "heap overflow / underflow",
        cases: &[
            ("over1", true, "1 byte written past the requested size, then `free(p)`, `free(malloc(size))`"),
            ("over32", true, "32 bytes written past the requested size, then the same"),
            ("under1", true, "1 byte written before the block, then the same"),
            ("under32", true, "32 bytes written before the block, then the same"),
            (
                "linear",
                true,
                "bytes written one after another past the requested size up to the next 4 MiB boundary (the end \
                 of hakmem's slab segment; a big mapping ends before it, decision 0048), then the same",
            ),
        ],
    },
    Family {
        program: "uaf",
        title: "use after free",
        cases: &[(
            "write",
            true,
            "`free(p)`, then a pointer to a static array written over the block's first 64 bytes \
             (free-list poisoning); mallocs of the size follow",
        )],
    },
    Family {
        program: "huge",
        title: "huge sizes",
        cases: &[
            ("malloc_max", false, "`malloc(SIZE_MAX)`"),
            ("malloc_over_ptrdiff", false, "`malloc(PTRDIFF_MAX + 1)`"),
            ("calloc_overflow", false, "`calloc(SIZE_MAX / 2, 4)`"),
            ("realloc_max", false, "`realloc(p, SIZE_MAX)`"),
            ("reallocarray_overflow", false, "`reallocarray(p, SIZE_MAX / 2, 4)`"),
            ("aligned_alloc_huge", false, "`aligned_alloc(64, SIZE_MAX - 10)`"),
            ("memalign_huge", false, "`memalign(4096, SIZE_MAX - 10)`"),
            ("posix_memalign_huge", false, "`posix_memalign(&p, 64, SIZE_MAX - 10)` (returns the error)"),
            ("posix_memalign_align", false, "`posix_memalign(&p, 24, 64)`: alignment not a power of two"),
        ],
    },
];

/// One case at one size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Case {
    /// The C program (family).
    pub program: &'static str,
    /// The case (`argv[1]`).
    pub name: &'static str,
    /// The block size (`argv[2]`), for sized cases.
    pub size: Option<usize>,
}

impl Case {
    /// `program/name@size`, e.g. `double_free/immediate@4096`.
    pub fn id(&self) -> String {
        match self.size {
            Some(s) => format!("{}/{}@{s}", self.program, self.name),
            None => format!("{}/{}", self.program, self.name),
        }
    }
}

/// Every case at every size, in table order.
pub fn catalogue() -> Vec<Case> {
    let mut v = Vec::new();
    for f in FAMILIES {
        for &(name, sized, _) in f.cases {
            if sized {
                v.extend(SIZES.iter().map(|&s| Case { program: f.program, name, size: Some(s) }));
            } else {
                v.push(Case { program: f.program, name, size: None });
            }
        }
    }
    v
}

/// "8 B", "4 KiB", "256 KiB", "2 MiB".
pub fn fmt_size(s: usize) -> String {
    if s >= 1 << 20 && s.is_multiple_of(1 << 20) {
        format!("{} MiB", s >> 20)
    } else if s >= 1 << 10 && s.is_multiple_of(1 << 10) {
        format!("{} KiB", s >> 10)
    } else {
        format!("{s} B")
    }
}

/// An allocator configuration: a column of the table.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Column heading.
    pub name: &'static str,
    /// Whether hakmem is preloaded.
    pub preload: Preload,
    /// Extra environment of the child.
    pub env: &'static [(&'static str, &'static str)],
}

/// The system allocator (no preload).
pub const GLIBC: Config = Config { name: "glibc", preload: Preload::No, env: &[] };
/// hakmem in its default configuration.
pub const HAKMEM: Config = Config { name: "hakmem", preload: Preload::Yes, env: &[] };
/// hakmem in secure mode (`HAKMEM_SECURE=1`).
pub const HAKMEM_SECURE: Config =
    Config { name: "hakmem secure", preload: Preload::Yes, env: &[("HAKMEM_SECURE", "1")] };

/// When a case ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// At the program's own bad access (overflow / use-after-free write):
    /// the memory next to the block is not mapped. Not the allocator.
    Access,
    /// In the misused call or the follow-up calls of the case.
    Call,
    /// Later: in the allocations and frees that follow the misuse (the
    /// aftermath, `c/sec.h`), or the program ran to its end.
    Later,
}

/// What the process did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Aborted (SIGABRT) with this first line of stderr, addresses replaced
    /// by `0x…` (empty: no message).
    Caught(String),
    /// Killed by this other signal.
    Crashed(i32),
    /// Ran to the end.
    Survived,
    /// Huge sizes: NULL (or the returned error) with this errno name.
    ErrorReturned(String),
    /// Huge sizes: the call returned a block.
    Allocated,
    /// The case could not be performed (realloc did not move the block).
    NotApplicable(String),
    /// Killed after [`CASE_TIMEOUT`].
    Hung,
}

/// What a case did: the kind, when, and what the aftermath saw on the way
/// (`duplicate`: a block handed out while it was live; `forged`: a block at
/// the address a use-after-free write planted; `null`: an allocation of the
/// aftermath failed; `old block changed`: a failed realloc damaged the block).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// What the process did.
    pub kind: Kind,
    /// When.
    pub phase: Phase,
    /// What the aftermath saw.
    pub notes: Vec<&'static str>,
}

/// Name of a signal.
pub fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGILL => "SIGILL".into(),
        libc::SIGFPE => "SIGFPE".into(),
        libc::SIGTRAP => "SIGTRAP".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGABRT => "SIGABRT".into(),
        s => format!("signal {s}"),
    }
}

impl Outcome {
    /// The class of the outcome: `caught`, `crashed`, `survived`,
    /// `error-returned`, `allocated`, `n/a`, `hung`.
    pub fn class(&self) -> &'static str {
        match self.kind {
            Kind::Caught(_) => "caught",
            Kind::Crashed(_) => "crashed",
            Kind::Survived => "survived",
            Kind::ErrorReturned(_) => "error-returned",
            Kind::Allocated => "allocated",
            Kind::NotApplicable(_) => "n/a",
            Kind::Hung => "hung",
        }
    }

    /// Whether the misuse was reported: an abort with a message, or the
    /// error a huge request must get (with nothing else wrong).
    pub fn is_caught(&self) -> bool {
        match &self.kind {
            Kind::Caught(_) => true,
            Kind::ErrorReturned(_) => self.notes.is_empty(),
            _ => false,
        }
    }

    /// One table cell, e.g. "**caught**: `msg`", "crashed later: SIGSEGV
    /// (duplicate)".
    pub fn cell(&self) -> String {
        let when = match self.phase {
            Phase::Access => " at the access",
            Phase::Call => "",
            Phase::Later => " later",
        };
        let mut c = match &self.kind {
            Kind::Caught(msg) if msg.is_empty() => format!("**caught{when}**: no message"),
            Kind::Caught(msg) => format!("**caught{when}**: `{msg}`"),
            Kind::Crashed(sig) => format!("crashed{when}: {}", signal_name(*sig)),
            Kind::Survived => "survived".into(),
            Kind::ErrorReturned(e) => format!("**error-returned**: {e}"),
            Kind::Allocated => "allocated a block".into(),
            Kind::NotApplicable(why) => format!("n/a: {why}"),
            Kind::Hung => "hung".into(),
        };
        if !self.notes.is_empty() {
            c.push_str(&format!(" ({})", self.notes.join(", ")));
        }
        c
    }
}

/// What an [`Expect`] requires of the kind.
#[derive(Clone, Copy, Debug)]
pub enum ExpectKind {
    /// An abort whose first stderr line starts with this.
    Caught(&'static str),
    /// Killed by this signal.
    Crashed(i32),
    /// Ran to the end.
    Survived,
    /// Huge sizes: NULL / the error with this errno name.
    Error(&'static str),
}

/// The documented outcome of a case (what hakmem does today): kind, phase
/// and the exact aftermath notes.
#[derive(Clone, Copy, Debug)]
pub struct Expect {
    /// The kind.
    pub kind: ExpectKind,
    /// The phase.
    pub phase: Phase,
    /// The aftermath notes, exactly.
    pub notes: &'static [&'static str],
}

impl Expect {
    /// Aborts in the misused call, with a message starting with `prefix`.
    pub const fn caught(prefix: &'static str) -> Self {
        Expect { kind: ExpectKind::Caught(prefix), phase: Phase::Call, notes: &[] }
    }
    /// Aborts later, with a message starting with `prefix`.
    pub const fn caught_later(prefix: &'static str) -> Self {
        Expect { kind: ExpectKind::Caught(prefix), phase: Phase::Later, notes: &[] }
    }
    /// Aborts at the program's own bad access (a fault hakmem reports),
    /// with a message starting with `prefix`.
    pub const fn caught_at_access(prefix: &'static str) -> Self {
        Expect { kind: ExpectKind::Caught(prefix), phase: Phase::Access, notes: &[] }
    }
    /// Killed by `signal` in the misused call.
    pub const fn crashed(signal: i32) -> Self {
        Expect { kind: ExpectKind::Crashed(signal), phase: Phase::Call, notes: &[] }
    }
    /// Killed by `signal` later.
    pub const fn crashed_later(signal: i32) -> Self {
        Expect { kind: ExpectKind::Crashed(signal), phase: Phase::Later, notes: &[] }
    }
    /// Killed by `signal` at the program's own bad access.
    pub const fn crashed_at_access(signal: i32) -> Self {
        Expect { kind: ExpectKind::Crashed(signal), phase: Phase::Access, notes: &[] }
    }
    /// Runs to the end.
    pub const fn survived() -> Self {
        Expect { kind: ExpectKind::Survived, phase: Phase::Later, notes: &[] }
    }
    /// Huge sizes: NULL with `errno` (or the returned error).
    pub const fn error(errno: &'static str) -> Self {
        Expect { kind: ExpectKind::Error(errno), phase: Phase::Later, notes: &[] }
    }
    /// The same, with these aftermath notes.
    pub const fn with(self, notes: &'static [&'static str]) -> Self {
        Expect { notes, ..self }
    }

    /// Whether `o` is what is documented.
    pub fn matches(&self, o: &Outcome) -> bool {
        let kind = match (self.kind, &o.kind) {
            (ExpectKind::Caught(p), Kind::Caught(msg)) => msg.starts_with(p),
            (ExpectKind::Crashed(s), Kind::Crashed(signal)) => s == *signal,
            (ExpectKind::Survived, Kind::Survived) => true,
            (ExpectKind::Error(e), Kind::ErrorReturned(errno)) => e == errno,
            _ => false,
        };
        kind && self.phase == o.phase && self.notes == o.notes.as_slice()
    }

    /// Whether the documented outcome is a report (abort or the right error).
    pub fn is_caught(&self) -> bool {
        match self.kind {
            ExpectKind::Caught(_) => true,
            ExpectKind::Error(_) => self.notes.is_empty(),
            _ => false,
        }
    }
}

/// Directory of the C sources.
pub fn c_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("c")
}

/// `<target dir>/hakmem-security-tests`, created on first use.
pub fn work_dir() -> PathBuf {
    let root = scratch_root(); // <target>/hakmem-preload-tests
    let dir = root.parent().unwrap_or(&root).join("hakmem-security-tests");
    std::fs::create_dir_all(&dir).expect("create the security scratch directory");
    dir
}

/// Compiles `c/<program>.c` (with `c/sec.h`) into `work_dir()/bin`; the
/// result is written under a unique name and renamed into place, so
/// concurrent test binaries never see a half-written file. Warnings are
/// errors: a program that does not say exactly what it means is a test bug.
pub fn compile(program: &str) -> PathBuf {
    // -O1 -fno-builtin: every misuse is a real call through a volatile
    // pointer; the warnings about them are the point of the programs.
    compile_c_file(
        &c_dir().join(format!("{program}.c")),
        &work_dir().join("bin"),
        &["-O1", "-fno-builtin", "-Werror", "-Wno-free-nonheap-object", "-Wno-use-after-free"],
    )
}

/// Replaces every `0x<hex>` by `0x…` (addresses differ from run to run).
pub fn normalise(line: &str) -> String {
    let mut out = String::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'0' && b.get(i + 1) == Some(&b'x') && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit) {
            out.push_str("0x…");
            i += 2;
            while b.get(i).is_some_and(u8::is_ascii_hexdigit) {
                i += 1;
            }
        } else {
            let ch = line[i..].chars().next().unwrap_or('?');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// One run of one case.
#[derive(Debug)]
pub struct CaseRun {
    /// The classification.
    pub outcome: Outcome,
    /// Command line, status and output, for failure messages.
    pub report: String,
}

/// Runs one case under `config` and classifies it. Panics when the program
/// itself failed (exit 2 `SETUP …`, an unknown exit status, or the wrong
/// allocator answered): that is a bug of the suite, not a finding.
pub fn run_case(bin: &Path, case: &Case, config: &Config) -> CaseRun {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let out_dir = work_dir().join("runs");
    std::fs::create_dir_all(&out_dir).expect("create runs dir");
    let stem = out_dir.join(format!("{}-{n}", std::process::id()));
    let (out_path, err_path) = (stem.with_extension("out"), stem.with_extension("err"));
    let mut cmd = Command::new(bin);
    cmd.arg(case.name);
    if let Some(s) = case.size {
        cmd.arg(s.to_string());
    }
    // A deterministic allocator environment: no inherited tuning.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("HAKMEM_") || k.starts_with("MALLOC_") || k == "GLIBC_TUNABLES" {
            cmd.env_remove(k);
        }
    }
    set_preload(&mut cmd, config.preload);
    for (k, v) in config.env {
        cmd.env(k, v);
    }
    cmd.current_dir(&out_dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("create stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("create stderr file"))
        .process_group(0);
    // SAFETY: setrlimit is async-signal-safe; the closure touches no memory
    // shared with the parent. Aborting programs must not leave core files.
    unsafe {
        cmd.pre_exec(|| {
            let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &zero);
            Ok(())
        });
    }
    let what = format!("{} [{}]", case.id(), config.name);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let deadline = Instant::now() + CASE_TIMEOUT;
    let status: Option<ExitStatus> = loop {
        match child.try_wait().expect("try_wait") {
            Some(s) => break Some(s),
            None if Instant::now() >= deadline => {
                // SAFETY: kill(2) of the process group this child leads
                // (process_group(0)); no memory involved.
                unsafe {
                    libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
                }
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    let stdout = String::from_utf8_lossy(&std::fs::read(&out_path).unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&std::fs::read(&err_path).unwrap_or_default()).into_owned();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    let report = format!(
        "{what}: {:?}\n  status: {}\n  --- stdout ---\n{}  --- stderr ---\n{}",
        cmd,
        status.map(describe_status).unwrap_or_else(|| format!("killed after {CASE_TIMEOUT:?}")),
        stdout,
        stderr
    );
    let has = |prefix: &str| stdout.lines().any(|l| l.starts_with(prefix));
    let mut notes = Vec::new();
    for (prefix, note) in [
        ("DUPLICATE", "duplicate"),
        ("FORGED", "forged"),
        ("AFTERMATH NULL", "null"),
        ("OLD BLOCK CHANGED", "old block changed"),
    ] {
        if has(prefix) {
            notes.push(note);
        }
    }
    let Some(status) = status else {
        return CaseRun { outcome: Outcome { kind: Kind::Hung, phase: Phase::Later, notes }, report };
    };
    assert!(!stderr.contains("cannot be preloaded"), "the dynamic loader did not preload hakmem: {report}");
    let expected = if config.preload == Preload::Yes { "ALLOCATOR hakmem" } else { "ALLOCATOR other" };
    assert_eq!(stdout.lines().next(), Some(expected), "wrong allocator answered: {report}");
    // Programs without a bad access of their own have no ACCESS DONE line.
    let bad_access = matches!(case.program, "overflow" | "uaf");
    let phase = if has("MISUSE DONE") {
        Phase::Later
    } else if bad_access && !has("ACCESS DONE") {
        Phase::Access
    } else {
        Phase::Call
    };
    let kind = match (status.code(), status.signal()) {
        (_, Some(libc::SIGABRT)) => {
            Kind::Caught(stderr.lines().find(|l| !l.trim().is_empty()).map(normalise).unwrap_or_default())
        }
        (_, Some(signal)) => Kind::Crashed(signal),
        (Some(0), _) if has("SURVIVED") => match stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) {
            Some("BLOCK") => Kind::Allocated,
            Some(r) => Kind::ErrorReturned(r.trim_start_matches("NULL ").to_string()),
            None => Kind::Survived,
        },
        (Some(3), _) if has("NOT APPLICABLE") => {
            Kind::NotApplicable(stdout.lines().find_map(|l| l.strip_prefix("NOT APPLICABLE ")).unwrap_or("").into())
        }
        _ => panic!("the test program failed (a bug of the suite, not a finding): {report}"),
    };
    let outcome = Outcome { kind, phase, notes };
    CaseRun { outcome, report }
}

/// Results of a whole run: for each case, one run per config (same order).
pub type Results = BTreeMap<Case, Vec<CaseRun>>;

/// Compiles every program once and runs every case of `cases` under every
/// config, `jobs` children at a time.
pub fn run_all(cases: &[Case], configs: &[Config], jobs: usize) -> Results {
    let mut bins = BTreeMap::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = FAMILIES.iter().map(|f| (f.program, s.spawn(|| compile(f.program)))).collect();
        for (p, h) in handles {
            bins.insert(p, h.join().expect("compile thread"));
        }
    });
    let work: Vec<(usize, usize)> = (0..cases.len()).flat_map(|c| (0..configs.len()).map(move |k| (c, k))).collect();
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Option<CaseRun>>> = Mutex::new((0..work.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(c, k)) = work.get(i) else { break };
                let case = &cases[c];
                let r = run_case(&bins[case.program], case, &configs[k]);
                done.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter();
    let mut results = Results::new();
    for case in cases {
        let runs = (0..configs.len()).map(|_| done.next().flatten().expect("every case ran")).collect();
        results.insert(*case, runs);
    }
    results
}

/// The glibc version (`gnu_get_libc_version`).
pub fn glibc_version() -> String {
    // SAFETY: gnu_get_libc_version returns a pointer to a static,
    // NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) }.to_string_lossy().into_owned()
}

/// Renders the results as Markdown: the gaps (cases a reference column
/// catches that the last column does not), then one table per family
/// (case × size × config), then the counts per config.
pub fn markdown(cases: &[Case], configs: &[Config], results: &Results) -> String {
    let mut md = String::new();
    let last = configs.len() - 1;
    md.push_str(&format!(
        "Generated by `HAKMEM_SECURITY_TABLE=<file> cargo test --release -p hakmem-security-tests` \
         (glibc {}, the default configuration of each allocator).\n\n",
        glibc_version()
    ));
    // One list of gaps per column after the reference (the first).
    for k in 1..=last {
        md.push_str(&format!("### Gaps: caught by {} but not by {}\n\n", configs[0].name, configs[k].name));
        let mut gaps = 0;
        for case in cases {
            let runs = &results[case];
            if !runs[k].outcome.is_caught() && runs[0].outcome.is_caught() {
                gaps += 1;
                md.push_str(&format!("- `{}`: {}", case.id(), configs[k].name));
                md.push_str(&format!(" {}; ", runs[k].outcome.cell()));
                md.push_str(&format!("{} {}", configs[0].name, runs[0].outcome.cell()));
                md.push('\n');
            }
        }
        if gaps == 0 {
            md.push_str("None.\n");
        }
        md.push('\n');
    }
    for f in FAMILIES {
        md.push_str(&format!("\n### {}\n\n", f.title));
        for &(name, sized, what) in f.cases {
            let at = if sized { " (at each size)" } else { "" };
            md.push_str(&format!("- `{name}`{at}: {what}\n"));
        }
        md.push_str(&format!(
            "\n| case | size | {} |\n|---|---|",
            configs.iter().map(|c| c.name).collect::<Vec<_>>().join(" | ")
        ));
        md.push_str(&"---|".repeat(configs.len()));
        md.push('\n');
        for case in cases.iter().filter(|c| c.program == f.program) {
            let runs = &results[case];
            let size = case.size.map(fmt_size).unwrap_or_else(|| "—".into());
            md.push_str(&format!("| `{}` | {size} |", case.name));
            for r in runs {
                md.push_str(&format!(" {} |", r.outcome.cell()));
            }
            md.push('\n');
        }
    }
    md.push_str("\n### Counts\n\n| | ");
    let classes = ["caught", "error-returned", "crashed", "survived", "allocated", "hung", "n/a"];
    md.push_str(&classes.join(" | "));
    md.push_str(" |\n|---|");
    md.push_str(&"---:|".repeat(classes.len()));
    md.push('\n');
    for (k, c) in configs.iter().enumerate() {
        md.push_str(&format!("| {} |", c.name));
        for class in classes {
            let n = cases.iter().filter(|case| results[case][k].outcome.class() == class).count();
            md.push_str(&format!(" {n} |"));
        }
        md.push('\n');
    }
    md
}

/// Markers around the generated part of `docs/security.md`.
pub const BEGIN_MARKER: &str = "<!-- BEGIN GENERATED: cargo test -p hakmem-security-tests -->";
/// See [`BEGIN_MARKER`].
pub const END_MARKER: &str = "<!-- END GENERATED -->";

/// Writes `table` to `path`: between the markers when the file exists and
/// has them (the rest of the document is kept), otherwise the whole file.
/// A relative `path` is taken from the workspace root.
pub fn write_table(path: &Path, table: &str) -> PathBuf {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
    };
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let new = match (old.find(BEGIN_MARKER), old.find(END_MARKER)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{BEGIN_MARKER}\n\n{table}\n{}", &old[..b], &old[e..])
        }
        _ => table.to_string(),
    };
    std::fs::write(&path, new).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}
