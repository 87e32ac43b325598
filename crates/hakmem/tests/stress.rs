//! Multi-threaded stress of the router API with real threads, bounded in
//! time (about 2 s per test; the three run in parallel).
//!
//! Every block is filled with a pattern derived from its own address when it
//! is allocated and checked when it is freed (or reallocated), so a block
//! handed out twice, a block written after being freed, or contents lost by a
//! realloc across tiers is caught. Randomness is seeded (xorshift), so a
//! failure names the seed that reproduces its choices (the interleaving is up
//! to the OS).
//!
//! * `larson_handoff_with_thread_churn`: generations of threads replace
//!   random blocks and hand their whole set to a successor before exiting
//!   (abandonment and free-side adoption at every generation).
//! * `producer_consumer_all_remote`: producers allocate, consumers that
//!   never allocate through hakmem free (every free is remote; producers
//!   exit and are replaced, so consumers free into abandoned pages).
//! * `mixed_sizes_all_tiers_with_realloc`: sizes from every tier, reallocs
//!   across tier boundaries, blocks traded between threads.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const TEST_TIME: Duration = Duration::from_millis(2000);

/// A small seeded generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The pattern word at address `a`.
fn word(a: usize) -> u64 {
    (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5A5_5A5A_DEAD_BEEF
}

/// Word offsets of a block of `size` bytes that carry the pattern: all of
/// a block up to 16 KiB; the first and last 2 KiB plus one word per 4 KiB
/// page of a larger one.
fn offsets(size: usize) -> impl Iterator<Item = usize> {
    let words = size / 8;
    let dense = size <= 16 << 10;
    (0..words).filter(move |&w| dense || w < 256 || w >= words - 256 || w % 512 == 0)
}

/// Fills block `p` (`size` bytes) with the pattern of base address `base`.
fn fill(p: *mut u8, size: usize, base: usize) {
    for w in offsets(size) {
        // SAFETY: w * 8 + 8 <= size, inside the block.
        unsafe { (p as *mut u64).add(w).write(word(base + w * 8)) };
    }
    if !size.is_multiple_of(8) {
        // SAFETY: the last byte is inside the (non-empty) block.
        unsafe { *p.add(size - 1) = base as u8 };
    }
}

/// Checks the pattern written by `fill(p', size, base)` (p' maybe moved).
fn check(p: *const u8, size: usize, base: usize, what: &str) {
    check_prefix(p, size, size, base, what);
    if !size.is_multiple_of(8) {
        // SAFETY: the last byte of the block.
        assert_eq!(unsafe { *p.add(size - 1) }, base as u8, "{what}: last byte of {p:?} corrupted");
    }
}

/// Checks the pattern words of a block filled as `size` bytes that lie in
/// its first `limit` bytes (the part a realloc keeps).
fn check_prefix(p: *const u8, size: usize, limit: usize, base: usize, what: &str) {
    for w in offsets(size).filter(|w| w * 8 + 8 <= limit) {
        // SAFETY: inside the block.
        let v = unsafe { (p as *const u64).add(w).read() };
        assert_eq!(v, word(base + w * 8), "{what}: block {p:?} ({size} bytes) corrupted at word {w}");
    }
}

/// A block the test owns: address and requested size.
#[derive(Clone, Copy)]
struct Blk(usize, usize);

fn new_block(size: usize) -> Blk {
    let p = hakmem::alloc(size);
    assert!(!p.is_null(), "alloc({size}) failed");
    assert_eq!(p as usize % 16, 0);
    // SAFETY: a live block.
    assert!(unsafe { hakmem::usable_size(p) } >= size);
    fill(p, size, p as usize);
    Blk(p as usize, size)
}

fn drop_block(b: Blk, what: &str) {
    check(b.0 as *const u8, b.1, b.0, what);
    // SAFETY: a live hakmem block we own.
    assert!(unsafe { hakmem::free(b.0 as *mut u8) });
}

/// larson's pattern: each thread replaces random blocks of its set, then
/// hands the whole set to a successor and exits (its pages are abandoned;
/// the successor's frees adopt them); 4 lineages at a time.
#[test]
fn larson_handoff_with_thread_churn() {
    const LINEAGES: u64 = 4;
    const SLOTS: usize = 400;
    let deadline = Instant::now() + TEST_TIME;
    let lineages: Vec<_> = (0..LINEAGES)
        .map(|l| {
            thread::spawn(move || {
                let mut set: Vec<Blk> = thread::spawn(move || {
                    let mut rng = Rng::new(l + 1);
                    (0..SLOTS).map(|_| new_block(rng.below(1025))).collect()
                })
                .join()
                .unwrap();
                let mut generations = 0u32;
                let mut seed = l * 7919 + 1;
                while generations == 0 || Instant::now() < deadline {
                    // One generation: a fresh thread works on the set and
                    // returns it when it exits.
                    set = thread::spawn(move || {
                        let mut rng = Rng::new(seed);
                        for _ in 0..2000 {
                            let i = rng.below(set.len());
                            drop_block(set[i], "larson");
                            let size = if rng.below(16) == 0 { 1025 + rng.below(8 << 10) } else { rng.below(1025) };
                            set[i] = new_block(size);
                        }
                        set
                    })
                    .join()
                    .unwrap();
                    generations += 1;
                    seed += 1000;
                }
                (set, generations)
            })
        })
        .collect();
    let mut gens = 0;
    for t in lineages {
        let (set, g) = t.join().unwrap();
        gens += g;
        for b in set {
            drop_block(b, "larson final");
        }
    }
    check_tiers();
    assert!(gens >= LINEAGES as u32);
}

/// Producers allocate and fill; consumers (which never allocate through
/// hakmem, so every free is remote and, once a producer has exited, into an
/// abandoned page) check and free. Producers are replaced every batch.
#[test]
fn producer_consumer_all_remote() {
    const PRODUCERS: usize = 3;
    const CONSUMERS: usize = 2;
    let deadline = Instant::now() + TEST_TIME;
    let (tx, rx) = mpsc::sync_channel::<Vec<Blk>>(64);
    let rx = Arc::new(Mutex::new(rx));
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || {
                let mut n = 0usize;
                loop {
                    let batch = match rx.lock().unwrap().recv() {
                        Ok(b) => b,
                        Err(_) => return n,
                    };
                    for b in batch {
                        drop_block(b, "consumer");
                        n += 1;
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS as u64)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut seed = 100 + p;
                let mut sent = 0usize;
                while Instant::now() < deadline {
                    // One short-lived producer thread per batch set.
                    let tx = tx.clone();
                    sent += thread::spawn(move || {
                        let mut rng = Rng::new(seed);
                        let mut sent = 0;
                        for _ in 0..20 {
                            let batch: Vec<Blk> = (0..64)
                                .map(|_| {
                                    let size = match rng.below(8) {
                                        0 => 1025 + rng.below(31 << 10),
                                        _ => rng.below(1025),
                                    };
                                    new_block(size)
                                })
                                .collect();
                            sent += batch.len();
                            tx.send(batch).unwrap();
                        }
                        sent
                    })
                    .join()
                    .unwrap();
                    seed += PRODUCERS as u64;
                }
                sent
            })
        })
        .collect();
    drop(tx);
    let sent: usize = producers.into_iter().map(|t| t.join().unwrap()).sum();
    let freed: usize = consumers.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(sent, freed);
    assert!(sent > 0);
    check_tiers();
}

