/* The YAML recipe parser (schema in minnow/recipe.h), on libyaml's document
 * API: every key is checked and every error names its line. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "minnow/io.h"
#include "minnow/recipe.h"

typedef struct ctx { yaml_document_t *doc; const char *label; } ctx;

static yaml_node_t *node(ctx *c, int id) { return yaml_document_get_node(c->doc, id); }
static int line_of(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }
static const char *scalar(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static mn_status err(ctx *c, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static mn_status err(ctx *c, const yaml_node_t *n, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mn_error(MN_EARG, "%s:%d: %s", c->label, n ? line_of(n) : 0, msg);
}

const char *mn_pass_name(mn_pass_kind k) {
    static const char *names[] = {"prune", "quantize", "encode"};
    return (unsigned)k < 3 ? names[k] : "?";
}

static mn_status get_num(ctx *c, yaml_node_t *v, const char *key, double lo, double hi, int hi_open, double *out) {
    const char *s = scalar(v);
    char *end = NULL;
    double x = s && *s ? strtod(s, &end) : NAN;
    if (!s || !*s || *end || !isfinite(x) || x < lo || (hi_open ? x >= hi : x > hi))
        return err(c, v, "'%s' must be a number in [%g, %g%s, got '%s'", key, lo, hi, hi_open ? ")" : "]",
                   s ? s : "(not a scalar)");
    *out = x;
    return MN_OK;
}

static mn_status get_int(ctx *c, yaml_node_t *v, const char *key, long lo, long hi, int *out) {
    const char *s = scalar(v);
    char *end = NULL;
    long x = s && *s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || x < lo || x > hi)
        return err(c, v, "'%s' must be an integer in [%ld, %ld], got '%s'", key, lo, hi, s ? s : "(not a scalar)");
    *out = (int)x;
    return MN_OK;
}

static mn_status get_bool(ctx *c, yaml_node_t *v, const char *key, int *out) {
    const char *s = scalar(v);
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (int i = 0; s && i < 4; i++) {
        if (!strcasecmp(s, yes[i])) { *out = 1; return MN_OK; }
        if (!strcasecmp(s, no[i])) { *out = 0; return MN_OK; }
    }
    return err(c, v, "'%s' must be true or false, got '%s'", key, s ? s : "(not a scalar)");
}

static mn_status get_str(ctx *c, yaml_node_t *v, const char *key, char *out, size_t max) {
    const char *s = scalar(v);
    if (!s || !*s || strlen(s) >= max) return err(c, v, "'%s' must be a string of 1..%zu characters", key, max - 1);
    snprintf(out, max, "%s", s);
    return MN_OK;
}

/* A number for every layer, or a {layer: number} map: written as the spec
 * text the pass takes ("0.9" / "fc1=0.92,fc2=0.91").  is_int: bits. */
static mn_status get_spec(ctx *c, yaml_node_t *v, const char *key, int is_int, double lo, double hi,
                          int hi_open, char *spec, int *scalar_val) {
    spec[0] = 0;
    if (v->type == YAML_SCALAR_NODE) {
        if (is_int) {
            mn_status st = get_int(c, v, key, (long)lo, (long)hi, scalar_val);
            return st;
        }
        double x;
        mn_status st = get_num(c, v, key, lo, hi, hi_open, &x);
        if (!st) snprintf(spec, MN_RECIPE_SPEC_MAX, "%.9g", x);
        return st;
    }
    if (v->type != YAML_MAPPING_NODE) return err(c, v, "'%s' must be a number or a {layer: value} map", key);
    if (v->data.mapping.pairs.start == v->data.mapping.pairs.top) return err(c, v, "'%s' map is empty", key);
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key), *val = node(c, p->value);
        const char *name = scalar(k);
        if (!name || !*name || strlen(name) >= MN_NAME_MAX || strpbrk(name, "=, "))
            return err(c, k, "'%s': bad layer name", key);
        char item[128];
        if (is_int) {
            int b;
            mn_status st = get_int(c, val, name, (long)lo, (long)hi, &b);
            if (st) return st;
            snprintf(item, sizeof item, "%s%s=%d", spec[0] ? "," : "", name, b);
        } else {
            double x;
            mn_status st = get_num(c, val, name, lo, hi, hi_open, &x);
            if (st) return st;
            snprintf(item, sizeof item, "%s%s=%.9g", spec[0] ? "," : "", name, x);
        }
        if (strlen(spec) + strlen(item) >= MN_RECIPE_SPEC_MAX) return err(c, v, "'%s': too many layers", key);
        strcat(spec, item);
    }
    return MN_OK;
}

