/*
 * calloc-large -- calloc of large zeroed buffers, 1..64 MiB.
 *
 *   usage: calloc-large seconds seed
 *
 * Each operation callocs a buffer of a random size, log-uniform in
 * [1 MiB, 64 MiB], reads one byte in every 4 KiB page and checks it is zero
 * (exit status 1 if not), then dirties the buffer (one byte in every 8th
 * page and the last byte) so that an allocator reusing the memory must zero
 * it again, and frees it. One operation is one calloc+read+free.
 * Output: `Throughput = N operations per second`.
 */
#include "bench.h"

#define MIN_SIZE (1024 * 1024)
#define MAX_SIZE (64 * 1024 * 1024)

int main(int argc, char **argv) {
    bench_prog = "calloc-large";
    if (argc != 3) {
        fprintf(stderr, "usage: calloc-large seconds seed\n");
        return 2;
    }
    double seconds = arg_seconds(argv[1], "seconds");
    uint64_t seed = arg_u64(argv[2], "seed", 0, UINT64_MAX);
    bench_allocator_check();
    printf("calloc-large: seconds=%g seed=%llu sizes=log-uniform[1 MiB,64 MiB], one read per 4 KiB\n",
           seconds, (unsigned long long)seed);

    uint64_t rng = rng_seed(seed);
    uint64_t ops = 0;
    double start = now_seconds(), elapsed;
    do {
        size_t n = rng_logsize(&rng, MIN_SIZE, MAX_SIZE);
        size_t count = 16, each = (n + 15) / 16; /* calloc(nmemb, size) with nmemb > 1 */
        n = count * each;
        volatile unsigned char *p = calloc(count, each);
        if (p == NULL) {
            fprintf(stderr, "calloc-large: calloc(%zu, %zu) returned NULL\n", count, each);
            return 1;
        }
        unsigned acc = 0;
        for (size_t off = 0; off < n; off += 4096) acc |= p[off];
        acc |= p[n - 1];
        if (acc != 0) {
            for (size_t off = 0; off < n; off++)
                if (p[off] != 0) {
                    fprintf(stderr, "calloc-large: calloc(%zu, %zu) byte %zu is 0x%02x, not zero\n", count,
                            each, off, p[off]);
                    return 1;
                }
        }
        for (size_t off = 0; off < n; off += 8 * 4096) p[off] = 0xAB;
        p[n - 1] = 0xCD;
        free((void *)p);
        ops++;
        elapsed = now_seconds() - start;
    } while (elapsed < seconds);

    print_throughput(ops, elapsed, "calloc+read+free of 1-64 MiB");
    return 0;
}
