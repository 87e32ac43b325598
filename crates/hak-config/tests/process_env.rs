//! End-to-end: `get()` reads the real environment and reports on stderr, once.

use std::process::Command;

/// Child half: does nothing unless started by `reports_once_on_stderr`.
#[test]
fn child() {
    if std::env::var_os("HAK_CONFIG_TEST_CHILD").is_some() {
        let a = hak_config::get();
        let b = hak_config::get();
        assert!(core::ptr::eq(a, b));
        assert_eq!(a.mode, hak_config::Mode::Balanced);
        assert!(!a.enabled(hak_config::Features::THP));
        assert_eq!(a.tunables.decay_ms, 500);
        // The cargo feature `secure` makes secure mode the default.
        assert_eq!(a.enabled(hak_config::Features::SECURE), cfg!(feature = "secure"));
    }
}

#[test]
fn reports_once_on_stderr() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("HAK_CONFIG_TEST_CHILD", "1")
        .env("HAKMEM_MODE", "BALANCED")
        .env("HAKMEM_THP", "off")
        .env("HAKMEM_DECAY_MS", "12x")
        .env("HAKMEM_VERBOSE", "yes")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("hakmem: ")).collect();
    let secure = if cfg!(feature = "secure") { "|SECURE" } else { "" };
    assert_eq!(
        lines,
        [
            "hakmem: ignoring HAKMEM_DECAY_MS=12x (expected a non-negative integer)".to_string(),
            format!(
                "hakmem: mode=balanced features=TINY_POOL|POOL|L25_POOL|BIGCACHE|BATCH_MADVISE{secure} \
                 bigcache_entries=32 bigcache_max_mb=256 decay_ms=500 free_pages_keep=16 thread_cache_kb=256"
            ),
        ]
    );
}
