/* Data readers (IDX raw/gzip, CSV, CIFAR), dispatch, and the set operations. */
#include "testutil.h"

#include "minnow/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* A fresh directory per test, so dispatch sees only that test's files. */
static const char *subdir(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", tu_tmpdir(), name);
    mkdir(buf, 0700);
    return buf;
}

static const char *in(const char *dir, const char *file) {
    static char buf[4][768];
    static int k;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, file);
    return buf[k];
}

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* Header (magic + dims) followed by len data bytes, raw or gzip. */
static void write_idx(const char *path, int gz, uint32_t magic, const uint32_t *dims, int nd,
                      const unsigned char *data, size_t len) {
    size_t hl = 4 + 4 * (size_t)nd;
    unsigned char *buf = malloc(hl + len + 1);
    assert_non_null(buf);
    put_be32(buf, magic);
    for (int i = 0; i < nd; i++) put_be32(buf + 4 + 4 * i, dims[i]);
    if (len) memcpy(buf + hl, data, len);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, buf, (unsigned)(hl + len)), (int)(hl + len));
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        assert_int_equal(tu_write_file(path, buf, hl + len), 0);
    }
    free(buf);
}

static void write_text(const char *path, const char *s) {
    assert_int_equal(tu_write_file(path, s, strlen(s)), 0);
}

/* 3 images of 2x3 with pixel value 10*i + k, labels 0 2 1. */
static const unsigned char PIX[18] = {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 255, 21, 22, 23, 24, 25};
static const unsigned char LAB[3] = {0, 2, 1};

static void write_small(const char *dir, const char *prefix, int gz) {
    char p[256];
    uint32_t d3[3] = {3, 2, 3}, d1[1] = {3};
    snprintf(p, sizeof p, "%s-images-idx3-ubyte%s", prefix, gz ? ".gz" : "");
    write_idx(in(dir, p), gz, 0x803, d3, 3, PIX, sizeof PIX);
    snprintf(p, sizeof p, "%s-labels-idx1-ubyte%s", prefix, gz ? ".gz" : "");
    write_idx(in(dir, p), gz, 0x801, d1, 1, LAB, sizeof LAB);
}

static void check_small(const mn_dataset *d) {
    assert_int_equal(d->n, 3);
    assert_int_equal(d->c, 1);
    assert_int_equal(d->h, 2);
    assert_int_equal(d->w, 3);
    assert_int_equal(d->nclass, 3);
    for (int i = 0; i < 18; i++) assert_true(d->x[i] == (float)PIX[i] / 255.0f);
    for (int i = 0; i < 3; i++) assert_int_equal(d->y[i], LAB[i]);
}

static void test_idx_raw(void **state) {
    (void)state;
    const char *dir = subdir("idx_raw");
    write_small(dir, "train", 0);
    mn_dataset d;
    assert_int_equal(mn_data_load_idx(in(dir, "train-images-idx3-ubyte"),
                                      in(dir, "train-labels-idx1-ubyte"), &d), MN_OK);
    check_small(&d);
    mn_dataset_free(&d);
    assert_null(d.x);
    assert_int_equal(mn_data_load(dir, "train", &d), MN_OK);
    check_small(&d);
    mn_dataset_free(&d);
}

static void test_idx_gzip(void **state) {
    (void)state;
    const char *dir = subdir("idx_gz");
    write_small(dir, "val", 1);
    write_small(dir, "t10k", 1);
    mn_dataset d;
    assert_int_equal(mn_data_load(dir, "val", &d), MN_OK);
    check_small(&d);
    mn_dataset_free(&d);
    /* "test" falls back to the official t10k-* names. */
    assert_int_equal(mn_data_load(dir, "test", &d), MN_OK);
    check_small(&d);
    mn_dataset_free(&d);
}

