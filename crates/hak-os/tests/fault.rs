//! Fault injection: the n-th mapping attempt fails, the others succeed;
//! `map_aligned` recovers without leaking address space.
//!
//! One test in its own binary, so that no other test maps memory while it
//! compares `/proc/self/maps`.

use hak_os::{fault, map, process};

/// Total bytes mapped by this process, from `/proc/self/maps`, read into
/// `buf` without allocating (the global allocator must not map while we
/// measure).
fn mapped_bytes(buf: &mut [u8]) -> usize {
    let n = process::read_file(c"/proc/self/maps", buf).unwrap();
    assert!(n < buf.len(), "buffer too small for /proc/self/maps");
    let hex = |s: &[u8]| s.iter().fold(0usize, |v, &c| v * 16 + (c as char).to_digit(16).unwrap() as usize);
    buf[..n]
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let range = l.split(|&c| c == b' ').next().unwrap();
            let dash = range.iter().position(|&c| c == b'-').unwrap();
            hex(&range[dash + 1..]) - hex(&range[..dash])
        })
        .sum()
}

#[test]
fn nth_mapping_fails_and_map_aligned_recovers() {
    let ps = map::page_size();
    let mut buf = vec![0u8; 1 << 20];

    // The n-th attempt fails with ENOMEM; those before and after succeed.
    for n in 1..=4u64 {
        assert!(fault::fail_nth_map(n));
        let got: Vec<*mut u8> = (1..=5).map(|_| map::map(ps)).collect();
        // SAFETY: reads this thread's errno.
        let errno = unsafe { *libc::__errno_location() };
        for (i, &p) in got.iter().enumerate() {
            assert_eq!(p.is_null(), i as u64 + 1 == n, "n = {n}, attempt {}", i + 1);
        }
        assert_eq!((fault::attempts(), fault::injected()), (5, 1));
        if n == 4 {
            // The last attempt succeeded; errno still tells of the failure.
            assert_eq!(errno, libc::ENOMEM);
        }
        fault::clear();
        for p in got.into_iter().filter(|p| !p.is_null()) {
            // SAFETY: ours.
            unsafe { map::unmap(p, ps) };
        }
    }

    // fail_map_after: every attempt after the first n fails, until cleared.
    assert!(fault::fail_map_after(2));
    let got: Vec<*mut u8> = (0..5).map(|_| map::map(ps)).collect();
    assert_eq!(got.iter().map(|p| p.is_null()).collect::<Vec<_>>(), [false, false, true, true, true]);
    assert_eq!(fault::injected(), 3);
    fault::clear();
    assert_eq!(fault::attempts(), 0, "a cleared thread counts nothing");
    let p = map::map(ps);
    assert!(!p.is_null());
    for p in got.into_iter().chain([p]).filter(|p| !p.is_null()) {
        // SAFETY: ours.
        unsafe { map::unmap(p, ps) };
    }

    // Other threads are not affected by this thread's injection.
    assert!(fault::fail_map_after(0));
    assert!(map::map(ps).is_null());
    let other = std::thread::spawn(move || {
        let p = map::map(ps);
        let ok = !p.is_null();
        // SAFETY: ours.
        unsafe { map::unmap(p, ps) };
        ok
    });
    assert!(other.join().unwrap());
    fault::clear();

    // Growth by remap_in_place and moves count as attempts; shrinks do not.
    let p = map::map_aligned(4 * ps, 1 << 22);
    assert!(!p.is_null());
    assert!(fault::fail_map_after(0));
    // SAFETY: our mapping (the kernel may or may not have room to grow it;
    // the injected failure answers first).
    unsafe {
        assert!(!map::remap_in_place(p, 4 * ps, 8 * ps));
        assert!(map::remap_in_place(p, 4 * ps, 2 * ps));
        assert!(!map::move_mapping(p, 2 * ps, 2 * ps, p.add(1 << 21)));
    }
    assert_eq!(fault::attempts(), 2);
    fault::clear();
    // SAFETY: ours, two pages now.
    unsafe { map::unmap(p, 2 * ps) };

    // map_aligned: a failure of its first mapping returns null; a failure
    // of the second (the aligned address below the first) falls back to the
    // third (over-reserving), whose failure returns null; none leaves a
    // reservation behind. A 64 MiB alignment makes the kernel's first
    // address almost never aligned, so the later mappings are attempted.
    let (size, align) = (64 << 10, 64 << 20);
    let before = mapped_bytes(&mut buf);
    let mut third_failed = 0;
    for n in [1u64, 2, 3, 1, 2, 3] {
        assert!(fault::fail_nth_map(n));
        let p = map::map_aligned(size, align);
        let attempts = fault::attempts();
        fault::clear();
        if n == 1 || (n == 3 && attempts == 3) {
            assert!(p.is_null(), "n = {n}: attempts {attempts}");
        } else if attempts >= n {
            assert!(!p.is_null() && (p as usize).is_multiple_of(align), "n = {n}: a fallback was not taken");
        }
        if !p.is_null() {
            // SAFETY: ours.
            unsafe { map::unmap(p, size) };
        }
    }
    // Both cheap ways refused (the aligned address below is normally free,
    // so only failing every mapping after the first reaches the third).
    for _ in 0..3 {
        assert!(fault::fail_map_after(1));
        let p = map::map_aligned(size, align);
        let attempts = fault::attempts();
        fault::clear();
        assert!(p.is_null(), "attempts {attempts}");
        third_failed += usize::from(attempts == 3);
    }
    assert!(third_failed > 0, "the over-reserving mapping was never attempted");
    assert_eq!(mapped_bytes(&mut buf), before, "a failed map_aligned leaked address space");
    // And with no failure it still works.
    let p = map::map_aligned(size, align);
    assert!(!p.is_null() && (p as usize).is_multiple_of(align));
    assert_eq!(mapped_bytes(&mut buf), before + size, "the measure sees a mapping");
    // SAFETY: ours.
    unsafe { map::unmap(p, size) };
    assert_eq!(mapped_bytes(&mut buf), before);
}
