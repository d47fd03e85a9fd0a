/* minnow search: the best per-layer compression policy within a budget
 * (minnow/search.h, docs/SEARCH.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "cli.h"
#include "core/file.h"
#include "minnow/dist.h"
#include "minnow/export_c.h"
#include "minnow/io.h"
#include "minnow/recipe.h"
#include "minnow/search.h"
#include "store/store.h"

static const char *HELP =
    "usage: minnow search IN.mnw --budget KIND=N -o OUT.mnw [--data DIR] [options]\n"
    "Finds a per-layer compression policy (sparsity, units removed, bits) that fits\n"
    "the budget with the lowest val error, fine-tunes it and writes the model, the\n"
    "policy as a recipe (minnow compress runs it) and a table per layer.  Each\n"
    "candidate is scored as AMC does: the val error of the compressed model, not\n"
    "fine-tuned; a greedy step compresses the layer that loses least error per unit\n"
    "of cost saved (docs/SEARCH.md).\n"
    "  --budget KIND=N   bytes (the .mnw file), macs (per sample), ram or flash\n"
    "                    (export-c's plan for a microcontroller), latency_us\n"
    "                    (batch 1 on this machine, median of 5 timings)\n"
    "  --space S         what may change, '+'-joined: prune (unstructured),\n"
    "                    units (neurons/filters), kmeans (shared weights + Huffman)\n"
    "                    or affine (bits); default prune+kmeans for bytes and flash,\n"
    "                    units for macs, ram and latency_us\n"
    "  --uniform         one setting for every layer (the baseline to compare with)\n"
    "  --eval-n N        val images for the estimate (default 2000, 0: all)\n"
    "  --probe N         fine-tune each candidate for one pass over N training\n"
    "                    images before its estimate (NetAdapt's short-term\n"
    "                    fine-tuning; default 0: AMC's estimate, not fine-tuned)\n"
    "  --max-evals N     stop after N estimates (default: no limit)\n"
    "  --finetune E      epochs of fine-tuning after each prune round (default 2)\n"
    "  --steps S         prune rounds (default 3)\n"
    "  --share-epochs E  k-means centroid fine-tuning epochs (default 0)\n"
    "  --opt, --lr, --wd, --sched, --batch, --seed   fine-tuning options (default:\n"
    "                    the passes' own)\n"
    "  --recipe-out FILE the policy as a recipe (default OUT.mnw's name + .yaml)\n"
    "  --state FILE      estimates so far, to resume an interrupted search\n"
    "                    (default OUT.mnw's name + .search; removed at the end)\n"
    "  --data DIR        data (default mnist); -o FILE the model\n"
    "  --threads N       threads (default 1)\n"
    "  --json            one JSON object on stdout (progress on stderr)\n";

enum { B_BYTES, B_MACS, B_RAM, B_FLASH, B_LATENCY };
static const char *KINDS[] = {"bytes", "macs", "ram", "flash", "latency_us"};

/* ---- the cost of a candidate -------------------------------------------- */

static double latency_us(mn_graph *g) {
    int in = (int)mn_shape_numel(mn_graph_input_shape(g));
    float *x = calloc((size_t)in, sizeof(float));
    if (!x || mn_graph_reserve(g, 1)) { free(x); return NAN; }
    for (int i = 0; i < in; i++) x[i] = (float)((i * 7919) % 17) / 8.0f - 1.0f;
    double ts[5];
    for (int r = 0; r < 5; r++) { /* 5 timings of >= 20 ms each: their median */
        int k = 0;
        double t0 = mn_now();
        while (k < 3 || mn_now() - t0 < 0.02) { mn_graph_forward(g, x, 1, 0); k++; }
        ts[r] = (mn_now() - t0) / k * 1e6;
    }
    qsort(ts, 5, sizeof *ts, cli_cmp_double);
    free(x);
    return ts[2];
}

typedef struct cache { int n, cap; char **key; double *cost; float *err; } cache;
typedef struct job {
    int kind;
    cache c;
    const char *state;   /* resume file */
    char header[256];
    unsigned dims;
    int tty;             /* progress of each estimate on a terminal */
} job;

