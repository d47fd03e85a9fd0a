/* minnow cluster: k-means weight sharing (Deep Compression, Han et al. 2016)
 * and the codebook storage kind that keeps its result.
 *
 * Weight sharing replaces every weight of a layer by the nearest of k = 2^bits
 * shared values (centroids), found by 1-D k-means from a linear
 * initialisation over [min, max].  Exact zeros (pruned weights) are not
 * clustered: they stay zero.  The centroids are then fine-tuned on the data:
 * the gradient of a centroid is the sum of the gradients of its weights.
 *
 * The codebook store (MN_ST_CODEBOOK) keeps k f32 centroids plus one
 * `bits`-bit index per stored weight.  A layer with zeros may be stored
 * sparse: only its nonzeros get an index, and their positions are kept as
 * relative gaps of `gap_bits` bits along the row-major weight (with filler
 * codes for longer gaps), as Deep Compression does.  Either stream may be
 * Huffman-coded (src/store/huffman.h).  The file form is in
 * docs/DEEP_COMPRESSION.md. */
#ifndef MINNOW_CLUSTER_H
#define MINNOW_CLUSTER_H

#include "minnow/data.h"
#include "minnow/graph.h"
#include "minnow/train.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MN_KMEANS_MAX_BITS 8

/* 1-D k-means of x[0..n) into k (1..256) centroids, linearly initialised
 * over [min x, max x], at most `iters` Lloyd iterations (stops early when
 * nothing moves).  Writes the k centroids in ascending order and, if assign is
 * non-NULL, each value's nearest centroid.  n = 0 gives k zeros. */
mn_status mn_kmeans_1d(const float *x, int64_t n, int k, int iters,
                       float *centroids, uint8_t *assign);

/* Huffman-codes (or, with huffman = 0, un-codes) every codebook store of g;
 * *nstores (may be NULL) gets how many there were. */
mn_status mn_graph_codebook_huffman(mn_graph *g, int huffman, int *nstores);

/* ---- weight sharing on a graph ---- */

typedef struct mn_kmeans_cfg {
    int bits;               /* every dense/conv weight, 1..8 (0: none) */
    const char *layer_bits; /* per-layer overrides "fc1=6,conv1=8" by node
                               name; 0 leaves a layer as it is; NULL: none */
    int iters;              /* Lloyd iterations (default 50) */
    int huffman;            /* Huffman-code the stores */
    /* Centroid fine-tuning on `train` (skipped when epochs = 0 or no data):
     * Adam on the centroids at lr, biases (and other non-weight
     * parameters) at bias_lr; other weights stay frozen. */
    int epochs, batch;
    float lr, bias_lr;
    uint64_t seed;
    void (*on_progress)(void *ud, const mn_progress *p);
    void (*on_epoch)(void *ud, const mn_epoch_stats *s);
    void *ud;
} mn_kmeans_cfg;

/* bits 5, iters 50, no Huffman, no fine-tuning (epochs 0), batch 60,
 * lr 1e-3, bias_lr 1e-4, seed 1. */
void mn_kmeans_default(mn_kmeans_cfg *c);

/* Shares the weights of every dense/conv layer of g as c says and attaches
 * codebook stores.  Layers already holding a store of another kind are
 * decoded from it (g->w) and re-stored.  val may be NULL. */
mn_status mn_quantize_kmeans(mn_graph *g, const mn_kmeans_cfg *c,
                             const mn_dataset *train, const mn_dataset *val);

/* Bits for node `name` from a "name=bits,..." spec (def if absent); -1 with
 * a message for a malformed spec. */
int mn_kmeans_layer_bits(const char *spec, const char *name, int def);
/* MN_EARG unless spec (NULL is fine) is well formed and names only dense
 * or conv nodes of g; mn_quantize_kmeans checks this first. */
mn_status mn_kmeans_check_spec(const mn_graph *g, const char *spec);

#ifdef __cplusplus
}
#endif
#endif
