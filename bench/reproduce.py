#!/usr/bin/env python3
"""The papers' tables, re-run by minnow: one row per command.

    bench/reproduce.sh ROW [--seeds 1,2,3] [--data mnist-full] [--out DIR]
                           [--threads N] [--quick] [--list]

Each row runs the `minnow` verbs a user would (finding minnow through
$MINNOW, else build/minnow), prints one JSON line per seed and then a summary
line (mean, std, min, max of every figure) with the paper's figure beside
it, and leaves the models and per-run logs in --out.  Dense baselines are
trained from recipes/train-*.yaml once per seed and reused by the rows that
start from them.  --quick shrinks every budget (one epoch, two rounds) so
that a test can check that each row still runs; its numbers mean nothing.
Errors are measured on --val (default val: for mnist-full, 8,000 images of
the official test set); nothing is chosen on it.  docs/REPRODUCE.md quotes
what these rows print.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINNOW = os.environ.get("MINNOW") or os.path.join(ROOT, "build", "minnow")

# Han et al. 2015, Tables 1-2 / Deep Compression Tables 2-3: fraction of
# weights REMOVED per layer.
HAN_LENET300 = "fc1=0.92,fc2=0.91,fc3=0.74"
HAN_LENET5 = "conv1=0.34,conv2=0.88,fc1=0.92,fc2=0.81"


class Ctx:
    def __init__(self, a):
        self.a = a
        self.quick = a.quick
        self.out = a.out
        os.makedirs(self.out, exist_ok=True)

    def E(self, n):
        """An epoch/round budget: n, or 1 with --quick."""
        return 1 if self.quick else n

    def minnow(self, name, args, json_out=True, may_fail=False):
        """Runs minnow with --json; its stderr goes to OUT/name.log.  A
        refusal (exit 1) is None where may_fail: the row records it."""
        cmd = [MINNOW] + args + (["--threads", str(self.a.threads)] if args[0] != "plot" else []) + \
            (["--json"] if json_out else [])
        log = os.path.join(self.out, name + ".log")
        t0 = time.time()
        with open(log, "w") as lf:
            lf.write("$ " + " ".join(cmd) + "\n")
            lf.flush()
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=lf, text=True)
        if p.returncode == 1 and may_fail:
            return None
        if p.returncode != 0:
            sys.exit("reproduce: %s failed (exit %d); see %s" % (" ".join(cmd), p.returncode, log))
        r = json.loads(p.stdout) if json_out else {}
        r["_minutes"] = (time.time() - t0) / 60
        return r

    def data(self, extra=None):
        d = ["--data", self.a.data]
        if self.a.val != "val":
            d += ["--val", self.a.val]
        return d + (extra or [])

    def model(self, tag, seed):
        return os.path.join(self.out, "%s-%s-s%d.mnw" % (tag, os.path.basename(self.a.data.rstrip("/")), seed))

    def dense(self, net, seed):
        """The dense baseline of recipes/train-NET.yaml for this seed
        (trained once, then reused), and its report."""
        path = self.model("dense-" + net, seed)
        rep = path + ".json"
        if os.path.exists(path) and os.path.exists(rep):
            with open(rep) as f:
                return path, json.load(f)
        args = ["train", "--recipe", os.path.join(ROOT, "recipes", "train-%s.yaml" % net), "--seed", str(seed),
                "-o", path] + self.data()
        if self.quick:
            args += ["--epochs", "1"]
        r = self.minnow("dense-%s-s%d" % (net, seed), args)
        write_atomic(rep, json.dumps({"val_error": r["val_error"], "val_n": r["val_n"], "minutes": r["_minutes"]}))
        return path, {"val_error": r["val_error"], "val_n": r["val_n"], "minutes": r["_minutes"]}

    def train_opts(self, net):
        """The recipe's training options as CLI options (for snip, lottery
        and random at init, which train from --arch themselves)."""
        opts, on = [], False
        for line in open(os.path.join(ROOT, "recipes", "train-%s.yaml" % net)):
            line = line.split("#")[0].rstrip()
            if line.startswith("train:"):
                on = True
            elif on and line.startswith("  ") and ":" in line:
                k, v = [s.strip() for s in line.split(":", 1)]
                if k != "arch":
                    opts += ["--" + k.replace("_", "-"), v]
            elif on and line and not line.startswith(" "):
                on = False
        if self.quick:
            opts += ["--epochs", "1"]
        return opts


# ---- rows -------------------------------------------------------------------

def row_dense(net):
    def run(c, seed):
        _, r = c.dense(net, seed)
        return {"error": r["val_error"], "errors": round(r["val_error"] * r["val_n"]), "n": r["val_n"],
                "minutes": r["minutes"]}
    return run


def row_han(net, spec, finetune_opts, gradual_epochs):
    """Han et al. 2015: iterative magnitude pruning at the paper's per-layer
    fractions (5 steps of 3 epochs; and the gradual schedule of Zhu & Gupta
    2017, the mask raised every 100 steps over gradual_epochs), beside
    random pruning at the same per-layer fractions and global magnitude
    pruning to 8.0% (Blalock et al. 2020)."""
    def run(c, seed):
        dense, d = c.dense(net, seed)
        ft = ["--steps", str(c.E(5)), "--finetune", str(c.E(3)), "--seed", str(seed)] + finetune_opts
        out = {"dense": d["val_error"]}
        gr = c.minnow("han-gradual-%s-s%d" % (net, seed),
                      ["prune", dense, "--method", "magnitude", "--sparsity", spec, "--schedule", "gradual",
                       "--epochs", str(c.E(gradual_epochs)), "--seed", str(seed), "--opt", "sgd", "--lr", "0.01",
                       "--wd", "1e-4", "--batch", "128", "--sched", "cosine",
                       "-o", c.model("han-gradual-" + net, seed)] + c.data())
        out["gradual"] = gr["val_error"]
        r = c.minnow("han-%s-s%d" % (net, seed), ["prune", dense, "--method", "magnitude", "--sparsity", spec,
                                                  "-o", c.model("han-" + net, seed)] + ft + c.data())
        out["magnitude"] = r["val_error"]
        out["density"] = r["density"]
        rr = c.minnow("han-random-%s-s%d" % (net, seed), ["prune", dense, "--method", "random", "--sparsity", spec,
                                                          "-o", c.model("han-random-" + net, seed)] + ft + c.data())
        out["random"] = rr["val_error"]
        # One threshold across layers at 92% removed: 8.0% kept, the "<= 8%"
        # of the bar (Han's fractions keep 8.2% / 8.4%).
        g = c.minnow("han-global-%s-s%d" % (net, seed),
                     ["prune", dense, "--method", "magnitude", "--scope", "global", "--sparsity", "0.92",
                      "-o", c.model("han-global-" + net, seed)] + ft + c.data())
        out["global"] = g["val_error"]
        out["global_density"] = g["density"]
        out["minutes"] = r["_minutes"] + rr["_minutes"] + g["_minutes"] + gr["_minutes"]
        return out
    return run


def row_dc(net):
    """Deep Compression: prune -> k-means sharing -> Huffman, by the shipped
    recipe; the ratio is the dense f32 file over the compressed file."""
    def run(c, seed):
        dense, d = c.dense(net, seed)
        recipe = os.path.join(ROOT, "recipes", "deep-compression-%s.yaml" % net)
        if c.quick:
            recipe = quick_recipe(c, recipe)
        r = c.minnow("dc-%s-s%d" % (net, seed), ["compress", dense, "--recipe", recipe,
                                                 "-o", c.model("dc-" + net, seed)] + c.data())
        out = {"dense": d["val_error"], "error": r["val_error"], "ratio": r["ratio"], "bytes": r["file_bytes"],
               "dense_bytes": r["dense_file_bytes"], "minutes": r["_minutes"]}
        out["layers"] = [{k: l[k] for k in ("name", "weights", "nonzero", "bits", "index_bits", "weight_bytes", "bytes")}
                         for l in r["layers"]]
        return out
    return run


def write_atomic(path, text):
    """Under mpirun several ranks write the same recipe: none may read
    another's half-written file."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def quick_recipe(c, recipe):
    """The recipe with every fine-tuning shortened to one epoch."""
    q = os.path.join(c.out, "quick-" + os.path.basename(recipe))
    out = []
    with open(recipe) as f:
        for line in f:
            s = line.split("#")[0]
            if s.strip().startswith(("finetune:", "steps:", "epochs:")):
                line = s[:s.index(":") + 1] + " 1\n"
            out.append(line)
    write_atomic(q, "".join(out))
    return q


