//! Starting small (issue 21): with the address space capped before `exec`
//! (`RLIMIT_AS` = 64 MiB, as `ulimit -v 65536` does), a program under hakmem
//! starts and allocates small, medium and big blocks (`c/ulimit_small.c`).
//! Before the two-level segment map, hakmem's start reserved 256 MiB of
//! address space for the map and every allocation failed under such a limit.
//! The program also runs on glibc, which validates it.

use hakmem_preload_tests::{compile_c, run, Preload};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

const LIMIT: libc::rlim_t = 64 << 20;

#[test]
fn a_program_starts_and_allocates_under_a_64_mib_address_space_limit() {
    let bin = compile_c("ulimit_small");
    for preload in [Preload::No, Preload::Yes] {
        let mut cmd = Command::new(&bin);
        // SAFETY: the closure runs in the forked child before exec and only
        // calls setrlimit, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit { rlim_cur: LIMIT, rlim_max: LIMIT };
                if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let r = run(cmd, preload, Duration::from_secs(60));
        assert!(
            r.status.success() && r.stdout_str().lines().last() == Some("OK"),
            "ulimit_small under RLIMIT_AS = 64 MiB ({preload:?}): {}",
            r.report()
        );
        eprintln!("{preload:?}: {}", r.stdout_str().trim_end().replace('\n', " | "));
    }
}
