/*
 * larson.c -- the Larson & Krishnan server simulation, written from scratch
 * for hakmem (see docs: /work/shared/BENCHMARKS.md, "Workloads").
 *
 *   usage: larson seconds min_size max_size chunks_per_thread rounds seed threads
 *
 * Model (after P. Larson and M. Krishnan, "Memory allocation for long-running
 * server applications", ISMM 1998):
 *
 *  - The main thread allocates, for each of `threads` slots, an array of
 *    `chunks_per_thread` blocks of random size in [min_size, max_size]
 *    (so the first frees of every worker are cross-thread frees).
 *  - One worker thread per slot repeatedly picks a random slot index, frees
 *    the block there and allocates a new block of random size in its place,
 *    writing to its first bytes. One such free+malloc pair is one operation.
 *  - After `rounds * chunks_per_thread` operations the worker creates a NEW
 *    thread, hands it the array (the successor frees blocks the predecessor
 *    allocated: cross-thread frees) and exits (thread churn).
 *  - After `seconds` (fractional values allowed, e.g. 0.3) the main thread
 *    raises a stop flag; workers stop after their current operation; the
 *    elapsed time runs from the start of the first worker to the stop of the
 *    last one. Output: `Throughput = N operations per second` where N is
 *    operations (mallocs, each paired with a free) per second of elapsed time.
 *
 * Every worker has its own PRNG (xorshift64*, seeded from seed + slot index),
 * so a run with a given seed performs the same sequence of sizes per slot.
 * Only plain malloc/free are called, so LD_PRELOAD applies. The first line of
 * output names the allocator actually in use (bench.h, bench_allocator_check).
 *
 * Successor threads are joinable: each worker joins its predecessor at the end
 * of its own life (by then the predecessor has long exited, so nobody waits
 * and thread exits overlap with work as in the original, which used detached
 * threads), and the main thread joins the last worker of every slot. So no
 * thread is still exiting when the process exits.
 */
#include "bench.h" /* rng_next, rng_seed, now_seconds, sleep_seconds, bench_allocator_check */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

typedef struct slot {
    /* Written by main before the first worker starts, then read-only. */
    int index;
    size_t nblocks;            /* chunks_per_thread */
    size_t min_size, max_size;
    uint64_t ops_per_life;     /* rounds * chunks_per_thread */

    /* Owned by the current worker of this slot; handed over by pthread_create
     * (which orders memory) to the successor; read by main after `finished`. */
    char **blocks;
    uint64_t rng;
    uint64_t ops;              /* malloc+free pairs done */
    uint64_t threads;          /* workers that served this slot */
    int has_prev;
    pthread_t prev;            /* predecessor, to be joined */
    pthread_t self;            /* the current worker */
    int create_failed;         /* pthread_create failed at least once */
} slot_t;

static atomic_int stop_flag;
static sem_t finished;         /* posted once per slot by its last worker */

static size_t random_size(slot_t *s) {
    size_t range = s->max_size - s->min_size + 1;
    return s->min_size + (size_t)(rng_next(&s->rng) % range);
}

static void *checked_malloc(size_t n) {
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "larson: malloc(%zu) returned NULL\n", n);
        exit(1);
    }
    return p;
}

static void touch(char *p, size_t n) {
    /* As the original: write the first bytes of every new block. */
    volatile char *c = p;
    if (n > 0) c[0] = 'a';
    if (n > 1) c[1] = 'b';
}

static void *worker(void *arg) {
    slot_t *s = arg;
    s->self = pthread_self();

    for (;;) {
        s->threads++;
        uint64_t rng = s->rng;
        uint64_t ops = 0;
        char **blocks = s->blocks;
        const size_t nblocks = s->nblocks;
        const size_t min = s->min_size;
        const size_t range = s->max_size - s->min_size + 1;
        int stopped = 0;

        for (uint64_t i = 0; i < s->ops_per_life; i++) {
            size_t victim = (size_t)(rng_next(&rng) % nblocks);
            free(blocks[victim]);
            size_t size = min + (size_t)(rng_next(&rng) % range);
            char *p = checked_malloc(size);
            blocks[victim] = p;
            touch(p, size);
            ops++;
            if (atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
                stopped = 1;
                break;
            }
        }
        s->rng = rng;
        s->ops += ops;
        if (!stopped && atomic_load_explicit(&stop_flag, memory_order_relaxed))
            stopped = 1;

        /* Our predecessor (if any) exited long ago: reap it. */
        if (s->has_prev) {
            pthread_join(s->prev, NULL);
            s->has_prev = 0;
        }
        if (stopped) {
            sem_post(&finished);
            return NULL;
        }

        /* Hand the array to a newly created successor and exit. */
        s->prev = pthread_self();
        s->has_prev = 1;
        pthread_t next;
        int err = pthread_create(&next, NULL, worker, s);
        if (err == 0)
            return NULL;   /* s now belongs to the successor: do not touch it */
        /* Could not create a thread (resource limit): keep going ourselves. */
        s->has_prev = 0;
        if (!s->create_failed) {
            s->create_failed = 1;
            fprintf(stderr, "larson: pthread_create failed (%s); slot %d continues in the same thread\n",
                    strerror(err), s->index);
        }
    }
}