def row_snip(net, levels, batches):
    """SNIP at init (the sensitivity summed over `batches` mini-batches of
    100), with Frankle et al. 2021's shuffled-mask control and uniform random
    pruning at init, all trained like the dense recipe."""
    def run(c, seed):
        _, d = c.dense(net, seed)
        out = {"dense": d["val_error"]}
        tr = c.train_opts(net) + ["--seed", str(seed)]
        mins = 0
        for s in levels:
            tag = "%s-%g" % (net, s)
            snip = ["--method", "snip", "--samples", str(batches)]
            for kind, extra in (("snip", snip), ("shuffled", snip + ["--shuffle"]), ("random", ["--method", "random"])):
                r = c.minnow("snip-%s-%s-s%d" % (kind, tag, seed),
                             ["prune", "--arch", net, "--sparsity", str(s), "-o", c.model("%s-%s" % (kind, tag), seed)]
                             + extra + tr + c.data(), may_fail=kind == "random")
                # Uniform random pruning can be refused: 98% of LeNet-5's
                # 500-weight conv1 leaves fewer weights than filters.
                out["%s@%g" % (kind, s)] = r["val_error"] if r else None
                mins += r["_minutes"] if r else 0
        out["minutes"] = mins
        return out
    return run


def row_lottery(net, rounds):
    """Frankle & Carbin 2019: 20% of each hidden layer (10% of the output
    layer) per round, rewound to init, Adam 1.2e-3, batch 60, early stopping
    on 5,000 held-out training images; the random re-initialisation of every
    round's mask beside it."""
    def run(c, seed):
        R = 2 if c.quick else c.a.lottery_rounds or rounds
        s = 1 - 0.8 ** R
        r = c.minnow("lottery-%s-s%d" % (net, seed),
                     ["prune", "--method", "lottery", "--arch", net, "--sparsity", "%.6f" % s, "--rounds", str(R),
                      "--control-all", "--holdout", "500" if c.quick else "5000", "--epochs", str(c.E(c.a.lottery_epochs)),
                      "--opt", "adam", "--lr", "1.2e-3", "--batch", "60", "--seed", str(seed),
                      "-o", c.model("lottery-" + net, seed)] + c.data())
        out = {"minutes": r["_minutes"]}
        for x in r["lottery"]["rounds"]:
            k = "%.1f%%" % (100 * x["density"])
            out["ticket@" + k] = x["val_error"]
            out["ticket_epoch@" + k] = x["epoch"]
            if x["control_val_error"] >= 0:
                out["reinit@" + k] = x["control_val_error"]
        return out
    return run


