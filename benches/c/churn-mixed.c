/*
 * churn-mixed -- same-thread churn of mixed random sizes 8 B..4 KiB over a
 * live set.
 *
 *   usage: churn-mixed seconds seed
 *
 * A live set of 10000 blocks (initially allocated, random sizes). Each
 * operation picks a random slot, frees its block and allocates a new one of a
 * random size, log-uniform in [8, 4096] (each power of two equally likely, so
 * small sizes dominate by count), writing its first and last byte. Random
 * sizes and slots come from the seed. One operation is one malloc+free pair.
 * Output: `Throughput = N operations per second`.
 */
#include "bench.h"

#define LIVE 10000
#define MIN_SIZE 8
#define MAX_SIZE 4096

int main(int argc, char **argv) {
    bench_prog = "churn-mixed";
    if (argc != 3) {
        fprintf(stderr, "usage: churn-mixed seconds seed\n");
        return 2;
    }
    double seconds = arg_seconds(argv[1], "seconds");
    uint64_t seed = arg_u64(argv[2], "seed", 0, UINT64_MAX);
    bench_allocator_check();
    printf("churn-mixed: seconds=%g seed=%llu sizes=log-uniform[%d,%d] live=%d\n", seconds,
           (unsigned long long)seed, MIN_SIZE, MAX_SIZE, LIVE);

    uint64_t rng = rng_seed(seed);
    static char *live[LIVE];
    for (int i = 0; i < LIVE; i++) {
        size_t n = rng_logsize(&rng, MIN_SIZE, MAX_SIZE);
        live[i] = xmalloc(n);
        live[i][0] = 1;
    }

    uint64_t ops = 0;
    double start = now_seconds(), elapsed;
    do {
        for (int k = 0; k < 4096; k++) {
            size_t idx = (size_t)(rng_next(&rng) % LIVE);
            free(live[idx]);
            size_t n = rng_logsize(&rng, MIN_SIZE, MAX_SIZE);
            char *p = xmalloc(n);
            p[0] = (char)k;
            p[n - 1] = (char)n;
            live[idx] = p;
        }
        ops += 4096;
        elapsed = now_seconds() - start;
    } while (elapsed < seconds);

    for (int i = 0; i < LIVE; i++) free(live[i]);
    print_throughput(ops, elapsed, "malloc+free pairs");
    return 0;
}
