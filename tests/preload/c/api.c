/* C API semantics of the allocator the program runs on.
 *
 * Usage: api [section...]   (no section: all of them, in order)
 * Sections: exports sizes pow2 usable realloc align calloc errors malloc0 others
 *
 * Under LD_PRELOAD the harness sets HAKMEM_EXPECT_SO to the library's path;
 * `exports` then requires every malloc-family symbol (and hak_version) to
 * resolve into that library, and cfree/free_sized/free_aligned_sized to
 * exist. Without it (a plain run on glibc, used to validate this program)
 * those checks are skipped. */
#define _GNU_SOURCE
#include "check.h"

#include <dlfcn.h>
#include <limits.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>

static const char *expect_so; /* HAKMEM_EXPECT_SO, or NULL on a plain run */
static size_t page;

typedef void (*cfree_fn)(void *);
typedef void (*free_sized_fn)(void *, size_t);
typedef void (*free_aligned_sized_fn)(void *, size_t, size_t);

static void *sym(const char *name) { return dlsym(RTLD_DEFAULT, name); }

/* Sizes are laundered through a volatile so the compiler neither warns about
 * nor folds the deliberately absurd requests. */
static size_t v(size_t x) {
    volatile size_t y = x;
    return y;
}

/* ---------------------------------------------------------------- exports */

static const char *const exported[] = {
    "malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign",
    "aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size",
    "cfree", "free_sized", "free_aligned_sized", "hak_version",
};

static void same_file(const char *what, void *addr, const char *want_real) {
    Dl_info info;
    char got_real[PATH_MAX];
    CHECK(dladdr(addr, &info) != 0 && info.dli_fname != NULL, "dladdr(%s) found no object", what);
    if (!realpath(info.dli_fname, got_real)) FAIL("realpath(%s) failed", info.dli_fname);
    if (strcmp(got_real, want_real) != 0)
        FAIL("%s resolves into %s, not into the preloaded %s", what, got_real, want_real);
}

static void t_exports(void) {
    char want[PATH_MAX];
    if (!expect_so) {
        printf("SKIP exports (HAKMEM_EXPECT_SO not set)\n");
        return;
    }
    if (!realpath(expect_so, want)) FAIL("realpath(%s) failed", expect_so);
    for (size_t i = 0; i < sizeof exported / sizeof exported[0]; i++) {
        void *p = sym(exported[i]);
        if (!p) FAIL("dlsym(RTLD_DEFAULT, \"%s\") == NULL: the symbol is not exported", exported[i]);
        same_file(exported[i], p, want);
    }
    /* The program's own (PLT/GOT-bound) references go to the library too. */
    same_file("&malloc", (void *)&malloc, want);
    same_file("&free", (void *)&free, want);
    same_file("&realloc", (void *)&realloc, want);
    same_file("&calloc", (void *)&calloc, want);
}

/* ---------------------------------------------------------------- sizes */

/* Every size 0..=70000: non-null, aligned, usable >= size, the whole usable
 * range is writable and keeps its contents while 63 other blocks live. */
static void t_sizes(void) {
    enum { RING = 64 };
    void *ring[RING] = {0};
    size_t ring_n[RING] = {0};
    for (size_t n = 0; n <= 70000; n++) {
        size_t k = n % RING;
        if (ring[k]) {
            CHECK_PAT(ring[k], ring_n[k], ring_n[k] * 7 + 1, "size-sweep block of usable size %zu", ring_n[k]);
            free(ring[k]);
        }
        void *p = malloc(n);
        CHECK(p != NULL, "malloc(%zu) returned NULL", n);
        if (n >= 16) CHECK((uintptr_t)p % 16 == 0, "malloc(%zu) = %p not 16-byte aligned", n, p);
        else if (n >= 8) CHECK((uintptr_t)p % 8 == 0, "malloc(%zu) = %p not 8-byte aligned", n, p);
        size_t u = malloc_usable_size(p);
        CHECK(u >= n, "malloc_usable_size(malloc(%zu)) = %zu", n, u);
        CHECK(u <= n + n / 2 + 4096 || n < 64, "malloc_usable_size(malloc(%zu)) = %zu is absurdly large", n, u);
        fill(p, u, u * 7 + 1);
        ring[k] = p;
        ring_n[k] = u;
    }
    for (size_t k = 0; k < RING; k++) {
        CHECK_PAT(ring[k], ring_n[k], ring_n[k] * 7 + 1, "size-sweep block");
        free(ring[k]);
    }
}

