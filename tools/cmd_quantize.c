/* minnow quantize: fixed-point, affine (uniform) post-training and
 * quantization-aware quantization of a model's dense/conv layers.
 *
 * Each method is one entry of `methods` below: a run function that reads its
 * options from q->a, changes q->g through the library and describes what it
 * did in q->desc (and q->rep for the per-layer table).  The common code
 * around it loads the model and data, reports val error before and after,
 * sizes, and saves atomically. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "minnow/cluster.h"
#include "minnow/io.h"
#include "minnow/quant.h"
#include "kernels/int8.h"
#include "store/affine.h"
#include "store/codebook.h"
#include "store/store.h"

typedef struct qctx {
    cli_args a;
    mn_graph g;
    const char *dir;
    mn_dataset train, val;
    int have_train, have_val;
    mn_qreport rep;
    int have_rep;
    char desc[128];       /* saved as metadata "quant" */
    char *extra;          /* a method's extra JSON members (",\"k\":v..."), malloc'd */
    int json;
} qctx;

typedef struct qmethod {
    const char *name;
    void (*run)(qctx *q);
} qmethod;

static const char *HELP =
    "usage: minnow quantize IN.mnw -o OUT.mnw --method fixed|affine|qat|kmeans [options]\n"
    "Quantizes every dense/conv layer; reports val error before/after and sizes.\n"
    "  --data DIR|NAME       data directory or data set name (default mnist), --label COL for CSV\n"
    "  --calib-split NAME    samples for calibration / training (default train)\n"
    "  --val NAME            split reported before/after, 'none' to skip (default val)\n"
    "  --json                one JSON object on stdout\n"
    "fixed (fixed point: values are multiples of 2^-F, 1+I+F bits with sign):\n"
    "  --frac-bits F         fraction bits (default 4)\n"
    "  --int-bits I          integer bits (default: per tensor, so that --coverage of\n"
    "                        its values fit; may be negative for small weights)\n"
    "  --coverage P          percent of values in range for automatic I (default 99.99)\n"
    "  --target T            weights|acts|both (default both)\n"
    "  --sweep               val error table for F = --sweep-min..--sweep-max (0..8)\n"
    "                        for weights, activations and both; -o then optional\n"
    "affine and qat (uniform, x = scale * (q - zero)):\n"
    "  --bits B              weight bits 2..8 (default 8; 4 and 2 pack 2 and 4 per byte)\n"
    "  --granularity G       channel|tensor: a scale per output unit/filter or one\n"
    "                        (default channel)\n"
    "  --scheme S            asymmetric|symmetric (zero points or none; default asymmetric)\n"
    "  --clip C              mse|minmax weight range (default mse)\n"
    "  --act-bits A          8 (integer inference, default) or 0 (f32 activations)\n"
    "  --calib K             percentile|minmax activation ranges (default percentile)\n"
    "  --percentile P        central percent kept by percentile (default 99.99)\n"
    "  --calib-batches N     batches of 64 calibration samples (default 8)\n"
    "  --layer-bits SPEC     affine: per-layer weight bits, e.g. fc1=8,conv1=0 (0: the\n"
    "                        layer stays f32), for the layers --report flags\n"
    "  --report              the PTQ debugger (any method): every layer's output in the\n"
    "                        quantized model against the float model's on the\n"
    "                        calibration split: SQNR (dB), the SQNR of the noise the\n"
    "                        layer itself adds, max |error|; flags the layer that adds\n"
    "                        most and any under 20 dB\n"
    "  --report-samples N    samples it runs (default 512)\n"
    "kmeans (weight sharing, Deep Compression; docs/DEEP_COMPRESSION.md):\n"
    "  --bits B              2^B shared values per layer, 1..8 (default 5); zeros stay\n"
    "                        zero and are not shared\n"
    "  --layer-bits SPEC     per-layer bits, e.g. fc1=6,conv1=8 (0: leave the layer)\n"
    "  --iters N             Lloyd iterations (default 50)\n"
    "  --epochs N            centroid fine-tuning epochs (default 0), --lr X centroid\n"
    "                        rate (default 1e-3), --bias-lr X (default 1e-4)\n"
    "  --huffman             Huffman-code the indices (see minnow encode)\n"
    "qat (fine-tunes with weights quantized in the forward pass, straight-through\n"
    "     gradients to float ghost weights, then stores them as affine):\n"
    "  --epochs N (default 3) --lr X (default 1e-4) and the other training options:\n";

