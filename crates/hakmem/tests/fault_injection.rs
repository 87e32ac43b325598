//! Out-of-memory paths driven by the platform layer's fault injection
//! (`hak_os::fault`, feature `fault-injection`, on for this test build
//! only): a refused mapping makes the allocation return null, nothing
//! crashes, nothing already allocated is lost, and allocation works again
//! once the kernel (here: the injector) gives memory again.
//!
//! Injection is per thread: each test arms and clears its own thread.

use hak_os::fault;

/// Fills `n` bytes at `p` with a pattern derived from `seed`.
fn fill(p: *mut u8, n: usize, seed: u8) {
    // SAFETY: the caller passes a live block of at least `n` bytes.
    unsafe { std::slice::from_raw_parts_mut(p, n) }.iter_mut().enumerate().for_each(|(i, b)| *b = seed ^ i as u8);
}

fn intact(p: *const u8, n: usize, seed: u8) -> bool {
    // SAFETY: the caller passes a live block of at least `n` bytes.
    unsafe { std::slice::from_raw_parts(p, n) }.iter().enumerate().all(|(i, &b)| b == seed ^ i as u8)
}

#[test]
fn a_refused_big_mapping_returns_null_and_the_next_one_succeeds() {
    let _serial = serial();
    // Larger than the big-block cache holds (256 MiB), so never a reuse.
    let size = 300 << 20;
    let keep = hakmem::alloc(4 << 20);
    assert!(!keep.is_null());
    fill(keep, 4 << 20, 7);
    assert!(fault::fail_map_after(0));
    let p = hakmem::alloc(size);
    let failures = fault::injected();
    fault::clear();
    assert!(p.is_null(), "allocation succeeded although every mapping was refused");
    assert!(failures >= 1);
    assert!(intact(keep, 4 << 20, 7), "a live block changed during the failure");
    let q = hakmem::alloc(size);
    assert!(!q.is_null(), "no recovery after the mappings were allowed again");
    // Touch its first and last page.
    // SAFETY: q is a live block of `size` bytes.
    unsafe {
        *q = 1;
        *q.add(size - 1) = 2;
        hakmem::free(q);
        hakmem::free(keep);
    }
}

#[test]
fn a_slab_tier_without_new_segments_returns_null_then_recovers() {
    let _serial = serial();
    // 1 MiB blocks (L2.5, one per page, never thread-cached): 300 of them
    // need more segments than the test process has, so a refused segment
    // mapping must show up as a null from the allocator.
    const SIZE: usize = 1 << 20;
    const MAX: usize = 300;
    let mut blocks = Vec::with_capacity(MAX);
    assert!(fault::fail_map_after(0));
    let mut got_null = false;
    for i in 0..MAX {
        let p = hakmem::alloc(SIZE);
        if p.is_null() {
            got_null = true;
            break;
        }
        fill(p, 4096, i as u8);
        blocks.push(p);
    }
    fault::clear();
    assert!(got_null, "{} MiB allocated with every mapping refused", blocks.len());
    for (i, &p) in blocks.iter().enumerate() {
        assert!(intact(p, 4096, i as u8), "block {i} changed");
    }
    // Memory again: the tier grows.
    let more: Vec<*mut u8> = (0..8).map(|_| hakmem::alloc(SIZE)).collect();
    assert!(more.iter().all(|p| !p.is_null()), "no recovery after the mappings were allowed again");
    for p in blocks.into_iter().chain(more) {
        // SAFETY: live blocks of this test, each freed once.
        unsafe { hakmem::free(p) };
    }
}

#[test]
fn realloc_that_cannot_map_keeps_the_old_block() {
    let _serial = serial();
    let old = 512 << 10;
    let p = hakmem::alloc(old);
    assert!(!p.is_null());
    fill(p, old, 3);
    assert!(fault::fail_map_after(0));
    // SAFETY: p is a live block; on failure it stays valid.
    let q = unsafe { hakmem::realloc(p, 400 << 20) };
    fault::clear();
    assert!(q.is_null(), "realloc grew with every mapping refused");
    assert!(intact(p, old, 3), "the old block changed after a failed realloc");
    // SAFETY: p is still live.
    unsafe { hakmem::free(p) };
}

// ------------------------------------------------------------------------
// Every allocation path, with every mapping of the calling thread refused.
//
// A request needs new memory only when the memory hakmem already has runs
// out (free pages of the tier, abandoned pages, cached big mappings, room
// in the metadata arena), and other tests of this binary leave some behind.
// So each case first allocates with the request under test until it
// returns null, which ends once what exists is used up: that null is a
// refused mapping (the injector counts it), never a crash. Then: blocks
// allocated before are intact; another thread allocates and frees in every
// tier at once (no lock was left held); the same thread does too once
// cleared, and the same request succeeds.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// One block per tier (tiny, L2, L2.5, big), checked after each failure.
const TIER_SIZES: [usize; 4] = [48, 5000, 200_000, 3 << 20];

