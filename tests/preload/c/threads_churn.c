/* 2000 short-lived threads (4 alive at a time) each allocate blocks of
 * various sizes — now and then > 1 MiB — check them, free most, hand one to
 * the main thread (freed there after the thread has exited) and exit.
 *
 * Memory of exited threads must be reused: RSS after all 2000 threads minus
 * RSS after the first 100 must stay below 64 MiB. */
#define _GNU_SOURCE
#include "check.h"

#include <pthread.h>
#include <stdint.h>

enum { TOTAL = 2000, WAVE = 4, BASELINE_AFTER = 100, PER_THREAD = 48 };

struct job { int id; void *handed; size_t handed_n; };

static void *worker(void *arg) {
    struct job *j = arg;
    uint64_t rng = 0xABCDEF + (uint64_t)j->id * 104729;
    void *p[PER_THREAD];
    size_t n[PER_THREAD];
    for (int i = 0; i < PER_THREAD; i++) {
        uint64_t r = rng_next(&rng);
        if (i == 0 && j->id % 5 == 0) n[i] = 1 * MiB + 1 + r % (3 * MiB);   /* big, every 5th thread */
        else if (r % 16 == 0) n[i] = 32 * KiB + r % (512 * KiB);             /* L2.5 */
        else if (r % 4 == 0) n[i] = 1 * KiB + r % (31 * KiB);                /* L2 */
        else n[i] = 1 + r % 1024;                                            /* tiny */
        p[i] = malloc(n[i]);
        CHECK(p[i] != NULL, "malloc(%zu) in thread %d", n[i], j->id);
        fill(p[i], n[i], (uint64_t)j->id * 1000 + i);
        if (r % 7 == 0) { /* grow one in place or by moving */
            void *q = realloc(p[i], n[i] * 2);
            CHECK(q != NULL, "realloc");
            CHECK_PAT(q, n[i], (uint64_t)j->id * 1000 + i, "realloc'd block in thread %d", j->id);
            p[i] = q;
        }
    }
    for (int i = 1; i < PER_THREAD; i++) {
        CHECK_PAT(p[i], n[i], (uint64_t)j->id * 1000 + i, "block %d of thread %d", i, j->id);
        free(p[i]);
    }
    j->handed = p[0]; /* freed by the main thread after this thread has exited */
    j->handed_n = n[0];
    return NULL;
}

int main(void) {
    size_t rss_base = 0, rss_peak = 0;
    struct job jobs[WAVE];
    pthread_t t[WAVE];
    int started = 0;
    while (started < TOTAL) {
        int w = 0;
        for (; w < WAVE && started < TOTAL; w++, started++) {
            jobs[w].id = started;
            CHECK(pthread_create(&t[w], NULL, worker, &jobs[w]) == 0, "pthread_create #%d", started);
        }
        for (int i = 0; i < w; i++) {
            CHECK(pthread_join(t[i], NULL) == 0, "pthread_join");
            CHECK_PAT(jobs[i].handed, jobs[i].handed_n, (uint64_t)jobs[i].id * 1000,
                      "block handed over by exited thread %d", jobs[i].id);
            free(jobs[i].handed);
        }
        if (started == BASELINE_AFTER) rss_base = rss_bytes();
        if (started > BASELINE_AFTER) {
            size_t r = rss_bytes();
            if (r > rss_peak) rss_peak = r;
        }
    }
    size_t rss_end = rss_bytes();
    printf("rss after %d threads: %zu KiB, after %d: %zu KiB, peak %zu KiB\n", BASELINE_AFTER,
           rss_base / KiB, TOTAL, rss_end / KiB, rss_peak / KiB);
    if (rss_end > rss_base && rss_end - rss_base >= 64 * MiB)
        FAIL("memory of exited threads is not reused: RSS grew by %zu MiB between thread %d and thread %d",
             (rss_end - rss_base) / MiB, BASELINE_AFTER, TOTAL);
    printf("OK\n");
    return 0;
}
