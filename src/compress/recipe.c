/* The YAML recipe parser (schema in minnow/recipe.h), on libyaml's document
 * API: every key is checked and every error names its line. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "minnow/recipe.h"
#include "core/file.h"

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

static const char *const VERBS[] = {"prune", "quantize", "encode", "binarize", "factorize", "distill", "gate"};
#define NVERBS 7

const char *mn_pass_name(mn_pass_kind k) { return (unsigned)k < NVERBS ? VERBS[k] : "?"; }

static mn_status get_str(ctx *c, yaml_node_t *v, const char *key, char *out, size_t max) {
    const char *s = scalar(v);
    if (!s || !*s || strlen(s) >= max) return err(c, v, "'%s' must be a string of 1..%zu characters", key, max - 1);
    snprintf(out, max, "%s", s);
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

/* An option's value as text: a scalar as written, a {layer: value} map as
 * "layer=value,...". */
static mn_status value_text(ctx *c, yaml_node_t *v, const char *key, char *out) {
    const char *s = scalar(v);
    if (s) {
        if (strlen(s) >= MN_RECIPE_SPEC_MAX) return err(c, v, "'%s' is too long", key);
        strcpy(out, s);
        return MN_OK;
    }
    if (v->type != YAML_MAPPING_NODE) return err(c, v, "'%s' must be a value or a {layer: value} map", key);
    if (v->data.mapping.pairs.start == v->data.mapping.pairs.top) return err(c, v, "'%s' map is empty", key);
    out[0] = 0;
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key), *val = node(c, p->value);
        const char *name = scalar(k), *x = scalar(val);
        if (!name || !*name || strlen(name) >= MN_NAME_MAX || strpbrk(name, "=, "))
            return err(c, k, "'%s': bad layer name", key);
        if (!x || !*x || strpbrk(x, "=,"))
            return err(c, val, "'%s' must be a number, got '%s'", name, x ? x : "(not a scalar)");
        size_t len = strlen(out);
        if (len + strlen(name) + strlen(x) + 3 >= MN_RECIPE_SPEC_MAX) return err(c, v, "'%s': too many layers", key);
        snprintf(out + len, MN_RECIPE_SPEC_MAX - len, "%s%s=%s", len ? "," : "", name, x);
    }
    return MN_OK;
}

/* Methods of a verb, for messages. */
static void methods_of(const char *verb, char *out, size_t max) {
    out[0] = 0;
    for (int i = 0; i < mn_pass_count(); i++) {
        const mn_pass_def *d = mn_pass_at(i);
        if (strcmp(mn_pass_verb(d), verb)) continue;
        size_t len = strlen(out);
        snprintf(out + len, max - len, "%s%s", len ? ", " : "", mn_pass_method(d));
    }
}

/* Re-tags the last message with the recipe position of n. */
static mn_status at(ctx *c, const yaml_node_t *n) {
    char m[400];
    snprintf(m, sizeof m, "%s", mn_errmsg());
    return err(c, n, "%s", m);
}

static int truthy(const char *v) { return strchr("tTyY1", v[0]) || !strcasecmp(v, "on"); }

/* The digest fields of mn_recipe_pass (for reports and callers that read
 * them), from the options as the pass took them. */
static void digest(mn_recipe_pass *p) {
    p->steps = 1;
    p->iters = 50;
    p->batch = 60;
    p->lr = p->bias_lr = -1;
    p->huffman = p->kind == MN_PASS_ENCODE;
    for (int i = 0; i < p->nopts; i++) {
        const char *k = p->key[i], *v = p->val[i];
        if (!strcmp(k, "sparsity") && p->kind == MN_PASS_PRUNE) {
            if (!strchr(v, '=')) snprintf(p->spec, sizeof p->spec, "%.9g", strtod(v, NULL));
            else snprintf(p->spec, sizeof p->spec, "%s", v);
        } else if (!strcmp(k, "bits") && p->kind == MN_PASS_QUANTIZE) {
            if (strchr(v, '=')) snprintf(p->spec, sizeof p->spec, "%s", v);
            else p->bits = atoi(v);
        } else if (!strcmp(k, "scope")) p->global = !strcmp(v, "global");
        else if (!strcmp(k, "steps")) p->steps = atoi(v);
        else if (!strcmp(k, "iters")) p->iters = atoi(v);
        else if (!strcmp(k, "finetune") || (!strcmp(k, "epochs") && !strcmp(p->method, "kmeans"))) p->finetune = atoi(v);
        else if (!strcmp(k, "batch")) p->batch = atoi(v);
        else if (!strcmp(k, "lr")) p->lr = strtof(v, NULL);
        else if (!strcmp(k, "bias-lr")) p->bias_lr = strtof(v, NULL);
        else if (!strcmp(k, "huffman")) p->huffman = truthy(v);
        else if (!strcmp(k, "plain") && truthy(v)) p->huffman = 0;
    }
}

