/*
 * mixed32 -- a mixed many-thread stress: sizes from 8 B to 256 KiB, blocks
 * passed between threads, a few long-lived blocks.
 *
 *   usage: mixed32 seconds threads seed
 *
 * `threads` threads (32 in the catalogue). Each keeps a working set of 64
 * slots and, until `seconds` have passed, replaces a random slot: it frees
 * the block there (after checking its canary) and allocates a new one of a
 * log-uniform size in [8, 262143] B (canary at both ends, one byte written
 * per 4 KiB page). One new block in eight is sent instead to another thread
 * (alternately the next one and the one half the ring away, through
 * single-producer single-consumer queues of 32 blocks; kept when the queue
 * is full); a thread puts every block it receives into its working set, so
 * the block is freed later by a thread that did not allocate it. Each thread
 * also holds 4 long-lived blocks (4 KiB..256 KiB) from its start to its end,
 * checked at the end. After `seconds` the threads stop sending, take what
 * is still queued for them and free everything. One operation is one block
 * allocated (each is freed exactly once).
 * Output: `Throughput = N operations per second`.
 */
#include "bench.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define SLOTS 64
#define QUEUE 32 /* a power of two */
#define LONG_LIVED 4
#define MAX_SIZE 262143

typedef struct {
    void *p;
    size_t size;
} blk_t;

typedef struct {
    _Alignas(64) atomic_size_t head;
    _Alignas(64) atomic_size_t tail;
    _Alignas(64) atomic_int done;
    blk_t slot[QUEUE];
} queue_t;

typedef struct {
    queue_t *out[2]; /* to i+1 and to i+threads/2 */
    queue_t *in[2];  /* from i-1 and from i-threads/2 (the queues' producers) */
    size_t out_head[2];
    blk_t set[SLOTS];
    uint64_t rng;
    uint64_t allocated, freed, sent, received;
} worker_t;

static atomic_int stop_flag;

static void *new_block(worker_t *w, blk_t *b) {
    size_t size = rng_logsize(&w->rng, 8, MAX_SIZE);
    char *p = xmalloc_canary(size);
    for (size_t off = 4096; off + 8 < size; off += 4096) p[off] = (char)off;
    b->p = p;
    b->size = size;
    w->allocated++;
    return p;
}

static void drop(worker_t *w, blk_t *b) {
    if (b->p != NULL) {
        free_canary(b->p, b->size);
        w->freed++;
        b->p = NULL;
    }
}

/* Take what is queued on in[e] into the working set; returns how many. */
static size_t receive(worker_t *w, int e) {
    queue_t *q = w->in[e];
    size_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&q->head, memory_order_acquire);
    size_t n = head - tail;
    for (; tail != head; tail++) {
        blk_t *s = &w->set[rng_next(&w->rng) % SLOTS];
        drop(w, s);
        *s = q->slot[tail % QUEUE];
        w->received++;
    }
    atomic_store_explicit(&q->tail, tail, memory_order_release);
    return n;
}

static void *worker(void *arg) {
    worker_t *w = arg;
    blk_t lived[LONG_LIVED];
    for (int i = 0; i < LONG_LIVED; i++) {
        lived[i].size = rng_range(&w->rng, 4096, MAX_SIZE);
        lived[i].p = xmalloc_canary(lived[i].size);
        w->allocated++;
    }
    uint64_t n = 0;
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        for (int k = 0; k < 64; k++, n++) {
            blk_t *s = &w->set[rng_next(&w->rng) % SLOTS];
            drop(w, s);
            new_block(w, s);
            if ((n & 7) == 7) {
                int e = (int)((n >> 3) & 1);
                queue_t *q = w->out[e];
                if (w->out_head[e] - atomic_load_explicit(&q->tail, memory_order_acquire) < QUEUE) {
                    q->slot[w->out_head[e] % QUEUE] = *s;
                    atomic_store_explicit(&q->head, ++w->out_head[e], memory_order_release);
                    s->p = NULL;
                    w->sent++;
                }
            }
        }
        receive(w, 0);
        receive(w, 1);
    }
    atomic_store_explicit(&w->out[0]->done, 1, memory_order_release);
    atomic_store_explicit(&w->out[1]->done, 1, memory_order_release);
    for (;;) {
        int done = atomic_load_explicit(&w->in[0]->done, memory_order_acquire) &&
                   atomic_load_explicit(&w->in[1]->done, memory_order_acquire);
        size_t got = receive(w, 0) + receive(w, 1);
        if (got == 0) {
            if (done) break;
            sched_yield();
        }
    }
    for (int i = 0; i < SLOTS; i++) drop(w, &w->set[i]);
    for (int i = 0; i < LONG_LIVED; i++) drop(w, &lived[i]);
    return NULL;
}

