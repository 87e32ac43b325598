/*
 * aligned -- posix_memalign and aligned_alloc with alignments 16..4096 and
 * sizes 16 B..64 KiB.
 *
 *   usage: aligned seconds seed
 *
 * A live set of 1024 blocks. Each operation picks a random slot, frees its
 * block and allocates a new one with a random alignment (a power of two in
 * [16, 4096]) and a random size (log-uniform in [16, 65536]), alternately with
 * posix_memalign and aligned_alloc (whose size is rounded up to a multiple of
 * the alignment, as C11 asks). The alignment is checked (exit status 1 if
 * wrong) and the first and last bytes are written. One operation is one
 * aligned allocation + free. Output: `Throughput = N operations per second`.
 */
#include "bench.h"

#define LIVE 1024

int main(int argc, char **argv) {
    bench_prog = "aligned";
    if (argc != 3) {
        fprintf(stderr, "usage: aligned seconds seed\n");
        return 2;
    }
    double seconds = arg_seconds(argv[1], "seconds");
    uint64_t seed = arg_u64(argv[2], "seed", 0, UINT64_MAX);
    bench_allocator_check();
    printf("aligned: seconds=%g seed=%llu alignments=16..4096 sizes=log-uniform[16,65536] live=%d\n",
           seconds, (unsigned long long)seed, LIVE);

    uint64_t rng = rng_seed(seed);
    static char *live[LIVE];
    uint64_t ops = 0;
    double start = now_seconds(), elapsed;
    do {
        for (int k = 0; k < 1024; k++) {
            size_t idx = (size_t)(rng_next(&rng) % LIVE);
            free(live[idx]); /* free(NULL) on the first pass */
            size_t align = (size_t)16 << (rng_next(&rng) % 9);
            size_t n = rng_logsize(&rng, 16, 65536);
            char *p;
            if (k & 1) {
                n = (n + align - 1) & ~(align - 1);
                p = aligned_alloc(align, n);
                if (p == NULL) {
                    fprintf(stderr, "aligned: aligned_alloc(%zu, %zu) returned NULL\n", align, n);
                    return 1;
                }
            } else {
                void *q = NULL;
                int err = posix_memalign(&q, align, n);
                if (err != 0) {
                    fprintf(stderr, "aligned: posix_memalign(%zu, %zu) failed: %s\n", align, n, strerror(err));
                    return 1;
                }
                p = q;
            }
            if (((uintptr_t)p & (align - 1)) != 0) {
                fprintf(stderr, "aligned: %s(%zu, %zu) returned %p, not %zu-aligned\n",
                        (k & 1) ? "aligned_alloc" : "posix_memalign", align, n, (void *)p, align);
                return 1;
            }
            p[0] = (char)k;
            p[n - 1] = (char)n;
            live[idx] = p;
        }
        ops += 1024;
        elapsed = now_seconds() - start;
    } while (elapsed < seconds);

    for (int i = 0; i < LIVE; i++) free(live[i]);
    print_throughput(ops, elapsed, "aligned allocation + free pairs");
    return 0;
}
