/*
 * handoff -- thread churn with hand-off: many short-lived threads, each
 * inheriting the live blocks of the thread before it (a larson-style server
 * with many short rounds, where tcmalloc is strong).
 *
 *   usage: handoff seconds threads seed
 *
 * `threads` lanes run at once. A lane owns 1,000 live blocks (uniform sizes
 * 8..1024 B, canary in each). Each generation of a lane is a new thread that
 * does 2,000 replacements (free a random block of the lane after checking its
 * canary, allocate a new one in its place), then creates the lane's next
 * generation, hands it the lane and exits: every block a generation frees
 * but the ones it allocated itself was allocated by a thread that has
 * exited. After `seconds` the last generations stop; the main thread then
 * frees every lane's blocks (checked). One operation is one replacement
 * (malloc + free).
 * Output: `Throughput = N operations per second`.
 */
#include "bench.h"
#include <pthread.h>
#include <stdatomic.h>

#define LIVE 1000
#define OPS_PER_GENERATION 2000

typedef struct {
    void *block[LIVE];
    uint32_t size[LIVE];
    uint64_t rng;
    uint64_t ops, generations;
} lane_t;

static atomic_int stop_flag;
static atomic_int lanes_done;
static atomic_int spawn_failed;
static pthread_attr_t detached;

static void *generation(void *arg) {
    lane_t *l = arg;
    for (int i = 0; i < OPS_PER_GENERATION; i++) {
        size_t k = (size_t)(rng_next(&l->rng) % LIVE);
        free_canary(l->block[k], l->size[k]);
        size_t size = rng_range(&l->rng, 8, 1024);
        l->block[k] = xmalloc_canary(size);
        l->size[k] = (uint32_t)size;
    }
    l->ops += OPS_PER_GENERATION;
    l->generations++;
    if (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        pthread_t next;
        if (pthread_create(&next, &detached, generation, l) == 0) return NULL;
        atomic_store(&spawn_failed, 1);
    }
    /* The lane's last touch: after this the main thread owns it. */
    atomic_fetch_add_explicit(&lanes_done, 1, memory_order_release);
    return NULL;
}

int main(int argc, char **argv) {
    bench_prog = "handoff";
    if (argc != 4) {
        fprintf(stderr, "usage: handoff seconds threads seed\n");
        return 2;
    }
    double seconds = arg_seconds(argv[1], "seconds");
    uint64_t threads = arg_u64(argv[2], "threads", 1, 1024);
    uint64_t seed = arg_u64(argv[3], "seed", 0, UINT64_MAX);
    bench_allocator_check();
    printf("handoff: seconds=%g threads=%llu (lanes) seed=%llu live=%d blocks per lane, sizes=uniform[8,1024], "
           "%d replacements per thread\n",
           seconds, (unsigned long long)threads, (unsigned long long)seed, LIVE, OPS_PER_GENERATION);

    lane_t *lanes = calloc(threads, sizeof *lanes);
    if (lanes == NULL) {
        fprintf(stderr, "handoff: out of memory\n");
        return 1;
    }
    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    for (uint64_t i = 0; i < threads; i++) {
        lanes[i].rng = rng_seed(seed + i);
        for (int k = 0; k < LIVE; k++) {
            size_t size = rng_range(&lanes[i].rng, 8, 1024);
            lanes[i].block[k] = xmalloc_canary(size);
            lanes[i].size[k] = (uint32_t)size;
        }
    }

    double start = now_seconds();
    for (uint64_t i = 0; i < threads; i++) {
        pthread_t t;
        if (pthread_create(&t, &detached, generation, &lanes[i]) != 0) {
            fprintf(stderr, "handoff: pthread_create failed\n");
            return 1;
        }
    }
    sleep_seconds(seconds);
    atomic_store(&stop_flag, 1);
    while (atomic_load_explicit(&lanes_done, memory_order_acquire) != (int)threads) sleep_seconds(0.0005);
    double elapsed = now_seconds() - start;
    if (atomic_load(&spawn_failed)) {
        fprintf(stderr, "handoff: pthread_create failed in a generation\n");
        return 1;
    }

    uint64_t ops = 0, generations = 0;
    for (uint64_t i = 0; i < threads; i++) {
        ops += lanes[i].ops;
        generations += lanes[i].generations;
        for (int k = 0; k < LIVE; k++) free_canary(lanes[i].block[k], lanes[i].size[k]);
    }
    free(lanes);
    printf("threads created = %llu\n", (unsigned long long)generations);
    print_throughput(ops, elapsed, "replacements: malloc+free pairs");
    return 0;
}