/* ---------------------------------------------------------------- pow2 */

static void t_pow2(void) {
    for (int k = 0; k <= 26; k++) {
        size_t base = (size_t)1 << k;
        size_t sizes[3] = {base - 1, base, base + 1};
        void *p[3];
        for (int i = 0; i < 3; i++) {
            p[i] = malloc(sizes[i]);
            CHECK(p[i] != NULL, "malloc(%zu) returned NULL", sizes[i]);
            if (sizes[i] >= 16) CHECK((uintptr_t)p[i] % 16 == 0, "malloc(%zu) = %p misaligned", sizes[i], p[i]);
            CHECK(malloc_usable_size(p[i]) >= sizes[i], "usable size of malloc(%zu)", sizes[i]);
            fill(p[i], sizes[i], sizes[i] + 99);
        }
        for (int i = 0; i < 3; i++) {
            CHECK_PAT(p[i], sizes[i], sizes[i] + 99, "malloc(%zu)", sizes[i]);
            free(p[i]);
        }
    }
}

/* ---------------------------------------------------------------- usable */

static void t_usable(void) {
    CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu", malloc_usable_size(NULL));
    /* The usable size is stable for the life of a block and all of it is
     * usable, also for sizes far apart. */
    static const size_t sizes[] = {1, 17, 100, 1000, 1024, 1025, 4000, 32768, 32769,
                                   100000, 1048575, 1048576, 1048577, 5000000};
    void *p[sizeof sizes / sizeof sizes[0]];
    size_t u[sizeof sizes / sizeof sizes[0]];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        p[i] = malloc(sizes[i]);
        CHECK(p[i] != NULL, "malloc(%zu)", sizes[i]);
        u[i] = malloc_usable_size(p[i]);
        CHECK(u[i] >= sizes[i], "usable %zu < %zu", u[i], sizes[i]);
        fill(p[i], u[i], i + 5);
    }
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        CHECK(malloc_usable_size(p[i]) == u[i], "usable size of a live block changed");
        CHECK_PAT(p[i], u[i], i + 5, "usable range of malloc(%zu)", sizes[i]);
        free(p[i]);
    }
}

/* ---------------------------------------------------------------- realloc */

/* realloc p (holding `have` bytes of pattern `seed`) to n; checks the kept
 * prefix and refills the whole block. A small blocker allocation is made
 * after each step so that growth cannot always happen in place. */
static void *re(void *p, size_t have, size_t n, uint64_t seed, void **blockers, size_t *nb) {
    void *q = realloc(p, n);
    CHECK(q != NULL, "realloc(%p, %zu) returned NULL", p, n);
    if (n >= 16) CHECK((uintptr_t)q % 16 == 0, "realloc(.., %zu) = %p misaligned", n, q);
    CHECK(malloc_usable_size(q) >= n, "usable size after realloc to %zu", n);
    size_t keep = have < n ? have : n;
    CHECK_PAT(q, keep, seed, "contents lost by realloc %zu -> %zu bytes", have, n);
    fill(q, n, seed);
    if (blockers && *nb < 4096) {
        void *b = malloc(24 + (*nb % 7) * 40);
        CHECK(b != NULL, "blocker malloc");
        fill(b, 24, 0xB10C + *nb);
        blockers[(*nb)++] = b;
    }
    return q;
}

