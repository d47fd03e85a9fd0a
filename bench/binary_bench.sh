#!/usr/bin/env bash
# Binary inference against fp32, one thread, all in one run so the ratios
# compare like with like on a shared machine:
#   1. a 4096 x 4096 dense layer at batch 1 and 64: XNOR + popcount on packed
#      +-1 inputs (AVX-512 VPOPCNTDQ / AVX2 nibble-LUT / portable) and sign
#      add/subtract on real inputs, against OpenBLAS SGEMM (mn_sgemm) and
#      SGEMV (bench/binary_bench.c), and PyTorch's fp32 nn.Linear if present;
#   2. LeNet-300-100 on MNIST: the dense model against its binarized forms
#      (file bytes, val error, `minnow bench` latency at batch 1 and 64).
# Environment: BUILD (build dir, default build-bench), RUNS (timed runs per
# kernel figure, default 30), QUICK=1 skips part 2, MINNOW_DATA as usual.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
RUNS=${RUNS:-30}
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMINNOW_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j2 --target minnow minnow_static >/dev/null
BB="$BUILD/binary_bench"
CC=${CC:-cc}
FLAGS="-O2 -std=c11 -D_POSIX_C_SOURCE=200809L -I$ROOT/include"
if ! $CC $FLAGS -DBENCH_CBLAS "$ROOT/bench/binary_bench.c" "$BUILD/libminnow.a" -lopenblas -fopenmp -lz -lm -o "$BB" 2>/dev/null; then
  $CC $FLAGS "$ROOT/bench/binary_bench.c" "$BUILD/libminnow.a" -fopenmp -lz -lm -o "$BB"
fi
echo "== machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== 1. one 4096 x 4096 dense layer"
"$BB" 4096 "$RUNS" | tee "$BUILD/binary_bench.txt"

if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  /usr/bin/python3 - <<'EOF'
import time, torch
torch.set_num_threads(1)
lin = torch.nn.Linear(4096, 4096).eval()
for b in (1, 64):
    x = torch.randn(b, 4096)
    with torch.no_grad():
        for _ in range(3): lin(x)
        t = []
        for _ in range(30):
            s = time.perf_counter(); lin(x); t.append(time.perf_counter() - s)
    t.sort()
    print("%-44s %8d %12.1f" % ("PyTorch fp32 nn.Linear (peer)", b, t[len(t) // 2] * 1e6))
EOF
else
  echo "PyTorch fp32 nn.Linear (peer): n/a (no torch)"
fi
echo
grep RESULT "$BUILD/binary_bench.txt" | sed 's/^RESULT/target (>= 15x at batch 1):/'

[ "${QUICK:-0}" = 1 ] && exit 0
M="$BUILD/minnow"
DATA=${MINNOW_DATA:-$ROOT/../shared/data}/mnist
if [ ! -e "$DATA/train-labels-idx1-ubyte.gz" ] && [ ! -e "$DATA/train-labels-idx1-ubyte" ]; then
  echo "== 2. skipped: no MNIST in $DATA"; exit 0
fi
echo
echo "== 2. LeNet-300-100 on MNIST (train 7000 / val 1000), dense vs binarized"
W="$BUILD/binary_models"
mkdir -p "$W"
[ -s "$W/dense.mnw" ] || "$M" train --arch lenet300 --epochs 15 --data "$DATA" -o "$W/dense.mnw" 2>/dev/null
run() { # name args...
  local n=$1; shift
  [ -s "$W/$n.mnw" ] || "$M" binarize "$W/dense.mnw" --data "$DATA" -o "$W/$n.mnw" "$@" >/dev/null 2>&1
}
run bc --method binaryconnect --epochs 10
run xnor_kfl --method xnor --keep-first-last --epochs 10
run xnor_all --method xnor --epochs 10
run bitwise --method bitwise --epochs 10 --pretrain-epochs 5
json() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
printf "%-12s %10s %8s %9s %12s %8s %12s %8s\n" model bytes ratio val_err batch1_us speedup batch64_us speedup
d1=$("$M" bench "$W/dense.mnw" --batch 1 --json | json latency_us)
d64=$("$M" bench "$W/dense.mnw" --batch 64 --json | json latency_us)
dsz=$(stat -c %s "$W/dense.mnw")
for n in dense bc xnor_kfl xnor_all bitwise; do
  sz=$(stat -c %s "$W/$n.mnw")
  err=$("$M" eval "$W/$n.mnw" --data "$DATA" --json | json error)
  b1=$("$M" bench "$W/$n.mnw" --batch 1 --json | json latency_us)
  b64=$("$M" bench "$W/$n.mnw" --batch 64 --json | json latency_us)
  /usr/bin/python3 -c "import sys; n,sz,dsz,err,b1,d1,b64,d64=sys.argv[1:]; print('%-12s %10d %7.1fx %8.2f%% %12.1f %7.2fx %12.1f %7.2fx' % (n,int(sz),int(dsz)/int(sz),100*float(err),float(b1),float(d1)/float(b1),float(b64),float(d64)/float(b64)))" \
    "$n" "$sz" "$dsz" "$err" "$b1" "$d1" "$b64" "$d64"
done