static void test_idx_truncated(void **state) {
    (void)state;
    const char *dir = subdir("idx_trunc");
    uint32_t d3[3] = {3, 2, 3}, d1[1] = {3};
    for (int gz = 0; gz < 2; gz++) {
        char img[768];
        snprintf(img, sizeof img, "%s", in(dir, gz ? "a-images.gz" : "a-images"));
        write_idx(img, gz, 0x803, d3, 3, PIX, sizeof PIX - 1);
        write_idx(in(dir, "a-labels"), 0, 0x801, d1, 1, LAB, 3);
        mn_dataset d;
        assert_int_equal(mn_data_load_idx(img, in(dir, "a-labels"), &d), MN_EFORMAT);
        assert_non_null(strstr(mn_errmsg(), "a-images"));
        assert_null(d.x);
        /* Labels short by one. */
        write_idx(img, gz, 0x803, d3, 3, PIX, sizeof PIX);
        write_idx(in(dir, "a-labels"), gz, 0x801, d1, 1, LAB, 2);
        assert_int_equal(mn_data_load_idx(img, in(dir, "a-labels"), &d), MN_EFORMAT);
        /* Header cut mid-way. */
        write_idx(img, gz, 0x803, d3, 1, NULL, 0);
        assert_int_equal(mn_data_load_idx(img, in(dir, "a-labels"), &d), MN_EFORMAT);
    }
    /* A gzip stream cut short is corrupt, not silently short. */
    const char *img = in(dir, "b-images.gz");
    write_idx(img, 1, 0x803, d3, 3, PIX, sizeof PIX);
    FILE *f = fopen(img, "rb");
    unsigned char buf[256];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(tu_write_file(img, buf, n - 12), 0);
    write_idx(in(dir, "b-labels"), 0, 0x801, d1, 1, LAB, 3);
    mn_dataset d;
    assert_int_equal(mn_data_load_idx(img, in(dir, "b-labels"), &d), MN_EFORMAT);
}

static void test_idx_trailing(void **state) {
    (void)state;
    const char *dir = subdir("idx_trail");
    uint32_t d3[3] = {2, 2, 3}, d1[1] = {2};
    write_idx(in(dir, "i"), 0, 0x803, d3, 3, PIX, 18);
    write_idx(in(dir, "l"), 0, 0x801, d1, 1, LAB, 2);
    mn_dataset d;
    assert_int_equal(mn_data_load_idx(in(dir, "i"), in(dir, "l"), &d), MN_EFORMAT);
}

static void test_idx_bad_magic(void **state) {
    (void)state;
    const char *dir = subdir("idx_magic");
    uint32_t d3[3] = {3, 2, 3}, d1[1] = {3};
    write_idx(in(dir, "i"), 0, 0x801, d3, 3, PIX, 18);
    write_idx(in(dir, "l"), 0, 0x801, d1, 1, LAB, 3);
    mn_dataset d;
    assert_int_equal(mn_data_load_idx(in(dir, "i"), in(dir, "l"), &d), MN_EFORMAT);
    assert_non_null(strstr(mn_errmsg(), "magic"));
    write_idx(in(dir, "i"), 0, 0x803, d3, 3, PIX, 18);
    write_idx(in(dir, "l"), 0, 0x803, d1, 1, LAB, 3);
    assert_int_equal(mn_data_load_idx(in(dir, "i"), in(dir, "l"), &d), MN_EFORMAT);
    /* Not an IDX file at all, and an empty one. */
    write_text(in(dir, "i"), "hello world, this is text\n");
    assert_int_equal(mn_data_load_idx(in(dir, "i"), in(dir, "l"), &d), MN_EFORMAT);
    write_text(in(dir, "i"), "");
    assert_int_equal(mn_data_load_idx(in(dir, "i"), in(dir, "l"), &d), MN_EFORMAT);
    /* A zero dimension. */
    uint32_t z[3] = {3, 0, 3};
    write_idx(in(dir, "i"), 0, 0x803, z, 3, NULL, 0);
    assert_int_equal(mn_data_load_idx(in(dir, "i"), in(dir, "l"), &d), MN_EFORMAT);
}

static void test_idx_count_mismatch(void **state) {
    (void)state;
    const char *dir = subdir("idx_count");
    uint32_t d3[3] = {3, 2, 3}, d1[1] = {2};
    write_idx(in(dir, "i"), 0, 0x803, d3, 3, PIX, 18);
    write_idx(in(dir, "l"), 0, 0x801, d1, 1, LAB, 2);
    mn_dataset d;
    assert_int_equal(mn_data_load_idx(in(dir, "i"), in(dir, "l"), &d), MN_EFORMAT);
    assert_non_null(strstr(mn_errmsg(), "labels"));
}