/// A size from every tier: tiny, L2, L2.5 and (rarely) big blocks.
fn any_size(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=59 => rng.below(1025),
        60..=84 => 1025 + rng.below(31 << 10),
        85..=97 => (32 << 10) + 1 + rng.below((1 << 20) - (32 << 10) - 1),
        _ => (1 << 20) + rng.below(7 << 20),
    }
}

/// Random allocations, frees and reallocs across tier boundaries, with a
/// shared pool through which blocks change threads.
#[test]
fn mixed_sizes_all_tiers_with_realloc() {
    const THREADS: usize = 3;
    let deadline = Instant::now() + TEST_TIME;
    let pool: Arc<Mutex<Vec<Blk>>> = Arc::new(Mutex::new(Vec::new()));
    let ts: Vec<_> = (0..THREADS as u64)
        .map(|t| {
            let pool = pool.clone();
            thread::spawn(move || {
                let mut rng = Rng::new(5000 + t);
                let mut mine: Vec<Blk> = Vec::new();
                let mut reallocs = 0usize;
                while Instant::now() < deadline {
                    for _ in 0..200 {
                        match rng.below(10) {
                            0..=3 if mine.len() < 200 => mine.push(new_block(any_size(&mut rng))),
                            4..=5 if !mine.is_empty() => {
                                let i = rng.below(mine.len());
                                drop_block(mine.swap_remove(i), "mixed free");
                            }
                            6..=7 if !mine.is_empty() => {
                                // realloc, often across a tier boundary.
                                let i = rng.below(mine.len());
                                let Blk(p, old) = mine[i];
                                check(p as *const u8, old, p, "before realloc");
                                let new = any_size(&mut rng);
                                // SAFETY: a live block we own.
                                let q = unsafe { hakmem::realloc(p as *mut u8, new) };
                                assert!(!q.is_null(), "realloc({old} -> {new}) failed");
                                // The kept prefix still holds the old block's pattern.
                                check_prefix(q, old, old.min(new), p, "after realloc");
                                fill(q, new, q as usize);
                                mine[i] = Blk(q as usize, new);
                                reallocs += 1;
                            }
                            8 if !mine.is_empty() => {
                                let i = rng.below(mine.len());
                                pool.lock().unwrap().push(mine.swap_remove(i));
                            }
                            _ => {
                                if let Some(b) = pool.lock().unwrap().pop() {
                                    mine.push(b);
                                }
                            }
                        }
                    }
                }
                for b in mine {
                    drop_block(b, "mixed final");
                }
                reallocs
            })
        })
        .collect();
    let reallocs: usize = ts.into_iter().map(|t| t.join().unwrap()).sum();
    for b in pool.lock().unwrap().drain(..) {
        drop_block(b, "pool final");
    }
    assert!(reallocs > 0);
    check_tiers();
}

