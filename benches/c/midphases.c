/*
 * midphases -- one thread whose mid-size blocks (4 KiB to 1 MiB) come and go
 * in phases, each phase favouring other sizes (what a compiler's passes do):
 * how fast, and above all how much memory stays resident at the peak.
 *
 *   usage: midphases seconds seed [live_mib]
 *
 * A cycle is six phases, each with its band of sizes (log-uniform within
 * it): 4..16 KiB, 16..64 KiB, 64..256 KiB, 256 KiB..1 MiB, 4 KiB..1 MiB,
 * 32..512 KiB. A phase frees a random three quarters of the live blocks,
 * allocates blocks of its band until `live_mib` MiB (default 64) are live
 * again, then replaces 2,000 random blocks by blocks of its band. Every block
 * gets a canary at both ends and one byte written per 4 KiB page; a freed
 * block's canary is checked. Cycles repeat until `seconds` have passed (at
 * least one whole cycle); then everything is freed. One operation is one
 * malloc or one free. The peak RSS (printed at exit) is the figure to watch:
 * the live bytes never exceed `live_mib` MiB plus one block.
 * Output: `Throughput = N operations per second`.
 */
#include "bench.h"

#define MAX_BLOCKS 20000 /* live_mib * 1 MiB / 4 KiB for the largest live_mib */
#define REPLACEMENTS 2000

static const size_t band[6][2] = {
    {4096, 16383}, {16384, 65535}, {65536, 262143}, {262144, 1048576}, {4096, 1048576}, {32768, 524287},
};

static void **block;
static size_t *bsize;
static size_t count, live;
static uint64_t ops;

static void add(uint64_t *rng, size_t lo, size_t hi) {
    size_t size = rng_logsize(rng, lo, hi);
    char *p = xmalloc_canary(size);
    for (size_t off = 4096; off + 8 < size; off += 4096) p[off] = (char)off;
    block[count] = p;
    bsize[count] = size;
    count++;
    live += size;
    ops++;
}

static void remove_at(size_t i) {
    free_canary(block[i], bsize[i]);
    live -= bsize[i];
    count--;
    block[i] = block[count];
    bsize[i] = bsize[count];
    ops++;
}

int main(int argc, char **argv) {
    bench_prog = "midphases";
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: midphases seconds seed [live_mib]\n");
        return 2;
    }
    double seconds = arg_seconds(argv[1], "seconds");
    uint64_t seed = arg_u64(argv[2], "seed", 0, UINT64_MAX);
    uint64_t live_mib = argc == 4 ? arg_u64(argv[3], "live_mib", 1, 78) : 64;
    bench_allocator_check();
    printf("midphases: seconds=%g seed=%llu live=%llu MiB, 6 phases per cycle (bands 4-16K 16-64K 64-256K 256K-1M "
           "4K-1M 32-512K), %d replacements per phase\n",
           seconds, (unsigned long long)seed, (unsigned long long)live_mib, REPLACEMENTS);
    block = calloc(MAX_BLOCKS, sizeof *block);
    bsize = calloc(MAX_BLOCKS, sizeof *bsize);
    if (block == NULL || bsize == NULL) {
        fprintf(stderr, "midphases: out of memory\n");
        return 1;
    }
    uint64_t rng = rng_seed(seed);
    size_t target = (size_t)live_mib << 20;

    double start = now_seconds();
    uint64_t cycles = 0, phases = 0;
    do {
        for (int ph = 0; ph < 6; ph++) {
            size_t lo = band[ph][0], hi = band[ph][1];
            for (size_t keep = count / 4; count > keep;) remove_at((size_t)(rng_next(&rng) % count));
            while (live < target) add(&rng, lo, hi);
            for (int r = 0; r < REPLACEMENTS; r++) {
                remove_at((size_t)(rng_next(&rng) % count));
                add(&rng, lo, hi);
            }
            phases++;
        }
        cycles++;
    } while (now_seconds() - start < seconds);
    while (count > 0) remove_at(count - 1);
    double elapsed = now_seconds() - start;
    free(block);
    free(bsize);
    printf("cycles = %llu, phases = %llu\n", (unsigned long long)cycles, (unsigned long long)phases);
    print_throughput(ops, elapsed, "mallocs and frees");
    return 0;
}
