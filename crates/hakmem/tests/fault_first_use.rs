//! The very first use of hakmem in a process, with every mapping refused
//! (a test binary of its own: nothing else here allocates through hakmem,
//! which is not this binary's global allocator). The first allocation
//! initialises hakmem, whose segment map (256 MiB of address space), the
//! metadata arena (the thread's context) and the first segment of each
//! tier all map through `hak_os::map`: each refusal must show as a null,
//! not a crash, and allocation must work as soon as mappings do.

use hak_os::fault;

#[test]
fn the_first_allocation_of_the_process_fails_cleanly_then_everything_works() {
    let sizes = [16, 1000, 5000, 100_000, 1 << 20, 3 << 20];
    assert!(fault::fail_map_after(0));
    for &n in &sizes {
        assert!(hakmem::alloc(n).is_null(), "{n} bytes allocated with every mapping refused");
        assert!(hakmem::alloc_zeroed(n).is_null(), "{n} zeroed bytes allocated with every mapping refused");
        assert!(hakmem::alloc_aligned(n, 4096).is_null(), "{n} aligned bytes allocated with every mapping refused");
        // SAFETY: a null pointer is a plain allocation.
        assert!(unsafe { hakmem::realloc(std::ptr::null_mut(), n) }.is_null());
    }
    assert!(!hakmem::has_context(), "a context was made with every mapping refused");
    let refused = fault::injected();
    fault::clear();
    assert!(refused >= sizes.len() as u64 * 4, "only {refused} mappings were refused");
    // A thread that is not armed works meanwhile (no lock was left held).
    std::thread::spawn(|| {
        let p = hakmem::alloc(100);
        assert!(!p.is_null());
        // SAFETY: a live block, freed once.
        assert!(unsafe { hakmem::free(p) });
    })
    .join()
    .expect("another thread failed to allocate");
    let mut blocks = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        let p = hakmem::alloc(n);
        assert!(!p.is_null(), "no recovery for {n} bytes");
        // SAFETY: a live block of `n` bytes.
        unsafe { std::ptr::write_bytes(p, i as u8 + 1, n) };
        blocks.push((p, n, i as u8 + 1));
    }
    assert!(hakmem::has_context(), "no context after the recovery");
    for (p, n, v) in blocks {
        // SAFETY: a live block of `n` bytes, freed once.
        unsafe {
            assert!(std::slice::from_raw_parts(p, n).iter().all(|&b| b == v), "a block of {n} bytes changed");
            assert!(hakmem::owns(p));
            assert!(hakmem::free(p));
        }
    }
}
