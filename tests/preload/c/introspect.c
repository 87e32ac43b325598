/* Introspection and glibc's extras, as a program sees them: a 1 GiB burst
 * (many 64 B - 64 KiB blocks and some 4 MiB ones, every page touched) is
 * measured while live with mallinfo2, hak_stats_get and /proc/self/status,
 * freed, and malloc_trim(0) must bring the resident memory back near the
 * baseline. Also malloc_stats (stderr), malloc_info (XML, parsed here and
 * printed to stdout for the caller), mallopt and hak_stats_print.
 *
 * The hak_* functions are looked up with dlsym, so the same program runs
 * under plain glibc: there it checks that every glibc call works and has
 * the same shape, and prints "SKIP hakmem numbers" for what only hakmem
 * promises.
 *
 * Nothing between two measurements allocates (no stdio, /proc read with
 * open/read into a stack buffer), so the program's own accounting is
 * exact. */
#define _GNU_SOURCE
#include "check.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <stddef.h>

#include "../../../crates/hak-ffi/include/hakmem.h"

#define MIB (1024UL * 1024UL)
#define BURST (1024UL * MIB)
#define BIG_SIZE (4 * MIB)
#define BIG_COUNT 32 /* 128 MiB of the burst in big blocks */
#define MAX_BLOCKS 200000

static void *ptrs[MAX_BLOCKS];
static size_t lens[MAX_BLOCKS];

/* VmRSS in bytes, read without allocating. */
static size_t vm_rss(void) {
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open /proc/self/status");
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    CHECK(n > 0, "read /proc/self/status");
    buf[n] = 0;
    char *p = strstr(buf, "VmRSS:");
    CHECK(p != NULL, "no VmRSS line");
    return strtoul(p + 6, NULL, 10) * 1024;
}

typedef int (*stats_get_fn)(struct hak_stats *, size_t);
typedef void (*stats_print_fn)(void (*)(void *, const char *), void *);

static stats_get_fn stats_get;

static void snap(struct hak_stats *s) {
    memset(s, 0, sizeof *s);
    CHECK(stats_get(s, sizeof *s) == 0, "hak_stats_get");
    CHECK(s->size == sizeof *s, "size %u, expected %zu", s->size, sizeof *s);
    CHECK(s->version == HAK_STATS_VERSION && s->ntiers == HAK_STATS_TIERS && s->nclasses == HAK_STATS_CLASSES,
          "version %u tiers %u classes %u", s->version, s->ntiers, s->nclasses);
    /* Every tier and class: allocated - freed == live. */
    for (int t = 0; t < HAK_STATS_TIERS; t++) {
        const struct hak_tier_stats *ts = &s->tier[t];
        CHECK(ts->allocated - ts->freed == ts->live_blocks, "tier %d: %lu - %lu != %lu", t,
              (unsigned long)ts->allocated, (unsigned long)ts->freed, (unsigned long)ts->live_blocks);
        if (t == HAK_STATS_TIERS - 1) continue;
        uint64_t live = 0, bytes = 0;
        for (int c = 0; c < HAK_STATS_CLASSES; c++) {
            const struct hak_class_stats *cs = &s->cls[t][c];
            CHECK(cs->allocated - cs->freed == cs->live, "tier %d class %d", t, c);
            live += cs->live;
            bytes += cs->live * cs->block_size;
        }
        CHECK(live == ts->live_blocks && bytes == ts->live_bytes, "tier %d: classes do not add up", t);
    }
}

static uint64_t slab_live_blocks(const struct hak_stats *s) {
    return s->tier[0].live_blocks + s->tier[1].live_blocks + s->tier[2].live_blocks;
}

static uint64_t slab_live_bytes(const struct hak_stats *s) {
    return s->tier[0].live_bytes + s->tier[1].live_bytes + s->tier[2].live_bytes;
}

static uint64_t slab_resident(const struct hak_stats *s) {
    return s->tier[0].resident_bytes + s->tier[1].resident_bytes + s->tier[2].resident_bytes;
}

static int lines_seen, tier_lines, total_lines;

static void on_line(void *arg, const char *line) {
    CHECK(arg == &lines_seen, "callback argument");
    size_t n = strlen(line);
    CHECK(n > 0 && line[n - 1] == '\n' && strncmp(line, "hakmem: ", 8) == 0, "line `%s`", line);
    lines_seen++;
    if (strncmp(line, "hakmem: tier ", 13) == 0) tier_lines++;
    if (strncmp(line, "hakmem: total: ", 15) == 0) total_lines++;
}

