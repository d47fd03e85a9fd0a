#!/usr/bin/env python3
"""Helpers of tests/cli_mpi.sh (its name does not match CTest's globs).

  mpi_tools.py images DIR      small 28x28 IDX train/val splits, 3 classes
  mpi_tools.py diff A.mnw B.mnw
      the largest |a - b| over the float32 parameter data of two models of
      the same architecture, relative to the largest |a| (stdout)
"""
import random
import struct
import sys


def images(d, split, n, seed, hw=28, k=3):
    r = random.Random(seed)
    imgs = bytearray()
    labs = bytearray()
    corners = [(2, 2), (2, 15), (15, 8)]
    for _ in range(n):
        c = r.randrange(k)
        labs.append(c)
        px = [[r.randrange(60) for _ in range(hw)] for _ in range(hw)]
        y0, x0 = corners[c]
        for y in range(y0, y0 + 10):
            for x in range(x0, x0 + 10):
                px[y][x] = 150 + r.randrange(100)
        for row in px:
            imgs.extend(row)
    with open("%s/%s-images-idx3-ubyte" % (d, split), "wb") as f:
        f.write(struct.pack(">IIII", 2051, n, hw, hw) + imgs)
    with open("%s/%s-labels-idx1-ubyte" % (d, split), "wb") as f:
        f.write(struct.pack(">II", 2049, n) + labs)


def data_section(path):
    """The DATA section of a .mnw file (docs/FORMAT.md) as float32s."""
    b = open(path, "rb").read()
    assert b[:4] == b"MNW1", path
    n = struct.unpack_from("<I", b, 8)[0]
    for i in range(n):
        tag, off, ln, _ = struct.unpack_from("<4sQQI", b, 12 + 24 * i)
        if tag == b"DATA":
            return struct.unpack_from("<%df" % (ln // 4), b, off)
    raise SystemExit("%s: no DATA section" % path)


def main():
    if sys.argv[1] == "images":
        images(sys.argv[2], "train", 240, 1)
        images(sys.argv[2], "val", 90, 2)
    elif sys.argv[1] == "diff":
        a, b = data_section(sys.argv[2]), data_section(sys.argv[3])
        if len(a) != len(b):
            raise SystemExit("different sizes: %d and %d floats" % (len(a), len(b)))
        top = max(abs(x) for x in a) or 1.0
        print("%.3g" % (max(abs(x - y) for x, y in zip(a, b)) / top))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