static void test_idx_huge_dims(void **state) {
    (void)state;
    const char *dir = subdir("idx_huge");
    uint32_t d1[1] = {3};
    write_idx(in(dir, "l"), 0, 0x801, d1, 1, LAB, 3);
    const uint32_t dims[][3] = {
        {0xffffffffu, 0xffffffffu, 0xffffffffu}, /* overflows size_t */
        {0x7fffffffu, 28, 28},                   /* far past the cap */
        {2000000, 28, 28},                       /* 1.5 GB declared, 18 bytes held */
    };
    double t0 = mn_now();
    for (int k = 0; k < 3; k++)
        for (int gz = 0; gz < 2; gz++) {
            char img[768];
            snprintf(img, sizeof img, "%s", in(dir, gz ? "i.gz" : "i"));
            write_idx(img, gz, 0x803, dims[k], 3, PIX, 18);
            mn_dataset d;
            assert_int_equal(mn_data_load_idx(img, in(dir, "l"), &d), MN_EFORMAT);
            assert_null(d.x);
        }
    assert_true(mn_now() - t0 < 2.0);
}

static void test_missing(void **state) {
    (void)state;
    const char *dir = subdir("missing");
    mn_dataset d;
    assert_int_equal(mn_data_load(dir, "train", &d), MN_EIO);
    assert_non_null(strstr(mn_errmsg(), "train-images-idx3-ubyte"));
    assert_int_equal(mn_data_load(in(dir, "nope"), "train", &d), MN_EIO);
    assert_int_equal(mn_data_load_idx(in(dir, "x"), in(dir, "y"), &d), MN_EIO);
    /* Images without labels names the labels file it wanted. */
    uint32_t d3[3] = {3, 2, 3};
    write_idx(in(dir, "val-images-idx3-ubyte"), 0, 0x803, d3, 3, PIX, 18);
    assert_int_equal(mn_data_load(dir, "val", &d), MN_EIO);
    assert_non_null(strstr(mn_errmsg(), "val-labels-idx1-ubyte"));
}

static void test_csv_valid(void **state) {
    (void)state;
    const char *dir = subdir("csv_ok");
    /* CRLF, a label column not first, and no final newline. */
    write_text(in(dir, "train.csv"), "a, Label ,b\r\n1.5,2,-3\r\n0,0,1e-3\r\n 4 , 7 , 5");
    mn_dataset d;
    assert_int_equal(mn_data_load(dir, "train", &d), MN_OK);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.c, 2);
    assert_int_equal(d.h, 1);
    assert_int_equal(d.w, 1);
    assert_int_equal(d.nclass, 8);
    const float x[6] = {1.5f, -3, 0, 1e-3f, 4, 5};
    const int32_t y[3] = {2, 0, 7};
    for (int i = 0; i < 6; i++) assert_true(d.x[i] == x[i]);
    for (int i = 0; i < 3; i++) assert_int_equal(d.y[i], y[i]);
    mn_dataset_free(&d);
    /* Without a "label" header the load is refused (no silent guess of a
     * column); --label names it or gives its index.  Blank trailing lines are fine. */
    write_text(in(dir, "val.csv"), "y,f1\n3,0.25\n1,0.5\n\n");
    assert_int_equal(mn_data_load(dir, "val", &d), MN_EARG);
    assert_non_null(strstr(mn_errmsg(), "header: y,f1"));
    assert_non_null(strstr(mn_errmsg(), "--label"));
    assert_int_equal(mn_data_load_label(dir, "val", "f2", &d), MN_EARG);
    assert_int_equal(mn_data_load_label(dir, "val", "0", &d), MN_OK);
    assert_int_equal(d.y[0], 3);
    mn_dataset_free(&d);
    assert_int_equal(mn_data_load_label(dir, "val", "Y", &d), MN_OK);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.c, 1);
    assert_int_equal(d.y[0], 3);
    assert_true(d.x[1] == 0.5f);
    mn_dataset_free(&d);
    assert_int_equal(mn_data_load_csv(in(dir, "val.csv"), 5, &d), MN_EARG);
}