def row_obd(net, levels):
    """Optimal Brain Damage vs magnitude, one shot then fine-tuned, at the
    same sparsities (one global threshold each)."""
    def run(c, seed):
        dense, d = c.dense(net, seed)
        out = {"dense": d["val_error"]}
        mins = 0
        for s in levels:
            for m in ("obd", "magnitude", "random"):
                args = ["prune", dense, "--method", m, "--sparsity", str(s), "--finetune", str(c.E(3)),
                        "--seed", str(seed), "-o", c.model("%s-%g" % (m, s), seed)]
                if m != "random":
                    args += ["--scope", "global"]
                r = c.minnow("obd-%s-%g-s%d" % (m, s, seed), args + ["--opt", "sgd", "--lr", "0.01", "--batch", "128"]
                             + c.data())
                out["%s@%g" % (m, s)] = r["val_error"]
                out["%s_oneshot@%g" % (m, s)] = r["stages"][0]["val_error"]
                mins += r["_minutes"]
        out["minutes"] = mins
        return out
    return run


def row_distill(c, seed):
    """Hinton et al. 2015: the 2x800 net distilled from the 2x1200 teacher
    (one teacher, seed 1, as the paper has one; T and alpha are the CLI's
    defaults), beside it trained alone."""
    teacher, t = c.dense("mlp1200", 1)
    _, alone = c.dense("mlp800", seed)
    r = c.minnow("distill-mlp800-s%d" % seed,
                 ["distill", "--teacher", teacher, "--arch", "mlp800", "--temperature", str(c.a.temperature),
                  "--alpha", str(c.a.alpha), "--seed", str(seed), "-o", c.model("distilled-mlp800", seed)]
                 + c.train_opts("mlp800") + c.data())
    n = alone["val_n"]
    return {"teacher_errors": round(t["val_error"] * n), "alone_errors": round(alone["val_error"] * n),
            "distilled_errors": round(r["val_error"] * n), "n": n, "minutes": r["_minutes"]}


