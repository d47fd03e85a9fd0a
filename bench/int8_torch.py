#!/usr/bin/python3
"""PyTorch peers for bench/int8_bench.sh: fp32, dynamic int8 and static int8.

Median latency of one forward pass (eval mode, torch.no_grad, one thread)
over a batch of random [0,1) inputs, timed like `minnow bench`: 0.2 s of
warm-up, then as many runs as fit in about 1 s (at least 20).

- fp32: the network of bench/torch_train.py (the minnow built-in).
- dynamic: torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, qint8):
  int8 weights, activations quantized on the fly per batch; conv layers stay
  fp32 (PyTorch's dynamic quantization has no conv).
- static: eager-mode post-training static quantization (QuantStub, observers
  calibrated on 8 random batches, convert): int8 conv and linear, on the
  default quantized engine.  Reported as n/a if this PyTorch cannot run it.
Weights are PyTorch's random initialisation: only latency is compared.

    /usr/bin/python3 bench/int8_torch.py --arch lenet5 --batch 1 [--json]
"""
import argparse
import json
import os
import sys
import time

import torch
from torch import nn

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
    return t[runs // 2]


def static_int8(model, batch):
    """model's layers after its input normalisation, quantized statically."""
    q = torch.ao.quantization
    body = nn.Sequential(*list(model.children())[1:])
    net = nn.Sequential(q.QuantStub(), body, q.DeQuantStub()).eval()
    net.qconfig = q.get_default_qconfig(torch.backends.quantized.engine)
    q.prepare(net, inplace=True)
    with torch.no_grad():
        for _ in range(8):
            net(torch.randn(64, 1, 28, 28))
    q.convert(net, inplace=True)
    norm = list(model.children())[0]
    return lambda x: net(norm(x))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="lenet300")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(1)
    model = make(a.arch, 0.13, 0.31).eval()
    x = torch.rand(a.batch, 1, 28, 28)
    out = {"arch": a.arch, "batch": a.batch, "engine": torch.backends.quantized.engine,
           "torch": torch.__version__}
    dyn = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    with torch.no_grad():
        out["fp32_us"] = bench(lambda: model(x))
        out["dynamic_int8_us"] = bench(lambda: dyn(x))
        try:
            st = static_int8(model, a.batch)
            st(x)
            out["static_int8_us"] = bench(lambda: st(x))
        except Exception as e:  # an engine without these kernels
            out["static_int8_us"] = None
            out["static_error"] = str(e).splitlines()[0][:200]
    if a.json:
        print(json.dumps(out))
    else:
        print(out)


if __name__ == "__main__":
    main()
