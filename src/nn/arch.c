/* Built-in architectures are written in the same text spec users write, so
 * there is one builder and the docs can print them. */
#include "minnow/arch.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nn/attrs.h"
#include "core/file.h"

static const struct { const char *name, *spec; } g_builtin[] = {
    /* LeNet-300-100 (LeCun et al. 1998; Han et al. 2015). */
    {"lenet300", "input x; flatten flat; dense fc1 units=300; relu r1; dense fc2 units=100; relu r2;"
                 "dense fc3 units=classes"},
    /* LeNet-5 as in Caffe / Han et al.: 20@5x5, pool, 50@5x5, pool, fc500, fc10. */
    {"lenet5", "input x; conv conv1 filters=20 k=5; relu r1; maxpool p1 k=2; conv conv2 filters=50 k=5; relu r2;"
               "maxpool p2 k=2; flatten flat; dense fc1 units=500; relu r3; dense fc2 units=classes"},
    /* Hinton et al. 2015: the big teacher, 2x1200 with dropout on input and hidden units. */
    {"mlp1200", "input x; flatten flat; dropout d0 rate=0.2; dense fc1 units=1200; relu r1; dropout d1 rate=0.5;"
                "dense fc2 units=1200; relu r2; dropout d2 rate=0.5; dense fc3 units=classes"},
    /* ... and the small student, 2x800, no regularisation. */
    {"mlp800", "input x; flatten flat; dense fc1 units=800; relu r1; dense fc2 units=800; relu r2;"
               "dense fc3 units=classes"},
    /* Frankle & Carbin 2019, Conv-2/4/6 (VGG-like, 3x3 same convs, for 32x32x3). */
    {"conv2", "input x; conv conv1 filters=64 k=3 pad=1; relu r1; conv conv2 filters=64 k=3 pad=1; relu r2;"
              "maxpool p1 k=2; flatten flat; dense fc1 units=256; relu r3; dense fc2 units=256; relu r4;"
              "dense fc3 units=classes"},
    {"conv4", "input x; conv conv1 filters=64 k=3 pad=1; relu r1; conv conv2 filters=64 k=3 pad=1; relu r2;"
              "maxpool p1 k=2; conv conv3 filters=128 k=3 pad=1; relu r3; conv conv4 filters=128 k=3 pad=1;"
              "relu r4; maxpool p2 k=2; flatten flat; dense fc1 units=256; relu r5; dense fc2 units=256;"
              "relu r6; dense fc3 units=classes"},
    {"conv6", "input x; conv conv1 filters=64 k=3 pad=1; relu r1; conv conv2 filters=64 k=3 pad=1; relu r2;"
              "maxpool p1 k=2; conv conv3 filters=128 k=3 pad=1; relu r3; conv conv4 filters=128 k=3 pad=1;"
              "relu r4; maxpool p2 k=2; conv conv5 filters=256 k=3 pad=1; relu r5;"
              "conv conv6 filters=256 k=3 pad=1; relu r6; maxpool p3 k=2; flatten flat;"
              "dense fc1 units=256; relu r7; dense fc2 units=256; relu r8; dense fc3 units=classes"},
    /* Depthwise-separable variants (docs/EFFICIENT.md): each k x k conv becomes a
     * depthwise k x k (groups = channels) and a pointwise 1x1, with no
     * nonlinearity between them (Xception).  lenet5dw's first layer sees one
     * channel, so its "depthwise" conv has 8 filters (channel multiplier 8). */
    {"lenet5dw", "input x; conv dw1 filters=8 k=5; conv pw1 filters=20 k=1; relu r1; maxpool p1 k=2;"
                 "conv dw2 filters=20 k=5 groups=20; conv pw2 filters=50 k=1; relu r2; maxpool p2 k=2;"
                 "flatten flat; dense fc1 units=500; relu r3; dense fc2 units=classes"},
    /* conv2/4/6dw keep the first conv standard (MobileNet does too). */
    {"conv2dw", "input x; conv conv1 filters=64 k=3 pad=1; relu r1; conv dw2 filters=64 k=3 pad=1 groups=64;"
                "conv pw2 filters=64 k=1; relu r2; maxpool p1 k=2; flatten flat; dense fc1 units=256; relu r3;"
                "dense fc2 units=256; relu r4; dense fc3 units=classes"},
    {"conv4dw", "input x; conv conv1 filters=64 k=3 pad=1; relu r1; conv dw2 filters=64 k=3 pad=1 groups=64;"
                "conv pw2 filters=64 k=1; relu r2; maxpool p1 k=2; conv dw3 filters=64 k=3 pad=1 groups=64;"
                "conv pw3 filters=128 k=1; relu r3; conv dw4 filters=128 k=3 pad=1 groups=128;"
                "conv pw4 filters=128 k=1; relu r4; maxpool p2 k=2; flatten flat; dense fc1 units=256; relu r5;"
                "dense fc2 units=256; relu r6; dense fc3 units=classes"},
    {"conv6dw", "input x; conv conv1 filters=64 k=3 pad=1; relu r1; conv dw2 filters=64 k=3 pad=1 groups=64;"
                "conv pw2 filters=64 k=1; relu r2; maxpool p1 k=2; conv dw3 filters=64 k=3 pad=1 groups=64;"
                "conv pw3 filters=128 k=1; relu r3; conv dw4 filters=128 k=3 pad=1 groups=128;"
                "conv pw4 filters=128 k=1; relu r4; maxpool p2 k=2; conv dw5 filters=128 k=3 pad=1 groups=128;"
                "conv pw5 filters=256 k=1; relu r5; conv dw6 filters=256 k=3 pad=1 groups=256;"
                "conv pw6 filters=256 k=1; relu r6; maxpool p3 k=2; flatten flat;"
                "dense fc1 units=256; relu r7; dense fc2 units=256; relu r8; dense fc3 units=classes"},
    /* Multi-exit networks (docs/EARLY_EXIT.md, minnow/exits.h): a classifier
     * head after each block; heads are sinks, written right after their
     * block so the topological order runs them as early as possible. */
    {"lenet5x3", "input x; conv conv1 filters=20 k=5; relu r1; maxpool p1 k=2;"
                 "maxpool e1p k=2 in=p1; flatten e1f; dense exit1 units=classes;"
                 "conv conv2 filters=50 k=5 in=p1; relu r2; maxpool p2 k=2; flatten flat;"
                 "dense exit2 units=classes in=flat; dense fc1 units=500 in=flat; relu r3; dense fc2 units=classes"},
    {"conv4x3", "input x; conv conv1 filters=64 k=3 pad=1; relu r1; conv conv2 filters=64 k=3 pad=1; relu r2;"
                "maxpool p1 k=2; maxpool e1p k=4 in=p1; flatten e1f; dense exit1 units=classes;"
                "conv conv3 filters=128 k=3 pad=1 in=p1; relu r3; conv conv4 filters=128 k=3 pad=1;"
                "relu r4; maxpool p2 k=2; flatten flat; dense exit2 units=classes in=flat;"
                "dense fc1 units=256 in=flat; relu r5; dense fc2 units=256; relu r6; dense fc3 units=classes"},
};
#define NBUILTIN ((int)(sizeof g_builtin / sizeof g_builtin[0]))

