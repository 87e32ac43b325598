//! Big blocks are charged close to their size (decision 0048): a block's
//! mapping ends at its last page rounded to one of eight sizes per doubling,
//! not at the end of a 4 MiB segment, so that the kernel's commit charge
//! (`VmData`, what `vm.overcommit_memory=2` counts) and address space
//! (what `ulimit -v` counts) follow what the program asked for. The rest
//! of the mapping's last segment is not hakmem's: memory another library
//! maps there is told apart from hakmem's. One test (the process's big
//! tier and address space are shared by the tests of a binary).

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
const SEGMENT: usize = 4 * MIB;
/// The foreign mapping placed right after a block's mapping: one page (the
/// gap the kernel leaves there may be small).
const FOREIGN: usize = 4 * KIB;

/// The process's `VmData` (private writable mappings, the commit charge),
/// in bytes.
fn vm_data() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = s.lines().find(|l| l.starts_with("VmData:")).expect("VmData line");
    let kib: usize = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmData value");
    kib * KIB
}

/// Maps `len` bytes at exactly `at` without replacing anything there; null
/// when the range is taken.
fn map_exactly_at(at: usize, len: usize) -> *mut u8 {
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
    let p = unsafe {
        libc::mmap(
            at as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED || p as usize != at {
        if p != libc::MAP_FAILED {
            // SAFETY: the kernel placed it elsewhere (an old kernel ignoring
            // the flag): ours to unmap.
            unsafe { libc::munmap(p, len) };
        }
        return std::ptr::null_mut();
    }
    p.cast()
}

#[test]
fn big_blocks_are_charged_close_to_their_size_and_end_where_their_mapping_does() {
    // Charge: each fresh block adds at most an eighth more than its size
    // (plus its record's metadata) to VmData; a segment each would add
    // 4 MiB for the 1.1 MiB block and 8 MiB for the 4.1 MiB one.
    let mut held = Vec::new();
    for size in [MIB + 100 * KIB, 2 * MIB + 1, 4 * MIB + 100 * KIB, 9 * MIB] {
        let before = vm_data();
        let p = hakmem::alloc(size);
        assert!(!p.is_null(), "alloc({size}) failed");
        // SAFETY: a live block of `size` bytes; touch its first and last byte.
        unsafe {
            *p = 1;
            *p.add(size - 1) = 2;
        }
        let charged = vm_data() - before;
        assert!(
            charged <= size + size / 8 + 256 * KIB,
            "a block of {size} bytes added {charged} bytes to VmData (more than an eighth over its size)"
        );
        held.push((p, size));
    }

    // The 1.1 MiB block's mapping is 1.125 MiB long (with the block 1 KiB
    // into its first page): the rest of its segment is free for others.
    let (p, size) = held[0];
    let base = p as usize & !(SEGMENT - 1);
    let end = base + 9 * MIB / 8;
    assert!(p as usize + size <= end, "the block ends past its mapping");
    let foreign = map_exactly_at(end, FOREIGN);
    assert!(
        !foreign.is_null(),
        "the address space after the block's mapping is taken: the mapping is longer than 1.125 MiB"
    );
    // SAFETY: the foreign mapping is ours (the test's) and writable.
    unsafe { std::ptr::write_bytes(foreign, 0xF0, FOREIGN) };

    // The foreign memory is not hakmem's, though its segment's entry names
    // the big block.
    assert!(hakmem::owns(p) && hakmem::owns(p.wrapping_add(size - 1)));
    assert!(!hakmem::owns(foreign), "memory mapped after a big block's mapping counts as hakmem's");
    // SAFETY: `foreign` is not hakmem memory: usable_size reads nothing.
    assert_eq!(unsafe { hakmem::usable_size(foreign) }, 0);
    // SAFETY: `foreign` is not hakmem memory: free leaves it untouched.
    assert!(!unsafe { hakmem::free(foreign) }, "free took a pointer that is not hakmem's");

    // The block grows past its mapping: the foreign mapping is in the way,
    // so it moves, with its contents; the foreign memory is untouched.
    // SAFETY: p is live and ours.
    let q = unsafe { hakmem::realloc(p, 3 * MIB) };
    assert!(!q.is_null());
    // SAFETY: q holds at least `size` bytes, the first and last written above.
    unsafe { assert_eq!((*q, *q.add(size - 1)), (1, 2), "realloc lost contents") };
    // SAFETY: the foreign mapping is still the test's.
    let f = unsafe { std::slice::from_raw_parts(foreign, FOREIGN) };
    assert!(f.iter().all(|&b| b == 0xF0), "the foreign mapping was written");
    held[0] = (q, 3 * MIB);

    for (p, _) in held {
        // SAFETY: live hakmem blocks.
        assert!(unsafe { hakmem::free(p) });
    }
    // SAFETY: the test's own mapping.
    assert_eq!(unsafe { libc::munmap(foreign.cast(), FOREIGN) }, 0);
}
