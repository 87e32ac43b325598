/*
 * phases -- a workload whose best big-block cache size changes half way:
 * what a learning policy (hakmem's ELO over the BigCache capacity) is for.
 *
 *   usage: phases seconds seed
 *
 * Four phases of seconds/4 each: churn, rare, churn, rare.
 * - churn: a working set of 16 blocks of 2..8 MiB (log-uniform); each round
 *   frees 8 random ones, then allocates 8 of fresh random sizes and writes
 *   one byte per 4 KiB page of each. A cache that holds the 8 released
 *   mappings serves the next 8 requests without mmap and page faults: a
 *   large cache wins. Metric: rounds' mallocs+frees per second.
 * - rare: the working set is freed; every 10 ms one block of 2..32 MiB is
 *   allocated, written and freed, with light small-block activity every
 *   1 ms. Throughput hardly matters here; every mapping a cache keeps is
 *   resident memory nobody uses: a small cache wins. Metric: the mean RSS
 *   sampled every 10 ms (a memory budget), and its maximum.
 * Output: per-phase lines, then `Throughput` (churn phases' ops per second)
 * and `Rare RSS = <mean KiB> kB` (mean over the rare phases' samples, lower
 * is better), `Rare peak RSS = <KiB> kB`.
 *
 * The best fixed strategies, from one sweep of hakmem's cache capacity
 * (`cargo xtask features --sweep --runs 3 --seconds 4`, commit b3d46c3, a
 * shared 2-core VM; medians of 3): churn phases best at
 * HAKMEM_BIGCACHE_ENTRIES=16 (189,564 ops/s; 8..64 entries within 7 % of
 * it; 0..4 entries 150-380x slower: every release is unmapped or purged and
 * every reuse faults); rare phases best at 0 entries (1.8 MiB mean RSS,
 * against 21 MiB with 1 entry, 53 MiB with 8 or 16 and 69 MiB with the
 * default 32). A learner must find >= 8 in the churn phases and 0 in the
 * rare ones.
 */
#include "bench.h"

#define WS 16
#define BATCH 8
#define CHURN_MIN (2u << 20)
#define CHURN_MAX (8u << 20)
#define RARE_MIN (2u << 20)
#define RARE_MAX (32u << 20)

static void touch(char *p, size_t n) {
    for (size_t off = 0; off < n; off += 4096) p[off] = (char)off;
    p[n - 1] = 1;
}

static char *fresh(uint64_t *rng, size_t lo, size_t hi) {
    size_t n = rng_logsize(rng, lo, hi);
    char *p = xmalloc(n);
    touch(p, n);
    return p;
}

int main(int argc, char **argv) {
    bench_prog = "phases";
    if (argc != 3) {
        fprintf(stderr, "usage: phases seconds seed\n");
        return 2;
    }
    double seconds = arg_seconds(argv[1], "seconds");
    uint64_t seed = arg_u64(argv[2], "seed", 0, UINT64_MAX);
    bench_allocator_check();
    double phase = seconds / 4;
    printf("phases: seconds=%g (4 phases of %g s: churn, rare, churn, rare); churn: %d live blocks of 2-8 MiB, "
           "%d replaced per round; rare: one 2-32 MiB block every 10 ms; seed=%llu\n",
           seconds, phase, WS, BATCH, (unsigned long long)seed);
    fflush(stdout);

    uint64_t rng = rng_seed(seed);
    char *ws[WS] = {0};
    uint64_t churn_ops = 0;
    double churn_time = 0;
    double rare_rss_sum = 0;
    uint64_t rare_samples = 0;
    long rare_peak = 0;
    for (int ph = 0; ph < 4; ph++) {
        double t0 = now_seconds();
        if (ph % 2 == 0) {
            uint64_t ops = 0;
            for (int i = 0; i < WS; i++) {
                ws[i] = fresh(&rng, CHURN_MIN, CHURN_MAX);
                ops++;
            }
            do {
                for (int i = 0; i < BATCH; i++) {
                    int k = (int)rng_range(&rng, 0, WS - 1);
                    if (ws[k] != NULL) {
                        free(ws[k]);
                        ws[k] = NULL;
                        ops++;
                    }
                }
                for (int k = 0; k < WS; k++) {
                    if (ws[k] == NULL) {
                        ws[k] = fresh(&rng, CHURN_MIN, CHURN_MAX);
                        ops++;
                    }
                }
            } while (now_seconds() - t0 < phase);
            for (int i = 0; i < WS; i++) {
                free(ws[i]);
                ws[i] = NULL;
                ops++;
            }
            double dt = now_seconds() - t0;
            churn_ops += ops;
            churn_time += dt;
            printf("phase %d churn: %llu mallocs+frees in %.3f s = %.0f per second, RSS at end = %ld KiB\n", ph + 1,
                   (unsigned long long)ops, dt, (double)ops / (dt > 0 ? dt : 1e-9), rss_kib());
        } else {
            double next_big = t0, next_sample = t0;
            double sum = 0;
            uint64_t samples = 0, bigs = 0;
            long peak = 0;
            do {
                double now = now_seconds();
                if (now >= next_big) {
                    char *p = fresh(&rng, RARE_MIN, RARE_MAX);
                    keep(p);
                    free(p);
                    bigs++;
                    next_big += 0.010;
                }
                char *small[8];
                for (int i = 0; i < 8; i++) {
                    small[i] = xmalloc(rng_range(&rng, 16, 256));
                    small[i][0] = (char)i;
                }
                for (int i = 0; i < 8; i++) free(small[i]);
                if (now >= next_sample) {
                    long r = rss_kib();
                    if (r < 0) {
                        fprintf(stderr, "phases: cannot read /proc/self/statm\n");
                        return 1;
                    }
                    sum += (double)r;
                    samples++;
                    if (r > peak) peak = r;
                    next_sample += 0.010;
                }
                sleep_seconds(0.001);
            } while (now_seconds() - t0 < phase);
            rare_rss_sum += sum;
            rare_samples += samples;
            if (peak > rare_peak) rare_peak = peak;
            printf("phase %d rare: %llu big blocks, RSS mean = %.0f KiB, max = %ld KiB over %llu samples\n", ph + 1,
                   (unsigned long long)bigs, samples ? sum / (double)samples : 0.0, peak,
                   (unsigned long long)samples);
        }
        fflush(stdout);
    }
    print_throughput(churn_ops, churn_time, "mallocs+frees of 2-8 MiB in the churn phases");
    printf("Rare RSS = %.0f kB (mean of %llu samples in the rare phases)\n",
           rare_samples ? rare_rss_sum / (double)rare_samples : 0.0, (unsigned long long)rare_samples);
    printf("Rare peak RSS = %ld kB\n", rare_peak);
    return 0;
}