/* ---- generated: the CIFAR ResNets (He et al. 2016, section 4.2) ----------
 * conv 3x3 16, BN, relu; three stages of n basic blocks with 16, 32, 64
 * channels (the first block of stages 2 and 3 strides 2); a block is conv
 * 3x3, BN, relu, conv 3x3, BN, plus the shortcut - the identity, or where
 * the shape changes a 1x1 conv + BN projection (their option B) - then relu;
 * global average pool, dense.  6n + 2 weight layers: n = 3, 5, 9 give
 * ResNet-20, -32, -56.  "resnet20:0.5" scales every width by 0.5 (at least
 * one channel). */
static int resnet_spec(int n, double wm, char *b, size_t cap);
static int resnet_exits_spec(int n, double wm, char *b, size_t cap);
static int mobilenet_spec(int n, double wm, char *b, size_t cap);
static int mobilenetv2_spec(int n, double wm, char *b, size_t cap);
static const struct { const char *name; int n; int (*spec)(int, double, char *, size_t); } g_resnet[] = {
    {"resnet20", 3, resnet_spec}, {"resnet32", 5, resnet_spec}, {"resnet56", 9, resnet_spec},
    {"resnet20x3", 3, resnet_exits_spec}, {"resnet32x3", 5, resnet_exits_spec}, {"resnet56x3", 9, resnet_exits_spec},
    {"mobilenet", 0, mobilenet_spec}, {"mobilenetv2", 0, mobilenetv2_spec}};