/// Vectors grown by realloc 1.5x at a time from 16 B to 1..6 MiB, in four
/// threads at once, then freed by another thread: blocks move into
/// mappings of their own past `REALLOC_MAP_MIN` concurrently, grow in
/// place and by `mremap`, and reuse each other's cached mappings; every
/// step checks the kept prefix.
#[test]
fn concurrent_vectors_grown_by_realloc() {
    const THREADS: u64 = 4;
    let deadline = Instant::now() + TEST_TIME / 2;
    let (tx, rx) = std::sync::mpsc::channel::<Blk>();
    let ts: Vec<_> = (0..THREADS)
        .map(|t| {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut rng = Rng::new(9000 + t);
                let mut grown = 0usize;
                while Instant::now() < deadline {
                    let limit = (1 << 20) + rng.below(5 << 20);
                    let mut b = new_block(16);
                    while b.1 < limit {
                        let new = b.1 + b.1 / 2 + rng.below(64);
                        // SAFETY: a live block we own.
                        let q = unsafe { hakmem::realloc(b.0 as *mut u8, new) };
                        assert!(!q.is_null(), "realloc({} -> {new}) failed", b.1);
                        check_prefix(q, b.1, b.1, b.0, "vector after realloc");
                        fill(q, new, q as usize);
                        b = Blk(q as usize, new);
                        grown += 1;
                    }
                    tx.send(b).unwrap();
                }
                grown
            })
        })
        .collect();
    drop(tx);
    let mut freed = 0;
    for b in rx {
        drop_block(b, "grown vector");
        freed += 1;
    }
    let grown: usize = ts.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(freed >= THREADS as usize && grown > 0);
    check_tiers();
}

/// Walks the slab tiers' lists of empty pages (`SlabTier::check`: links,
/// counts, owners and every free page's free list) and the big-block cache
/// (`hak_bigcache::check`: entries, states, byte counts, segment-map
/// registration); this test binary builds with debug assertions. Other
/// tests run meanwhile: each check holds its tier's lock.
fn check_tiers() {
    for tier in [&hak_tiny::TINY, &hak_pool::L2, &hak_pool::L25] {
        tier.check();
    }
    hak_bigcache::check();
}

/// Sanity of the helpers themselves (a corrupted word is reported).
#[test]
#[should_panic(expected = "corrupted")]
fn pattern_check_catches_corruption() {
    let b = new_block(100);
    // SAFETY: inside the block.
    unsafe { *(b.0 as *mut u8).add(17) ^= 1 };
    check(b.0 as *const u8, b.1, b.0, "self-test");
}
