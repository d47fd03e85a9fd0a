#!/usr/bin/python3
"""Writes tests/torch_ref/ref_small.txt: PyTorch's answers for one small
network that covers minnow's core layers, for tests/test_torch_ref.c.

Run with Debian's torch:  /usr/bin/python3 tests/torch_ref/gen_ref.py [OUT]

The network (minnow spec in SPEC below; the torch module mirrors it):

    input x 1x12x12 (normalised: (x - 0.3) / 0.7)
    conv c1 3 filters 3x3 pad 1 -> batchnorm bn1 -> relu r1
    add res = r1 + c1            (residual around bn+relu, so c1.bias has a
                                  gradient: batchnorm right after a conv
                                  otherwise zeroes it)
    conv dw 3x3 pad 1 groups 3   (depthwise)
    maxpool 2 -> conv c2 4 filters 3x3 stride 2 pad 1 -> tanh
    avgpool 2 stride 1 -> flatten -> batchnorm bn2 (1-D, 16 features)
    dense fc1 12 -> relu -> dense fc2 10

Everything the C test needs is in the file: the initial parameters and
running statistics, the input batch and labels, the eval-mode output (running
statistics), the train-mode output (batch statistics), the running
statistics after that forward pass, the softmax cross-entropy at T=2, every
parameter gradient, and the parameters after two steps of torch.optim.Adam
and two of torch.optim.SGD (momentum, L2 weight decay on conv/dense weights
only, as minnow applies it), the second step using the gradient at the
once-updated weights.

Values are drawn with numpy's legacy RandomState (stable across versions),
rounded to float32, and the reference is computed in float64 so that it is
the exact answer for those float32 inputs.  The file is plain text:

    # comment
    spec <minnow arch spec>
    tensor <name> <ndim> <d0> ... <dn-1>
    <values, whitespace separated, %.9g>
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F

SPEC = ("input x c=1 h=12 w=12; conv c1 filters=3 k=3 pad=1; batchnorm bn1; relu r1; "
        "add res in=r1,c1; conv dw filters=3 k=3 pad=1 groups=3; maxpool p1 k=2; "
        "conv c2 filters=4 k=3 stride=2 pad=1; tanh t2; avgpool a2 k=2 stride=1; flatten flat; "
        "batchnorm bn2; dense fc1 units=12; relu r3; dense fc2 units=10")
BATCH, T = 8, 2.0
IN_MEAN, IN_STD = 0.3, 0.7
BN_EPS, BN_MOM = 1e-5, 0.1
ADAM = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
SGD = dict(lr=0.05, momentum=0.9, weight_decay=0.05)

# name, shape, kind: w = conv/dense weight (decayed), b = its bias,
# g/be = bn gamma/beta, m/v = bn running stats (not trainable).
PARAMS = [
    ("c1.weight", (3, 1, 3, 3), "w"), ("c1.bias", (3,), "b"),
    ("bn1.gamma", (3,), "g"), ("bn1.beta", (3,), "be"), ("bn1.mean", (3,), "m"), ("bn1.var", (3,), "v"),
    ("dw.weight", (3, 1, 3, 3), "w"), ("dw.bias", (3,), "b"),
    ("c2.weight", (4, 3, 3, 3), "w"), ("c2.bias", (4,), "b"),
    ("bn2.gamma", (16,), "g"), ("bn2.beta", (16,), "be"), ("bn2.mean", (16,), "m"), ("bn2.var", (16,), "v"),
    ("fc1.weight", (12, 16), "w"), ("fc1.bias", (12,), "b"),
    ("fc2.weight", (10, 12), "w"), ("fc2.bias", (10,), "b"),
]
TRAINABLE = [n for n, _, k in PARAMS if k in ("w", "b", "g", "be")]
DECAYED = [n for n, _, k in PARAMS if k == "w"]


def f32(a):
    return np.asarray(a, dtype=np.float32)


def init_values(rs):
    vals = {}
    for name, shape, kind in PARAMS:
        n = int(np.prod(shape))
        if kind in ("w", "b"):
            wshape = next(s for nm, s, _ in PARAMS if nm == name.split(".")[0] + ".weight")
            fan_in = int(np.prod(wshape[1:]))
            # A little wider than torch's default init, so tanh and relu are
            # exercised on both sides.
            bound = 1.5 / np.sqrt(fan_in)
            v = rs.uniform(-bound, bound, n)
        elif kind == "g":
            v = rs.uniform(0.5, 1.5, n)
        elif kind == "be":
            v = rs.uniform(-0.5, 0.5, n)
        elif kind == "m":
            v = rs.uniform(-0.3, 0.3, n)
        else:
            v = rs.uniform(0.5, 1.5, n)
        vals[name] = f32(v).reshape(shape)
    return vals


def forward(p, x, train, stats):
    """The network in float64; p maps names to tensors, stats holds the
    running mean/var (updated in place when train)."""
    def bn(h, pre):
        return F.batch_norm(h, stats[pre + ".mean"], stats[pre + ".var"], p[pre + ".gamma"], p[pre + ".beta"],
                            training=train, momentum=BN_MOM, eps=BN_EPS)
    h = (x - IN_MEAN) / IN_STD
    c1 = F.conv2d(h, p["c1.weight"], p["c1.bias"], padding=1)
    r1 = F.relu(bn(c1, "bn1"))
    res = r1 + c1
    dw = F.conv2d(res, p["dw.weight"], p["dw.bias"], padding=1, groups=3)
    p1 = F.max_pool2d(dw, 2)
    c2 = F.conv2d(p1, p["c2.weight"], p["c2.bias"], stride=2, padding=1)
    a2 = F.avg_pool2d(torch.tanh(c2), 2, stride=1)
    flat = a2.flatten(1)
    # bn2 divides by sqrt(var + eps): a nearly constant feature would
    # amplify rounding, so the generator refuses such a draw.
    assert flat.var(0, unbiased=False).min().item() > 3e-4, "near-constant bn2 feature: pick another seed"
    r3 = F.relu(F.linear(bn(flat, "bn2"), p["fc1.weight"], p["fc1.bias"]))
    return F.linear(r3, p["fc2.weight"], p["fc2.bias"])


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else __file__.rsplit("/", 1)[0] + "/ref_small.txt"
    rs = np.random.RandomState(20240601)
    init = init_values(rs)
    # Per-sample contrast and brightness, so that the pooled features differ
    # between samples and bn2's batch statistics are well conditioned.
    x = rs.uniform(0, 1, (BATCH, 1, 12, 12)) * rs.uniform(0.2, 1, (BATCH, 1, 1, 1))
    x = f32(np.clip(x + rs.uniform(0, 0.6, (BATCH, 1, 1, 1)) * np.linspace(0, 1, 12), 0, 1))
    y = rs.randint(0, 10, BATCH).astype(np.int64)

    torch.set_default_dtype(torch.float64)
    dbl = lambda a: torch.tensor(np.asarray(a, dtype=np.float64))
    xt, yt = dbl(x), torch.tensor(y)

    def fresh():
        p = {n: dbl(init[n]).requires_grad_(True) for n in TRAINABLE}
        s = {n: dbl(init[n]) for n, _, k in PARAMS if k in ("m", "v")}
        return p, s

    out = []  # (name, array)
    for name, _, _ in PARAMS:
        out.append(("param." + name, init[name]))
    out.append(("x", x))
    out.append(("labels", y.astype(np.float64)))
    out.append(("T", np.array([T])))

    p, s = fresh()
    with torch.no_grad():
        out.append(("out_eval", forward(p, xt, False, s).numpy()))
    z = forward(p, xt, True, s)
    loss = F.cross_entropy(z / T, yt)
    loss.backward()
    out.append(("out_train", z.detach().numpy()))
    out.append(("loss", np.array([loss.item()])))
    for n, _, k in PARAMS:
        if k in ("m", "v"):
            out.append(("after." + n, s[n].numpy()))
    for n in TRAINABLE:
        out.append(("grad." + n, p[n].grad.numpy()))

    def two_steps(make_opt):
        p, s = fresh()
        groups = [{"params": [p[n] for n in TRAINABLE if n in DECAYED]},
                  {"params": [p[n] for n in TRAINABLE if n not in DECAYED], "weight_decay": 0.0}]
        opt = make_opt(groups)
        for _ in range(2):
            opt.zero_grad()
            F.cross_entropy(forward(p, xt, True, s) / T, yt).backward()
            opt.step()
        return p

    pa = two_steps(lambda g: torch.optim.Adam(g, **ADAM))
    out.append(("adam_hp", np.array([ADAM["lr"], ADAM["betas"][0], ADAM["betas"][1], ADAM["eps"],
                                     ADAM["weight_decay"]])))
    for n in TRAINABLE:
        out.append(("adam." + n, pa[n].detach().numpy()))
    ps = two_steps(lambda g: torch.optim.SGD(g, **SGD))
    out.append(("sgd_hp", np.array([SGD["lr"], SGD["momentum"], SGD["weight_decay"]])))
    for n in TRAINABLE:
        out.append(("sgd." + n, ps[n].detach().numpy()))

    with open(out_path, "w") as f:
        f.write("# minnow vs PyTorch reference; generated by tests/torch_ref/gen_ref.py with torch %s.\n"
                "# Do not edit: rerun the generator.\n" % torch.__version__)
        f.write("spec %s\n" % SPEC)
        for name, a in out:
            a = np.asarray(a)
            f.write("tensor %s %d %s\n" % (name, a.ndim, " ".join(str(d) for d in a.shape)))
            vals = a.reshape(-1)
            for i in range(0, len(vals), 8):
                f.write(" ".join("%.9g" % v for v in vals[i:i + 8]) + "\n")
    print("wrote %s (%d tensors, loss %.6f)" % (out_path, len(out), loss.item()))


if __name__ == "__main__":
    main()
