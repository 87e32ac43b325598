//! Issue 21's reclaimer pattern with real threads: producers replace random
//! blocks of their live sets and send each replaced block to one thread
//! that only frees them. Every block carries a pattern derived from a
//! serial number unique to its allocation, checked when it is freed, so a
//! block handed out twice (while a batched or hinted page is reused) or
//! written after its free is caught. The memory a user would see: the
//! class's pages in use after the replacements stay close to what the live
//! blocks fill, not several times that (docs/decisions/0039).

use std::sync::mpsc;
use std::thread;

/// 592 bytes, as in `benches/c/reclaim.c` (the tiny tier's 640-byte class).
const SIZE: usize = 592;
const PRODUCERS: u64 = 3;
/// Live blocks per producer.
const LIVE: usize = 3000;
/// Replacements per producer: each live block is replaced about 20 times.
const REPLACEMENTS: usize = 60_000;

/// A seeded generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

/// The pattern word `w` of the block with serial number `serial`.
fn word(serial: u64, w: usize) -> u64 {
    serial.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (w as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93)
}

/// A live block: its address and its serial number.
#[derive(Clone, Copy)]
struct Blk(usize, u64);

fn new_block(serial: u64) -> Blk {
    let p = hakmem::alloc(SIZE) as *mut u64;
    assert!(!p.is_null(), "alloc({SIZE}) failed");
    for w in 0..SIZE / 8 {
        // SAFETY: inside the block.
        unsafe { p.add(w).write(word(serial, w)) };
    }
    Blk(p as usize, serial)
}

fn check_and_free(b: Blk) {
    let p = b.0 as *mut u64;
    for w in 0..SIZE / 8 {
        // SAFETY: inside the live block.
        let v = unsafe { p.add(w).read() };
        assert_eq!(v, word(b.1, w), "block {p:?} (serial {}) corrupted at word {w}", b.1);
    }
    // SAFETY: a live hakmem block we own.
    assert!(unsafe { hakmem::free(p.cast()) });
}

/// The tiny tier's pages serving `SIZE`'s class.
fn class_pages() -> u64 {
    let class = hak_tiny::class_of(SIZE);
    hakmem::snapshot().classes[0][class].pages
}

#[test]
fn pages_freed_by_a_thread_that_only_frees_come_back_to_the_producers() {
    let (to_reclaimer, inbox) = mpsc::sync_channel::<Blk>(1024);
    let reclaimer = thread::spawn(move || {
        // A context of its own (as any thread that allocated once): its
        // frees go through its cache and heap, where they are batched.
        let own = new_block(u64::MAX);
        let mut n = 0u64;
        for b in inbox {
            check_and_free(b);
            n += 1;
        }
        check_and_free(own);
        // Its cached and batched blocks go back to their pages.
        hakmem::thread_flush();
        n
    });
    let mut producers = Vec::new();
    let (sets_tx, sets_rx) = mpsc::channel::<Vec<Blk>>();
    for t in 0..PRODUCERS {
        let to_reclaimer = to_reclaimer.clone();
        let sets_tx = sets_tx.clone();
        producers.push(thread::spawn(move || {
            let mut serial = t << 40;
            let mut rng = Rng::new(t + 1);
            let mut set: Vec<Blk> = (0..LIVE)
                .map(|_| {
                    serial += 1;
                    new_block(serial)
                })
                .collect();
            for _ in 0..REPLACEMENTS {
                let k = rng.below(LIVE);
                serial += 1;
                let old = std::mem::replace(&mut set[k], new_block(serial));
                to_reclaimer.send(old).unwrap();
            }
            // The live set goes to the main thread, which frees it at the
            // end.
            sets_tx.send(set).unwrap();
        }));
    }
    drop((to_reclaimer, sets_tx));
    let sets: Vec<Vec<Blk>> = sets_rx.iter().collect();
    let freed = reclaimer.join().unwrap();
    assert_eq!(freed, PRODUCERS * REPLACEMENTS as u64);
    // Every replaced block is back on its page (the reclaimer flushed);
    // what the class holds now is the live sets' pages.
    let live_pages = (PRODUCERS as usize * LIVE * 640).div_ceil(64 << 10) as u64;
    let pages = class_pages();
    eprintln!("class pages after the run: {pages} for {live_pages} pages of live blocks");
    // Before pages freed into came back (pages abandoned by the producers
    // were adopted by the reclaimer, or never reused, until their last
    // block was freed) this was over 4x.
    assert!(
        pages <= 2 * live_pages,
        "{pages} pages serve the class for {live_pages} pages' worth of live blocks: freed memory not reused"
    );
    for set in sets {
        for b in set {
            check_and_free(b);
        }
    }
    for p in producers {
        p.join().unwrap();
    }
}
