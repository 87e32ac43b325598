/* Absurd sizes: each call must fail cleanly. usage: huge <case>
 *   malloc_max             malloc(SIZE_MAX)
 *   malloc_over_ptrdiff    malloc(PTRDIFF_MAX + 1)
 *   calloc_overflow        calloc(SIZE_MAX / 2, 4)  (n * size overflows)
 *   realloc_max            realloc(malloc(16), SIZE_MAX)
 *   reallocarray_overflow  reallocarray(malloc(16), SIZE_MAX / 2, 4)
 *   aligned_alloc_huge     aligned_alloc(64, SIZE_MAX - 10)
 *   memalign_huge          memalign(4096, SIZE_MAX - 10)
 *   posix_memalign_huge    posix_memalign(&p, 64, SIZE_MAX - 10)  (returns the error)
 *   posix_memalign_align   posix_memalign(&p, 24, 64): not a power of two -> EINVAL
 * Prints "RESULT NULL <ENOMEM|EINVAL|errno n>" or "RESULT BLOCK", then the
 * aftermath (64 B blocks) and SURVIVED. A block that realloc kept is freed. */
#include "sec.h"

static const char *errname(int e) {
    static char buf[32];
    if (e == ENOMEM) return "ENOMEM";
    if (e == EINVAL) return "EINVAL";
    snprintf(buf, sizeof buf, "errno %d", e);
    return buf;
}

int main(int argc, char **argv) {
    announce();
    if (argc < 2) setup_fail("missing case");
    const char *c = argv[1];
    void *volatile r = 0;
    int err = 0;
    char *old = 0;
    if (!strcmp(c, "realloc_max") || !strcmp(c, "reallocarray_overflow")) {
        old = M(16);
        if (!old) setup_fail("malloc");
        MEMSET(old, 0x33, 16);
    }
    volatile size_t max = SIZE_MAX;
    errno = 0;
    if (!strcmp(c, "malloc_max")) {
        r = M(max);
        err = errno;
    } else if (!strcmp(c, "malloc_over_ptrdiff")) {
        r = M((size_t)PTRDIFF_MAX + 1);
        err = errno;
    } else if (!strcmp(c, "calloc_overflow")) {
        r = CA(max / 2, 4);
        err = errno;
    } else if (!strcmp(c, "realloc_max")) {
        r = R(old, max);
        err = errno;
    } else if (!strcmp(c, "reallocarray_overflow")) {
        void *(*volatile ra)(void *, size_t, size_t) = reallocarray;
        r = ra(old, max / 2, 4);
        err = errno;
    } else if (!strcmp(c, "aligned_alloc_huge")) {
        void *(*volatile aa)(size_t, size_t) = aligned_alloc;
        r = aa(64, max - 10);
        err = errno;
    } else if (!strcmp(c, "memalign_huge")) {
        void *(*volatile ma)(size_t, size_t) = memalign;
        r = ma(4096, max - 10);
        err = errno;
    } else if (!strcmp(c, "posix_memalign_huge") || !strcmp(c, "posix_memalign_align")) {
        int (*volatile pm)(void **, size_t, size_t) = posix_memalign;
        void *out = 0;
        int huge = !strcmp(c, "posix_memalign_huge");
        err = pm(&out, huge ? 64 : 24, huge ? max - 10 : 64);
        r = err ? 0 : out;
    } else {
        setup_fail("unknown case");
    }
    if (r) {
        printf("RESULT BLOCK\n");
        if (r != old) F(r);
        old = 0;
    } else {
        printf("RESULT NULL %s\n", errname(err));
    }
    if (old) {
        /* The failed realloc must have kept the block intact. */
        for (int i = 0; i < 16; i++)
            if (old[i] != 0x33) printf("OLD BLOCK CHANGED\n");
        F(old);
    }
    misuse_done();
    aftermath(64, 0, 0);
    return survived();
}