static void t_realloc(void) {
    static void *blockers[4096];
    size_t nb = 0;
    uint64_t seed = 12345;

    /* realloc(NULL, n) behaves as malloc(n). */
    void *p = realloc(NULL, 100);
    CHECK(p != NULL, "realloc(NULL, 100)");
    fill(p, 100, seed);

    /* Growth chain 100 B -> 4 MiB crossing 1 KiB, 32 KiB and 1 MiB. */
    size_t n = 100;
    while (n < 4 * MiB) {
        size_t next = n + n / 4 + 7;
        p = re(p, n, next, seed, blockers, &nb);
        n = next;
    }
    /* Shrink chain back down to 1 byte. */
    while (n > 1) {
        size_t next = n - n / 5 - 1;
        if (next < 1) next = 1;
        p = re(p, n, next, seed, blockers, &nb);
        n = next;
    }
    /* Byte-by-byte sweeps across each boundary, up then down. */
    static const size_t bounds[] = {1024, 32 * 1024, 1024 * 1024};
    for (size_t b = 0; b < 3; b++) {
        size_t lo = bounds[b] - 40, hi = bounds[b] + 40;
        p = re(p, n, lo, seed, blockers, &nb);
        n = lo;
        for (size_t s = lo + 1; s <= hi; s++) { p = re(p, n, s, seed, NULL, NULL); n = s; }
        for (size_t s = hi - 1; s >= lo; s--) { p = re(p, n, s, seed, NULL, NULL); n = s; }
    }
    /* Jumps between tiers in both directions. */
    static const size_t jumps[] = {10, 2 * 1024 * 1024, 50, 40000, 1500, 8 * 1024 * 1024,
                                   16, 1048576, 1048575, 1048577, 32768, 32769, 1024, 1025,
                                   700000, 3000, 64, 5 * 1024 * 1024 + 3, 200, 1};
    for (size_t j = 0; j < sizeof jumps / sizeof jumps[0]; j++) {
        p = re(p, n, jumps[j], seed, blockers, &nb);
        n = jumps[j];
    }
    /* Same-size realloc keeps everything. */
    p = re(p, n, n, seed, NULL, NULL);
    free(p);

    /* Several chains interleaved, so their blocks neighbour each other. */
    enum { CH = 6 };
    void *c[CH];
    size_t cn[CH];
    for (int i = 0; i < CH; i++) { c[i] = malloc(8); CHECK(c[i] != NULL, "malloc(8)"); cn[i] = 8; fill(c[i], 8, 1000 + i); }
    for (int step = 0; step < 70; step++) {
        for (int i = 0; i < CH; i++) {
            size_t next = cn[i] + cn[i] / (3 + i) + 1 + i;
            if (next > 3 * MiB) next = 3 + i;
            c[i] = re(c[i], cn[i], next, 1000 + i, NULL, NULL);
            cn[i] = next;
        }
    }
    for (int i = 0; i < CH; i++) { CHECK_PAT(c[i], cn[i], 1000 + i, "interleaved chain %d", i); free(c[i]); }

    for (size_t i = 0; i < nb; i++) {
        CHECK_PAT(blockers[i], 24, 0xB10C + i, "blocker %zu overwritten by a realloc'd block", i);
        free(blockers[i]);
    }

    /* realloc(p, 0): glibc frees and returns NULL; a unique minimal block is
     * acceptable too. Either way nothing leaks or crashes. */
    p = malloc(50);
    CHECK(p != NULL, "malloc(50)");
    void *z = realloc(p, 0);
    if (z) free(z);
}

/* ---------------------------------------------------------------- align */