int main(int argc, char **argv) {
    bench_prog = "mixed32";
    if (argc != 4) {
        fprintf(stderr, "usage: mixed32 seconds threads seed\n");
        return 2;
    }
    double seconds = arg_seconds(argv[1], "seconds");
    uint64_t threads = arg_u64(argv[2], "threads", 2, 1024);
    uint64_t seed = arg_u64(argv[3], "seed", 0, UINT64_MAX);
    bench_allocator_check();
    printf("mixed32: seconds=%g threads=%llu seed=%llu sizes=log-uniform[8,%d] slots=%d per thread, "
           "1 block in 8 sent to another thread, %d long-lived blocks per thread\n",
           seconds, (unsigned long long)threads, (unsigned long long)seed, MAX_SIZE, SLOTS, LONG_LIVED);

    /* Two queues out of every thread: queues[2i] to i+1, queues[2i+1] to i+threads/2. */
    queue_t *queues = aligned_alloc(64, sizeof(queue_t) * 2 * threads);
    worker_t *workers = calloc(threads, sizeof *workers);
    pthread_t *tids = calloc(threads, sizeof *tids);
    if (queues == NULL || workers == NULL || tids == NULL) {
        fprintf(stderr, "mixed32: out of memory\n");
        return 1;
    }
    memset(queues, 0, sizeof(queue_t) * 2 * threads);
    uint64_t half = threads / 2;
    for (uint64_t i = 0; i < threads; i++) {
        workers[i].out[0] = &queues[2 * i];
        workers[i].out[1] = &queues[2 * i + 1];
        workers[i].in[0] = &queues[2 * ((i + threads - 1) % threads)];
        workers[i].in[1] = &queues[2 * ((i + threads - half) % threads) + 1];
        workers[i].rng = rng_seed(seed + i);
    }

    double start = now_seconds();
    for (uint64_t i = 0; i < threads; i++) {
        if (pthread_create(&tids[i], NULL, worker, &workers[i]) != 0) {
            fprintf(stderr, "mixed32: pthread_create failed\n");
            return 1;
        }
    }
    sleep_seconds(seconds);
    atomic_store(&stop_flag, 1);
    for (uint64_t i = 0; i < threads; i++) pthread_join(tids[i], NULL);
    double elapsed = now_seconds() - start;

    uint64_t allocated = 0, freed = 0, sent = 0, received = 0;
    for (uint64_t i = 0; i < threads; i++) {
        allocated += workers[i].allocated;
        freed += workers[i].freed;
        sent += workers[i].sent;
        received += workers[i].received;
    }
    if (allocated != freed || sent != received) {
        fprintf(stderr, "mixed32: allocated %llu blocks, freed %llu; sent %llu, received %llu\n",
                (unsigned long long)allocated, (unsigned long long)freed, (unsigned long long)sent,
                (unsigned long long)received);
        return 1;
    }
    free(queues);
    free(workers);
    free(tids);
    printf("blocks sent to another thread = %llu\n", (unsigned long long)sent);
    print_throughput(allocated, elapsed, "blocks allocated, each freed once");
    return 0;
}
