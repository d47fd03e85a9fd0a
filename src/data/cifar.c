/* CIFAR-10 binary batches: records of 1 label byte and 3x32x32 pixel bytes,
 * channel-major, which is already the NCHW layout minnow uses. */
#include "minnow/data.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_PIX 3072
#define CIFAR_REC (CIFAR_PIX + 1)

/* Sizes every file first, so the arrays are allocated once and a bad size is
 * reported before any reading. */
static mn_status count_records(const char *const *paths, int npaths, size_t *n) {
    *n = 0;
    for (int i = 0; i < npaths; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) return mn_error(MN_EIO, "cannot open %s", paths[i]);
        if (st.st_size <= 0 || st.st_size % CIFAR_REC != 0)
            return mn_error(MN_EFORMAT,
                            "%s: size %lld is not a nonzero multiple of %d (1 label byte + %d pixels)",
                            paths[i], (long long)st.st_size, CIFAR_REC, CIFAR_PIX);
        *n += (size_t)st.st_size / CIFAR_REC;
        if (*n > INT_MAX / CIFAR_PIX)
            return mn_error(MN_EFORMAT, "%s: too many records", paths[i]);
    }
    return MN_OK;
}

static mn_status read_file(const char *path, size_t nrec, float *x, int32_t *y,
                           const float *lut, int *maxl) {
    FILE *f = fopen(path, "rb");
    if (!f) return mn_error(MN_EIO, "cannot open %s", path);
    unsigned char rec[CIFAR_REC];
    mn_status st = MN_OK;
    for (size_t r = 0; r < nrec && !st; r++) {
        if (fread(rec, 1, CIFAR_REC, f) != CIFAR_REC) {
            st = mn_error(MN_EFORMAT, "%s: truncated at record %zu", path, r);
            break;
        }
        if (rec[0] > 9) {
            st = mn_error(MN_EFORMAT, "%s: label %d out of range 0..9 in record %zu", path,
                          rec[0], r);
            break;
        }
        y[r] = rec[0];
        if (rec[0] > *maxl) *maxl = rec[0];
        float *xr = x + r * CIFAR_PIX;
        for (int i = 0; i < CIFAR_PIX; i++) xr[i] = lut[rec[1 + i]];
    }
    fclose(f);
    return st;
}

mn_status mn_data_load_cifar(const char *const *paths, int npaths, mn_dataset *out) {
    memset(out, 0, sizeof *out);
    if (npaths < 1 || !paths) return mn_error(MN_EARG, "no CIFAR batch files given");
    size_t n;
    mn_status st = count_records(paths, npaths, &n);
    if (st) return st;
    out->x = mn_alloc(n * CIFAR_PIX, sizeof(float));
    out->y = mn_alloc(n, sizeof(int32_t));
    if (!out->x || !out->y) {
        mn_dataset_free(out);
        return mn_error(MN_ENOMEM, "%s: cannot allocate %zu images", paths[0], n);
    }
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = (float)v / 255.0f;
    int maxl = 0;
    size_t at = 0;
    for (int i = 0; i < npaths && !st; i++) {
        struct stat sb;
        if (stat(paths[i], &sb) != 0) { st = mn_error(MN_EIO, "cannot open %s", paths[i]); break; }
        size_t nrec = (size_t)sb.st_size / CIFAR_REC;
        if (nrec > n - at) { st = mn_error(MN_EFORMAT, "%s: changed while reading", paths[i]); break; }
        st = read_file(paths[i], nrec, out->x + at * CIFAR_PIX, out->y + at, lut, &maxl);
        at += nrec;
    }
    if (!st && at != n) st = mn_error(MN_EFORMAT, "%s: changed while reading", paths[0]);
    if (st) {
        mn_dataset_free(out);
        return st;
    }
    out->n = (int)n;
    out->c = 3, out->h = 32, out->w = 32;
    out->nclass = maxl + 1;
    return MN_OK;
}