/* Every option of every method (cli_parse rejects others). */
#define SPEC "@1 o: method: data: calib-split: val: json frac-bits: int-bits: coverage: target: sweep " \
             "sweep-min: sweep-max: bits: granularity: scheme: clip: act-bits: calib: percentile: "  \
             "calib-batches: layer-bits: iters: bias-lr: huffman report report-samples: " CLI_TRAIN_OPTS

static void need_train(qctx *q) {
    if (q->have_train) return;
    cli_load_data(q->dir, cli_str(&q->a, "calib-split", "train"), &q->train);
    q->have_train = 1;
}

static double val_error(qctx *q, mn_graph *g) {
    if (!q->have_val) return -1;
    mn_eval_result r;
    cli_check(mn_eval(g, &q->val, 250, &r));
    return r.error;
}

/* The index of v in names; a usage error (exit 2) otherwise. */
static int pick(const char *v, const char *const *names, int n, const char *opt) {
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0) return i;
    fprintf(stderr, "minnow: unknown --%s '%s' (one of:", opt, v);
    for (int i = 0; i < n; i++) fprintf(stderr, " %s", names[i]);
    fprintf(stderr, ")\n");
    exit(2);
}

static void calib_opts(qctx *q, mn_calib_cfg *c) {
    mn_calib_default(c);
    static const char *const kinds[] = {"minmax", "percentile"};
    c->kind = (mn_calib_kind)pick(cli_str(&q->a, "calib", "percentile"), kinds, 2, "calib");
    c->percentile = cli_num(&q->a, "percentile", 99.99, 50, 100);
    c->batches = (int)cli_int(&q->a, "calib-batches", 8, 1, 100000);
}

/* Runs the registry's pass for the method (as a recipe would) with the
 * options given here, on the training split when with_train; fixed, affine
 * and qat fill the per-layer report. */
static void run_pass(qctx *q, const char *method, int with_train, int kmeans) {
    mn_pass pass;
    static const char *const kmeans_defaults[] = {"bits", "5", NULL}; /* a recipe must say */
    cli_pass(&q->a, "quantize", method, kmeans ? kmeans_defaults : NULL, &pass);
    mn_pass_env env;
    static cli_log log;
    log.quiet = 0;
    cli_pass_env(&q->a, &env, &log);
    env.train = with_train && q->have_train ? &q->train : NULL;
    env.val = q->have_val ? &q->val : NULL;
    env.qreport = kmeans ? NULL : &q->rep;
    cli_check(mn_pass_run(&pass, &q->g, &env));
    mn_pass_free(&pass);
    q->have_rep = !kmeans;
}

/* ---- fixed ---- */

static void fixed_cfg(qctx *q, mn_fixed_cfg *c) {
    mn_fixed_default(c);
    c->frac_bits = (int)cli_int(&q->a, "frac-bits", 4, 0, 20);
    c->int_bits = cli_str(&q->a, "int-bits", NULL) ? (int)cli_int(&q->a, "int-bits", 0, -20, 20) : MN_FIXED_AUTO;
    c->coverage = cli_num(&q->a, "coverage", 99.99, 50, 100) / 100;
    static const char *const t[] = {"weights", "acts", "both"};
    c->target = (mn_qtarget)(1 + pick(cli_str(&q->a, "target", "both"), t, 3, "target"));
    calib_opts(q, &c->calib);
}

static void sweep(qctx *q, const mn_fixed_cfg *base) {
    int lo = (int)cli_int(&q->a, "sweep-min", 0, 0, 20), hi = (int)cli_int(&q->a, "sweep-max", 8, lo, 20);
    if (!q->have_val) cli_die("--sweep needs a validation split (--val)");
    size_t cap = 64 + (size_t)(hi - lo + 1) * 160, len = 0;
    q->extra = malloc(cap);
    if (!q->extra) cli_die("out of memory");
    len += (size_t)snprintf(q->extra, cap, ",\"sweep\":[");
    if (!q->json) printf("fixed point, val error %% (int bits per tensor for %.4g%% coverage):\n"
                         "  frac bits   weights      acts      both\n", base->coverage * 100);
    for (int f = lo; f <= hi; f++) {
        double e[3];
        for (int t = 0; t < 3; t++) {
            mn_graph c;
            cli_check(mn_graph_clone(&q->g, &c));
            mn_fixed_cfg fc = *base;
            fc.frac_bits = f;
            fc.target = (mn_qtarget)(t + 1);
            cli_check(mn_quantize_fixed(&c, &fc, &q->train, NULL));
            e[t] = val_error(q, &c);
            mn_graph_free(&c);
        }
        if (!q->json) printf("  %9d %8.2f%% %8.2f%% %8.2f%%\n", f, 100 * e[0], 100 * e[1], 100 * e[2]);
        len += (size_t)snprintf(q->extra + len, cap - len, "%s{\"frac_bits\":%d,\"weights\":%.6g,\"acts\":%.6g,\"both\":%.6g}",
                                f > lo ? "," : "", f, e[0], e[1], e[2]);
    }
    snprintf(q->extra + len, cap - len, "]");
}

