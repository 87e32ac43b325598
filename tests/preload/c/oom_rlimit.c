/* Out of memory for real: the program caps its own address space
 * (RLIMIT_AS = its size at start + 64 MiB, set with setrlimit once the
 * allocator is up, so that the limit is the same distance from what each
 * allocator holds at start) and checks what a C program sees when memory runs out.
 *
 * Usage: oom_rlimit huge            requests beyond the limit, every entry point
 *        oom_rlimit exhaust SIZE    malloc(SIZE) until NULL, free all, again
 *        oom_rlimit recover SIZE E  entry point E (malloc, calloc, realloc,
 *                                   aligned_alloc, posix_memalign, memalign,
 *                                   valloc, pvalloc) until NULL, free all,
 *                                   SIZE from every entry point, E again
 *        oom_rlimit overcommit      no limit: requests of twice RAM + swap,
 *                                   which the kernel's default overcommit
 *                                   heuristic refuses (`huge`'s checks)
 *
 * huge: malloc, calloc, realloc (of a small and of a big block),
 * posix_memalign and aligned_alloc of sizes beyond the limit return NULL
 * with errno ENOMEM (posix_memalign returns ENOMEM and leaves its pointer
 * alone); a failed realloc keeps the old block intact and usable; small
 * and big allocations work after each failure.
 *
 * exhaust: blocks of SIZE until malloc returns NULL with errno ENOMEM
 * (every block checked), then all freed: blocks of SIZE can be allocated
 * again as many as before (the memory is reused), and the program goes on;
 * after big blocks, small and big allocations of every tier work again.
 * Runs the same on glibc (the harness runs both). */
#define _GNU_SOURCE
#include "check.h"

#include <malloc.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>

static size_t limit;

static size_t v(size_t x) {
    volatile size_t y = x;
    return y;
}

/* VmSize of this process, in bytes. */
static size_t vm_size(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0;
    if (!f || fscanf(f, "%lu", &size) != 1) FAIL("cannot read /proc/self/statm");
    fclose(f);
    return (size_t)size * (size_t)sysconf(_SC_PAGESIZE);
}

static void cap_address_space(void) {
    /* Make sure the allocator has started (and stdio has its buffer). */
    void *p = malloc(100);
    CHECK(p != NULL, "malloc before the limit");
    free(p);
    printf("start\n");
    fflush(stdout);
    limit = vm_size() + 64 * MiB;
    struct rlimit r = {limit, limit};
    CHECK(setrlimit(RLIMIT_AS, &r) == 0, "setrlimit(RLIMIT_AS, %zu): %s", limit, strerror(errno));
}

/* Small and big allocations work: filled, checked, freed. */
static void still_works(const char *after) {
    static const size_t sizes[] = {1, 100, 1000, 5000, 40000, 300000, 2 * MiB, 8 * MiB};
    void *p[sizeof sizes / sizeof sizes[0]];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        p[i] = malloc(sizes[i]);
        CHECK(p[i] != NULL, "malloc(%zu) after %s", sizes[i], after);
        fill(p[i], sizes[i], i);
    }
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        CHECK_PAT(p[i], sizes[i], i, "block of %zu bytes after %s", sizes[i], after);
        free(p[i]);
    }
}

#define EXPECT_ENOMEM(call, what)                                               \
    do {                                                                        \
        errno = 0;                                                              \
        void *r_ = (call);                                                      \
        CHECK(r_ == NULL, "%s succeeded beyond the address-space limit", what); \
        CHECK(errno == ENOMEM, "%s: errno %d (%s), not ENOMEM", what, errno, strerror(errno)); \
        still_works(what);                                                      \
    } while (0)

