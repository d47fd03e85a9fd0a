#!/usr/bin/env bash
# minnow's core engine against PyTorch and ONNX Runtime on real MNIST.
#
#   bench/core_bench.sh [EPOCHS]          (default 2 training epochs)
#   MINNOW_BENCH_THREADS="1 2" bench/core_bench.sh   (training thread counts)
#
# 1. Builds minnow (Release) into $MINNOW_BENCH_BUILD (default build-bench).
# 2. Training: lenet300 and lenet5, the core recipe (Adam 1.2e-3, batch 60),
#    2 threads each ($MINNOW_BENCH_THREADS, a list, default "2"):
#    `minnow train --json` against bench/torch_train.py;
#    seconds per epoch (mean over the epochs, training steps only).
# 3. Inference: median latency of one forward pass at batch 1 and 256, one
#    thread: `minnow bench --json` against bench/torch_infer.py (eval mode,
#    no_grad) and bench/ort_infer.js (the same PyTorch model exported to
#    ONNX, onnxruntime-node with intraOpNumThreads 1).
# Ratios are peer time / minnow time: above 1 means minnow is faster.  A
# peer that is missing or fails prints n/a and the run goes on.
#
# Data: $MINNOW_DATA/mnist (default ../shared/data/mnist).  PyTorch: Debian's
# python3-torch via /usr/bin/python3 (override with $PYTHON).  ONNX Runtime:
# bench/node_modules/onnxruntime-node, installed here with
# `npm install --ignore-scripts` when missing ($MINNOW_BENCH_NO_INSTALL=1
# skips that).
set -uo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-2}
THREADS=${MINNOW_BENCH_THREADS:-2}
BUILD=${MINNOW_BENCH_BUILD:-build-bench}
DATA=${MINNOW_DATA:-../shared/data}/mnist
PY=${PYTHON:-/usr/bin/python3}
TMP=$(mktemp -d /tmp/minnow-bench-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

die() { echo "core_bench: $*" >&2; exit 1; }
[[ $EPOCHS =~ ^[1-9][0-9]*$ ]] || die "EPOCHS must be a positive integer, got '$EPOCHS'"
for t in $THREADS; do [[ $t =~ ^[1-9][0-9]?$ ]] || die "MINNOW_BENCH_THREADS must list thread counts, got '$THREADS'"; done
[ -e "$DATA/train-images-idx3-ubyte.gz" ] || [ -e "$DATA/train-images-idx3-ubyte" ] ||
  die "no MNIST in $DATA (set MINNOW_DATA)"
command -v "$PY" >/dev/null || PY=python3
command -v "$PY" >/dev/null || die "python3 is needed to read the JSON reports"

echo "== building minnow (Release) in $BUILD" >&2
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMINNOW_TESTS=OFF >/dev/null || die "cmake configure failed"
cmake --build "$BUILD" -j"$(nproc)" --target minnow >/dev/null || die "build failed"
MINNOW=$BUILD/minnow

# Peers.
HAVE_TORCH=0
"$PY" -c 'import torch' 2>/dev/null && HAVE_TORCH=1
HAVE_ORT=0
if command -v node >/dev/null; then
  if [ ! -d bench/node_modules/onnxruntime-node ] && [ "${MINNOW_BENCH_NO_INSTALL:-0}" != 1 ] && command -v npm >/dev/null; then
    echo "== installing onnxruntime-node into bench/node_modules" >&2
    (cd bench && npm install --ignore-scripts --no-package-lock --no-audit --no-fund >/dev/null 2>&1) ||
      echo "core_bench: npm install failed; ONNX Runtime is n/a" >&2
  fi
  [ -d bench/node_modules/onnxruntime-node ] && HAVE_ORT=1
fi

# jfield FILE EXPR: a value from a JSON report (EXPR is Python over `d`).
jfield() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }
EPOCH_MEAN='sum(e["seconds"] for e in d["epochs"]) / len(d["epochs"])'
# ratio A B: "A/Bx" with 2 decimals, or n/a.
ratio() { if [[ $1 == n/a || $2 == n/a ]]; then echo n/a; else "$PY" -c "print('%.2fx' % ($1 / $2))"; fi; }
pct() { if [[ $1 == n/a ]]; then echo n/a; else "$PY" -c "print('%.2f%%' % $1)"; fi; }
fmt() { if [[ $1 == n/a ]]; then echo n/a; else "$PY" -c "print('%.${2:-3}f' % $1)"; fi; }

echo "minnow core benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "peers: torch $([ $HAVE_TORCH = 1 ] && "$PY" -c 'import torch; print(torch.__version__)' || echo n/a)," \
     "onnxruntime-node $([ $HAVE_ORT = 1 ] && node -p "require('./bench/node_modules/onnxruntime-node/package.json').version" || echo n/a)"
