/* 1-D k-means with linear initialisation, and the per-layer bits spec. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minnow/cluster.h"

static int fcmp(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* First index in sorted s[0..n) with s[i] > t (or >= when ge). */
static int64_t upper(const float *s, int64_t n, double t, int ge) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (ge ? s[mid] >= t : s[mid] > t) hi = mid; else lo = mid + 1;
    }
    return lo;
}

mn_status mn_kmeans_1d(const float *x, int64_t n, int k, int iters, float *centroids,
                       uint8_t *assign) {
    if (k < 1 || k > 256) return mn_error(MN_EARG, "kmeans: k = %d, expected 1..256", k);
    if (n < 0 || iters < 0) return mn_error(MN_EARG, "kmeans: bad n or iterations");
    if (n == 0) {
        memset(centroids, 0, sizeof(float) * (size_t)k);
        return MN_OK;
    }
    /* On sorted values every cluster is a contiguous range and its mean
     * comes from prefix sums, so an iteration costs k binary searches. */
    float *s = malloc(sizeof(float) * (size_t)n);
    double *pre = malloc(sizeof(double) * (size_t)(n + 1));
    if (!s || !pre) { free(s); free(pre); return mn_error(MN_ENOMEM, "kmeans: out of memory"); }
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) { free(s); free(pre); return mn_error(MN_EARG, "kmeans: value %lld is not finite", (long long)i); }
        s[i] = x[i];
    }
    qsort(s, (size_t)n, sizeof(float), fcmp);
    pre[0] = 0;
    for (int64_t i = 0; i < n; i++) pre[i + 1] = pre[i] + s[i];
    double lo = s[0], hi = s[n - 1], c[256];
    /* Linear initialisation keeps centroids at the rare large weights, which
     * matter most (Han et al. 2016, section 3.2). */
    for (int i = 0; i < k; i++) c[i] = k == 1 ? (lo + hi) / 2 : lo + (hi - lo) * i / (k - 1);
    for (int it = 0; it < iters; it++) {
        int moved = 0;
        int64_t start = 0;
        for (int i = 0; i < k; i++) {
            /* Values up to the midpoint with the next centroid (ties go to
             * the lower one). */
            int64_t end = i == k - 1 ? n : upper(s, n, (c[i] + c[i + 1]) / 2, 0);
            if (end < start) end = start;
            if (end > start) {
                double m = (pre[end] - pre[start]) / (double)(end - start);
                if (m != c[i]) moved = 1;
                c[i] = m;
            }
            start = end;
        }
        if (!moved) break;
    }
    for (int i = 0; i < k; i++) centroids[i] = (float)c[i];
    if (assign) {
        /* Nearest centroid in float arithmetic, as the weights will hold it. */
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            int a = 0, b = k - 1;
            while (a < b) { /* first centroid whose upper midpoint is >= v */
                int mid = (a + b) / 2;
                if (v <= 0.5f * (centroids[mid] + centroids[mid + 1])) b = mid; else a = mid + 1;
            }
            assign[i] = (uint8_t)a;
        }
    }
    free(s);
    free(pre);
    return MN_OK;
}

int mn_kmeans_layer_bits(const char *spec, const char *name, int def) {
    if (!spec) return def;
    const char *p = spec;
    int found = def;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        const char *eq = strchr(p, '=');
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        if (!eq || eq > end || eq == p) { mn_error(MN_EARG, "layer bits '%s': expected name=bits[,name=bits...]", spec); return -1; }
        char *e;
        long b = strtol(eq + 1, &e, 10);
        while (*e == ' ') e++;
        if (e != end || eq + 1 == end || b < 0 || b > MN_KMEANS_MAX_BITS) {
            mn_error(MN_EARG, "layer bits '%s': bits for '%.*s' must be an integer in 0..%d", spec, (int)(eq - p), p, MN_KMEANS_MAX_BITS);
            return -1;
        }
        const char *ne = eq;
        while (ne > p && ne[-1] == ' ') ne--;
        if ((size_t)(ne - p) == strlen(name) && strncmp(p, name, (size_t)(ne - p)) == 0) found = (int)b;
        p = end;
    }
    return found;
}
