//! A thread's memory before it has a context and after its context was torn
//! down: another library's thread-exit destructor that runs after hakmem's
//! still allocates, resizes and frees (through the global heaps), including
//! blocks the thread allocated while its context lived; and a thread whose
//! first operation is a free frees correctly. Its own test binary: the
//! destructor order it relies on needs hakmem's key to be created first.

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

/// The destructor of a key created after hakmem's. Its first round re-arms
/// it; the second round runs after hakmem's destructor has torn the
/// thread's context down (glibc runs destructors in key order, round after
/// round, while values are set).
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
        assert!(intact(p as *const u8, SIZES[i], 100 + i), "a block lost its contents when its thread's context was torn down");
        // SAFETY: a live hakmem block of this thread.
        assert!(unsafe { hakmem::free(p as *mut u8) });
        LATE_OK.fetch_add(1, Ordering::Relaxed);
    }
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
        // Then it allocates: its context is made now, and works.
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
