/* A program linked against the `cargo xtask dist` tree through pkg-config
 * (tests/dist.rs): malloc & co. must be hakmem's, and the hak_* extensions
 * of <hakmem.h> must link.
 *
 * Built three ways: against the shared library, against the static one,
 * and with -DDIST_PRELOAD without hakmem at all (then the extensions are
 * looked up with dlsym, and the run preloads lib/libhakmem.so).
 * Prints "version <v>", "lib <path of the object defining hak_version>",
 * then "OK". */
#include "check.h"

#include <dlfcn.h>
#ifndef DIST_PRELOAD
#include <hakmem.h>
#endif

int main(void) {
    const char *(*version)(void);
    int (*owns)(const void *);
#ifdef DIST_PRELOAD
    version = (const char *(*)(void))dlsym(RTLD_DEFAULT, "hak_version");
    owns = (int (*)(const void *))dlsym(RTLD_DEFAULT, "hak_owns");
    CHECK(version && owns, "hak_version or hak_owns not found: hakmem is not preloaded");
#else
    version = hak_version;
    owns = hak_owns;
#endif
    /* One size of every tier; contents kept, every block hakmem's. */
    static const size_t sizes[] = {16, 1000, 5000, 100000, 3u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *p = malloc(n);
        CHECK(p != NULL, "malloc(%zu) failed", n);
        CHECK(owns(p) == 1, "malloc(%zu) = %p is not hakmem's block: the program did not link hakmem", n, (void *)p);
        memset(p, (int)i + 1, n);
        p = realloc(p, 2 * n);
        CHECK(p != NULL && owns(p) == 1, "realloc to %zu failed or left hakmem", 2 * n);
        for (size_t j = 0; j < n; j++)
            CHECK(p[j] == (unsigned char)(i + 1), "byte %zu of %zu lost by realloc", j, n);
        free(p);
        unsigned char *z = calloc(n, 1);
        CHECK(z != NULL && owns(z) == 1, "calloc(%zu, 1) failed or is not hakmem's", n);
        for (size_t j = 0; j < n; j++) CHECK(z[j] == 0, "calloc(%zu, 1): byte %zu is not zero", n, j);
        free(z);
    }
    int on_stack;
    CHECK(owns(&on_stack) == 0, "hak_owns claims a stack address");

    Dl_info info;
    CHECK(dladdr((void *)version, &info) != 0 && info.dli_fname != NULL, "dladdr(hak_version) failed");
    printf("version %s\n", version());
    printf("lib %s\n", info.dli_fname);
    printf("OK\n");
    return 0;
}
