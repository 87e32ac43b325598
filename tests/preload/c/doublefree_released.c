/* Double free of a block whose page has already gone back to the tier:
 * 100 blocks of 100 KB (ten per 1 MiB L2.5 page) are all freed, so the
 * pages that are not a heap's current page are released; then the first
 * block is freed again. Must not return: hakmem reports it with a
 * "hakmem: free(): double free" message and aborts (SIGABRT). (A released
 * page keeps its carved blocks on its free list for its next owner: the
 * second free used to cut that list silently.)
 * Prints "survived" and exits 0 if the second free() returned. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    enum { N = 100, SIZE = 100 * 1000 };
    void *volatile blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(SIZE);
        if (!blocks[i]) { printf("malloc failed\n"); return 2; }
        memset(blocks[i], i, SIZE);
    }
    for (int i = 0; i < N; i++) free(blocks[i]);
    printf("first free done\n");
    fflush(stdout);
    free(blocks[0]);
    printf("survived\n");
    return 0;
}
