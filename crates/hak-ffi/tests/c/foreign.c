/*
 * foreign.c -- smoke check of hakmem's handling of pointers it does not own
 * (run under LD_PRELOAD=libhakmem.so; meaningful only with the real router,
 * since the temporary glibc-backed stub claims every pointer).
 *
 *   cc -O1 -pthread -o /tmp/foreign crates/hak-ffi/tests/c/foreign.c
 *   LD_PRELOAD=$PWD/target/release/libhakmem.so /tmp/foreign          # exit 0, "foreign: ok"
 *   LD_PRELOAD=$PWD/target/release/libhakmem.so /tmp/foreign stack    # aborts:
 *       hakmem: free(): invalid pointer 0x7ffd...
 *   LD_PRELOAD=... /tmp/foreign realloc-stack   # aborts: hakmem: realloc(): invalid pointer 0x...
 *   LD_PRELOAD=... /tmp/foreign usable-stack    # prints 0, exit 0
 *
 * Blocks from glibc's brk heap (obtained with __libc_malloc, which bypasses
 * the interposed malloc) must be forwarded to glibc's free /
 * malloc_usable_size, and realloc must migrate them into hakmem.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t);

static int (*owns)(const void *);

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "foreign: FAILED %s (line %d)\n", #c, __LINE__);   \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/* Many threads hit the first foreign free at once: the lazy dlsym
 * resolution must be race-free. */
static void *racer(void *arg) {
    void **blocks = arg;
    for (int i = 0; i < 16; i++) free(blocks[i]);
    return NULL;
}

int main(int argc, char **argv) {
    owns = (int (*)(const void *))dlsym(RTLD_DEFAULT, "hak_owns");
    CHECK(owns != NULL); /* run me under LD_PRELOAD=libhakmem.so */

    if (argc > 1) {
        char local[32];
        void *volatile bad = local + 16; /* a stack address: nobody owns it */
        if (!strcmp(argv[1], "stack")) free(bad);
        if (!strcmp(argv[1], "realloc-stack")) (void)!realloc(bad, 64);
        if (!strcmp(argv[1], "usable-stack")) printf("%zu\n", malloc_usable_size(bad));
        return 0;
    }

    /* concurrent first-time resolution */
    enum { T = 8 };
    static void *blocks[T][16];
    for (int t = 0; t < T; t++)
        for (int i = 0; i < 16; i++) {
            blocks[t][i] = __libc_malloc(24 + i * 8);
            CHECK(blocks[t][i] != NULL && !owns(blocks[t][i]));
        }
    pthread_t th[T];
    for (int t = 0; t < T; t++) pthread_create(&th[t], NULL, racer, blocks[t]);
    for (int t = 0; t < T; t++) pthread_join(th[t], NULL);

    /* usable size and free are forwarded */
    char *p = __libc_malloc(100);
    CHECK(p && !owns(p));
    memset(p, 0x11, 100);
    CHECK(malloc_usable_size(p) >= 100);
    free(p);

    /* realloc migrates into hakmem and keeps the contents */
    p = __libc_malloc(200);
    CHECK(p && !owns(p));
    for (int i = 0; i < 200; i++) p[i] = (char)i;
    char *q = realloc(p, 5000);
    CHECK(q && owns(q));
    for (int i = 0; i < 200; i++) CHECK(q[i] == (char)i);
    free(q);

    /* shrinking realloc copies only n bytes */
    p = __libc_malloc(300);
    memset(p, 0x22, 300);
    q = realloc(p, 10);
    CHECK(q && owns(q) && q[9] == 0x22);
    free(q);

    /* realloc(p, 0) of a foreign block frees it and returns NULL */
    p = __libc_malloc(40);
    CHECK(realloc(p, 0) == NULL);

    /* and glibc keeps working after all of this */
    p = __libc_malloc(64);
    free(p);

    printf("foreign: ok\n");
    return 0;
}
