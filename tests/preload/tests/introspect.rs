//! Introspection and glibc's extras under `LD_PRELOAD` (`c/introspect.c`):
//! a 1 GiB burst measured by `mallinfo2`, `hak_stats_get` and
//! `/proc/self/status`, given back by `malloc_trim(0)`; `malloc_stats`,
//! `malloc_info`, `mallopt`, `hak_stats_print`. The same program under
//! plain glibc checks the shapes of glibc's own output.

use hakmem_preload_tests::{compile_c, fresh_dir, run, run_c_ok, Preload, Run};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(300);

/// `malloc_stats`' lines on stderr, in glibc's format (`%10u` numbers).
fn assert_malloc_stats_shape(r: &Run) {
    let err = r.stderr_str();
    for label in ["Arena 0:", "Total (incl. mmap):", "max mmap regions = ", "max mmap bytes   = "] {
        assert!(err.contains(label), "no `{label}` in malloc_stats' output: {}", r.report());
    }
    let numbers: Vec<&str> =
        err.lines().filter(|l| l.starts_with("system bytes     = ") || l.starts_with("in use bytes     = ")).collect();
    assert!(numbers.len() >= 4, "too few system/in use lines: {}", r.report());
    for l in numbers {
        let v = &l["system bytes     = ".len()..];
        assert!(v.len() >= 10 && v.trim().parse::<u64>().is_ok(), "`{l}` is not a %10u number");
    }
}

/// The XML `malloc_info(0, stdout)` printed after the `XML:` line: glibc's
/// outer element, balanced heaps, the totals; the value of the current
/// system size.
fn malloc_info_xml(r: &Run) -> (String, u64) {
    let out = r.stdout_str();
    let xml = out.split("XML:\n").nth(1).and_then(|x| x.strip_suffix("OK\n")).unwrap_or_else(|| {
        panic!("no XML section: {}", r.report());
    });
    assert!(xml.starts_with("<malloc version=\"1\">\n") && xml.ends_with("</malloc>\n"), "XML: {xml}");
    assert_eq!(xml.matches("<heap nr=").count(), xml.matches("</heap>").count(), "XML: {xml}");
    assert!(xml.contains("<total type=\"mmap\""), "XML: {xml}");
    let tail = xml.rsplit("<system type=\"current\" size=\"").next().unwrap_or("");
    let size = tail.split('"').next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("XML: {xml}"));
    (xml.to_string(), size)
}

/// Under hakmem: after freeing the 1 GiB burst, `malloc_trim(0)` returns 1
/// and VmRSS is back within 5 % of the burst above the baseline; while it
/// was live, `mallinfo2`'s arena + hblkhd was within 10 % of VmRSS and
/// `hak_stats_get` counted exactly the blocks the program held (the C
/// program checks each, see `c/introspect.c`); the report lines and the
/// XML have their shapes.
#[test]
fn burst_measured_and_trimmed_under_hakmem() {
    let r = run_c_ok("introspect", &[], T);
    assert!(r.stdout_str().starts_with("allocator: hakmem\n"), "not hakmem: {}", r.report());
    assert_malloc_stats_shape(&r);
    let (xml, current) = malloc_info_xml(&r);
    assert_eq!(xml.matches("<heap nr=").count(), 3, "one heap per slab tier: {xml}");
    assert!(current > 0, "current system size 0: {xml}");
}

/// Under plain glibc the same program runs (the hakmem checks skipped) and
/// glibc's `malloc_stats` and `malloc_info` have the shapes the hakmem run
/// is held to.
#[test]
fn same_program_under_glibc() {
    let bin = compile_c("introspect");
    let dir = fresh_dir("introspect-glibc");
    let mut cmd = Command::new(&bin);
    cmd.current_dir(&dir);
    let r = run(cmd, Preload::No, T);
    assert!(r.status.success(), "{}", r.report());
    let out = r.stdout_str();
    assert!(out.starts_with("allocator: other\n") && out.contains("SKIP hakmem numbers"), "{}", r.report());
    assert_malloc_stats_shape(&r);
    malloc_info_xml(&r);
}