/// A deadlock (a lock left held by a failed path) fails the test after this
/// long instead of hanging it.
const DEADLOCK: Duration = Duration::from_secs(60);

/// Arms the calling thread for as long as it lives: every mapping attempt
/// after the first `n` fails. Clears on drop, also when a check panics (a
/// thread must not exit armed: a later one may get its id).
struct Armed;

impl Armed {
    fn after(n: u64) -> Armed {
        assert!(fault::fail_map_after(n), "too many armed threads");
        Armed
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        fault::clear();
    }
}

/// Runs the tests of this binary one at a time: a test that exhausts a
/// class must not get blocks that another test's thread freed meanwhile
/// and handed to the transfer slots (decision 0052).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` on a fresh thread (whose context hakmem has not made yet) and
/// returns its result; fails if it does not finish within [`DEADLOCK`].
/// The thread gives back the bins it handed to the transfer slots before it
/// ends (decision 0052).
fn on_fresh_thread<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let h = thread::spawn(move || {
        let v = f();
        hakmem::thread_flush();
        let _ = tx.send(v);
    });
    match rx.recv_timeout(DEADLOCK) {
        Ok(v) => {
            h.join().expect("thread");
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => std::panic::resume_unwind(h.join().unwrap_err()),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: not done after {DEADLOCK:?} (a lock left held?)"),
    }
}

/// Blocks of every tier, filled, to check after a failure.
struct Witnesses(Vec<(*mut u8, usize, u8)>);

// SAFETY: plain addresses of live blocks, which any thread may read and free.
unsafe impl Send for Witnesses {}

impl Witnesses {
    fn new(seed: u8) -> Witnesses {
        Witnesses(
            TIER_SIZES
                .iter()
                .enumerate()
                .map(|(i, &n)| {
                    let p = hakmem::alloc(n);
                    assert!(!p.is_null(), "allocation of {n} bytes before the failure");
                    fill(p, n, seed.wrapping_add(i as u8));
                    (p, n, seed.wrapping_add(i as u8))
                })
                .collect(),
        )
    }

    fn check(&self, when: &str) {
        for &(p, n, seed) in &self.0 {
            assert!(intact(p, n, seed), "{when}: a block of {n} bytes allocated before changed");
        }
    }

    fn free(self) {
        for (p, _, _) in self.0 {
            // SAFETY: live blocks of this test, each freed once.
            assert!(unsafe { hakmem::free(p) });
        }
    }
}

/// Allocates, fills, checks and frees a block of every tier (and an
/// aligned one, and a realloc'd one).
fn every_tier_works(who: &str) {
    for (i, &n) in TIER_SIZES.iter().enumerate() {
        let p = hakmem::alloc(n);
        assert!(!p.is_null(), "{who}: allocation of {n} bytes failed");
        fill(p, n, i as u8);
        // SAFETY: a live block of `n` bytes, resized then freed once.
        unsafe {
            let q = hakmem::realloc(p, n * 2);
            assert!(!q.is_null(), "{who}: realloc of {n} to {} bytes failed", n * 2);
            assert!(intact(q, n, i as u8), "{who}: realloc lost the contents of a {n}-byte block");
            assert!(hakmem::free(q));
        }
        let a = hakmem::alloc_aligned(n, 4096);
        assert!(!a.is_null() && (a as usize).is_multiple_of(4096), "{who}: aligned allocation of {n} bytes");
        // SAFETY: a live block, freed once.
        assert!(unsafe { hakmem::free(a) });
    }
}

/// Another thread allocates and frees in every tier right now.
fn another_thread_works() {
    on_fresh_thread("another thread after the failure", || every_tier_works("another thread"));
}

/// With every mapping refused, calls `request` until it returns null (at
/// most `max` times) and returns the blocks it gave before. Fails if no
/// null came or no mapping was refused (the null had another cause).
fn exhaust(what: &str, max: usize, mut request: impl FnMut() -> *mut u8) -> Vec<*mut u8> {
    let mut got = Vec::new();
    for _ in 0..max {
        let p = request();
        if p.is_null() {
            assert!(fault::injected() >= 1, "{what}: null without a refused mapping");
            return got;
        }
        got.push(p);
    }
    panic!("{what}: {max} requests succeeded with every mapping refused");
}

fn free_blocks(blocks: Vec<*mut u8>) {
    for p in blocks {
        // SAFETY: live blocks of the calling test, each freed once.
        assert!(unsafe { hakmem::free(p) });
    }
}

