#!/usr/bin/env bash
# int8 inference against fp32 and against PyTorch's int8, on real MNIST.
#
#   bench/int8_bench.sh            (trains lenet300 15 epochs, lenet5 8)
#   MINNOW_BENCH_MODELS=DIR bench/int8_bench.sh   (reuse DIR/lenet300.mnw,
#                                                  DIR/lenet5.mnw if there)
#   MINNOW_BENCH_REPEAT=N   (default 3) runs of every latency, interleaved
#                           (f32, int8, torch, f32, int8, ...); the table
#                           shows the median of the N medians
#
# 1. Builds minnow (Release) into $MINNOW_BENCH_BUILD (default build-int8bench).
# 2. Dense parents by the core recipe, then `minnow quantize --method affine`
#    (8-bit weights per channel, 8-bit activations calibrated on train):
#    val error and file size of both.
# 3. Median latency of one forward pass, 1 thread, batch 1 and 64:
#    `minnow bench --json` on the fp32 and the int8 model, against
#    bench/int8_torch.py (PyTorch fp32, dynamic int8 = quantize_dynamic on
#    nn.Linear, static int8 = eager post-training quantization of conv and
#    linear).  Ratios are other / minnow int8: above 1 means int8 is faster.
#    Conv layers of the int8 model run the store's conv kernel: the input
#    quantized once, panels gathered from the codes (no f32 im2col).
# The machine may be shared: run it twice and compare.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${MINNOW_BENCH_BUILD:-build-int8bench}
DATA=${MINNOW_DATA:-../shared/data}/mnist
PY=${PYTHON:-/usr/bin/python3}
TMP=$(mktemp -d /tmp/minnow-int8-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
MODELS=${MINNOW_BENCH_MODELS:-$TMP}
REPEAT=${MINNOW_BENCH_REPEAT:-3}

die() { echo "int8_bench: $*" >&2; exit 1; }
[ -e "$DATA/train-images-idx3-ubyte.gz" ] || [ -e "$DATA/train-images-idx3-ubyte" ] ||
  die "no MNIST in $DATA (set MINNOW_DATA)"
command -v "$PY" >/dev/null || PY=python3
command -v "$PY" >/dev/null || die "python3 is needed to read the JSON reports"

echo "== building minnow (Release) in $BUILD" >&2
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMINNOW_TESTS=OFF >/dev/null || die "cmake configure failed"
cmake --build "$BUILD" -j"$(nproc)" --target minnow >/dev/null || die "build failed"
MINNOW=$BUILD/minnow
HAVE_TORCH=0
"$PY" -c 'import torch' 2>/dev/null && HAVE_TORCH=1

jfield() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print("n/a" if v is None else v)' "$1" "$2" 2>/dev/null || echo n/a; }
ratio() { if [[ $1 == n/a || $2 == n/a ]]; then echo n/a; else "$PY" -c "print('%.2f' % ($1 / $2))"; fi; }
median() { "$PY" -c 'import sys, statistics as s; v = [float(a) for a in sys.argv[1:] if a != "n/a"]; print(s.median(v) if v else "n/a")' "$@"; }
fmt() { if [[ $1 == n/a ]]; then echo n/a; else "$PY" -c "print('%.${2:-1}f' % $1)"; fi; }

echo "minnow int8 benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "peer: torch $([ $HAVE_TORCH = 1 ] && "$PY" -c 'import torch; print(torch.__version__, "engine", torch.backends.quantized.engine)' || echo n/a)"
echo

declare -A EPOCHS=([lenet300]=15 [lenet5]=8)
printf '%-10s %12s %12s %12s %12s %8s  %s\n' arch "val f32" "val int8" "f32 bytes" "int8 bytes" ratio kernel
for arch in lenet300 lenet5; do
  if [ ! -f "$MODELS/$arch.mnw" ]; then
    echo "== training $arch, ${EPOCHS[$arch]} epochs" >&2
    "$MINNOW" train --arch $arch --data "$DATA" --epochs ${EPOCHS[$arch]} --threads 1 -o "$MODELS/$arch.mnw" \
      >/dev/null 2>"$TMP/train.err" || die "minnow train $arch failed: $(tail -1 "$TMP/train.err")"
  fi
  "$MINNOW" quantize "$MODELS/$arch.mnw" --method affine --data "$DATA" -o "$TMP/$arch-int8.mnw" --json \
    >"$TMP/q_$arch.json" 2>"$TMP/q.err" || die "minnow quantize $arch failed: $(tail -1 "$TMP/q.err")"
  q=$TMP/q_$arch.json
  printf '%-10s %11s%% %11s%% %12s %12s %7sx  %s\n' $arch "$(fmt "$(jfield $q '100*d["val_error_before"]')" 2)" \
    "$(fmt "$(jfield $q '100*d["val_error_after"]')" 2)" "$(jfield $q 'd["input_bytes"]')" \
    "$(jfield $q 'd["output_bytes"]')" "$(ratio "$(jfield $q 'd["input_bytes"]')" "$(jfield $q 'd["output_bytes"]')")" \
    "$(jfield $q 'd["kernel"]')"
done
echo

echo "Median latency of one forward pass in microseconds (1 thread, random input; median of $REPEAT runs)"
printf '%-10s %6s %10s %10s %10s %10s %10s %10s %10s %10s\n' arch batch "f32" "int8" "torch f32" "torch dyn" \
  "torch st" "f32/int8" "dyn/int8" "st/int8"
for arch in lenet300 lenet5; do
  for batch in 1 64; do
    LF=(); LI=(); TF=(); TD=(); TS=()
    for ((rep = 0; rep < REPEAT; rep++)); do
      "$MINNOW" bench "$MODELS/$arch.mnw" --batch $batch --threads 1 --json >"$TMP/b.json" 2>/dev/null &&
        LF+=("$(jfield "$TMP/b.json" 'd["latency_us"]')")
      "$MINNOW" bench "$TMP/$arch-int8.mnw" --batch $batch --threads 1 --json >"$TMP/b.json" 2>/dev/null &&
        LI+=("$(jfield "$TMP/b.json" 'd["latency_us"]')")
      if [ $HAVE_TORCH = 1 ]; then
        if "$PY" bench/int8_torch.py --arch $arch --batch $batch --json >"$TMP/t.json" 2>"$TMP/t.err"; then
          TF+=("$(jfield "$TMP/t.json" 'd["fp32_us"]')")
          TD+=("$(jfield "$TMP/t.json" 'd["dynamic_int8_us"]')")
          TS+=("$(jfield "$TMP/t.json" 'd["static_int8_us"]')")
        else
          echo "int8_bench: int8_torch.py $arch failed: $(tail -1 "$TMP/t.err")" >&2
        fi
      fi
    done
    lf=$(median "${LF[@]}"); li=$(median "${LI[@]}"); tf=$(median "${TF[@]}")
    td=$(median "${TD[@]}"); ts=$(median "${TS[@]}")
    printf '%-10s %6s %10s %10s %10s %10s %10s %9sx %9sx %9sx\n' $arch $batch "$(fmt $lf)" "$(fmt $li)" \
      "$(fmt $tf)" "$(fmt $td)" "$(fmt $ts)" "$(ratio $lf $li)" "$(ratio $td $li)" "$(ratio $ts $li)"
  done
done
echo "load now: $(cut -d' ' -f1-3 /proc/loadavg)"
