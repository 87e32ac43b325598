//! `build-preload` and `preload`: the LD_PRELOAD library.

use crate::util::{self, Result};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Name of the shared library `hakmem-cdylib` produces.
pub const SO_NAME: &str = "libhakmem.so";

/// `cargo build --release -p hakmem-cdylib`; returns the absolute path of
/// `libhakmem.so`. Cargo's output (stdout included) goes to our stderr so
/// that stdout carries only what the caller prints.
pub fn build_preload() -> Result<PathBuf> {
    let mut cmd = util::cargo();
    cmd.args(["build", "--release", "-p", "hakmem-cdylib"]);
    cmd.stdout(Stdio::from(std::io::stderr()));
    util::run(&mut cmd)?;
    let so = util::target_dir().join("release").join(SO_NAME);
    if !so.is_file() {
        return Err(format!(
            "cargo built hakmem-cdylib but {} does not exist (is its crate-type `cdylib` with lib name `hakmem`?)",
            so.display()
        ));
    }
    so.canonicalize().map_err(|e| format!("{}: {e}", so.display()))
}

/// `LD_PRELOAD` value putting `so` first and keeping an existing preload list.
pub fn ld_preload_value(so: &std::path::Path, existing: Option<&str>) -> String {
    let ours = so.to_string_lossy().into_owned();
    match existing.map(str::trim) {
        Some(rest) if !rest.is_empty() => format!("{ours}:{rest}"),
        _ => ours,
    }
}

pub fn build_preload_cmd(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        return Err(format!("build-preload takes no arguments (got `{a}`)"));
    }
    let so = build_preload()?;
    println!("{}", so.display());
    Ok(())
}

pub fn preload_cmd(args: &[String]) -> Result<()> {
    let args = match args.first().map(String::as_str) {
        Some("--") => &args[1..],
        _ => args,
    };
    let Some((program, program_args)) = args.split_first() else {
        return Err("usage: cargo xtask preload -- CMD [ARGS...]".into());
    };
    let so = build_preload()?;
    let existing = std::env::var("LD_PRELOAD").ok();
    let mut cmd = Command::new(program);
    cmd.args(program_args);
    cmd.env("LD_PRELOAD", ld_preload_value(&so, existing.as_deref()));
    util::restore_user_env(&mut cmd);
    eprintln!("xtask: exec {}", util::display_cmd(&cmd));
    // Replace this process: the exit status (or the fatal signal) is CMD's,
    // and terminal signals go straight to CMD (`cargo run` execs us too).
    let err = cmd.exec();
    let code = if err.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
    eprintln!("xtask: error: cannot execute `{program}`: {err}");
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn preload_value_keeps_existing_after_ours() {
        let so = Path::new("/w/target/release/libhakmem.so");
        assert_eq!(ld_preload_value(so, None), "/w/target/release/libhakmem.so");
        assert_eq!(ld_preload_value(so, Some("")), "/w/target/release/libhakmem.so");
        assert_eq!(ld_preload_value(so, Some("/x/libfoo.so")), "/w/target/release/libhakmem.so:/x/libfoo.so");
    }
}