static void run_fixed(qctx *q) {
    mn_fixed_cfg c;
    fixed_cfg(q, &c);
    if (c.target & MN_QT_ACTS || cli_flag(&q->a, "sweep")) need_train(q);
    if (cli_flag(&q->a, "sweep")) {
        sweep(q, &c);
        if (!cli_str(&q->a, "o", NULL)) return;
    }
    run_pass(q, "fixed", 1, 0); /* fails for weights wider than the affine store */
    snprintf(q->desc, sizeof q->desc, "fixed F=%d %s", c.frac_bits, cli_str(&q->a, "target", "both"));
}

/* ---- affine / qat ---- */

static void affine_cfg(qctx *q, mn_affine_cfg *c) {
    mn_affine_default(c);
    c->w.bits = (int)cli_int(&q->a, "bits", 8, 2, 8);
    static const char *const gr[] = {"tensor", "channel"}, *const sc[] = {"asymmetric", "symmetric"},
                             *const cl[] = {"minmax", "mse"};
    c->w.per_channel = pick(cli_str(&q->a, "granularity", "channel"), gr, 2, "granularity");
    c->w.symmetric = c->act_symmetric = pick(cli_str(&q->a, "scheme", "asymmetric"), sc, 2, "scheme");
    c->w.clip = (mn_wclip)pick(cli_str(&q->a, "clip", "mse"), cl, 2, "clip");
    c->act_bits = (int)cli_int(&q->a, "act-bits", 8, 0, 8);
    if (c->act_bits == 1) cli_die("--act-bits must be 0 (float) or 2..8");
    calib_opts(q, &c->calib);
    const char *lb = cli_str(&q->a, "layer-bits", NULL);
    snprintf(q->desc, sizeof q->desc, "affine w%d %s %s a%d%s%.60s", c->w.bits, c->w.per_channel ? "channel" : "tensor",
             c->w.symmetric ? "symmetric" : "asymmetric", c->act_bits, lb ? " " : "", lb ? lb : "");
}

static void run_affine(qctx *q) {
    mn_affine_cfg c;
    affine_cfg(q, &c);
    if (c.act_bits) need_train(q);
    run_pass(q, "affine", c.act_bits, 0);
}

static void run_qat(qctx *q) {
    mn_affine_cfg c;
    affine_cfg(q, &c);
    need_train(q);
    mn_train_cfg t; /* epochs for the description (--lr defaults to 1e-4 in the pass) */
    cli_train_cfg(&q->a, &t, 3);
    run_pass(q, "qat", 1, 0);
    char buf[32];
    snprintf(buf, sizeof buf, " qat%d", t.epochs);
    strncat(q->desc, buf, sizeof q->desc - strlen(q->desc) - 1);
}

/* ---- kmeans (Q2: minnow/cluster.h) ---- */

