#!/usr/bin/env bash
# Depthwise convolution, one thread, all in one run so the ratios compare
# like with like on a shared machine:
#   1. one depthwise 3x3 layer (64 channels, 32x32, batch 16): minnow's
#      direct kernel against its _ref loops, the im2col + per-group SGEMM
#      path, and PyTorch's conv2d(groups=C) if present (bench/dwconv_bench.c);
#   2. LeNet-5 against its depthwise-separable lenet5dw: `minnow arch`
#      params/MACs and `minnow bench` latency at batch 1 and 64 (weights from
#      one quick epoch: latency does not depend on their values).
# Environment: BUILD (default build-bench), RUNS (default 30), MINNOW_DATA.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
RUNS=${RUNS:-30}
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMINNOW_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j2 --target minnow minnow_static >/dev/null
BB="$BUILD/dwconv_bench"
CC=${CC:-cc}
FLAGS="-O2 -std=c11 -D_POSIX_C_SOURCE=200809L -I$ROOT/include -I$ROOT/src"
LIBS="-fopenmp -lz -lm"
if ldconfig -p | grep -q libopenblas; then LIBS="-lopenblas $LIBS"; fi
$CC $FLAGS "$ROOT/bench/dwconv_bench.c" "$BUILD/libminnow.a" $LIBS -o "$BB"
echo "== machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== 1. one depthwise layer"
OUT=$("$BB" 64 32 32 16 "$RUNS"); echo "$OUT"
DIRECT=$(echo "$OUT" | sed -n 's/.*direct_ms=\([0-9.]*\).*/\1/p')
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  /usr/bin/python3 - "$DIRECT" "$RUNS" <<'PY'
import sys, time, torch
torch.set_num_threads(1)
direct, runs = float(sys.argv[1]), int(sys.argv[2])
x = torch.randn(16, 64, 32, 32); w = torch.randn(64, 1, 3, 3); b = torch.randn(64)
with torch.no_grad():
    for _ in range(3): torch.nn.functional.conv2d(x, w, b, padding=1, groups=64)
    t = []
    for _ in range(runs):
        s = time.perf_counter(); torch.nn.functional.conv2d(x, w, b, padding=1, groups=64); t.append(time.perf_counter() - s)
t.sort(); ms = t[len(t) // 2] * 1e3
print(f"  PyTorch {torch.__version__} conv2d(groups=64) {ms:8.3f} ms; minnow direct / PyTorch time = {direct / ms:.2f}")
PY
else
  echo "  (PyTorch not found: no peer figure)"
fi
echo "== 2. lenet5 vs lenet5dw"
"$BUILD/minnow" arch lenet5 lenet5dw
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
for a in lenet5 lenet5dw; do
  "$BUILD/minnow" train --arch $a --epochs 1 --split val --val none -o "$T/$a.mnw" 2>/dev/null
done
for bs in 1 64; do
  l5=$("$BUILD/minnow" bench "$T/lenet5.mnw" --batch $bs --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["latency_us"]/1000)')
  dw=$("$BUILD/minnow" bench "$T/lenet5dw.mnw" --batch $bs --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["latency_us"]/1000)')
  /usr/bin/python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'  batch {sys.argv[3]:>2}: lenet5 {a:.4f} ms, lenet5dw {b:.4f} ms, lenet5dw is {a/b:.2f}x faster')" "$l5" "$dw" "$bs"
done
