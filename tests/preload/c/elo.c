/* Big-block churn for about 1.5 s (argv[1] seconds if given; a working set of 12 blocks of 2..6 MiB,
 * one replaced at a time, every page written and checked): long enough for
 * hakmem's ELO driver (HAKMEM_ELO=1, 200 ms epochs) to score several epochs
 * and switch its knobs while the program runs. With argv[2] = "shift" the
 * second half is another phase: small blocks allocated and freed
 * back to back, one big block replaced every 10 ms (a phase shift the
 * driver must notice). Every block's contents are checked before it is
 * freed; prints `shift at <ms>` (ms since start) when the second half starts. */
#define _GNU_SOURCE
#include "check.h"
#include <time.h>

#define WS 12

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    unsigned char *ws[WS] = {0};
    size_t len[WS] = {0};
    uint64_t rng = 88172645463325252ull;
    double start = now_s();
    double seconds = argc > 1 ? atof(argv[1]) : 1.5;
    double end = start + seconds;
    int shift = argc > 2 && strcmp(argv[2], "shift") == 0;
    int second_half = 0;
    unsigned long rounds = 0;
    while (now_s() < end) {
        if (shift && !second_half && now_s() >= start + seconds / 2) {
            second_half = 1;
            printf("shift at %.0f\n", (now_s() - start) * 1000);
            fflush(stdout);
        }
        if (second_half) {
            /* Small blocks only, but for one big block replaced every 10 ms:
             * the allocator's operation rate changes by orders of magnitude. */
            double next = now_s() + 0.010;
            while (now_s() < next) {
                for (int k = 0; k < 256; k++) {
                    volatile char *p = malloc(16 + (size_t)k % 200);
                    CHECK(p != NULL, "small malloc");
                    p[0] = (char)k;
                    free((void *)p);
                }
            }
        }
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        int i = (int)(rng % WS);
        if (ws[i]) {
            for (size_t off = 0; off < len[i]; off += 4096)
                CHECK(ws[i][off] == (unsigned char)(i + off / 4096), "block %d changed at %zu", i, off);
            free(ws[i]);
        }
        len[i] = (2u << 20) + (size_t)(rng >> 20) % (4u << 20);
        ws[i] = malloc(len[i]);
        CHECK(ws[i] != NULL, "malloc(%zu)", len[i]);
        for (size_t off = 0; off < len[i]; off += 4096) ws[i][off] = (unsigned char)(i + off / 4096);
        rounds++;
    }
    for (int i = 0; i < WS; i++) free(ws[i]);
    CHECK(rounds > 100, "only %lu rounds", rounds);
    printf("OK\n");
    return 0;
}
