/* A small C program compiled by gcc (under LD_PRELOAD) and run in the
 * preload tests: a hash table of malloc'd strings, qsort, realloc'd arrays. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ent { char *key; long val; struct ent *next; };

static unsigned long hash(const char *s) {
    unsigned long h = 5381;
    while (*s) h = h * 33 + (unsigned char)*s++;
    return h;
}

static int cmp(const void *a, const void *b) {
    const struct ent *x = *(struct ent *const *)a, *y = *(struct ent *const *)b;
    if (x->val != y->val) return x->val < y->val ? 1 : -1;
    return strcmp(x->key, y->key);
}

int main(void) {
    enum { NB = 4096 };
    struct ent **tab = calloc(NB, sizeof *tab);
    unsigned long x = 42;
    size_t distinct = 0;
    for (int i = 0; i < 300000; i++) {
        x = x * 6364136223846793005UL + 1442695040888963407UL;
        char buf[64];
        int len = snprintf(buf, sizeof buf, "w%lu-%.*s", (x >> 40) % 20000, (int)((x >> 20) % 9),
                           "abcdefghij");
        (void)len;
        unsigned long h = hash(buf) % NB;
        struct ent *e = tab[h];
        while (e && strcmp(e->key, buf)) e = e->next;
        if (!e) {
            e = malloc(sizeof *e);
            e->key = strdup(buf);
            e->val = 0;
            e->next = tab[h];
            tab[h] = e;
            distinct++;
        }
        e->val++;
    }
    struct ent **all = NULL;
    size_t n = 0, cap = 0;
    for (int b = 0; b < NB; b++)
        for (struct ent *e = tab[b]; e; e = e->next) {
            if (n == cap) { cap = cap ? cap * 2 : 16; all = realloc(all, cap * sizeof *all); }
            all[n++] = e;
        }
    qsort(all, n, sizeof *all, cmp);
    printf("distinct %zu\n", distinct);
    for (size_t i = 0; i < 15; i++) printf("%s %ld\n", all[i]->key, all[i]->val);
    for (size_t i = 0; i < n; i++) { free(all[i]->key); free(all[i]); }
    free(all);
    free(tab);
    printf("done\n");
    return 0;
}