static mn_status load_text_csv(const char *text) {
    const char *p = in(subdir("csv_bad"), "t.csv");
    write_text(p, text);
    mn_dataset d;
    mn_status st = mn_data_load_csv(p, 0, &d);
    if (st == MN_OK) mn_dataset_free(&d);
    else assert_null(d.x);
    return st;
}

static void test_csv_ragged(void **state) {
    (void)state;
    assert_int_equal(load_text_csv("label,a,b\n1,2,3\n1,2\n"), MN_EFORMAT);
    assert_non_null(strstr(mn_errmsg(), "line 3"));
    assert_int_equal(load_text_csv("label,a,b\n1,2,3,4\n"), MN_EFORMAT);
    assert_non_null(strstr(mn_errmsg(), "line 2"));
    assert_int_equal(load_text_csv("label,a,b\n1,,3\n"), MN_EFORMAT);
}

static void test_csv_bad_label(void **state) {
    (void)state;
    assert_int_equal(load_text_csv("label,a\n0,1\n-1,2\n"), MN_EFORMAT);
    assert_non_null(strstr(mn_errmsg(), "label out of range at line 3"));
    assert_int_equal(load_text_csv("label,a\n1.5,2\n"), MN_EFORMAT);
    assert_non_null(strstr(mn_errmsg(), "line 2"));
    assert_int_equal(load_text_csv("label,a\ncat,2\n"), MN_EFORMAT);
    assert_int_equal(load_text_csv("label,a\n,2\n"), MN_EFORMAT);
    assert_int_equal(load_text_csv("label,a\n99999999999999999999,2\n"), MN_EFORMAT);
}

static void test_csv_nonfinite(void **state) {
    (void)state;
    assert_int_equal(load_text_csv("label,a\n1,nan\n"), MN_EFORMAT);
    assert_int_equal(load_text_csv("label,a\n1,inf\n"), MN_EFORMAT);
    assert_int_equal(load_text_csv("label,a\n1,1e999\n"), MN_EFORMAT);
    assert_int_equal(load_text_csv("label,a\n1,abc\n"), MN_EFORMAT);
    assert_int_equal(load_text_csv("label,a\n1,2x\n"), MN_EFORMAT);
}

static void test_csv_empty(void **state) {
    (void)state;
    assert_int_equal(load_text_csv(""), MN_EFORMAT);
    assert_int_equal(load_text_csv("label,a,b\n"), MN_EFORMAT);
    assert_int_equal(load_text_csv("label,a,b"), MN_EFORMAT);
    assert_int_equal(load_text_csv("label\n1\n"), MN_EFORMAT);
    assert_int_equal(load_text_csv("\n1,2\n"), MN_EFORMAT);
    mn_dataset d;
    assert_int_equal(mn_data_load_csv(in(subdir("csv_bad"), "none.csv"), 0, &d), MN_EIO);
}

/* n CIFAR records; record r has label labels[r] and pixel k = (r + k) & 255. */
static void write_cifar(const char *path, int n, const unsigned char *labels, size_t extra) {
    size_t len = (size_t)n * 3073 + extra;
    unsigned char *b = calloc(len ? len : 1, 1);
    assert_non_null(b);
    for (int r = 0; r < n; r++) {
        b[r * 3073] = labels[r];
        for (int k = 0; k < 3072; k++) b[r * 3073 + 1 + k] = (unsigned char)(r + k);
    }
    assert_int_equal(tu_write_file(path, b, len), 0);
    free(b);
}

static void test_cifar(void **state) {
    (void)state;
    const char *dir = subdir("cifar");
    const unsigned char l1[2] = {3, 9}, l2[1] = {0};
    write_cifar(in(dir, "data_batch_1.bin"), 2, l1, 0);
    write_cifar(in(dir, "data_batch_2.bin"), 1, l2, 0);
    write_cifar(in(dir, "test_batch.bin"), 1, l1, 0);
    mn_dataset d;
    assert_int_equal(mn_data_load(dir, "train", &d), MN_OK);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.c, 3);
    assert_int_equal(d.h, 32);
    assert_int_equal(d.w, 32);
    assert_int_equal(d.nclass, 10);
    assert_int_equal(d.y[0], 3);
    assert_int_equal(d.y[1], 9);
    assert_int_equal(d.y[2], 0);
    assert_true(d.x[3072 + 1024] == (float)((1 + 1024) & 255) / 255.0f);
    assert_true(d.x[2 * 3072 + 5] == 5 / 255.0f);
    mn_dataset_free(&d);
    assert_int_equal(mn_data_load(dir, "test", &d), MN_OK);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.nclass, 4);
    mn_dataset_free(&d);
}

