/* Like GNU coreutils: the program closes stderr in its own exit handler
 * (registered after hakmem's). HAKMEM_STATS=1 must still print the report. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void close_stderr(void) { close(2); }

int main(void) {
    atexit(close_stderr);
    void *volatile p = malloc(100);
    free(p);
    printf("done\n");
    return 0;
}
