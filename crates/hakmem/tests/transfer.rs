//! Transfer slots (decision 0052, `HAKMEM_TRANSFER=1`, set before the
//! first allocation of this binary) with real threads: a producer allocates
//! blocks and a consumer frees them, so the consumer's bin fills and goes
//! to its slot's transfer while the producer's bin is empty and takes it.
//! Every block carries a pattern from a serial number unique to its
//! allocation, checked when it is freed: a block handed out twice, or
//! whose contents a transfer changed, is caught. Afterwards `trim` gives
//! every chain back to its pages: no block stays counted as cached.

use std::sync::mpsc;
use std::thread;

/// 100 bytes: the tiny tier's 112-byte class.
const SIZE: usize = 100;
const BATCH: usize = 64;
const BATCHES: usize = 4000;

fn word(serial: u64, w: usize) -> u64 {
    serial.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (w as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93)
}

#[test]
fn blocks_freed_by_a_consumer_come_back_to_the_producer_intact() {
    // Before the first allocation: the configuration is read once.
    std::env::set_var("HAKMEM_TRANSFER", "1");
    assert!(hak_config::get().tunables.transfer, "HAKMEM_TRANSFER=1 not read");
    let (tx, rx) = mpsc::sync_channel::<Vec<(usize, u64)>>(16);
    let producer = thread::spawn(move || {
        let mut serial = 0u64;
        for _ in 0..BATCHES {
            let mut batch = Vec::with_capacity(BATCH);
            for _ in 0..BATCH {
                let p = hakmem::alloc(SIZE) as *mut u64;
                assert!(!p.is_null());
                assert_eq!(p as usize % 16, 0, "alignment");
                for w in 0..SIZE / 8 {
                    // SAFETY: inside the block.
                    unsafe { p.add(w).write(word(serial, w)) };
                }
                batch.push((p as usize, serial));
                serial += 1;
            }
            tx.send(batch).unwrap();
        }
        hakmem::thread_flush();
    });
    let consumer = thread::spawn(move || {
        let mut freed = 0usize;
        // A block of its own first, so the consumer has a context (and bins).
        // SAFETY: a block just allocated.
        unsafe { hakmem::free(hakmem::alloc(SIZE)) };
        for batch in rx {
            for (p, serial) in batch {
                let q = p as *mut u64;
                for w in 0..SIZE / 8 {
                    // SAFETY: inside the live block.
                    let got = unsafe { q.add(w).read() };
                    assert_eq!(got, word(serial, w), "block {p:#x} (serial {serial}) changed while live");
                }
                // SAFETY: a live block of ours.
                unsafe { hakmem::free(q.cast()) };
                freed += 1;
            }
        }
        hakmem::thread_flush();
        freed
    });
    producer.join().unwrap();
    assert_eq!(consumer.join().unwrap(), BATCH * BATCHES);
    hakmem::trim();
    let st = hakmem::snapshot();
    let tiny = &st.classes[0];
    let class = tiny.iter().find(|c| c.block_size == 112).expect("a 112-byte class");
    assert_eq!(class.cached, 0, "blocks still cached or in transfer chains after trim: {class:?}");
    assert_eq!(class.live, 0, "blocks counted live after every free and a trim: {class:?}");
}
