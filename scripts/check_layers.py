#!/usr/bin/env python3
"""Fails when a source file includes a header of a layer above its own.

The layers (docs/HACKING.md), each a folder under src/ and a CMake library
that links only the layers below it: core <- kernels <- store <- nn <-
compress <- io, deploy <- tools, with data beside kernels (it uses core
only).  Public headers (include/minnow/) belong to the layer that
implements them and may include only public headers; they never name an
instruction set.  Usage: check_layers.py [REPO_ROOT]
"""
import os
import re
import sys

BELOW = {
    "core": set(),
    "kernels": {"core"},
    "data": {"core"},
    "store": {"kernels", "core"},
    "nn": {"store", "kernels", "data", "core"},
    "compress": {"nn", "store", "kernels", "data", "core"},
    "io": {"compress", "nn", "store", "kernels", "data", "core", "gen"},
    "deploy": {"compress", "nn", "store", "kernels", "data", "core"},
}
BELOW["tools"] = set(BELOW) | {"gen"}
PUBLIC = {
    "core.h": "core", "qformat.h": "core", "dist.h": "core", "data.h": "data", "datasets.h": "data",
    "graph.h": "nn", "train.h": "nn", "arch.h": "nn", "exits.h": "nn",
    "prune.h": "compress", "quant.h": "compress", "binary.h": "compress",
    "cluster.h": "compress", "lowrank.h": "compress", "distill.h": "compress",
    "recipe.h": "compress", "sparse.h": "compress", "pass.h": "compress",
    "search.h": "compress", "fold.h": "compress", "slim.h": "compress", "gate.h": "compress",
    "io.h": "io", "checkpoint.h": "io", "onnx.h": "io",
    "export_c.h": "deploy",
}
ISA = re.compile(r"avx|vnni|sse\d|neon|popcnt", re.I)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def layer_of_header(h):
    if h.startswith("minnow/"):
        return PUBLIC.get(h[len("minnow/"):], "?public")
    if h == "onnx.pb-c.h":
        return "gen"
    top = h.split("/")[0]
    return top if top in BELOW else None  # system headers: None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    bad = []
    pub = os.path.join(root, "include", "minnow")
    for f in sorted(os.listdir(pub)):
        if f not in PUBLIC:
            bad.append(f"include/minnow/{f}: public header has no layer in scripts/check_layers.py")
    files = []
    for d in sorted(os.listdir(os.path.join(root, "src"))):
        for f in sorted(os.listdir(os.path.join(root, "src", d))):
            if f.endswith((".c", ".h")):
                files.append((f"src/{d}/{f}", d))
        if d not in BELOW:
            bad.append(f"src/{d}: folder is not a layer")
    for f in sorted(os.listdir(pub)):
        files.append((f"include/minnow/{f}", PUBLIC.get(f, "core")))
    for f in sorted(os.listdir(os.path.join(root, "tools"))):
        if f.endswith((".c", ".h")):
            files.append((f"tools/{f}", "tools"))
    for path, layer in files:
        text = open(os.path.join(root, path), encoding="utf-8").read()
        code = strip_comments(text)
        for h in re.findall(r'^\s*#\s*include\s+"([^"]+)"', code, re.M):
            hl = layer_of_header(h)
            if hl is None or hl == layer:
                continue
            if path.startswith("include/") and not h.startswith("minnow/"):
                bad.append(f"{path}: public header includes private {h}")
            elif hl not in BELOW.get(layer, set()):
                bad.append(f"{path} ({layer}) includes {h} ({hl}): a higher layer")
        if path.startswith("include/"):
            for m in ISA.finditer(code):
                bad.append(f"{path}: names an instruction set ('{m.group(0)}')")
                break
    for b in bad:
        print(b)
    print(f"layers: {len(files)} files checked, {len(bad)} violations")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
