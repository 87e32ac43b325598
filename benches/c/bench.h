/*
 * bench.h -- helpers shared by the workload programs of benches/c/.
 *
 * Every workload is an ordinary C program calling malloc & co., so that any
 * allocator can be swapped in with LD_PRELOAD and every allocator does the
 * same work. Conventions (parsed by `cargo xtask bench`, xtask/src/workloads.rs):
 *
 *  - First line of output: `allocator-check: <name> <version>` naming the
 *    allocator that actually serves malloc in this process (see
 *    bench_allocator_check), so that a run which silently lost its preload
 *    library is detected instead of measured.
 *  - One metric line `<Key> = <number> <unit...>`, e.g.
 *    `Throughput = 123456 operations per second`.
 *  - Last line, printed at exit: `Peak RSS = <KiB> kB (VmHWM)`, the peak
 *    resident set of this program's own address space (see
 *    bench_report_peak_rss; the ru_maxrss a parent gets from wait4 would
 *    also count the parent's own pages before exec).
 *  - Exit status 0; anything else (a NULL from malloc, a failed self-check
 *    such as a misaligned or non-zeroed block) is reported on stderr with
 *    exit status 1, usage errors with 2.
 *  - Randomness comes from xorshift64* seeded through splitmix64 from the
 *    seed argument: one seed gives one sequence of requests.
 */
#ifndef HAKMEM_BENCH_H
#define HAKMEM_BENCH_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *bench_prog = "bench";

static inline uint64_t rng_next(uint64_t *s) {
    /* xorshift64* (Vigna) */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t rng_seed(uint64_t seed) {
    /* splitmix64 finaliser: seeds 1, 2, 3 give unrelated streams, never 0 */
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z ? z : 1;
}

/* Uniform in [lo, hi]. */
static inline size_t rng_range(uint64_t *s, size_t lo, size_t hi) {
    return lo + (size_t)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

/* Log-uniform in [lo, hi] (lo >= 1): every power of two of the range is
 * equally likely, then uniform inside it. Small sizes dominate by count, as in
 * real programs, while big ones still occur. */
static inline size_t rng_logsize(uint64_t *s, size_t lo, size_t hi) {
    int lo_bit = 63 - __builtin_clzll((unsigned long long)lo);
    int hi_bit = 63 - __builtin_clzll((unsigned long long)hi);
    int bit = lo_bit + (int)(rng_next(s) % (uint64_t)(hi_bit - lo_bit + 1));
    size_t a = (size_t)1 << bit;
    size_t b = (a << 1) - 1;
    if (a < lo) a = lo;
    if (b > hi) b = hi;
    return rng_range(s, a, b);
}

static inline double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void sleep_seconds(double seconds) {
    if (seconds <= 0) return;
    struct timespec req;
    req.tv_sec = (time_t)seconds;
    req.tv_nsec = (long)((seconds - (double)req.tv_sec) * 1e9);
    while (nanosleep(&req, &req) != 0 && errno == EINTR) {
    }
}

/* Keep the compiler from proving a block unused (and deleting a malloc/free
 * pair, which gcc does at -O2). */
static inline void keep(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

static inline void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "%s: malloc(%zu) returned NULL\n", bench_prog, n);
        exit(1);
    }
    return p;
}

/* Resident set size of this process in KiB, from /proc/self/statm. */
static inline long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = -1;
    if (f == NULL) return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
    if (resident < 0) return -1;
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* atexit handler: prints `Peak RSS = <KiB> kB (VmHWM)` from
 * /proc/self/status, the high-water resident set of this address space.
 * Why not ru_maxrss (getrusage, or wait4 in the parent): Linux folds the
 * address space a process had before exec into it, and a child spawned by
 * `cargo xtask bench` (vfork + exec) starts with the xtask's own, so every
 * workload that stays below the xtask's few MiB read as the xtask's size.
 * Read with open/read into a stack buffer: no allocation at exit. */
static void bench_report_peak_rss(void) {
    char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return;
    buf[n] = '\0';
    const char *line = strstr(buf, "\nVmHWM:");
    if (line == NULL) return;
    long kib = strtol(line + 7, NULL, 10);
    if (kib > 0) printf("Peak RSS = %ld kB (VmHWM)\n", kib);
}

/* Which allocator serves malloc here, by the symbols each one exports:
 * hakmem `hak_version`, mimalloc `mi_version`, jemalloc `mallctl`,
 * tcmalloc `tc_version`, snmalloc `__malloc_end_pointer` (its shim's
 * extension; it has no version call), rpmalloc `rpmalloc_initialize` (no
 * version call either; `cargo xtask bench` records both versions from the
 * crates their sources come from); none of them: the C library's. Printed
 * first. */
