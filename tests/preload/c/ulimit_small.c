/* Starts and works under a small address-space limit (RLIMIT_AS set by the
 * harness before exec, as `ulimit -v` does): small, medium and big blocks
 * (malloc, calloc, realloc), every byte checked, all freed, and the same
 * again. Prints VmSize at start ("vmsize_kib N") for the record. Runs the
 * same on glibc (the harness runs both). */
#define _GNU_SOURCE
#include "check.h"

#define NSMALL 2000
#define NMED 40
#define NBIG 3

static void fill_bytes(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed * 31u + i * 7u);
}

static void check_bytes(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed * 31u + i * 7u)) FAIL("block %u: byte %zu corrupted", seed, i);
}

static long vmsize_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib;
}

static void round_trip(int pass) {
    static unsigned char *small[NSMALL], *med[NMED], *big[NBIG];
    static size_t small_n[NSMALL], med_n[NMED], big_n[NBIG];
    for (unsigned i = 0; i < NSMALL; i++) {
        small_n[i] = 8 + (i * 37u) % 1017;
        small[i] = i % 3 ? malloc(small_n[i]) : calloc(1, small_n[i]);
        if (!small[i]) FAIL("pass %d: small block %u of %zu B: NULL", pass, i, small_n[i]);
        if (i % 3 == 0)
            for (size_t k = 0; k < small_n[i]; k++)
                if (small[i][k]) FAIL("calloc block %u not zeroed", i);
        fill_bytes(small[i], small_n[i], i);
    }
    for (unsigned i = 0; i < NMED; i++) {
        med_n[i] = i % 2 ? 20000 + i * 100 : 200000 + i * 1000;
        med[i] = malloc(med_n[i]);
        if (!med[i]) FAIL("pass %d: medium block %u of %zu B: NULL", pass, i, med_n[i]);
        fill_bytes(med[i], med_n[i], 10000 + i);
    }
    for (unsigned i = 0; i < NBIG; i++) {
        big_n[i] = (3u << 20) + i * 4096;
        big[i] = malloc(big_n[i]);
        if (!big[i]) FAIL("pass %d: big block %u of %zu B: NULL", pass, i, big_n[i]);
        fill_bytes(big[i], big_n[i], 20000 + i);
    }
    /* Grow a small block into a medium one and a medium into a big one. */
    unsigned char *r = realloc(small[1], 30000);
    if (!r) FAIL("realloc small -> 30000: NULL");
    check_bytes(r, small_n[1], 1);
    small[1] = r;
    fill_bytes(small[1], small_n[1] = 30000, 1);
    r = realloc(med[1], 5u << 20);
    if (!r) FAIL("realloc medium -> 5 MiB: NULL");
    check_bytes(r, med_n[1], 10001);
    med[1] = r;
    fill_bytes(med[1], med_n[1] = 5u << 20, 10001);

    for (unsigned i = 0; i < NSMALL; i++) check_bytes(small[i], small_n[i], i), free(small[i]);
    for (unsigned i = 0; i < NMED; i++) check_bytes(med[i], med_n[i], 10000 + i), free(med[i]);
    for (unsigned i = 0; i < NBIG; i++) check_bytes(big[i], big_n[i], 20000 + i), free(big[i]);
}

int main(void) {
    printf("vmsize_kib %ld\n", vmsize_kib());
    round_trip(1);
    round_trip(2);
    printf("OK\n");
    return 0;
}
