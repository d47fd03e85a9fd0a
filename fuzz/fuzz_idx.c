/* libFuzzer target: the IDX reader (mn_data_load_idx), raw or gzip.
 *
 * Input: u16 (little-endian) length L of the images file, its L bytes, then
 * the labels file.  Built twice: fuzz_idx hands both files over as they are
 * (zlib reads plain files and, when the bytes start with the gzip magic,
 * real .gz files); fuzz_idx_gz (FUZZ_GZ) gzips each file first, so that the
 * fuzzer explores the IDX structure through the streamed gzip path. */
#include <stdlib.h>

#include "fuzz_util.h"
#include "minnow/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 2) return 0;
    size_t ilen = (size_t)d[0] | (size_t)d[1] << 8;
    d += 2, n -= 2;
    if (ilen > n) ilen = n;
    const uint8_t *img = d, *lab = d + ilen;
    size_t llen = n - ilen;
#ifdef FUZZ_GZ
    uint8_t *zi, *zl;
    size_t zin = fz_gzip(img, ilen, &zi), zln = fz_gzip(lab, llen, &zl);
    const char *ip = fz_memfile(0, zi, zin), *lp = fz_memfile(1, zl, zln);
    free(zi);
    free(zl);
#else
    const char *ip = fz_memfile(0, img, ilen), *lp = fz_memfile(1, lab, llen);
#endif
    mn_dataset ds;
    mn_status st = mn_data_load_idx(ip, lp, &ds);
    fz_check_errmsg(st);
    if (st != MN_OK) {
        /* A failed load hands back nothing. */
        FZ_CHECK(ds.x == NULL && ds.y == NULL && ds.n == 0);
        return 0;
    }
    FZ_CHECK(ds.n > 0 && ds.c == 1 && ds.h > 0 && ds.w > 0);
    FZ_CHECK(ds.nclass >= 1 && ds.nclass <= 256);
    /* Every pixel came from the file: a plain body is exactly the header's
     * size (nothing may trail it), a gzip body at most ~1032x the input. */
    int64_t total = (int64_t)ds.n * ds.h * ds.w;
#ifdef FUZZ_GZ
    int gz = 0;
#else
    int gz = ilen >= 2 && img[0] == 0x1f && img[1] == 0x8b;
#endif
    if (gz) FZ_CHECK(total <= (int64_t)ilen * 1040);
    else FZ_CHECK(total + 16 == (int64_t)ilen);
    for (int64_t i = 0; i < total; i++) FZ_CHECK(ds.x[i] >= 0 && ds.x[i] <= 1);
    for (int i = 0; i < ds.n; i++) FZ_CHECK(ds.y[i] >= 0 && ds.y[i] < ds.nclass);
    mn_dataset_free(&ds);
    return 0;
}
