/*
 * phases -- a workload whose best allocator settings change with each phase
 * (a busy churn, then a quiet stretch): what a learning policy (hakmem's
 * ELO) is for.
 *
 *   usage: phases seconds seed
 *
 * Four phases of seconds/4 each: churn, rare, churn, rare.
 * - churn: a working set of 16 blocks of 2..8 MiB (log-uniform); each round
 *   frees 8 random ones, then allocates 8 of fresh random sizes and writes
 *   one byte per 4 KiB page of each. A cache that holds the 8 released
 *   mappings serves the next 8 requests without mmap and page faults: a
 *   large cache wins.
 * - rare: the working set is freed; every 100 ms one block of 2..32 MiB is
 *   allocated, written and freed, with light small-block activity (8
 *   mallocs and frees of 16..256 B) every 1 ms. Throughput hardly matters
 *   here; a mapping kept between two uses 100 ms apart is resident memory
 *   nobody uses: a decay interval shorter than that gap wins (50 ms: the
 *   cache keeps few mappings resident; 500 ms: it keeps about five), while
 *   the churn phases lose throughput with it. No fixed setting suits both.
 *
 * The score is the resource cost per operation that hakmem's ELO learner
 * minimises (crates/hakmem/src/learn.rs, decision 0040):
 *
 *     cost = (CPU time + wall time x mean RSS / 64 MiB) / operations
 *
 * i.e. one CPU-second costs as much as holding 64 MiB resident for one
 * second. CPU time is the process's (getrusage: user + system, page faults
 * included), RSS is sampled every 10 ms in every phase, operations are
 * mallocs + frees of any size.
 *
 * Output: one line per phase (operations, wall and CPU time, mean RSS,
 * cost), then
 *   `Throughput`     churn phases' mallocs+frees per second (the metric),
 *   `Rare RSS`       mean RSS over the rare phases' samples (KiB, lower is
 *                    better: the quiet phases' memory),
 *   `Rare peak RSS`  the highest of those samples,
 *   `Cost`           the whole run's cost: the sum over the phases of
 *                    (CPU + wall x RSS / 64 MiB) divided by all operations,
 *                    in ns per operation (lower is better).
 *
 * Best fixed strategies: `cargo xtask features --sweep` runs this under
 * every candidate value of ELO's knobs and under ELO (the record names the
 * best setting by each measure and ELO's cost divided by the best cost).
 * Side by side (not in a record): the rare phases' mean RSS is about 18 MiB
 * with a 50 ms decay against 47 MiB with minimal's 500 ms; 0..4 cache
 * entries are hundreds of times slower in the churn phases.
 */
#include "bench.h"

#include <sys/resource.h>

#define WS 16
#define BATCH 8
#define CHURN_MIN (2u << 20)
#define CHURN_MAX (8u << 20)
#define RARE_MIN (2u << 20)
#define RARE_MAX (32u << 20)
/* Resident memory that costs as much as one busy CPU (KiB): 64 MiB. */
#define RSS_SCALE_KIB (64.0 * 1024)
#define SAMPLE_S 0.010
/* One big block per this many seconds in the rare phases. */
#define RARE_EVERY_S 0.100

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

/* Process CPU time (user + system), seconds. */
static double cpu_seconds(void) {
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec * 1e-6 + (double)u.ru_stime.tv_sec +
           (double)u.ru_stime.tv_usec * 1e-6;
}

/* RSS samples of one phase, every SAMPLE_S. */
struct samples {
    double next, sum;
    uint64_t n;
    long peak;
};

static void sample(struct samples *s, double now) {
    if (now < s->next) return;
    long r = rss_kib();
    if (r < 0) {
        fprintf(stderr, "phases: cannot read /proc/self/statm\n");
        exit(1);
    }
    s->sum += (double)r;
    s->n++;
    if (r > s->peak) s->peak = r;
    s->next += SAMPLE_S;
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
           "%d replaced per round; rare: one 2-32 MiB block every 100 ms; seed=%llu; cost = (CPU + wall x RSS / "
           "64 MiB) per operation\n",
           seconds, phase, WS, BATCH, (unsigned long long)seed);
    fflush(stdout);

    uint64_t rng = rng_seed(seed);
    double start = now_seconds();
    char *ws[WS] = {0};
    uint64_t churn_ops = 0, all_ops = 0;
    double churn_time = 0, resource = 0;
    double rare_rss_sum = 0;
    uint64_t rare_samples = 0;
    long rare_peak = 0;
    for (int ph = 0; ph < 4; ph++) {
        double t0 = now_seconds(), c0 = cpu_seconds();
        struct samples s = {t0, 0, 0, 0};
        uint64_t ops = 0;
        if (ph % 2 == 0) {
            for (int i = 0; i < WS; i++) {
                ws[i] = fresh(&rng, CHURN_MIN, CHURN_MAX);
                ops++;
            }
            double now;
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
                now = now_seconds();
                sample(&s, now);
            } while (now - t0 < phase);
            for (int i = 0; i < WS; i++) {
                free(ws[i]);
                ws[i] = NULL;
                ops++;
            }
        } else {
            double next_big = t0;
            double now;
            do {
                now = now_seconds();
                if (now >= next_big) {
                    char *p = fresh(&rng, RARE_MIN, RARE_MAX);
                    keep(p);
                    free(p);
                    ops += 2;
                    next_big += RARE_EVERY_S;
                }
                char *small[8];
                for (int i = 0; i < 8; i++) {
                    small[i] = xmalloc(rng_range(&rng, 16, 256));
                    small[i][0] = (char)i;
                }
                for (int i = 0; i < 8; i++) free(small[i]);
                ops += 16;
                sample(&s, now);
                sleep_seconds(0.001);
            } while (now_seconds() - t0 < phase);
            rare_rss_sum += s.sum;
            rare_samples += s.n;
            if (s.peak > rare_peak) rare_peak = s.peak;
        }
        double dt = now_seconds() - t0, cpu = cpu_seconds() - c0;
        double mean = s.n ? s.sum / (double)s.n : 0.0;
        double res = cpu + dt * mean / RSS_SCALE_KIB;
        resource += res;
        all_ops += ops;
        if (ph % 2 == 0) {
            churn_ops += ops;
            churn_time += dt;
        }
        printf("phase %d %s (from %.3f s): %llu mallocs+frees in %.3f s = %.0f per second, CPU %.3f s, RSS mean = "
               "%.0f KiB, max = %ld KiB, cost = %.0f ns per operation\n",
               ph + 1, ph % 2 == 0 ? "churn" : "rare", t0 - start, (unsigned long long)ops, dt,
               (double)ops / (dt > 0 ? dt : 1e-9), cpu, mean, s.peak, ops ? res * 1e9 / (double)ops : 0.0);
        fflush(stdout);
    }
    print_throughput(churn_ops, churn_time, "mallocs+frees of 2-8 MiB in the churn phases");
    printf("Rare RSS = %.0f kB (mean of %llu samples in the rare phases)\n",
           rare_samples ? rare_rss_sum / (double)rare_samples : 0.0, (unsigned long long)rare_samples);
    printf("Rare peak RSS = %ld kB\n", rare_peak);
    printf("Cost = %.0f ns (per operation: CPU + wall x RSS / 64 MiB, whole run)\n",
           all_ops ? resource * 1e9 / (double)all_ops : 0.0);
    return 0;
}
