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
              "resnet_s": (ResNetS(), x), "matmul_mlp": (MatMulMLP(), x.reshape(n, 784))}
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
