#!/usr/bin/python3
"""PyTorch peer for bench/sparse_bench.sh: a magnitude-pruned LeNet-300-100
run dense and with PyTorch's own sparse CSR weights.

The network is the minnow built-in (bench/torch_train.py's make), its three
weight matrices pruned by magnitude to --sparsity (one fraction for all, or
one per layer, comma-separated in order: what `minnow prune --method
magnitude --sparsity S` or `fc1=S1,fc2=S2,fc3=S3` leaves); latency depends on shapes and
nonzero counts, not on the values, so random weights stand in for trained
ones.  "dense" runs the masked weights as ordinary nn.Linear; "csr" runs
each layer as a torch.sparse_csr_tensor product.  Timed like `minnow bench`
(bench/torch_infer.py's bench: 0.2 s warm-up, ~1 s of runs, median).

    /usr/bin/python3 bench/torch_sparse.py --sparsity 0.925,0.91,0.74 --batch 1 --threads 1 --json
"""
import argparse
import json
import os
import sys
import warnings

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_infer import bench  # noqa: E402
from torch_train import make  # noqa: E402


class CsrLinear(nn.Module):
    """y = x W^T + b with W held as a CSR tensor: (W x^T)^T."""

    def __init__(self, lin):
        super().__init__()
        self.w = lin.weight.detach().to_sparse_csr()
        self.b = lin.bias.detach()

    def forward(self, x):
        return torch.sparse.mm(self.w, x.t()).t() + self.b


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sparsity", default="0.92")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    try:
        sp = [float(v) for v in a.sparsity.split(",")]
    except ValueError:
        sys.exit("torch_sparse.py: --sparsity takes fractions, e.g. 0.92 or 0.925,0.91,0.74")
    if not all(0 <= v < 1 for v in sp):
        sys.exit("torch_sparse.py: --sparsity must be in [0, 1)")
    warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    dense = make("lenet300", 0.13, 0.31).eval()
    lins = [m for m in dense if isinstance(m, nn.Linear)]
    if len(sp) == 1:
        sp = sp * len(lins)
    if len(sp) != len(lins):
        sys.exit("torch_sparse.py: --sparsity needs 1 or %d fractions" % len(lins))
    with torch.no_grad():
        for m, s in zip(lins, sp):
            w = m.weight
            k = int(s * w.numel())
            if k:
                thr = w.abs().flatten().kthvalue(k).values
                w[w.abs() <= thr] = 0
    sparse = nn.Sequential(*[CsrLinear(m) if isinstance(m, nn.Linear) else m for m in dense]).eval()
    x = torch.rand(a.batch, 1, 28, 28)
    r = {"batch": a.batch, "threads": a.threads, "sparsity": a.sparsity, "torch": torch.__version__}
    with torch.no_grad():
        diff = (dense(x) - sparse(x)).abs().max().item()
        if diff > 1e-3:
            sys.exit("torch_sparse.py: dense and CSR outputs differ by %g" % diff)
        r["dense_us"] = bench(lambda: dense(x))[0]
        r["csr_us"] = bench(lambda: sparse(x))[0]
    if a.json:
        json.dump(r, sys.stdout)
        print()
    else:
        print("torch lenet300 pruned %s, batch %d, %d thread(s): dense %.1f us, csr %.1f us"
              % (a.sparsity, a.batch, a.threads, r["dense_us"], r["csr_us"]))


if __name__ == "__main__":
    main()
