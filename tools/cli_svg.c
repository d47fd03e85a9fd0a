/* Line plots as SVG (minnow plot, eval --sweep --svg, sensitivity --svg):
 * series of points with optional min/max bars, linear or log x, legend. */
#include "cli_svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "core/file.h"

static const char *const COLORS[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                     "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define NCOLORS (int)(sizeof COLORS / sizeof COLORS[0])

/* Text for SVG: the five XML specials escaped. */
static void xml(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if ((unsigned char)*s >= 32 || *s == '\t') fputc(*s, f); /* XML has no other controls */
        }
    }
}

typedef struct frame { double W, H, L, R, T, B, x0, x1, y0, y1; int logx, rev; } frame;

static double fx(const frame *f, double x) {
    double u = f->logx ? (log10(x) - f->x0) / (f->x1 - f->x0) : (x - f->x0) / (f->x1 - f->x0);
    if (f->rev) u = 1 - u;
    return f->L + (f->W - f->L - f->R) * u;
}
static double fy(const frame *f, double y) { return f->H - f->B - (f->H - f->T - f->B) * (y - f->y0) / (f->y1 - f->y0); }

void cli_svg_plot(const char *path, const cli_plot *p) {
    frame fr = {640, 400, 70, 170, 34, 50, INFINITY, -INFINITY, INFINITY, -INFINITY, p->logx, p->reverse_x};
    int any = 0;
    for (int s = 0; s < p->nseries; s++)
        for (int i = 0; i < p->s[s].n; i++) {
            double x = p->s[s].x[i], lo = p->s[s].lo ? p->s[s].lo[i] : p->s[s].y[i];
            double hi = p->s[s].hi ? p->s[s].hi[i] : p->s[s].y[i];
            if (!isfinite(x) || !isfinite(lo) || !isfinite(hi) || (p->logx && x <= 0))
                cli_die("%s: a point that cannot be plotted (not finite, or x <= 0 on a log axis)", path);
            double xv = p->logx ? log10(x) : x;
            fr.x0 = fmin(fr.x0, xv);
            fr.x1 = fmax(fr.x1, xv);
            fr.y0 = fmin(fr.y0, fmin(lo, p->s[s].y[i]));
            fr.y1 = fmax(fr.y1, fmax(hi, p->s[s].y[i]));
            any = 1;
        }
    if (!any) cli_die("%s: no points to plot", path);
    if (fr.x1 == fr.x0) { fr.x0 -= 1; fr.x1 += 1; }
    if (fr.y0 > 0 && !p->y_from_min) fr.y0 = 0;
    double pad = (fr.y1 - fr.y0) * 0.08 + 1e-9;
    fr.y1 += pad;
    if (p->y_from_min) fr.y0 -= pad;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) cli_die("out of memory writing %s", path);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            fr.W, fr.H, fr.W, fr.H);
    fprintf(f, "<text x=\"%g\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">", (fr.L + fr.W - fr.R) / 2);
    xml(f, p->title);
    fprintf(f, "</text>\n<g stroke=\"black\"><line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\"/>"
               "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\"/></g>\n",
            fr.L, fr.H - fr.B, fr.W - fr.R, fr.H - fr.B, fr.L, fr.T, fr.L, fr.H - fr.B);
    for (int t = 0; t <= 5; t++) { /* ticks: 6 along each axis */
        double xv = fr.x0 + (fr.x1 - fr.x0) * t / 5, yv = fr.y0 + (fr.y1 - fr.y0) * t / 5;
        double xr = fr.logx ? pow(10, xv) : xv;
        fprintf(f, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%.3g</text>\n", fx(&fr, xr), fr.H - fr.B + 16, xr);
        fprintf(f, "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", fr.L - 6, fy(&fr, yv) + 4, yv);
        fprintf(f, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", fr.L, fy(&fr, yv),
                fr.W - fr.R, fy(&fr, yv));
    }
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">", (fr.L + fr.W - fr.R) / 2, fr.H - 12);
    xml(f, p->xlabel);
    fprintf(f, "%s</text>\n", p->logx ? " (log scale)" : "");
    fprintf(f, "<text x=\"16\" y=\"%g\" transform=\"rotate(-90 16 %g)\" text-anchor=\"middle\">", (fr.T + fr.H - fr.B) / 2,
            (fr.T + fr.H - fr.B) / 2);
    xml(f, p->ylabel);
    fputs("</text>\n", f);
    for (int s = 0; s < p->nseries; s++) {
        const cli_series *se = &p->s[s];
        const char *c = COLORS[s % NCOLORS];
        fprintf(f, "<g><title>");
        xml(f, se->name);
        fprintf(f, "</title><polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", c);
        for (int i = 0; i < se->n; i++) fprintf(f, "%.1f,%.1f ", fx(&fr, se->x[i]), fy(&fr, se->y[i]));
        fputs("\"/>\n", f);
        for (int i = 0; i < se->n; i++) {
            double x = fx(&fr, se->x[i]);
            if (se->lo && se->hi)
                fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", x, fy(&fr, se->lo[i]), x,
                        fy(&fr, se->hi[i]), c);
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%.4g, %.4g</title></circle>\n", x,
                    fy(&fr, se->y[i]), c, se->x[i], se->y[i]);
        }
        double ly = fr.T + 10 + 18 * s;
        fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"2\"/>"
                   "<text x=\"%g\" y=\"%g\">",
                fr.W - fr.R + 10, ly, fr.W - fr.R + 30, ly, c, fr.W - fr.R + 35, ly + 4);
        xml(f, se->name);
        fputs("</text></g>\n", f);
    }
    fputs("</svg>\n", f);
    if (fclose(f)) cli_die("out of memory writing %s", path);
    mn_status st = mn_write_file_atomic(path, buf, len);
    free(buf);
    cli_check(st);
}