#define NRESNET ((int)(sizeof g_resnet / sizeof g_resnet[0]))
#define RESNET_SPEC_MAX 32768
#define PUT(...) do { int k_ = snprintf(b + len, cap - len, __VA_ARGS__); if (k_ < 0 || (size_t)k_ >= cap - len) return 0; len += (size_t)k_; } while (0)

static int scaled(int c, double wm) { return (int)(c * wm + 0.5) < 1 ? 1 : (int)(c * wm + 0.5); }

/* MobileNet v1 (Howard et al. 2017): conv 3x3, then 13 depthwise-separable
 * blocks (depthwise 3x3 + BN + ReLU6, pointwise 1x1 + BN + ReLU6), global
 * average pool, dense.  The first conv has stride 1 (the CIFAR form: small
 * inputs), the blocks stride 2 where the paper does. */
static int mobilenet_spec(int n, double wm, char *b, size_t cap) {
    (void)n;
    static const int cfg[13][2] = {{64, 1}, {128, 2}, {128, 1}, {256, 2}, {256, 1}, {512, 2}, {512, 1},
                                   {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1}};
    size_t len = 0;
    int cin = scaled(32, wm);
    PUT("input x; conv conv1 filters=%d k=3 pad=1; batchnorm bn1; relu r1 max=6;", cin);
    for (int i = 0; i < 13; i++) {
        int c = scaled(cfg[i][0], wm);
        PUT(" conv b%d_dw filters=%d groups=%d k=3 stride=%d pad=1; batchnorm b%d_bn1; relu b%d_r1 max=6;", i + 1, cin,
            cin, cfg[i][1], i + 1, i + 1);
        PUT(" conv b%d_pw filters=%d k=1; batchnorm b%d_bn2; relu b%d_r2 max=6;", i + 1, c, i + 1, i + 1);
        cin = c;
    }
    PUT(" avgpool pool k=0; flatten flat; dense fc units=classes");
    return 1;
}

/* MobileNetV2 (Sandler et al. 2018): inverted residual blocks - 1x1
 * expansion (x t) + BN + ReLU6, depthwise 3x3 + BN + ReLU6, 1x1 linear
 * projection + BN, plus the input where the shape stays - then 1x1 to 1280,
 * pool, dense.  CIFAR form: the first conv and the 24-channel stage have
 * stride 1.  The last conv keeps 1280 below width 1, as the paper does. */
