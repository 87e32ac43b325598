/* 8 threads exchange blocks through one mutex-protected queue.
 *
 * Each thread repeatedly allocates a burst of blocks of mixed sizes
 * (1 B .. 2 MiB), fills each with a pattern derived from the block's address
 * and size, pushes the burst, then pops as many blocks (mostly allocated by
 * other threads), checks the pattern and frees them — sometimes after a
 * realloc in the receiving thread. Every block is checked exactly once. */
#define _GNU_SOURCE
#include "check.h"

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>

enum { THREADS = 8, ITERS = 2500, MAXBURST = 16, CAP = 256 };

struct item { void *p; size_t n; };

static struct {
    pthread_mutex_t mu;
    pthread_cond_t nonempty;
    struct item q[CAP];
    size_t head, len;
    size_t pushed, popped, checked_bytes, cross;
} Q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {{0}}, 0, 0, 0, 0, 0, 0};

static uint64_t seed_of(const void *p, size_t n) { return (uint64_t)(uintptr_t)p * 31 + n; }

static size_t pick_size(uint64_t *rng) {
    uint64_t r = rng_next(rng);
    unsigned k = (unsigned)(r % 1000);
    r >>= 10;
    if (k < 600) return 1 + r % 256;            /* tiny */
    if (k < 850) return 257 + r % (8 * 1024);   /* small/mid */
    if (k < 980) return 8 * 1024 + r % (248 * 1024); /* mid */
    if (k < 997) return 256 * 1024 + r % (768 * 1024); /* L2.5 */
    return 1024 * 1024 + r % (1024 * 1024);     /* big */
}

static void *worker(void *arg) {
    uint64_t rng = 0xC0FFEE + (uint64_t)(uintptr_t)arg * 7919;
    size_t bytes = 0, cross = 0;
    for (int it = 0; it < ITERS; it++) {
        int burst = 1 + (int)(rng_next(&rng) % MAXBURST);
        struct item mine[MAXBURST];
        for (int b = 0; b < burst; b++) {
            size_t n = pick_size(&rng);
            void *p = malloc(n);
            CHECK(p != NULL, "malloc(%zu)", n);
            fill(p, n, seed_of(p, n));
            mine[b].p = p;
            mine[b].n = n;
        }
        pthread_mutex_lock(&Q.mu);
        CHECK(Q.len + burst <= CAP, "queue overflow");
        for (int b = 0; b < burst; b++) {
            Q.q[(Q.head + Q.len) % CAP] = mine[b];
            Q.len++;
        }
        Q.pushed += burst;
        pthread_cond_broadcast(&Q.nonempty);
        pthread_mutex_unlock(&Q.mu);

        for (int b = 0; b < burst; b++) {
            pthread_mutex_lock(&Q.mu);
            while (Q.len == 0) pthread_cond_wait(&Q.nonempty, &Q.mu);
            struct item got = Q.q[Q.head];
            Q.head = (Q.head + 1) % CAP;
            Q.len--;
            Q.popped++;
            pthread_mutex_unlock(&Q.mu);

            int own = 0;
            for (int m = 0; m < burst; m++) own |= mine[m].p == got.p;
            cross += !own;
            CHECK(malloc_usable_size(got.p) >= got.n, "usable size of a received block");
            CHECK_PAT(got.p, got.n, seed_of(got.p, got.n), "received block of %zu bytes", got.n);
            bytes += got.n;
            uint64_t r = rng_next(&rng);
            if (r % 8 == 0) {
                /* realloc in the receiving thread: grow or shrink. */
                size_t nn = (r >> 8) % 2 ? got.n * 2 + 1 : got.n / 2 + 1;
                uint64_t s = seed_of(got.p, got.n);
                void *q = realloc(got.p, nn);
                CHECK(q != NULL, "realloc(%zu -> %zu)", got.n, nn);
                CHECK_PAT(q, got.n < nn ? got.n : nn, s, "block realloc'd by receiver %zu -> %zu", got.n, nn);
                got.p = q;
            }
            free(got.p);
        }
    }
    pthread_mutex_lock(&Q.mu);
    Q.checked_bytes += bytes;
    Q.cross += cross;
    pthread_mutex_unlock(&Q.mu);
    return NULL;
}

int main(void) {
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0, "pthread_create");
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    CHECK(Q.len == 0, "%zu blocks left in the queue", Q.len);
    CHECK(Q.pushed == Q.popped, "pushed %zu != popped %zu", Q.pushed, Q.popped);
    printf("blocks %zu, checked %zu MiB, received from another thread %zu\n", Q.popped,
           Q.checked_bytes / MiB, Q.cross);
    CHECK(Q.cross > 0, "no block ever crossed threads: the test is not testing anything");
    printf("OK\n");
    return 0;
}
