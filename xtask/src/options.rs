//! The command line of `cargo xtask bench`: [`parse_options`] checks every
//! option before anything is built or run (`--extra NAME=PATH` included;
//! whether PATH loads is the probe's business, in `bench`).

use crate::peers;
use crate::util::{runs_value, save_name, seconds_value, split_flag, Result};
use crate::workloads;
use std::path::PathBuf;
use std::process::Command;

/// Parsed command line of `bench`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Workloads named on the command line (empty: all).
    pub workloads: Vec<String>,
    pub instructions: bool,
    pub criterion: bool,
    /// Arguments after `--` (for criterion).
    pub passthrough: Vec<String>,
    pub runs: usize,
    pub threads: Vec<usize>,
    pub allocs: Vec<String>,
    pub seconds: f64,
    pub json: Option<PathBuf>,
    pub save: Option<String>,
    pub quick: bool,
    /// `--cpus LIST`: every workload run pinned to these CPUs with
    /// `taskset -c LIST` (same for every allocator); `None`: the kernel
    /// places the threads.
    pub cpus: Option<String>,
    /// `--extra NAME=PATH` (repeatable): more allocators, run like peers.
    pub extras: Vec<Extra>,
}

/// An allocator given on the command line as a preload library, e.g. a
/// second build of hakmem: `--extra hakmem-base=../base/target/release/libhakmem.so`.
#[derive(Debug, Clone, PartialEq)]
pub struct Extra {
    /// A name no known allocator has (`[A-Za-z0-9._-]`).
    pub name: String,
    /// The library, as given.
    pub path: PathBuf,
}

/// Parses the value of `--extra`: `NAME=PATH`, NAME new (not a known
/// allocator nor an earlier extra).
pub fn parse_extra(v: &str, earlier: &[Extra]) -> Result<Extra> {
    let (name, path) = v
        .split_once('=')
        .filter(|(n, p)| !n.is_empty() && !p.is_empty())
        .ok_or(format!("--extra: expected NAME=PATH (a preload library), got `{v}`"))?;
    let ok = !name.starts_with(['.', '-']) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !ok {
        return Err(format!("--extra: expected a name like hakmem-base ([A-Za-z0-9._-]), got `{name}`"));
    }
    if peers::ALL.contains(&name) {
        return Err(format!(
            "--extra: `{name}` is a known allocator (choose another name; known: {})",
            peers::ALL.join(",")
        ));
    }
    if earlier.iter().any(|e| e.name == name) {
        return Err(format!("--extra: `{name}` given twice"));
    }
    Ok(Extra { name: name.to_string(), path: PathBuf::from(path) })
}

impl Options {
    /// The workloads to run, in catalogue order.
    pub fn selected_workloads(&self) -> Vec<&'static str> {
        let all = self.workloads.is_empty() && !self.instructions;
        workloads::names().into_iter().filter(|n| all || self.workloads.iter().any(|w| w == n)).collect()
    }

    /// Whether instruction counts are measured: asked for, or everything.
    pub fn run_instructions(&self) -> bool {
        self.instructions || self.workloads.is_empty()
    }
}