static mn_status cost_of(void *ud, mn_graph *g, double *cost) {
    job *j = ud;
    if (j->kind == B_BYTES) {
        unsigned char *buf;
        size_t len;
        /* the metadata the output will carry, at its final length (set_meta) */
        mn_status st = mn_graph_set_meta(g, "recipe", "search");
        if (!st) st = mn_graph_set_meta(g, "val_error", "0.000000");
        if (!st) st = mn_model_save_mem(g, &buf, &len);
        if (st) return st;
        free(buf);
        *cost = (double)len;
    } else if (j->kind == B_MACS) {
        *cost = (double)mn_graph_macs(g);
    } else if (j->kind == B_RAM || j->kind == B_FLASH) {
        mn_export_c_info info;
        mn_status st = mn_export_c(g, NULL, NULL, NULL, 0, 0, NULL, &info);
        if (st) return st;
        *cost = (double)(j->kind == B_RAM ? info.ram_bytes : info.flash_bytes);
    } else {
        *cost = latency_us(g);
        if (!isfinite(*cost)) return mn_error(MN_ENOMEM, "search: out of memory timing a candidate");
    }
    return MN_OK;
}

/* ---- the resume file: a header naming the search, then "cost err key" -- */

static int cache_get(void *ud, const char *key, double *cost, float *err) {
    job *j = ud;
    for (int i = 0; i < j->c.n; i++)
        if (!strcmp(j->c.key[i], key)) { *cost = j->c.cost[i]; *err = j->c.err[i]; return 1; }
    return 0;
}

static void save_state(job *j) {
    mn_afile a;
    if (!j->state || mn_afile_open(&a, j->state)) return; /* resuming is a convenience */
    fprintf(a.f, "%s\n", j->header);
    for (int i = 0; i < j->c.n; i++) fprintf(a.f, "%.17g %.9g %s\n", j->c.cost[i], j->c.err[i], j->c.key[i]);
    if (ferror(a.f)) mn_afile_abort(&a);
    else mn_afile_commit(&a);
}

static void cache_add(job *j, const char *key, double cost, float err) {
    for (int i = 0; i < j->c.n; i++)
        if (!strcmp(j->c.key[i], key)) { j->c.cost[i] = cost; if (err >= 0) j->c.err[i] = err; return; }
    if (j->c.n == j->c.cap) {
        int cap = j->c.cap ? 2 * j->c.cap : 256;
        char **k = realloc(j->c.key, sizeof *k * cap);
        if (k) j->c.key = k;
        double *c = realloc(j->c.cost, sizeof *c * cap);
        if (c) j->c.cost = c;
        float *e = realloc(j->c.err, sizeof *e * cap);
        if (e) j->c.err = e;
        if (!k || !c || !e) cli_die("out of memory");
        j->c.cap = cap;
    }
    j->c.key[j->c.n] = strdup(key);
    if (!j->c.key[j->c.n]) cli_die("out of memory");
    j->c.cost[j->c.n] = cost, j->c.err[j->c.n++] = err;
}

static void cache_put(void *ud, const char *key, double cost, float err) {
    job *j = ud;
    cache_add(j, key, cost, err);
    save_state(j);
}

static void load_state(job *j) {
    unsigned char *buf;
    size_t len;
    if (mn_read_file(j->state, &buf, &len)) return; /* no earlier run */
    char *s = (char *)buf, *nl = memchr(s, '\n', len);
    size_t hl = strlen(j->header);
    if (!nl || (size_t)(nl - s) != hl || memcmp(s, j->header, hl))
        cli_die("%s holds another search (other model, budget or options): remove it or give --state", j->state);
    int n = 0;
    for (char *line = nl + 1; line < s + len;) {
        char *end = memchr(line, '\n', (size_t)(s + len - line));
        if (!end) break; /* a torn last line: measured again */
        *end = 0;
        double cost;
        float err;
        int at = 0;
        if (sscanf(line, "%lf %f %n", &cost, &err, &at) == 2 && at > 0 && line[at]) {
            cache_add(j, line + at, cost, err);
            n++;
        }
        line = end + 1;
    }
    free(buf);
    fprintf(stderr, "search: resuming with %d estimates from %s\n", n, j->state);
}

/* ---- progress ----------------------------------------------------------- */

static void on_eval(void *ud, int evals, const char *key, double cost, float err) {
    job *j = ud;
    (void)key;
    if (j->tty && err >= 0) fprintf(stderr, "\restimate %d: cost %.0f, error %.2f%%   ", evals, cost, 100 * err);
}

static void on_step(void *ud, int step, const mn_search_policy *p, double cost, float err) {
    job *j = ud;
    char key[MN_SEARCH_KEY_MAX];
    mn_search_key(p, j->dims, key, sizeof key);
    fprintf(stderr, "%sstep %d: %s = %.0f, error %.2f%%: %s\n", j->tty ? "\r" : "", step, KINDS[j->kind], cost, 100 * err, key);
}