static void run_kmeans(qctx *q) {
    mn_kmeans_cfg c; /* for the description: the pass reads the options itself */
    mn_kmeans_default(&c);
    c.bits = (int)cli_int(&q->a, "bits", 5, 1, MN_KMEANS_MAX_BITS);
    c.layer_bits = cli_str(&q->a, "layer-bits", NULL);
    c.huffman = cli_flag(&q->a, "huffman");
    c.epochs = (int)cli_int(&q->a, "epochs", 0, 0, 100000);
    cli_int(&q->a, "iters", 50, 0, 100000);
    cli_int(&q->a, "batch", 60, 1, 1 << 16);
    cli_num(&q->a, "lr", 1e-3, 0, 1);
    cli_num(&q->a, "bias-lr", 1e-4, 0, 1);
    cli_int(&q->a, "seed", 1, 0, 0x7fffffffL);
    if (c.epochs > 0) need_train(q);
    run_pass(q, "kmeans", 1, 1);
    snprintf(q->desc, sizeof q->desc, "kmeans %d bits%s%s%s", c.bits, c.layer_bits ? " " : "",
             c.layer_bits ? c.layer_bits : "", c.huffman ? " huffman" : "");
    /* Per-layer codebooks: JSON members, or a table before the summary. */
    size_t cap = 64 + (size_t)q->g.nparams * 200, len = 0;
    q->extra = malloc(cap);
    if (!q->extra) cli_die("out of memory");
    len += (size_t)snprintf(q->extra, cap, ",\"codebooks\":[");
    if (!q->json) printf("  %-12s %5s %4s %-7s %9s %10s\n", "weight", "bits", "k", "form", "entries", "bytes");
    int first = 1;
    for (int p = 0; p < q->g.nparams; p++) {
        mn_codebook_info ci;
        if (!q->g.params[p].store || mn_codebook_info_of(q->g.params[p].store, &ci) != MN_OK) continue;
        if (!q->json)
            printf("  %-12s %5d %4d %-7s %9lld %10zu\n", q->g.params[p].name, ci.bits, ci.k,
                   ci.sparse ? "sparse" : "dense", (long long)ci.entries, ci.bytes);
        len += (size_t)snprintf(q->extra + len, cap - len,
                                "%s{\"name\":%s,\"bits\":%d,\"k\":%d,\"sparse\":%s,\"entries\":%lld,\"bytes\":%zu}",
                                first ? "" : ",", cli_jq(q->g.params[p].name), ci.bits, ci.k, ci.sparse ? "true" : "false",
                                (long long)ci.entries, ci.bytes);
        first = 0;
    }
    snprintf(q->extra + len, cap - len, "]");
}

/* Every option's value checked before any work (usage errors exit 2
 * first); the methods read them again when they run. */
static void check_opts(qctx *q) {
    mn_fixed_cfg f;
    mn_affine_cfg a;
    mn_train_cfg t;
    char keep[sizeof q->desc];
    memcpy(keep, q->desc, sizeof keep);
    fixed_cfg(q, &f);
    if (strcmp(cli_str(&q->a, "method", ""), "kmeans") != 0) affine_cfg(q, &a); /* kmeans: --bits 1..8 */
    cli_train_cfg(&q->a, &t, 3);
    cli_int(&q->a, "sweep-min", 0, 0, 20);
    cli_int(&q->a, "sweep-max", 8, 0, 20);
    memcpy(q->desc, keep, sizeof keep);
}

static const qmethod methods[] = {
    {"fixed", run_fixed},
    {"affine", run_affine},
    {"qat", run_qat},
    {"kmeans", run_kmeans},
};
#define NMETHODS (int)(sizeof methods / sizeof methods[0])

/* ---- report ---- */

static void layer_line(const qctx *q, const mn_qlayer *L, int json) {
    const mn_graph *g = &q->g;
    const mn_param *p = &g->params[L->param];
    mn_affine_info in;
    int aff = p->store && mn_affine_store_info(p->store, &in) == MN_OK;
    const char *kern = aff && in.has_act ? mn_i8_isa_name(in.isa) : "f32";
    size_t bytes = mn_param_file_bytes(g, L->param);
    if (json) {
        printf("{\"name\":%s,\"params\":%lld,\"storage\":\"%s\",\"bytes\":%zu,\"weight_bits\":%d,"
               "\"scales\":%d,\"weight_int_bits\":%d,\"weight_frac_bits\":%d,\"act_bits\":%d,\"act_int_bits\":%d,"
               "\"act_frac_bits\":%d,\"act_scale\":%.9g,\"act_zero\":%d,\"kernel\":\"%s\"}",
               cli_jq(g->nodes[L->node].name), (long long)p->n, mn_storage_name(p->store ? p->store->kind : MN_ST_F32),
               bytes, L->wbits, aff ? in.nscale : 0, L->wint, L->wfrac, L->abits, L->aint, L->afrac,
               L->has_act ? (double)L->act.scale : 0.0, L->has_act ? (int)L->act.zero : 0, kern);
        return;
    }
    char w[48] = "f32", a[64] = "f32";
    if (L->wbits && L->fixed) snprintf(w, sizeof w, "fixed %d bits (I=%d F=%d)", L->wbits, L->wint, L->wfrac);
    else if (L->wbits) snprintf(w, sizeof w, "%d bits, %d scale%s", L->wbits, aff ? in.nscale : 1, aff && in.nscale > 1 ? "s" : "");
    if (L->abits && L->fixed) snprintf(a, sizeof a, "fixed %d bits (I=%d F=%d)", L->abits, L->aint, L->afrac);
    else if (L->has_act) snprintf(a, sizeof a, "%d bits scale %.4g zero %d", L->abits, (double)L->act.scale, (int)L->act.zero);
    printf("  %-8s %9lld  %-26s %-28s %-11s %10zu\n", g->nodes[L->node].name, (long long)p->n, w, a, kern, bytes);
}

