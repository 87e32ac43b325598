/* The pressure response with a fake cgroup directory: the program writes
 * memory.max (1 GiB) and memory.current itself into the directory
 * HAKMEM_CGROUP_DIR names, allocates a 256 MiB burst of mixed blocks
 * (tiny, L2, L2.5 and big, every byte touched), and frees it, while
 * memory.current says the group is near its limit ("near") or far from it
 * ("low"). Then, doing light work (small malloc/free pairs, as a program
 * does), it polls its resident set until it is back near the baseline
 * measured before the burst.
 *
 * Usage: pressure near|low
 * Prints: baseline=<MiB> burst=<MiB> free_ms=<ms> back_ms=<ms or -1>
 *         rss_at_300ms=<MiB above the baseline>
 * back_ms: time from the end of the frees until VmRSS was within SLACK of
 * the baseline (-1: not within 3 s). The harness judges the figures. */
#include "check.h"

#include <fcntl.h>
#include <time.h>

#define MiB ((size_t)1 << 20)
#define SLACK (24 * MiB)
#define MAXB 400000

static const char *dir;
static void *blocks[MAXB];
static size_t nblocks;

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* VmRSS from /proc/self/statm (no allocation). */
static size_t rss(void) {
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    CHECK(fd >= 0, "open statm");
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    CHECK(n > 0, "read statm");
    buf[n] = 0;
    unsigned long size, res;
    CHECK(sscanf(buf, "%lu %lu", &size, &res) == 2, "parse statm");
    return res * (size_t)sysconf(_SC_PAGESIZE);
}

static void write_file(const char *name, size_t value) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "open %s: %s", path, strerror(errno));
    fprintf(f, "%zu\n", value);
    CHECK(fclose(f) == 0, "write %s", path);
}

/* Light work for about `ms` milliseconds: batches of small malloc/free
 * pairs with a millisecond's sleep between them. */
static void work(long ms) {
    long end = now_ms() + ms;
    unsigned x = 1;
    do {
        for (int i = 0; i < 2048; i++) {
            x = x * 1103515245u + 12345u;
            void *p = malloc(16 + (x >> 20) % 512);
            CHECK(p != NULL, "malloc in light work");
            *(volatile char *)p = 1;
            free(p);
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    } while (now_ms() < end);
}

/* 64 MiB in each of four ranges of sizes. */
static void burst(void) {
    static const size_t lo[4] = {16, 2048, 64 << 10, 2 << 20};
    static const size_t hi[4] = {1024, 32 << 10, 1 << 20, 6 << 20};
    unsigned x = 7;
    for (int r = 0; r < 4; r++) {
        size_t total = 0;
        while (total < 64 * MiB) {
            x = x * 1103515245u + 12345u;
            size_t n = lo[r] + (x >> 8) % (hi[r] - lo[r]);
            CHECK(nblocks < MAXB, "too many blocks");
            void *p = malloc(n);
            CHECK(p != NULL, "malloc(%zu) in the burst", n);
            memset(p, (int)n, n);
            blocks[nblocks++] = p;
            total += n;
        }
    }
}

int main(int argc, char **argv) {
    CHECK(argc == 2 && (!strcmp(argv[1], "near") || !strcmp(argv[1], "low")), "usage: pressure near|low");
    dir = getenv("HAKMEM_CGROUP_DIR");
    CHECK(dir != NULL, "HAKMEM_CGROUP_DIR is not set");
    size_t max = 1024 * MiB;
    write_file("memory.max", max);
    write_file("memory.current", 100 * MiB);
    work(300);
    size_t baseline = rss();
    burst();
    size_t peak = rss();
    if (!strcmp(argv[1], "near")) write_file("memory.current", max - 64 * MiB);
    /* The allocator reads the files at most every 100 ms. */
    work(300);
    long t0 = now_ms();
    for (size_t i = 0; i < nblocks; i++) free(blocks[i]);
    long t1 = now_ms();
    long back = -1;
    size_t at300 = 0;
    int seen300 = 0;
    for (;;) {
        long t = now_ms() - t1;
        size_t r = rss();
        if (!seen300 && t >= 300) {
            at300 = r > baseline ? r - baseline : 0;
            seen300 = 1;
        }
        if (back < 0 && r <= baseline + SLACK) back = t;
        if ((back >= 0 && seen300) || t > 3000) break;
        work(1);
    }
    printf("baseline=%zu burst=%zu free_ms=%ld back_ms=%ld rss_at_300ms=%zu\n", baseline / MiB,
           (peak - baseline) / MiB, t1 - t0, back, at300 / MiB);
    /* The pressure is gone: the allocator goes back to its configuration. */
    write_file("memory.current", 100 * MiB);
    work(300);
    printf("OK\n");
    return 0;
}
