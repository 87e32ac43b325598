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