def row_no3(c, seed):
    """Hinton et al. 2015's "no 3": the 2x800 student distilled from the
    teacher on a transfer set with every 3 removed, tested on all digits;
    then class 3's output bias shifted by the amount with the fewest errors
    on the whole training split (the paper: +3.5, chosen by hand)."""
    teacher, _ = c.dense("mlp1200", 1)
    r = c.minnow("no3-mlp800-s%d" % seed,
                 ["distill", "--teacher", teacher, "--arch", "mlp800", "--temperature", str(c.a.temperature),
                  "--alpha", str(c.a.alpha), "--seed", str(seed), "--exclude-class", "3", "--fix-bias",
                  "-o", c.model("no3-mlp800", seed)] + c.train_opts("mlp800") + c.data())
    b = r["bias_fix"]
    vn, kn = r["val_n"], b["class_val_n"]
    out = {"errors": round(b["val_error_before"] * vn),
           "errors_on_3": round(b["class_val_error_before"] * kn), "n_3": kn,
           "errors_fixed": round(b["val_error_after"] * vn),
           "errors_on_3_fixed": round(b["class_val_error_after"] * kn), "bias_shift": b["shift"],
           "error": b["val_error_before"], "error_fixed": b["val_error_after"], "minutes": r["_minutes"]}
    return out


def row_fixed(c, seed):
    """The lecture's fixed-point table: LeNet-300-100 with weights and
    activations in fixed point, 3 vs 4 fraction bits (and 5, 6: where the
    error comes back for a net trained with weight decay, whose weights
    are mostly below 2^-4)."""
    dense, d = c.dense("lenet300", seed)
    out = {"dense": d["val_error"]}
    for f in (3, 4, 5, 6):
        r = c.minnow("fixed-%d-s%d" % (f, seed), ["quantize", dense, "--method", "fixed", "--frac-bits", str(f),
                                                  "-o", c.model("fixed%d-lenet300" % f, seed)] + c.data())
        out["frac%d" % f] = r["val_error_after"]
    return out


MLP1024X5 = ("input x; flatten flat; " + " ".join("dense fc%d units=1024; relu r%d;" % (i, i) for i in range(1, 6))
             + " dense out units=classes")