/* Minimal checks of glibc's malloc_info XML shape. */
static void check_xml(const char *x) {
    CHECK(strncmp(x, "<malloc version=\"1\">\n", 21) == 0, "XML starts with `%.40s`", x);
    size_t n = strlen(x);
    CHECK(n > 10 && strcmp(x + n - 10, "</malloc>\n") == 0, "XML ends with `%s`", x + (n > 20 ? n - 20 : 0));
    int open = 0, close_ = 0;
    for (const char *p = x; (p = strstr(p, "<heap nr=\"")) != NULL; p++) open++;
    for (const char *p = x; (p = strstr(p, "</heap>")) != NULL; p++) close_++;
    CHECK(open >= 1 && open == close_, "%d <heap> and %d </heap>", open, close_);
    CHECK(strstr(x, "<total type=\"mmap\"") != NULL, "no mmap total");
    const char *cur = strstr(x, "<system type=\"current\" size=\"");
    CHECK(cur != NULL, "no current system size");
    CHECK(strstr(x, "<aspace type=\"total\"") != NULL, "no aspace total");
}

static char *read_all(FILE *f) {
    static char xml[1 << 20];
    rewind(f);
    size_t n = fread(xml, 1, sizeof xml - 1, f);
    xml[n] = 0;
    return xml;
}

