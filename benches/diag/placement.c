/*
 * placement -- an LD_PRELOAD shim that shows where the kernel starts new
 * threads, and how a workload's throughput depends on it.
 *
 *   cc -O2 -shared -fPIC benches/diag/placement.c -o /tmp/placement.so -ldl
 *   LD_PRELOAD="/tmp/placement.so ALLOCATOR.so" target/bench-bin/threads 2 1 12345
 *   PLACEMENT_SPIN_NS=5000 LD_PRELOAD="/tmp/placement.so" target/bench-bin/threads 2 1 12345
 *
 * It wraps pthread_create: each new thread records whether it starts on
 * the CPU its creator was on, then runs the thread's function, then (with
 * PLACEMENT_SPIN_NS set) spins that many nanoseconds before returning. At
 * exit it prints, on stderr, how many threads ran and how many started on
 * their creator's CPU. With the spin it tests whether making each thread
 * *longer* makes a workload faster, which is the signature of a benchmark
 * decided by thread placement (see docs/bench/README.md) rather than by
 * the work done. A diagnostic, not a workload: `cargo xtask bench` does not
 * build or run it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
    void *(*fn)(void *);
    void *arg;
    int creator_cpu;
} start_t;

static atomic_long threads, same_cpu;
static long spin_ns;
static start_t starts[256];
static atomic_uint next_start;

static void spin(long ns) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do
        clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < ns);
}

static int (*real_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

__attribute__((constructor)) static void setup(void) {
    real_create = dlsym(RTLD_NEXT, "pthread_create");
    const char *e = getenv("PLACEMENT_SPIN_NS");
    spin_ns = e ? atol(e) : 0;
}

static void *trampoline(void *x) {
    start_t s = *(start_t *)x;
    threads++;
    if (sched_getcpu() == s.creator_cpu) same_cpu++;
    void *r = s.fn(s.arg);
    if (spin_ns > 0) spin(spin_ns);
    return r;
}

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
    /* A ring of start records: enough for the waves of `threads` (a record
     * is copied by its thread before 256 more are created). */
    start_t *s = &starts[next_start++ % 256];
    s->fn = fn;
    s->arg = arg;
    s->creator_cpu = sched_getcpu();
    return real_create(t, attr, trampoline, s);
}

__attribute__((destructor)) static void report(void) {
    fprintf(stderr, "placement: %ld threads started, %ld on their creator's CPU, spin %ld ns\n",
            (long)threads, (long)same_cpu, spin_ns);
}
