/*
 * remote -- all-to-all remote frees: every block is freed by a thread other
 * than the one that allocated it (where snmalloc, whose remote frees travel
 * as batched messages, is strongest).
 *
 *   usage: remote seconds threads seed
 *
 * `threads` threads (at least 2) in a ring. Each thread repeatedly allocates
 * a batch of 64 blocks of mixed small sizes (log-uniform over 16..1023 B),
 * writes a canary into each, and hands the batch to the next thread of the
 * ring through a single-producer single-consumer queue of 64 batches; in
 * between it takes the batches its predecessor handed it and frees their
 * blocks (after checking each canary). A thread whose outgoing queue is full
 * frees incoming batches until there is room, and yields when it can do
 * neither. After `seconds` the threads stop allocating and drain what is
 * still queued. One operation is one block allocated by one thread and
 * freed by another.
 * Output: `Throughput = N operations per second`.
 */
#include "bench.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define BATCH 64
#define QUEUE 64 /* batches per ring edge, a power of two */

typedef struct {
    void *block[BATCH];
    uint32_t size[BATCH];
} batch_t;

/* The edge from thread i to thread i+1; written by i, read by i+1. */
typedef struct {
    _Alignas(64) atomic_size_t head; /* batches published by the producer */
    _Alignas(64) atomic_size_t tail; /* batches freed by the consumer */
    _Alignas(64) atomic_int done;    /* the producer allocates no more */
    batch_t slot[QUEUE];
} edge_t;

typedef struct {
    edge_t *out, *in;
    uint64_t rng;
    uint64_t allocated, freed;
} worker_t;

static atomic_int stop_flag;

/* Free every batch queued on `in`; returns how many batches. */
static size_t drain(worker_t *w) {
    edge_t *in = w->in;
    size_t tail = atomic_load_explicit(&in->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&in->head, memory_order_acquire);
    size_t n = head - tail;
    for (; tail != head; tail++) {
        batch_t *b = &in->slot[tail % QUEUE];
        for (int k = 0; k < BATCH; k++) free_canary(b->block[k], b->size[k]);
        w->freed += BATCH;
        atomic_store_explicit(&in->tail, tail + 1, memory_order_release);
    }
    return n;
}

static void *worker(void *arg) {
    worker_t *w = arg;
    edge_t *out = w->out;
    size_t head = 0;
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        if (head - atomic_load_explicit(&out->tail, memory_order_acquire) < QUEUE) {
            batch_t *b = &out->slot[head % QUEUE];
            for (int k = 0; k < BATCH; k++) {
                size_t size = rng_logsize(&w->rng, 16, 1023);
                b->block[k] = xmalloc_canary(size);
                b->size[k] = (uint32_t)size;
            }
            head++;
            atomic_store_explicit(&out->head, head, memory_order_release);
            w->allocated += BATCH;
            drain(w);
        } else if (drain(w) == 0) {
            sched_yield();
        }
    }
    atomic_store_explicit(&out->done, 1, memory_order_release);
    /* Drain until the predecessor is done and its queue empty. */
    for (;;) {
        int done = atomic_load_explicit(&w->in->done, memory_order_acquire);
        if (drain(w) == 0) {
            if (done) break;
            sched_yield();
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    bench_prog = "remote";
    if (argc != 4) {
        fprintf(stderr, "usage: remote seconds threads seed\n");
        return 2;
    }
    double seconds = arg_seconds(argv[1], "seconds");
    uint64_t threads = arg_u64(argv[2], "threads", 2, 1024);
    uint64_t seed = arg_u64(argv[3], "seed", 0, UINT64_MAX);
    bench_allocator_check();
    printf("remote: seconds=%g threads=%llu (a ring: each thread's batches are freed by the next) seed=%llu "
           "sizes=log-uniform[16,1023] batch=%d queue=%d batches\n",
           seconds, (unsigned long long)threads, (unsigned long long)seed, BATCH, QUEUE);

    edge_t *edges = aligned_alloc(64, sizeof(edge_t) * threads);
    worker_t *workers = calloc(threads, sizeof *workers);
    pthread_t *tids = calloc(threads, sizeof *tids);
    if (edges == NULL || workers == NULL || tids == NULL) {
        fprintf(stderr, "remote: out of memory\n");
        return 1;
    }
    memset(edges, 0, sizeof(edge_t) * threads);
    for (uint64_t i = 0; i < threads; i++) {
        workers[i].out = &edges[i];
        workers[i].in = &edges[(i + threads - 1) % threads];
        workers[i].rng = rng_seed(seed + i);
    }

    double start = now_seconds();
    for (uint64_t i = 0; i < threads; i++) {
        if (pthread_create(&tids[i], NULL, worker, &workers[i]) != 0) {
            fprintf(stderr, "remote: pthread_create failed\n");
            return 1;
        }
    }
    sleep_seconds(seconds);
    atomic_store(&stop_flag, 1);
    for (uint64_t i = 0; i < threads; i++) pthread_join(tids[i], NULL);
    double elapsed = now_seconds() - start;

    uint64_t allocated = 0, freed = 0;
    for (uint64_t i = 0; i < threads; i++) {
        allocated += workers[i].allocated;
        freed += workers[i].freed;
    }
    if (allocated != freed) {
        fprintf(stderr, "remote: allocated %llu blocks but freed %llu\n", (unsigned long long)allocated,
                (unsigned long long)freed);
        return 1;
    }
    free(edges);
    free(workers);
    free(tids);
    print_throughput(freed, elapsed, "blocks allocated by one thread and freed by another");
    return 0;
}