/// The scenario of this section for one request: `request` allocates
/// `size` usable bytes (at most `max` times before the memory hakmem has
/// runs out). It runs on a fresh thread armed before its first call into
/// hakmem, so its context needs a record of the metadata arena; with
/// `starve_meta` the arena's records are used up first, so that making the
/// context needs a mapping too (refused: the thread goes on without one).
fn refused_then_recovers(what: &'static str, size: usize, max: usize, starve_meta: bool, request: fn() -> *mut u8) {
    let before = Witnesses::new(0x40);
    on_fresh_thread(what, move || {
        let armed = Armed::after(0);
        // Records of a thread context's size from the metadata arena
        // (its free list, then its chunk) until it would need a mapping.
        let ctx_size = std::mem::size_of::<hakmem::ThreadCtx>();
        let mut records = Vec::new();
        if starve_meta {
            loop {
                let r = hak_os::meta::alloc(ctx_size);
                if r.is_null() {
                    break;
                }
                records.push(r);
                assert!(records.len() < 1 << 16, "{what}: the metadata arena never ran out");
            }
        }
        let got = exhaust(what, max, request);
        before.check(what);
        another_thread_works();
        drop(armed);
        for r in records {
            // SAFETY: records of this size from the arena, unused.
            unsafe { hak_os::meta::free(r, ctx_size) };
        }
        free_blocks(got);
        let p = request();
        assert!(!p.is_null(), "{what}: no recovery once mappings are allowed again");
        fill(p, size, 9);
        assert!(intact(p, size, 9));
        free_blocks(vec![p]);
        every_tier_works(what);
        assert!(hakmem::has_context(), "{what}: the thread has no context after the recovery");
        before.check(what);
        before.free();
    });
}

#[test]
fn tiny_in_a_fresh_thread_whose_context_needs_memory() {
    let _serial = serial();
    refused_then_recovers("tiny, fresh thread", 512, 1 << 21, true, || hakmem::alloc(512));
}

#[test]
fn tiny_in_a_fresh_thread() {
    let _serial = serial();
    refused_then_recovers("tiny", 16, 1 << 23, false, || hakmem::alloc(16));
}

#[test]
fn l2_pool_refused() {
    let _serial = serial();
    refused_then_recovers("L2", 20_000, 1 << 16, false, || hakmem::alloc(20_000));
}

#[test]
fn l25_pool_refused() {
    let _serial = serial();
    refused_then_recovers("L2.5", 600_000, 1 << 13, false, || hakmem::alloc(600_000));
}

#[test]
fn big_refused() {
    let _serial = serial();
    // Within the big-block cache's sizes: cached mappings are used up first.
    refused_then_recovers("big", 3 << 20, 1 << 10, false, || hakmem::alloc(3 << 20));
}

#[test]
fn zeroed_refused() {
    let _serial = serial();
    for (what, size, max, request) in [
        ("zeroed tiny", 700, 1 << 21, (|| hakmem::alloc_zeroed(700)) as fn() -> *mut u8),
        ("zeroed L2.5", 100_000, 1 << 14, || hakmem::alloc_zeroed(100_000)),
        ("zeroed big", 5 << 20, 1 << 10, || hakmem::alloc_zeroed(5 << 20)),
    ] {
        refused_then_recovers(what, size, max, false, request);
        // The recovered request gives zeroed memory, also when it reuses
        // the blocks freed above (written by the checks).
        let p = request();
        assert!(!p.is_null());
        // SAFETY: a live block of `size` bytes, freed once.
        unsafe {
            assert!(std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0), "{what}: not zeroed");
            assert!(hakmem::free(p));
        }
    }
}

#[test]
fn aligned_refused() {
    let _serial = serial();
    for (what, align, size, max, request) in [
        ("aligned 64", 64, 200, 1 << 21, (|| hakmem::alloc_aligned(200, 64)) as fn() -> *mut u8),
        ("aligned 4096", 4096, 3000, 1 << 17, || hakmem::alloc_aligned(3000, 4096)),
        ("aligned 2 MiB", 2 << 20, 100, 1 << 10, || hakmem::alloc_aligned(100, 2 << 20)),
    ] {
        refused_then_recovers(what, size, max, false, request);
        let p = request();
        assert!(!p.is_null() && (p as usize).is_multiple_of(align), "{what}: misaligned after the recovery");
        // SAFETY: a live block, freed once.
        assert!(unsafe { hakmem::free(p) });
    }
}

