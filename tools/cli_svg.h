/* tools/cli_svg.c: line plots as SVG. */
#ifndef MINNOW_CLI_SVG_H
#define MINNOW_CLI_SVG_H

typedef struct cli_series {
    const char *name;
    int n;
    const double *x, *y;
    const double *lo, *hi;  /* optional bars (both or neither) */
} cli_series;

typedef struct cli_plot {
    const char *title, *xlabel, *ylabel;
    int logx, reverse_x;    /* reverse_x: larger x on the left (weights remaining) */
    int y_from_min;         /* 0: the y axis starts at 0 when every y is positive */
    int nseries;
    const cli_series *s;
} cli_plot;

/* Writes the plot atomically, or dies with one line: nothing finite to
 * plot, x <= 0 on a log axis, or the file cannot be written. */
void cli_svg_plot(const char *path, const cli_plot *p);

#endif
