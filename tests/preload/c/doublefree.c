/* Double free of a big (8 MiB) block. Must not return: hakmem reports it
 * with a "hakmem: ..." message on stderr and aborts (SIGABRT).
 * Prints "survived" and exits 0 if the second free() returned. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    size_t n = 8u << 20;
    char *p = malloc(n);
    if (!p) { printf("malloc failed\n"); return 2; }
    memset(p, 1, n);
    void *volatile q = p;
    free(q);
    printf("first free done\n");
    fflush(stdout);
    free(q);
    printf("survived\n");
    return 0;
}
