#!/usr/bin/python3
"""PyTorch peer for minnow's training benchmark (bench/core_bench.sh).

Trains the same network with the same recipe as `minnow train`: Adam 1.2e-3
(betas 0.9/0.999, eps 1e-8), batch 60, a fresh shuffle every epoch, PyTorch's
default initialisation, inputs normalised by the training set's mean/std,
cross-entropy on the logits.  The data are the same IDX .gz files, read with
gzip + numpy.  Seconds per epoch cover the training steps only (gathering
the batch, forward, loss, backward, optimizer step), as minnow's do; the
validation error after each epoch is measured outside the clock.

    /usr/bin/python3 bench/torch_train.py --arch lenet5 --epochs 2 --threads 2 --json
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    """An IDX file (optionally .gz) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        buf = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", buf[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    dims = struct.unpack(">" + "I" * ndim, buf[4:4 + 4 * ndim])
    return np.frombuffer(buf, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(d, split, kind):
    for name in ("%s-%s-idx%d-ubyte" % (split, kind, 3 if kind == "images" else 1),):
        for ext in (".gz", ""):
            p = os.path.join(d, name + ext)
            if os.path.exists(p):
                return p
    raise FileNotFoundError("no %s %s in %s" % (split, kind, d))


def load(d, split):
    x = read_idx(find(d, split, "images")).astype(np.float32) / 255.0
    y = read_idx(find(d, split, "labels")).astype(np.int64)
    return torch.from_numpy(x.reshape(len(x), 1, x.shape[1], x.shape[2])), torch.from_numpy(y)


class Norm(nn.Module):
    """minnow's input node: (x - mean) / std with the training set's statistics."""

    def __init__(self, mean=0.0, std=1.0):
        super().__init__()
        self.mean, self.std = float(mean), float(std)

    def forward(self, x):
        return (x - self.mean) / self.std


def make(arch, mean=0.0, std=1.0):
    """The minnow built-ins, layer for layer (src/nn/arch.c)."""
    if arch == "lenet300":
        return nn.Sequential(Norm(mean, std), nn.Flatten(), nn.Linear(784, 300), nn.ReLU(),
                             nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))
    if arch == "lenet5":
        return nn.Sequential(Norm(mean, std), nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))
    raise ValueError("unknown arch %s (lenet300, lenet5)" % arch)


def default_data():
    base = os.environ.get("MINNOW_DATA") or "../shared/data"
    return os.path.join(base, "mnist")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="lenet300")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=60)
    ap.add_argument("--lr", type=float, default=1.2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr = load(a.data, "train")
    xva, yva = load(a.data, "val")
    model = make(a.arch, xtr.mean().item(), xtr.std().item())
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    n = len(xtr)
    epochs = []
    for ep in range(a.epochs):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        lsum = 0.0
        for s in range(0, n, a.batch):
            idx = perm[s:s + a.batch]
            xb, yb = xtr[idx], ytr[idx]
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            lsum += loss.item() * len(idx)
        secs = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            err = (model(xva).argmax(1) != yva).float().mean().item()
        epochs.append({"epoch": ep + 1, "loss": lsum / n, "val_error": err, "seconds": secs})
        if not a.json:
            print("epoch %d: loss %.4f val error %.2f%% %.3f s" % (ep + 1, lsum / n, 100 * err, secs))
    if a.json:
        json.dump({"arch": a.arch, "threads": a.threads, "torch": torch.__version__, "epochs": epochs,
                   "val_error": epochs[-1]["val_error"] if epochs else -1}, sys.stdout)
        print()


if __name__ == "__main__":
    main()
