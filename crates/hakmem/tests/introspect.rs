//! The Rust twin of `hak_stats_get` and `malloc_trim`: `hakmem::snapshot`
//! counts exactly the blocks this thread holds, per tier and class, with
//! `allocated − freed == live`; freed blocks show in the thread's cache;
//! `hakmem::trim` returns the memory (resident bytes fall, the bytes
//! returned to the OS grow) and says so. One test: the numbers are the
//! process's, and tests of one binary run at once.

use hakmem::{snapshot, Stats};

const BIG: usize = 3;

fn class_of(st: &Stats, tier: usize, block_size: u64) -> usize {
    st.classes[tier].iter().position(|c| c.block_size == block_size).expect("a class of that block size")
}

fn assert_consistent(st: &Stats) {
    assert_eq!(st.size as usize, std::mem::size_of::<Stats>());
    assert_eq!(st.version, hakmem::STATS_VERSION);
    for (t, ts) in st.tiers.iter().enumerate() {
        assert_eq!(ts.allocated - ts.freed, ts.live_blocks, "tier {t}: {ts:?}");
    }
    for (t, classes) in st.classes.iter().enumerate() {
        let live: u64 = classes.iter().map(|c| c.live).sum();
        assert_eq!(live, st.tiers[t].live_blocks, "tier {t}");
        for c in classes {
            assert_eq!(c.allocated - c.freed, c.live, "tier {t}: {c:?}");
        }
    }
}

#[test]
fn snapshot_counts_what_the_thread_holds_and_trim_returns_it() {
    // (tier, size, count, touch): a tiny, an L2 and an L2.5 class, and big blocks.
    let plan: [(usize, usize, usize); 3] = [(0, 100, 3000), (1, 5000, 400), (2, 200 << 10, 60)];
    let s0 = snapshot();
    assert_consistent(&s0);
    let mut held: Vec<Vec<*mut u8>> = Vec::new();
    for &(_, size, n) in &plan {
        let v: Vec<*mut u8> = (0..n)
            .map(|i| {
                let p = hakmem::alloc(size);
                assert!(!p.is_null());
                // SAFETY: a live block of `size` bytes.
                unsafe { std::ptr::write_bytes(p, i as u8, size) };
                p
            })
            .collect();
        held.push(v);
    }
    let big: Vec<*mut u8> = (0..4)
        .map(|i| {
            let p = hakmem::alloc(3 << 20);
            // SAFETY: a live block of 3 MiB.
            unsafe { std::ptr::write_bytes(p, i as u8, 3 << 20) };
            p
        })
        .collect();

    let s1 = snapshot();
    assert_consistent(&s1);
    for (k, &(tier, size, n)) in plan.iter().enumerate() {
        // SAFETY: a live block.
        let bs = unsafe { hakmem::usable_size(held[k][0]) } as u64;
        let c = class_of(&s1, tier, bs);
        let live = s1.classes[tier][c].live - s0.classes[tier][c].live;
        assert_eq!(live, n as u64, "tier {tier}, {size} B blocks: live {live}");
        assert!(s1.classes[tier][c].resident_bytes >= (n * size) as u64 / 2, "tier {tier}: resident");
    }
    assert_eq!(s1.tiers[BIG].live_blocks - s0.tiers[BIG].live_blocks, 4);
    assert!(s1.tiers[BIG].live_bytes - s0.tiers[BIG].live_bytes >= 12 << 20);
    assert!(s1.live_bytes >= s0.live_bytes + (3000 * 100 + 400 * 5000 + 60 * (200 << 10) + (12 << 20)) as u64);
    assert!(
        s1.resident_bytes >= s0.resident_bytes + (20 << 20),
        "resident {} -> {}",
        s0.resident_bytes,
        s1.resident_bytes
    );

    // Half of the tiny blocks freed: 16 of them land in this thread's cache
    // at least (a bin holds 256 KiB, at least 16 blocks; none without a
    // thread cache), all leave `live`.
    for p in held[0].drain(..1500) {
        // SAFETY: live blocks, freed once.
        unsafe { hakmem::free(p) };
    }
    let s2 = snapshot();
    assert_consistent(&s2);
    // SAFETY: a live block.
    let c = class_of(&s2, 0, unsafe { hakmem::usable_size(held[0][0]) } as u64);
    assert_eq!(s1.classes[0][c].live - s2.classes[0][c].live, 1500);
    let cached = s2.classes[0][c].cached;
    if std::env::var("HAKMEM_THREAD_CACHE_KB").as_deref() == Ok("0") {
        assert_eq!(cached, 0, "no thread cache, yet {cached} blocks cached");
    } else {
        assert!(cached >= 16, "cached {cached}");
    }
    assert_eq!(s2.classes[0][c].freed - s1.classes[0][c].freed, 1500);

    for v in held {
        for p in v {
            // SAFETY: live blocks, freed once.
            unsafe { hakmem::free(p) };
        }
    }
    for p in big {
        // SAFETY: live blocks, freed once.
        unsafe { hakmem::free(p) };
    }
    assert!(hakmem::trim(), "trim found nothing to return");
    let s3 = snapshot();
    assert_consistent(&s3);
    for t in 0..BIG {
        assert_eq!(s3.tiers[t].cached_blocks, 0, "tier {t} cached after trim");
        assert_eq!(s3.tiers[t].free_resident_bytes, 0, "tier {t} free pages still resident after trim");
    }
    assert_eq!(s3.tiers[BIG].live_blocks, s0.tiers[BIG].live_blocks);
    assert_eq!(s3.tiers[BIG].cached_blocks, 0);
    assert!(
        s3.resident_bytes + (20 << 20) <= s1.resident_bytes,
        "resident {} -> {}",
        s1.resident_bytes,
        s3.resident_bytes
    );
    assert!(s3.returned_bytes >= s1.returned_bytes + (20 << 20));
    assert!(!hakmem::trim(), "a second trim found memory to return");
    let mut lines = 0;
    hakmem::print_to(&s3, &mut |l| {
        assert!(l.starts_with(b"hakmem: ") && l.ends_with(b"\n"));
        lines += 1;
    });
    assert!(lines >= 6);
}
