/*
 * hakmem.h -- C / C++ interface of the hakmem memory allocator.
 *
 * libhakmem.so (or libhakmem.a) exports the standard allocation functions
 * (malloc, free, calloc, realloc, reallocarray, posix_memalign,
 * aligned_alloc, memalign, valloc, pvalloc, malloc_usable_size, cfree,
 * free_sized, free_aligned_sized), so existing programs use hakmem unchanged,
 * e.g. with LD_PRELOAD=libhakmem.so. This header declares the hak_*
 * functions, which the library exports too: the same API under names that do
 * not depend on symbol interposition, plus hakmem-specific extensions.
 *
 * Semantics are those of glibc 2.36:
 *  - every block is aligned to 16 bytes; a 0-byte request returns a unique
 *    pointer that must be freed;
 *  - on failure the allocation functions return NULL and set errno to ENOMEM
 *    (never abort); requests above PTRDIFF_MAX and calloc / reallocarray
 *    multiplication overflow fail this way; errno is left alone on success;
 *  - pointers that hakmem does not own are handed to the next allocator
 *    (glibc) if they lie in its heap; any other pointer makes hak_free /
 *    hak_realloc print "hakmem: free(): invalid pointer 0x..." and abort().
 *
 * All functions are thread-safe, work before hak_init() has run and in the
 * child after fork().
 */
#ifndef HAKMEM_H
#define HAKMEM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- standard API, hak_-prefixed ---------------------------------------- */
/* Each hak_X below is also exported as plain X (hak_malloc and malloc); the
 * extensions further down are hak_* only. Both name sets come from one list
 * in crates/hak-ffi/src/exports.rs, and tests/preload (tests/header.rs)
 * checks that this header declares exactly what libhakmem.so exports: keep
 * the two "----" headings, the test reads them. */

/* malloc: size bytes, 16-byte aligned. hak_malloc(0) returns a unique
 * non-NULL pointer. NULL + errno=ENOMEM on failure. */
void *hak_malloc(size_t size);

/* free: release p. NULL is a no-op. */
void hak_free(void *p);

/* calloc: n * size zeroed bytes. NULL + errno=ENOMEM when n * size
 * overflows or memory is exhausted. */
void *hak_calloc(size_t n, size_t size);

/* realloc: resize p to size bytes, keeping min(old, size) bytes of content.
 * p == NULL: hak_malloc(size). size == 0 with p != NULL: frees p, returns
 * NULL, errno untouched. On failure: NULL + errno=ENOMEM, p still valid. */
void *hak_realloc(void *p, size_t size);

/* reallocarray: hak_realloc(p, n * size); if n * size overflows returns
 * NULL + errno=ENOMEM and leaves p untouched. */
void *hak_reallocarray(void *p, size_t n, size_t size);

/* posix_memalign: *memptr = block of size bytes aligned to align.
 * Returns 0; EINVAL if align is not a power of two multiple of
 * sizeof(void *); ENOMEM if out of memory. Never modifies errno; *memptr is
 * untouched on failure. */
int hak_posix_memalign(void **memptr, size_t align, size_t size);

/* aligned_alloc: as glibc 2.36, identical to hak_memalign (glibc >= 2.38
 * rejects non-power-of-two alignments; 2.36 rounds them up). */
void *hak_aligned_alloc(size_t align, size_t size);

/* memalign: size bytes aligned to align rounded up to a power of two;
 * align <= 16 behaves as hak_malloc. NULL + errno=EINVAL if
 * align > SIZE_MAX / 2 + 1; NULL + errno=ENOMEM if it cannot be satisfied. */
void *hak_memalign(size_t align, size_t size);

/* valloc: size bytes aligned to the page size. */
void *hak_valloc(size_t size);

/* pvalloc: page-aligned, size rounded up to a multiple of the page size;
 * hak_pvalloc(0) returns one page. NULL + errno=ENOMEM on overflow. */
void *hak_pvalloc(size_t size);

/* malloc_usable_size: bytes usable in p (>= the size requested); 0 for NULL
 * and for pointers no allocator in the chain owns. */
size_t hak_malloc_usable_size(void *p);

/* cfree: obsolete synonym of hak_free. */
void hak_cfree(void *p);

/* free_sized (C23): hak_free; size must be the size requested (ignored). */
void hak_free_sized(void *p, size_t size);

/* free_aligned_sized (C23): hak_free; align and size must be those of the
 * aligned request (ignored). */
void hak_free_aligned_sized(void *p, size_t align, size_t size);

/* ---- extensions --------------------------------------------------------- */

/* Initialise hakmem (idempotent). Optional: the library constructor calls it
 * and every function works before it. */
void hak_init(void);

/* Print per-tier statistics to stderr (with HAKMEM_STATS=1 this also
 * happens at exit). */
void hak_print_stats(void);

/* Return the calling thread's cached free blocks to the shared pools, e.g.
 * before a worker thread goes idle for a long time. */
void hak_thread_flush(void);

/* 1 if p points into memory managed by hakmem, else 0. Never dereferences
 * p; safe on any value. */
int hak_owns(const void *p);

/* hakmem's version, e.g. "0.1.0" (static string, do not free). */
const char *hak_version(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* HAKMEM_H */