static int mobilenetv2_spec(int n, double wm, char *b, size_t cap) {
    (void)n;
    static const int cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 1}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                  {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    size_t len = 0;
    int cin = scaled(32, wm);
    PUT("input x; conv conv1 filters=%d k=3 pad=1; batchnorm bn1; relu r1 max=6;", cin);
    char prev[32] = "r1";
    int id = 0;
    for (int st = 0; st < 7; st++) {
        int t = cfg[st][0], c = scaled(cfg[st][1], wm);
        for (int r = 0; r < cfg[st][2]; r++) {
            int stride = r == 0 ? cfg[st][3] : 1, hid = cin * t;
            char p[16];
            snprintf(p, sizeof p, "b%d", ++id);
            if (t != 1) {
                PUT(" conv %s_ex filters=%d k=1 in=%s; batchnorm %s_bn0; relu %s_r0 max=6;", p, hid, prev, p, p);
                PUT(" conv %s_dw filters=%d groups=%d k=3 stride=%d pad=1;", p, hid, hid, stride);
            } else {
                PUT(" conv %s_dw filters=%d groups=%d k=3 stride=%d pad=1 in=%s;", p, hid, hid, stride, prev);
            }
            PUT(" batchnorm %s_bn1; relu %s_r1 max=6; conv %s_pj filters=%d k=1; batchnorm %s_bn2;", p, p, p, c, p);
            if (stride == 1 && cin == c) {
                PUT(" add %s_add in=%s_bn2,%s;", p, p, prev);
                snprintf(prev, sizeof prev, "%s_add", p);
            } else {
                snprintf(prev, sizeof prev, "%s_bn2", p);
            }
            cin = c;
        }
    }
    PUT(" conv last filters=%d k=1 in=%s; batchnorm bnl; relu rl max=6;", wm > 1 ? scaled(1280, wm) : 1280, prev);
    PUT(" avgpool pool k=0; flatten flat; dense fc units=classes");
    return 1;
}

/* exits: a classifier head (global average pool, dense) after stages 1
 * and 2 as well, for early exit (docs/EARLY_EXIT.md), MSDNet-style. */
static int resnet_body(int n, double wm, int exits, char *b, size_t cap) {
    size_t len = 0;
    int c0 = (int)(16 * wm + 0.5) < 1 ? 1 : (int)(16 * wm + 0.5);
    PUT("input x; conv conv1 filters=%d k=3 pad=1; batchnorm bn1; relu r1;", c0);
    char prev[32] = "r1";
    int cin = c0;
    for (int st = 1; st <= 3; st++) {
        int c = (int)(16 * (1 << (st - 1)) * wm + 0.5);
        if (c < 1) c = 1;
        for (int bl = 1; bl <= n; bl++) {
            int stride = st > 1 && bl == 1 ? 2 : 1;
            char p[16];
            snprintf(p, sizeof p, "s%db%d", st, bl);
            PUT(" conv %s_c1 filters=%d k=3 stride=%d pad=1 in=%s; batchnorm %s_bn1; relu %s_r1;", p, c, stride, prev, p, p);
            PUT(" conv %s_c2 filters=%d k=3 pad=1; batchnorm %s_bn2;", p, c, p);
            if (stride != 1 || cin != c) {
                PUT(" conv %s_sc filters=%d k=1 stride=%d in=%s; batchnorm %s_scbn;", p, c, stride, prev, p);
                PUT(" add %s_add in=%s_bn2,%s_scbn;", p, p, p);
            } else {
                PUT(" add %s_add in=%s_bn2,%s;", p, p, prev);
            }
            PUT(" relu %s_out;", p);
            snprintf(prev, sizeof prev, "%s_out", p);
            cin = c;
        }
        if (exits && st < 3) PUT(" avgpool e%dp k=0 in=%s; flatten e%df; dense exit%d units=classes;", st, prev, st, st);
    }
    PUT(" avgpool pool k=0 in=%s; flatten flat; dense fc units=classes", prev);
    return 1;
}
static int resnet_spec(int n, double wm, char *b, size_t cap) { return resnet_body(n, wm, 0, b, cap); }
static int resnet_exits_spec(int n, double wm, char *b, size_t cap) { return resnet_body(n, wm, 1, b, cap); }
#undef PUT

