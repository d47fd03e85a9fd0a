/* CSV reader: a header row, then one sample per line, all numbers. */
#include "minnow/data.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* Labels index output units; a label this large is a mistake in the file
 * (say, the wrong column), and would otherwise size a giant classifier. */
#define CSV_MAX_LABEL 65535

typedef struct {
    float *x;
    int32_t *y;
    size_t rows, cap, nfeat;
} rows_buf;

static int grow(rows_buf *b) {
    /* The first block holds at most ~4 MiB of values (1024 rows of narrow
     * data; one row of a 50M-column file), so memory follows the rows read. */
    size_t ncap = b->cap ? b->cap * 2 : b->nfeat <= 1024 ? 1024 : ((size_t)1 << 20) / b->nfeat + 1;
    float *nx = mn_alloc(ncap, b->nfeat * sizeof(float));
    int32_t *ny = mn_alloc(ncap, sizeof(int32_t));
    if (!nx || !ny) { mn_free(nx); mn_free(ny); return -1; }
    if (b->rows) {
        memcpy(nx, b->x, b->rows * b->nfeat * sizeof(float));
        memcpy(ny, b->y, b->rows * sizeof(int32_t));
    }
    mn_free(b->x);
    mn_free(b->y);
    b->x = nx, b->y = ny, b->cap = ncap;
    return 0;
}

static size_t strip_eol(char *s, size_t len) {
    while (len && (s[len - 1] == '\n' || s[len - 1] == '\r')) s[--len] = 0;
    return len;
}

static int is_blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return 0;
    return 1;
}

static int count_cols(const char *s) {
    int n = 1;
    for (; *s; s++) n += *s == ',' && n < INT_MAX;
    return n;
}

/* 1 if [e, end) holds only blanks, so "1.5 ," and " 3" are fine. */
static int rest_blank(const char *e, const char *end) {
    while (e < end && (*e == ' ' || *e == '\t')) e++;
    return e == end;
}

static mn_status parse_row(const char *path, long lineno, char *s, int ncol, int label_col,
                           float *x, int32_t *y) {
    for (int col = 0; col < ncol; col++) {
        char *end = strchr(s, ',');
        if (!end) end = s + strlen(s);
        int flen = (int)(end - s);
        char *e;
        if (col == label_col) {
            errno = 0;
            long v = strtol(s, &e, 10);
            if (e == s || !rest_blank(e, end))
                return mn_error(MN_EFORMAT, "%s: label '%.*s' is not an integer at line %ld",
                                path, flen, s, lineno);
            if (errno == ERANGE || v < 0 || v > CSV_MAX_LABEL)
                return mn_error(MN_EFORMAT, "%s: label out of range at line %ld (%.*s, must be 0..%d)",
                                path, lineno, flen, s, CSV_MAX_LABEL);
            *y = (int32_t)v;
        } else {
            float v = strtof(s, &e);
            if (e == s || !rest_blank(e, end))
                return mn_error(MN_EFORMAT, "%s: '%.*s' is not a number at line %ld, column %d",
                                path, flen, s, lineno, col + 1);
            if (!isfinite(v))
                return mn_error(MN_EFORMAT, "%s: non-finite value '%.*s' at line %ld, column %d",
                                path, flen, s, lineno, col + 1);
            *x++ = v;
        }
        s = *end ? end + 1 : end;
    }
    return MN_OK;
}

static mn_status read_rows(FILE *f, const char *path, int label_col, rows_buf *b, int *ncol_out) {
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len = getline(&line, &lcap, f);
    long lineno = 1;
    mn_status st = MN_OK;
    if (len < 0) {
        st = mn_error(MN_EFORMAT, "%s: empty file (expected a header row)", path);
        goto done;
    }
    strip_eol(line, (size_t)len);
    int ncol = count_cols(line);
    *ncol_out = ncol;
    if (is_blank(line)) { st = mn_error(MN_EFORMAT, "%s: empty header row", path); goto done; }
    if (ncol < 2) {
        st = mn_error(MN_EFORMAT, "%s: needs a label column and at least one feature column", path);
        goto done;
    }
    if (label_col >= ncol) {
        st = mn_error(MN_EARG, "%s: label column %d, but the header has %d columns", path,
                      label_col, ncol);
        goto done;
    }
    b->nfeat = (size_t)ncol - 1;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        strip_eol(line, (size_t)len);
        if (is_blank(line)) continue; /* trailing blank lines are common */
        int n = count_cols(line);
        if (n != ncol) {
            st = mn_error(MN_EFORMAT, "%s: line %ld has %d columns, the header has %d", path,
                          lineno, n, ncol);
            goto done;
        }
        if (b->rows == (size_t)INT_MAX) {
            st = mn_error(MN_EFORMAT, "%s: too many rows", path);
            goto done;
        }
        if (b->rows == b->cap && grow(b)) {
            st = mn_error(MN_ENOMEM, "%s: out of memory at line %ld", path, lineno);
            goto done;
        }
        st = parse_row(path, lineno, line, ncol, label_col, b->x + b->rows * b->nfeat,
                       b->y + b->rows);
        if (st) goto done;
        b->rows++;
    }
    if (ferror(f)) st = mn_error(MN_EIO, "%s: read error", path);
    else if (!b->rows) st = mn_error(MN_EFORMAT, "%s: no data rows after the header", path);
done:
    free(line);
    return st;
}

mn_status mn_data_load_csv(const char *path, int label_col, mn_dataset *out) {
    memset(out, 0, sizeof *out);
    if (label_col < 0) return mn_error(MN_EARG, "%s: bad label column %d", path, label_col);
    FILE *f = fopen(path, "rb");
    if (!f) return mn_error(MN_EIO, "cannot open %s", path);
    rows_buf b = {0};
    int ncol = 0;
    mn_status st = read_rows(f, path, label_col, &b, &ncol);
    fclose(f);
    if (!st) {
        /* Hand over exact-size arrays rather than the doubled work buffers. */
        out->x = mn_alloc(b.rows, b.nfeat * sizeof(float));
        out->y = mn_alloc(b.rows, sizeof(int32_t));
        if (!out->x || !out->y) st = mn_error(MN_ENOMEM, "%s: out of memory", path);
    }
    if (!st) {
        memcpy(out->x, b.x, b.rows * b.nfeat * sizeof(float));
        memcpy(out->y, b.y, b.rows * sizeof(int32_t));
        int maxl = 0;
        for (size_t i = 0; i < b.rows; i++)
            if (b.y[i] > maxl) maxl = b.y[i];
        out->n = (int)b.rows;
        out->c = (int)b.nfeat, out->h = out->w = 1;
        out->nclass = maxl + 1;
    }
    mn_free(b.x);
    mn_free(b.y);
    if (st) mn_dataset_free(out);
    return st;
}