/* ---- the PTQ debugger's table ---- */

static void db(FILE *o, double v) {
    if (v >= 1e9) fprintf(o, "%8s", "exact");
    else if (v <= -1e9) fprintf(o, "%8s", "lost");
    else fprintf(o, "%8.1f", v);
}

static void print_debug(FILE *o, const mn_graph *g, const mn_qdebug *d) {
    fprintf(o, "quantized vs float, %d samples of the calibration split (SQNR in dB):\n"
               "  %-12s %-9s %8s %8s %8s %11s\n", d->samples, "layer", "storage", "in", "out", "added", "max |err|");
    for (int i = 0; i < d->n; i++) {
        const mn_qdebug_layer *L = &d->l[i];
        const mn_store *st = g->params[g->nodes[L->node].p[0]].store;
        fprintf(o, "  %-12s %-9s ", g->nodes[L->node].name, mn_storage_name(st ? st->kind : MN_ST_F32));
        db(o, L->in_sqnr_db);
        fputc(' ', o);
        db(o, L->sqnr_db);
        fputc(' ', o);
        db(o, L->added_db);
        fprintf(o, " %11.4g%s%s\n", (double)L->max_abs, L->flag & 1 ? "  <- adds the most noise" : "",
                L->flag & 2 ? "  <- under 20 dB" : "");
    }
    fprintf(o, "  output: SQNR ");
    db(o, d->out_sqnr_db);
    fprintf(o, " dB, max |err| %.4g, argmax unchanged on %.2f%% of the samples\n", (double)d->out_max_abs, 100 * d->out_agree);
}

/* JSON has no infinities: "exact" and "lost" (docs/QUANTIZATION.md) are
 * strings there. */
static void jdb(double v) {
    if (v >= 1e9) printf("\"exact\"");
    else if (v <= -1e9 || !isfinite(v)) printf("\"lost\"");
    else printf("%.4f", v);
}

static void jnum(double v) {
    if (isfinite(v)) printf("%.6g", v);
    else printf("null");
}

static void json_debug(const mn_graph *g, const mn_qdebug *d) {
    printf(",\"report\":{\"samples\":%d,\"output_sqnr_db\":", d->samples);
    jdb(d->out_sqnr_db);
    printf(",\"output_max_abs\":");
    jnum(d->out_max_abs);
    printf(",\"argmax_unchanged\":%.6f,\"layers\":[", d->out_agree);
    for (int i = 0; i < d->n; i++) {
        const mn_qdebug_layer *L = &d->l[i];
        printf("%s{\"name\":%s,\"in_sqnr_db\":", i ? "," : "", cli_jq(g->nodes[L->node].name));
        jdb(L->in_sqnr_db);
        printf(",\"sqnr_db\":");
        jdb(L->sqnr_db);
        printf(",\"added_sqnr_db\":");
        jdb(L->added_db);
        printf(",\"max_abs\":");
        jnum(L->max_abs);
        printf(",\"adds_most\":%s,\"under_20db\":%s}", L->flag & 1 ? "true" : "false", L->flag & 2 ? "true" : "false");
    }
    printf("]}");
}