static void t_huge(void) {
    size_t huge = limit; /* more than is left under the limit */
    EXPECT_ENOMEM(malloc(v(huge)), "malloc(huge)");
    EXPECT_ENOMEM(malloc(v(huge / 2 + 100 * MiB)), "malloc(limit/2 + 100 MiB)");
    EXPECT_ENOMEM(calloc(1, v(huge)), "calloc(1, huge)");
    EXPECT_ENOMEM(calloc(v(huge / 4096), 4096), "calloc(huge / 4096, 4096)");
    EXPECT_ENOMEM(aligned_alloc(4096, v(huge)), "aligned_alloc(4096, huge)");
    EXPECT_ENOMEM(aligned_alloc(2 * MiB, v(huge)), "aligned_alloc(2 MiB, huge)");
    EXPECT_ENOMEM(memalign(64, v(huge)), "memalign(64, huge)");

    static const size_t aligns[] = {16, 64, 4096, 2 * MiB};
    for (size_t i = 0; i < 4; i++) {
        void *q = (void *)&q;
        int rc = posix_memalign(&q, aligns[i], v(huge));
        CHECK(rc == ENOMEM, "posix_memalign(%zu, huge) returned %d, not ENOMEM", aligns[i], rc);
        CHECK(q == (void *)&q, "posix_memalign changed its pointer on failure");
        still_works("posix_memalign(huge)");
    }

    /* realloc of a small and of a big block: NULL, ENOMEM, the old block
     * intact and still usable (freed, grown a little, shrunk). */
    static const size_t olds[] = {24, 3000, 100000, 600000, 3 * MiB};
    for (size_t i = 0; i < sizeof olds / sizeof olds[0]; i++) {
        size_t n = olds[i];
        unsigned char *p = malloc(n);
        CHECK(p != NULL, "malloc(%zu)", n);
        fill(p, n, 77 + i);
        errno = 0;
        void *q = realloc(p, v(huge));
        CHECK(q == NULL, "realloc(%zu -> huge) succeeded", n);
        CHECK(errno == ENOMEM, "realloc(%zu -> huge): errno %d, not ENOMEM", n, errno);
        CHECK_PAT(p, n, 77 + i, "block kept by the failed realloc of %zu bytes", n);
        errno = 0;
        q = reallocarray(p, v(huge / 1024), 1024);
        CHECK(q == NULL && errno == ENOMEM, "reallocarray(%zu -> huge)", n);
        CHECK_PAT(p, n, 77 + i, "block kept by the failed reallocarray of %zu bytes", n);
        still_works("realloc(huge)");
        q = realloc(p, n + n / 2);
        CHECK(q != NULL, "realloc(%zu -> %zu) after a failure", n, n + n / 2);
        CHECK_PAT(q, n, 77 + i, "block grown after a failed realloc");
        q = realloc(q, n / 2 + 1);
        CHECK(q != NULL, "realloc shrink after a failure");
        CHECK_PAT(q, n / 2 + 1, 77 + i, "block shrunk after a failed realloc");
        free(q);
    }
    printf("huge requests refused, limit %zu MiB\n", limit / MiB);
}

static void t_exhaust(size_t size) {
    enum { MAXB = 1 << 20 };
    static void *blocks[MAXB];
    size_t rounds[2];
    for (int round = 0; round < 2; round++) {
        size_t n = 0;
        for (;;) {
            CHECK(n < MAXB, "%d blocks of %zu bytes under a %zu MiB limit", MAXB, size, limit / MiB);
            errno = 0;
            void *p = malloc(size);
            if (!p) {
                CHECK(errno == ENOMEM, "malloc(%zu) returned NULL with errno %d, not ENOMEM", size, errno);
                break;
            }
            /* The first and last 8 bytes: enough to see a block handed out twice. */
            fill(p, 8, n);
            fill((char *)p + size - 8, 8, ~n);
            blocks[n++] = p;
        }
        CHECK(n > 0, "not one block of %zu bytes under the limit", size);
        for (size_t i = 0; i < n; i++) {
            CHECK_PAT(blocks[i], 8, i, "block %zu of %zu bytes (head)", i, size);
            CHECK_PAT((char *)blocks[i] + size - 8, 8, ~i, "block %zu of %zu bytes (tail)", i, size);
        }
        for (size_t i = 0; i < n; i++) free(blocks[i]);
        rounds[round] = n;
    }
    printf("blocks of %zu bytes: %zu, after freeing them all: %zu\n", size, rounds[0], rounds[1]);
    /* The memory freed is reused: as much as before (a little slack for
     * the blocks the program's own stdio or the allocator's records took). */
    CHECK(rounds[1] + rounds[1] / 16 + 2 >= rounds[0], "only %zu blocks of %zu bytes the second time, %zu the first",
          rounds[1], size, rounds[0]);
    void *p = malloc(size);
    CHECK(p != NULL, "malloc(%zu) after freeing everything", size);
    free(p);
    /* Big blocks give their address space back (hakmem: the mappings its
     * big-block cache keeps are returned when a mapping fails), so every
     * size works again. Slab segments are kept by their tier for good, so
     * after small blocks filled the address space only their tier can use
     * it again (a known limit of hakmem; glibc passes either way). */
    if (size > MiB) still_works("freeing what filled the address space");
}

/* recover: the entry points, by name. Each allocates `size` bytes (valloc
 * and pvalloc page-aligned, the aligned ones at 64 bytes; realloc grows a
 * block of half the size, copying it). */
static const char *const entries[] = {"malloc",  "calloc",         "realloc", "aligned_alloc",
                                      "posix_memalign", "memalign", "valloc",  "pvalloc"};
#define ENTRIES (sizeof entries / sizeof entries[0])

static void *alloc_by(size_t e, size_t size) {
    void *p = NULL;
    errno = 0;
    switch (e) {
    case 0: return malloc(v(size));
    case 1: return calloc(1, v(size));
    case 2: {
        void *q = malloc(size / 2 + 1);
        if (!q) return NULL;
        p = realloc(q, v(size));
        if (!p) free(q);
        return p;
    }
    case 3: return aligned_alloc(64, v(size));
    case 4: {
        int rc = posix_memalign(&p, 64, v(size));
        if (rc) errno = rc;
        return rc ? NULL : p;
    }
    case 5: return memalign(64, v(size));
    case 6: return valloc(v(size));
    default: return pvalloc(v(size));
    }
}