/// `realloc` from `from` to `to` bytes when it cannot stay in place and
/// the destination needs a mapping: null, the old block intact and still
/// usable; after clearing, the same realloc moves it with its contents.
fn realloc_refused(what: &'static str, from: usize, to: usize, max: usize) {
    let before = Witnesses::new(0x60);
    on_fresh_thread(what, move || {
        let p = hakmem::alloc(from);
        assert!(!p.is_null());
        fill(p, from, 5);
        let armed = Armed::after(0);
        // What the destination's tier has, so that the move needs a mapping.
        let got = exhaust(what, max, || hakmem::alloc(to));
        // SAFETY: p is live; on failure it stays valid.
        let q = unsafe { hakmem::realloc(p, to) };
        assert!(q.is_null(), "{what}: realloc succeeded with every mapping refused");
        assert!(intact(p, from, 5), "{what}: the old block changed after a failed realloc");
        before.check(what);
        another_thread_works();
        drop(armed);
        free_blocks(got);
        // SAFETY: p is still live; it moves (or fails, which the test reports).
        let q = unsafe { hakmem::realloc(p, to) };
        assert!(!q.is_null(), "{what}: no recovery once mappings are allowed again");
        assert!(intact(q, from, 5), "{what}: contents lost by the move");
        fill(q, to, 6);
        free_blocks(vec![q]);
        every_tier_works(what);
        before.check(what);
        before.free();
    });
}

#[test]
fn realloc_tiny_to_l2_refused() {
    let _serial = serial();
    realloc_refused("realloc tiny -> L2", 300, 20_000, 1 << 16);
}

#[test]
fn realloc_l25_to_big_refused() {
    let _serial = serial();
    // Grown past REALLOC_MAP_MIN: a mapping of its own is tried first,
    // then the big tier itself.
    realloc_refused("realloc L2.5 -> big", 100_000, 3 << 20, 1 << 10);
}

#[test]
fn realloc_big_to_bigger_refused() {
    let _serial = serial();
    // A 3 MiB block cannot grow in place to 40 MiB; mremap and the move of
    // its mapping are refused, and so is a new block.
    realloc_refused("realloc big -> big", 3 << 20, 40 << 20, 1 << 8);
}

/// A thread whose mappings are refused from its `n`-th on, for several
/// `n`, in the middle of a multi-threaded churn: its allocations may fail,
/// the others' never do, nobody's blocks change, nothing deadlocks.
#[test]
fn a_refused_mapping_in_a_multithreaded_churn_never_hurts_the_others() {
    let _serial = serial();
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    const SIZES: [usize; 8] = [16, 200, 1000, 4000, 30_000, 100_000, 700_000, 2 << 20];
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3u8)
        .map(|w| {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut slots: Vec<(*mut u8, usize, u8)> = vec![(std::ptr::null_mut(), 0, 0); 64];
                let mut ops = 0u32;
                let mut r = 0x9E37_79B9u32.wrapping_mul(w as u32 + 1);
                while !stop.load(Ordering::Relaxed) || ops < 2000 {
                    r ^= r << 13;
                    r ^= r >> 17;
                    r ^= r << 5;
                    let k = (r % 64) as usize;
                    let (p, n, seed) = slots[k];
                    if !p.is_null() {
                        assert!(intact(p, n.min(256), seed), "worker {w}: a block changed");
                        // SAFETY: a live block of this worker, freed once.
                        assert!(unsafe { hakmem::free(p) });
                    }
                    let n = SIZES[(r >> 8) as usize % SIZES.len()];
                    let p = hakmem::alloc(n);
                    assert!(!p.is_null(), "worker {w}: allocation of {n} bytes failed");
                    fill(p, n.min(256), r as u8);
                    slots[k] = (p, n, r as u8);
                    ops += 1;
                }
                for (p, _, _) in slots {
                    if !p.is_null() {
                        // SAFETY: live blocks of this worker.
                        assert!(unsafe { hakmem::free(p) });
                    }
                }
                ops
            })
        })
        .collect();
    let (nulls, refused) = on_fresh_thread("the armed thread", || {
        let (mut nulls, mut refused) = (0u64, 0u64);
        for n in [0u64, 1, 2, 3, 5, 8, 13] {
            let armed = Armed::after(n);
            let mut held = Vec::new();
            for i in 0..400usize {
                // Every 16th request is larger than the big-block cache
                // holds: a new mapping, so the n-th refusal comes for sure.
                let size = if i % 16 == 15 { 300 << 20 } else { SIZES[i % SIZES.len()] };
                let p = hakmem::alloc(size);
                if p.is_null() {
                    nulls += 1;
                    continue;
                }
                fill(p, size.min(256), i as u8);
                held.push((p, size, i as u8));
            }
            refused += fault::injected();
            drop(armed);
            for (p, size, seed) in held {
                assert!(intact(p, size.min(256), seed), "armed thread (n = {n}): a block changed");
                // SAFETY: live blocks of this thread, freed once.
                assert!(unsafe { hakmem::free(p) });
            }
            every_tier_works("the armed thread after clearing");
        }
        (nulls, refused)
    });
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        assert!(w.join().expect("a worker failed") >= 2000);
    }
    assert!(refused > 0 && nulls > 0, "no refusal reached the armed thread ({refused} refused, {nulls} nulls)");
}
