/*
 * churn-fixed -- same-thread malloc/free of fixed sizes 16..1024 B.
 *
 *   usage: churn-fixed seconds seed
 *
 * Seven size classes (16, 32, 64, 128, 256, 512, 1024 B), each with a working
 * set of 512 blocks. One pass, for each size in turn:
 *   1. ring replacement: for every slot of that size's working set, free the
 *      block and allocate a new one of the same size (FIFO reuse);
 *   2. batch: allocate 512 blocks of that size, then free them in allocation
 *      order (the pattern of glibc's bench-malloc-simple).
 * Every new block gets its first and last byte written. Passes repeat until
 * `seconds` have elapsed. One operation is one malloc+free pair.
 * The sequence of requests is fixed (the seed only varies the bytes written).
 * Output: `Throughput = N operations per second`.
 */
#include "bench.h"

#define NSIZES 7
#define WS 512

static const size_t sizes[NSIZES] = {16, 32, 64, 128, 256, 512, 1024};

int main(int argc, char **argv) {
    bench_prog = "churn-fixed";
    if (argc != 3) {
        fprintf(stderr, "usage: churn-fixed seconds seed\n");
        return 2;
    }
    double seconds = arg_seconds(argv[1], "seconds");
    uint64_t seed = arg_u64(argv[2], "seed", 0, UINT64_MAX);
    bench_allocator_check();
    printf("churn-fixed: seconds=%g seed=%llu sizes=16..1024 working_set=%d per size\n", seconds,
           (unsigned long long)seed, WS);

    static char *ws[NSIZES][WS];
    static char *batch[WS];
    char mark = (char)seed;
    for (int j = 0; j < NSIZES; j++)
        for (int i = 0; i < WS; i++) {
            ws[j][i] = xmalloc(sizes[j]);
            ws[j][i][0] = mark;
        }

    uint64_t ops = 0;
    double start = now_seconds(), elapsed;
    do {
        for (int j = 0; j < NSIZES; j++) {
            size_t n = sizes[j];
            for (int i = 0; i < WS; i++) {
                free(ws[j][i]);
                char *p = xmalloc(n);
                p[0] = mark;
                p[n - 1] = (char)i;
                ws[j][i] = p;
            }
            for (int i = 0; i < WS; i++) {
                char *p = xmalloc(n);
                p[0] = mark;
                p[n - 1] = (char)i;
                batch[i] = p;
            }
            for (int i = 0; i < WS; i++) free(batch[i]);
            ops += 2 * WS;
        }
        mark++;
        elapsed = now_seconds() - start;
    } while (elapsed < seconds);

    for (int j = 0; j < NSIZES; j++)
        for (int i = 0; i < WS; i++) free(ws[j][i]);
    print_throughput(ops, elapsed, "malloc+free pairs");
    return 0;
}
