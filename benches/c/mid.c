/*
 * mid -- same-thread churn of mid sizes 2 KiB..1 MiB.
 *
 *   usage: mid seconds seed
 *
 * A live set of 128 blocks. Each operation picks a random slot, frees its
 * block and allocates a new one of a random size, log-uniform in
 * [2 KiB, 1 MiB], and writes one byte in every 4 KiB page of it (and its last
 * byte): the program uses what it allocates, so an allocator that hands back
 * fresh pages pays for the page faults. One operation is one malloc+free pair.
 * Output: `Throughput = N operations per second`.
 */
#include "bench.h"

#define LIVE 128
#define MIN_SIZE 2048
#define MAX_SIZE (1024 * 1024)

int main(int argc, char **argv) {
    bench_prog = "mid";
    if (argc != 3) {
        fprintf(stderr, "usage: mid seconds seed\n");
        return 2;
    }
    double seconds = arg_seconds(argv[1], "seconds");
    uint64_t seed = arg_u64(argv[2], "seed", 0, UINT64_MAX);
    bench_allocator_check();
    printf("mid: seconds=%g seed=%llu sizes=log-uniform[%d,%d] live=%d, one write per 4 KiB\n",
           seconds, (unsigned long long)seed, MIN_SIZE, MAX_SIZE, LIVE);

    uint64_t rng = rng_seed(seed);
    static char *live[LIVE];
    for (int i = 0; i < LIVE; i++) {
        size_t n = rng_logsize(&rng, MIN_SIZE, MAX_SIZE);
        live[i] = xmalloc(n);
        for (size_t off = 0; off < n; off += 4096) live[i][off] = 1;
    }

    uint64_t ops = 0;
    double start = now_seconds(), elapsed;
    do {
        for (int k = 0; k < 64; k++) {
            size_t idx = (size_t)(rng_next(&rng) % LIVE);
            free(live[idx]);
            size_t n = rng_logsize(&rng, MIN_SIZE, MAX_SIZE);
            char *p = xmalloc(n);
            for (size_t off = 0; off < n; off += 4096) p[off] = (char)k;
            p[n - 1] = (char)n;
            live[idx] = p;
        }
        ops += 64;
        elapsed = now_seconds() - start;
    } while (elapsed < seconds);

    for (int i = 0; i < LIVE; i++) free(live[i]);
    print_throughput(ops, elapsed, "malloc+free pairs");
    return 0;
}
