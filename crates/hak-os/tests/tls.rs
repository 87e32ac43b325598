//! `tls`: a block declared by the using crate, its pointer word and tick,
//! per thread.

use hak_os::tls;

/// What every thread's pointer word starts as.
static INITIAL: [u64; 2] = [0; 2];

hak_os::tls_block!(INITIAL);

fn initial() -> *mut () {
    &INITIAL as *const [u64; 2] as *mut ()
}

#[test]
fn pointer_word_starts_at_the_initial_symbol_in_every_thread() {
    let b = tls::block();
    assert_eq!(b, tls::block());
    assert_eq!(tls::get(b), initial());
    let mut here = 0u64;
    tls::set(b, &mut here as *mut u64 as *mut ());
    assert_eq!(tls::get(tls::block()), &mut here as *mut u64 as *mut ());
    // Another thread has its own block, initialised from the image.
    let other = std::thread::spawn(|| {
        let b = tls::block();
        let first = tls::get(b) as usize;
        tls::set(b, 8 as *mut ());
        (first, tls::get(b) as usize)
    })
    .join()
    .unwrap();
    assert_eq!(other, (initial() as usize, 8));
    assert_eq!(tls::get(b), &mut here as *mut u64 as *mut ());
    tls::set(b, initial());
}

/// Counts `n` operations down with `on_tick!`, returning at which ones the
/// tick ran out.
fn tick(n: u32) -> Vec<u32> {
    let mut due = Vec::new();
    for i in 1..=n {
        let b = tls::block();
        hak_os::tls::on_tick!(b, {
            due.push(i);
            tls::set_tick(b, 3);
        });
    }
    due
}

#[test]
fn tick_runs_due_when_it_reaches_zero() {
    std::thread::spawn(|| {
        // A new thread's tick starts at 0: the first count winds it to
        // u32::MAX, harmlessly.
        tls::set_tick(tls::block(), 2);
        assert_eq!(tick(9), [2, 5, 8]);
        // The root path of the macro works too.
        tls::set_tick(tls::block(), 1);
        let mut ran = false;
        hak_os::on_tick!(tls::block(), {
            ran = true;
        });
        assert!(ran);
    })
    .join()
    .unwrap();
    // The tick is per thread, and the pointer word is untouched by it.
    tls::set_tick(tls::block(), 1);
    assert_eq!(tick(1), [1]);
    assert_eq!(tls::get(tls::block()), initial());
}
