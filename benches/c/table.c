/*
 * table -- random accesses over large heap arrays: what transparent huge
 * pages for big blocks (hakmem's THP feature) are for.
 *
 *   usage: table seconds seed [table_mib]
 *
 * A hash-table-like program: 8 tables of 128 MiB (1 GiB; table_mib sets
 * another size, e.g. 8 for a smoke run), each one
 * malloc'ed and filled, then random read-modify-writes of 8-byte words
 * spread over all of them, in rounds of 65,536 accesses. Every 64 rounds
 * one table is freed and a fresh one of the same size is allocated and
 * filled (a rebuilt index), so the cost of faulting the memory in is part
 * of the run. Over 1 GiB nearly every access misses the TLB; with huge
 * pages a miss walks one level less and the page-table entries of the
 * whole set fit in the caches. One operation is one access (the rebuilds'
 * fills are not counted, their time is).
 * Output: `Throughput = N operations per second`.
 */
#include "bench.h"

#define TABLES 8
#define ROUND 65536
#define REBUILD_EVERY 64

static size_t table_bytes = 128u << 20;

static uint64_t *build(uint64_t salt) {
    uint64_t *t = xmalloc(table_bytes);
    for (size_t i = 0; i < table_bytes / 8; i++) t[i] = i ^ salt;
    return t;
}

int main(int argc, char **argv) {
    bench_prog = "table";
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: table seconds seed [table_mib]\n");
        return 2;
    }
    double seconds = arg_seconds(argv[1], "seconds");
    uint64_t seed = arg_u64(argv[2], "seed", 0, UINT64_MAX);
    if (argc == 4) table_bytes = (size_t)arg_u64(argv[3], "table_mib", 1, 4096) << 20;
    const size_t words = table_bytes / 8;
    bench_allocator_check();
    printf("table: seconds=%g seed=%llu tables=%d x %u MiB, random 8-byte read-modify-writes, one table rebuilt "
           "every %d rounds of %d\n",
           seconds, (unsigned long long)seed, TABLES, (unsigned)(table_bytes >> 20), REBUILD_EVERY, ROUND);

    uint64_t rng = rng_seed(seed);
    uint64_t *tables[TABLES];
    for (int i = 0; i < TABLES; i++) tables[i] = build((uint64_t)i);
    uint64_t ops = 0, rounds = 0, sum = 0;
    double start = now_seconds(), elapsed;
    do {
        for (int k = 0; k < ROUND; k++) {
            uint64_t r = rng_next(&rng);
            uint64_t *t = tables[r % TABLES];
            size_t i = (size_t)((r >> 8) % words);
            sum += t[i];
            t[i] = r;
        }
        ops += ROUND;
        if (++rounds % REBUILD_EVERY == 0) {
            int victim = (int)((rounds / REBUILD_EVERY) % TABLES);
            free(tables[victim]);
            tables[victim] = build(rounds);
        }
        elapsed = now_seconds() - start;
    } while (elapsed < seconds);
    keep(&sum);
    for (int i = 0; i < TABLES; i++) free(tables[i]);
    printf("checksum = %llu\n", (unsigned long long)(sum & 0xffff));
    print_throughput(ops, elapsed, "random 8-byte read-modify-writes");
    return 0;
}
