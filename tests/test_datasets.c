/* Data sets by name (minnow/datasets.h): MD5, lookup order, splits with the
 * held-out val, checks of files against published checksums. */
#include "testutil.h"

#include "data/fetch_impl.h"
#include "minnow/datasets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static const char *path_in(const char *dir, const char *file) {
    static char buf[4][768];
    static int k;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, file);
    return buf[k];
}

static const char *mkdirs(const char *rel) {
    static char buf[4][512];
    static int k;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tu_tmpdir(), rel);
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", buf[k]);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') { *p = 0; mkdir(tmp, 0700); *p = '/'; }
    mkdir(tmp, 0700);
    return buf[k];
}

static void test_md5(void **state) {
    (void)state;
    const char *d = mkdirs("md5");
    char hex[33];
    assert_int_equal(tu_write_file(path_in(d, "empty"), "", 0), 0);
    assert_int_equal(mn_md5_file(path_in(d, "empty"), 0, hex), MN_OK);
    assert_string_equal(hex, "d41d8cd98f00b204e9800998ecf8427e");
    const char *fox = "The quick brown fox jumps over the lazy dog";
    assert_int_equal(tu_write_file(path_in(d, "fox"), fox, strlen(fox)), 0);
    assert_int_equal(mn_md5_file(path_in(d, "fox"), 0, hex), MN_OK);
    assert_string_equal(hex, "9e107d9d372bb6826bd81d3542a419d6");
    /* 1 MB of one byte: many blocks, a tail, padding across a block. */
    size_t n = 1000000;
    char *a = malloc(n);
    assert_non_null(a);
    memset(a, 'a', n);
    assert_int_equal(tu_write_file(path_in(d, "a1m"), a, n), 0);
    assert_int_equal(mn_md5_file(path_in(d, "a1m"), 0, hex), MN_OK);
    assert_string_equal(hex, "7707d6ae4e027c70eea2a935c2296f21");
    gzFile g = gzopen(path_in(d, "fox.gz"), "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, fox, (unsigned)strlen(fox)), (int)strlen(fox));
    gzclose(g);
    assert_int_equal(mn_md5_file(path_in(d, "fox.gz"), 1, hex), MN_OK);
    assert_string_equal(hex, "9e107d9d372bb6826bd81d3542a419d6");
    free(a);
    assert_int_equal(mn_md5_file(path_in(d, "nope"), 0, hex), MN_EIO);
}

/* A CSV with n rows whose label is the row index % 3 and feature = index. */
static void write_rows(const char *path, int n) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "x,label\n");
    for (int i = 0; i < n; i++) fprintf(f, "%d,%d\n", i, i % 3);
    fclose(f);
}

static void test_splits(void **state) {
    (void)state;
    /* train + test only: val is every 10th sample of train, train the rest. */
    const char *d = mkdirs("splits/a");
    write_rows(path_in(d, "train.csv"), 95);
    write_rows(path_in(d, "test.csv"), 7);
    assert_true(mn_data_has_split(d, "train"));
    assert_false(mn_data_has_split(d, "val"));
    mn_dataset ds;
    mn_split_info si;
    assert_int_equal(mn_data_load_split(d, "val", NULL, &ds, &si), MN_OK);
    assert_int_equal(ds.n, 9);
    assert_int_equal(si.of, 95);
    assert_true(si.held_out);
    for (int i = 0; i < ds.n; i++) assert_true(ds.x[i] == (float)(10 * i + 9));
    assert_int_equal(ds.nclass, 3);
    mn_dataset_free(&ds);
    assert_int_equal(mn_data_load_split(d, "train", NULL, &ds, &si), MN_OK);
    assert_int_equal(ds.n, 86);
    for (int i = 0; i < ds.n; i++) assert_true((int)ds.x[i] % 10 != 9);
    mn_dataset_free(&ds);
    assert_int_equal(mn_data_load_split(d, "test", NULL, &ds, &si), MN_OK);
    assert_int_equal(ds.n, 7);
    assert_false(si.held_out);
    mn_dataset_free(&ds);
    /* A val of its own: kept, and train is whole. */
    const char *e = mkdirs("splits/b");
    write_rows(path_in(e, "train.csv"), 95);
    write_rows(path_in(e, "val.csv"), 4);
    assert_int_equal(mn_data_load_split(e, "train", NULL, &ds, &si), MN_OK);
    assert_int_equal(ds.n, 95);
    assert_false(si.held_out);
    mn_dataset_free(&ds);
    assert_int_equal(mn_data_load_split(e, "val", NULL, &ds, NULL), MN_OK);
    assert_int_equal(ds.n, 4);
    mn_dataset_free(&ds);
    /* Too small to hold anything out. */
    const char *f = mkdirs("splits/c");
    write_rows(path_in(f, "train.csv"), 5);
    assert_int_equal(mn_data_load_split(f, "val", NULL, &ds, NULL), MN_EFORMAT);
    assert_int_equal(mn_data_load_split(f, "nope", NULL, &ds, NULL), MN_EIO);
}