static void t_align(void) {
    for (size_t a = 1; a <= 4 * MiB; a *= 2) {
        size_t sizes[] = {1, 7, 16, 100, a / 2 + 1, a, a + 1, 3 * a + 5, 70000};
        enum { NS = sizeof sizes / sizeof sizes[0] };
        void *blocks[3 * NS];
        size_t bn[3 * NS];
        int nblk = 0;
        for (size_t i = 0; i < NS; i++) {
            size_t n = sizes[i];
            void *p;
            if (a >= sizeof(void *)) {
                p = (void *)0x1;
                int r = posix_memalign(&p, a, n);
                CHECK(r == 0, "posix_memalign(align %zu, size %zu) = %d", a, n, r);
                CHECK(p != NULL && (uintptr_t)p % a == 0, "posix_memalign(align %zu, size %zu) = %p", a, n, p);
                CHECK(malloc_usable_size(p) >= n, "usable size of posix_memalign(%zu, %zu)", a, n);
                fill(p, n, a * 31 + n);
                blocks[nblk] = p; bn[nblk++] = n;
            }
            p = aligned_alloc(a, n);
            CHECK(p != NULL && (uintptr_t)p % a == 0, "aligned_alloc(%zu, %zu) = %p", a, n, p);
            CHECK(malloc_usable_size(p) >= n, "usable size of aligned_alloc(%zu, %zu)", a, n);
            fill(p, n, a * 31 + n);
            blocks[nblk] = p; bn[nblk++] = n;

            p = memalign(a, n);
            CHECK(p != NULL && (uintptr_t)p % a == 0, "memalign(%zu, %zu) = %p", a, n, p);
            CHECK(malloc_usable_size(p) >= n, "usable size of memalign(%zu, %zu)", a, n);
            fill(p, n, a * 31 + n);
            blocks[nblk] = p; bn[nblk++] = n;
        }
        for (int i = 0; i < nblk; i++) {
            CHECK_PAT(blocks[i], bn[i], a * 31 + bn[i], "aligned block (align %zu, size %zu)", a, bn[i]);
            /* An aligned block can be realloc'd like any other. */
            if (i % 3 == 0) {
                void *q = realloc(blocks[i], bn[i] * 2 + 10);
                CHECK(q != NULL, "realloc of an aligned block");
                CHECK_PAT(q, bn[i], a * 31 + bn[i], "realloc'd aligned block (align %zu, size %zu)", a, bn[i]);
                blocks[i] = q;
            }
            free(blocks[i]);
        }
    }
}

/* ---------------------------------------------------------------- calloc */

static void t_calloc(void) {
    static const size_t sizes[] = {1, 16, 24, 100, 1000, 1024, 1500, 5000, 32768, 40000,
                                   100000, 500000, 1048575, 1048576, 1048577,
                                   2 * 1024 * 1024 + 123, 8 * 1024 * 1024};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        int reps = n >= MiB ? 12 : 60;
        for (int r = 0; r < reps; r++) {
            void *d = malloc(n);
            CHECK(d != NULL, "malloc(%zu)", n);
            memset(d, 0xAB, n);
            free(d);
            void *z;
            switch (r % 3) {
            case 0: z = calloc(1, n); break;
            case 1: z = calloc(n, 1); break;
            default: z = (n % 8 == 0) ? calloc(n / 8, 8) : calloc(1, n); break;
            }
            CHECK(z != NULL, "calloc for %zu bytes", n);
            size_t bad = find_not(z, n, 0);
            if (bad != SIZE_MAX) FAIL("calloc(%zu bytes) after a dirty free: byte %zu is 0x%02x, not 0", n, bad, ((unsigned char *)z)[bad]);
            memset(z, 0xAB, n);
            free(z);
        }
        /* Batches: many dirty blocks freed, then as many calloc'd. */
        int batch = n >= MiB ? 4 : 32;
        void *b[32];
        for (int i = 0; i < batch; i++) { b[i] = malloc(n); CHECK(b[i] != NULL, "malloc"); memset(b[i], 0xAB, n); }
        for (int i = 0; i < batch; i++) free(b[i]);
        for (int i = 0; i < batch; i++) {
            b[i] = calloc(1, n);
            CHECK(b[i] != NULL, "calloc(1, %zu)", n);
            size_t bad = find_not(b[i], n, 0);
            if (bad != SIZE_MAX) FAIL("calloc(1, %zu) in a batch after dirty frees: byte %zu not zero", n, bad);
            memset(b[i], 0xCD, n);
        }
        for (int i = 0; i < batch; i++) free(b[i]);
    }
    /* realloc growth of a calloc'd block keeps the zeroes. */
    unsigned char *z = calloc(1, 3000);
    CHECK(z != NULL, "calloc");
    z = realloc(z, 100000);
    CHECK(z != NULL && find_not(z, 3000, 0) == SIZE_MAX, "calloc'd prefix lost by realloc");
    free(z);
}

/* ---------------------------------------------------------------- errors */

