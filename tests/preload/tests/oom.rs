//! Out of memory for real (`c/oom_rlimit.c`): the program caps its own
//! address space with `RLIMIT_AS` once the allocator is up (its size at
//! start plus 64 MiB; `limits.rs` sets limits before `exec`) and
//! checks `NULL` + `ENOMEM` on every entry point, the old block kept by a
//! failed `realloc`, and that the program keeps working. Each case also
//! runs on glibc, which validates the program itself.

use hakmem_preload_tests::{compile_c, fresh_dir, run, Preload};
use std::process::Command;
use std::time::Duration;

fn oom_rlimit(args: &[&str]) {
    let bin = compile_c("oom_rlimit");
    for preload in [Preload::No, Preload::Yes] {
        let dir = fresh_dir("oom_rlimit");
        let mut cmd = Command::new(&bin);
        cmd.args(args).current_dir(&dir);
        let r = run(cmd, preload, Duration::from_secs(60));
        let _ = std::fs::remove_dir(&dir);
        assert!(
            r.status.success() && r.stdout_str().lines().last() == Some("OK"),
            "oom_rlimit {} ({preload:?}): {}",
            args.join(" "),
            r.report()
        );
        eprintln!("{preload:?}: {}", r.stdout_str().trim_end().replace('\n', " | "));
    }
}

/// malloc, calloc, realloc, reallocarray, posix_memalign, aligned_alloc and
/// memalign beyond the limit: NULL (posix_memalign: ENOMEM) with errno
/// ENOMEM; the block a failed realloc keeps is intact, grows and shrinks;
/// small and big allocations work after every failure.
#[test]
fn requests_beyond_an_address_space_limit_fail_with_enomem() {
    oom_rlimit(&["huge"]);
}

/// No limit set: requests of twice RAM + swap (1 TiB and more on small
/// machines too), which the kernel's overcommit policy refuses to a plain
/// `mmap`, return NULL with ENOMEM on every entry point, as on glibc,
/// instead of a mapping the OOM killer ends the process for when it is
/// touched (hakmem charges its mappings to the commit: no `MAP_NORESERVE`).
#[test]
fn requests_the_kernel_would_refuse_fail_with_enomem() {
    oom_rlimit(&["overcommit"]);
}

/// Tiny, L2, L2.5 and big blocks until malloc returns NULL with ENOMEM under
/// the limit; all freed, as many again; after big blocks filled the address
/// space, every tier works again (regression: the mappings the big-block
/// cache kept held the address space a new slab segment needed, for good).
#[test]
fn filling_the_address_space_fails_cleanly_and_the_memory_is_reused() {
    for size in ["100", "20000", "500000", "3145728"] {
        oom_rlimit(&["exhaust", size]);
    }
}

/// The recovery acceptance: at 8 B, 1 KiB, 30 KiB, 200 KiB and
/// 3 MiB, each entry point (malloc, calloc, realloc, aligned_alloc,
/// posix_memalign, memalign, valloc, pvalloc) allocates until NULL with
/// ENOMEM under the limit; everything freed, every entry point allocates
/// that size again (all eight blocks live at once, aligned, checked), and
/// the first one gets as many blocks as before.
#[test]
fn after_exhaustion_every_entry_point_allocates_every_size_again() {
    const SIZES: [&str; 5] = ["8", "1024", "30720", "204800", "3145728"];
    const ENTRIES: [&str; 8] =
        ["malloc", "calloc", "realloc", "aligned_alloc", "posix_memalign", "memalign", "valloc", "pvalloc"];
    for size in SIZES {
        for entry in ENTRIES {
            oom_rlimit(&["recover", size, entry]);
        }
    }
}
