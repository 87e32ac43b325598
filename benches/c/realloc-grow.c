/*
 * realloc-grow -- growing buffers by realloc, from 16 B to several MiB.
 *
 *   usage: realloc-grow seconds seed
 *
 * 16 vectors grow in an interleaved random order (so a block can rarely grow
 * in place just because it is the last one allocated). Each step picks a
 * random vector and reallocs it to 1.5x its size plus 16..79 bytes, checks
 * that the bytes it wrote before survived the move, and writes the new last
 * byte. A vector that passes its limit (random, 1..4 MiB) is freed and starts
 * again at 16 B. One operation is one realloc (or the malloc restarting a
 * vector). A lost byte exits with status 1.
 * Output: `Throughput = N operations per second`.
 */
#include "bench.h"

#define NVEC 16
#define MIN_LIMIT (1024 * 1024)
#define MAX_LIMIT (4 * 1024 * 1024)

typedef struct {
    unsigned char *p;
    size_t size, limit;
    unsigned char sig;
} vec_t;

static void restart(vec_t *v, uint64_t *rng) {
    v->size = 16;
    v->limit = rng_range(rng, MIN_LIMIT, MAX_LIMIT);
    v->sig = (unsigned char)(rng_next(rng) | 1);
    v->p = xmalloc(v->size);
    v->p[0] = v->sig;
    v->p[v->size - 1] = (unsigned char)v->size;
}

int main(int argc, char **argv) {
    bench_prog = "realloc-grow";
    if (argc != 3) {
        fprintf(stderr, "usage: realloc-grow seconds seed\n");
        return 2;
    }
    double seconds = arg_seconds(argv[1], "seconds");
    uint64_t seed = arg_u64(argv[2], "seed", 0, UINT64_MAX);
    bench_allocator_check();
    printf("realloc-grow: seconds=%g seed=%llu vectors=%d growth=1.5x+16..79 B, 16 B -> 1..4 MiB\n",
           seconds, (unsigned long long)seed, NVEC);

    uint64_t rng = rng_seed(seed);
    vec_t v[NVEC];
    for (int i = 0; i < NVEC; i++) restart(&v[i], &rng);

    uint64_t ops = 0;
    double start = now_seconds(), elapsed;
    do {
        for (int k = 0; k < 256; k++) {
            vec_t *x = &v[rng_next(&rng) % NVEC];
            size_t old = x->size;
            size_t n = old + old / 2 + 16 + (size_t)(rng_next(&rng) % 64);
            if (n > x->limit) {
                free(x->p);
                restart(x, &rng);
                ops++;
                continue;
            }
            unsigned char *p = realloc(x->p, n);
            if (p == NULL) {
                fprintf(stderr, "realloc-grow: realloc(%zu) returned NULL\n", n);
                return 1;
            }
            if (p[0] != x->sig || p[old - 1] != (unsigned char)old) {
                fprintf(stderr, "realloc-grow: realloc from %zu to %zu bytes lost the contents\n", old, n);
                return 1;
            }
            p[n - 1] = (unsigned char)n;
            x->p = p;
            x->size = n;
            ops++;
        }
        elapsed = now_seconds() - start;
    } while (elapsed < seconds);

    for (int i = 0; i < NVEC; i++) free(v[i].p);
    print_throughput(ops, elapsed, "reallocs");
    return 0;
}
