/* Double frees. usage: double_free <case> <size>
 *   immediate     free(p); free(p)
 *   after_others  free(p); free(a); free(b); free(c); free(p)  (same size)
 *   after_reuse   free(p); q = malloc(size); free(p)  (q stays live: when
 *                 q == p the stale free releases q, which the aftermath must
 *                 not hand out again; when q != p it is a plain double free)
 *   other_thread  thread A frees p, then thread B frees p again
 * Then the aftermath (sec.h) and SURVIVED. */
#include "sec.h"

static void *shared;

static void *thread_free(void *arg) {
    (void)arg;
    F(shared);
    return 0;
}

int main(int argc, char **argv) {
    announce();
    if (argc < 2) setup_fail("missing case");
    const char *c = argv[1];
    size_t n = arg_size(argc, argv);
    char *p = M(n);
    if (!p) setup_fail("malloc");
    MEMSET(p, 0x11, n);
    struct blk live[1];
    int nlive = 0;
    if (!strcmp(c, "immediate")) {
        F(p);
        F(p);
    } else if (!strcmp(c, "after_others")) {
        char *o[3];
        for (int i = 0; i < 3; i++)
            if (!(o[i] = M(n))) setup_fail("malloc");
        F(p);
        for (int i = 0; i < 3; i++) F(o[i]);
        F(p);
    } else if (!strcmp(c, "after_reuse")) {
        F(p);
        char *q = M(n);
        if (!q) setup_fail("malloc");
        MEMSET(q, 0x22, n);
        printf("REUSED %s\n", q == p ? "yes" : "no");
        fflush(stdout);
        F(p);
        live[nlive++] = (struct blk){q, n};
    } else if (!strcmp(c, "other_thread")) {
        shared = p;
        for (int i = 0; i < 2; i++) {
            pthread_t t;
            if (pthread_create(&t, 0, thread_free, 0)) setup_fail("pthread_create");
            pthread_join(t, 0);
        }
    } else if (!strcmp(c, "other_thread_cached")) {
        shared = p;
        F(p);
        pthread_t t;
        if (pthread_create(&t, 0, thread_free, 0)) setup_fail("pthread_create");
        pthread_join(t, 0);
    } else {
        setup_fail("unknown case");
    }
    misuse_done();
    aftermath(n, live, nlive);
    return survived();
}
