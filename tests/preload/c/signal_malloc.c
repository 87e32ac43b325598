/* malloc and free from signal handlers, interrupting threads that are not
 * inside the allocator (the common case that must not deadlock; a handler
 * interrupting malloc itself is undefined behaviour in C, as with glibc).
 *
 * The main thread sleeps in a loop of nanosleep (SIGALRM from an interval
 * timer, SIGUSR1 from a helper thread); a thread that has never allocated
 * sleeps in a loop of nanosleep and gets SIGUSR2, so its first allocation (its
 * context) happens inside a handler; two worker threads allocate and free
 * meanwhile. Each handler allocates blocks of every tier (malloc, calloc,
 * realloc), checks and frees them. A deadlock is a hung program: the
 * harness kills it and fails the test. */
#define _GNU_SOURCE
#include "check.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

enum { TARGET = 200 };

static atomic_int stop;
static atomic_int handled[3]; /* SIGALRM, SIGUSR1, SIGUSR2 */
static atomic_int failures;

/* Async-signal-safe checks: count failures, report after. */
static void handler_work(uint64_t seed) {
    static const size_t sizes[] = {16, 200, 1000, 5000, 30000, 200000, 2 * 1048576};
    void *p[7];
    for (int i = 0; i < 7; i++) {
        p[i] = i % 2 ? calloc(1, sizes[i]) : malloc(sizes[i]);
        if (!p[i]) {
            atomic_fetch_add(&failures, 1);
            continue;
        }
        if (i % 2 && find_not(p[i], sizes[i], 0) != SIZE_MAX) atomic_fetch_add(&failures, 1);
        fill(p[i], sizes[i], seed + i);
    }
    for (int i = 0; i < 7; i++) {
        if (!p[i]) continue;
        void *q = realloc(p[i], sizes[i] * 2);
        if (!q) {
            atomic_fetch_add(&failures, 1);
            free(p[i]);
            continue;
        }
        if (check_pat(q, sizes[i], seed + i) != SIZE_MAX) atomic_fetch_add(&failures, 1);
        free(q);
    }
}

static void on_signal(int sig) {
    int saved = errno;
    int k = sig == SIGALRM ? 0 : sig == SIGUSR1 ? 1 : 2;
    handler_work((uint64_t)sig * 1000 + (uint64_t)atomic_load(&handled[k]));
    atomic_fetch_add(&handled[k], 1);
    errno = saved;
}

static void *worker(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    void *slot[32] = {0};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t r = rng_next(&rng);
        int k = (int)(r % 32);
        free(slot[k]);
        slot[k] = malloc(1 + (r >> 8) % (r & 0x100 ? 100000 : 1000));
        CHECK(slot[k] != NULL, "worker malloc");
    }
    for (int k = 0; k < 32; k++) free(slot[k]);
    return NULL;
}

/* Never allocates by itself: its first allocation is in a handler. */
static void *sleeper(void *arg) {
    (void)arg;
    struct timespec ts = {0, 1000 * 1000};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) nanosleep(&ts, NULL);
    return NULL;
}

static pthread_t main_thread, sleeper_thread;

/* Sends SIGUSR1 to the main thread and SIGUSR2 to the sleeper, one at a time. */
static void *kicker(void *arg) {
    (void)arg;
    struct timespec ts = {0, 500 * 1000};
    while (atomic_load(&handled[1]) < TARGET || atomic_load(&handled[2]) < TARGET) {
        if (atomic_load(&handled[1]) < TARGET) pthread_kill(main_thread, SIGUSR1);
        if (atomic_load(&handled[2]) < TARGET) pthread_kill(sleeper_thread, SIGUSR2);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigfillset(&sa.sa_mask); /* handlers do not interrupt each other's malloc */
    sa.sa_flags = SA_RESTART;
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0 && sigaction(SIGUSR1, &sa, NULL) == 0 &&
              sigaction(SIGUSR2, &sa, NULL) == 0,
          "sigaction");
    /* Only the main thread takes SIGALRM and SIGUSR1, only the sleeper SIGUSR2. */
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGALRM);
    sigaddset(&s, SIGUSR1);
    sigaddset(&s, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    main_thread = pthread_self();
    pthread_t w[2], kick;
    for (long i = 0; i < 2; i++) CHECK(pthread_create(&w[i], NULL, worker, (void *)(i + 1)) == 0, "pthread_create");
    sigset_t s2;
    sigemptyset(&s2);
    sigaddset(&s2, SIGUSR2);
    pthread_sigmask(SIG_UNBLOCK, &s2, NULL); /* the sleeper inherits this mask */
    CHECK(pthread_create(&sleeper_thread, NULL, sleeper, NULL) == 0, "pthread_create");
    pthread_sigmask(SIG_BLOCK, &s2, NULL);
    CHECK(pthread_create(&kick, NULL, kicker, NULL) == 0, "pthread_create");
    sigset_t s1;
    sigemptyset(&s1);
    sigaddset(&s1, SIGALRM);
    sigaddset(&s1, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &s1, NULL);

    struct itimerval it = {{0, 1000}, {0, 1000}};
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
    while (atomic_load(&handled[0]) < TARGET || atomic_load(&handled[1]) < TARGET ||
           atomic_load(&handled[2]) < TARGET) {
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, NULL);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    pthread_sigmask(SIG_BLOCK, &s1, NULL);
    CHECK(pthread_join(kick, NULL) == 0, "pthread_join");
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) CHECK(pthread_join(w[i], NULL) == 0, "pthread_join");
    CHECK(pthread_join(sleeper_thread, NULL) == 0, "pthread_join");
    CHECK(atomic_load(&failures) == 0, "%d failed allocations or checks in handlers", atomic_load(&failures));
    printf("handlers: SIGALRM %d, SIGUSR1 %d, SIGUSR2 %d (in a thread that never allocated before)\n",
           atomic_load(&handled[0]), atomic_load(&handled[1]), atomic_load(&handled[2]));
    printf("OK\n");
    return 0;
}
