/* Finding a split on disk, and the operations on a loaded set: statistics,
 * shuffling, batching and shift augmentation. */
#include "minnow/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>

#define PATH_LEN 4096
/* CIFAR-10 ships 5 training batches; leave room for home-made splits. */
#define MAX_BATCHES 32

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* DIR/PREFIX-KIND, else DIR/PREFIX-KIND.gz. */
static int find_idx(char *buf, const char *dir, const char *prefix, const char *kind) {
    snprintf(buf, PATH_LEN, "%s/%s-%s", dir, prefix, kind);
    if (is_file(buf)) return 1;
    snprintf(buf, PATH_LEN, "%s/%s-%s.gz", dir, prefix, kind);
    return is_file(buf);
}

/* The label column of a CSV: `label` names a header (any case, quotes and
 * blanks ignored) or is a 0-based index; without it, the column headed
 * "label".  No such column is an error that lists the header, never a
 * silent guess (a wrong column trains a meaningless model). */
static mn_status csv_label_col(const char *path, const char *label, int *col) {
    FILE *f = fopen(path, "rb");
    if (!f) return mn_error(MN_EIO, "cannot open %s", path);
    char *line = NULL, *e;
    size_t cap = 0;
    int found = 0, ncol = 0;
    const char *want = label ? label : "label";
    long idx = label && *label ? strtol(label, &e, 10) : -1;
    if (label && (!*label || *e)) idx = -1;
    /* The header as the message shows it: whole when short, else the
     * first names, "...", and the last (where a label column often is). */
    char hdr[200] = "", tail[3][48] = {"", "", ""};
    if (getline(&line, &cap, f) > 0) {
        char *s = line;
        if (!strncmp(s, "\xEF\xBB\xBF", 3)) s += 3; /* UTF-8 byte order mark */
        for (int i = 0; s; i++, ncol++) {
            char *end = strchr(s, ',');
            if (end) *end = 0;
            while (*s == ' ' || *s == '\t' || *s == '"') s++;
            size_t n = strlen(s);
            while (n && strchr(" \t\r\n\"", s[n - 1])) s[--n] = 0;
            if (!found && (!strcasecmp(s, want) || i == idx)) *col = i, found = 1;
            if (i < 6) {
                size_t hl = strlen(hdr);
                snprintf(hdr + hl, sizeof hdr - hl, "%s%.24s", i ? "," : "", s);
            }
            snprintf(tail[i % 3], sizeof tail[0], "%.40s", s);
            s = end ? end + 1 : NULL;
        }
    }
    free(line);
    fclose(f);
    if (found) return MN_OK;
    for (int i = ncol > 9 ? ncol - 3 : 6; i < ncol; i++) {
        size_t hl = strlen(hdr);
        snprintf(hdr + hl, sizeof hdr - hl, "%s%s", i == ncol - 3 && ncol > 9 ? ",...," : ",", tail[i % 3]);
    }
    if (label)
        return mn_error(MN_EARG, "%s: no column '%s' (header: %s; %d columns, indices from 0)", path, label,
                        hdr, ncol);
    return mn_error(MN_EARG, "%s: no column is headed 'label' (header: %s): pass --label NAME or --label INDEX",
                    path, hdr);
}

/* CIFAR batches: PREFIX_batch.bin and PREFIX_batch_K.bin, in that order. */
static int find_cifar(char (*paths)[PATH_LEN], const char *dir, const char *prefix) {
    int n = 0;
    snprintf(paths[n], PATH_LEN, "%s/%s_batch.bin", dir, prefix);
    n += is_file(paths[n]);
    for (int k = 1; k < MAX_BATCHES && n < MAX_BATCHES; k++) {
        snprintf(paths[n], PATH_LEN, "%s/%s_batch_%d.bin", dir, prefix, k);
        n += is_file(paths[n]);
    }
    return n;
}

static mn_status load_cifar(const char *dir, const char *split, mn_dataset *out, int *found) {
    char (*paths)[PATH_LEN] = mn_alloc(MAX_BATCHES, PATH_LEN);
    if (!paths) return mn_error(MN_ENOMEM, "out of memory");
    const char *prefixes[2] = {split, strcmp(split, "train") ? NULL : "data"};
    mn_status st = MN_OK;
    *found = 0;
    for (int p = 0; p < 2 && prefixes[p] && !*found; p++) {
        int n = find_cifar(paths, dir, prefixes[p]);
        if (!n) continue;
        const char *ptrs[MAX_BATCHES];
        for (int i = 0; i < n; i++) ptrs[i] = paths[i];
        st = mn_data_load_cifar(ptrs, n, out);
        *found = 1;
    }
    mn_free(paths);
    return st;
}

mn_status mn_data_load(const char *dir, const char *split, mn_dataset *out) {
    return mn_data_load_label(dir, split, NULL, out);
}

