/* free() of a pointer the allocator never returned (here: into a stack
 * array). Must not return: hakmem reports
 * "hakmem: free(): invalid pointer" on stderr and aborts (SIGABRT).
 * Prints "survived" and exits 0 if free() returned. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char buf[256] __attribute__((aligned(64)));
    memset(buf, 0x5A, sizeof buf);
    void *volatile garbage = buf + 64; /* laundered: the compiler must not reason about it */
    printf("freeing %p\n", garbage);
    fflush(stdout);
    free(garbage);
    printf("survived\n");
    return 0;
}
