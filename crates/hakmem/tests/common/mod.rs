//! Helpers shared by the hakmem integration tests (each test binary
//! includes this module with `mod common;`).

/// Allocates `n` blocks of `size` bytes through hakmem and writes every byte
/// of each (so all their pages are resident); their addresses.
pub fn alloc_written(n: usize, size: usize) -> Vec<usize> {
    (0..n)
        .map(|i| {
            let p = hakmem::alloc(size);
            assert!(!p.is_null());
            // SAFETY: a live block of `size` bytes.
            unsafe { std::ptr::write_bytes(p, i as u8 | 1, size) };
            p as usize
        })
        .collect()
}

/// Frees every block of `blocks` (live hakmem blocks) through hakmem.
pub fn free_all(blocks: &[usize]) {
    for &b in blocks {
        // SAFETY: live hakmem blocks.
        assert!(unsafe { hakmem::free(b as *mut u8) });
    }
}
