/* minnow arch: the papers' networks by name, and a small text spec for
 * anything else. */
#ifndef MINNOW_ARCH_H
#define MINNOW_ARCH_H

#include "minnow/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Builds and finalizes (parameters zero) into g (initialised here).
 * `arch` is a built-in name (lenet300, lenet5, mlp1200, mlp800, conv2, conv4,
 * conv6, resnet20/32/56, mobilenet, mobilenetv2; the generated ones take a
 * width multiplier, "mobilenet:0.25"), a path to a spec file, or an inline spec with ';' between
 * statements.  c, h, w, nclass describe the data (the spec's input may
 * override the shape).  Spec statements, one per line or ';'-separated:
 *     OP NAME [key=value ...] [in=A[,B...]]
 * OP is a node op (input, dense, conv, maxpool, avgpool, relu, tanh,
 * dropout, flatten, batchnorm, add, softmax, concat; sbn, gate, gadd of
 * minnow/slim.h and minnow/gate.h); keys are the mn_attrs fields
 * (units, filters, k, stride, pad, groups, c, h, w, rate, eps, momentum,
 * slots; relu max=6 is ReLU6);
 * `units=classes` means nclass.  Without in=, a node takes the previous one.
 * '#' starts a comment. */
mn_status mn_arch_build(mn_graph *g, const char *arch, int c, int h, int w,
                        int nclass);
/* The built-in names, NULL-terminated. */
const char *const *mn_arch_names(void);
/* The spec text of a built-in (for `minnow train --help` and docs). */
const char *mn_arch_spec(const char *name);

#ifdef __cplusplus
}
#endif
#endif
