/* libFuzzer target: the CSV reader.
 * Input: one flag byte, then the file.  Flag bit 3 clear: the file goes to
 * mn_data_load_csv with the label column in bits 0..2.  Bit 3 set: the
 * file is DIR/train.csv and mn_data_load(DIR, "train") reads it, so the
 * label column is found from the header ("label", any case, quotes). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "minnow/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static char g_dir[64], g_file[96];

static void rm_dir(void) {
    remove(g_file);
    rmdir(g_dir);
}

/* A private directory in memory (tmpfs), removed at exit. */
static const char *csv_dir(void) {
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "/dev/shm/minnow-fuzz-%ld", (long)getpid());
        snprintf(g_file, sizeof g_file, "%s/train.csv", g_dir);
        if (mkdir(g_dir, 0700) != 0) fz_fail(__FILE__, __LINE__, "mkdir");
        atexit(rm_dir);
    }
    return g_dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 1) return 0;
    int by_dir = (d[0] & 8) != 0, label_col = d[0] & 7;
    mn_dataset ds;
    mn_status st;
    if (by_dir) {
        const char *dir = csv_dir();
        FILE *f = fopen(g_file, "wb");
        FZ_CHECK(f);
        FZ_CHECK(fwrite(d + 1, 1, n - 1, f) == n - 1 && fclose(f) == 0);
        st = mn_data_load(dir, "train", &ds);
    } else {
        st = mn_data_load_csv(fz_memfile(0, d + 1, n - 1), label_col, &ds);
    }
    fz_check_errmsg(st);
    if (st != MN_OK) {
        FZ_CHECK(ds.x == NULL && ds.y == NULL && ds.n == 0);
        return 0;
    }
    FZ_CHECK(ds.n > 0 && ds.c > 0 && ds.h == 1 && ds.w == 1);
    /* Every value has at least one character and a separator in the file. */
    FZ_CHECK((int64_t)ds.n * ds.c <= (int64_t)n);
    FZ_CHECK(ds.nclass >= 1 && ds.nclass <= 65536);
    for (int64_t i = 0; i < (int64_t)ds.n * ds.c; i++) FZ_CHECK(isfinite(ds.x[i]));
    for (int i = 0; i < ds.n; i++) FZ_CHECK(ds.y[i] >= 0 && ds.y[i] < ds.nclass);
    mn_dataset_free(&ds);
    return 0;
}