/* "NAME" or "NAME:W" of a generated net: its spec (malloc'd), else NULL. */
static char *generated(const char *arch) {
    for (int i = 0; i < NRESNET; i++) {
        size_t l = strlen(g_resnet[i].name);
        if (strncmp(arch, g_resnet[i].name, l) || (arch[l] && arch[l] != ':')) continue;
        double wm = 1;
        if (arch[l] == ':') {
            char *end;
            wm = strtod(arch + l + 1, &end);
            if (end == arch + l + 1 || *end || !(wm > 0 && wm <= 16)) return NULL;
        }
        char *b = malloc(RESNET_SPEC_MAX);
        if (b && !g_resnet[i].spec(g_resnet[i].n, wm, b, RESNET_SPEC_MAX)) { free(b); b = NULL; }
        return b;
    }
    return NULL;
}

const char *const *mn_arch_names(void) {
    static const char *names[NBUILTIN + NRESNET + 1];
    for (int i = 0; i < NBUILTIN; i++) names[i] = g_builtin[i].name;
    for (int i = 0; i < NRESNET; i++) names[NBUILTIN + i] = g_resnet[i].name;
    return names;
}

const char *mn_arch_spec(const char *name) {
    for (int i = 0; i < NBUILTIN; i++)
        if (strcmp(g_builtin[i].name, name) == 0) return g_builtin[i].spec;
    /* generated once per name (width 1), kept for the program's life */
    static char *specs[NRESNET];
    for (int i = 0; i < NRESNET; i++)
        if (strcmp(g_resnet[i].name, name) == 0) {
            if (!specs[i]) specs[i] = generated(name);
            return specs[i];
        }
    return NULL;
}

static int parse_int(const char *v, int nclass, int *out) {
    if (strcmp(v, "classes") == 0) { *out = nclass; return 1; }
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == 0 || *end || x < 0 || x > (1 << 24)) return 0;
    *out = (int)x;
    return 1;
}

/* The spec's attribute names are the file format's (io/mnw_fmt.h): one
 * table, so a new attribute is spelled the same in both. */
static mn_status set_attr(mn_attrs *a, const char *key, const char *val, int nclass, int line) {
    for (int i = 0; i < MN_NATTRS; i++) {
        if (strcmp(key, mn_attr_schema[i].name) != 0) continue;
        void *field = (char *)a + mn_attr_schema[i].off;
        if (mn_attr_schema[i].type == MN_ATTR_I32) {
            if (!parse_int(val, nclass, (int *)field))
                return mn_error(MN_EARG, "spec statement %d: %s=%s is not a non-negative integer", line, key, val);
        } else {
            char *end;
            *(float *)field = strtof(val, &end);
            if (*val == 0 || *end) return mn_error(MN_EARG, "spec statement %d: %s=%s is not a number", line, key, val);
        }
        return MN_OK;
    }
    return mn_error(MN_EARG, "spec statement %d: unknown attribute '%s'", line, key);
}

