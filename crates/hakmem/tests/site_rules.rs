//! Site rules (`HAKMEM_SITE_RULES`): a site of long-lived 256 KiB blocks and
//! a site growing buffers with `realloc` are learned from samples and their
//! later blocks served by mappings of their own; with the feature off
//! nothing changes. Each case runs in a child process, whose configuration
//! comes from its environment as in a real program.

use std::process::Command;

use hak_os::segmap;

const CHILD: &str = "HAK_SITE_RULES_CHILD";

fn is_big(p: *const u8) -> bool {
    segmap::lookup(p as usize) & segmap::TAG_MASK == segmap::TAG_BIG
}

/// Runs test `name` again in a child with `HAKMEM_SITE_RULES=on`; returns
/// its stdout.
fn child(name: &str, on: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("HAKMEM_SITE_RULES", on)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn result(out: &str, key: &str) -> usize {
    let line =
        out.lines().find_map(|l| l.split_once(key).map(|(_, v)| v)).unwrap_or_else(|| panic!("no {key} in {out}"));
    line.trim().parse().unwrap()
}

/// Enough allocations to run the first upkeep tick out, after which the
/// child samples one allocation in 4.
fn warm_up() {
    hakmem::set_site_sample_ticks(4);
    for _ in 0..1100 {
        let p = hakmem::alloc(16);
        // SAFETY: just allocated.
        unsafe { hakmem::free(p) };
    }
}

#[inline(never)]
fn site_long() -> *mut u8 {
    let p = hakmem::alloc(256 << 10);
    assert!(!p.is_null());
    // SAFETY: 256 KiB block.
    unsafe { p.write(0x5a) };
    p
}

#[test]
fn long_lived_big_blocks_move_to_mappings() {
    if std::env::var_os(CHILD).is_none() {
        let on = child("long_lived_big_blocks_move_to_mappings", "1");
        let off = child("long_lived_big_blocks_move_to_mappings", "0");
        assert!(result(&on, "late_big=") >= 90, "site rules on: {on}");
        assert_eq!(result(&off, "late_big="), 0, "site rules off: {off}");
        assert!(result(&on, "samples=") >= 16, "{on}");
        assert_eq!(result(&off, "samples="), 0, "{off}");
        return;
    }
    warm_up();
    let blocks: Vec<*mut u8> = (0..400).map(|_| site_long()).collect();
    let late_big = blocks[300..].iter().filter(|&&p| is_big(p)).count();
    for &p in &blocks {
        // SAFETY: live blocks of ours, written above.
        unsafe {
            assert_eq!(p.read(), 0x5a);
            hakmem::free(p);
        }
    }
    let (samples, frees, live) = hakmem::site_stats();
    println!("late_big={late_big}\nsamples={samples}\nfrees={frees}\nlive={live}");
    assert_eq!(live, 0, "every sampled block was freed");
}

#[inline(never)]
fn grow(p: *mut u8, n: usize) -> *mut u8 {
    // SAFETY: p is null or a live block of ours.
    unsafe { hakmem::realloc(p, n) }
}

#[test]
fn growing_buffers_move_to_mappings_early() {
    if std::env::var_os(CHILD).is_none() {
        let on = child("growing_buffers_move_to_mappings_early", "1");
        let off = child("growing_buffers_move_to_mappings_early", "0");
        assert!(result(&on, "late_big_at_128k=") >= 18, "site rules on: {on}");
        assert_eq!(result(&off, "late_big_at_128k="), 0, "site rules off: {off}");
        return;
    }
    warm_up();
    let mut late_big = 0;
    for round in 0..200 {
        let mut p = grow(std::ptr::null_mut(), 2048);
        let mut len = 2048;
        // SAFETY: p holds len bytes.
        unsafe { std::ptr::write_bytes(p, 7, len) };
        while len < (512 << 10) {
            let n = len * 2;
            p = grow(p, n);
            assert!(!p.is_null());
            // SAFETY: p holds n bytes, the first len of them written.
            unsafe {
                assert!(std::slice::from_raw_parts(p, len).iter().all(|&b| b == 7), "contents lost at {n}");
                std::ptr::write_bytes(p.add(len), 7, n - len);
            }
            if n == 128 << 10 && round >= 180 && is_big(p) {
                late_big += 1;
            }
            len = n;
        }
        // SAFETY: live block of ours.
        unsafe { hakmem::free(p) };
    }
    println!("late_big_at_128k={late_big}");
}

#[test]
fn sampled_blocks_freed_by_other_threads() {
    if std::env::var_os(CHILD).is_none() {
        let out = child("sampled_blocks_freed_by_other_threads", "1");
        assert!(result(&out, "samples=") > 100, "{out}");
        assert_eq!(result(&out, "live="), 0, "{out}");
        assert_eq!(result(&out, "frees="), result(&out, "samples="), "{out}");
        return;
    }
    hakmem::set_site_sample_ticks(4);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<usize>>(16);
    let consumer = std::thread::spawn(move || {
        for batch in rx {
            for p in batch {
                // SAFETY: blocks handed over by the producers.
                unsafe {
                    assert_eq!((p as *const u8).read(), (p >> 12) as u8);
                    hakmem::free(p as *mut u8);
                }
            }
        }
    });
    let producers: Vec<_> = (0..4u64)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t;
                for _ in 0..40 {
                    let batch: Vec<usize> = (0..256)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            let p = hakmem::alloc(2048 + (x % (62 << 10)) as usize);
                            // SAFETY: at least 2 KiB.
                            unsafe { p.write((p as usize >> 12) as u8) };
                            p as usize
                        })
                        .collect();
                    tx.send(batch).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for p in producers {
        p.join().unwrap();
    }
    consumer.join().unwrap();
    let (samples, frees, live) = hakmem::site_stats();
    println!("samples={samples}\nfrees={frees}\nlive={live}");
}
