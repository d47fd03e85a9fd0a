/* libFuzzer target: the CIFAR-10 batch reader (mn_data_load_cifar).
 * Input: one byte (bit 0: two batch files instead of one), a u16 length L
 * of the first file when there are two, then the file bytes. */
#include "fuzz_util.h"
#include "minnow/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 3) return 0;
    int two = d[0] & 1;
    size_t l0 = (size_t)d[1] | (size_t)d[2] << 8;
    d += 3, n -= 3;
    if (!two || l0 > n) l0 = n;
    const char *paths[2] = {fz_memfile(0, d, l0), fz_memfile(1, d + l0, n - l0)};
    mn_dataset ds;
    mn_status st = mn_data_load_cifar(paths, two ? 2 : 1, &ds);
    fz_check_errmsg(st);
    if (st != MN_OK) {
        FZ_CHECK(ds.x == NULL && ds.y == NULL && ds.n == 0);
        return 0;
    }
    FZ_CHECK(ds.c == 3 && ds.h == 32 && ds.w == 32);
    FZ_CHECK((size_t)ds.n * 3073 == n);
    FZ_CHECK(ds.nclass >= 1 && ds.nclass <= 10);
    for (int64_t i = 0; i < (int64_t)ds.n * 3072; i++) FZ_CHECK(ds.x[i] >= 0 && ds.x[i] <= 1);
    for (int i = 0; i < ds.n; i++) FZ_CHECK(ds.y[i] >= 0 && ds.y[i] < ds.nclass);
    mn_dataset_free(&ds);
    return 0;
}