static void test_cifar_bad(void **state) {
    (void)state;
    const char *dir = subdir("cifar_bad");
    const unsigned char ok[2] = {1, 2}, bad[2] = {1, 10};
    const char *p = in(dir, "b.bin");
    const char *paths[1] = {p};
    mn_dataset d;
    write_cifar(p, 2, ok, 1);
    assert_int_equal(mn_data_load_cifar(paths, 1, &d), MN_EFORMAT);
    assert_non_null(strstr(mn_errmsg(), "b.bin"));
    write_cifar(p, 0, ok, 0);
    assert_int_equal(mn_data_load_cifar(paths, 1, &d), MN_EFORMAT);
    write_cifar(p, 1, ok, 3072 + 3073 - 1);
    assert_int_equal(mn_data_load_cifar(paths, 1, &d), MN_EFORMAT);
    write_cifar(p, 2, bad, 0);
    assert_int_equal(mn_data_load_cifar(paths, 1, &d), MN_EFORMAT);
    assert_non_null(strstr(mn_errmsg(), "label 10"));
    assert_null(d.x);
    paths[0] = in(dir, "missing.bin");
    assert_int_equal(mn_data_load_cifar(paths, 1, &d), MN_EIO);
}

static void test_shuffle(void **state) {
    (void)state;
    enum { N = 1000 };
    static int a[N], b[N], seen[N];
    mn_rng r1, r2;
    mn_rng_seed(&r1, 42);
    mn_rng_seed(&r2, 42);
    mn_data_shuffle(a, N, &r1);
    mn_data_shuffle(b, N, &r2);
    int moved = 0;
    for (int i = 0; i < N; i++) {
        assert_true(a[i] >= 0 && a[i] < N);
        assert_int_equal(seen[a[i]]++, 0);
        assert_int_equal(a[i], b[i]);
        moved += a[i] != i;
    }
    assert_true(moved > N / 2);
    mn_rng_seed(&r2, 43);
    mn_data_shuffle(b, N, &r2);
    assert_true(memcmp(a, b, sizeof a) != 0);
    mn_data_shuffle(b, 0, &r2);
    mn_data_shuffle(b, 1, &r2);
    assert_int_equal(b[0], 0);
}

static void test_gather_stats(void **state) {
    (void)state;
    /* 3 samples of 2 channels x 1x2. */
    float x[12] = {0, 1, 10, 10, 2, 3, 20, 20, 4, 5, 30, 30};
    int32_t y[3] = {0, 1, 2};
    mn_dataset d = {.n = 3, .c = 2, .h = 1, .w = 2, .nclass = 3, .x = x, .y = y};
    float mean[2], std[2];
    mn_data_stats(&d, mean, std);
    assert_float_equal(mean[0], 2.5f, 1e-6);
    assert_float_equal(std[0], sqrtf(17.5f / 6), 1e-6);
    assert_float_equal(mean[1], 20.0f, 1e-6);
    assert_float_equal(std[1], sqrtf(200.0f / 3), 1e-5);
    int idx[2] = {2, 0};
    float bx[8];
    int32_t by[2];
    mn_data_gather(&d, idx, 2, bx, by);
    assert_int_equal(by[0], 2);
    assert_int_equal(by[1], 0);
    assert_true(bx[0] == 4 && bx[3] == 30 && bx[4] == 0 && bx[7] == 10);
}

/* Reference shift, out of place. */
static void shift_ref(const float *src, float *dst, int h, int w, int dx, int dy) {
    for (int yy = 0; yy < h; yy++)
        for (int xx = 0; xx < w; xx++) {
            int sy = yy - dy, sx = xx - dx;
            dst[yy * w + xx] = sy >= 0 && sy < h && sx >= 0 && sx < w ? src[sy * w + sx] : 0;
        }
}