#define EXPECT_NULL_ERRNO(expr, want)                                            \
    do {                                                                         \
        errno = 0;                                                               \
        void *r_ = (expr);                                                       \
        int e_ = errno;                                                          \
        if (r_ != NULL) FAIL("%s returned %p, expected NULL", #expr, r_);        \
        if (e_ != (want)) FAIL("%s set errno %d (%s), expected %s", #expr, e_, strerror(e_), #want); \
    } while (0)

static void t_errors(void) {
    const size_t SMAX = SIZE_MAX, PMAX = PTRDIFF_MAX;

    /* Impossible sizes: NULL + ENOMEM, never an abort. */
    EXPECT_NULL_ERRNO(malloc(v(SMAX)), ENOMEM);
    EXPECT_NULL_ERRNO(malloc(v(PMAX + 1)), ENOMEM);
    EXPECT_NULL_ERRNO(malloc(v(PMAX)), ENOMEM);
    EXPECT_NULL_ERRNO(malloc(v(SMAX - 4096)), ENOMEM);
    EXPECT_NULL_ERRNO(malloc(v((size_t)1 << 62)), ENOMEM);

    /* calloc overflow of n * size. */
    EXPECT_NULL_ERRNO(calloc(v(SMAX), v(2)), ENOMEM);
    EXPECT_NULL_ERRNO(calloc(v(2), v(SMAX)), ENOMEM);
    EXPECT_NULL_ERRNO(calloc(v((size_t)1 << 32), v((size_t)1 << 32)), ENOMEM);
    EXPECT_NULL_ERRNO(calloc(v(((size_t)1 << 32) + 1), v(((size_t)1 << 32) - 1)), ENOMEM);
    EXPECT_NULL_ERRNO(calloc(v(PMAX / 2 + 1), v(2)), ENOMEM); /* no overflow, just too big */

    /* reallocarray overflow: NULL, ENOMEM, the old block untouched. */
    EXPECT_NULL_ERRNO(reallocarray(NULL, v(SMAX), v(2)), ENOMEM);
    void *p = malloc(100);
    CHECK(p != NULL, "malloc(100)");
    fill(p, 100, 77);
    EXPECT_NULL_ERRNO(reallocarray(p, v((size_t)1 << 33), v((size_t)1 << 33)), ENOMEM);
    CHECK_PAT(p, 100, 77, "block changed by a failed reallocarray");
    void *q = reallocarray(p, 10, 30);
    CHECK(q != NULL, "reallocarray(p, 10, 30)");
    CHECK_PAT(q, 100, 77, "reallocarray growth lost contents");
    free(q);

    /* A failed realloc keeps the old block intact and usable, in every tier. */
    static const size_t olds[] = {1, 100, 5000, 100000, 2 * 1024 * 1024};
    for (size_t i = 0; i < sizeof olds / sizeof olds[0]; i++) {
        size_t n = olds[i];
        p = malloc(n);
        CHECK(p != NULL, "malloc(%zu)", n);
        fill(p, n, n + 3);
        EXPECT_NULL_ERRNO(realloc(p, v(SMAX)), ENOMEM);
        EXPECT_NULL_ERRNO(realloc(p, v(PMAX + 1)), ENOMEM);
        EXPECT_NULL_ERRNO(realloc(p, v(PMAX)), ENOMEM);
        EXPECT_NULL_ERRNO(realloc(p, v((size_t)1 << 62)), ENOMEM);
        CHECK(malloc_usable_size(p) >= n, "usable size after a failed realloc");
        CHECK_PAT(p, n, n + 3, "block of %zu bytes changed by a failed realloc", n);
        q = realloc(p, n * 2);
        CHECK(q != NULL, "realloc after a failed realloc");
        CHECK_PAT(q, n, n + 3, "contents after failed then successful realloc");
        free(q);
    }

    /* posix_memalign: error returned (errno untouched), *memptr unmodified. */
    static const size_t bad_aligns[] = {0, 1, 2, 4, 3, 24, 48, 100, 4095, 4097, ((size_t)1 << 20) + 8};
    for (size_t i = 0; i < sizeof bad_aligns / sizeof bad_aligns[0]; i++) {
        void *m = (void *)0x1234;
        errno = 0;
        int r = posix_memalign(&m, v(bad_aligns[i]), 16);
        CHECK(r == EINVAL, "posix_memalign(align %zu) returned %d, expected EINVAL", bad_aligns[i], r);
        CHECK(m == (void *)0x1234, "posix_memalign(align %zu) modified *memptr on failure", bad_aligns[i]);
        CHECK(errno == 0, "posix_memalign set errno to %d (it reports errors by return value)", errno);
    }
    {
        static const size_t huge[] = {SIZE_MAX, SIZE_MAX - 4096, PTRDIFF_MAX, (size_t)PTRDIFF_MAX + 1, (size_t)1 << 62};
        for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
            void *m = (void *)0x1234;
            int r = posix_memalign(&m, 64, v(huge[i]));
            CHECK(r == ENOMEM, "posix_memalign(64, %zu) returned %d, expected ENOMEM", huge[i], r);
            CHECK(m == (void *)0x1234, "posix_memalign(64, %zu) modified *memptr on failure", huge[i]);
            m = (void *)0x1234;
            r = posix_memalign(&m, 4 * MiB, v(huge[i]));
            CHECK(r == ENOMEM, "posix_memalign(4 MiB, %zu) returned %d, expected ENOMEM", huge[i], r);
        }
    }

    /* aligned_alloc / memalign with an alignment that is not a power of two:
     * glibc >= 2.38 (C17) fails aligned_alloc with EINVAL, glibc <= 2.37 (and
     * memalign everywhere) rounds the alignment up to a power of two. Either
     * is accepted; a block, if returned, honours the rounded alignment. */
    {
        static const size_t odd[] = {0, 3, 24, 100, 4097, 3 * 1024 * 1024};
        for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
            size_t want = 1;
            while (want < odd[i]) want *= 2;
            for (int f = 0; f < 2; f++) {
                errno = 0;
                void *r = f == 0 ? aligned_alloc(v(odd[i]), 100) : memalign(v(odd[i]), 100);
                int e = errno;
                const char *fn = f == 0 ? "aligned_alloc" : "memalign";
                if (r == NULL) {
                    CHECK(f == 0 && e == EINVAL, "%s(%zu, 100) = NULL with errno %d", fn, odd[i], e);
                    continue;
                }
                CHECK((uintptr_t)r % want == 0, "%s(%zu, 100) = %p not aligned to %zu", fn, odd[i], r, want);
                CHECK(malloc_usable_size(r) >= 100, "%s(%zu, 100): usable size", fn, odd[i]);
                fill(r, 100, 3);
                CHECK_PAT(r, 100, 3, "%s(%zu, 100) block", fn, odd[i]);
                free(r);
            }
        }
    }
    /* Alignments beyond SIZE_MAX / 2 + 1 cannot be satisfied by any rounding:
     * EINVAL in every glibc. */
    EXPECT_NULL_ERRNO(aligned_alloc(v(SMAX / 2 + 2), 16), EINVAL);
    EXPECT_NULL_ERRNO(aligned_alloc(v(SMAX), 16), EINVAL);
    EXPECT_NULL_ERRNO(memalign(v(SMAX / 2 + 2), 16), EINVAL);
    EXPECT_NULL_ERRNO(memalign(v(SMAX), 16), EINVAL);
    /* A power-of-two alignment that large is valid but cannot be met. */
    EXPECT_NULL_ERRNO(aligned_alloc(v(SMAX / 2 + 1), 16), ENOMEM);
    {
        void *m = (void *)0x1234;
        int r = posix_memalign(&m, v(SMAX / 2 + 1), 16);
        CHECK(r == ENOMEM, "posix_memalign(2^63, 16) returned %d, expected ENOMEM", r);
        CHECK(m == (void *)0x1234, "posix_memalign(2^63, 16) modified *memptr on failure");
    }
    EXPECT_NULL_ERRNO(aligned_alloc(64, v(SMAX)), ENOMEM);
    EXPECT_NULL_ERRNO(aligned_alloc(4096, v(PMAX + 1)), ENOMEM);
    EXPECT_NULL_ERRNO(memalign(64, v(SMAX)), ENOMEM);
    EXPECT_NULL_ERRNO(memalign(1 * MiB, v(PMAX)), ENOMEM);
    EXPECT_NULL_ERRNO(valloc(v(SMAX)), ENOMEM);
    EXPECT_NULL_ERRNO(pvalloc(v(SMAX)), ENOMEM);
    EXPECT_NULL_ERRNO(pvalloc(v(SMAX - 100)), ENOMEM);

    /* free(NULL) is a no-op; free never changes errno (POSIX.1-2024, glibc >= 2.33). */
    errno = 4242;
    free(NULL);
    CHECK(errno == 4242, "free(NULL) changed errno to %d", errno);
    static const size_t fs[] = {8, 3000, 200000, 4 * 1024 * 1024};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
        p = malloc(fs[i]);
        CHECK(p != NULL, "malloc(%zu)", fs[i]);
        errno = 4243;
        free(p);
        CHECK(errno == 4243, "free of a %zu-byte block changed errno to %d", fs[i], errno);
    }

    /* After all the failures, the allocator still works. */
    p = malloc(1000);
    CHECK(p != NULL, "malloc after errors");
    fill(p, 1000, 5);
    CHECK_PAT(p, 1000, 5, "block after errors");
    free(p);
}

