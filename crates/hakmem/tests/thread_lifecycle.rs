//! A thread's memory before it has a context and after its context was torn
//! down: another library's thread-exit destructor that runs after hakmem's
//! still allocates, resizes and frees (through the global heaps), including
//! blocks the thread allocated while its context lived, for longer than an
//! upkeep interval, without making a new context; and a thread whose first
//! operation is a free frees correctly and gets a context at its first
//! allocation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

/// Sizes of every tier: tiny, L2, L2.5 and big blocks.
const SIZES: [usize; 7] = [16, 100, 1000, 5000, 40_000, 300_000, 2 << 20];

/// Fills `n` bytes at `p` with a pattern derived from `seed`.
fn fill(p: *mut u8, n: usize, seed: usize) {
    for i in (0..n).step_by(97).chain([n - 1]) {
        // SAFETY: p holds n bytes.
        unsafe { *p.add(i) = (i ^ seed) as u8 };
    }
}

/// Whether `fill(p, n, seed)`'s bytes are intact.
fn intact(p: *const u8, n: usize, seed: usize) -> bool {
    // SAFETY: p holds n bytes.
    (0..n).step_by(97).chain([n - 1]).all(|i| unsafe { *p.add(i) } == (i ^ seed) as u8)
}

/// Blocks allocated, resized and freed correctly by the late destructor,
/// plus one for each early block it freed; checked by the test.
static LATE_OK: AtomicUsize = AtomicUsize::new(0);

/// A thread-exit destructor. Its first round re-arms it; the second runs
/// after hakmem's destructor has torn the thread's context down, whatever
/// the order of the keys (glibc runs every key's destructor in a round,
/// and repeats rounds while values are set; hakmem's does not re-arm).
extern "C" fn late(arg: *mut libc::c_void) {
    let state = arg as *mut (libc::pthread_key_t, usize, Vec<usize>);
    // SAFETY: the thread's own leaked state, set below.
    let (key, round, early) = unsafe { &mut *state };
    *round += 1;
    if *round == 1 {
        // SAFETY: re-arms our own key with a non-null value.
        unsafe { libc::pthread_setspecific(*key, state.cast()) };
        return;
    }
    assert!(!hakmem::has_context(), "the context outlived hakmem's destructor");
    // More operations than an upkeep interval: the upkeep tick runs out
    // on the dormant record, which must not be written.
    for i in 0..3000 {
        let p = hakmem::alloc(16 + i % 64);
        assert!(!p.is_null());
        // SAFETY: a live block of at least 16 bytes.
        unsafe {
            p.write(i as u8);
            assert!(hakmem::free(p));
        }
    }
    let a = hakmem::alloc_aligned(100, 4096);
    assert!(!a.is_null() && (a as usize).is_multiple_of(4096));
    // SAFETY: a live block.
    assert!(unsafe { hakmem::free(a) });
    hakmem::thread_flush();
    for (i, &size) in SIZES.iter().enumerate() {
        let p = hakmem::alloc(size);
        assert!(!p.is_null());
        fill(p, size, i);
        // SAFETY: a live block of `size` bytes.
        let q = unsafe { hakmem::realloc(p, size * 3) };
        assert!(!q.is_null());
        assert!(intact(q, size, i), "realloc lost the contents of a {size}-byte block");
        // SAFETY: live hakmem blocks.
        assert!(unsafe { hakmem::free(q) });
        LATE_OK.fetch_add(1, Ordering::Relaxed);
    }
    for (i, &p) in early.iter().enumerate() {
        assert!(
            intact(p as *const u8, SIZES[i], 100 + i),
            "a block lost its contents when its thread's context was torn down"
        );
        // SAFETY: a live hakmem block of this thread.
        assert!(unsafe { hakmem::free(p as *mut u8) });
        LATE_OK.fetch_add(1, Ordering::Relaxed);
    }
    assert!(!hakmem::has_context(), "an exiting thread made a new context (it would leak)");
}

#[test]
fn a_destructor_that_runs_after_hakmems_still_allocates_and_frees() {
    // Initialise hakmem (creating its key) before ours.
    // SAFETY: a fresh block.
    unsafe { hakmem::free(hakmem::alloc(16)) };
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: valid out-parameter and destructor.
    assert_eq!(unsafe { libc::pthread_key_create(&mut key, Some(late)) }, 0);
    thread::spawn(move || {
        let early: Vec<usize> = SIZES
            .iter()
            .enumerate()
            .map(|(i, &size)| {
                let p = hakmem::alloc(size);
                fill(p, size, 100 + i);
                p as usize
            })
            .collect();
        let state = Box::into_raw(Box::new((key, 0usize, early)));
        // SAFETY: our key; the state is leaked to the destructor.
        unsafe { libc::pthread_setspecific(key, state.cast()) };
    })
    .join()
    .unwrap();
    assert_eq!(LATE_OK.load(Ordering::Relaxed), 2 * SIZES.len());
}

#[test]
fn a_thread_whose_first_operation_is_a_free_frees() {
    let blocks: Vec<usize> = SIZES
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let p = hakmem::alloc(size);
            fill(p, size, i);
            p as usize
        })
        .collect();
    thread::spawn(move || {
        for &p in &blocks {
            // SAFETY: live hakmem blocks handed to this thread.
            assert!(unsafe { hakmem::free(p as *mut u8) });
        }
        assert!(!hakmem::has_context(), "freeing made a context");
        // Then it allocates: its context is made now, and works.
        // SAFETY: a fresh block.
        unsafe { hakmem::free(hakmem::alloc(16)) };
        assert!(hakmem::has_context());
        for (i, &size) in SIZES.iter().enumerate() {
            let p = hakmem::alloc(size);
            fill(p, size, i);
            assert!(intact(p, size, i));
            // SAFETY: a live block.
            assert!(unsafe { hakmem::free(p) });
        }
    })
    .join()
    .unwrap();
    // The freed memory is reusable here.
    for (i, &size) in SIZES.iter().enumerate() {
        let p = hakmem::alloc(size);
        fill(p, size, i);
        assert!(intact(p, size, i));
        // SAFETY: a live block.
        assert!(unsafe { hakmem::free(p) });
    }
}
