/* Use after free. usage: uaf <case> <size>
 *   write  p = malloc(size); free(p); then the program writes a forged pointer
 *          (into a static array, sec.h `forged`) over the first 64 bytes of p
 *          (its first 8 words, or fewer for a smaller block): the classic
 *          free-list poisoning. MISUSE DONE; the aftermath's mallocs of the
 *          same size show whether the allocator hands out the forged address
 *          (FORGED), a wild pointer (crash) or notices; SURVIVED. */
#include "sec.h"

int main(int argc, char **argv) {
    announce();
    if (argc < 2) setup_fail("missing case");
    const char *c = argv[1];
    size_t n = arg_size(argc, argv);
    char *p = M(n);
    if (!p) setup_fail("malloc");
    MEMSET(p, 0x11, n);
    if (!strcmp(c, "write")) {
        F(p);
        size_t words = n / sizeof(void *);
        if (words > 8) words = 8;
        if (words == 0) words = 1;
        for (size_t i = 0; i < words; i++) ((void *volatile *)p)[i] = forged + 64;
        access_done();
    } else {
        setup_fail("unknown case");
    }
    misuse_done();
    aftermath(n, 0, 0);
    return survived();
}