echo

declare -A TR_M TR_T ERR_M ERR_T
for th in $THREADS; do
  for arch in lenet300 lenet5; do
    echo "== training $arch, $EPOCHS epochs, $th thread(s)" >&2
    k=$arch.$th
    TR_M[$k]=n/a; TR_T[$k]=n/a; ERR_M[$k]=n/a; ERR_T[$k]=n/a
    if "$MINNOW" train --arch $arch --data "$DATA" --epochs "$EPOCHS" --threads $th --json \
         -o "$TMP/$arch.mnw" >"$TMP/m_$k.json" 2>"$TMP/m_$k.err"; then
      TR_M[$k]=$(jfield "$TMP/m_$k.json" "$EPOCH_MEAN") || TR_M[$k]=n/a
      ERR_M[$k]=$(jfield "$TMP/m_$k.json" '100 * d["val_error"]') || ERR_M[$k]=n/a
    else
      echo "core_bench: minnow train $arch failed: $(tail -1 "$TMP/m_$k.err")" >&2
    fi
    if [ $HAVE_TORCH = 1 ]; then
      if "$PY" bench/torch_train.py --arch $arch --data "$DATA" --epochs "$EPOCHS" --threads $th --json \
           >"$TMP/t_$k.json" 2>"$TMP/t_$k.err"; then
        TR_T[$k]=$(jfield "$TMP/t_$k.json" "$EPOCH_MEAN") || TR_T[$k]=n/a
        ERR_T[$k]=$(jfield "$TMP/t_$k.json" '100 * d["val_error"]') || ERR_T[$k]=n/a
      else
        echo "core_bench: torch_train.py $arch failed: $(tail -1 "$TMP/t_$k.err")" >&2
      fi
    fi
  done
done

echo "Training: seconds per epoch (7000 MNIST images, batch 60, Adam 1.2e-3; mean of $EPOCHS epochs)"
printf '%-10s %7s %10s %10s %14s   %s\n' arch threads minnow torch torch/minnow "val error after $EPOCHS epochs (minnow / torch)"
for th in $THREADS; do
  for arch in lenet300 lenet5; do
    k=$arch.$th
    printf '%-10s %7s %10s %10s %14s   %s / %s\n' $arch $th "$(fmt ${TR_M[$k]})" "$(fmt ${TR_T[$k]})" \
      "$(ratio ${TR_T[$k]} ${TR_M[$k]})" "$(pct ${ERR_M[$k]})" "$(pct ${ERR_T[$k]})"
  done
done
echo

echo "load now: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Inference: median latency of one forward pass in microseconds (1 thread, random input)"
printf '%-10s %6s %10s %10s %10s %14s %12s\n' arch batch minnow torch ort torch/minnow ort/minnow
for arch in lenet300 lenet5; do
  ONNX=n/a
  for batch in 1 256; do
    lm=n/a; lt=n/a; lo=n/a
    if [ -f "$TMP/$arch.mnw" ] && "$MINNOW" bench "$TMP/$arch.mnw" --batch $batch --threads 1 --json \
         >"$TMP/bm.json" 2>"$TMP/bm.err"; then
      lm=$(jfield "$TMP/bm.json" 'd["latency_us"]') || lm=n/a
    fi
    if [ $HAVE_TORCH = 1 ]; then
      exp=()
      [ $ONNX = n/a ] && [ $HAVE_ORT = 1 ] && exp=(--onnx "$TMP/$arch.onnx")
      if "$PY" bench/torch_infer.py --arch $arch --batch $batch --threads 1 --json "${exp[@]}" \
           >"$TMP/bt.json" 2>"$TMP/bt.err"; then
        lt=$(jfield "$TMP/bt.json" 'd["latency_us"]') || lt=n/a
      else
        echo "core_bench: torch_infer.py $arch failed: $(tail -1 "$TMP/bt.err")" >&2
      fi
      [ -f "$TMP/$arch.onnx" ] && ONNX=$TMP/$arch.onnx
    fi
    if [ $ONNX != n/a ] && node bench/ort_infer.js "$ONNX" $batch --threads 1 --json \
         >"$TMP/bo.json" 2>"$TMP/bo.err"; then
      lo=$(jfield "$TMP/bo.json" 'd["latency_us"]') || lo=n/a
    elif [ $ONNX != n/a ]; then
      echo "core_bench: ort_infer.js $arch failed: $(tail -1 "$TMP/bo.err")" >&2
    fi
    printf '%-10s %6s %10s %10s %10s %14s %12s\n' $arch $batch "$(fmt $lm 1)" "$(fmt $lt 1)" "$(fmt $lo 1)" \
      "$(ratio $lt $lm)" "$(ratio $lo $lm)"
  done
done