def row_lecture_threshold(c, seed):
    """The lecture's experiment: a 1024x5 MLP (10 epochs of the LeNet-300
    recipe's SGD), every weight with |w| below a threshold removed at once,
    error before and after, then after 3 epochs of fine-tuning with the mask
    fixed.  The lecture's threshold, 0.1, and 0.01: with weight decay the
    weights of 1024-wide layers are mostly far below 0.1, and minnow refuses
    a cut that leaves a layer fewer weights than units (recorded as null)."""
    path = c.model("mlp1024x5", seed)
    rep = path + ".json"
    if os.path.exists(path) and os.path.exists(rep):
        with open(rep) as f:
            dense = json.load(f)["val_error"]
    else:
        t = c.minnow("mlp1024x5-s%d" % seed, ["train", "--arch", MLP1024X5, "-o", path, "--seed", str(seed)]
                     + c.train_opts("lenet300") + ["--epochs", str(c.E(10))] + c.data())
        dense = t["val_error"]
        write_atomic(rep, json.dumps({"val_error": dense}))
    out = {"dense": dense}
    for thr in ("0.1", "0.01"):
        for ft in (0, c.E(3)):
            r = c.minnow("threshold-%s-ft%d-s%d" % (thr, ft, seed),
                         ["prune", path, "--method", "magnitude", "--threshold", thr, "--finetune", str(ft),
                          "--opt", "sgd", "--lr", "0.01", "--batch", "128",
                          "-o", c.model("thr%s-ft%d" % (thr, ft), seed)] + c.data(), may_fail=True)
            out["pruned@%s-ft%d" % (thr, ft)] = r["val_error"] if r else None
            out["kept@%s" % thr] = r["density"] if r else None
    return out


def row_int8(net):
    def run(c, seed):
        dense, d = c.dense(net, seed)
        r = c.minnow("int8-%s-s%d" % (net, seed), ["quantize", dense, "--method", "affine", "--bits", "8",
                                                   "-o", c.model("int8-" + net, seed)] + c.data())
        return {"dense": d["val_error"], "int8": r["val_error_after"], "bytes": r["output_bytes"]}
    return run


def curve_points(results, prefix, xmap):
    """{x: [value per seed]} of the keys PREFIX@LEVEL present in every
    result, x = xmap(LEVEL text)."""
    pts = {}
    for k in results[0]:
        if k.startswith(prefix + "@") and all(isinstance(r.get(k), (int, float)) for r in results):
            pts[xmap(k.split("@", 1)[1])] = [r[k] for r in results]
    return pts


def plot(c, row, series, title, xlabel, ylabel, flags):
    """Writes OUT/ROW.tsv (series, x, mean, min, max) and minnow plot's SVG
    of it; returns the SVG's path."""
    tsv = os.path.join(c.out, row + ".tsv")
    with open(tsv, "w") as f:
        f.write("# series\tx\tmean\tmin\tmax over seeds\n")
        for name, pts in series:
            for x in sorted(pts, reverse=True):
                v = pts[x]
                f.write("%s\t%.6g\t%.6g\t%.6g\t%.6g\n" % (name, x, sum(v) / len(v), min(v), max(v)))
    svg = os.path.join(c.out, row + ".svg")
    c.minnow("plot-" + row, ["plot", tsv, "-o", svg, "--title", title, "--x", xlabel, "--y", ylabel] + flags,
             json_out=False)
    return svg


def pct(v):
    return [100 * x for x in v]


def plot_lottery(c, row, results):
    dens = lambda k: float(k.rstrip("%"))
    t = {x: pct(v) for x, v in curve_points(results, "ticket", dens).items()}
    r = {x: pct(v) for x, v in curve_points(results, "reinit", dens).items()}
    return plot(c, row, [("winning ticket", t), ("random reinit", r)],
                "Lottery tickets, %s (%d trials): min/max bars" % (row.split("-")[1], len(results)),
                "weights remaining (%)", "val error (%)", ["--logx", "--reverse-x", "--y-from-min"])