static int parse_u64(const char *arg, const char *name, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-') {
        fprintf(stderr, "larson: %s must be a non-negative integer, got '%s'\n", name, arg);
        return 0;
    }
    *out = (uint64_t)v;
    return 1;
}

static void usage(void) {
    fprintf(stderr,
            "usage: larson seconds min_size max_size chunks_per_thread rounds seed threads\n"
            "  e.g. larson 2 8 1024 10000 1 12345 4\n");
}

int main(int argc, char **argv) {
    if (argc != 8) {
        usage();
        return 2;
    }
    char *end;
    double seconds = strtod(argv[1], &end);
    if (end == argv[1] || *end != '\0' || !(seconds >= 0)) {
        fprintf(stderr, "larson: seconds must be a non-negative number, got '%s'\n", argv[1]);
        return 2;
    }
    uint64_t min_size, max_size, chunks, rounds, seed, nthreads;
    if (!parse_u64(argv[2], "min_size", &min_size) || !parse_u64(argv[3], "max_size", &max_size) ||
        !parse_u64(argv[4], "chunks_per_thread", &chunks) || !parse_u64(argv[5], "rounds", &rounds) ||
        !parse_u64(argv[6], "seed", &seed) || !parse_u64(argv[7], "threads", &nthreads)) {
        usage();
        return 2;
    }
    if (max_size < min_size || chunks == 0 || rounds == 0 || nthreads == 0 || nthreads > 4096) {
        fprintf(stderr, "larson: need min_size <= max_size, chunks_per_thread >= 1, rounds >= 1, "
                        "1 <= threads <= 4096\n");
        return 2;
    }

    bench_allocator_check();
    printf("larson: seconds=%g size=[%llu,%llu] chunks_per_thread=%llu rounds=%llu seed=%llu threads=%llu\n",
           seconds, (unsigned long long)min_size, (unsigned long long)max_size,
           (unsigned long long)chunks, (unsigned long long)rounds, (unsigned long long)seed,
           (unsigned long long)nthreads);
    fflush(stdout);

    slot_t *slots = calloc(nthreads, sizeof *slots);
    if (slots == NULL) {
        fprintf(stderr, "larson: out of memory\n");
        return 1;
    }
    /* Warm-up: the main thread allocates every slot's initial blocks. */
    for (uint64_t t = 0; t < nthreads; t++) {
        slot_t *s = &slots[t];
        s->index = (int)t;
        s->nblocks = (size_t)chunks;
        s->min_size = (size_t)min_size;
        s->max_size = (size_t)max_size;
        s->ops_per_life = rounds * chunks;
        s->rng = rng_seed(seed + t);
        s->blocks = checked_malloc(sizeof(char *) * (size_t)chunks);
        for (size_t i = 0; i < s->nblocks; i++) {
            size_t size = random_size(s);
            s->blocks[i] = checked_malloc(size);
            touch(s->blocks[i], size);
        }
    }
    if (sem_init(&finished, 0, 0) != 0) {
        perror("larson: sem_init");
        return 1;
    }

    double start = now_seconds();
    for (uint64_t t = 0; t < nthreads; t++) {
        pthread_t tid;
        int err = pthread_create(&tid, NULL, worker, &slots[t]);
        if (err != 0) {
            fprintf(stderr, "larson: pthread_create: %s\n", strerror(err));
            return 1;
        }
    }
    sleep_seconds(seconds);
    atomic_store(&stop_flag, 1);
    for (uint64_t t = 0; t < nthreads; t++) {
        while (sem_wait(&finished) != 0 && errno == EINTR) {
        }
    }
    double elapsed = now_seconds() - start;

    uint64_t ops = 0, threads = 0;
    for (uint64_t t = 0; t < nthreads; t++) {
        pthread_join(slots[t].self, NULL);
        ops += slots[t].ops;
        threads += slots[t].threads;
    }
    /* Not timed: the main thread frees everything that is left. */
    for (uint64_t t = 0; t < nthreads; t++) {
        for (size_t i = 0; i < slots[t].nblocks; i++)
            free(slots[t].blocks[i]);
        free(slots[t].blocks);
    }
    free(slots);

    if (elapsed <= 0) elapsed = 1e-9;
    printf("Threads created = %llu, operations = %llu (malloc+free pairs), elapsed = %.3f s\n",
           (unsigned long long)threads, (unsigned long long)ops, elapsed);
    printf("Throughput = %llu operations per second\n", (unsigned long long)((double)ops / elapsed));
    return 0;
}
