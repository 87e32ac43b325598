//! Memory limits and pressure, read without allocating: the process's
//! memory cgroup (v2 `memory.max`, `memory.high`, `memory.current`,
//! `memory.pressure`; v1 `memory.limit_in_bytes`, `memory.usage_in_bytes`)
//! and the pressure stall information of the whole system
//! (`/proc/pressure/memory`).
//!
//! [`Source::discover`] finds the process's cgroup directory from
//! `/proc/self/cgroup` under `/sys/fs/cgroup` (the v1 `memory` controller's
//! line if there is one, else the unified `0::` line; when the path named
//! there does not exist, as in a container that sees its own cgroup at the
//! mount point, the mount point itself). [`Source::from_dir`] takes any
//! directory instead (`HAKMEM_CGROUP_DIR`: tests write fake files there).
//! [`Source::read`] reads the files into stack buffers (an `open`, a `read`
//! and a `close` each) and parses them by hand ([`parse_limit`],
//! [`parse_bytes`], [`parse_psi_some_avg10`], [`parse_cgroup_line`]).
//!
//! User: the router's pressure response, at most every 100 ms, from slow
//! paths only, one thread at a time.

use core::ffi::CStr;

use crate::process::read_file;

/// Longest directory path a [`Source`] holds (bytes, without the NUL).
pub const DIR_MAX: usize = 240;

/// Limits at or above this many bytes mean "no limit" (cgroup v1 writes
/// `PAGE_COUNTER_MAX` pages, 9223372036854771712 bytes on x86-64, for an
/// unlimited group).
pub const UNLIMITED: u64 = 1 << 60;

/// Where the system-wide pressure stall information is.
const PROC_PSI: &CStr = c"/proc/pressure/memory";

/// Where [`Source`] takes its pressure stall information from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Psi {
    /// Nowhere (no file, or a directory given by the user without one).
    None,
    /// The cgroup directory's `memory.pressure` (v2).
    Dir,
    /// `/proc/pressure/memory` (the whole system).
    Proc,
}

/// A memory cgroup directory (or none) and a pressure source: what
/// [`Source::read`] reads.
#[derive(Clone, Copy)]
pub struct Source {
    dir: [u8; DIR_MAX],
    len: usize,
    psi: Psi,
}

/// One reading of a [`Source`]. `None` is a file that is missing or
/// malformed; a limit of `max` (v2) or [`UNLIMITED`] and above (v1) is
/// `None` too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    /// The hard limit: `memory.max` (v2) or `memory.limit_in_bytes` (v1).
    pub max: Option<u64>,
    /// The throttling limit: `memory.high` (v2 only).
    pub high: Option<u64>,
    /// The group's usage: `memory.current` (v2) or `memory.usage_in_bytes`
    /// (v1); read only when a limit is set.
    pub current: Option<u64>,
    /// The share of the last ten seconds in which some task waited for
    /// memory (`some avg10=`), in hundredths of a percent.
    pub psi_some_avg10: Option<u32>,
}