/* ---------------------------------------------------------------- malloc0 */

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static void t_malloc0(void) {
    enum { N = 3000 };
    static void *p[N];
    for (int i = 0; i < N; i++) {
        switch (i % 4) {
        case 0: case 1: p[i] = malloc(0); break;
        case 2: p[i] = calloc(0, 16); break;
        default: p[i] = realloc(NULL, 0); break;
        }
        CHECK(p[i] != NULL, "zero-size allocation #%d returned NULL (kind %d)", i, i % 4);
    }
    static void *s[N];
    memcpy(s, p, sizeof p);
    qsort(s, N, sizeof s[0], cmp_ptr);
    for (int i = 1; i < N; i++) CHECK(s[i] != s[i - 1], "zero-size allocations returned the same pointer %p twice", s[i]);
    for (int i = 0; i < N; i++) free(p[i]);
    void *z = calloc(16, 0);
    CHECK(z != NULL, "calloc(16, 0) returned NULL");
    free(z);
}

/* ---------------------------------------------------------------- others */

/* Runs `iters` rounds of allocate-touch-release of `n` bytes through the
 * given release function; RSS must not grow by the sum (which it would if the
 * release function leaked). */
enum rel { REL_CFREE, REL_FREE_SIZED, REL_FREE_ALIGNED_SIZED };

