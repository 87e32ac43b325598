/* Regression: growing a big block with realloc (mremap to a new range) must
 * never disturb the segment-map entries of memory other threads allocate at
 * the same time (the moved-from range is freed by the kernel and may be
 * handed to another thread at once). Two threads allocate 500 KiB blocks and
 * check malloc_usable_size() on each while the main thread grows 300 MiB
 * blocks to 600 MiB. Prints OK. */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NK 3000
static volatile int stop;
static void *k[2][NK];

static void *worker(void *a) {
    int me = (int)(long)a;
    unsigned round = 0;
    while (!stop) {
        /* Mid blocks (new slab segments) and big blocks (new mappings), both
         * of which can land in a range a realloc just moved away from. */
        size_t size = (round++ & 1) ? (3u << 19) : (500u << 10);
        int n = size > (1u << 20) ? 8 : NK;
        for (int i = 0; i < n && !stop; i++) k[me][i] = malloc(size);
        for (int i = 0; i < NK; i++) {
            if (!k[me][i]) continue;
            if (malloc_usable_size(k[me][i]) == 0) {
                fprintf(stderr, "FAIL: lost registration of %p\n", k[me][i]);
                abort();
            }
            free(k[me][i]);
            k[me][i] = 0;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    pthread_t t[2];
    for (long i = 0; i < 2; i++) pthread_create(&t[i], 0, worker, (void *)i);
    struct timespec s, n;
    clock_gettime(CLOCK_MONOTONIC, &s);
    unsigned it = 0;
    do {
        size_t from = (it & 1) ? (30u << 20) : (300u << 20);
        size_t to = (it & 1) ? (100u << 20) : (600u << 20);
        it++;
        char *p = malloc(from);
        void *blocker = malloc(3u << 19); /* makes in-place growth unlikely */
        if (!p || !blocker) { fprintf(stderr, "FAIL: malloc\n"); return 1; }
        p[0] = 1;
        p = realloc(p, to);
        if (!p || p[0] != 1) { fprintf(stderr, "FAIL: realloc\n"); return 1; }
        free(blocker);
        free(p);
        clock_gettime(CLOCK_MONOTONIC, &n);
    } while ((n.tv_sec - s.tv_sec) + (n.tv_nsec - s.tv_nsec) / 1e9 < secs);
    stop = 1;
    for (int i = 0; i < 2; i++) pthread_join(t[i], 0);
    printf("OK\n");
    return 0;
}
