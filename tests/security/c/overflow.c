/* Heap overflows and underflows. usage: overflow <case> <size>
 *   over1 / over32    p = malloc(size); nb = malloc(size); write 1 / 32 bytes
 *                     of 0x41 at p + size (past the requested size)
 *   under1 / under32  the same, at p - 1 / p - 32 (before the block)
 *   linear            0x41 written byte after byte from p + size up to the
 *                     next 4 MiB boundary (the end of hakmem's slab segment
 *                     holding p; a big mapping ends before it, at its
 *                     block's size in eighths of a doubling): a guard page
 *                     or the mapping's end stops it
 * then free(p), q = malloc(size), free(q): MISUSE DONE; nb stays live into
 * the aftermath (sec.h), which frees it; SURVIVED. */
#include "sec.h"

int main(int argc, char **argv) {
    announce();
    if (argc < 2) setup_fail("missing case");
    const char *c = argv[1];
    size_t n = arg_size(argc, argv);
    char *p = M(n), *nb = M(n);
    if (!p || !nb) setup_fail("malloc");
    MEMSET(p, 0x11, n);
    MEMSET(nb, 0x22, n);
    if (!strcmp(c, "over1")) {
        MEMSET(p + n, 0x41, 1);
    } else if (!strcmp(c, "over32")) {
        MEMSET(p + n, 0x41, 32);
    } else if (!strcmp(c, "linear")) {
        uintptr_t end = ((uintptr_t)(p + n) | (((uintptr_t)4 << 20) - 1)) + 1;
        for (volatile char *w = p + n; (uintptr_t)w < end; w++) *w = 0x41;
    } else if (!strcmp(c, "under1")) {
        MEMSET(p - 1, 0x41, 1);
    } else if (!strcmp(c, "under32")) {
        MEMSET(p - 32, 0x41, 32);
    } else {
        setup_fail("unknown case");
    }
    access_done();
    F(p);
    char *q = M(n);
    if (!q) setup_fail("malloc after the overflow");
    ((volatile char *)q)[0] = 1;
    F(q);
    misuse_done();
    struct blk live[1] = {{nb, n}};
    aftermath(n, live, 1);
    return survived();
}