static mn_status parse_pass(ctx *c, yaml_node_t *item, mn_recipe_pass *p) {
    yaml_node_t *kn = item, *body = NULL;
    if (item->type == YAML_MAPPING_NODE) {
        if (item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1)
            return err(c, item, "each pass is one 'name: {options}' entry");
        kn = node(c, item->data.mapping.pairs.start->key);
        body = node(c, item->data.mapping.pairs.start->value);
    } else if (item->type != YAML_SCALAR_NODE) {
        return err(c, item, "a pass must be prune, quantize, binarize, factorize, distill, encode or gate with its options");
    }
    const char *name = scalar(kn);
    memset(p, 0, sizeof *p);
    p->line = line_of(kn);
    int kind = -1;
    for (int i = 0; name && i < NVERBS; i++)
        if (!strcmp(name, VERBS[i])) kind = i;
    if (kind < 0)
        return err(c, kn, "unknown pass '%s' (expected prune, quantize, binarize, factorize, distill, encode or gate)",
                   name ? name : "(not a name)");
    p->kind = (mn_pass_kind)kind;
    const char *bs = scalar(body);
    if (body && !(body->type == YAML_MAPPING_NODE || (bs && (!*bs || !strcmp(bs, "~") || !strcmp(bs, "null")))))
        return err(c, body, "options of pass '%s' must be a mapping", name);
    yaml_node_pair_t *q0 = body && body->type == YAML_MAPPING_NODE ? body->data.mapping.pairs.start : NULL,
                     *q1 = q0 ? body->data.mapping.pairs.top : NULL;
    /* The method first: it says which options there are. */
    int nmethod = 0;
    for (yaml_node_pair_t *q = q0; q && q < q1; q++) {
        const char *key = scalar(node(c, q->key));
        if (!key || strcmp(key, "method")) continue;
        yaml_node_t *v = node(c, q->value);
        if (nmethod++) return err(c, node(c, q->key), "option 'method' given twice");
        mn_status st = get_str(c, v, key, p->method, sizeof p->method);
        if (st) return st;
        if (!mn_pass_find(name, p->method)) {
            char list[256];
            methods_of(name, list, sizeof list);
            if (!strcmp(list, "")) return err(c, v, "pass '%s' takes no 'method'", name);
            return err(c, v, "unknown %s method '%s' (%s)", name, p->method, list);
        }
    }
    const mn_pass_def *d = mn_pass_find(name, p->method[0] ? p->method : NULL);
    if (!d) return err(c, kn, "pass '%s' needs a 'method'", name);
    snprintf(p->method, sizeof p->method, "%s", mn_pass_method(d));
    mn_pass pass;
    mn_status st = mn_pass_init(&pass, d);
    if (st) return st;
    for (yaml_node_pair_t *q = q0; q && q < q1 && !st; q++) {
        yaml_node_t *k = node(c, q->key), *v = node(c, q->value);
        const char *key = scalar(k);
        if (!key || !*key) {
            st = err(c, k, "option names must be plain words");
            break;
        }
        if (!strcmp(key, "method")) continue;
        char norm[24];
        if (strlen(key) >= sizeof norm) {
            mn_pass_set(&pass, key, ""); /* the unknown-option message */
            st = at(c, k);
            break;
        }
        for (size_t i = 0; i <= strlen(key); i++) norm[i] = key[i] == '_' ? '-' : key[i];
        /* Twice, under one name or two of its aliases (epochs / finetune). */
        for (int i = 0; i < p->nopts && !st; i++)
            if (!strcmp(p->key[i], norm)) st = err(c, k, "option '%s' given twice", key);
        if (!st && mn_pass_given(&pass, key)) st = err(c, k, "option '%s' given twice (under another name)", key);
        if (st) break;
        if (p->nopts == MN_RECIPE_MAX_OPTS) {
            st = err(c, k, "more than %d options", MN_RECIPE_MAX_OPTS);
            break;
        }
        char *val = p->val[p->nopts];
        if ((st = value_text(c, v, key, val))) break;
        if ((st = mn_pass_set(&pass, key, val))) {
            st = at(c, k);
            break;
        }
        strcpy(p->key[p->nopts++], norm);
    }
    if (!st && (st = mn_pass_finish(&pass))) st = at(c, kn);
    mn_pass_free(&pass);
    if (!st) digest(p);
    return st;
}