/* Whether the block of `e` is as aligned as it must be. */
static int aligned_as(size_t e, void *p) {
    uintptr_t a = (uintptr_t)p;
    if (e == 6 || e == 7) return a % (uintptr_t)sysconf(_SC_PAGESIZE) == 0;
    if (e >= 3) return a % 64 == 0;
    return a % 16 == 0;
}

/* recover SIZE ENTRY: blocks of SIZE from ENTRY until it returns NULL with
 * ENOMEM (a list linked through the blocks: no array bounds the count),
 * all freed; then SIZE through every entry point, one block each, all
 * live at once and checked; the exhausting entry point gets as many
 * blocks again as before. */
static void t_recover(size_t size, size_t e) {
    size_t rounds[2];
    for (int round = 0; round < 2; round++) {
        void *head = NULL;
        size_t n = 0;
        for (;;) {
            void *p = alloc_by(e, size);
            if (!p) {
                CHECK(errno == ENOMEM, "%s(%zu) returned NULL with errno %d, not ENOMEM", entries[e], size, errno);
                break;
            }
            CHECK(aligned_as(e, p), "%s(%zu) = %p misaligned", entries[e], size, p);
            memcpy(p, &head, sizeof head);
            head = p;
            n++;
        }
        CHECK(n > 0, "not one block of %zu bytes from %s under the limit", size, entries[e]);
        while (head) {
            void *next;
            memcpy(&next, head, sizeof next);
            free(head);
            head = next;
        }
        rounds[round] = n;
        if (round == 0) {
            /* Every entry point allocates again (the retry after a failure
             * gives back what the caches hold). */
            void *p[ENTRIES];
            for (size_t i = 0; i < ENTRIES; i++) {
                p[i] = alloc_by(i, size);
                CHECK(p[i] != NULL, "%s(%zu) after %s(%zu) filled the address space and all was freed: errno %d",
                      entries[i], size, entries[e], size, errno);
                CHECK(aligned_as(i, p[i]), "%s(%zu) = %p misaligned", entries[i], size, p[i]);
                fill(p[i], size, i);
            }
            for (size_t i = 0; i < ENTRIES; i++) {
                CHECK_PAT(p[i], size, i, "block of %s(%zu)", entries[i], size);
                free(p[i]);
            }
        }
    }
    printf("%s(%zu): %zu blocks, after freeing them all: %zu\n", entries[e], size, rounds[0], rounds[1]);
    /* glibc's pvalloc loses 6 % to fragmentation the second time. */
    CHECK(rounds[1] + rounds[1] / 8 + 2 >= rounds[0], "only %zu blocks of %s(%zu) the second time, %zu the first",
          rounds[1], entries[e], size, rounds[0]);
}

/* overcommit: the kernel's default heuristic (vm.overcommit_memory=0)
 * refuses one mapping larger than RAM + swap; so does strict accounting
 * (2). Under 1 ("always") every request succeeds: nothing to check. */
static int overcommit_refuses(void) {
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int mode = 0;
    if (!f || fscanf(f, "%d", &mode) != 1) FAIL("cannot read /proc/sys/vm/overcommit_memory");
    fclose(f);
    if (mode == 1) {
        printf("vm.overcommit_memory=1: the kernel grants any request, nothing to check\n");
        return 0;
    }
    struct sysinfo si;
    CHECK(sysinfo(&si) == 0, "sysinfo");
    limit = 2 * ((size_t)si.totalram + (size_t)si.totalswap) * si.mem_unit;
    printf("vm.overcommit_memory=%d: requests of %zu MiB\n", mode, limit / MiB);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) FAIL("usage: oom_rlimit huge | exhaust SIZE | recover SIZE ENTRY | overcommit");
    if (!strcmp(argv[1], "overcommit")) {
        if (overcommit_refuses()) t_huge();
        printf("OK\n");
        return 0;
    }
    cap_address_space();
    if (!strcmp(argv[1], "huge"))
        t_huge();
    else if (!strcmp(argv[1], "exhaust") && argc == 3)
        t_exhaust((size_t)strtoull(argv[2], NULL, 0));
    else if (!strcmp(argv[1], "recover") && argc == 4) {
        size_t e = 0;
        while (e < ENTRIES && strcmp(entries[e], argv[3])) e++;
        if (e == ENTRIES) FAIL("unknown entry point %s", argv[3]);
        t_recover((size_t)strtoull(argv[2], NULL, 0), e);
    }
    else
        FAIL("unknown section %s", argv[1]);
    printf("OK\n");
    return 0;
}
