/*
 * reclaim -- producers replace blocks of a fixed live set, one reclaimer
 * thread frees the replaced blocks (issue 21: does memory freed by another
 * thread come back?).
 *
 *   usage: reclaim producers live_blocks replacements seed
 *
 * The live set of `live_blocks` blocks of 592 bytes is split evenly between
 * `producers` threads. Each producer replaces `replacements` random blocks of
 * its share: it allocates a new block (canary at both ends) and sends the one
 * it replaces to the reclaimer through a single-producer single-consumer
 * queue of 1,024 blocks (yielding while it is full); the reclaimer checks each
 * block's canary and frees it. The main thread samples the resident set
 * every 5 ms; the steady RSS is the mean of the samples taken in the second
 * half of the run (by replacements done), over the live set's bytes.
 * Output: `Throughput = N operations per second` (replacements, each a
 * malloc by a producer and a free by the reclaimer) and
 * `Steady RSS = R times the live bytes`.
 */
#include "bench.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define BLOCK 592
#define QUEUE 1024 /* a power of two */

typedef struct {
    _Alignas(64) atomic_size_t head;
    _Alignas(64) atomic_size_t tail;
    _Alignas(64) atomic_int done;
    void *slot[QUEUE];
    void **set;
    size_t count;
    uint64_t replacements, rng;
    atomic_uint_fast64_t done_ops; /* replacements done, for the sampler */
} producer_t;

static producer_t *prods;
static uint64_t nprods;

static void *producer(void *arg) {
    producer_t *p = arg;
    size_t head = 0, tail_seen = 0;
    for (uint64_t i = 0; i < p->replacements; i++) {
        size_t k = (size_t)(rng_next(&p->rng) % p->count);
        void *old = p->set[k];
        p->set[k] = xmalloc_canary(BLOCK);
        while (head - tail_seen == QUEUE) {
            tail_seen = atomic_load_explicit(&p->tail, memory_order_acquire);
            if (head - tail_seen == QUEUE) sched_yield();
        }
        p->slot[head % QUEUE] = old;
        atomic_store_explicit(&p->head, ++head, memory_order_release);
        if ((i & 1023) == 1023) atomic_store_explicit(&p->done_ops, i + 1, memory_order_relaxed);
    }
    atomic_store_explicit(&p->done_ops, p->replacements, memory_order_relaxed);
    atomic_store_explicit(&p->done, 1, memory_order_release);
    return NULL;
}

static void *reclaimer(void *arg) {
    uint64_t *freed = arg;
    size_t *tails = calloc(nprods, sizeof *tails);
    if (tails == NULL) {
        fprintf(stderr, "reclaim: out of memory\n");
        exit(1);
    }
    for (uint64_t finished = 0; finished < nprods;) {
        size_t got = 0;
        finished = 0;
        for (uint64_t i = 0; i < nprods; i++) {
            producer_t *p = &prods[i];
            int done = atomic_load_explicit(&p->done, memory_order_acquire);
            size_t head = atomic_load_explicit(&p->head, memory_order_acquire);
            for (; tails[i] != head; tails[i]++, got++) free_canary(p->slot[tails[i] % QUEUE], BLOCK);
            atomic_store_explicit(&p->tail, tails[i], memory_order_release);
            if (done && tails[i] == atomic_load_explicit(&p->head, memory_order_acquire)) finished++;
        }
        *freed += got;
        if (got == 0 && finished < nprods) sched_yield();
    }
    free(tails);
    return NULL;
}