static mn_status parse_pass(ctx *c, yaml_node_t *item, mn_recipe_pass *p) {
    yaml_node_t *kn = item, *body = NULL;
    if (item->type == YAML_MAPPING_NODE) {
        if (item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1)
            return err(c, item, "each pass is one 'name: {options}' entry");
        kn = node(c, item->data.mapping.pairs.start->key);
        body = node(c, item->data.mapping.pairs.start->value);
    } else if (item->type != YAML_SCALAR_NODE) {
        return err(c, item, "a pass must be 'prune', 'quantize' or 'encode' with its options");
    }
    const char *name = scalar(kn);
    memset(p, 0, sizeof *p);
    p->line = line_of(kn);
    p->lr = p->bias_lr = -1;
    p->batch = 60;
    if (name && !strcmp(name, "prune")) { p->kind = MN_PASS_PRUNE; p->steps = 1; strcpy(p->method, "magnitude"); }
    else if (name && !strcmp(name, "quantize")) { p->kind = MN_PASS_QUANTIZE; p->iters = 50; strcpy(p->method, "kmeans"); }
    else if (name && !strcmp(name, "encode")) { p->kind = MN_PASS_ENCODE; p->huffman = 1; }
    else return err(c, kn, "unknown pass '%s' (expected prune, quantize or encode)", name ? name : "(not a name)");
    const char *bs = scalar(body);
    if (body && !(body->type == YAML_MAPPING_NODE || (bs && (!*bs || !strcmp(bs, "~") || !strcmp(bs, "null")))))
        return err(c, body, "options of pass '%s' must be a mapping", name);
    int have_target = 0;
    char seen[16][16];
    int nseen = 0;
    for (yaml_node_pair_t *q = body && body->type == YAML_MAPPING_NODE ? body->data.mapping.pairs.start : NULL;
         q && q < body->data.mapping.pairs.top; q++) {
        yaml_node_t *k = node(c, q->key), *v = node(c, q->value);
        const char *key = scalar(k);
        if (!key) return err(c, k, "option names must be plain words");
        for (int i = 0; i < nseen; i++)
            if (!strcmp(seen[i], key)) return err(c, k, "option '%s' given twice", key);
        if (nseen < 16 && strlen(key) < 16) strcpy(seen[nseen++], key);
        mn_status st = MN_OK;
        double x;
        int known = 1;
        if (p->kind == MN_PASS_PRUNE) {
            if (!strcmp(key, "method")) {
                st = get_str(c, v, key, p->method, sizeof p->method);
                if (!st && strcmp(p->method, "magnitude") && strcmp(p->method, "snip") && strcmp(p->method, "obd"))
                    st = err(c, v, "unknown prune method '%s' (magnitude, snip or obd)", p->method);
            } else if (!strcmp(key, "sparsity")) {
                st = get_spec(c, v, key, 0, 0, 1, 1, p->spec, NULL);
                have_target = 1;
            } else if (!strcmp(key, "scope")) {
                char s[16];
                st = get_str(c, v, key, s, sizeof s);
                if (!st && strcmp(s, "layer") && strcmp(s, "global")) st = err(c, v, "'scope' must be layer or global, got '%s'", s);
                p->global = !st && !strcmp(s, "global");
            } else if (!strcmp(key, "steps")) st = get_int(c, v, key, 1, 1000, &p->steps);
            else known = 0;
        } else if (p->kind == MN_PASS_QUANTIZE) {
            if (!strcmp(key, "method")) {
                st = get_str(c, v, key, p->method, sizeof p->method);
                if (!st && strcmp(p->method, "kmeans"))
                    st = err(c, v, "unknown quantize method '%s' for a recipe (kmeans)", p->method);
            } else if (!strcmp(key, "bits")) {
                st = get_spec(c, v, key, 1, v->type == YAML_SCALAR_NODE ? 1 : 0, 8, 0, p->spec, &p->bits);
                have_target = 1;
            } else if (!strcmp(key, "iters")) st = get_int(c, v, key, 0, 100000, &p->iters);
            else if (!strcmp(key, "bias_lr")) { st = get_num(c, v, key, 0, 1, 0, &x); p->bias_lr = (float)x; }
            else known = 0;
        } else {
            if (!strcmp(key, "huffman")) st = get_bool(c, v, key, &p->huffman);
            else known = 0;
        }
        if (!known && p->kind != MN_PASS_ENCODE) {
            known = 1;
            if (!strcmp(key, "finetune")) st = get_int(c, v, key, 0, 100000, &p->finetune);
            else if (!strcmp(key, "batch")) st = get_int(c, v, key, 1, 1 << 16, &p->batch);
            else if (!strcmp(key, "lr")) { st = get_num(c, v, key, 0, 10, 0, &x); p->lr = (float)x; }
            else known = 0;
        }
        if (!known) {
            static const char *opts[] = {"method, sparsity, scope, steps, finetune, lr, batch",
                                         "method, bits, iters, finetune, lr, bias_lr, batch", "huffman"};
            return err(c, k, "unknown option '%s' for pass '%s' (%s)", key, name, opts[p->kind]);
        }
        if (st) return st;
    }
    if (!have_target && p->kind == MN_PASS_PRUNE) return err(c, kn, "pass 'prune' needs 'sparsity'");
    if (!have_target && p->kind == MN_PASS_QUANTIZE) return err(c, kn, "pass 'quantize' needs 'bits'");
    if (p->kind == MN_PASS_PRUNE && p->global && strpbrk(p->spec, "="))
        return err(c, kn, "'scope: global' takes one sparsity for all layers, not a map");
    return MN_OK;
}

