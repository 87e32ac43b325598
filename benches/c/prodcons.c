/*
 * prodcons -- producer/consumer: blocks allocated by one thread, freed by
 * another (remote-free throughput, after xmalloc-test).
 *
 *   usage: prodcons seconds threads seed
 *
 * threads/2 pairs (at least one pair; the thread count used is even). In each
 * pair the producer only allocates (random size, log-uniform in [16, 1024],
 * first byte written) and pushes the block through a bounded single-producer
 * single-consumer ring of 4096 entries; the consumer only pops and frees.
 * A full or empty ring makes the waiting side yield. After `seconds` the
 * producers stop and the consumers drain their rings. One operation is one
 * block allocated by a producer and freed by its consumer.
 * Output: `Throughput = N operations per second`.
 */
#include "bench.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define RING 4096 /* power of two */

typedef struct {
    _Alignas(64) atomic_size_t head; /* written by the producer */
    _Alignas(64) atomic_size_t tail; /* written by the consumer */
    _Alignas(64) atomic_int done;    /* producer finished */
    void *slots[RING];
    uint64_t rng;
    uint64_t produced, consumed;
} pair_t;

static atomic_int stop_flag;

static void *producer(void *arg) {
    pair_t *q = arg;
    size_t head = 0, tail_seen = 0;
    uint64_t rng = q->rng, n = 0;
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        for (int k = 0; k < 64; k++) {
            while (head - tail_seen == RING) {
                tail_seen = atomic_load_explicit(&q->tail, memory_order_acquire);
                if (head - tail_seen == RING) sched_yield();
            }
            size_t size = rng_logsize(&rng, 16, 1024);
            char *p = xmalloc(size);
            p[0] = (char)size;
            q->slots[head % RING] = p;
            head++;
            atomic_store_explicit(&q->head, head, memory_order_release);
            n++;
        }
    }
    q->produced = n;
    atomic_store_explicit(&q->done, 1, memory_order_release);
    return NULL;
}

static void *consumer(void *arg) {
    pair_t *q = arg;
    size_t tail = 0;
    uint64_t n = 0;
    for (;;) {
        size_t head = atomic_load_explicit(&q->head, memory_order_acquire);
        if (head == tail) {
            if (atomic_load_explicit(&q->done, memory_order_acquire) &&
                atomic_load_explicit(&q->head, memory_order_acquire) == tail)
                break;
            sched_yield();
            continue;
        }
        while (tail != head) {
            free(q->slots[tail % RING]);
            tail++;
            n++;
            if ((tail & 63) == 0) atomic_store_explicit(&q->tail, tail, memory_order_release);
        }
        atomic_store_explicit(&q->tail, tail, memory_order_release);
    }
    q->consumed = n;
    return NULL;
}

int main(int argc, char **argv) {
    bench_prog = "prodcons";
    if (argc != 4) {
        fprintf(stderr, "usage: prodcons seconds threads seed\n");
        return 2;
    }
    double seconds = arg_seconds(argv[1], "seconds");
    uint64_t threads = arg_u64(argv[2], "threads", 1, 1024);
    uint64_t seed = arg_u64(argv[3], "seed", 0, UINT64_MAX);
    uint64_t pairs = threads / 2 ? threads / 2 : 1;
    bench_allocator_check();
    printf("prodcons: seconds=%g threads=%llu (%llu producers, %llu consumers) seed=%llu sizes=log-uniform[16,1024] ring=%d\n",
           seconds, (unsigned long long)(2 * pairs), (unsigned long long)pairs,
           (unsigned long long)pairs, (unsigned long long)seed, RING);

    pair_t *q = aligned_alloc(64, sizeof(pair_t) * pairs);
    pthread_t *tids = calloc(2 * pairs, sizeof *tids);
    if (q == NULL || tids == NULL) {
        fprintf(stderr, "prodcons: out of memory\n");
        return 1;
    }
    memset(q, 0, sizeof(pair_t) * pairs);
    for (uint64_t i = 0; i < pairs; i++) q[i].rng = rng_seed(seed + i);

    double start = now_seconds();
    for (uint64_t i = 0; i < pairs; i++) {
        if (pthread_create(&tids[2 * i], NULL, consumer, &q[i]) != 0 ||
            pthread_create(&tids[2 * i + 1], NULL, producer, &q[i]) != 0) {
            fprintf(stderr, "prodcons: pthread_create failed\n");
            return 1;
        }
    }
    sleep_seconds(seconds);
    atomic_store(&stop_flag, 1);
    for (uint64_t i = 0; i < 2 * pairs; i++) pthread_join(tids[i], NULL);
    double elapsed = now_seconds() - start;

    uint64_t produced = 0, consumed = 0;
    for (uint64_t i = 0; i < pairs; i++) {
        produced += q[i].produced;
        consumed += q[i].consumed;
    }
    if (produced != consumed) {
        fprintf(stderr, "prodcons: produced %llu blocks but consumed %llu\n", (unsigned long long)produced,
                (unsigned long long)consumed);
        return 1;
    }
    free(q);
    free(tids);
    print_throughput(consumed, elapsed, "blocks allocated by a producer and freed by a consumer");
    return 0;
}