int main(int argc, char **argv) {
    bench_prog = "reclaim";
    if (argc != 5) {
        fprintf(stderr, "usage: reclaim producers live_blocks replacements seed\n");
        return 2;
    }
    nprods = arg_u64(argv[1], "producers", 1, 256);
    uint64_t live_blocks = arg_u64(argv[2], "live_blocks", nprods, 100000000);
    uint64_t replacements = arg_u64(argv[3], "replacements", 1, UINT64_MAX / 1024);
    uint64_t seed = arg_u64(argv[4], "seed", 0, UINT64_MAX);
    bench_allocator_check();
    printf("reclaim: producers=%llu live_blocks=%llu of %d B, replacements=%llu per producer, 1 reclaimer, "
           "queue=%d blocks per producer, seed=%llu\n",
           (unsigned long long)nprods, (unsigned long long)live_blocks, BLOCK, (unsigned long long)replacements,
           QUEUE, (unsigned long long)seed);

    prods = aligned_alloc(64, sizeof(producer_t) * nprods);
    if (prods == NULL) {
        fprintf(stderr, "reclaim: out of memory\n");
        return 1;
    }
    memset(prods, 0, sizeof(producer_t) * nprods);
    uint64_t placed = 0;
    for (uint64_t i = 0; i < nprods; i++) {
        producer_t *p = &prods[i];
        p->count = (size_t)((live_blocks * (i + 1)) / nprods - placed);
        placed += p->count;
        p->set = calloc(p->count, sizeof(void *));
        if (p->set == NULL) {
            fprintf(stderr, "reclaim: out of memory\n");
            return 1;
        }
        for (size_t k = 0; k < p->count; k++) p->set[k] = xmalloc_canary(BLOCK);
        p->replacements = replacements;
        p->rng = rng_seed(seed + i);
    }
    double live_kib = (double)live_blocks * BLOCK / 1024.0;

    uint64_t freed = 0;
    pthread_t rt, *tids = calloc(nprods, sizeof *tids);
    if (tids == NULL) return 1;
    double start = now_seconds();
    if (pthread_create(&rt, NULL, reclaimer, &freed) != 0) {
        fprintf(stderr, "reclaim: pthread_create failed\n");
        return 1;
    }
    for (uint64_t i = 0; i < nprods; i++) {
        if (pthread_create(&tids[i], NULL, producer, &prods[i]) != 0) {
            fprintf(stderr, "reclaim: pthread_create failed\n");
            return 1;
        }
    }
    /* Sample RSS until every producer is done. */
    uint64_t total = replacements * nprods, samples = 0;
    double rss_sum = 0;
    long rss_max = 0;
    for (;;) {
        uint64_t done = 0;
        for (uint64_t i = 0; i < nprods; i++) done += atomic_load_explicit(&prods[i].done_ops, memory_order_relaxed);
        if (done >= total) break;
        if (done >= total / 2) {
            long r = rss_kib();
            if (r > 0) {
                rss_sum += (double)r;
                samples++;
                if (r > rss_max) rss_max = r;
            }
        }
        sleep_seconds(0.005);
    }
    if (samples == 0) {
        /* A run too short for a sample in its second half: one at its end. */
        long r = rss_kib();
        rss_sum = (double)(r > 0 ? r : 0);
        rss_max = r;
        samples = 1;
    }
    for (uint64_t i = 0; i < nprods; i++) pthread_join(tids[i], NULL);
    pthread_join(rt, NULL);
    double elapsed = now_seconds() - start;

    if (freed != total) {
        fprintf(stderr, "reclaim: %llu blocks replaced but %llu freed\n", (unsigned long long)total,
                (unsigned long long)freed);
        return 1;
    }
    for (uint64_t i = 0; i < nprods; i++) {
        for (size_t k = 0; k < prods[i].count; k++) free_canary(prods[i].set[k], BLOCK);
        free(prods[i].set);
    }
    free(prods);
    free(tids);
    double steady = rss_sum / (double)samples;
    printf("live = %.0f KiB; RSS in the second half: mean %.0f KiB, max %ld KiB (%llu samples)\n", live_kib, steady,
           rss_max, (unsigned long long)samples);
    print_throughput(total, elapsed, "replacements: malloc by a producer, free by the reclaimer");
    printf("Steady RSS = %.3f times the live bytes\n", steady / live_kib);
    return 0;
}
