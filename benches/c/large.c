/*
 * large -- allocate, touch and free large blocks of 1..16 MiB.
 *
 *   usage: large seconds seed
 *
 * Each operation allocates a block of a random size, log-uniform in
 * [1 MiB, 16 MiB], writes one byte in every 4 KiB page of it, and frees it.
 * This is the loop a cache of released mappings (hakmem's BigCache) exists
 * for: an allocator that maps and unmaps every time pays a page fault per
 * page. One operation is one malloc+touch+free.
 * Output: `Throughput = N operations per second`.
 */
#include "bench.h"

#define MIN_SIZE (1024 * 1024)
#define MAX_SIZE (16 * 1024 * 1024)

int main(int argc, char **argv) {
    bench_prog = "large";
    if (argc != 3) {
        fprintf(stderr, "usage: large seconds seed\n");
        return 2;
    }
    double seconds = arg_seconds(argv[1], "seconds");
    uint64_t seed = arg_u64(argv[2], "seed", 0, UINT64_MAX);
    bench_allocator_check();
    printf("large: seconds=%g seed=%llu sizes=log-uniform[1 MiB,16 MiB], one write per 4 KiB\n",
           seconds, (unsigned long long)seed);

    uint64_t rng = rng_seed(seed);
    uint64_t ops = 0;
    double start = now_seconds(), elapsed;
    do {
        size_t n = rng_logsize(&rng, MIN_SIZE, MAX_SIZE);
        char *p = xmalloc(n);
        for (size_t off = 0; off < n; off += 4096) p[off] = (char)off;
        p[n - 1] = 1;
        keep(p);
        free(p);
        ops++;
        elapsed = now_seconds() - start;
    } while (elapsed < seconds);

    print_throughput(ops, elapsed, "malloc+touch+free of 1-16 MiB");
    return 0;
}
