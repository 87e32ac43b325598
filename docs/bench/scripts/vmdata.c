/* Commit charge of big blocks (decision 0048): sixty blocks of 1.1 to 9 MiB,
 * ten of each of six sizes, each touched once; prints how much VmData and
 * VmSize grew against the bytes asked for. Build: cc -O2 -o vmdata vmdata.c;
 * run under each allocator with LD_PRELOAD (docs/bench/vmdata-16.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static long field(const char *name) {
  FILE *f = fopen("/proc/self/status", "r"); char line[256]; long v = -1;
  while (fgets(line, sizeof line, f)) if (!strncmp(line, name, strlen(name))) { v = atol(line + strlen(name) + 1); break; }
  fclose(f); return v;
}
int main(void) {
  size_t sizes[] = {1100 * 1024, 1536 * 1024, 2 * 1024 * 1024 + 1, 3 * 1024 * 1024, 5 * 1024 * 1024, 9 * 1024 * 1024};
  long d0 = field("VmData:"), s0 = field("VmSize:");
  size_t total = 0;
  for (int r = 0; r < 10; r++) for (int i = 0; i < 6; i++) { char *p = malloc(sizes[i]); p[0] = 1; total += sizes[i]; }
  long d1 = field("VmData:"), s1 = field("VmSize:");
  printf("asked %zu KiB; VmData +%ld KiB (%.2fx); VmSize +%ld KiB (%.2fx)\n", total / 1024, d1 - d0, (double)(d1 - d0) * 1024 / total, s1 - s0, (double)(s1 - s0) * 1024 / total);
  return 0;
}
