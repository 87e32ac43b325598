//! Threads recording into one table and one sampled-block map at once:
//! every sample lands in its site's one entry, the counts add up, and
//! every tag comes back whole.

use std::sync::Barrier;
use std::thread;

use hak_siterules::{SampledBlocks, SiteTable};

const THREADS: usize = 4;
const ROUNDS: usize = 10_000;
const SITES: usize = 48;

/// Site `k`'s return address (a stride that collides in a 64-entry table).
fn site(k: usize) -> usize {
    0x40_0000 + k * 0x38
}

#[test]
fn threads_recording_into_one_table_add_up() {
    let t: SiteTable<64> = SiteTable::with_young_age(100);
    let b: SampledBlocks<1024> = SampledBlocks::new();
    let go = Barrier::new(THREADS);
    let per_thread: Vec<(u64, u64, u64, u64)> = thread::scope(|s| {
        let h: Vec<_> = (0..THREADS)
            .map(|id| {
                let (t, b, go) = (&t, &b, &go);
                s.spawn(move || {
                    let mut rng = 0x9e37_79b9u32 ^ (id as u32 + 1);
                    let mut held: Vec<usize> = Vec::new();
                    let (mut rec, mut dropped_blocks, mut frees, mut grows) = (0u64, 0u64, 0u64, 0u64);
                    go.wait();
                    for i in 0..ROUNDS {
                        rng ^= rng << 13;
                        rng ^= rng >> 17;
                        rng ^= rng << 5;
                        let k = rng as usize % SITES;
                        let size = 2048 << (k % 4);
                        let tag = t.record_alloc(site(k), size, i as u64).expect("48 sites fit in 64 entries");
                        rec += 1;
                        // A distinct address per thread and round.
                        let addr = ((id + 1) << 40) | (i << 6);
                        if b.insert(addr, tag) {
                            held.push(addr);
                        } else {
                            t.forget(tag);
                            dropped_blocks += 1;
                        }
                        // Grow one block in 8, free when holding more than 64.
                        if rng.is_multiple_of(8) {
                            if let Some(&a) = held.last() {
                                let mut tg = b.take(a).expect("own block");
                                let new = tg.size() * 2;
                                t.record_realloc(&mut tg, new);
                                assert!(b.insert(a, tg));
                                grows += 1;
                            }
                        }
                        if held.len() > 64 {
                            let a = held.swap_remove(rng as usize % held.len());
                            let tg = b.take(a).expect("own block");
                            t.record_free(tg, i as u64 + (rng % 200) as u64);
                            frees += 1;
                        }
                    }
                    for a in held {
                        t.record_free(b.take(a).expect("own block"), u64::MAX);
                        frees += 1;
                    }
                    (rec, dropped_blocks, frees, grows)
                })
            })
            .collect();
        h.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let sum = |f: fn(&(u64, u64, u64, u64)) -> u64| per_thread.iter().map(f).sum::<u64>();
    let (rec, forgotten, frees, grows) = (sum(|x| x.0), sum(|x| x.1), sum(|x| x.2), sum(|x| x.3));
    assert_eq!(rec, (THREADS * ROUNDS) as u64);
    let s = t.stats();
    assert_eq!(s.sites as usize, SITES, "each site claimed once");
    assert_eq!(s.dropped, 0);
    assert_eq!(s.forgotten, forgotten);
    assert_eq!(s.samples, rec - forgotten);
    assert_eq!(s.frees, frees);
    assert_eq!(frees + forgotten, rec, "every block freed or forgotten");
    assert_eq!(s.grows, grows);
    assert!(b.is_empty(), "every tag taken back");
    // No site saw 1024 samples (no aging), so its counters are exact: they
    // add up to the totals, and with every block gone no bytes are live.
    let mut out = [Default::default(); 64];
    let n = t.top(&mut out);
    assert_eq!(n, SITES);
    let rows = &out[..n];
    assert!(rows.iter().all(|r| r.counts.samples < 1024));
    assert_eq!(rows.iter().map(|r| r.counts.samples as u64).sum::<u64>(), s.samples);
    assert_eq!(rows.iter().map(|r| (r.counts.young + r.counts.old) as u64).sum::<u64>(), frees);
    assert_eq!(rows.iter().map(|r| r.counts.grows as u64).sum::<u64>(), grows);
    assert!(rows.iter().all(|r| r.live_bytes == 0), "live bytes balance");
    for k in 0..SITES {
        assert!(t.site(site(k)).is_some(), "site {k}");
    }
}
