/* 2000 threads created in waves of 20 (each wave joined before the next):
 * every thread allocates blocks of every tier, frees most of them, frees
 * the blocks the thread of the same index in the previous wave left behind
 * (blocks of an exited thread, on pages it abandoned), and leaves some of
 * its own to the next wave.
 *
 * Prints its peak RSS (getrusage) and wall time; the harness runs it with
 * and without hakmem and compares the peaks (threads_churn.c checks RSS
 * growth with 4 threads at a time). */
#define _GNU_SOURCE
#include "check.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

enum { TOTAL = 2000, WAVE = 20, ALLOCS = 40, LEFT = 6 };

struct job {
    int id;
    void *left[LEFT];    /* blocks for the next wave's thread of this index */
    size_t left_n[LEFT];
    int left_id;         /* the thread that left them */
};

static size_t size_for(int id, int i, uint64_t r) {
    if (i == 0 && id % 10 == 0) return 1 * MiB + r % (2 * MiB); /* big, every 10th thread */
    if (r % 16 == 0) return 32 * KiB + r % (256 * KiB);          /* L2.5 */
    if (r % 4 == 0) return 1 * KiB + r % (31 * KiB);             /* L2 */
    return 1 + r % 1024;                                         /* tiny */
}

static void *worker(void *arg) {
    struct job *j = arg;
    uint64_t rng = 0x5EED + (uint64_t)j->id * 7919;
    void *p[ALLOCS];
    size_t n[ALLOCS];
    for (int i = 0; i < ALLOCS; i++) {
        n[i] = size_for(j->id, i, rng_next(&rng));
        p[i] = malloc(n[i]);
        CHECK(p[i] != NULL, "malloc(%zu) in thread %d", n[i], j->id);
        fill(p[i], n[i], (uint64_t)j->id * 100 + i);
    }
    for (int k = 0; k < LEFT; k++) {
        if (!j->left[k]) continue;
        CHECK_PAT(j->left[k], j->left_n[k], (uint64_t)j->left_id * 100 + k, "block left by thread %d",
                  j->left_id);
        free(j->left[k]);
    }
    for (int i = LEFT; i < ALLOCS; i++) {
        CHECK_PAT(p[i], n[i], (uint64_t)j->id * 100 + i, "block %d of thread %d", i, j->id);
        free(p[i]);
    }
    for (int k = 0; k < LEFT; k++) {
        j->left[k] = p[k];
        j->left_n[k] = n[k];
    }
    j->left_id = j->id;
    return NULL;
}

int main(void) {
    static struct job jobs[WAVE];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int started = 0; started < TOTAL; started += WAVE) {
        pthread_t t[WAVE];
        for (int w = 0; w < WAVE; w++) {
            jobs[w].id = started + w;
            CHECK(pthread_create(&t[w], NULL, worker, &jobs[w]) == 0, "pthread_create #%d", started + w);
        }
        for (int w = 0; w < WAVE; w++) CHECK(pthread_join(t[w], NULL) == 0, "pthread_join");
    }
    for (int w = 0; w < WAVE; w++)
        for (int k = 0; k < LEFT; k++) {
            CHECK_PAT(jobs[w].left[k], jobs[w].left_n[k], (uint64_t)jobs[w].left_id * 100 + k, "last wave's block");
            free(jobs[w].left[k]);
        }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    struct rusage ru;
    CHECK(getrusage(RUSAGE_SELF, &ru) == 0, "getrusage");
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    printf("threads %d in waves of %d: %ld ms\n", TOTAL, WAVE, ms);
    printf("peak_rss_kib %ld\n", ru.ru_maxrss);
    printf("OK\n");
    return 0;
}