/// Parses `bench`'s arguments (defaults: 5 runs of 2 s, `--quick` 1 of 0.25 s).
pub fn parse_options(args: &[String]) -> Result<Options> {
    let mut o = Options {
        workloads: Vec::new(),
        instructions: false,
        criterion: false,
        passthrough: Vec::new(),
        runs: 0,
        threads: vec![1, 4],
        allocs: peers::ALL.iter().map(|s| s.to_string()).collect(),
        seconds: 0.0,
        json: None,
        save: None,
        quick: false,
        cpus: None,
        extras: Vec::new(),
    };
    let (mut runs, mut seconds) = (None, None);
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--" {
            o.passthrough = args[i + 1..].to_vec();
            break;
        }
        let (flag, inline) = split_flag(&args[i]);
        let mut value = || -> Result<String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            i += 1;
            args.get(i).cloned().ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--runs" => runs = Some(runs_value(&value()?)?),
            "--threads" => {
                let v = value()?;
                o.threads = v
                    .split(',')
                    .map(|t| t.trim().parse::<usize>().ok().filter(|&n| (1..=1024).contains(&n)))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(format!("--threads: expected a list like 1,4, got `{v}`"))?;
            }
            "--alloc" | "--allocs" => {
                let v = value()?;
                let mut list = Vec::new();
                for a in v.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                    if !peers::ALL.contains(&a) {
                        return Err(format!("--alloc: unknown allocator `{a}`; known: {}", peers::ALL.join(",")));
                    }
                    list.push(a.to_string());
                }
                if list.is_empty() {
                    return Err("--alloc: empty list".into());
                }
                o.allocs = list;
            }
            "--seconds" => seconds = Some(seconds_value(&value()?)?),
            "--json" => o.json = Some(PathBuf::from(value()?)),
            "--save" => o.save = Some(save_name(&value()?, "first-race")?),
            "--quick" => o.quick = true,
            "--cpus" => o.cpus = Some(parse_cpu_list(&value()?)?),
            "--extra" => {
                let e = parse_extra(&value()?, &o.extras)?;
                o.extras.push(e);
            }
            "--instructions" => o.instructions = true,
            "--criterion" => o.criterion = true,
            f if f.starts_with('-') => return Err(format!("unknown option `{f}` (see `cargo xtask help`)")),
            name => {
                if name == "instructions" {
                    o.instructions = true;
                } else if name == "all" {
                    o.workloads.extend(workloads::names().iter().map(|s| s.to_string()));
                } else if workloads::find(name).is_some() {
                    o.workloads.push(name.to_string());
                } else {
                    return Err(format!(
                        "unknown workload `{name}`; available: {} (and `instructions`)",
                        workloads::names().join(", ")
                    ));
                }
            }
        }
        i += 1;
    }
    o.runs = runs.unwrap_or(if o.quick { 1 } else { 5 });
    o.seconds = seconds.unwrap_or(if o.quick { 0.25 } else { 2.0 });
    Ok(o)
}

/// Checks a `--cpus` list as `taskset -c` takes it (`0`, `0,1`, `0-1`).
pub fn parse_cpu_list(v: &str) -> Result<String> {
    cpu_numbers(v)?;
    Ok(v.to_string())
}

/// The CPUs a `--cpus` list names, in order.
pub fn cpu_numbers(v: &str) -> Result<Vec<usize>> {
    let bad = || format!("--cpus: expected a CPU list like 0 or 0,1 or 0-1, got `{v}`");
    let mut cpus = Vec::new();
    for part in v.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
        if !digits(a) || !digits(b) {
            return Err(bad());
        }
        let (a, b) = (a.parse::<usize>().map_err(|_| bad())?, b.parse::<usize>().map_err(|_| bad())?);
        if a > b || b >= 1024 {
            return Err(bad());
        }
        cpus.extend(a..=b);
    }
    Ok(cpus)
}

