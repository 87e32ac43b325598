//! Builds the C workload programs of `benches/c/` into `target/bench-bin/`,
//! on demand: rebuilt when the binary is missing, a source is newer than it,
//! or the compiler command changed (recorded next to it in `<name>.cmd`).

use crate::util::{self, Result};
use std::path::PathBuf;
use std::process::Command;

/// A C program of `benches/c/`.
pub struct CProgram {
    /// Binary name in `target/bench-bin/`.
    pub name: &'static str,
    /// Sources, relative to the workspace root.
    pub sources: &'static [&'static str],
    /// Headers the sources include (not compiled, but a change rebuilds).
    pub headers: &'static [&'static str],
}

/// The header every workload includes.
const BENCH_H: &[&str] = &["benches/c/bench.h"];

macro_rules! workload_program {
    ($const:ident, $name:literal) => {
        #[doc = concat!("`benches/c/", $name, ".c`")]
        pub const $const: CProgram =
            CProgram { name: $name, sources: &[concat!("benches/c/", $name, ".c")], headers: BENCH_H };
    };
}

workload_program!(LARSON, "larson");
workload_program!(PRODCONS, "prodcons");
workload_program!(CHURN_FIXED, "churn-fixed");
workload_program!(CHURN_MIXED, "churn-mixed");
workload_program!(MID, "mid");
workload_program!(LARGE, "large");
workload_program!(REALLOC_GROW, "realloc-grow");
workload_program!(ALIGNED, "aligned");
workload_program!(CALLOC_LARGE, "calloc-large");
workload_program!(THREADS, "threads");
workload_program!(RETENTION, "retention");
workload_program!(BURST_IDLE, "burst-idle");
workload_program!(PHASES, "phases");
workload_program!(SITES, "sites");
workload_program!(TABLE, "table");
workload_program!(PAIRS, "pairs");
workload_program!(REMOTE, "remote");
workload_program!(HANDOFF, "handoff");
workload_program!(MIXED32, "mixed32");
workload_program!(MIDPHASES, "midphases");
workload_program!(RECLAIM, "reclaim");

/// Flags every workload is compiled with. Plain `malloc`/`free` calls, no
/// `-fno-builtin` games: the program must behave as an ordinary C program.
pub const CFLAGS: &[&str] = &["-O2", "-pthread"];

/// The C compiler: `$CC` or `cc`.
pub fn compiler() -> String {
    std::env::var("CC").ok().filter(|c| !c.trim().is_empty()).unwrap_or_else(|| "cc".into())
}

/// Build `prog` if needed; returns the absolute path of the binary.
pub fn build(prog: &CProgram) -> Result<PathBuf> {
    let root = util::root();
    let dir = util::target_dir().join("bench-bin");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let bin = dir.join(prog.name);
    let stamp = dir.join(format!("{}.cmd", prog.name));

    let cc = compiler();
    let tmp = dir.join(format!(".{}.tmp", prog.name));
    let mut cmd = Command::new(&cc);
    cmd.args(CFLAGS);
    for s in prog.sources {
        cmd.arg(root.join(s));
    }
    cmd.arg("-o").arg(&tmp).current_dir(&root);
    // The recorded command names the final binary, not the temporary file.
    let recorded = util::display_cmd(&cmd).replace(&*tmp.to_string_lossy(), &bin.to_string_lossy());

    if !needs_rebuild(prog, &bin, &stamp, &recorded)? {
        return Ok(bin);
    }
    util::run(&mut cmd).map_err(|e| format!("building the `{}` workload: {e}", prog.name))?;
    std::fs::rename(&tmp, &bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    std::fs::write(&stamp, format!("{recorded}\n")).map_err(|e| format!("{}: {e}", stamp.display()))?;
    Ok(bin)
}

/// The command line `prog` was (or would be) built with, for benchmark records.
pub fn build_command(prog: &CProgram) -> Option<String> {
    let stamp = util::target_dir().join("bench-bin").join(format!("{}.cmd", prog.name));
    std::fs::read_to_string(stamp).ok().map(|s| s.trim().to_string())
}

fn needs_rebuild(prog: &CProgram, bin: &std::path::Path, stamp: &std::path::Path, recorded: &str) -> Result<bool> {
    let Ok(bin_time) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return Ok(true);
    };
    match std::fs::read_to_string(stamp) {
        Ok(s) if s.trim() == recorded => {}
        _ => return Ok(true),
    }
    for s in prog.sources.iter().chain(prog.headers) {
        let path = util::root().join(s);
        let t = std::fs::metadata(&path).and_then(|m| m.modified()).map_err(|e| format!("{}: {e}", path.display()))?;
        if t > bin_time {
            return Ok(true);
        }
    }
    Ok(false)
}