def plot_snip(c, row, results):
    left = lambda k: 100 * (1 - float(k))
    ser = [(name, {x: pct(v) for x, v in curve_points(results, key, left).items()})
           for key, name in (("snip", "SNIP"), ("shuffled", "SNIP mask shuffled per layer"),
                             ("random", "random (uniform per layer)"))]
    ser = [s for s in ser if s[1]]
    xs = [x for _, pts in ser for x in pts]
    d = pct([r["dense"] for r in results])
    ser.append(("dense", {max(xs): d, min(xs): d}))
    return plot(c, row, ser, "SNIP and its controls, %s (%d seeds)" % (row.split("-")[1], len(results)),
                "weights remaining (%)", "val error (%)", ["--logx", "--reverse-x", "--y-from-min"])


def plot_dc_sweep(c, row, results):
    ser = []
    for b in (2, 3, 4, 5, 6):
        pts = {}
        for k in results[0]:
            if k.startswith("bytes@") and k.endswith("b%d" % b):
                lvl = k.split("@", 1)[1]
                if all(isinstance(r.get("error@" + lvl), (int, float)) for r in results):
                    x = sum(r[k] for r in results) / len(results) / 1024
                    pts[x] = pct([r["error@" + lvl] for r in results])
        if pts:
            ser.append(("%d-bit shared" % b, pts))
    return plot(c, row, ser, "Deep Compression of %s: size vs error (%d seeds)" % (row.split("-")[2], len(results)),
                "file size (KiB)", "val error (%)", ["--logx", "--y-from-min"])


def row_dc_sweep(net, levels, bits):
    """The Deep Compression trade-off: prune (one global threshold, 5
    steps of 3 epochs of SGD as in the shipped recipe) to each sparsity,
    share at each bit width, Huffman-code; file bytes and error for every
    pair."""
    def run(c, seed):
        dense, d = c.dense(net, seed)
        out = {"dense": d["val_error"]}
        mins = 0
        for s in levels:
            for b in bits:
                rec = os.path.join(c.out, "sweep-%s-%g-%d.yaml" % (net, s, b))
                write_atomic(rec, "name: sweep\npasses:\n  - prune:\n      method: magnitude\n      sparsity: %g\n"
                             "      scope: global\n      steps: %d\n      finetune: %d\n      opt: sgd\n      lr: 0.02\n"
                             "      wd: 1.0e-4\n      batch: 128\n      sched: cosine\n"
                             "  - quantize:\n      method: kmeans\n      bits: %d\n      finetune: %d\n"
                             "      lr: 1.0e-3\n      bias_lr: 1.0e-4\n  - encode:\n      huffman: true\n"
                             % (s, c.E(5), c.E(3), b, c.E(4)))
                r = c.minnow("sweep-%s-%g-%d-s%d" % (net, s, b, seed),
                             ["compress", dense, "--recipe", rec, "-o", c.model("sweep-%s-%g-%d" % (net, s, b), seed)]
                             + c.data())
                out["error@%g-b%d" % (s, b)] = r["val_error"]
                out["bytes@%g-b%d" % (s, b)] = r["file_bytes"]
                mins += r["_minutes"]
        out["minutes"] = mins
        return out
    return run


