//! Start under an address-space limit (`ulimit -v`, i.e. RLIMIT_AS set
//! before `exec`): the segment map's table is sized to the part of the
//! address space `mmap` uses (a few MiB, grown on demand), not the whole
//! space (256 MiB), so real programs start under limits where they start on
//! glibc. Each case runs with and without the preload, same output.

use std::process::Command;
use std::time::Duration;

use hakmem_preload_tests::{limited, require_tool, run, Preload};

const T: Duration = Duration::from_secs(60);

fn same_under_limit(what: &str, kib: u64, make: impl Fn() -> Command) {
    let base = run(limited(make(), kib), Preload::No, T);
    assert!(base.status.success(), "{what} under {kib} KiB without hakmem: {}", base.report());
    let r = run(limited(make(), kib), Preload::Yes, T);
    assert!(r.status.success(), "{what} under ulimit -v {kib} with hakmem: {}", r.report());
    assert_eq!(r.stdout_str(), base.stdout_str(), "{what}: output differs");
}

/// The reproduction: `ulimit -v 65536; python3 -c ...` (with a
/// little work: a dict of 2,000 strings, json, sorting), which died with
/// "memory exhausted" when the segment map reserved 256 MiB at start.
/// (How close to glibc's own floor hakmem runs: `limits_floor.rs`.)
#[test]
fn python3_starts_and_works_under_ulimit_v_64_mib() {
    let python = require_tool("python3", "python3");
    same_under_limit("python3", 65536, || {
        let mut cmd = Command::new(&python);
        cmd.args([
            "-c",
            "import json\nd = {str(i): 'x' * (i % 300) for i in range(2000)}\n\
             s = json.dumps(d)\nprint(len(s), sum(map(len, sorted(d.values())[:100])))",
        ]);
        cmd
    });
}

/// A C program of the system (sort, 50,000 lines) under 32 MiB.
#[test]
fn sort_works_under_ulimit_v_32_mib() {
    let sort = require_tool("sort", "coreutils");
    let dir = hakmem_preload_tests::fresh_dir("limits_sort");
    let input = dir.join("in.txt");
    let text: String = (0..50_000u64).map(|i| format!("{}\n", i.wrapping_mul(0x9E37_79B9) % 1_000_003)).collect();
    std::fs::write(&input, text).expect("write the input");
    same_under_limit("sort", 32768, || {
        let mut cmd = Command::new(&sort);
        cmd.arg("-n").arg(&input);
        cmd
    });
    let _ = std::fs::remove_dir_all(&dir);
}