/* ---- the outputs -------------------------------------------------------- */

static void write_recipe(const char *path, const char *text, const char *in, const char *bud, const char *space,
                         const char *kind, double cost, float est, float err) {
    mn_afile f;
    cli_check(mn_afile_open(&f, path));
    fprintf(f.f, "# Found by: minnow search %s --budget %s --space %s\n"
                 "# Estimate (val subset): %.2f%% error; fine-tuned: %.2f%% val error at %s = %.0f.\n"
                 "# Run it: minnow compress %s --recipe %s --data DIR -o OUT.mnw\n",
            in, bud, space, 100 * est, 100 * err, kind, cost, in, path);
    fputs(text, f.f);
    if (ferror(f.f)) { mn_afile_abort(&f); cli_die("%s: write failed", path); }
    cli_check(mn_afile_commit(&f));
}

static void set_meta(mn_graph *g, float err) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.6f", err);
    cli_check(mn_graph_set_meta(g, "val_error", buf));
    cli_check(mn_graph_set_meta(g, "recipe", "search"));
}

typedef struct outs {
    const char *in, *out, *recipe_out, *bud, *space;
    int uniform;
    double budget, cost;
    float err;
    double secs;
} outs;

static void report(const outs *o, int json, mn_graph *fin, const mn_search_policy *p,
                   unsigned dims, const mn_search_ft *ft, const mn_search_result *r, const job *j) {
    static char text[16384];
    cli_check(mn_search_recipe(p, dims, ft, "search", text, sizeof text));
    cli_check(mn_model_save(fin, o->out));
    write_recipe(o->recipe_out, text, o->in, o->bud, o->space, KINDS[j->kind], o->cost, r->err, o->err);
    static mn_dc_row rows[256];
    int nr = mn_dc_table(fin, rows, 256);
    if (json) {
        printf("{\"input\":");
        cli_json_str(o->in);
        printf(",\"output\":");
        cli_json_str(o->out);
        printf(",\"recipe\":");
        cli_json_str(o->recipe_out);
        printf(",\"budget\":{\"kind\":\"%s\",\"value\":%.17g},\"space\":\"%s\",\"uniform\":%s,\"layers\":[",
               KINDS[j->kind], o->budget, o->space, o->uniform ? "true" : "false");
    } else {
        printf("search of %s within %s -> %s (recipe %s)\n", o->in, o->bud, o->out, o->recipe_out);
        printf("%-12s %7s %8s %5s %9s %9s %9s %10s\n", "layer", "units-", "sparsity", "bits", "weights", "kept",
               "bytes", "MACs");
    }
    for (int l = 0; l < p->nlayers; l++) {
        const mn_dc_row *w = NULL;
        for (int i = 0; i < nr; i++)
            if (!strcmp(rows[i].name, p->layer[l])) w = &rows[i];
        int n = mn_graph_find_node(fin, p->layer[l]);
        long long macs = n >= 0 ? (long long)mn_node_macs(fin, n) : 0;
        long long wt = w ? (long long)w->weights : 0, nz = w ? (long long)w->nonzero : 0;
        size_t by = w ? w->bytes : 0;
        if (json) {
            printf("%s{\"name\":", l ? "," : "");
            cli_json_str(p->layer[l]);
            printf(",\"units_removed\":%.6g,\"sparsity\":%.6g,\"bits\":%d,\"weights\":%lld,\"nonzero\":%lld,"
                   "\"bytes\":%zu,\"macs\":%lld}",
                   p->units[l], p->sparsity[l], p->bits[l], wt, nz, by, macs);
        } else {
            char bits[8] = "32";
            if (p->bits[l]) snprintf(bits, sizeof bits, "%d", p->bits[l]);
            printf("%-12s %6.1f%% %7.1f%% %5s %9lld %8.2f%% %9zu %10lld\n", p->layer[l], 100 * p->units[l],
                   100 * p->sparsity[l], bits, wt, wt ? 100.0 * nz / wt : 0.0, by, macs);
        }
    }
    if (json)
        printf("],\"cost_dense\":%.17g,\"cost_estimate\":%.17g,\"cost\":%.17g,\"error_dense_estimate\":%.6g,"
               "\"error_estimate\":%.6g,\"val_error\":%.6g,\"file_bytes\":%ld,\"macs\":%lld,\"evals\":%d,"
               "\"steps\":%d,\"seconds\":%.3f}\n",
               r->cost0, r->cost, o->cost, r->err0, r->err, o->err, cli_file_size(o->out),
               (long long)mn_graph_macs(fin), r->evals, r->steps, o->secs);
    else
        printf("%s: %.0f (budget %.0f; the uncompressed policy %.0f); val error %.2f%% fine-tuned "
               "(estimate %.2f%% on the val subset, %.2f%% uncompressed); %d estimates, %d steps, %.1f s\n",
               KINDS[j->kind], o->cost, o->budget, r->cost0, 100 * o->err, 100 * r->err,
               100 * r->err0, r->evals, r->steps, o->secs);
}

