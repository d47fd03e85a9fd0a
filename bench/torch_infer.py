#!/usr/bin/python3
"""PyTorch peer for minnow's inference benchmark (bench/core_bench.sh), and
the ONNX export that bench/ort_infer.js runs.

Median latency of one forward pass (eval mode, torch.no_grad) over a batch
of random [0,1) inputs, timed the way `minnow bench` times: 0.2 s of warm-up,
then as many runs as fit in about 1 s (at least 20).  The network is the
minnow built-in of the same name, input normalisation included.

    /usr/bin/python3 bench/torch_infer.py --arch lenet5 --batch 1 --threads 1 --json [--onnx out.onnx]
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_train import make  # noqa: E402  the same network definitions


def bench(fn, min_runs=20, budget=1.0):
    t0 = time.perf_counter()
    warm = 0
    while warm < 5 or time.perf_counter() - t0 < 0.2:
        fn()
        warm += 1
    per = (time.perf_counter() - t0) / warm
    runs = min(max(int(budget / per), min_runs), 100000)
    t = []
    for _ in range(runs):
        s = time.perf_counter()
        fn()
        t.append((time.perf_counter() - s) * 1e6)
    t.sort()
    return t[runs // 2], t[runs // 10], t[runs * 9 // 10], runs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="lenet300")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--onnx", help="also export the model to this ONNX file (dynamic batch)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = make(a.arch, 0.13, 0.31).eval()
    x = torch.rand(a.batch, 1, 28, 28)
    if a.onnx:
        tmp = a.onnx + ".tmp"
        torch.onnx.export(model, x, tmp, input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
        os.replace(tmp, a.onnx)
    with torch.no_grad():
        med, p10, p90, runs = bench(lambda: model(x))
    r = {"arch": a.arch, "batch": a.batch, "threads": a.threads, "runs": runs, "latency_us": med,
         "p10_us": p10, "p90_us": p90, "samples_per_s": a.batch / med * 1e6, "torch": torch.__version__}
    if a.json:
        json.dump(r, sys.stdout)
        print()
    else:
        print("torch %s batch %d, %d thread(s): median %.1f us (p10 %.1f, p90 %.1f) over %d runs"
              % (a.arch, a.batch, a.threads, med, p10, p90, runs))


if __name__ == "__main__":
    main()