mn_status mn_data_load_label(const char *dir, const char *split, const char *label, mn_dataset *out) {
    memset(out, 0, sizeof *out);
    if (!dir || !split || !*split || strchr(split, '/'))
        return mn_error(MN_EARG, "bad data split '%s'", split ? split : "(null)");
    if (strlen(dir) + strlen(split) > PATH_LEN - 64)
        return mn_error(MN_EARG, "data path too long: %s", dir);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return mn_error(MN_EIO, "data directory %s not found", dir);

    char img[PATH_LEN], lab[PATH_LEN];
    const char *prefixes[2] = {split, strcmp(split, "test") ? NULL : "t10k"};
    for (int p = 0; p < 2 && prefixes[p]; p++) {
        if (!find_idx(img, dir, prefixes[p], "images-idx3-ubyte")) continue;
        if (!find_idx(lab, dir, prefixes[p], "labels-idx1-ubyte"))
            return mn_error(MN_EIO, "found %s but no %s/%s-labels-idx1-ubyte[.gz]", img, dir,
                            prefixes[p]);
        return mn_data_load_idx(img, lab, out);
    }

    int found = 0;
    mn_status st = load_cifar(dir, split, out, &found);
    if (found || st) return st;

    snprintf(img, PATH_LEN, "%s/%s.csv", dir, split);
    if (is_file(img)) {
        int col = 0;
        mn_status cst = csv_label_col(img, label, &col);
        return cst ? cst : mn_data_load_csv(img, col, out);
    }

    return mn_error(MN_EIO,
                    "no '%s' data in %s: looked for %s-images-idx3-ubyte[.gz]%s, %s_batch*.bin%s "
                    "and %s.csv",
                    split, dir, split, prefixes[1] ? " (or t10k-*)" : "", split,
                    strcmp(split, "train") ? "" : " (or data_batch_*.bin)", split);
}

void mn_dataset_free(mn_dataset *d) {
    if (!d) return;
    mn_free(d->x);
    mn_free(d->y);
    memset(d, 0, sizeof *d);
}

mn_status mn_dataset_filter_class(mn_dataset *d, int k, int keep) {
    if (k < 0 || k >= d->nclass) return mn_error(MN_EARG, "class %d is not one of the data's 0..%d", k, d->nclass - 1);
    size_t isz = (size_t)d->c * d->h * d->w;
    int n = 0;
    for (int i = 0; i < d->n; i++) {
        if ((d->y[i] == k) != (keep != 0)) continue;
        if (n != i) {
            memmove(d->x + (size_t)n * isz, d->x + (size_t)i * isz, sizeof(float) * isz);
            d->y[n] = d->y[i];
        }
        n++;
    }
    if (n == 0)
        return mn_error(MN_EARG, keep ? "no sample is of class %d" : "every sample is of class %d: nothing would remain", k);
    d->n = n;
    return MN_OK;
}

void mn_data_stats(const mn_dataset *d, float *mean, float *std) {
    size_t hw = (size_t)d->h * d->w, cnt = (size_t)d->n * hw;
    for (int c = 0; c < d->c; c++) {
        /* Two passes in double: sum-of-squares in one pass loses the small
         * variances of near-constant channels. */
        double s = 0, v = 0;
        for (int i = 0; i < d->n; i++) {
            const float *p = d->x + ((size_t)i * d->c + c) * hw;
            for (size_t k = 0; k < hw; k++) s += p[k];
        }
        double m = cnt ? s / cnt : 0;
        for (int i = 0; i < d->n; i++) {
            const float *p = d->x + ((size_t)i * d->c + c) * hw;
            for (size_t k = 0; k < hw; k++) v += (p[k] - m) * (p[k] - m);
        }
        mean[c] = (float)m;
        std[c] = cnt ? (float)sqrt(v / cnt) : 0.0f;
    }
}

void mn_data_shuffle(int *perm, int n, mn_rng *r) {
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)mn_rng_below(r, (uint32_t)i + 1);
        int t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
}

void mn_data_gather(const mn_dataset *d, const int *idx, int b, float *x, int32_t *y) {
    size_t per = (size_t)d->c * d->h * d->w;
    for (int i = 0; i < b; i++) {
        if (x) memcpy(x + i * per, d->x + (size_t)idx[i] * per, per * sizeof(float));
        if (y) y[i] = d->y[idx[i]];
    }
}

/* Moves one h x w plane by (dx, dy) in place.  Rows are visited in the order
 * that reads each source row before it is overwritten. */
static void shift_plane(float *p, int h, int w, int dx, int dy) {
    int ax = dx < 0 ? -dx : dx, ay = dy < 0 ? -dy : dy;
    if (ax >= w || ay >= h) {
        memset(p, 0, (size_t)h * w * sizeof(float));
        return;
    }
    for (int t = 0; t < h; t++) {
        int yy = dy > 0 ? h - 1 - t : t, sy = yy - dy;
        float *dst = p + (size_t)yy * w;
        if (sy < 0 || sy >= h) {
            memset(dst, 0, (size_t)w * sizeof(float));
            continue;
        }
        const float *src = p + (size_t)sy * w;
        memmove(dst + (dx > 0 ? dx : 0), src + (dx < 0 ? ax : 0), (size_t)(w - ax) * sizeof(float));
        memset(dst + (dx > 0 ? 0 : w - ax), 0, (size_t)ax * sizeof(float));
    }
}

void mn_data_augment_shift(float *x, int b, int c, int h, int w, int max_shift, mn_rng *r) {
    if (max_shift <= 0) return;
    uint32_t span = 2 * (uint32_t)max_shift + 1;
    size_t plane = (size_t)h * w;
    for (int i = 0; i < b; i++) {
        int dx = (int)mn_rng_below(r, span) - max_shift;
        int dy = (int)mn_rng_below(r, span) - max_shift;
        if (!dx && !dy) continue;
        for (int ch = 0; ch < c; ch++) shift_plane(x + ((size_t)i * c + ch) * plane, h, w, dx, dy);
    }
}
