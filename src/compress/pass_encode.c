/* The encode pass: Huffman-codes (or un-codes) the codebook layers.
 * Options are `minnow encode`'s. */
#include "compress/pass_impl.h"
#include "minnow/cluster.h"

typedef struct encode_opts {
    mn_pass_base b;
    int huffman, plain;
} encode_opts;

static const mn_pass_opt OPTS[] = {
    {"huffman", MN_OPT_BOOL, offsetof(encode_opts, huffman), 0, 1, 0, 0, NULL, "Huffman-code the streams", 0, 0, 0},
    {"plain", MN_OPT_BOOL, offsetof(encode_opts, plain), 0, 1, 0, 0, NULL, "undo it: fixed-width fields", 0, 0, 0},
};

static void defaults(void *v) { ((encode_opts *)v)->huffman = 1; }

static mn_status finish(void *v) {
    encode_opts *o = v;
    int h = mn_pass_opt_given(&mn_pass_encode, o, "huffman");
    if (h && o->huffman && o->plain) return mn_error(MN_EARG, "give one of 'huffman' or 'plain'");
    if (o->plain) o->huffman = 0;
    return MN_OK;
}

static int needs_train(const void *v) { (void)v; return 0; }

#define NONE "the model has no codebook layers (a quantize pass must come first)"

static mn_status check(const void *v, const mn_graph *g, mn_pass_state *s) {
    (void)v; (void)g;
    return s->codebooks ? MN_OK : mn_error(MN_EARG, NONE);
}

static mn_status run(const void *v, mn_graph *g, const mn_pass_env *env) {
    const encode_opts *o = v;
    (void)env;
    int n = 0;
    mn_status st = mn_graph_codebook_huffman(g, o->huffman, &n);
    return st ? st : n ? MN_OK : mn_error(MN_EARG, NONE);
}

const mn_pass_def mn_pass_encode = {"encode", "", 1, OPTS, 2, sizeof(encode_opts), defaults, finish, needs_train,
                                    NULL, check, run};
