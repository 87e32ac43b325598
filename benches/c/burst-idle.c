/*
 * burst-idle -- bursts of allocation separated by idle periods: what an
 * allocator's decay of freed memory (hakmem's batched, decayed madvise) is for.
 *
 *   usage: burst-idle seconds burst_mib idle_seconds seed
 *
 * Cycles, repeated until `seconds` have passed (at least one):
 * 1. Build: allocate blocks of random size, log-uniform in [64 B, 4 MiB]
 *    (every tier: small, mid and big mappings), until `burst_mib` MiB are
 *    live, writing one byte in every 4 KiB page of each.
 * 2. Churn: replace a random live block by a new one of a fresh random size,
 *    four times as many times as the burst has blocks (freed memory is wanted again
 *    within milliseconds: an allocator that returns it at once faults it
 *    back in).
 * 3. Free every block.
 * 4. Idle: `idle_seconds` of light activity (every 1 ms, 8 mallocs of
 *    16..256 B and their frees, as a mostly idle server does), then RSS is
 *    read: what the allocator still keeps of the burst.
 * Metrics: `Throughput` = mallocs+frees per second of the burst phases
 * (1-3; idle time excluded), and `Retained` = RSS still resident after the
 * idle periods, percent of the bursts' RSS increase (mean over the cycles;
 * lower is better: 0 = all returned to the OS).
 */
#include "bench.h"
#include <sys/mman.h>

#define MIN_SIZE 64
#define MAX_SIZE (4 * 1024 * 1024)

static size_t touch(char *p, size_t n) {
    for (size_t off = 0; off < n; off += 4096) p[off] = (char)off;
    p[n - 1] = 1;
    return n;
}

int main(int argc, char **argv) {
    bench_prog = "burst-idle";
    if (argc != 5) {
        fprintf(stderr, "usage: burst-idle seconds burst_mib idle_seconds seed\n");
        return 2;
    }
    double seconds = arg_seconds(argv[1], "seconds");
    uint64_t burst_mib = arg_u64(argv[2], "burst_mib", 1, 65536);
    double idle = arg_seconds(argv[3], "idle_seconds");
    uint64_t seed = arg_u64(argv[4], "seed", 0, UINT64_MAX);
    bench_allocator_check();
    printf("burst-idle: seconds=%g burst=%llu MiB of log-uniform[64 B,4 MiB] blocks, churn, free, idle %g s; "
           "seed=%llu\n",
           seconds, (unsigned long long)burst_mib, idle, (unsigned long long)seed);
    fflush(stdout);

    free(xmalloc(64));
    uint64_t rng = rng_seed(seed);
    size_t target = (size_t)burst_mib << 20;
    size_t cap = target / MIN_SIZE + 1;
    /* mmap'd: the block table is not part of what the allocator does. */
    char **blocks = mmap(NULL, cap * sizeof(char *), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    size_t *sizes = mmap(NULL, cap * sizeof(size_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (blocks == MAP_FAILED || sizes == MAP_FAILED) {
        perror("burst-idle: mmap");
        return 1;
    }
    long rss0 = rss_kib();

    uint64_t ops = 0, cycles = 0;
    double burst_time = 0, retained_sum = 0;
    long peak_after_idle = 0;
    double start = now_seconds();
    do {
        double t0 = now_seconds();
        size_t count = 0, live = 0;
        while (live < target && count < cap) {
            size_t n = rng_logsize(&rng, MIN_SIZE, MAX_SIZE);
            blocks[count] = xmalloc(n);
            sizes[count] = n;
            live += touch(blocks[count], n);
            count++;
            ops++;
        }
        long rss_burst = rss_kib();
        for (size_t i = 0; i < 4 * count; i++) {
            size_t k = rng_range(&rng, 0, count - 1);
            free(blocks[k]);
            size_t n = rng_logsize(&rng, MIN_SIZE, MAX_SIZE);
            blocks[k] = xmalloc(n);
            sizes[k] = n;
            touch(blocks[k], n);
            ops += 2;
        }
        long rss_churn = rss_kib();
        if (rss_churn > rss_burst) rss_burst = rss_churn;
        for (size_t i = 0; i < count; i++) free(blocks[i]);
        ops += count;
        burst_time += now_seconds() - t0;

        double i0 = now_seconds();
        while (now_seconds() - i0 < idle) {
            char *small[8];
            for (int i = 0; i < 8; i++) {
                small[i] = xmalloc(rng_range(&rng, 16, 256));
                small[i][0] = (char)i;
            }
            for (int i = 0; i < 8; i++) free(small[i]);
            sleep_seconds(0.001);
        }
        long rss_idle = rss_kib();
        if (rss0 < 0 || rss_burst < 0 || rss_idle < 0) {
            fprintf(stderr, "burst-idle: cannot read /proc/self/statm\n");
            return 1;
        }
        long grew = rss_burst - rss0;
        if (grew <= 0) {
            fprintf(stderr, "burst-idle: the burst did not increase RSS (%ld -> %ld KiB)\n", rss0, rss_burst);
            return 1;
        }
        double retained = 100.0 * (double)(rss_idle - rss0) / (double)grew;
        if (retained < 0) retained = 0;
        retained_sum += retained;
        if (rss_idle > peak_after_idle) peak_after_idle = rss_idle;
        cycles++;
        printf("cycle %llu: %zu blocks; RSS before = %ld KiB, burst = %ld KiB, after idle = %ld KiB "
               "(%.1f %% of the increase kept)\n",
               (unsigned long long)cycles, count, rss0, rss_burst, rss_idle, retained);
    } while (now_seconds() - start < seconds);
    munmap(blocks, cap * sizeof(char *));
    munmap(sizes, cap * sizeof(size_t));

    printf("cycles = %llu, burst time = %.3f s, largest RSS after idle = %ld KiB\n", (unsigned long long)cycles,
           burst_time, peak_after_idle);
    print_throughput(ops, burst_time, "mallocs+frees of the bursts, idle time excluded");
    printf("Retained = %.2f percent of the bursts' RSS increase after idle (mean of %llu cycles)\n",
           retained_sum / (double)cycles, (unsigned long long)cycles);
    return 0;
}