static void test_lookup(void **state) {
    (void)state;
    char dir[4096];
    const char *root = mkdirs("roots/md"), *home = mkdirs("roots/home");
    const char *xdg = mkdirs("roots/xdg");
    setenv("MINNOW_DATA", root, 1);
    setenv("HOME", home, 1);
    unsetenv("XDG_DATA_HOME");
    /* Not there: the message says where it looked. */
    assert_int_equal(mn_data_find("kmnist", dir, sizeof dir), MN_EIO);
    assert_non_null(strstr(mn_errmsg(), "roots/md/kmnist"));
    assert_non_null(strstr(mn_errmsg(), "roots/home/.local/share/minnow/kmnist"));
    assert_non_null(strstr(mn_errmsg(), "minnow data fetch kmnist"));
    /* ~/.local/share/minnow/NAME, then $MINNOW_DATA/NAME first. */
    write_rows(path_in(mkdirs("roots/home/.local/share/minnow/kmnist"), "train.csv"), 20);
    assert_int_equal(mn_data_find("kmnist", dir, sizeof dir), MN_OK);
    assert_non_null(strstr(dir, "roots/home/.local/share/minnow/kmnist"));
    write_rows(path_in(mkdirs("roots/md/kmnist"), "train.csv"), 20);
    assert_int_equal(mn_data_find("kmnist", dir, sizeof dir), MN_OK);
    assert_non_null(strstr(dir, "roots/md/kmnist"));
    /* An empty directory does not count. */
    mkdirs("roots/md/mnist");
    setenv("XDG_DATA_HOME", xdg, 1);
    assert_int_equal(mn_data_find("mnist", dir, sizeof dir), MN_EIO);
    assert_non_null(strstr(mn_errmsg(), "roots/xdg/minnow/mnist"));
    assert_int_equal(mn_data_user_dir("mnist", dir, sizeof dir), MN_OK);
    assert_non_null(strstr(dir, "roots/xdg/minnow/mnist"));
    /* --data: a directory, a name, or an error naming both readings. */
    assert_int_equal(mn_data_resolve(root, dir, sizeof dir), MN_OK);
    assert_string_equal(dir, root);
    assert_int_equal(mn_data_resolve("kmnist", dir, sizeof dir), MN_OK);
    assert_non_null(strstr(dir, "roots/md/kmnist"));
    assert_int_equal(mn_data_resolve("no-such-set", dir, sizeof dir), MN_EIO);
    assert_non_null(strstr(mn_errmsg(), "fashion-mnist"));
    assert_int_equal(mn_data_resolve("/no/such/dir", dir, sizeof dir), MN_EIO);
    unsetenv("XDG_DATA_HOME");
    unsetenv("MINNOW_DATA");
}

static void test_specs(void **state) {
    (void)state;
    const mn_data_spec *s;
    int n = mn_data_specs(&s);
    assert_true(n >= 4);
    const char *need[] = {"mnist", "fashion-mnist", "kmnist", "cifar10"};
    for (int i = 0; i < 4; i++) assert_non_null(mn_data_spec_find(need[i]));
    assert_null(mn_data_spec_find("nope"));
    for (int i = 0; i < n; i++) {
        assert_non_null(s[i].mirrors[0]);
        for (int k = 0; k < s[i].nfiles; k++) {
            assert_int_equal(strlen(s[i].files[k].md5), 32);
            if (s[i].files[k].content_md5) assert_int_equal(strlen(s[i].files[k].content_md5), 32);
        }
    }
    assert_string_equal(mn_data_spec_find("mnist")->files[0].md5, "f68b3c2dcbeaaa9fbdd348bbdeb94873");
}

