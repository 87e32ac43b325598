//! Behaviour of the router API as a user sees it: contents, alignment,
//! usable sizes, realloc, cross-thread frees, memory returned.

use std::sync::mpsc;

fn fill(p: *mut u8, n: usize, seed: u8) {
    for i in 0..n {
        // SAFETY: the block is live and larger than every index used.
        unsafe { *p.add(i) = seed.wrapping_add(i as u8) };
    }
}

fn check(p: *const u8, n: usize, seed: u8) {
    for i in 0..n {
        // SAFETY: the block is live and larger than every index used.
        assert_eq!(unsafe { *p.add(i) }, seed.wrapping_add(i as u8), "byte {i} of {n}");
    }
}

/// Allocates `size` bytes, fills and checks every byte, checks the usable
/// size, frees.
fn roundtrip(size: usize, seed: u8) {
    let p = hakmem::alloc(size);
    assert!(!p.is_null(), "alloc({size})");
    fill(p, size, seed);
    check(p, size, seed);
    // SAFETY: p is a live block returned by hakmem::alloc.
    assert!(unsafe { hakmem::usable_size(p) } >= size);
    // SAFETY: the block is live, came from hakmem and is freed once.
    unsafe { hakmem::free(p) };
}

#[test]
fn every_small_size_is_usable_and_aligned() {
    let mut blocks = Vec::new();
    for size in (0..70_000).step_by(7) {
        let p = hakmem::alloc(size);
        assert!(!p.is_null());
        assert_eq!(p as usize % 16, 0, "size {size}");
        assert!(hakmem::owns(p));
        // SAFETY: p is a live block returned by hakmem::alloc.
        assert!(unsafe { hakmem::usable_size(p) } >= size);
        fill(p, size.min(4096), size as u8);
        blocks.push((p, size));
    }
    for &(p, size) in &blocks {
        check(p, size.min(4096), size as u8);
        // SAFETY: the block is live, came from hakmem and is freed once.
        assert!(unsafe { hakmem::free(p) });
    }
}

#[test]
fn powers_of_two_up_to_64mib() {
    for shift in 0..=26 {
        roundtrip(1usize << shift, 3);
    }
}

#[test]
fn zero_size_blocks_are_unique() {
    let a = hakmem::alloc(0);
    let b = hakmem::alloc(0);
    assert!(!a.is_null() && !b.is_null() && a != b);
    // SAFETY: a and b are live hakmem blocks, each freed once.
    unsafe {
        hakmem::free(a);
        hakmem::free(b);
    }
}

#[test]
fn aligned_allocation_for_every_power_of_two() {
    for shift in 0..=22 {
        let align = 1usize << shift;
        for size in [1usize, 8, 100, 1000, 5000, 70_000, 2 << 20] {
            let p = hakmem::alloc_aligned(size, align);
            assert!(!p.is_null(), "size {size} align {align}");
            assert_eq!(p as usize % align, 0, "size {size} align {align}");
            fill(p, size, 9);
            check(p, size, 9);
            // SAFETY: the block is live, came from hakmem and is freed once.
            unsafe { hakmem::free(p) };
        }
    }
}

/// The claim behind `hakmem::alloc_aligned_or_report`'s fast path: with
/// every slab tier on, the class of `size` rounded up to `align` has a block
/// size that is a multiple of `align`, for every size and alignment whose
/// rounded size stays in the slab tiers (<= 1 MiB).
#[test]
fn aligned_fast_path_classes_are_multiples() {
    fn block_size(n: usize) -> usize {
        if n <= hak_tiny::MAX_SIZE {
            hak_tiny::SIZES[hak_tiny::class_of(n)] as usize
        } else if n <= hak_pool::L2_MAX {
            hak_pool::L2_SIZES[hak_pool::l2_class_of(n)] as usize
        } else {
            hak_pool::L25_SIZES[hak_pool::l25_class_of(n)] as usize
        }
    }
    let mut align = 32;
    while align <= hak_pool::L25_MAX {
        let mut rounded = align;
        while rounded <= hak_pool::L25_MAX {
            let b = block_size(rounded);
            assert!(
                b >= rounded && b.is_multiple_of(align),
                "align {align}: rounded size {rounded} gets block size {b}"
            );
            rounded += align;
        }
        align *= 2;
    }
    // And the allocations themselves, across every tier boundary.
    for align in [32, 64, 256, 1024, 4096, 65536, 1 << 20] {
        for size in [1, 17, 100, 1000, 1025, 1300, 5000, 32768, 32769, 40000, 300_000, 1 << 20] {
            let p = hakmem::alloc_aligned(size, align);
            assert!(!p.is_null() && (p as usize).is_multiple_of(align), "alloc_aligned({size}, {align}) = {p:?}");
            fill(p, size, 7);
            check(p, size, 7);
            // SAFETY: our block.
            unsafe { hakmem::free(p) };
        }
    }
}

