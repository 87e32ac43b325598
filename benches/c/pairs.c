/*
 * pairs -- N malloc/free pairs of one size in a tight loop: the same-thread
 * fast path, for instruction counting under callgrind
 * (`cargo xtask bench --instructions`).
 *
 *   usage: pairs size n
 *
 * The tool runs it with two values of n and divides the difference of the
 * instruction counts by the difference of n, which cancels start-up and
 * allocator initialisation: what remains is the cost of one pair.
 */
#include "bench.h"

int main(int argc, char **argv) {
    bench_prog = "pairs";
    if (argc != 3) {
        fprintf(stderr, "usage: pairs size n\n");
        return 2;
    }
    size_t size = (size_t)arg_u64(argv[1], "size", 1, (uint64_t)1 << 40);
    uint64_t n = arg_u64(argv[2], "n", 0, UINT64_MAX);
    bench_allocator_check();
    /* One warm-up pair so that the loop starts on a warm path. */
    void *w = xmalloc(size);
    keep(w);
    free(w);
    for (uint64_t i = 0; i < n; i++) {
        void *p = malloc(size);
        keep(p);
        free(p);
    }
    printf("pairs: size=%zu n=%llu\n", size, (unsigned long long)n);
    return 0;
}