/* One statement: OP NAME key=value... in=a,b */
static mn_status parse_stmt(mn_graph *g, char *s, int line, char *prev, int c, int h, int w, int nclass) {
    char *tok[32];
    int nt = 0;
    for (char *t = strtok(s, " \t\r"); t && nt < 32; t = strtok(NULL, " \t\r")) tok[nt++] = t;
    if (nt == 0) return MN_OK;
    if (nt < 2) return mn_error(MN_EARG, "spec statement %d: expected 'OP NAME ...'", line);
    mn_op op = mn_op_from_name(tok[0]);
    if (op == MN_OP__COUNT) return mn_error(MN_EARG, "spec statement %d: unknown op '%s'", line, tok[0]);
    mn_attrs a = {0};
    if (op == MN_OP_INPUT) { a.c = c; a.h = h; a.w = w; }
    if (op == MN_OP_BATCHNORM) { a.eps = 1e-5f; a.momentum = 0.1f; }
    const char *in[MN_MAX_IN];
    int nin = 0;
    char *inlist = NULL;
    for (int i = 2; i < nt; i++) {
        char *eq = strchr(tok[i], '=');
        if (!eq) return mn_error(MN_EARG, "spec statement %d: expected key=value, got '%s'", line, tok[i]);
        *eq = 0;
        if (strcmp(tok[i], "in") == 0) { inlist = eq + 1; continue; }
        mn_status st = set_attr(&a, tok[i], eq + 1, nclass, line);
        if (st) return st;
    }
    if (inlist) {
        for (char *t = strtok(inlist, ","); t; t = strtok(NULL, ","))
            if (nin < MN_MAX_IN) in[nin++] = t;
            else return mn_error(MN_EARG, "spec statement %d: too many inputs", line);
    } else if (op != MN_OP_INPUT) {
        if (!prev[0]) return mn_error(MN_EARG, "spec statement %d: '%s' has no input", line, tok[1]);
        in[nin++] = prev;
    }
    char name[MN_NAME_MAX];
    snprintf(name, sizeof name, "%s", tok[1]);
    if (mn_graph_add(g, op, name, in, nin, &a) < 0) {
        char m[512]; /* mn_error overwrites the message it would read */
        snprintf(m, sizeof m, "%s", mn_errmsg());
        return mn_error(MN_EARG, "spec statement %d: %s", line, m);
    }
    snprintf(prev, MN_NAME_MAX, "%s", name);
    return MN_OK;
}

static mn_status build_spec(mn_graph *g, const char *spec, int c, int h, int w, int nclass) {
    char *buf = strdup(spec);
    if (!buf) return mn_error(MN_ENOMEM, "out of memory");
    char prev[MN_NAME_MAX] = "";
    mn_status st = MN_OK;
    int line = 0;
    char *save = NULL;
    for (char *s = strtok_r(buf, ";\n", &save); s && !st; s = strtok_r(NULL, ";\n", &save)) {
        line++;
        char *hash = strchr(s, '#');
        if (hash) *hash = 0;
        st = parse_stmt(g, s, line, prev, c, h, w, nclass);
    }
    free(buf);
    return st;
}

mn_status mn_arch_build(mn_graph *g, const char *arch, int c, int h, int w, int nclass) {
    mn_graph_init(g);
    const char *spec = mn_arch_spec(arch);
    unsigned char *file = NULL;
    char *gen = NULL;
    int known = spec != NULL;
    if (!spec && strchr(arch, ':') && !strchr(arch, ';')) { /* a generated net at a width: "resnet20:0.5" */
        known = 1;
        if (!(spec = gen = generated(arch)))
            return mn_error(MN_EARG, "'%s': a width multiplier is NAME:W with W in (0, 16] (e.g. resnet20:0.5)", arch);
    }
    if (!spec && !strchr(arch, ';')) {
        size_t len;
        if (mn_read_file(arch, &file, &len)) {
            struct stat fs;
            /* It exists: say why it cannot be read (a FIFO, a directory). */
            if (stat(arch, &fs) == 0) return MN_EIO;
            char names[512] = "";
            for (const char *const *nm = mn_arch_names(); *nm; nm++) {
                size_t l = strlen(names);
                snprintf(names + l, sizeof names - l, "%s%s", nm == mn_arch_names() ? "" : ", ", *nm);
            }
            return mn_error(MN_EARG, "unknown architecture '%s' (built-ins: %s; or a spec file)", arch, names);
        }
        char *t = realloc(file, len + 1);
        if (!t) { free(file); return mn_error(MN_ENOMEM, "out of memory"); }
        t[len] = 0;
        if (memchr(t, 0, len)) { free(t); return mn_error(MN_EARG, "%s: not a text spec", arch); }
        file = (unsigned char *)t;
        spec = t;
    } else if (!spec) {
        spec = arch;
    }
    mn_status st = build_spec(g, spec, c, h, w, nclass);
    free(file);
    free(gen);
    if (!st) st = mn_graph_finalize(g);
    if (!st) st = mn_graph_set_meta(g, "arch", known ? arch : "custom");
    if (st) mn_graph_free(g);
    return st;
}