/// `alloc_aligned_or_report` is a safe function: an alignment that is not
/// a power of two (0, 3, 24, huge ones) gives a block of the requested size
/// or null,
/// holding its contents, and never an out-of-range class.
#[test]
fn aligned_or_report_with_an_alignment_of_zero_or_not_a_power_of_two() {
    hakmem::init();
    for align in [0usize, 3, 24, usize::MAX, usize::MAX - 2, (1 << 63) + 1] {
        for size in [1usize, 100, 1000, 5000, 40_000] {
            let p = hakmem::alloc_aligned_or_report(size, align, || {});
            if p.is_null() {
                assert!(align > 1 << 32, "alloc_aligned_or_report({size}, {align}) = null");
                continue;
            }
            // SAFETY: a live block of this allocator.
            let usable = unsafe { hakmem::usable_size(p) };
            assert!(usable >= size, "alloc_aligned_or_report({size}, {align}): usable size {usable}");
            fill(p, size, 9);
            check(p, size, 9);
            // SAFETY: a live block, freed once.
            unsafe { hakmem::free(p) };
        }
    }
}

#[test]
fn realloc_preserves_contents_across_tiers() {
    let mut p = hakmem::alloc(1);
    fill(p, 1, 5);
    let mut size = 1;
    for next in [10, 100, 1000, 1100, 20_000, 40_000, 500_000, 1 << 20, 3 << 20, 20 << 20, 5 << 20, 700_000, 2000, 17] {
        // SAFETY: p is a live hakmem block; the old pointer is not used after a successful call.
        p = unsafe { hakmem::realloc(p, next) };
        assert!(!p.is_null());
        check(p, size.min(next), 5);
        fill(p, next, 5);
        size = next;
    }
    // SAFETY: the block is live, came from hakmem and is freed once.
    unsafe { hakmem::free(p) };
}

#[test]
fn zeroed_after_dirty_reuse() {
    for size in [24, 700, 3000, 50_000, 2 << 20] {
        for _ in 0..20 {
            let p = hakmem::alloc(size);
            // SAFETY: p is a live block of at least `size` bytes.
            unsafe { std::ptr::write_bytes(p, 0xAB, size) };
            // SAFETY: the block is live, came from hakmem and is freed once.
            unsafe { hakmem::free(p) };
            let q = hakmem::alloc_zeroed(size);
            // SAFETY: the block is live and larger than every index used.
            assert!((0..size).all(|i| unsafe { *q.add(i) } == 0), "size {size}");
            // SAFETY: the block is live, came from hakmem and is freed once.
            unsafe { hakmem::free(q) };
        }
    }
}

#[test]
fn foreign_pointers_are_not_touched() {
    let x = 5u64;
    assert!(!hakmem::owns(&x as *const u64 as *const u8));
    // SAFETY: a stack address is not hakmem's: the API must refuse it without touching it.
    assert!(!unsafe { hakmem::free(&x as *const u64 as *mut u8) });
    // SAFETY: free(null) is a no-op by contract.
    assert!(unsafe { hakmem::free(std::ptr::null_mut()) });
    // SAFETY: a stack address is not hakmem's: the API must refuse it without touching it.
    assert_eq!(unsafe { hakmem::usable_size(&x as *const u64 as *const u8) }, 0);
}