/// Refuses a `--cpus` list naming a CPU this process may not run on (a
/// pinned run would silently use fewer CPUs than its record says), and
/// checks that `taskset` is there.
pub fn check_cpus(list: &str) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity
    // writes at most its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is this thread; `set` is a live cpu_set_t.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r == 0 {
        for cpu in cpu_numbers(list)? {
            // SAFETY: `set` was filled by sched_getaffinity; cpu < 1024 = CPU_SETSIZE.
            if !unsafe { libc::CPU_ISSET(cpu, &set) } {
                return Err(format!(
                    "--cpus {list}: CPU {cpu} is not one this process may run on (see `taskset -p $$`)"
                ));
            }
        }
    }
    let out = Command::new("taskset")
        .args(["-c", list, "true"])
        .output()
        .map_err(|_| "--cpus needs `taskset` (Debian: apt-get install -y util-linux)".to_string())?;
    if !out.status.success() {
        return Err(format!(
            "--cpus {list}: `taskset -c {list} true` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options() {
        let o = parse_options(&[]).unwrap();
        assert_eq!((o.runs, o.threads.clone(), o.seconds), (5, vec![1, 4], 2.0));
        assert_eq!(o.selected_workloads().len(), workloads::names().len());
        assert!(o.run_instructions());
        assert_eq!(o.allocs.len(), peers::ALL.len());

        let o = parse_options(&args("larson --runs 3 --threads=1,2,4 --seconds 0.5")).unwrap();
        assert_eq!((o.runs, o.threads.clone(), o.seconds), (3, vec![1, 2, 4], 0.5));
        assert_eq!(o.selected_workloads(), ["larson"]);
        assert!(!o.run_instructions());

        let o = parse_options(&args("--instructions")).unwrap();
        assert!(o.selected_workloads().is_empty() && o.run_instructions());
        let o = parse_options(&args("mid larson instructions --quick")).unwrap();
        assert_eq!(o.selected_workloads(), ["larson", "mid"]);
        assert!(o.run_instructions());
        assert_eq!((o.runs, o.seconds), (1, 0.25));

        let o = parse_options(&args("--alloc hakmem,jemalloc --json /tmp/x.json --save first-race")).unwrap();
        assert_eq!(o.allocs, ["hakmem", "jemalloc"]);
        assert_eq!(o.save.as_deref(), Some("first-race"));
        assert_eq!(o.cpus, None);
        let o = parse_options(&args("prodcons --cpus 0")).unwrap();
        assert_eq!(o.cpus.as_deref(), Some("0"));
        let o = parse_options(&args("--cpus=0-1,3")).unwrap();
        assert_eq!(o.cpus.as_deref(), Some("0-1,3"));
        let o = parse_options(&args("--criterion -- pair/hakmem")).unwrap();
        assert!(o.criterion);
        assert_eq!(o.passthrough, ["pair/hakmem"]);

        for bad in [
            "--runs 0",
            "--bogus",
            "nosuchworkload",
            "--alloc dlmalloc",
            "--save ../x",
            "--threads 0",
            "--seconds -1",
            "--cpus x",
            "--cpus 1-0",
            "--cpus 0,,1",
            "--cpus",
            "--cpus +1",
            "--cpus 0-",
        ] {
            assert!(parse_options(&args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn cpu_lists_expand_like_taskset() {
        assert_eq!(cpu_numbers("0").unwrap(), [0]);
        assert_eq!(cpu_numbers("0-2,5").unwrap(), [0, 1, 2, 5]);
        assert!(cpu_numbers("1024").is_err());
        // CPU 0 may be outside a restricted affinity mask; a CPU far beyond
        // any machine's never is inside.
        assert!(check_cpus("1023").is_err());
    }

    #[test]
    fn extra_allocators() {
        let o = parse_options(&args("larson --extra hakmem-base=/x/base/libhakmem.so --extra=b.2=rel/lib.so")).unwrap();
        assert_eq!(
            o.extras,
            [
                Extra { name: "hakmem-base".into(), path: "/x/base/libhakmem.so".into() },
                Extra { name: "b.2".into(), path: "rel/lib.so".into() },
            ]
        );
        // The first `=` separates NAME from PATH.
        assert_eq!(parse_extra("x=/a=b.so", &[]).unwrap().path, std::path::Path::new("/a=b.so"));
        assert!(parse_options(&[]).unwrap().extras.is_empty());
        for bad in [
            "--extra",
            "--extra hakmem-base",
            "--extra =/x.so",
            "--extra x=",
            "--extra hakmem=/x.so",
            "--extra system=/x.so",
            "--extra mimalloc-latest=/x.so",
            "--extra ../x=/x.so",
            "--extra a/b=/x.so",
            "--extra -x=/x.so",
            "--extra a=/x.so --extra a=/y.so",
        ] {
            assert!(parse_options(&args(bad)).is_err(), "{bad}");
        }
    }
}
