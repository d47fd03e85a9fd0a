/* libFuzzer target: the CSV reader (mn_data_load_csv).
 * Input: one byte whose low 3 bits are the label column, then the file. */
#include <math.h>

#include "fuzz_util.h"
#include "minnow/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 1) return 0;
    int label_col = d[0] & 7;
    const char *p = fz_memfile(0, d + 1, n - 1);
    mn_dataset ds;
    mn_status st = mn_data_load_csv(p, label_col, &ds);
    fz_check_errmsg(st);
    if (st != MN_OK) {
        FZ_CHECK(ds.x == NULL && ds.y == NULL && ds.n == 0);
        return 0;
    }
    FZ_CHECK(ds.n > 0 && ds.c > 0 && ds.h == 1 && ds.w == 1);
    /* Every row has at least its separators in the file. */
    FZ_CHECK((int64_t)ds.n * ds.c <= (int64_t)n);
    FZ_CHECK(ds.nclass >= 1 && ds.nclass <= 65536);
    for (int64_t i = 0; i < (int64_t)ds.n * ds.c; i++) FZ_CHECK(isfinite(ds.x[i]));
    for (int i = 0; i < ds.n; i++) FZ_CHECK(ds.y[i] >= 0 && ds.y[i] < ds.nclass);
    mn_dataset_free(&ds);
    return 0;
}
