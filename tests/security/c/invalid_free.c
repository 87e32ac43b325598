/* Frees of pointers malloc never returned. usage: invalid_free <case> [<size>]
 *   stack          free() of a pointer into a zeroed stack array
 *   static         free() of a pointer into a zeroed static array
 *   mmap           free() of the second page of a zeroed 2-page mmap (memory
 *                  another allocator could have handed out)
 *   interior       p = malloc(size); free(p + 16)
 *   unaligned      p = malloc(size); free(p + 1)
 *   realloc_moved  q = realloc(p, 4 * size) with q != p, then free(p)
 *                  (exit 3 if realloc grew the block in place)
 * Then the aftermath (sec.h; blocks of `size`, 64 B for the sizeless cases)
 * and SURVIVED. */
#include "sec.h"

static char static_buf[256] __attribute__((aligned(64)));

int main(int argc, char **argv) {
    announce();
    if (argc < 2) setup_fail("missing case");
    const char *c = argv[1];
    struct blk live[2];
    int nlive = 0;
    size_t n = 64;
    if (!strcmp(c, "stack")) {
        char buf[256] __attribute__((aligned(64)));
        MEMSET(buf, 0, sizeof buf);
        F(buf + 64);
    } else if (!strcmp(c, "static")) {
        F(static_buf + 64);
    } else if (!strcmp(c, "mmap")) {
        long page = sysconf(_SC_PAGESIZE);
        char *m = mmap(0, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) setup_fail("mmap");
        F(m + page);
    } else {
        n = arg_size(argc, argv);
        char *p = M(n);
        if (!p) setup_fail("malloc");
        MEMSET(p, 0x11, n);
        if (!strcmp(c, "interior")) {
            F(p + 16);
            live[nlive++] = (struct blk){p, n};
        } else if (!strcmp(c, "unaligned")) {
            F(p + 1);
            live[nlive++] = (struct blk){p, n};
        } else if (!strcmp(c, "realloc_moved")) {
            /* A live neighbour makes growing in place less likely. */
            char *nb = M(n);
            if (!nb) setup_fail("malloc");
            char *q = R(p, 4 * n);
            if (!q) setup_fail("realloc");
            if (q == p) not_applicable("realloc grew the block in place");
            F(p);
            live[nlive++] = (struct blk){q, 4 * n};
            live[nlive++] = (struct blk){nb, n};
        } else {
            setup_fail("unknown case");
        }
    }
    misuse_done();
    aftermath(n, live, nlive);
    return survived();
}
