/* fork() while other threads allocate and free.
 *
 * Three worker threads allocate/free continuously (1 B .. 2 MiB). The main
 * thread forks 25 times; each child allocates and frees across all size
 * ranges (malloc, calloc, realloc, aligned), starts a thread that does the
 * same, checks contents and exits 0. The parent waits for each child. A lock
 * held by a worker at fork time and never released in the child shows up as
 * a hung child: the child arms alarm(20) (dying by SIGALRM, reported as a
 * failure) and the harness kills the whole run after 60 s. */
#define _GNU_SOURCE
#include "check.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

enum { WORKERS = 3, ROUNDS = 25, SLOTS = 64 };

static atomic_int stop;
static atomic_long worker_ops;

static size_t size_for(uint64_t r) {
    switch (r % 10) {
    case 0: return 1 * MiB + (r >> 8) % MiB;
    case 1: case 2: return 32 * KiB + (r >> 8) % (512 * KiB);
    case 3: case 4: return 1 * KiB + (r >> 8) % (31 * KiB);
    default: return 1 + (r >> 8) % 1024;
    }
}

static void *worker(void *arg) {
    uint64_t rng = 99 + (uint64_t)(uintptr_t)arg;
    void *slot[SLOTS] = {0};
    size_t sn[SLOTS] = {0};
    long ops = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t r = rng_next(&rng);
        int k = (int)(r % SLOTS);
        if (slot[k]) {
            CHECK_PAT(slot[k], sn[k], (uint64_t)(uintptr_t)slot[k], "worker block");
            free(slot[k]);
        }
        sn[k] = size_for(r >> 6);
        slot[k] = malloc(sn[k]);
        CHECK(slot[k] != NULL, "worker malloc(%zu)", sn[k]);
        fill(slot[k], sn[k], (uint64_t)(uintptr_t)slot[k]);
        ops++;
    }
    for (int k = 0; k < SLOTS; k++) free(slot[k]);
    atomic_fetch_add(&worker_ops, ops);
    return NULL;
}

/* Work done in a child: every tier, every entry point. */
static void child_work(uint64_t seed) {
    static const size_t sizes[] = {0, 1, 8, 16, 24, 100, 512, 1000, 1024, 1025, 4000, 16384,
                                   32768, 32769, 100000, 500000, 1048575, 1048576, 1048577,
                                   3 * 1024 * 1024, 8 * 1024 * 1024};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    void *p[NS];
    for (int rep = 0; rep < 3; rep++) {
        for (int i = 0; i < NS; i++) {
            p[i] = malloc(sizes[i]);
            CHECK(p[i] != NULL, "child malloc(%zu)", sizes[i]);
            fill(p[i], sizes[i], seed + i);
        }
        for (int i = 0; i < NS; i++) {
            CHECK_PAT(p[i], sizes[i], seed + i, "child block %zu", sizes[i]);
            void *q = realloc(p[i], sizes[i] + sizes[i] / 2 + 10);
            CHECK(q != NULL, "child realloc");
            CHECK_PAT(q, sizes[i], seed + i, "child realloc'd block %zu", sizes[i]);
            free(q);
        }
        for (int i = 0; i < NS; i++) {
            unsigned char *z = calloc(1, sizes[i] + 1);
            CHECK(z != NULL && find_not(z, sizes[i] + 1, 0) == SIZE_MAX, "child calloc(%zu)", sizes[i] + 1);
            free(z);
            void *a = aligned_alloc(4096, sizes[i] + 1);
            CHECK(a != NULL && (uintptr_t)a % 4096 == 0, "child aligned_alloc");
            free(a);
        }
    }
}

static void *child_thread(void *arg) {
    child_work((uint64_t)(uintptr_t)arg);
    return NULL;
}

int main(void) {
    pthread_t t[WORKERS];
    for (long i = 0; i < WORKERS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0, "pthread_create");
    for (int round = 0; round < ROUNDS; round++) {
        struct timespec ts = {0, 2 * 1000 * 1000 + round * 200 * 1000};
        nanosleep(&ts, NULL);
        fflush(stdout);
        pid_t pid = fork();
        CHECK(pid >= 0, "fork failed: %s", strerror(errno));
        if (pid == 0) {
            alarm(20);
            child_work(1000 + round);
            pthread_t ct;
            CHECK(pthread_create(&ct, NULL, child_thread, (void *)(uintptr_t)(5000 + round)) == 0,
                  "pthread_create in the child");
            CHECK(pthread_join(ct, NULL) == 0, "pthread_join in the child");
            child_work(9000 + round);
            exit(0);
        }
        int st = 0;
        CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
        if (WIFSIGNALED(st))
            FAIL("child of fork round %d died by signal %d%s", round, WTERMSIG(st),
                 WTERMSIG(st) == SIGALRM ? " (SIGALRM: it hung for 20 s — deadlock after fork)" : "");
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child of fork round %d exited with %d", round,
              WEXITSTATUS(st));
        /* The parent keeps working too. */
        void *p = malloc(1000 + round);
        CHECK(p != NULL, "parent malloc after fork");
        free(p);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
    printf("forks %d, worker ops %ld\n", ROUNDS, atomic_load(&worker_ops));
    printf("OK\n");
    return 0;
}
