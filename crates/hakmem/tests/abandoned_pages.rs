//! Regression test: pages abandoned by an exited thread whose blocks are
//! then all freed by threads that cannot adopt them (no hakmem context: they
//! never allocated) must go back to the tier. Before the reclaim protocol
//! (hak-slab `reclaim`), such frees only pushed onto the abandoned pages'
//! remote lists and the pages leaked for the life of the process (loom model
//! `abandon_vs_remote_frees`). Its own test binary: it reads the process-wide
//! tiny tier's page counters.

use std::thread;

#[test]
fn abandoned_pages_freed_without_a_context_return_to_the_tier() {
    // Make sure hakmem is initialised and this thread has a context, so the
    // baseline below includes our own current pages.
    let warm = hakmem::alloc(16);
    let before = hak_tiny::TINY.pages_in_use();
    // A thread allocates blocks over several pages and exits: its pages are
    // abandoned with every block still out.
    let blocks: Vec<usize> = thread::spawn(|| (0..5000).map(|_| hakmem::alloc(64) as usize).collect()).join().unwrap();
    assert!(hak_tiny::TINY.pages_in_use() > before, "the blocks took pages");
    // A thread that never allocated through hakmem (no context) frees them all.
    thread::spawn(move || {
        for b in blocks {
            // SAFETY: live hakmem blocks handed to us.
            assert!(unsafe { hakmem::free(b as *mut u8) });
        }
    })
    .join()
    .unwrap();
    assert_eq!(
        hak_tiny::TINY.pages_in_use(),
        before,
        "pages of the exited thread stayed abandoned after all their blocks were freed"
    );
    // SAFETY: our own block.
    unsafe { hakmem::free(warm) };
}
