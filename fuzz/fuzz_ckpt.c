/* libFuzzer target: the training checkpoint reader (mn_checkpoint_load_mem).
 * A checkpoint that loads must save again, and saving is a fixpoint.
 * Input: one flag byte (bit 0: re-seal the length, CRCs and the embedded
 * model's CRCs first), then the file. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "minnow/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 1) return 0;
    int seal = d[0] & 1;
    uint8_t *buf = malloc(n);
    FZ_CHECK(buf);
    memcpy(buf, d + 1, n - 1);
    n -= 1;
    if (seal) fz_seal_ckpt(buf, n);
    mn_graph g;
    mn_checkpoint ck;
    mn_status st = mn_checkpoint_load_mem(buf, n, &g, &ck);
    free(buf);
    fz_check_errmsg(st);
    if (st != MN_OK) {
        FZ_CHECK(g.nnodes == 0 && g.w == NULL && ck.log == NULL && ck.nlog == 0);
        return 0;
    }
    FZ_CHECK(ck.state.epoch >= 0 && ck.state.epoch <= ck.run.epochs && ck.nlog <= MN_CKPT_LOG_MAX);
    unsigned char *b1, *b2;
    size_t l1, l2;
    FZ_CHECK(mn_checkpoint_save_mem(&g, &ck.run, &ck.state, ck.log, ck.nlog, &b1, &l1) == MN_OK);
    mn_graph g2;
    mn_checkpoint ck2;
    FZ_CHECK(mn_checkpoint_load_mem(b1, l1, &g2, &ck2) == MN_OK);
    FZ_CHECK(mn_checkpoint_save_mem(&g2, &ck2.run, &ck2.state, ck2.log, ck2.nlog, &b2, &l2) == MN_OK);
    FZ_CHECK(l1 == l2 && memcmp(b1, b2, l1) == 0);
    free(b1);
    free(b2);
    mn_graph_free(&g2);
    mn_checkpoint_free(&ck2);
    mn_graph_free(&g);
    mn_checkpoint_free(&ck);
    return 0;
}