SGD_FT = ["--opt", "sgd", "--lr", "0.02", "--wd", "1e-4", "--batch", "128", "--sched", "cosine"]
ROWS = {
    "dense-lenet300": (row_dense("lenet300"), "error 1.64% (Han et al. 2015)"),
    "dense-lenet5": (row_dense("lenet5"), "error 0.80% (Han et al. 2015)"),
    "dense-mlp800": (row_dense("mlp800"), "146 errors of 10,000 (Hinton et al. 2015)"),
    "dense-mlp1200": (row_dense("mlp1200"), "67 errors of 10,000 (Hinton et al. 2015)"),
    "han-lenet300": (row_han("lenet300", HAN_LENET300, SGD_FT, 30), "8% of weights, error 1.59% (dense 1.64%)"),
    "han-lenet5": (row_han("lenet5", HAN_LENET5, SGD_FT, 15), "8% of weights, error 0.77% (dense 0.80%)"),
    "dc-lenet300": (row_dc("lenet300"), "40x, error 1.58%"),
    "dc-lenet5": (row_dc("lenet5"), "39x, error 0.74%"),
    "dc-sweep-lenet300": (row_dc_sweep("lenet300", [0.8, 0.9, 0.95, 0.97], [2, 3, 4, 5, 6]),
                          "pruning + sharing lose nothing to ~40x (Deep Compression, Fig. 6)", plot_dc_sweep),
    "snip-lenet300": (row_snip("lenet300", [0.9, 0.95, 0.98, 0.99], 100), "95%: 1.6% (dense 1.7%); 98%: 2.4%",
                      plot_snip),
    "snip-lenet5": (row_snip("lenet5", [0.98, 0.99], 10), "98%: 0.8% (dense 0.9%); 99%: 1.1%", plot_snip),
    "lottery-lenet300": (row_lottery("lenet300", 18), "tickets beat dense down to ~3.6% of weights; "
                         "reinit worse below ~50% (Frankle & Carbin 2019, Fig. 3)", plot_lottery),
    "obd-lenet300": (row_obd("lenet300", [0.9, 0.95, 0.98]), "OBD removes more weights than magnitude at equal "
                     "error (LeCun et al. 1990, on another net)"),
    "distill-mlp800": (row_distill, "2x800: 146 alone, 74 distilled; teacher 67 (Hinton et al. 2015)"),
    "lecture-1024x5": (row_lecture_threshold, "weights in (-0.1, 0.1) removed: most weights go, accuracy "
                       "stays (decks 002)"),
    "distill-no3": (row_no3, "206 errors, 133 of them on the 1,010 3s; bias of 3 +3.5: 109 errors, 14 on 3s"),
    "fixed-lenet300": (row_fixed, "lecture: 4 fraction bits keep the error, 3 lose (decks 003)"),
    "int8-lenet5": (row_int8("lenet5"), "int8 within 0.1 point of f32"),
    "dc-lenet5-fashion": (row_dc("lenet5"), "(no paper figure: a harder data set of the same shapes)"),
    "int8-lenet5-fashion": (row_int8("lenet5"), "(no paper figure: int8 of the same net on Fashion-MNIST)"),
}


def summary(row, paper, results):
    keys = [k for k in results[0] if k != "seed" and all(isinstance(r.get(k), (int, float)) for r in results)]
    s = {"row": row, "summary": True, "seeds": len(results), "paper": paper}
    for k in keys:
        v = [r[k] for r in results]
        m = sum(v) / len(v)
        sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
        s[k] = {"mean": round(m, 6), "std": round(sd, 6), "min": min(v), "max": max(v)}
    return s


def launcher_rank():
    """(rank, ranks, job id) when started by mpirun or srun, else (0, 1, None)."""
    e = os.environ
    if "OMPI_COMM_WORLD_SIZE" in e:
        return int(e["OMPI_COMM_WORLD_RANK"]), int(e["OMPI_COMM_WORLD_SIZE"]), e.get("PMIX_NAMESPACE", "ompi")
    if "SLURM_PROCID" in e and "SLURM_NTASKS" in e and "SLURM_STEP_ID" in e:
        return int(e["SLURM_PROCID"]), int(e["SLURM_NTASKS"]), "%s.%s" % (e.get("SLURM_JOB_ID"), e["SLURM_STEP_ID"])
    return 0, 1, None


