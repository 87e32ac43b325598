/*
 * hakmem.h -- C / C++ interface of the hakmem memory allocator.
 *
 * libhakmem.so (or libhakmem.a) exports the standard allocation functions
 * (malloc, free, calloc, realloc, reallocarray, posix_memalign,
 * aligned_alloc, memalign, valloc, pvalloc, malloc_usable_size, cfree,
 * free_sized, free_aligned_sized) and glibc's extras (mallinfo2, mallinfo,
 * malloc_stats, malloc_trim, malloc_info, mallopt), so existing programs use
 * hakmem unchanged,
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
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ---------------------------------------------------------------- */

/* glibc's struct mallinfo2 and struct mallinfo, field for field, under names
 * that do not clash with <malloc.h> (the plain mallinfo2 / mallinfo that
 * libhakmem.so exports return exactly glibc's layouts). What each field
 * holds under hakmem: crates/hakmem/API.md. */
struct hak_mallinfo2 {
    size_t arena;    /* resident bytes of the slab tiers (<= 1 MiB blocks) */
    size_t ordblks;  /* free slab pages + cached big mappings */
    size_t smblks;   /* blocks in the calling thread's cache */
    size_t hblks;    /* live big blocks (> 1 MiB, one mapping each) */
    size_t hblkhd;   /* resident bytes of big blocks, live and cached */
    size_t usmblks;  /* always 0, as in glibc */
    size_t fsmblks;  /* bytes in the calling thread's cache */
    size_t uordblks; /* live bytes of the slab tiers (block sizes) */
    size_t fordblks; /* arena - uordblks */
    size_t keepcost; /* bytes malloc_trim would return now */
};
struct hak_mallinfo {
    int arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
};

/* hak_stats_get's snapshot. ABI rules: fields are only ever appended (the
 * version goes up); the caller passes sizeof(struct hak_stats) as it was
 * compiled; the library fills that many bytes at most (what it knows, for a
 * caller compiled against a newer header) and sets `size` to the bytes it
 * filled, so fields at offsets >= size are not filled: check
 * offsetof(struct hak_stats, field) < s.size before reading a field added
 * after version 1. Counts are of blocks, sizes in bytes. Exact for the
 * calling thread's blocks when other threads are quiet; other threads'
 * cached blocks count as live until their next upkeep (<= 50 ms of
 * activity). Nothing is counted on the malloc/free fast paths (API.md). */
#define HAK_STATS_VERSION 1
#define HAK_STATS_TIERS 4    /* tiny (<= 1 KiB), L2 (<= 32 KiB), L2.5 (<= 1 MiB), big */
#define HAK_STATS_CLASSES 24 /* size classes per slab tier (20 in use) */

struct hak_class_stats {
    uint64_t block_size;     /* 0: no such class */
    uint64_t allocated;      /* blocks handed out by the class's pages, ever */
    uint64_t freed;          /* blocks returned to pages, ever, + cached */
    uint64_t live;           /* allocated - freed */
    uint64_t cached;         /* blocks in the calling thread's cache */
    uint64_t pages;          /* pages serving the class */
    uint64_t remote_pending; /* freed by other threads, not yet collected */
    uint64_t resident_bytes; /* resident bytes of those pages */
};

struct hak_tier_stats {      /* big tier: blocks are mappings */
    uint64_t allocated, freed, live_blocks, live_bytes;
    uint64_t cached_blocks, cached_bytes;   /* big: cached mappings */
    uint64_t resident_bytes;                /* in use + free */
    uint64_t free_resident_bytes;           /* what malloc_trim returns */
    uint64_t mapped_bytes;                  /* address space */
    uint64_t returned_bytes;                /* given back to the OS, ever */
    uint64_t remote_frees;                  /* frees by non-owner threads, ever */
    uint64_t pages, free_pages;             /* big: live / cached mappings */
    uint64_t pages_abandoned, pages_adopted; /* ever */
    uint64_t segments;                      /* 4 MiB segments (big: mappings made) */
};

struct hak_stats {
    uint32_t size;     /* bytes filled by the library */
    uint32_t version;  /* HAK_STATS_VERSION of the library */
    uint32_t ntiers;   /* HAK_STATS_TIERS */
    uint32_t nclasses; /* HAK_STATS_CLASSES */
    struct hak_tier_stats tier[HAK_STATS_TIERS];
    struct hak_class_stats cls[HAK_STATS_TIERS - 1][HAK_STATS_CLASSES];
    uint64_t resident_bytes, mapped_bytes, live_bytes, returned_bytes; /* totals */
};

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

/* mallinfo2 / mallinfo (glibc): see struct hak_mallinfo2. arena + hblkhd is
 * the memory hakmem holds resident. mallinfo truncates to int, as glibc. */
struct hak_mallinfo2 hak_mallinfo2(void);
struct hak_mallinfo hak_mallinfo(void);

/* malloc_stats (glibc): "Arena N:" / "system bytes" / "in use bytes" lines
 * per slab tier and the totals on stderr, in glibc's format. */
void hak_malloc_stats(void);

/* malloc_trim (glibc): returns the calling thread's cached blocks and empty
 * pages, every tier's empty pages and the big-block cache to the OS now.
 * pad is ignored. 1 if memory was returned, else 0. */
int hak_malloc_trim(size_t pad);

/* malloc_info (glibc): XML (<malloc version="1">, one <heap> per slab tier)
 * written to fp with the C library's fwrite. options must be 0 (else
 * EINVAL is returned); 0 on success, -1 if writing failed. */
int hak_malloc_info(int options, FILE *fp);

/* mallopt (glibc): 1 if param is glibc's and value one glibc accepts, else
 * 0. M_TRIM_THRESHOLD sets how much free memory hakmem keeps committed; the
 * others (M_MMAP_THRESHOLD, M_ARENA_MAX, M_TOP_PAD, M_MMAP_MAX, M_ARENA_TEST,
 * M_PERTURB, M_CHECK_ACTION, M_MXFAST) are accepted without effect. */
int hak_mallopt(int param, int value);

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

/* Fill *out (size = sizeof *out) with a snapshot of hakmem's state; see
 * struct hak_stats for the ABI rules. 0, or -1 with errno = EINVAL when out
 * is NULL or size < 8. Takes no lock the allocation paths take; walks every
 * page descriptor (one mincore per 4 MiB segment). */
int hak_stats_get(struct hak_stats *out, size_t size);

/* Write the statistics report, one NUL-terminated line ending in '\n' per
 * call of write(arg, line); write == NULL writes to stderr. No stdio. */
void hak_stats_print(void (*write)(void *arg, const char *line), void *arg);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* HAKMEM_H */