static inline void bench_allocator_check(void) {
    void *sym;
    atexit(bench_report_peak_rss);
    if ((sym = dlsym(RTLD_DEFAULT, "hak_version")) != NULL) {
        const char *(*version)(void) = (const char *(*)(void))sym;
        printf("allocator-check: hakmem %s\n", version());
    } else if ((sym = dlsym(RTLD_DEFAULT, "mi_version")) != NULL) {
        int (*version)(void) = (int (*)(void))sym;
        /* MI_MALLOC_VERSION: 209 for 2.0.9, 30302 for 3.3.2 */
        printf("allocator-check: mimalloc %d\n", version());
    } else if (dlsym(RTLD_DEFAULT, "__malloc_end_pointer") != NULL) {
        printf("allocator-check: snmalloc\n");
    } else if (dlsym(RTLD_DEFAULT, "rpmalloc_initialize") != NULL) {
        printf("allocator-check: rpmalloc\n");
    } else if ((sym = dlsym(RTLD_DEFAULT, "mallctl")) != NULL) {
        int (*mallctl)(const char *, void *, size_t *, void *, size_t) =
            (int (*)(const char *, void *, size_t *, void *, size_t))sym;
        const char *v = "?";
        size_t len = sizeof v;
        if (mallctl("version", &v, &len, NULL, 0) != 0) v = "?";
        printf("allocator-check: jemalloc %s\n", v);
    } else if ((sym = dlsym(RTLD_DEFAULT, "tc_version")) != NULL) {
        const char *(*version)(int *, int *, const char **) =
            (const char *(*)(int *, int *, const char **))sym;
        int major = 0, minor = 0;
        const char *patch = "";
        version(&major, &minor, &patch);
        printf("allocator-check: tcmalloc %d.%d%s\n", major, minor, patch ? patch : "");
    } else {
        printf("allocator-check: system glibc %s\n", gnu_get_libc_version());
    }
    fflush(stdout);
}

/* Canary of a block handed between threads: a word derived from its
 * address and size, written at its start and (blocks of 16 B or more) at its
 * end, checked by the thread that frees it. A block whose contents changed
 * while it was live (an allocator that handed it out twice, or wrote into
 * it) fails the check: the program reports it and exits with status 1. */
static inline uint64_t canary_of(const void *p, size_t size) {
    return ((uint64_t)(uintptr_t)p ^ 0xC0FFEE5A17ED0B5EULL) * 0x9E3779B97F4A7C15ULL + (uint64_t)size;
}

static inline void canary_set(void *p, size_t size) {
    uint64_t c = canary_of(p, size);
    memcpy(p, &c, sizeof c);
    if (size >= 16) memcpy((char *)p + size - sizeof c, &c, sizeof c);
}

static inline void canary_check(const void *p, size_t size) {
    uint64_t c = canary_of(p, size), head, tail = c;
    memcpy(&head, p, sizeof head);
    if (size >= 16) memcpy(&tail, (const char *)p + size - sizeof tail, sizeof tail);
    if (head != c || tail != c) {
        fprintf(stderr, "%s: block %p of %zu bytes was corrupted while live (canary %016llx/%016llx, expected %016llx)\n",
                bench_prog, p, size, (unsigned long long)head, (unsigned long long)tail, (unsigned long long)c);
        exit(1);
    }
}

/* malloc with its canary written (size >= 8). */
static inline void *xmalloc_canary(size_t size) {
    void *p = xmalloc(size);
    canary_set(p, size);
    return p;
}

/* Check the canary, then free. */
static inline void free_canary(void *p, size_t size) {
    canary_check(p, size);
    free(p);
}

static inline double arg_seconds(const char *arg, const char *name) {
    char *end;
    double v = strtod(arg, &end);
    if (end == arg || *end != '\0' || !(v >= 0) || v > 86400) {
        fprintf(stderr, "%s: %s must be a number of seconds, got '%s'\n", bench_prog, name, arg);
        exit(2);
    }
    return v;
}

static inline uint64_t arg_u64(const char *arg, const char *name, uint64_t min, uint64_t max) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-' || v < min || v > max) {
        fprintf(stderr, "%s: %s must be an integer in [%llu, %llu], got '%s'\n", bench_prog, name,
                (unsigned long long)min, (unsigned long long)max, arg);
        exit(2);
    }
    return (uint64_t)v;
}

/* The metric line of throughput workloads. */
static inline void print_throughput(uint64_t ops, double elapsed, const char *what) {
    if (elapsed <= 0) elapsed = 1e-9;
    printf("operations = %llu (%s), elapsed = %.3f s\n", (unsigned long long)ops, what, elapsed);
    printf("Throughput = %.0f operations per second\n", (double)ops / elapsed);
}

#endif
