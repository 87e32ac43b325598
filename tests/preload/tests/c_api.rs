//! C API semantics of libhakmem.so: the program `c/api.c`, one section per
//! test, run under `LD_PRELOAD`. Each section prints `OK` as its last line
//! and exits 0, or prints `FAIL <file>:<line>: <what>` and exits 1.

use hakmem_preload_tests::run_c_ok;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

/// The library is really loaded and interposes every function of the malloc
/// family: `malloc free calloc realloc reallocarray posix_memalign
/// aligned_alloc memalign valloc pvalloc malloc_usable_size cfree free_sized
/// free_aligned_sized` and `hak_version` resolve (via `dlsym(RTLD_DEFAULT)`,
/// and the program's own references) into `$HAKMEM_SO`.
#[test]
fn exports_resolve_into_libhakmem() {
    run_c_ok("api", &["exports"], T);
}

/// Every size 0..=70000, one by one, with 63 other blocks alive: non-null,
/// 16-byte aligned from 16 bytes on, `malloc_usable_size >= size`, the whole
/// usable range writable and unchanged until freed.
#[test]
fn every_size_up_to_70000() {
    run_c_ok("api", &["sizes"], T);
}

/// 2^k - 1, 2^k, 2^k + 1 for every k up to 64 MiB: allocated, aligned,
/// filled and checked.
#[test]
fn powers_of_two_up_to_64_mib() {
    run_c_ok("api", &["pow2"], T);
}

/// `malloc_usable_size`: 0 for NULL, >= request, stable while the block
/// lives, and all of it usable.
#[test]
fn usable_size() {
    run_c_ok("api", &["usable"], T);
}

/// `realloc` keeps contents over grow and shrink chains crossing the 1 KiB,
/// 32 KiB and 1 MiB tier boundaries (byte-by-byte sweeps across each), over
/// jumps between tiers, with neighbours that must not be overwritten.
#[test]
fn realloc_preserves_contents() {
    run_c_ok("api", &["realloc"], T);
}

/// `posix_memalign`, `aligned_alloc`, `memalign` for every power-of-two
/// alignment from 1 B to 4 MiB with several sizes: aligned, usable, filled,
/// realloc-able, freeable.
#[test]
fn aligned_allocation_up_to_4_mib() {
    run_c_ok("api", &["align"], T);
}

/// `calloc` memory is zero even when it reuses blocks that were filled with
/// 0xAB and freed, for small, mid and large sizes (single and in batches).
#[test]
fn calloc_zeroes_reused_memory() {
    run_c_ok("api", &["calloc"], T);
}

/// Error paths: NULL + `ENOMEM` for impossible sizes (`SIZE_MAX`,
/// `PTRDIFF_MAX + 1`, ...) and `calloc`/`reallocarray` overflow; a failed
/// `realloc` keeps the old block intact; `posix_memalign` returns `EINVAL` for
/// bad alignments and `ENOMEM` for huge sizes without touching `*memptr`;
/// `aligned_alloc`/`memalign` fail with `EINVAL` for alignments above
/// `SIZE_MAX / 2 + 1` and either fail (C17, glibc >= 2.38) or round up
/// (glibc <= 2.37) other non-power-of-two alignments; `free(NULL)` is a no-op
/// and `free` preserves `errno`.
#[test]
fn error_paths_set_errno() {
    run_c_ok("api", &["errors"], T);
}

/// `malloc(0)` (and `calloc(0, n)`, `realloc(NULL, 0)`) return unique,
/// non-null, freeable pointers.
#[test]
fn malloc_zero_is_unique_and_non_null() {
    run_c_ok("api", &["malloc0"], T);
}

/// `valloc`, `pvalloc` (page aligned, whole pages usable), `reallocarray`
/// in ordinary use, and `cfree`, `free_sized`, `free_aligned_sized`, which
/// must really release memory (RSS stays bounded over hundreds of MiB).
#[test]
fn valloc_pvalloc_and_free_variants() {
    run_c_ok("api", &["others"], T);
}