#[test]
fn cross_thread_frees_are_reused() {
    struct P(*mut u8, usize);
    // SAFETY: the pointers are live hakmem blocks handed to exactly one other thread.
    unsafe impl Send for P {}
    let (tx, rx) = mpsc::channel::<Vec<P>>();
    let consumer = std::thread::spawn(move || {
        let mut n = 0;
        for batch in rx {
            for P(p, size) in batch {
                check(p, size.min(64), size as u8);
                // SAFETY: the block is live, came from hakmem and is freed once.
                unsafe { hakmem::free(p) };
                n += 1;
            }
        }
        n
    });
    let mut sent = 0;
    for round in 0..200 {
        let mut batch = Vec::new();
        for i in 0..100 {
            let size = [16, 100, 1000, 3000, 40_000][(i + round) % 5];
            let p = hakmem::alloc(size);
            fill(p, size.min(64), size as u8);
            batch.push(P(p, size));
        }
        sent += batch.len();
        tx.send(batch).unwrap();
    }
    drop(tx);
    assert_eq!(consumer.join().unwrap(), sent);
    // Memory freed remotely is collected and reused: a second wave does not
    // need new pages beyond a small slack.
    let before = hak_tiny::TINY.pages_in_use();
    let mut v = Vec::new();
    for _ in 0..10_000 {
        v.push(hakmem::alloc(100));
    }
    for p in v {
        // SAFETY: the block is live, came from hakmem and is freed once.
        unsafe { hakmem::free(p) };
    }
    assert!(hak_tiny::TINY.pages_in_use() <= before + 20);
}

#[test]
fn threads_that_exit_return_their_pages() {
    for _ in 0..50 {
        std::thread::spawn(|| {
            let v: Vec<_> = (0..1000).map(|i| hakmem::alloc(16 + i % 1000)).collect();
            for p in v {
                // SAFETY: the block is live, came from hakmem and is freed once.
                unsafe { hakmem::free(p) };
            }
        })
        .join()
        .unwrap();
    }
    let stats = &hak_tiny::TINY.stats;
    assert!(stats.pages_released.load(std::sync::atomic::Ordering::Relaxed) > 0);
}

/// The tiers partition the sizes: the L2.5 pool ends where big blocks begin.
#[test]
fn pool_and_big_block_limits_meet() {
    assert_eq!(hak_pool::L25_MAX + 1, hak_bigcache::MIN_SIZE);
    for size in [hak_pool::L25_MAX - 1, hak_pool::L25_MAX, hak_bigcache::MIN_SIZE, hak_bigcache::MIN_SIZE + 4096] {
        roundtrip(size, 3);
    }
}

#[test]
fn global_alloc_dealloc_of_a_foreign_pointer_is_reported() {
    // `HakMem` only deallocates what it allocated: anything else is a
    // caller's bug, reported (in a child process, as the report aborts).
    use std::alloc::{GlobalAlloc, Layout};
    if std::env::var_os("HAK_FOREIGN_DEALLOC_CHILD").is_some() {
        let mut on_stack = [0u64; 4];
        // SAFETY: deliberately wrong: a stack address.
        unsafe { hakmem::HakMem.dealloc(on_stack.as_mut_ptr().cast(), Layout::new::<[u64; 4]>()) };
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--exact", "global_alloc_dealloc_of_a_foreign_pointer_is_reported", "--nocapture"])
        .env("HAK_FOREIGN_DEALLOC_CHILD", "1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "a foreign pointer was deallocated without a report");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pointer not allocated by hakmem"), "stderr: {err}");
}

#[test]
fn owns_answers_for_any_address_without_faulting() {
    // From a block of ours up to the main stack, segment by segment (the
    // band the segment map's table leaves unmapped lies in between), and
    // beyond the address space: `owns` (hak_owns) reads no memory it cannot.
    let p = hakmem::alloc(100);
    assert!(hakmem::owns(p));
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    let line = maps.lines().find(|l| l.ends_with("[stack]")).expect("a [stack] line");
    let stack = usize::from_str_radix(line.split('-').next().unwrap(), 16).unwrap();
    let mut a = p as usize;
    while a < stack {
        let _ = hakmem::owns(a as *const u8);
        a += 4 << 20;
    }
    assert!(!hakmem::owns(stack as *const u8), "the stack is not hakmem's");
    for beyond in [1usize << 47, usize::MAX, usize::MAX - 4095] {
        assert!(!hakmem::owns(beyond as *const u8), "{beyond:#x}");
    }
    // SAFETY: a live block, freed once.
    unsafe { hakmem::free(p) };
}
