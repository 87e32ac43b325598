/* A small ordinary program; run with HAKMEM_STATS=1 it must make hakmem
 * print its per-tier counters ("hakmem: ..." lines) on stderr at exit. */
#define _GNU_SOURCE
#include "check.h"

int main(void) {
    void *keep[1000];
    static const size_t sizes[] = {16, 100, 1000, 5000, 50000, 500000, 2000000};
    for (int i = 0; i < 1000; i++) {
        size_t n = sizes[i % 7];
        keep[i] = malloc(n);
        CHECK(keep[i] != NULL, "malloc(%zu)", n);
        memset(keep[i], i, n);
        if (i % 3 == 0) { free(keep[i]); keep[i] = NULL; }
    }
    for (int i = 0; i < 1000; i++) free(keep[i]);
    printf("OK\n");
    return 0;
}