impl Reading {
    /// The lower of the two limits, if any is set.
    pub fn limit(&self) -> Option<u64> {
        match (self.max, self.high) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Source {
    /// A source reading the cgroup files of directory `dir` (a path without
    /// the NUL; v2 names first, then v1's) and, for pressure, only that
    /// directory's `memory.pressure`: nothing system-wide, so that what a
    /// test writes there is all it reads. `None` when `dir` is empty or
    /// longer than [`DIR_MAX`].
    pub fn from_dir(dir: &[u8]) -> Option<Source> {
        let mut s = Source { dir: [0; DIR_MAX], len: 0, psi: Psi::Dir };
        s.set_dir(dir).then_some(s)
    }

    /// The calling process's memory cgroup (see the module doc) and the
    /// best pressure source: the cgroup's `memory.pressure` if it has one,
    /// else `/proc/pressure/memory` if it can be read. `None` when neither
    /// a cgroup directory with a limit file nor a pressure file is found.
    pub fn discover() -> Option<Source> {
        let mut s = Source { dir: [0; DIR_MAX], len: 0, psi: Psi::None };
        let mut buf = [0u8; 2048];
        let n = read_file(c"/proc/self/cgroup", &mut buf).unwrap_or(0);
        let text = buf.get(..n).unwrap_or(&[]);
        let (mut v1, mut v2) = (None, None);
        for line in text.split(|&b| b == b'\n') {
            match parse_cgroup_line(line) {
                Some(CgroupLine { v1_memory: true, path }) => v1 = Some(path),
                Some(CgroupLine { v1_memory: false, path }) => v2 = Some(path),
                None => {}
            }
        }
        let found = match (v1, v2) {
            (Some(p), _) => s.find_dir(b"/sys/fs/cgroup/memory", p, b"memory.limit_in_bytes"),
            (None, Some(p)) => s.find_dir(b"/sys/fs/cgroup", p, b"memory.max"),
            (None, None) => false,
        };
        if !found {
            s.len = 0;
        }
        let mut probe = [0u8; 8];
        if found && s.file_bytes(b"memory.pressure", &mut probe).is_some() {
            s.psi = Psi::Dir;
        } else if read_file(PROC_PSI, &mut probe).is_some() {
            s.psi = Psi::Proc;
        }
        (found || s.psi != Psi::None).then_some(s)
    }

    /// Sets the directory to `mount` + `path` if it has file `probe`, else
    /// to `mount` itself if that has it; says whether either did.
    fn find_dir(&mut self, mount: &[u8], path: &[u8], probe: &[u8]) -> bool {
        let mut joined = [0u8; DIR_MAX];
        let path = path.strip_suffix(b"/").unwrap_or(path);
        let len = mount.len() + path.len();
        if let Some(dst) = joined.get_mut(..len) {
            let (a, b) = dst.split_at_mut(mount.len());
            a.copy_from_slice(mount);
            b.copy_from_slice(path);
            let mut tmp = [0u8; 8];
            if self.set_dir(joined.get(..len).unwrap_or(&[])) && self.file_bytes(probe, &mut tmp).is_some() {
                return true;
            }
        }
        let mut tmp = [0u8; 8];
        self.set_dir(mount) && self.file_bytes(probe, &mut tmp).is_some()
    }

    fn set_dir(&mut self, dir: &[u8]) -> bool {
        let dir = dir.strip_suffix(b"/").unwrap_or(dir);
        match self.dir.get_mut(..dir.len()) {
            Some(dst) if !dir.is_empty() => {
                dst.copy_from_slice(dir);
                self.len = dir.len();
                true
            }
            _ => false,
        }
    }

    /// The cgroup directory, if any (without the NUL).
    pub fn dir(&self) -> Option<&[u8]> {
        self.dir.get(..self.len).filter(|d| !d.is_empty())
    }

    /// Where the pressure stall information comes from.
    pub fn psi(&self) -> Psi {
        self.psi
    }

    /// Reads `name` in the cgroup directory into `buf`; the bytes read, or
    /// `None` when there is no directory or the file cannot be opened.
    fn file_bytes<'b>(&self, name: &[u8], buf: &'b mut [u8]) -> Option<&'b [u8]> {
        let dir = self.dir()?;
        let mut path = [0u8; DIR_MAX + 32];
        let total = dir.len() + 1 + name.len();
        // Room for the NUL, which the zeroed buffer provides.
        let dst = path.get_mut(..total).filter(|_| total < DIR_MAX + 32)?;
        let (a, rest) = dst.split_at_mut(dir.len());
        a.copy_from_slice(dir);
        let (slash, b) = rest.split_at_mut(1);
        slash.copy_from_slice(b"/");
        b.copy_from_slice(name);
        let path = CStr::from_bytes_until_nul(&path).ok()?;
        let n = read_file(path, buf)?;
        buf.get(..n)
    }