static mn_status parse_doc(ctx *c, mn_recipe *r) {
    yaml_node_t *root = yaml_document_get_root_node(c->doc);
    if (!root) return mn_error(MN_EARG, "%s: the recipe is empty", c->label);
    if (root->type != YAML_MAPPING_NODE) return err(c, root, "the recipe must be a mapping with 'passes'");
    int have_passes = 0;
    for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < root->data.mapping.pairs.top; q++) {
        yaml_node_t *k = node(c, q->key), *v = node(c, q->value);
        const char *key = scalar(k);
        mn_status st = MN_OK;
        if (key && !strcmp(key, "name")) st = get_str(c, v, key, r->name, sizeof r->name);
        else if (key && !strcmp(key, "description")) st = scalar(v) ? MN_OK : err(c, v, "'description' must be text");
        else if (key && !strcmp(key, "seed")) {
            int s;
            st = get_int(c, v, key, 0, 2147483647L, &s);
            r->seed = (uint64_t)s;
        } else if (key && !strcmp(key, "passes")) {
            if (have_passes) return err(c, k, "'passes' given twice");
            have_passes = 1;
            if (v->type != YAML_SEQUENCE_NODE) return err(c, v, "'passes' must be a list");
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
                if (r->npasses == MN_RECIPE_MAX_PASSES) return err(c, v, "more than %d passes", MN_RECIPE_MAX_PASSES);
                if ((st = parse_pass(c, node(c, *it), &r->pass[r->npasses]))) return st;
                r->npasses++;
            }
        } else {
            return err(c, k, "unknown key '%s' (name, description, seed, passes)", key ? key : "(not a name)");
        }
        if (st) return st;
    }
    if (!have_passes || r->npasses == 0) return mn_error(MN_EARG, "%s: the recipe has no passes", c->label);
    return MN_OK;
}

mn_status mn__recipe_caps(const char *t, size_t n, const char *label); /* recipe_caps.c */

/* A second document in the stream is refused, not silently ignored. */
static mn_status one_document(yaml_parser_t *parser, const char *label) {
    yaml_document_t more;
    if (!yaml_parser_load(parser, &more))
        return mn_error(MN_EARG, "%s:%d: malformed YAML after the first document: %s", label,
                        (int)parser->problem_mark.line + 1, parser->problem ? parser->problem : "parse error");
    yaml_node_t *root = yaml_document_get_root_node(&more);
    int line = root ? (int)root->start_mark.line + 1 : 0;
    yaml_document_delete(&more);
    if (root)
        return mn_error(MN_EARG, "%s:%d: a second YAML document; a recipe is one document (remove the '---')",
                        label, line);
    return MN_OK;
}

mn_status mn_recipe_parse(const char *text, size_t len, const char *label, mn_recipe *r) {
    memset(r, 0, sizeof *r);
    r->seed = 1;
    snprintf(r->name, sizeof r->name, "recipe");
    mn_status cs = mn__recipe_caps(text, len, label);
    if (cs) return cs;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return mn_error(MN_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        mn_status st = mn_error(MN_EARG, "%s:%d:%d: malformed YAML: %s%s%s", label, (int)parser.problem_mark.line + 1,
                                (int)parser.problem_mark.column + 1, parser.problem ? parser.problem : "parse error",
                                parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return st;
    }
    ctx c = {&doc, label};
    mn_status st = parse_doc(&c, r);
    if (st == MN_OK) st = one_document(&parser, label);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return st;
}

mn_status mn_recipe_load(const char *path, mn_recipe *r) {
    unsigned char *buf;
    size_t len;
    FILE *f;
    mn_status st = mn_open_regular(path, &f, &len); /* size first: never read a huge file whole */
    if (st) return st;
    fclose(f);
    if (len > MN_RECIPE_MAX_BYTES)
        return mn_error(MN_EARG, "%s: recipe of %zu bytes is larger than the %d-byte limit", path, len,
                        MN_RECIPE_MAX_BYTES);
    st = mn_read_file(path, &buf, &len);
    if (st) return st;
    st = mn_recipe_parse((const char *)buf, len, path, r);
    free(buf);
    return st;
}
