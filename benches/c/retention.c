/*
 * retention -- how much memory an allocator keeps resident after a burst is
 * freed.
 *
 *   usage: retention variant burst_mib light_seconds seed
 *
 *   variant 1 (same-thread): the thread that allocated the burst frees it;
 *   variant 2 (cross-thread): a second thread frees the whole burst, then exits;
 *   variant 3 (sparse, same-thread): the thread frees all but every 16th
 *   block of the burst, which stay live until after RSS2 is read (the
 *   partly used pages a server keeps after a spike; an allocator that
 *   returns only empty pages keeps nearly all of it).
 *
 * 1. RSS0 = resident set size (/proc/self/statm) after the allocator's start.
 * 2. Burst: allocate blocks of random size, log-uniform in [16 B, 64 KiB]
 *    (small and mid blocks), until `burst_mib` MiB have been requested,
 *    writing one byte in every 4 KiB page of each. RSS1 = RSS after it.
 * 3. Free every block (variant 1: this thread; variant 2: another thread;
 *    variant 3: this thread, all but every 16th).
 * 4. Light activity in the main thread for `light_seconds`: every 1 ms, 8
 *    mallocs of 16..256 B, then their frees (what a mostly idle server does;
 *    allocators that return memory lazily get the chance to do it).
 * 5. RSS2 = RSS after it.
 * Metric: (RSS2 - RSS0) / (RSS1 - RSS0) in percent, lower is better (0: all
 * returned to the OS, 100: all kept).
 * Output: `Retained = P percent of the burst's RSS increase`.
 */
#include "bench.h"
#include <pthread.h>
#include <sys/mman.h>

typedef struct {
    char **blocks;
    size_t count;
} burst_t;

static void free_all(burst_t *b) {
    for (size_t i = 0; i < b->count; i++) free(b->blocks[i]);
}

/* Frees the blocks of `b` whose index is (not) a multiple of 16. */
static void free_sparse(burst_t *b, int kept) {
    for (size_t i = 0; i < b->count; i++)
        if ((i % 16 == 0) == kept) free(b->blocks[i]);
}

static void *freeing_thread(void *arg) {
    free_all(arg);
    return NULL;
}

int main(int argc, char **argv) {
    bench_prog = "retention";
    if (argc != 5) {
        fprintf(stderr, "usage: retention variant(1=same-thread,2=cross-thread,3=sparse) burst_mib light_seconds seed\n");
        return 2;
    }
    int variant = (int)arg_u64(argv[1], "variant", 1, 3);
    uint64_t burst_mib = arg_u64(argv[2], "burst_mib", 1, 65536);
    double light = arg_seconds(argv[3], "light_seconds");
    uint64_t seed = arg_u64(argv[4], "seed", 0, UINT64_MAX);
    bench_allocator_check();
    printf("retention: variant=%s burst=%llu MiB of log-uniform[16,65536] blocks, light activity %g s, seed=%llu\n",
           variant == 1 ? "same-thread" : variant == 2 ? "cross-thread" : "sparse (1 block in 16 kept)", (unsigned long long)burst_mib, light,
           (unsigned long long)seed);
    fflush(stdout);

    /* Start the allocator (and stdio) before the baseline. */
    free(xmalloc(64));
    uint64_t rng = rng_seed(seed);
    size_t target = (size_t)burst_mib << 20;
    /* Upper bound of the block count (sizes >= 16); the array is mmap'd so
     * that it is not part of what the allocator does. */
    size_t cap = target / 16 + 1;
    char **blocks = mmap(NULL, cap * sizeof(char *), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (blocks == MAP_FAILED) {
        perror("retention: mmap");
        return 1;
    }
    long rss0 = rss_kib();

    size_t count = 0, requested = 0;
    while (requested < target) {
        size_t n = rng_logsize(&rng, 16, 65536);
        char *p = xmalloc(n);
        for (size_t off = 0; off < n; off += 4096) p[off] = (char)n;
        p[n - 1] = 1;
        memcpy(p + 8, &count, sizeof count); /* checked in the kept blocks (variant 3) */
        blocks[count++] = p;
        requested += n;
    }
    long rss1 = rss_kib();

    burst_t b = {blocks, count};
    if (variant == 1) {
        free_all(&b);
    } else if (variant == 3) {
        free_sparse(&b, 0);
    } else {
        pthread_t t;
        if (pthread_create(&t, NULL, freeing_thread, &b) != 0) {
            fprintf(stderr, "retention: pthread_create failed\n");
            return 1;
        }
        pthread_join(t, NULL);
    }
    long rss_freed = rss_kib();

    double start = now_seconds();
    uint64_t ticks = 0;
    while (now_seconds() - start < light) {
        char *small[8];
        for (int i = 0; i < 8; i++) {
            size_t n = rng_range(&rng, 16, 256);
            small[i] = xmalloc(n);
            small[i][0] = (char)i;
        }
        for (int i = 0; i < 8; i++) free(small[i]);
        ticks++;
        sleep_seconds(0.001);
    }
    long rss2 = rss_kib();
    if (variant == 3) {
        for (size_t i = 0; i < count; i += 16)
            if (memcmp(blocks[i] + 8, &i, sizeof i) != 0) {
                fprintf(stderr, "retention: kept block %zu lost its contents\n", i);
                return 1;
            }
        free_sparse(&b, 1);
    }
    munmap(blocks, cap * sizeof(char *));

    if (rss0 < 0 || rss1 < 0 || rss2 < 0) {
        fprintf(stderr, "retention: cannot read /proc/self/statm\n");
        return 1;
    }
    long grew = rss1 - rss0;
    if (grew <= 0) {
        fprintf(stderr, "retention: the burst did not increase RSS (%ld -> %ld KiB)\n", rss0, rss1);
        return 1;
    }
    printf("blocks = %zu, requested = %zu bytes; RSS before = %ld KiB, after burst = %ld KiB (+%ld), "
           "right after free = %ld KiB, after %llu ticks of light activity = %ld KiB\n",
           count, requested, rss0, rss1, grew, rss_freed, (unsigned long long)ticks, rss2);
    printf("Retained = %.2f percent of the burst's RSS increase\n", 100.0 * (double)(rss2 - rss0) / (double)grew);
    return 0;
}