    /// Reads the limits, the usage (when a limit is set) and the pressure.
    /// At most seven small files (v1 needs two more opens than v2: it is
    /// tried only when `memory.max` is missing).
    pub fn read(&self) -> Reading {
        let mut r = Reading::default();
        let mut buf = [0u8; 64];
        let v2 = match self.file_bytes(b"memory.max", &mut buf) {
            Some(t) => {
                r.max = parse_limit(t);
                r.high = self.file_bytes(b"memory.high", &mut buf).and_then(parse_limit);
                true
            }
            None => {
                r.max = self.file_bytes(b"memory.limit_in_bytes", &mut buf).and_then(parse_limit);
                false
            }
        };
        if r.limit().is_some() {
            let name: &[u8] = if v2 { b"memory.current" } else { b"memory.usage_in_bytes" };
            r.current = self.file_bytes(name, &mut buf).and_then(parse_bytes);
        }
        let mut psi = [0u8; 256];
        r.psi_some_avg10 = match self.psi {
            Psi::None => None,
            Psi::Dir => self.file_bytes(b"memory.pressure", &mut psi).and_then(parse_psi_some_avg10),
            Psi::Proc => read_file(PROC_PSI, &mut psi).and_then(|n| psi.get(..n)).and_then(parse_psi_some_avg10),
        };
        r
    }
}

/// Parses a byte count: ASCII digits, then optional whitespace (the
/// newline of a cgroup file); `None` on anything else or overflow.
pub fn parse_bytes(text: &[u8]) -> Option<u64> {
    let text = trim_end(text);
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u64, |n, &c| {
        let d = c.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// Parses a limit file (`memory.max`, `memory.high`,
/// `memory.limit_in_bytes`): a byte count, `None` for `max` (v2), for
/// [`UNLIMITED`] bytes and more (v1's unlimited) and for a malformed file.
pub fn parse_limit(text: &[u8]) -> Option<u64> {
    parse_bytes(text).filter(|&n| n < UNLIMITED)
}

/// Parses the `some avg10=` figure of a pressure file (`some avg10=1.25
/// avg60=… total=…` and a `full` line) into hundredths of a percent (125);
/// `None` when there is no `some` line or its `avg10=` is malformed.
pub fn parse_psi_some_avg10(text: &[u8]) -> Option<u32> {
    let line = text.split(|&b| b == b'\n').find(|l| l.starts_with(b"some "))?;
    let field = line.split(|&b| b == b' ').find_map(|f| f.strip_prefix(b"avg10="))?;
    let mut parts = field.splitn(2, |&b| b == b'.');
    let whole = parts.next().filter(|w| !w.is_empty() && w.len() <= 3)?;
    let mut n = 0u32;
    for &c in whole {
        n = n * 10 + u32::from(c.checked_sub(b'0').filter(|d| *d < 10)?);
    }
    let frac = parts.next().unwrap_or(b"");
    let mut hundredths = 0u32;
    for i in 0..2 {
        let d = match frac.get(i) {
            Some(&c) => u32::from(c.checked_sub(b'0').filter(|d| *d < 10)?),
            None => 0,
        };
        hundredths = hundredths * 10 + d;
    }
    if frac.iter().any(|c| !c.is_ascii_digit()) {
        return None;
    }
    Some(n * 100 + hundredths)
}

/// One line of `/proc/self/cgroup` that names a memory cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CgroupLine<'a> {
    /// The v1 `memory` controller's line (`4:memory:/path`), else the v2
    /// unified hierarchy's (`0::/path`).
    pub v1_memory: bool,
    /// The group's path below the hierarchy's mount point (starts with `/`).
    pub path: &'a [u8],
}

/// Parses one line of `/proc/self/cgroup` (`ID:CONTROLLERS:PATH`): the v1
/// line whose controllers include `memory`, or the v2 line (`0::PATH`);
/// `None` for any other line and malformed ones.
pub fn parse_cgroup_line(line: &[u8]) -> Option<CgroupLine<'_>> {
    let mut parts = line.splitn(3, |&b| b == b':');
    let id = parts.next()?;
    let controllers = parts.next()?;
    let path = parts.next().filter(|p| p.starts_with(b"/"))?;
    if id.is_empty() || !id.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if controllers.is_empty() {
        return (id == b"0").then_some(CgroupLine { v1_memory: false, path });
    }
    controllers.split(|&b| b == b',').any(|c| c == b"memory").then_some(CgroupLine { v1_memory: true, path })
}

fn trim_end(mut t: &[u8]) -> &[u8] {
    while let [rest @ .., last] = t {
        if last.is_ascii_whitespace() {
            t = rest;
        } else {
            break;
        }
    }
    t
}
