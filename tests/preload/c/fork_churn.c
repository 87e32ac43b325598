/* fork() 50 times while 4 threads keep every lock of hakmem busy.
 *
 * threads_fork.c forks while threads malloc and free; here the threads
 * also take the other locks: two mix malloc, calloc, realloc (moves
 * between tiers, big blocks grown by mremap), aligned_alloc and free of
 * every size; two create and join short-lived threads that allocate, hand
 * blocks to each other and exit (thread contexts made and torn down: the
 * metadata arena, abandoned pages, the global heaps). The main thread forks
 * 50 times; each child allocates small and big blocks, checks and frees
 * them, and _exits 0 (alarm(20): a child that hangs dies by SIGALRM); the
 * parent checks every child's status. */
#define _GNU_SOURCE
#include "check.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

enum { ROUNDS = 50, SLOTS = 48 };

static atomic_int stop;
static atomic_long ops;

static size_t size_for(uint64_t r) {
    switch (r % 8) {
    case 0: return 1 * MiB + (r >> 8) % (3 * MiB);
    case 1: return 32 * KiB + (r >> 8) % (700 * KiB);
    case 2: case 3: return 1 * KiB + (r >> 8) % (31 * KiB);
    default: return 1 + (r >> 8) % 1024;
    }
}

/* malloc, calloc, realloc, aligned_alloc and free of every size. */
static void *mixer(void *arg) {
    uint64_t rng = 7 + (uint64_t)(uintptr_t)arg;
    void *slot[SLOTS] = {0};
    size_t sn[SLOTS] = {0};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t r = rng_next(&rng);
        int k = (int)(r % SLOTS);
        size_t n = size_for(r >> 6);
        if (slot[k]) {
            CHECK_PAT(slot[k], sn[k], (uint64_t)k, "mixer block");
            if (r & 0x10000) { /* grow or shrink it */
                void *q = realloc(slot[k], n);
                CHECK(q != NULL, "realloc(%zu)", n);
                CHECK_PAT(q, sn[k] < n ? sn[k] : n, (uint64_t)k, "realloc'd block");
                slot[k] = q;
                sn[k] = n;
                fill(q, n, (uint64_t)k);
                continue;
            }
            free(slot[k]);
        }
        switch ((r >> 20) % 3) {
        case 0: slot[k] = malloc(n); break;
        case 1:
            slot[k] = calloc(1, n);
            CHECK(slot[k] != NULL && find_not(slot[k], n < 4096 ? n : 4096, 0) == SIZE_MAX, "calloc(%zu)", n);
            break;
        default: slot[k] = aligned_alloc(4096, n); break;
        }
        CHECK(slot[k] != NULL, "allocation of %zu", n);
        sn[k] = n;
        fill(slot[k], n, (uint64_t)k);
        atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
    }
    for (int k = 0; k < SLOTS; k++) free(slot[k]);
    return NULL;
}

struct pass { void *p; size_t n; uint64_t seed; };

static void *short_lived(void *arg) {
    struct pass *in = arg; /* a block of the previous thread, freed here */
    uint64_t rng = in->seed;
    void *p[16];
    size_t n[16];
    for (int i = 0; i < 16; i++) {
        n[i] = size_for(rng_next(&rng)) / (i % 4 == 0 ? 1 : 64) + 1;
        p[i] = malloc(n[i]);
        CHECK(p[i] != NULL, "malloc(%zu) in a short-lived thread", n[i]);
        fill(p[i], n[i], in->seed + i);
    }
    if (in->p) {
        CHECK_PAT(in->p, in->n, in->seed - 1, "block handed over by an exited thread");
        free(in->p);
    }
    for (int i = 1; i < 16; i++) {
        CHECK_PAT(p[i], n[i], in->seed + i, "short-lived block");
        free(p[i]);
    }
    /* Block 0 goes to the next thread (filled with its seed - 1). */
    fill(p[0], n[0], in->seed);
    in->p = p[0];
    in->n = n[0];
    return NULL;
}

/* Creates and joins short-lived threads, each freeing a block of the one before. */
static void *spawner(void *arg) {
    struct pass x = {NULL, 0, 1000 * (uint64_t)(uintptr_t)arg};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        pthread_t t;
        x.seed++;
        CHECK(pthread_create(&t, NULL, short_lived, &x) == 0, "pthread_create");
        CHECK(pthread_join(t, NULL) == 0, "pthread_join");
        atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
    }
    free(x.p);
    return NULL;
}

static void child(int round) {
    alarm(20);
    static const size_t sizes[] = {1, 16, 100, 1000, 5000, 32768, 100000, 1048576, 3 * 1048576, 16 * 1048576};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    void *p[NS];
    for (int rep = 0; rep < 2; rep++) {
        for (int i = 0; i < NS; i++) {
            p[i] = malloc(sizes[i]);
            CHECK(p[i] != NULL, "child %d: malloc(%zu)", round, sizes[i]);
            fill(p[i], sizes[i], (uint64_t)round * 100 + i);
        }
        for (int i = 0; i < NS; i++) {
            CHECK_PAT(p[i], sizes[i], (uint64_t)round * 100 + i, "child %d block", round);
            free(p[i]);
        }
    }
    _exit(0);
}

int main(void) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, i < 2 ? mixer : spawner, (void *)(i + 1)) == 0, "pthread_create");
    for (int round = 0; round < ROUNDS; round++) {
        struct timespec ts = {0, 1000 * 1000 + (round % 7) * 300 * 1000};
        nanosleep(&ts, NULL);
        fflush(stdout);
        pid_t pid = fork();
        CHECK(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) child(round);
        int st = 0;
        CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
        if (WIFSIGNALED(st))
            FAIL("child of fork %d died by signal %d%s", round, WTERMSIG(st),
                 WTERMSIG(st) == SIGALRM ? " (SIGALRM: it hung for 20 s, a lock held across fork)" : "");
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child of fork %d exited with %d", round, WEXITSTATUS(st));
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++) CHECK(pthread_join(t[i], NULL) == 0, "pthread_join");
    printf("forks %d, operations of the threads meanwhile %ld\n", ROUNDS, atomic_load(&ops));
    printf("OK\n");
    return 0;
}
