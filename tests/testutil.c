#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_tmp[256];

static void rm_tmp(void) {
    if (g_tmp[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
        if (system(cmd) != 0) { /* best effort */ }
    }
}

const char *tu_mnist_dir(void) {
    static char dir[1024];
    const char *base = getenv("MINNOW_DATA");
    if (!base || !*base) base = "../shared/data";
    snprintf(dir, sizeof dir, "%s/mnist", base);
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/train-labels-idx1-ubyte.gz", dir);
    struct stat st;
    if (stat(probe, &st) == 0) return dir;
    snprintf(probe, sizeof probe, "%s/train-labels-idx1-ubyte", dir);
    return stat(probe, &st) == 0 ? dir : NULL;
}

const char *tu_tmpdir(void) {
    if (!g_tmp[0]) {
        snprintf(g_tmp, sizeof g_tmp, "/tmp/minnow-test-XXXXXX");
        if (!mkdtemp(g_tmp)) { g_tmp[0] = 0; return "/tmp"; }
        atexit(rm_tmp);
    }
    return g_tmp;
}

int tu_write_file(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(buf, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

float tu_maxdiff(const float *a, const float *b, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    return m;
}