int cmd_search(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv,
              "@1 budget: space: uniform eval-n: probe: max-evals: finetune: steps: share-epochs: opt: lr: wd: sched: batch: seed: "
              "recipe-out: state: data: o: threads: json",
              HELP);
    const char *in = cli_pos(&a, 0, "input model IN.mnw"), *out = cli_str(&a, "o", NULL);
    const char *bud = cli_str(&a, "budget", NULL);
    if (!out) cli_die("-o OUT.mnw is required (see --help)");
    if (!bud) cli_die("--budget KIND=N is required, KIND one of bytes, macs, ram, flash, latency_us");
    static job j;
    j.kind = -1;
    const char *eq = strchr(bud, '=');
    for (int k = 0; eq && k < 5; k++)
        if ((size_t)(eq - bud) == strlen(KINDS[k]) && !strncmp(bud, KINDS[k], (size_t)(eq - bud))) j.kind = k;
    char *end = NULL;
    double budget = eq ? strtod(eq + 1, &end) : 0;
    if (j.kind < 0 || !end || *end || end == eq + 1 || !(budget > 0) || !isfinite(budget))
        cli_die("--budget '%s': expected KIND=N with KIND one of bytes, macs, ram, flash, latency_us and N > 0", bud);
    unsigned dims = 0;
    const char *space = cli_str(&a, "space", j.kind == B_BYTES || j.kind == B_FLASH ? "prune+kmeans" : "units");
    for (const char *s = space; *s;) {
        size_t l = strcspn(s, "+");
        unsigned d = l == 5 && !strncmp(s, "prune", 5) ? MN_SEARCH_PRUNE
                     : l == 5 && !strncmp(s, "units", 5) ? MN_SEARCH_UNITS
                     : l == 6 && !strncmp(s, "kmeans", 6) ? MN_SEARCH_KMEANS
                     : l == 6 && !strncmp(s, "affine", 6) ? MN_SEARCH_AFFINE : 0;
        if (!d) cli_die("--space '%s': each part is prune, units, kmeans or affine", space);
        dims |= d;
        s += l + (s[l] == '+');
    }
    mn_search_ft ft = {(int)cli_int(&a, "steps", 3, 1, 100), (int)cli_int(&a, "finetune", 2, 0, 1000),
                       (int)cli_int(&a, "share-epochs", 0, 0, 1000), (int)cli_int(&a, "batch", 0, 1, 1 << 16),
                       (float)cli_num(&a, "lr", 0, 1e-9, 10), cli_str(&a, "opt", NULL),
                       (float)cli_num(&a, "wd", 0, 0, 1), cli_str(&a, "sched", NULL),
                       (uint64_t)cli_int(&a, "seed", 1, 0, 1L << 53)};
    if (ft.opt && strcmp(ft.opt, "sgd") && strcmp(ft.opt, "adam")) cli_die("--opt must be sgd or adam");
    if (ft.sched && strcmp(ft.sched, "const") && strcmp(ft.sched, "step") && strcmp(ft.sched, "cosine"))
        cli_die("--sched must be const, step or cosine");
    int eval_n = (int)cli_int(&a, "eval-n", 2000, 0, 1 << 30);
    cli_threads(&a);
    cli_check(mn_output_check(out));
    char rout[MN_PATH_MAX], sdef[MN_PATH_MAX];
    const char *dot = strrchr(out, '.');
    int stem = dot && !strchr(dot, '/') ? (int)(dot - out) : (int)strlen(out);
    snprintf(rout, sizeof rout, "%.*s.yaml", stem, out);
    snprintf(sdef, sizeof sdef, "%.*s.search", stem, out);
    const char *recipe_out = cli_str(&a, "recipe-out", rout);
    j.state = cli_str(&a, "state", sdef);
    cli_check(mn_output_check(recipe_out));
    cli_check(mn_output_check(j.state));
    j.dims = dims;
    j.tty = isatty(2);

    mn_graph g;
    cli_load_model(in, &g);
    cli_refuse_stored(&g, "search", 1u << MN_ST_F32, "search from the float model");
    mn_dataset tr, va;
    const char *dir = cli_data_dir(&a);
    cli_load_data(dir, "train", &tr);
    cli_load_data(dir, "val", &va);
    cli_check(mn_check_data(&g, &tr));
    cli_check(mn_check_data(&g, &va));
    mn_dataset sub = va, cal = tr; /* the estimate's val subset; calibration: a slice of train */
    if (eval_n > 0 && eval_n < sub.n) sub.n = eval_n;
    if (cal.n > 2048) cal.n = 2048;

    /* The resume file belongs to this model, budget and space. */
    unsigned char *mbuf;
    size_t mlen;
    cli_check(mn_read_file(in, &mbuf, &mlen));
    unsigned long crc = crc32(0L, mbuf, (uInt)mlen);
    free(mbuf);
    /* --probe N: each candidate fine-tuned for one pass over N images
     * (the calibration slice) before its estimate, as NetAdapt does. */
    int probe_n = (int)cli_int(&a, "probe", 0, 0, 1 << 30), uniform = cli_flag(&a, "uniform");
    snprintf(j.header, sizeof j.header, "minnow-search 1 model %08lx budget %s space %u uniform %d eval-n %d probe %d",
             crc, bud, dims, uniform, sub.n, probe_n);
    load_state(&j);

    mn_search_policy p;
    cli_check(mn_search_init(&g, dims, &p));
    mn_search_ft probe = ft;
    probe.steps = 1, probe.finetune = 1, probe.share_epochs = 0;
    if (probe_n > 0) cal.n = probe_n < tr.n ? probe_n : tr.n;
    mn_search_cfg c = {dims, budget, uniform, (int)cli_int(&a, "max-evals", 0, 0, 1 << 30),
                       probe_n > 0 ? &probe : NULL, cost_of, cache_get, cache_put, on_eval, on_step, &j};
    mn_search_result r;
    double t0 = mn_now();
    /* The fine-tuned model can cost a little more than its estimate (the
     * Huffman code of retrained weights): then the search goes on against
     * a budget lowered by the overshoot, up to 6 times. */
    mn_graph fin;
    double final_cost = 0;
    int tries = 0;
    mn_eval_result e;
    mn_search_result total = {0, 0, 0, 0, 0, 0};
    for (;; tries++) {
        cli_check(mn_search_run(&g, &cal, &sub, &c, &p, &r));
        if (!tries) total.cost0 = r.cost0, total.err0 = r.err0;
        total.cost = r.cost, total.err = r.err, total.evals += r.evals, total.steps += r.steps;
        r = total;
        fprintf(stderr, "%ssearch: %d estimates, %d steps; fine-tuning the policy\n", j.tty ? "\r" : "", r.evals, r.steps);
        cli_check(mn_graph_clone(&g, &fin));
        cli_check(mn_search_apply(&fin, &p, dims, &ft, &tr, &va));
        cli_check(mn_eval(&fin, &va, 250, &e));
        set_meta(&fin, e.error);
        cli_check(cost_of(&j, &fin, &final_cost));
        if (final_cost <= budget || j.kind == B_LATENCY || tries == 5) break;
        /* the estimate must come down by the overshoot at least */
        c.budget = fmin(c.budget, r.cost) - (final_cost - budget) - 1;
        mn_graph_free(&fin);
        fprintf(stderr, "search: the fine-tuned model costs %.0f, over the budget: searching on\n", final_cost);
    }
    if (final_cost > budget && j.kind != B_LATENCY)
        cli_die("search: the fine-tuned model costs %.0f, over the budget of %.0f after %d tries", final_cost, budget, tries + 1);
    double secs = mn_now() - t0;
    outs o = {in, out, recipe_out, bud, space, uniform, budget, final_cost, e.error, secs};
    report(&o, cli_flag(&a, "json"), &fin, &p, dims, &ft, &r, &j);
    if (mn_dist_root()) remove(j.state);
    mn_graph_free(&fin);
    mn_graph_free(&g);
    mn_dataset_free(&tr);
    mn_dataset_free(&va);
    return 0;
}