mn_status mn_recipe_pass_make(const mn_recipe_pass *p, mn_pass *out) {
    const mn_pass_def *d = mn_pass_find(mn_pass_name(p->kind), p->method[0] ? p->method : NULL);
    mn_status st = mn_pass_init(out, d);
    if (st) return mn_error(st, "line %d: %s: no such method '%s'", p->line, mn_pass_name(p->kind), p->method);
    for (int i = 0; i < p->nopts && !st; i++) st = mn_pass_set(out, p->key[i], p->val[i]);
    if (!st) st = mn_pass_finish(out);
    if (st) {
        char m[400];
        snprintf(m, sizeof m, "%s", mn_errmsg());
        mn_pass_free(out);
        return mn_error(st, "line %d: %s: %s", p->line, mn_pass_name(p->kind), m);
    }
    return MN_OK;
}

/* 'train:': a flat mapping of scalars; which keys are options is the
 * CLI's to say (it names the line). */
static mn_status parse_train(ctx *c, yaml_node_t *v, mn_recipe *r) {
    if (v->type != YAML_MAPPING_NODE) return err(c, v, "'train' must be a mapping of `minnow train` options");
    for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
        yaml_node_t *k = node(c, q->key), *x = node(c, q->value);
        const char *key = scalar(k), *val = scalar(x);
        if (!key || !*key || strlen(key) >= sizeof r->train_key[0]) return err(c, k, "'train': bad option name");
        if (!val || !*val || strlen(val) >= sizeof r->train_val[0])
            return err(c, x, "'%s' must be a value of 1..%zu characters", key, sizeof r->train_val[0] - 1);
        if (r->ntrain == MN_RECIPE_MAX_TRAIN) return err(c, k, "more than %d training options", MN_RECIPE_MAX_TRAIN);
        char *o = r->train_key[r->ntrain];
        strcpy(o, key);
        for (char *p = o; *p; p++)
            if (*p == '_') *p = '-';
        for (int i = 0; i < r->ntrain; i++) /* as written or with '_' for '-' */
            if (!strcmp(r->train_key[i], o)) return err(c, k, "'%s' given twice", o);
        strcpy(r->train_val[r->ntrain], val);
        r->train_line[r->ntrain++] = line_of(k);
    }
    if (!r->ntrain) return err(c, v, "'train' is empty");
    return MN_OK;
}

static mn_status parse_doc(ctx *c, mn_recipe *r) {
    yaml_node_t *root = yaml_document_get_root_node(c->doc);
    if (!root) return mn_error(MN_EARG, "%s: the recipe is empty", c->label);
    if (root->type != YAML_MAPPING_NODE) return err(c, root, "the recipe must be a mapping with 'passes' or 'train'");
    int have_passes = 0;
    for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < root->data.mapping.pairs.top; q++) {
        yaml_node_t *k = node(c, q->key), *v = node(c, q->value);
        const char *key = scalar(k);
        mn_status st = MN_OK;
        if (key && !strcmp(key, "name")) st = get_str(c, v, key, r->name, sizeof r->name);
        else if (key && !strcmp(key, "description")) st = scalar(v) ? MN_OK : err(c, v, "'description' must be text");
        else if (key && !strcmp(key, "seed")) {
            int s = 1;
            st = get_int(c, v, key, 0, 2147483647L, &s);
            r->seed = (uint64_t)s;
            r->seed_given = 1;
        } else if (key && !strcmp(key, "train")) {
            if (r->ntrain) return err(c, k, "'train' given twice");
            st = parse_train(c, v, r);
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
            return err(c, k, "unknown key '%s' (name, description, seed, train, passes)", key ? key : "(not a name)");
        }
        if (st) return st;
    }
    if (have_passes && r->npasses == 0) return mn_error(MN_EARG, "%s: the recipe has no passes", c->label);
    if (!have_passes && !r->ntrain) return mn_error(MN_EARG, "%s: the recipe has neither 'passes' nor 'train'", c->label);
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
