/*
 * pairs -- N malloc/free pairs of one size in a tight loop: the same-thread
 * fast path, for instruction counting under callgrind
 * (`cargo xtask bench --instructions`).
 *
 *   usage: pairs size n [live]
 *
 * The tool runs it with two values of n and divides the difference of the
 * instruction counts by the difference of n, which cancels start-up and
 * allocator initialisation: what remains is the cost of one pair.
 *
 * `live` (default 0) blocks of the same size are allocated first and kept
 * during the loop. With live = 0 the block of each pair is usually the only
 * one in its page or run, so an allocator that does work when a page becomes
 * empty does it on every free; with live >= 1 the loop sees the steady state
 * of a program that keeps other blocks of that size alive.
 */
#include "bench.h"

int main(int argc, char **argv) {
    bench_prog = "pairs";
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: pairs size n [live]\n");
        return 2;
    }
    size_t size = (size_t)arg_u64(argv[1], "size", 1, (uint64_t)1 << 40);
    uint64_t n = arg_u64(argv[2], "n", 0, UINT64_MAX);
    uint64_t live = argc == 4 ? arg_u64(argv[3], "live", 0, 1024) : 0;
    bench_allocator_check();
    void *held[1024];
    for (uint64_t i = 0; i < live; i++) {
        held[i] = xmalloc(size);
        keep(held[i]);
    }
    /* One warm-up pair so that the loop starts on a warm path. */
    void *w = xmalloc(size);
    keep(w);
    free(w);
    for (uint64_t i = 0; i < n; i++) {
        void *p = malloc(size);
        keep(p);
        free(p);
    }
    for (uint64_t i = 0; i < live; i++) free(held[i]);
    printf("pairs: size=%zu n=%llu live=%llu\n", size, (unsigned long long)n, (unsigned long long)live);
    return 0;
}
