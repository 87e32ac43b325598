//! A stale free after a reuse (`free(p); q = malloc(n); free(p)`) of a
//! block that no thread cache holds (above 64 KiB) is a reported double
//! free, never a free of the live block (decision 0051): the block freed
//! last is not the next one out of its page or of BigCache.

use std::process::Command;

/// L2.5 classes above the thread cache (the security suite's 256 KiB row
/// and one near its start), and big blocks (its 2 MiB row, and a larger
/// one).
const SIZES: [usize; 4] = [100_000, 262_144, 2 << 20, 5 << 20];

/// In a child: frees a block, allocates the same size (must be another
/// block), then frees the first again (must abort with a report).
fn child(size: usize) {
    let p = hakmem::alloc(size);
    assert!(!p.is_null());
    // SAFETY: p is a live block of `size` bytes.
    unsafe {
        p.write_bytes(0x11, size);
        hakmem::free(p);
    }
    let q = hakmem::alloc(size);
    assert!(!q.is_null());
    // SAFETY: q is a live block of `size` bytes.
    unsafe { q.write_bytes(0x22, size) };
    println!("REUSED {}", if p == q { "yes" } else { "no" });
    // SAFETY: deliberately wrong: the stale free under test.
    unsafe { hakmem::free(p) };
    println!("STALE FREE ACCEPTED");
}

#[test]
fn a_stale_free_after_a_reuse_is_reported_above_the_thread_cache() {
    if let Some(size) = std::env::var_os("HAK_STALE_FREE_SIZE") {
        child(size.to_str().unwrap().parse().unwrap());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for size in SIZES {
        let out = Command::new(&exe)
            .args(["--exact", "a_stale_free_after_a_reuse_is_reported_above_the_thread_cache", "--nocapture"])
            .env("HAK_STALE_FREE_SIZE", size.to_string())
            .output()
            .unwrap();
        let (so, se) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(so.contains("REUSED no"), "size {size}: the freed block was handed out again\n{so}\n{se}");
        assert!(!so.contains("STALE FREE ACCEPTED") && !out.status.success(), "size {size}: not reported\n{so}\n{se}");
        assert!(se.contains("double free"), "size {size}: stderr {se}");
    }
}
