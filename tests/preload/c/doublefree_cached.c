/* Double frees of small blocks around the freeing thread's cache: each must
 * abort with a "hakmem:" message instead of handing the block out twice.
 * The case is chosen by the environment variable MODE:
 *   aba      free(p); free(q); free(p)  (p is in the bin, not its head: found
 *            only with the cache off, HAKMEM_THREAD_CACHE_KB=0)
 *   fullbin  free(p); free(p) where the first free fills the bin's last slot
 *   released every block freed, the pages gone back to the tier, a few
 *            allocations made (the bin has room again), then one block freed
 *            a second time
 * Prints "first free done" before the faulty free and "survived" if it
 * returned. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*volatile M)(size_t) = malloc;

int main(void) {
    const char *mode = getenv("MODE");
    if (!mode) mode = "aba";
    static void *b[3000];
    if (strcmp(mode, "aba") == 0) {
        void *p = M(64), *q = M(64);
        free(p);
        free(q);
        printf("first free done\n");
        fflush(stdout);
        free(p);
    } else if (strcmp(mode, "fullbin") == 0) {
        /* 64-byte blocks: a bin holds 256 of them by default. */
        for (int i = 0; i < 300; i++) b[i] = M(64);
        for (int i = 0; i < 255; i++) free(b[i]);
        free(b[299]);
        printf("first free done\n");
        fflush(stdout);
        free(b[299]);
    } else if (strcmp(mode, "released") == 0) {
        /* 3000 blocks of 64 B fill three 64 KiB pages; the bin keeps the
         * first 256 freed, the second and third pages go back to the tier. */
        for (int i = 0; i < 3000; i++) b[i] = M(64);
        for (int i = 0; i < 3000; i++) free(b[i]);
        for (int i = 0; i < 8; i++) (void)M(64);
        printf("first free done\n");
        fflush(stdout);
        free(b[1500]);
    } else {
        printf("unknown MODE %s\n", mode);
        return 2;
    }
    printf("survived\n");
    return 0;
}
