/* Double free of a small block by a thread that does not own it. Must not
 * hang or corrupt: hakmem detects it (the block is already at the head of
 * the page's remote list, or the list holds more blocks than are out) and
 * aborts with a "hakmem:" message. Prints "survived" if it did not. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *p;
static void *(*volatile M)(size_t) = malloc;

static void *other(void *a) {
    (void)a;
    free(p);
    printf("first free done\n");
    fflush(stdout);
    free(p);
    return 0;
}

int main(void) {
    p = M(64);
    pthread_t t;
    pthread_create(&t, 0, other, 0);
    pthread_join(t, 0);
    static void *keep[4096];
    for (int i = 0; i < 4096; i++) keep[i] = M(64); /* collects the remote list */
    printf("survived\n");
    for (int i = 0; i < 4096; i++) free(keep[i]);
    return 0;
}