static void leak_check(const char *name, enum rel kind, void *fn, size_t n, int iters) {
    size_t before = rss_bytes();
    for (int i = 0; i < iters; i++) {
        size_t a = 64;
        void *p = kind == REL_FREE_ALIGNED_SIZED ? aligned_alloc(a, n) : malloc(n);
        CHECK(p != NULL, "allocation for %s", name);
        memset(p, i & 0xff, n);
        switch (kind) {
        case REL_CFREE: ((cfree_fn)fn)(p); break;
        case REL_FREE_SIZED: ((free_sized_fn)fn)(p, n); break;
        case REL_FREE_ALIGNED_SIZED: ((free_aligned_sized_fn)fn)(p, a, n); break;
        }
    }
    size_t after = rss_bytes();
    size_t total = n * (size_t)iters;
    if (after > before && after - before > total / 4 && after - before > 64 * MiB)
        FAIL("%s does not release memory: RSS grew by %zu MiB over %d x %zu bytes", name,
             (after - before) / MiB, iters, n);
}

static void t_others(void) {
    /* valloc / pvalloc: page aligned; pvalloc rounds the size up to pages. */
    static const size_t vs[] = {0, 1, 100, 4096, 5000, 70000, 1048576, 3000000};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        size_t n = vs[i];
        void *p = valloc(n);
        CHECK(p != NULL && (uintptr_t)p % page == 0, "valloc(%zu) = %p", n, p);
        CHECK(malloc_usable_size(p) >= n, "usable size of valloc(%zu)", n);
        fill(p, n, n + 1);
        void *q = pvalloc(n);
        size_t rounded = (n + page - 1) / page * page; /* pvalloc(0): a minimal block, as in glibc */
        CHECK(q != NULL && (uintptr_t)q % page == 0, "pvalloc(%zu) = %p", n, q);
        CHECK(malloc_usable_size(q) >= rounded, "pvalloc(%zu): usable %zu < %zu", n, malloc_usable_size(q), rounded);
        fill(q, rounded, n + 2);
        CHECK_PAT(p, n, n + 1, "valloc(%zu) block", n);
        CHECK_PAT(q, rounded, n + 2, "pvalloc(%zu) block (whole pages)", n);
        free(p);
        free(q);
    }

    /* reallocarray in ordinary use. */
    int *arr = NULL;
    size_t cnt = 0;
    for (size_t want = 1; want <= 200000; want = want * 3 / 2 + 1) {
        arr = reallocarray(arr, want, sizeof *arr);
        CHECK(arr != NULL, "reallocarray(.., %zu, %zu)", want, sizeof *arr);
        for (size_t i = 0; i < cnt; i++) CHECK(arr[i] == (int)(i * 7), "reallocarray lost element %zu", i);
        for (size_t i = cnt; i < want; i++) arr[i] = (int)(i * 7);
        cnt = want;
    }
    free(arr);

    /* cfree, free_sized, free_aligned_sized: exported by hakmem; glibc 2.36
     * has cfree only as a compat symbol and no C23 functions, so on a plain
     * run the missing ones are skipped. */
    void *f_cfree = sym("cfree"), *f_fs = sym("free_sized"), *f_fas = sym("free_aligned_sized");
    if (expect_so) CHECK(f_cfree && f_fs && f_fas, "cfree/free_sized/free_aligned_sized not exported");
    if (f_cfree) {
        leak_check("cfree", REL_CFREE, f_cfree, 4 * MiB, 200);
        leak_check("cfree", REL_CFREE, f_cfree, 1000, 300000);
        ((cfree_fn)f_cfree)(NULL);
    } else printf("SKIP cfree (not found)\n");
    if (f_fs) {
        leak_check("free_sized", REL_FREE_SIZED, f_fs, 4 * MiB, 200);
        leak_check("free_sized", REL_FREE_SIZED, f_fs, 100000, 5000);
        leak_check("free_sized", REL_FREE_SIZED, f_fs, 48, 6000000);
        ((free_sized_fn)f_fs)(NULL, 0);
    } else printf("SKIP free_sized (not found)\n");
    if (f_fas) {
        leak_check("free_aligned_sized", REL_FREE_ALIGNED_SIZED, f_fas, 4 * MiB, 200);
        leak_check("free_aligned_sized", REL_FREE_ALIGNED_SIZED, f_fas, 640, 400000);
        ((free_aligned_sized_fn)f_fas)(NULL, 64, 0);
    } else printf("SKIP free_aligned_sized (not found)\n");

    /* Plain free releases memory too (the reference for the above). */
    size_t before = rss_bytes();
    for (int i = 0; i < 200; i++) {
        void *p = malloc(4 * MiB);
        CHECK(p != NULL, "malloc(4 MiB)");
        memset(p, i, 4 * MiB);
        free(p);
    }
    size_t after = rss_bytes();
    CHECK(after < before + 64 * MiB, "free does not release memory: RSS grew by %zu MiB", (after - before) / MiB);
}

/* ---------------------------------------------------------------- main */

struct section { const char *name; void (*fn)(void); };
static const struct section sections[] = {
    {"exports", t_exports}, {"sizes", t_sizes},   {"pow2", t_pow2},     {"usable", t_usable},
    {"realloc", t_realloc}, {"align", t_align},   {"calloc", t_calloc}, {"errors", t_errors},
    {"malloc0", t_malloc0}, {"others", t_others},
};

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    expect_so = getenv("HAKMEM_EXPECT_SO");
    if (expect_so && !*expect_so) expect_so = NULL;
    page = (size_t)sysconf(_SC_PAGESIZE);
    size_t ns = sizeof sections / sizeof sections[0];
    if (argc == 1) {
        for (size_t i = 0; i < ns; i++) { sections[i].fn(); printf("ok %s\n", sections[i].name); }
    } else {
        for (int a = 1; a < argc; a++) {
            size_t i;
            for (i = 0; i < ns; i++)
                if (strcmp(argv[a], sections[i].name) == 0) break;
            if (i == ns) FAIL("unknown section %s", argv[a]);
            sections[i].fn();
            printf("ok %s\n", sections[i].name);
        }
    }
    printf("OK\n");
    return 0;
}
