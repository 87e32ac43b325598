/* Shared helpers of the hakmem C test programs.
 *
 * Every program prints "OK" as its last line and exits 0 on success; on the
 * first failed check it prints "FAIL <file>:<line>: <message>" to stdout and
 * stderr and exits 1. */
#ifndef HAKMEM_TEST_CHECK_H
#define HAKMEM_TEST_CHECK_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fail_vmsg(const char *file, int line, const char *pre, const char *fmt, va_list ap)
    __attribute__((noreturn));
static void fail_vmsg(const char *file, int line, const char *pre, const char *fmt, va_list ap) {
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stdout, "FAIL %s:%d: %s%s\n", file, line, pre, msg);
    fflush(stdout);
    fprintf(stderr, "FAIL %s:%d: %s%s\n", file, line, pre, msg);
    exit(1);
}

static void fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
static void fail_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fail_vmsg(file, line, "", fmt, ap);
}

/* `pre` is printed verbatim (it may contain '%'), then the formatted message. */
static void fail_pre(const char *file, int line, const char *pre, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));
static void fail_pre(const char *file, int line, const char *pre, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fail_vmsg(file, line, pre, fmt, ap);
}

#define FAIL(...) fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) fail_pre(__FILE__, __LINE__, "check `" #cond "` failed: ", __VA_ARGS__); \
    } while (0)

/* The fill pattern: byte i of a block filled with seed s is byte (i % 8) of
 * the little-endian word pat_word(s, i / 8). It depends only on the seed and
 * the position, so any prefix of a filled block can be checked after realloc. */
static inline uint64_t pat_word(uint64_t s, size_t w) {
    return (s + (uint64_t)w + 1) * 0x9E3779B97F4A7C15ULL;
}

__attribute__((unused)) static void fill(void *p, size_t n, uint64_t s) {
    unsigned char *b = p;
    size_t words = n / 8, w;
    for (w = 0; w < words; w++) {
        uint64_t v = pat_word(s, w);
        memcpy(b + 8 * w, &v, 8);
    }
    if (n % 8) {
        uint64_t v = pat_word(s, words);
        memcpy(b + 8 * words, &v, n % 8);
    }
}

/* Returns the index of the first byte that differs from the pattern, or
 * SIZE_MAX when the whole range matches. */
__attribute__((unused)) static size_t check_pat(const void *p, size_t n, uint64_t s) {
    const unsigned char *b = p;
    size_t words = n / 8, w;
    for (w = 0; w < words; w++) {
        uint64_t v = pat_word(s, w), got;
        memcpy(&got, b + 8 * w, 8);
        if (got != v) {
            for (size_t i = 0; i < 8; i++)
                if (b[8 * w + i] != (unsigned char)(v >> (8 * i))) return 8 * w + i;
        }
    }
    if (n % 8) {
        uint64_t v = pat_word(s, words);
        for (size_t i = 0; i < n % 8; i++)
            if (b[8 * words + i] != (unsigned char)(v >> (8 * i))) return 8 * words + i;
    }
    return SIZE_MAX;
}

#define CHECK_PAT(p, n, s, ...)                                                \
    do {                                                                       \
        size_t bad_ = check_pat((p), (n), (s));                                \
        if (bad_ != SIZE_MAX) {                                                \
            char pre_[160];                                                    \
            snprintf(pre_, sizeof pre_, "block %p (%zu bytes checked) corrupted at offset %zu: ", \
                     (void *)(p), (size_t)(n), bad_);                          \
            fail_pre(__FILE__, __LINE__, pre_, __VA_ARGS__);                   \
        }                                                                      \
    } while (0)

/* Index of the first byte != c, or SIZE_MAX. */
__attribute__((unused)) static size_t find_not(const void *p, size_t n, unsigned char c) {
    const unsigned char *b = p;
    size_t i = 0;
    uint64_t cw = 0x0101010101010101ULL * c, got;
    for (; i + 8 <= n; i += 8) {
        memcpy(&got, b + i, 8);
        if (got != cw) break;
    }
    for (; i < n; i++)
        if (b[i] != c) return i;
    return SIZE_MAX;
}

/* Deterministic PRNG (splitmix64). */
static inline uint64_t rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Resident set size of this process in bytes (from /proc/self/statm). */
__attribute__((unused)) static size_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (!f) FAIL("cannot open /proc/self/statm");
    if (fscanf(f, "%lu %lu", &size, &resident) != 2) FAIL("cannot parse /proc/self/statm");
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

#define MiB ((size_t)1 << 20)
#define KiB ((size_t)1 << 10)

#endif