int cmd_quantize(int argc, char **argv) {
    qctx q;
    memset(&q, 0, sizeof q);
    char help[8192];
    snprintf(help, sizeof help, "%s" CLI_TRAIN_HELP, HELP, 3);
    cli_parse(&q.a, argc, argv, SPEC, help);
    const char *in = cli_pos(&q.a, 0, "model IN.mnw"), *out = cli_str(&q.a, "o", NULL);
    const char *mname = cli_str(&q.a, "method", NULL);
    if (!mname) cli_die("--method is required (fixed, affine, qat, kmeans; see --help)");
    const qmethod *m = NULL;
    for (int i = 0; i < NMETHODS; i++)
        if (strcmp(methods[i].name, mname) == 0) m = &methods[i];
    if (!m) cli_die("unknown --method '%s' (see --help)", mname);
    if (!out && !(strcmp(mname, "fixed") == 0 && cli_flag(&q.a, "sweep"))) cli_die("-o OUT.mnw is required");
    q.json = cli_flag(&q.a, "json");
    check_opts(&q);
    int report = cli_flag(&q.a, "report");
    if (cli_flag(&q.a, "layer-bits") && strcmp(mname, "affine") && strcmp(mname, "kmeans"))
        cli_die("--layer-bits applies to affine and kmeans");
    if (cli_flag(&q.a, "report-samples") && !report) cli_die("--report-samples goes with --report");
    if (report && !out) cli_die("--report compares the quantized model with the float one: give -o");
    cli_threads(&q.a);
    q.dir = cli_data_dir(&q.a);
    cli_load_model(in, &q.g);
    const char *vs = cli_str(&q.a, "val", "val");
    if (strcmp(vs, "none") != 0) {
        cli_load_data(q.dir, vs, &q.val);
        q.have_val = 1;
    }
    double before = val_error(&q, &q.g), t0 = mn_now();
    int nrep = (int)cli_int(&q.a, "report-samples", 512, 1, 1 << 24);
    mn_graph fg; /* the float model, beside the quantized one */
    if (report) cli_check(mn_graph_clone(&q.g, &fg));
    m->run(&q);
    double secs = mn_now() - t0, after = -1;
    mn_qdebug *dbg = NULL;
    if (report) {
        need_train(&q);
        if (!(dbg = malloc(sizeof *dbg))) cli_die("out of memory");
        cli_check(mn_quant_debug(&fg, &q.g, &q.train, nrep, dbg));
        print_debug(q.json ? stderr : stdout, &q.g, dbg);
        mn_graph_free(&fg);
    }
    long in_bytes = cli_file_size(in), out_bytes = -1;
    if (out) {
        after = val_error(&q, &q.g);
        int acts = 0; /* activations quantized: something done even if no weight changed */
        for (int i = 0; q.have_rep && i < q.rep.n; i++) acts |= q.rep.l[i].abits > 0 || q.rep.l[i].has_act;
        cli_check_kept("quantize", in, &q.g, acts);
        cli_check(mn_graph_set_meta(&q.g, "quant", q.desc));
        cli_check(mn_model_save(&q.g, out));
        out_bytes = cli_file_size(out);
    }
    if (q.json) {
        printf("{\"method\":\"%s\",\"input\":%s,\"output\":%s,\"quant\":%s,\"input_bytes\":%ld,"
               "\"output_bytes\":%ld,\"val_error_before\":%.6g,\"val_error_after\":%.6g,\"seconds\":%.3f,\"kernel\":\"%s\"",
               mname, cli_jq(in), cli_jq(out ? out : ""), cli_jq(q.desc), in_bytes, out_bytes, before, after, secs,
               mn_i8_isa_name(mn_i8_best_isa()));
        if (q.extra) fputs(q.extra, stdout);
        if (dbg) json_debug(&q.g, dbg);
        printf(",\"layers\":[");
        for (int i = 0; q.have_rep && i < q.rep.n; i++) {
            if (i) putchar(',');
            layer_line(&q, &q.rep.l[i], 1);
        }
        printf("]}\n");
    } else if (out) {
        printf("%s -> %s: %s\n", in, out, q.desc);
        if (q.have_rep) {
            printf("  %-8s %9s  %-26s %-28s %-11s %10s\n", "layer", "weights", "weight format", "input format",
                   "kernel", "bytes");
            for (int i = 0; i < q.rep.n; i++) layer_line(&q, &q.rep.l[i], 0);
        }
        printf("file: %ld -> %ld bytes (%.2fx smaller)\n", in_bytes, out_bytes,
               out_bytes > 0 ? (double)in_bytes / out_bytes : 0.0);
        if (q.have_val)
            printf("%s error: %.2f%% -> %.2f%%\n", vs, 100 * before, 100 * after);
    }
    free(q.extra);
    free(dbg);
    mn_graph_free(&q.g);
    if (q.have_train) mn_dataset_free(&q.train);
    if (q.have_val) mn_dataset_free(&q.val);
    return 0;
}
