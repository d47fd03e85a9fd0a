/* minnow plot: a line plot (SVG) of numbers in a tab-separated file, so
 * that curves from several runs (bench/reproduce.sh) are drawn by the tool
 * itself, without a plotting library. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_svg.h"
#include "core/file.h"

static const char *HELP =
    "usage: minnow plot DATA.tsv -o PLOT.svg [--title T] [--x LABEL] [--y LABEL] [--logx] [--reverse-x]\n"
    "Draws a line plot: one line per series, points in the order given.\n"
    "DATA.tsv: one point per line, tab-separated\n"
    "    SERIES  X  Y            or    SERIES  X  Y  YMIN  YMAX   (a min/max bar)\n"
    "with '#' comments and blank lines ignored; every value must be a finite number.\n"
    "  -o FILE           the SVG, written atomically\n"
    "  --title T, --x LABEL, --y LABEL   texts\n"
    "  --logx            log-scale x axis (x > 0)\n"
    "  --reverse-x       larger x on the left (e.g. weights remaining, as the lottery plots)\n"
    "  --y-from-min      y axis from the data's minimum instead of 0\n";

#define MAX_SERIES 16
#define MAX_POINTS 100000

typedef struct { char name[64]; int n, cap, bars; double *x, *y, *lo, *hi; } series;

static double num(const char *s, const char *path, int line, const char *what) {
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !isfinite(v)) cli_die("%s:%d: %s '%s' is not a finite number", path, line, what, s);
    return v;
}

static int grow(series *s) {
    int cap = s->cap ? 2 * s->cap : 64;
    double *a[4] = {s->x, s->y, s->lo, s->hi};
    for (int k = 0; k < 4; k++) {
        double *p = realloc(a[k], sizeof(double) * (size_t)cap);
        if (!p) return -1;
        a[k] = p;
    }
    s->x = a[0], s->y = a[1], s->lo = a[2], s->hi = a[3];
    s->cap = cap;
    return 0;
}

int cmd_plot(int argc, char **argv) {
    cli_args a;
    cli_parse(&a, argc, argv, "@1 o: svg: title: x: y: logx reverse-x y-from-min", HELP);
    const char *in = cli_pos(&a, 0, "data file DATA.tsv"), *out = cli_str(&a, "o", NULL);
    if (!out) cli_die("-o PLOT.svg is required (see --help)");
    unsigned char *text;
    size_t len;
    cli_check(mn_read_file(in, &text, &len));
    static series ser[MAX_SERIES];
    int ns = 0, npts = 0, line = 0;
    for (char *p = (char *)text, *next; p < (char *)text + len; p = next) {
        char *nl = memchr(p, '\n', (size_t)((char *)text + len - p));
        next = nl ? nl + 1 : (char *)text + len;
        line++;
        char row[1024];
        size_t rl = (size_t)(next - p) - (nl ? 1 : 0);
        if (rl >= sizeof row) cli_die("%s:%d: line longer than %zu bytes", in, line, sizeof row - 1);
        memcpy(row, p, rl);
        row[rl] = 0;
        if (rl && row[rl - 1] == '\r') row[--rl] = 0;
        if (!rl || row[0] == '#') continue;
        if (memchr(row, 0, rl)) cli_die("%s:%d: a NUL byte: not a text file", in, line);
        char *f[6] = {0};
        int nf = 0;
        for (char *q = row, *t; nf < 6; q = t + 1) {
            f[nf++] = q;
            if (!(t = strchr(q, '\t'))) break;
            *t = 0;
        }
        if (nf != 3 && nf != 5) cli_die("%s:%d: expected SERIES, X, Y [, YMIN, YMAX] separated by tabs, got %d fields", in, line, nf);
        if (!*f[0] || strlen(f[0]) >= sizeof ser[0].name) cli_die("%s:%d: series name of 1..63 characters", in, line);
        int s = 0;
        while (s < ns && strcmp(ser[s].name, f[0])) s++;
        if (s == ns) {
            if (ns == MAX_SERIES) cli_die("%s:%d: more than %d series", in, line, MAX_SERIES);
            strcpy(ser[ns++].name, f[0]);
            ser[s].bars = nf == 5;
        }
        if (ser[s].bars != (nf == 5)) cli_die("%s:%d: series '%s' has min/max bars on some points only", in, line, f[0]);
        if (++npts > MAX_POINTS) cli_die("%s: more than %d points", in, MAX_POINTS);
        if (ser[s].n == ser[s].cap && grow(&ser[s])) cli_die("out of memory");
        series *se = &ser[s];
        se->x[se->n] = num(f[1], in, line, "X");
        se->y[se->n] = num(f[2], in, line, "Y");
        se->lo[se->n] = nf == 5 ? num(f[3], in, line, "YMIN") : se->y[se->n];
        se->hi[se->n] = nf == 5 ? num(f[4], in, line, "YMAX") : se->y[se->n];
        if (se->lo[se->n] > se->y[se->n] || se->hi[se->n] < se->y[se->n])
            cli_die("%s:%d: YMIN <= Y <= YMAX does not hold", in, line);
        if (cli_flag(&a, "logx") && se->x[se->n] <= 0) cli_die("%s:%d: X must be > 0 on a log axis", in, line);
        se->n++;
    }
    free(text);
    if (!ns) cli_die("%s: no points to plot", in);
    cli_series cs[MAX_SERIES];
    for (int s = 0; s < ns; s++)
        cs[s] = (cli_series){ser[s].name, ser[s].n, ser[s].x, ser[s].y, ser[s].bars ? ser[s].lo : NULL,
                             ser[s].bars ? ser[s].hi : NULL};
    cli_plot pl = {cli_str(&a, "title", ""), cli_str(&a, "x", "x"), cli_str(&a, "y", "y"), cli_flag(&a, "logx"),
                   cli_flag(&a, "reverse-x"), cli_flag(&a, "y-from-min"), ns, cs};
    cli_svg_plot(out, &pl);
    for (int s = 0; s < ns; s++) free(ser[s].x), free(ser[s].y), free(ser[s].lo), free(ser[s].hi);
    printf("plot: %s (%d series, %d points)\n", out, ns, npts);
    return 0;
}
