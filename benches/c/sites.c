/*
 * sites -- a compiler-like program whose call sites differ in lifetime:
 * what per-call-site rules (hakmem's site rules) are for.
 *
 *   usage: sites seconds seed
 *
 * The program compiles modules, one after another, until `seconds` have
 * passed (at least MIN_MODULES). A module is FUNCS functions compiled in
 * turn (the phases). Each function has a size of its own: its blocks are
 * uniform in [s, s + s/8], s log-uniform in 33..256 KiB (seeded), so
 * consecutive functions mostly use different size classes. Two call
 * sites, each a distinct non-inlined function (its own return address):
 * - site_scratch: per-function scratch buffers (token buffers, work
 *   lists), SCRATCH per function in a FIFO of LIVE: each is freed LIVE
 *   allocations after it was made, the last LIVE when the function ends;
 * - site_keep: the function's long-lived result (its tree and symbols),
 *   one block per KEEP_EVERY scratch buffers, of the same sizes, allocated
 *   among them and kept until the module ends.
 * An allocator that serves both sites from the same pages leaves every
 * function's pages pinned by its long-lived blocks when its scratch is
 * freed; the next function needs other size classes, so it takes new
 * pages, and the resident set grows with the number of functions. One that
 * keeps the long-lived blocks apart empties the scratch pages at the end
 * of each function and reuses them for the next. Every block is written
 * (one byte per 4 KiB page). Each module is the same program (the same
 * seed), so the peak does not depend on how many modules ran.
 * Metrics: `Throughput` = mallocs and frees per second; peak RSS (VmHWM,
 * printed at exit).
 */
#include "bench.h"

#define FUNCS 32
#define SCRATCH 1536
#define LIVE 192
#define KEEP_EVERY 128
#define MIN_MODULES 2
#define BAND_MIN (33u << 10)
#define BAND_MAX (256u << 10)

static void touch(char *p, size_t n) {
    for (size_t off = 0; off < n; off += 4096) p[off] = (char)off;
    p[n - 1] = 1;
}

__attribute__((noinline)) static char *site_scratch(size_t n) {
    char *p = xmalloc(n);
    touch(p, n);
    return p;
}

/* Not the same code as site_scratch (so the compiler cannot fold the two
 * into one function, one call site): the block starts with its size. */
__attribute__((noinline)) static char *site_keep(size_t n) {
    char *p = xmalloc(n);
    touch(p, n);
    memcpy(p, &n, sizeof n);
    return p;
}

/* One module: FUNCS functions; returns the mallocs and frees it made. */
static uint64_t module(uint64_t seed) {
    static char *keep[FUNCS * (SCRATCH / KEEP_EVERY)];
    char *fifo[LIVE];
    uint64_t rng = rng_seed(seed), ops = 0;
    size_t nkeep = 0;
    for (int f = 0; f < FUNCS; f++) {
        size_t s = rng_logsize(&rng, BAND_MIN, BAND_MAX);
        for (int i = 0; i < SCRATCH; i++) {
            if (i >= LIVE) {
                free(fifo[i % LIVE]);
                ops++;
            }
            fifo[i % LIVE] = site_scratch(rng_range(&rng, s, s + s / 8));
            ops++;
            if (i % KEEP_EVERY == KEEP_EVERY - 1) {
                keep[nkeep++] = site_keep(rng_range(&rng, s, s + s / 8));
                ops++;
            }
        }
        for (int i = 0; i < LIVE; i++) free(fifo[i]);
        ops += LIVE;
    }
    for (size_t i = 0; i < nkeep; i++) free(keep[i]);
    ops += nkeep;
    return ops;
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
    printf("sites: seconds=%g; modules of %d functions (blocks of 33..288 KiB, one size band per function), "
           "each %d scratch blocks (%d live) and one long-lived block per %d kept to the module's end; seed=%llu\n",
           seconds, FUNCS, SCRATCH, LIVE, KEEP_EVERY, (unsigned long long)seed);
    fflush(stdout);

    uint64_t ops = 0, modules = 0;
    double start = now_seconds(), elapsed;
    do {
        ops += module(seed);
        modules++;
        elapsed = now_seconds() - start;
    } while (elapsed < seconds || modules < MIN_MODULES);

    printf("modules = %llu\n", (unsigned long long)modules);
    print_throughput(ops, elapsed, "mallocs and frees of 2 call sites");
    return 0;
}