def spread_seeds(c, a, fn, seeds, rank, ranks, job):
    """Under `mpirun -np N bench/reproduce.sh ROW`: seed i runs on rank
    i % N, alone (its minnow runs are not MPI jobs), and writes its JSON
    line to OUT/.ranks-JOB/; rank 0 then prints them in seed order.  A
    failing seed leaves a .failed file with its message: rank 0 exits 1
    with it and mpirun ends the job.  Returns the results on rank 0, None
    on the others."""
    os.environ["MINNOW_NO_MPI"] = "1"
    for k in [k for k in os.environ if k.startswith(("OMPI_", "PMIX_", "PMI_"))]:
        del os.environ[k]
    d = os.path.join(c.out, ".ranks-%s" % job)
    os.makedirs(d, exist_ok=True)
    path = lambda seed, ext: os.path.join(d, "%s-seed%d.%s" % (a.row, seed, ext))
    for i, seed in enumerate(seeds):
        if i % ranks != rank:
            continue
        try:
            r = fn(c, seed)
        except BaseException as ex:  # rank 0 must hear of any failure
            with open(path(seed, "failed"), "w") as f:
                f.write("rank %d, seed %d: %s\n" % (rank, seed, ex.code if isinstance(ex, SystemExit) else repr(ex)))
            raise
        r = dict({"row": a.row, "seed": seed, "data": a.data, "split": a.val}, **r)
        with open(path(seed, "tmp"), "w") as f:
            f.write(json.dumps(r))
        os.replace(path(seed, "tmp"), path(seed, "json"))
    if rank != 0:
        return None
    results = []
    for seed in seeds:
        while not os.path.exists(path(seed, "json")):
            if os.path.exists(path(seed, "failed")):
                sys.exit("reproduce: " + open(path(seed, "failed")).read().strip())
            time.sleep(1)
        r = json.load(open(path(seed, "json")))
        print(json.dumps(r), flush=True)
        results.append(r)
    for seed in seeds:
        os.remove(path(seed, "json"))
    os.rmdir(d)
    return results


def main():
    p = argparse.ArgumentParser(description="Re-run a paper's row with minnow (docs/REPRODUCE.md).")
    p.add_argument("row", nargs="?")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--data", default=None, help="data set (default mnist-full; fashion-mnist for *-fashion)")
    p.add_argument("--val", default="val")
    p.add_argument("--out", default="reproduce-out")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="one-epoch budgets: checks that the row runs")
    p.add_argument("--list", action="store_true")
    p.add_argument("--lottery-epochs", type=int, default=20)
    p.add_argument("--lottery-rounds", type=int, default=None, help="rounds of 20%% (default 18: 1.9%% left)")
    p.add_argument("--temperature", type=float, default=4)
    p.add_argument("--alpha", type=float, default=0.9)
    a = p.parse_args()
    if a.list or not a.row:
        for k, (_, paper, *_) in ROWS.items():
            print("%-18s %s" % (k, paper))
        return 0 if a.list else 2
    if a.row not in ROWS:
        sys.exit("reproduce: no row '%s' (--list shows them)" % a.row)
    if a.data is None:
        a.data = "fashion-mnist" if a.row.endswith("-fashion") else "mnist-full"
    # mnist-full is not a data set name minnow fetches; look for it where the
    # named ones are looked for.
    md = os.environ.get("MINNOW_DATA")
    if "/" not in a.data and md and os.path.isdir(os.path.join(md, a.data)):
        a.data = os.path.join(md, a.data)
    if not os.access(MINNOW, os.X_OK):
        sys.exit("reproduce: no minnow at %s (build it, or set MINNOW)" % MINNOW)
    try:
        seeds = [int(s) for s in a.seeds.split(",")]
    except ValueError:
        sys.exit("reproduce: --seeds must be a comma-separated list of integers")
    fn, paper, *plotter = ROWS[a.row]
    c = Ctx(a)
    rank, ranks, job = launcher_rank()
    if ranks > 1:
        results = spread_seeds(c, a, fn, seeds, rank, ranks, job)
        if results is None:
            return 0  # not rank 0: its seeds are written for rank 0
    else:
        results = []
        for seed in seeds:
            r = fn(c, seed)
            r = dict({"row": a.row, "seed": seed, "data": a.data, "split": a.val}, **r)
            print(json.dumps(r), flush=True)
            results.append(r)
    s = summary(a.row, paper, results)
    if plotter:
        s["plot"] = plotter[0](c, a.row, results)
    print(json.dumps(s), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