static void test_shift(void **state) {
    (void)state;
    enum { B = 40, C = 3, H = 5, W = 7, M = 3 };
    static float x[B * C * H * W], orig[B * C * H * W], ref[H * W];
    mn_rng r;
    mn_rng_seed(&r, 7);
    for (int i = 0; i < B * C * H * W; i++) orig[i] = x[i] = mn_rng_uniform(&r) + 0.01f;
    mn_data_augment_shift(x, B, C, H, W, 0, &r);
    assert_memory_equal(x, orig, sizeof x);

    mn_data_augment_shift(x, B, C, H, W, M, &r);
    int shifted = 0;
    for (int b = 0; b < B; b++) {
        /* Exactly one (dx, dy) in range explains every channel of the image. */
        int matches = 0;
        for (int dy = -M; dy <= M; dy++)
            for (int dx = -M; dx <= M; dx++) {
                int all = 1;
                for (int c = 0; c < C && all; c++) {
                    size_t off = ((size_t)b * C + c) * H * W;
                    shift_ref(orig + off, ref, H, W, dx, dy);
                    all = memcmp(ref, x + off, sizeof ref) == 0;
                }
                matches += all;
                shifted += all && (dx || dy);
            }
        assert_int_equal(matches, 1);
        double before = 0, after = 0;
        for (int i = 0; i < C * H * W; i++) {
            before += orig[b * C * H * W + i];
            after += x[b * C * H * W + i];
        }
        assert_true(after <= before + 1e-9);
    }
    assert_true(shifted > B / 2);

    /* A single bright pixel lands exactly once or falls off, never multiplies. */
    float one[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0};
    for (int t = 0; t < 50; t++) {
        float img[9];
        memcpy(img, one, sizeof img);
        mn_data_augment_shift(img, 1, 1, 3, 3, 4, &r);
        float s = 0;
        for (int i = 0; i < 9; i++) {
            assert_true(img[i] == 0 || img[i] == 1);
            s += img[i];
        }
        assert_true(s <= 1);
    }
}

static void test_real_mnist(void **state) {
    (void)state;
    const char *dir = tu_mnist_dir();
    if (!dir) skip();
    mn_dataset d;
    double t0 = mn_now();
    assert_int_equal(mn_data_load(dir, "train", &d), MN_OK);
    double dt = mn_now() - t0;
    assert_int_equal(d.n, 7000);
    assert_int_equal(d.c, 1);
    assert_int_equal(d.h, 28);
    assert_int_equal(d.w, 28);
    assert_int_equal(d.nclass, 10);
    float mean, std;
    mn_data_stats(&d, &mean, &std);
    assert_true(mean > 0.1f && mean < 0.15f); /* MNIST's mean is about 0.13 */
    assert_true(std > 0.28f && std < 0.33f);
    mn_dataset_free(&d);
    assert_int_equal(mn_data_load(dir, "val", &d), MN_OK);
    assert_int_equal(d.n, 1000);
    assert_int_equal(d.nclass, 10);
    mn_dataset_free(&d);
    assert_true(dt < 5.0); /* generous: sanitizer builds are slow */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_raw),
        cmocka_unit_test(test_idx_gzip),
        cmocka_unit_test(test_idx_truncated),
        cmocka_unit_test(test_idx_trailing),
        cmocka_unit_test(test_idx_bad_magic),
        cmocka_unit_test(test_idx_count_mismatch),
        cmocka_unit_test(test_idx_huge_dims),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_csv_valid),
        cmocka_unit_test(test_csv_ragged),
        cmocka_unit_test(test_csv_bad_label),
        cmocka_unit_test(test_csv_nonfinite),
        cmocka_unit_test(test_csv_empty),
        cmocka_unit_test(test_cifar),
        cmocka_unit_test(test_cifar_bad),
        cmocka_unit_test(test_shuffle),
        cmocka_unit_test(test_gather_stats),
        cmocka_unit_test(test_shift),
        cmocka_unit_test(test_real_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
