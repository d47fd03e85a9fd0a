#!/usr/bin/python3
"""Exports reference PyTorch models to ONNX and their outputs on given inputs.

usage: export_ref.py OUTDIR INPUTS.f32 N
INPUTS.f32 holds N MNIST images (N x 784 float32, pixels in [0, 1]).  For each
model NAME this writes OUTDIR/NAME.onnx and OUTDIR/NAME.out.f32 (N x 10 float32,
PyTorch's outputs in eval mode).  Exit 77 if torch is missing (the test skips).
Nothing here is committed: the test runs it into a temporary directory."""
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
except ImportError:
    sys.exit(77)


class LeNet300(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 300), nn.Linear(300, 100), nn.Linear(100, 10)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 20, 5), nn.Conv2d(20, 50, 5)
        self.pool = nn.MaxPool2d(2)
        self.fc1, self.fc2 = nn.Linear(800, 500), nn.Linear(500, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc2(torch.relu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, groups=2, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + x)


class ResNetS(nn.Module):
    """A small ResNet-style CNN: stem, one residual block (skip connection),
    a 1x1 side branch concatenated on the channels, a strided conv, average
    and global average pooling, a tanh head."""

    def __init__(self):
        super().__init__()
        self.stem, self.bn = nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.block = Block(8)
        self.side = nn.Conv2d(8, 4, 1)
        self.down = nn.Conv2d(12, 16, 3, stride=2, padding=1)
        self.avg = nn.AvgPool2d(2)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = torch.relu(self.bn(self.stem(x)))
        x = self.block(x)
        x = torch.cat([x, self.side(x)], 1)
        x = torch.tanh(self.avg(self.down(x)))
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


def conv_bn(ci, co, k, stride=1, groups=1):
    return [nn.Conv2d(ci, co, k, stride=stride, padding=k // 2, groups=groups, bias=False), nn.BatchNorm2d(co)]


def scaled(c, wm):
    return max(1, int(c * wm + 0.5))


class Basic(nn.Module):
    """He et al. 2016's basic block; a 1x1 conv + BN projection where the shape changes."""

    def __init__(self, ci, co, stride):
        super().__init__()
        self.f = nn.Sequential(*conv_bn(ci, co, 3, stride), nn.ReLU(), *conv_bn(co, co, 3))
        self.proj = nn.Sequential(*conv_bn(ci, co, 1, stride)) if stride != 1 or ci != co else None

    def forward(self, x):
        return torch.relu(self.f(x) + (self.proj(x) if self.proj is not None else x))


class ResNet20(nn.Module):
    """The CIFAR ResNet-20 (minnow's built-in resnet20, the same shapes)."""

    def __init__(self, cin=1, n=3):
        super().__init__()
        layers, c = [*conv_bn(cin, 16, 3), nn.ReLU()], 16
        for co, st in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                layers.append(Basic(c, co, st if i == 0 else 1))
                c = co
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(nn.functional.adaptive_avg_pool2d(self.body(x), 1).flatten(1))


class MobileNet(nn.Module):
    """MobileNet v1, CIFAR form (first conv stride 1), ReLU6, width wm (minnow's mobilenet:wm)."""

    def __init__(self, wm, cin=1):
        super().__init__()
        cfg = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
               (512, 1), (1024, 2), (1024, 1)]
        c = scaled(32, wm)
        layers = [*conv_bn(cin, c, 3), nn.ReLU6()]
        for co, st in cfg:
            co = scaled(co, wm)
            layers += [*conv_bn(c, c, 3, st, groups=c), nn.ReLU6(), *conv_bn(c, co, 1), nn.ReLU6()]
            c = co
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(c, 10)

    def forward(self, x):
        return self.fc(nn.functional.adaptive_avg_pool2d(self.body(x), 1).flatten(1))


class Inverted(nn.Module):
    def __init__(self, ci, co, t, stride):
        super().__init__()
        hid = ci * t
        ex = [*conv_bn(ci, hid, 1), nn.ReLU6()] if t != 1 else []
        self.f = nn.Sequential(*ex, *conv_bn(hid, hid, 3, stride, groups=hid), nn.ReLU6(), *conv_bn(hid, co, 1))
        self.res = stride == 1 and ci == co

    def forward(self, x):
        return self.f(x) + x if self.res else self.f(x)


class MobileNetV2(nn.Module):
    """MobileNetV2, CIFAR form, width wm (minnow's mobilenetv2:wm)."""

    def __init__(self, wm, cin=1):
        super().__init__()
        cfg = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
        c = scaled(32, wm)
        layers = [*conv_bn(cin, c, 3), nn.ReLU6()]
        for t, co, reps, st in cfg:
            co = scaled(co, wm)
            for r in range(reps):
                layers.append(Inverted(c, co, t, st if r == 0 else 1))
                c = co
        last = scaled(1280, wm) if wm > 1 else 1280
        layers += [*conv_bn(c, last, 1), nn.ReLU6()]
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(last, 10)

    def forward(self, x):
        return self.fc(nn.functional.adaptive_avg_pool2d(self.body(x), 1).flatten(1))


class MatMulMLP(nn.Module):
    """x @ W + b (MatMul + Add), BatchNorm1d, dropout and a softmax output."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(784, 64) * 0.05)
        self.b = nn.Parameter(torch.randn(64) * 0.1)
        self.bn = nn.BatchNorm1d(64)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.bn(x.reshape(-1, 784) @ self.w + self.b))
        return torch.softmax(self.fc(self.drop(x)), dim=1)


def randomize_bn(m, g):
    for mod in m.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = mod.num_features
            mod.running_mean.copy_(torch.randn(c, generator=g) * 0.2)
            mod.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            mod.bias.data.copy_(torch.randn(c, generator=g) * 0.1)


def main():
    out, inputs, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    x = torch.from_numpy(np.fromfile(inputs, dtype=np.float32).reshape(n, 1, 28, 28))
    torch.manual_seed(7)
    g = torch.Generator().manual_seed(11)
    models = {"lenet300": (LeNet300(), x.reshape(n, 784)), "lenet5": (LeNet5(), x),
              "resnet_s": (ResNetS(), x), "matmul_mlp": (MatMulMLP(), x.reshape(n, 784)),
              "resnet20": (ResNet20(), x), "mobilenet_0.25": (MobileNet(0.25), x),
              "mobilenetv2_0.25": (MobileNetV2(0.25), x)}
    for name, (m, inp) in models.items():
        randomize_bn(m, g)
        m.eval()
        with torch.no_grad():
            y = m(inp)
            torch.onnx.export(m, inp[:1], f"{out}/{name}.onnx", input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, opset_version=13)
        y.numpy().astype(np.float32).tofile(f"{out}/{name}.out.f32")


if __name__ == "__main__":
    main()