static void test_verify_file(void **state) {
    (void)state;
    const char *d = mkdirs("verify");
    const char *fox = "The quick brown fox jumps over the lazy dog";
    mn_data_file f = {"fox.txt", "train", "9e107d9d372bb6826bd81d3542a419d6", 43, NULL};
    int st = -1;
    assert_int_equal(mn_data_verify_file(d, &f, &st), MN_OK);
    assert_int_equal(st, 0);
    assert_int_equal(tu_write_file(path_in(d, "fox.txt"), fox, strlen(fox)), 0);
    assert_int_equal(mn_data_verify_file(d, &f, &st), MN_OK);
    assert_int_equal(st, 1);
    assert_int_equal(tu_write_file(path_in(d, "fox.txt"), "The quick brown fox jumps over the lazy cog", 43), 0);
    assert_int_equal(mn_data_verify_file(d, &f, &st), MN_EFORMAT);
    assert_non_null(strstr(mn_errmsg(), "fox.txt"));
    /* A .gz recompressed or decompressed: its content checksum decides. */
    mn_data_file g = {"fox.gz", "train", "00000000000000000000000000000000", 0, "9e107d9d372bb6826bd81d3542a419d6"};
    gzFile z = gzopen(path_in(d, "fox.gz"), "wb9");
    gzwrite(z, fox, (unsigned)strlen(fox));
    gzclose(z);
    assert_int_equal(mn_data_verify_file(d, &g, &st), MN_OK);
    assert_int_equal(st, 2);
    remove(path_in(d, "fox.gz"));
    assert_int_equal(tu_write_file(path_in(d, "fox"), fox, strlen(fox)), 0);
    assert_int_equal(mn_data_verify_file(d, &g, &st), MN_OK);
    assert_int_equal(st, 2);
    assert_int_equal(tu_write_file(path_in(d, "fox"), fox, 10), 0);
    assert_int_equal(mn_data_verify_file(d, &g, &st), MN_EFORMAT);
}

/* CIFAR-10's archive layout, made with tar: unpacked, then split. */
static void write_cifar(const char *path, int n, int first) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    unsigned char rec[3073];
    for (int i = 0; i < n; i++) {
        uint32_t x = 2654435761u * (uint32_t)(first + i + 1); /* incompressible pixels */
        for (size_t k = 1; k < sizeof rec; k++) x = x * 1664525u + 1013904223u, rec[k] = (unsigned char)(x >> 24);
        rec[0] = (unsigned char)((first + i) % 10);
        assert_int_equal(fwrite(rec, 1, sizeof rec, f), sizeof rec);
    }
    fclose(f);
}

static void test_cifar_archive(void **state) {
    (void)state;
    const char *src = mkdirs("cifar/src/cifar-10-batches-bin"), *out = mkdirs("cifar/out");
    write_cifar(path_in(src, "data_batch_1.bin"), 20, 0);
    write_cifar(path_in(src, "data_batch_2.bin"), 10, 20);
    write_cifar(path_in(src, "test_batch.bin"), 5, 100);
    assert_int_equal(tu_write_file(path_in(src, "batches.meta.txt"), "airplane\n", 9), 0);
    char cmd[2048], tgz[600];
    snprintf(tgz, sizeof tgz, "%s/cifar/a.tar.gz", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "tar czf '%s' -C '%s/cifar/src' cifar-10-batches-bin", tgz, tu_tmpdir());
    if (system(cmd) != 0) skip();
    assert_int_equal(mn__untar_bins(tgz, out), MN_OK);
    struct stat st;
    assert_int_equal(stat(path_in(out, "data_batch_2.bin"), &st), 0);
    assert_int_equal(st.st_size, 10 * 3073);
    assert_int_not_equal(stat(path_in(out, "batches.meta.txt"), &st), 0);
    assert_int_not_equal(stat(path_in(out, "data_batch_1.bin.part"), &st), 0);
    mn_dataset d;
    mn_split_info si;
    assert_int_equal(mn_data_load_split(out, "val", NULL, &d, &si), MN_OK);
    assert_int_equal(si.n, 3);
    assert_int_equal(si.of, 30);
    for (int i = 0; i < 3; i++) assert_int_equal(d.y[i], 9);
    assert_int_equal(d.c, 3);
    mn_dataset_free(&d);
    assert_int_equal(mn_data_load_split(out, "train", NULL, &d, &si), MN_OK);
    assert_int_equal(d.n, 27);
    mn_dataset_free(&d);
    assert_int_equal(mn_data_load_split(out, "test", NULL, &d, &si), MN_OK);
    assert_int_equal(d.n, 5);
    mn_dataset_free(&d);
    /* A truncated archive: an error, and no half file under a final name. */
    const char *out2 = mkdirs("cifar/out2");
    snprintf(cmd, sizeof cmd, "head -c 20000 '%s' > '%s.cut'", tgz, tgz);
    assert_int_equal(system(cmd), 0);
    strcat(tgz, ".cut");
    assert_int_not_equal(mn__untar_bins(tgz, out2), MN_OK);
    assert_int_not_equal(stat(path_in(out2, "data_batch_1.bin"), &st), 0);
    assert_int_not_equal(stat(path_in(out2, "data_batch_1.bin.part"), &st), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md5),        cmocka_unit_test(test_splits),
        cmocka_unit_test(test_lookup),     cmocka_unit_test(test_specs),
        cmocka_unit_test(test_verify_file), cmocka_unit_test(test_cifar_archive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
