/*
 * threads -- thousands of short-lived threads, each allocating a little.
 *
 *   usage: threads seconds concurrency seed
 *
 * Threads are created in waves of `concurrency`. Thread i of a wave first
 * frees the 32 blocks that thread i of the previous wave left behind (memory
 * of a thread that has exited, freed by another thread), then allocates 64
 * blocks of random size (log-uniform in [16, 1024]) writing their first
 * byte, frees 32 of them and leaves the other 32 for its successor. The main
 * thread joins each wave before starting the next. Waves repeat until
 * `seconds` have elapsed. The metric is threads run per second.
 * Output: `Throughput = N threads per second`.
 */
#include "bench.h"
#include <pthread.h>

#define ALLOCS 64
#define LEFT 32

typedef struct {
    char *left[LEFT];
    uint64_t rng;
} slot_t;

static void *work(void *arg) {
    slot_t *s = arg;
    for (int i = 0; i < LEFT; i++) {
        free(s->left[i]);
        s->left[i] = NULL;
    }
    char *mine[ALLOCS];
    for (int i = 0; i < ALLOCS; i++) {
        size_t n = rng_logsize(&s->rng, 16, 1024);
        mine[i] = xmalloc(n);
        mine[i][0] = (char)i;
    }
    for (int i = 0; i < ALLOCS; i++) {
        if (i % 2 == 0)
            free(mine[i]);
        else
            s->left[i / 2] = mine[i];
    }
    return NULL;
}

int main(int argc, char **argv) {
    bench_prog = "threads";
    if (argc != 4) {
        fprintf(stderr, "usage: threads seconds concurrency seed\n");
        return 2;
    }
    double seconds = arg_seconds(argv[1], "seconds");
    uint64_t conc = arg_u64(argv[2], "concurrency", 1, 1024);
    uint64_t seed = arg_u64(argv[3], "seed", 0, UINT64_MAX);
    bench_allocator_check();
    printf("threads: seconds=%g concurrency=%llu seed=%llu, each thread: free %d inherited, malloc %d (16..1024 B), free %d\n",
           seconds, (unsigned long long)conc, (unsigned long long)seed, LEFT, ALLOCS, ALLOCS - LEFT);

    slot_t *slots = calloc(conc, sizeof *slots);
    pthread_t *tids = calloc(conc, sizeof *tids);
    if (slots == NULL || tids == NULL) {
        fprintf(stderr, "threads: out of memory\n");
        return 1;
    }
    for (uint64_t i = 0; i < conc; i++) slots[i].rng = rng_seed(seed + i);

    uint64_t threads = 0;
    double start = now_seconds(), elapsed;
    do {
        for (uint64_t i = 0; i < conc; i++) {
            int err = pthread_create(&tids[i], NULL, work, &slots[i]);
            if (err != 0) {
                fprintf(stderr, "threads: pthread_create: %s\n", strerror(err));
                return 1;
            }
        }
        for (uint64_t i = 0; i < conc; i++) pthread_join(tids[i], NULL);
        threads += conc;
        elapsed = now_seconds() - start;
    } while (elapsed < seconds);

    for (uint64_t i = 0; i < conc; i++)
        for (int j = 0; j < LEFT; j++) free(slots[i].left[j]);
    free(slots);
    free(tids);
    if (elapsed <= 0) elapsed = 1e-9;
    printf("threads run = %llu, elapsed = %.3f s\n", (unsigned long long)threads, elapsed);
    printf("Throughput = %.0f threads per second\n", (double)threads / elapsed);
    return 0;
}