int main(void) {
    stats_get = (stats_get_fn)dlsym(RTLD_DEFAULT, "hak_stats_get");
    stats_print_fn stats_print = (stats_print_fn)dlsym(RTLD_DEFAULT, "hak_stats_print");
    int hakmem = stats_get != NULL && stats_print != NULL;
    printf("allocator: %s\n", hakmem ? "hakmem" : "other");
    fflush(stdout);

    /* mallopt: glibc's parameters accepted. */
    CHECK(mallopt(M_MMAP_THRESHOLD, 256 * 1024) == 1, "M_MMAP_THRESHOLD");
    CHECK(mallopt(M_ARENA_MAX, 2) == 1, "M_ARENA_MAX");
    CHECK(mallopt(M_TOP_PAD, 0) == 1, "M_TOP_PAD");
    if (hakmem) CHECK(mallopt(12345, 1) == 0, "an unknown parameter is refused");

    struct hak_stats s0, s1, s2;
    if (hakmem) snap(&s0);
    size_t base = vm_rss();

    /* The burst. */
    static const size_t sizes[] = {64, 100, 256, 1000, 2048, 4000, 8192, 16384, 32768, 65536};
    size_t nb = 0, slab_bytes = 0, big_bytes = 0;
    uint32_t rng = 12345;
    while (slab_bytes < BURST - BIG_COUNT * BIG_SIZE) {
        CHECK(nb < MAX_BLOCKS - BIG_COUNT, "too many blocks");
        rng = rng * 1103515245 + 12345;
        size_t n = sizes[(rng >> 16) % (sizeof sizes / sizeof sizes[0])];
        ptrs[nb] = malloc(n);
        CHECK(ptrs[nb] != NULL, "malloc(%zu)", n);
        memset(ptrs[nb], (int)nb, n);
        lens[nb++] = n;
        slab_bytes += n;
    }
    size_t nslab = nb;
    for (int i = 0; i < BIG_COUNT; i++) {
        ptrs[nb] = malloc(BIG_SIZE);
        CHECK(ptrs[nb] != NULL, "malloc(4 MiB)");
        memset(ptrs[nb], i, BIG_SIZE);
        lens[nb++] = BIG_SIZE;
        big_bytes += BIG_SIZE;
    }

    size_t rss = vm_rss();
    struct mallinfo2 mi = mallinfo2();
    size_t held = mi.arena + mi.hblkhd;
    CHECK(rss - base > BURST * 9 / 10, "the burst is resident: %zu MiB", (rss - base) / MIB);
    if (hakmem) {
        /* mallinfo2 agrees with VmRSS within 10 %. */
        CHECK(held <= rss + rss / 10 && held >= rss - rss / 10, "mallinfo2 arena + hblkhd %zu MiB, VmRSS %zu MiB",
              held / MIB, rss / MIB);
        snap(&s1);
        /* The program's own accounting. */
        CHECK(slab_live_blocks(&s1) - slab_live_blocks(&s0) == nslab, "slab live blocks %lu, the program holds %zu",
              (unsigned long)(slab_live_blocks(&s1) - slab_live_blocks(&s0)), nslab);
        CHECK(s1.tier[3].live_blocks - s0.tier[3].live_blocks == BIG_COUNT, "big live blocks %lu",
              (unsigned long)(s1.tier[3].live_blocks - s0.tier[3].live_blocks));
        CHECK(slab_live_bytes(&s1) - slab_live_bytes(&s0) >= slab_bytes, "slab live bytes below the requests");
        CHECK(s1.tier[3].live_bytes - s0.tier[3].live_bytes >= big_bytes, "big live bytes below the requests");
        CHECK(s1.live_bytes >= slab_bytes + big_bytes, "live bytes below the requests");
        /* hak_stats_get agrees with mallinfo2 (nothing changed in between). */
        CHECK(mi.uordblks == slab_live_bytes(&s1), "uordblks %zu, slab live bytes %lu", mi.uordblks,
              (unsigned long)slab_live_bytes(&s1));
        CHECK(mi.hblks == s1.tier[3].live_blocks, "hblks %zu", mi.hblks);
        CHECK(mi.arena == slab_resident(&s1), "arena %zu, slab resident %lu", mi.arena,
              (unsigned long)slab_resident(&s1));
        CHECK(mi.hblkhd == s1.tier[3].resident_bytes, "hblkhd");
        CHECK(mi.uordblks + mi.fordblks == mi.arena || mi.uordblks > mi.arena, "fordblks");
        CHECK(s1.resident_bytes <= rss + rss / 10 && s1.resident_bytes >= rss - rss / 10, "hak_stats resident");
        CHECK(s1.mapped_bytes >= s1.resident_bytes, "mapped below resident");
    }

    printf("live: VmRSS %zu MiB, mallinfo2 arena + hblkhd %zu MiB\n", rss / MIB, held / MIB);
    for (size_t i = 0; i < nb; i++) free(ptrs[i]);
    int trimmed = malloc_trim(0);
    size_t after = vm_rss();
    if (hakmem) {
        CHECK(trimmed == 1, "malloc_trim(0) returned %d after freeing 1 GiB", trimmed);
        CHECK(after < base + BURST / 20, "resident after malloc_trim(0): %zu MiB above the baseline (burst 1024 MiB)",
              (after - base) / MIB);
        snap(&s2);
        CHECK(slab_live_blocks(&s2) == slab_live_blocks(&s0), "slab live blocks %lu after, %lu before",
              (unsigned long)slab_live_blocks(&s2), (unsigned long)slab_live_blocks(&s0));
        CHECK(s2.tier[3].live_blocks == s0.tier[3].live_blocks, "big live blocks after");
        CHECK(s2.returned_bytes >= s1.returned_bytes + BURST * 9 / 10, "returned bytes grew by %lu MiB",
              (unsigned long)((s2.returned_bytes - s1.returned_bytes) / MIB));
        struct mallinfo2 m2 = mallinfo2();
        CHECK(m2.keepcost == 0 && m2.smblks == 0, "keepcost %zu, smblks %zu right after the trim", m2.keepcost,
              m2.smblks);
        CHECK(malloc_trim(0) == 0, "a second malloc_trim found memory to return");
    }
    printf("rss: base %zu MiB, burst %zu MiB, after trim %zu MiB\n", base / MIB, rss / MIB, after / MIB);

    /* mallinfo (int fields) matches mallinfo2 for small numbers. */
    struct mallinfo m1 = mallinfo();
    struct mallinfo2 m2 = mallinfo2();
    CHECK(m1.hblks == (int)m2.hblks && m1.usmblks == 0, "mallinfo");

    /* malloc_info: EINVAL for options, XML otherwise. */
    FILE *f = tmpfile();
    CHECK(f != NULL, "tmpfile");
    CHECK(malloc_info(1, f) == EINVAL, "malloc_info(1, f)");
    CHECK(malloc_info(0, f) == 0, "malloc_info(0, f)");
    fflush(f);
    check_xml(read_all(f));
    fclose(f);

    if (hakmem) {
        stats_print(on_line, &lines_seen);
        CHECK(tier_lines == 4 && total_lines == 1 && lines_seen >= 6, "%d lines, %d tier lines, %d total lines",
              lines_seen, tier_lines, total_lines);
        CHECK(stats_get(NULL, sizeof s0) == -1 && errno == EINVAL, "hak_stats_get(NULL)");
        /* A caller compiled against an older, shorter struct gets a prefix. */
        struct hak_stats part;
        memset(&part, 0xAB, sizeof part);
        CHECK(stats_get(&part, offsetof(struct hak_stats, tier[1])) == 0, "short hak_stats_get");
        CHECK(part.size == offsetof(struct hak_stats, tier[1]), "short size %u", part.size);
        CHECK(((unsigned char *)&part)[offsetof(struct hak_stats, tier[1])] == 0xAB, "wrote past the size given");
    } else {
        printf("SKIP hakmem numbers (not running under hakmem)\n");
    }

    /* Last: it changes how much free memory the allocator keeps. */
    CHECK(mallopt(M_TRIM_THRESHOLD, 128 * 1024) == 1, "M_TRIM_THRESHOLD");

    /* Shapes checked by the caller: malloc_stats on stderr, malloc_info on stdout. */
    malloc_stats();
    printf("XML:\n");
    fflush(stdout);
    CHECK(malloc_info(0, stdout) == 0, "malloc_info(0, stdout)");
    printf("OK\n");
    return 0;
}
