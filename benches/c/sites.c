/*
 * sites -- several call sites with different lifetimes and growth: what
 * per-call-site rules (hakmem's site rules) are for.
 *
 *   usage: sites seconds seed
 *
 * Four allocation sites, each a distinct non-inlined function (so each has
 * its own return address):
 * - site_long: long-lived blocks of 8..64 KiB (log-uniform), a set of 1024
 *   of which one is replaced every 16 rounds;
 * - site_short: short-lived blocks of the same sizes, 64 per round,
 *   allocated interleaved with the round's other work and all freed at its
 *   end (they share pages with the long-lived ones unless the allocator
 *   keeps them apart, and those pages can then never be returned);
 * - site_grow: a buffer grown by realloc (x1.5 + 1 KiB) from 1 KiB to
 *   1 MiB, then freed and started again, 4 steps per round;
 * - site_big: long-lived blocks of 2 MiB, a set of 16 of which one is
 *   replaced every 64 rounds.
 * Every block is written (one byte per 4 KiB page). Metrics: `Throughput`
 * = mallocs, frees and reallocs per second; peak RSS (VmHWM, printed at exit).
 */
#include "bench.h"

#define LONG_N 1024
#define SHORT_N 64
#define BIG_N 16
#define BIG_SIZE (2u << 20)
#define GROW_MAX (1u << 20)

static void touch(char *p, size_t n) {
    for (size_t off = 0; off < n; off += 4096) p[off] = (char)off;
    p[n - 1] = 1;
}

__attribute__((noinline)) static char *site_long(uint64_t *rng) {
    size_t n = rng_logsize(rng, 8 << 10, 64 << 10);
    char *p = xmalloc(n);
    touch(p, n);
    return p;
}

__attribute__((noinline)) static char *site_short(uint64_t *rng) {
    size_t n = rng_logsize(rng, 8 << 10, 64 << 10);
    char *p = xmalloc(n);
    touch(p, n);
    return p;
}

__attribute__((noinline)) static char *site_grow(char *p, size_t *len) {
    size_t n = *len == 0 ? 1024 : *len + *len / 2 + 1024;
    char *q = realloc(p, n);
    if (q == NULL) {
        fprintf(stderr, "sites: realloc(%zu) returned NULL\n", n);
        exit(1);
    }
    if (*len > 0 && q[*len - 1] != (char)(*len - 1)) {
        fprintf(stderr, "sites: realloc lost the contents of a %zu-byte buffer\n", *len);
        exit(1);
    }
    for (size_t off = *len; off < n; off += 4096) q[off] = (char)off;
    q[n - 1] = (char)(n - 1);
    *len = n;
    return q;
}

__attribute__((noinline)) static char *site_big(void) {
    char *p = xmalloc(BIG_SIZE);
    touch(p, BIG_SIZE);
    return p;
}

int main(int argc, char **argv) {
    bench_prog = "sites";
    if (argc != 3) {
        fprintf(stderr, "usage: sites seconds seed\n");
        return 2;
    }
    double seconds = arg_seconds(argv[1], "seconds");
    uint64_t seed = arg_u64(argv[2], "seed", 0, UINT64_MAX);
    bench_allocator_check();
    printf("sites: seconds=%g; long-lived %d x 8-64 KiB, short-lived %d x 8-64 KiB per round, realloc growth "
           "1 KiB-1 MiB, long-lived %d x 2 MiB; seed=%llu\n",
           seconds, LONG_N, SHORT_N, BIG_N, (unsigned long long)seed);
    fflush(stdout);

    uint64_t rng = rng_seed(seed);
    static char *longs[LONG_N];
    static char *bigs[BIG_N];
    char *shorts[SHORT_N];
    char *grow = NULL;
    size_t grow_len = 0;
    uint64_t ops = 0, rounds = 0;
    double start = now_seconds(), elapsed;
    /* The long-lived sets build up during the first rounds, interleaved
     * with the short-lived blocks, as a server's caches fill. */
    size_t nlong = 0, nbig = 0;
    do {
        for (int i = 0; i < SHORT_N; i++) {
            shorts[i] = site_short(&rng);
            ops++;
            if (i % 8 == 0 && nlong < LONG_N) {
                longs[nlong++] = site_long(&rng);
                ops++;
            }
        }
        for (int s = 0; s < 4; s++) {
            if (grow_len >= GROW_MAX) {
                free(grow);
                grow = NULL;
                grow_len = 0;
                ops++;
            }
            grow = site_grow(grow, &grow_len);
            ops++;
        }
        if (nbig < BIG_N) {
            bigs[nbig++] = site_big();
            ops++;
        } else if (rounds % 64 == 0) {
            size_t k = rng_range(&rng, 0, BIG_N - 1);
            free(bigs[k]);
            bigs[k] = site_big();
            ops += 2;
        }
        if (nlong == LONG_N && rounds % 16 == 0) {
            size_t k = rng_range(&rng, 0, LONG_N - 1);
            free(longs[k]);
            longs[k] = site_long(&rng);
            ops += 2;
        }
        for (int i = 0; i < SHORT_N; i++) free(shorts[i]);
        ops += SHORT_N;
        rounds++;
        elapsed = now_seconds() - start;
    } while (elapsed < seconds);

    for (size_t i = 0; i < nlong; i++) free(longs[i]);
    for (size_t i = 0; i < nbig; i++) free(bigs[i]);
    free(grow);
    printf("rounds = %llu, long-lived built = %zu, big built = %zu\n", (unsigned long long)rounds, nlong, nbig);
    print_throughput(ops, elapsed, "mallocs, frees and reallocs of 4 call sites");
    return 0;
}
