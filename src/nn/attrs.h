/* The attribute schema: every mn_attrs field under one name and type.  The
 * .mnw file format (src/io) and the text architecture spec (arch.c) both
 * read this one table, so a new attribute is one line here. */
#ifndef MINNOW_NN_ATTRS_H
#define MINNOW_NN_ATTRS_H

#include <stddef.h>
#include <stdint.h>

#include "minnow/graph.h"

/* Attribute value types. */
#define MN_ATTR_I32 1u
#define MN_ATTR_F32 2u

typedef struct mn_attr_desc {
    const char *name;
    uint32_t type;
    size_t off; /* offsetof(mn_attrs, field) */
} mn_attr_desc;

/* Every mn_attrs field under its file name.  Appending here is how a new
 * attribute joins the format; renaming or retyping one breaks old files. */
static const mn_attr_desc mn_attr_schema[] = {
    {"units", MN_ATTR_I32, offsetof(mn_attrs, units)},
    {"filters", MN_ATTR_I32, offsetof(mn_attrs, filters)},
    {"k", MN_ATTR_I32, offsetof(mn_attrs, k)},
    {"stride", MN_ATTR_I32, offsetof(mn_attrs, stride)},
    {"pad", MN_ATTR_I32, offsetof(mn_attrs, pad)},
    {"groups", MN_ATTR_I32, offsetof(mn_attrs, groups)},
    {"c", MN_ATTR_I32, offsetof(mn_attrs, c)},
    {"h", MN_ATTR_I32, offsetof(mn_attrs, h)},
    {"w", MN_ATTR_I32, offsetof(mn_attrs, w)},
    {"rate", MN_ATTR_F32, offsetof(mn_attrs, rate)},
    {"eps", MN_ATTR_F32, offsetof(mn_attrs, eps)},
    {"momentum", MN_ATTR_F32, offsetof(mn_attrs, momentum)},
    {"bmode", MN_ATTR_I32, offsetof(mn_attrs, bmode)},
    {"bsparse", MN_ATTR_F32, offsetof(mn_attrs, bsparse)},
    {"xscale", MN_ATTR_I32, offsetof(mn_attrs, xscale)},
    {"bfold", MN_ATTR_I32, offsetof(mn_attrs, bfold)},
    {"act_bits", MN_ATTR_I32, offsetof(mn_attrs, act_bits)},
    {"act_frac", MN_ATTR_I32, offsetof(mn_attrs, act_frac)},
    {"max", MN_ATTR_F32, offsetof(mn_attrs, max)},
    {"slots", MN_ATTR_I32, offsetof(mn_attrs, slots)},
};
#define MN_NATTRS ((int)(sizeof mn_attr_schema / sizeof mn_attr_schema[0]))

#endif
