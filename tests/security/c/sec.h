/* Shared helpers of the security test programs (tests/security/c).
 *
 * Protocol with the harness (tests/security/src/lib.rs):
 *   usage: <program> <case> [<size in bytes>]
 *   stdout "ALLOCATOR hakmem|other"  first line: who serves malloc here
 *   stdout "ACCESS DONE"             overflow / use after free: the program's
 *                                    own bad access did not fault
 *   stdout "MISUSE DONE"             the misuse has been performed (and its
 *                                    follow-up free/malloc of the case); an
 *                                    abort or a crash after this line happened
 *                                    later, in the aftermath
 *   stdout "DUPLICATE <p> <q>"       the aftermath got a block overlapping
 *                                    another live block (handed out twice)
 *   stdout "FORGED <p>"              the aftermath got a block inside memory
 *                                    the program never allocated (a pointer
 *                                    forged by a use-after-free write)
 *   stdout "RESULT NULL <errno>"     huge sizes: the call failed, with errno
 *   stdout "RESULT BLOCK"            huge sizes: the call returned a block
 *   stdout "SURVIVED" + exit 0       the program ran to the end
 *   exit 2 "SETUP <what>"            the program itself failed (a test bug)
 *   exit 3 "NOT APPLICABLE <why>"    the allocator's behaviour made the case
 *                                    impossible (e.g. realloc did not move)
 * Every misuse goes through volatile function pointers so that the compiler
 * performs it literally. */
#ifndef HAKMEM_SECURITY_SEC_H
#define HAKMEM_SECURITY_SEC_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void *(*volatile M)(size_t) = malloc;
static void (*volatile F)(void *) = free;
static void *(*volatile R)(void *, size_t) = realloc;
static void *(*volatile CA)(size_t, size_t) = calloc;
static void *(*volatile MEMSET)(void *, int, size_t) = memset;

static void setup_fail(const char *what) __attribute__((noreturn));
static void setup_fail(const char *what) {
    printf("SETUP %s\n", what);
    fflush(stdout);
    exit(2);
}

static void not_applicable(const char *why) __attribute__((noreturn, unused));
static void not_applicable(const char *why) {
    printf("NOT APPLICABLE %s\n", why);
    fflush(stdout);
    exit(3);
}

/* First line of output; the harness checks it against the configuration. */
static void announce(void) {
    printf("ALLOCATOR %s\n", dlsym(RTLD_DEFAULT, "hak_version") ? "hakmem" : "other");
    fflush(stdout);
}

__attribute__((unused)) static size_t arg_size(int argc, char **argv) {
    if (argc < 3) setup_fail("missing size argument");
    char *end;
    unsigned long long v = strtoull(argv[2], &end, 10);
    if (*end || v == 0) setup_fail("bad size argument");
    return (size_t)v;
}

static void misuse_done(void) {
    printf("MISUSE DONE\n");
    fflush(stdout);
}

/* Memory a forged free-list pointer points into (use-after-free cases). */
static char forged[4096] __attribute__((aligned(64)));

struct blk {
    char *p;
    size_t n;
};

/* After an out-of-bounds or dangling access of the program itself (the
 * overflow and use-after-free cases): a crash before this line is the
 * access faulting (unmapped memory), not the allocator. */
__attribute__((unused)) static void access_done(void) {
    printf("ACCESS DONE\n");
    fflush(stdout);
}

static int overlaps(const struct blk *a, const char *p, size_t n) {
    return p < a->p + a->n && a->p < p + n;
}

/* After the misuse: does the allocator still work, and honestly? Allocates
 * up to 32 MiB in blocks of `n` (at least 8, at most 4096 blocks). Each new
 * block is checked, before it is touched, against the `live` blocks the
 * program still holds and the earlier ones (DUPLICATE: handed out twice) and
 * against `forged` (FORGED); then its first and last byte are written, as a
 * program would (a wild pointer crashes here). Finally every block that
 * overlaps no earlier one is freed (never the same memory twice). */
static void aftermath(size_t n, const struct blk *live, int nlive) {
    enum { MAXB = 4096 + 8 };
    static struct blk b[MAXB];
    static char dup[MAXB];
    size_t count = ((size_t)32 << 20) / n;
    if (count < 8) count = 8;
    if (count > 4096) count = 4096;
    int k = 0, dups = 0;
    for (int i = 0; i < nlive && k < MAXB; i++) b[k++] = live[i];
    const struct blk fb = {forged, sizeof forged};
    for (size_t i = 0; i < count; i++) {
        char *p = M(n);
        if (!p) {
            printf("AFTERMATH NULL\n");
            break;
        }
        dup[k] = 0;
        if (overlaps(&fb, p, n)) {
            printf("FORGED %p\n", (void *)p);
            dup[k] = 1;
        }
        for (int j = 0; j < k && !dup[k]; j++) {
            if (overlaps(&b[j], p, n)) {
                if (dups++ < 4) printf("DUPLICATE %p\n", (void *)p);
                dup[k] = 1;
            }
        }
        fflush(stdout);
        ((volatile char *)p)[0] = 1;
        ((volatile char *)p)[n - 1] = 1;
        b[k].p = p;
        b[k].n = n;
        k++;
    }
    for (int i = 0; i < k; i++)
        if (!dup[i]) F(b[i].p);
    fflush(stdout);
}

static int survived(void) {
    printf("SURVIVED\n");
    fflush(stdout);
    return 0;
}

#endif
