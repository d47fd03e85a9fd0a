#!/usr/bin/env bash
# Dependency-aware filter pruning and int8 of ResNet-20 on Fashion-MNIST
# (issue #18's rows; docs/EFFICIENT.md).
#
#   bench/filters.sh [SEEDS] [SPARSITY]     (default "1", 0.3)
#   ARCH=mobilenet bench/filters.sh 1 0     (SPARSITY 0: no pruning, f32 vs int8)
#
# Per seed: the dense net from recipes/train-ARCH-fashion.yaml (ARCH
# default resnet20; reused when OUT/ARCH-sS.mnw exists, as bench/blocks.sh
# and bench/gate.sh leave it); SPARSITY of every layer's filters removed by L1 norm at once
# (channels tied by a residual add removed together: the groups of
# docs/PRUNING.md), then FT epochs of SGD fine-tuning; both nets with batch norm folded
# and then quantized (affine int8 per channel, integer kernels).  One JSON
# line: val error, MACs, params and batch-1 latency (median of RUNS runs,
# one thread) of dense f32, pruned f32, dense int8 and pruned int8, and
# ONNX Runtime's on the same f32 models (bench/ort_infer.js; ratios above 1
# mean minnow is faster), and minnow's again under MINNOW_SIMD=avx2 (what an
# AVX2-only CPU runs).  A pruned model already in OUT is reused.  Run it
# with and without OPENBLAS_CORETYPE set: nothing here should depend on it.
# Environment: MINNOW (default build/minnow), OUT (default bench-filters/),
# THREADS for training (default 1), RUNS (default 2000), FT (default 4).  Data: Debian's
# dataset-fashion-mnist.
set -uo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-1}
SP=${2:-0.3}
BIN=${MINNOW:-build/minnow}
OUT=${OUT:-bench-filters}
TH=${THREADS:-1}
ARCH=${ARCH:-resnet20}
RUNS=${RUNS:-2000}
FT=${FT:-4}
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "bench/filters.sh: no minnow at $BIN" >&2; exit 1; }
fail() { echo "bench/filters.sh: $1 failed: $(tail -1 "$2")" >&2; exit 1; }
for s in $SEEDS; do
  dense="$OUT/$ARCH-s$s.mnw" pruned="$OUT/$ARCH-f$SP-s$s.mnw"
  t0=$(date +%s)
  if [ ! -s "$dense" ]; then
    "$BIN" train --recipe "recipes/train-$ARCH-fashion.yaml" --data fashion-mnist --seed "$s" --threads "$TH" \
      -o "$dense" 2>"$OUT/train-s$s.log" >/dev/null || fail train "$OUT/train-s$s.log"
  fi
  t1=$(date +%s)
  models="dense pruned"
  if [ "$SP" = 0 ]; then
    models=dense
  elif [ ! -s "$pruned" ] || [ ! -s "$OUT/prune-f$SP-s$s.json" ]; then
    "$BIN" prune "$dense" --method filter --sparsity "$SP" --finetune "$FT" --opt sgd --lr 0.01 --wd 5e-4 \
      --sched cosine --batch 128 --data fashion-mnist --threads "$TH" --seed "$s" --json -o "$pruned" \
      >"$OUT/prune-f$SP-s$s.json" 2>"$OUT/prune-f$SP-s$s.log" || fail prune "$OUT/prune-f$SP-s$s.log"
  fi
  t2=$(date +%s)
  for m in $models; do
    f=${!m}
    "$BIN" fold "$f" -o "$OUT/$m-fold.mnw" >/dev/null 2>"$OUT/fold.log" || fail fold "$OUT/fold.log"
    "$BIN" quantize "$OUT/$m-fold.mnw" --method affine --data fashion-mnist --json -o "$OUT/$m-int8.mnw" \
      >"$OUT/$m-q.json" 2>"$OUT/q.log" || fail quantize "$OUT/q.log"
    for k in fold int8; do
      "$BIN" bench "$OUT/$m-$k.mnw" --runs "$RUNS" --json >"$OUT/$m-$k-b.json" 2>/dev/null || exit 1
      # what an AVX2-only CPU runs (MINNOW_SIMD=avx2 caps every kernel there)
      MINNOW_SIMD=avx2 "$BIN" bench "$OUT/$m-$k.mnw" --runs "$RUNS" --json >"$OUT/$m-$k-b2.json" 2>/dev/null || exit 1
    done
    # the peer: ONNX Runtime on the same folded f32 model, one thread, in this run
    echo '{}' >"$OUT/$m-ort.json"
    if "$BIN" export-onnx "$OUT/$m-fold.mnw" -o "$OUT/$m-fold.onnx" >/dev/null 2>&1; then
      node bench/ort_infer.js "$OUT/$m-fold.onnx" 1 --json >"$OUT/$m-ort.json" 2>/dev/null || echo '{}' >"$OUT/$m-ort.json"
    fi
  done
  python3 - "$s" "$SP" "$OUT" "$ARCH" "$t0" "$t1" "$t2" <<'PY'
import json, os, sys
s, sp, out, arch, t0, t1, t2 = *sys.argv[1:5], *map(int, sys.argv[5:])
ld = lambda n: json.load(open("%s/%s" % (out, n)))
p = ld("prune-f%s-s%s.json" % (sp, s)) if float(sp) > 0 else None
row = {"row": ("filters-%s-fashion" if p else "int8-%s-fashion") % arch, "seed": int(s), "sparsity": float(sp),
       "split": "val (6,000 held out of train)", "finetune_epochs": int(os.environ.get("FT", "4"))}
for m in ("dense", "pruned") if p else ("dense",):
    q, bf, bq = ld(m + "-q.json"), ld(m + "-fold-b.json"), ld(m + "-int8-b.json")
    row[m] = {"val_error_f32": q["val_error_before"], "val_error_int8": q["val_error_after"],
              "macs": bf["macs"], "params": p["weights_before" if m == "dense" else "weights"] if p else None,
              "latency_us_f32": bf["latency_us"], "latency_us_int8": bq["latency_us"],
              "int8_kernel": q["kernel"], "bytes_f32": q["input_bytes"], "bytes_int8": q["output_bytes"],
              "latency_us_f32_avx2": ld(m + "-fold-b2.json")["latency_us"],
              "latency_us_int8_avx2": ld(m + "-int8-b2.json")["latency_us"],
              "ort_latency_us_f32": ld(m + "-ort.json").get("latency_us")}
    o = row[m]["ort_latency_us_f32"]
    row[m]["ort_over_minnow_f32"] = round(o / bf["latency_us"], 2) if o else None
    row[m]["ort_over_minnow_int8"] = round(o / bq["latency_us"], 2) if o else None
d = row["dense"]
row["speedup_int8_dense"] = round(d["latency_us_f32"] / d["latency_us_int8"], 2)
if p:
    r = row["pruned"]
    row["macs_ratio"] = round(r["macs"] / d["macs"], 3)
    row["speedup_pruned_f32"] = round(d["latency_us_f32"] / r["latency_us_f32"], 2)
    row["speedup_int8_pruned"] = round(r["latency_us_f32"] / r["latency_us_int8"], 2)
row["blas"] = ld("dense-fold-b.json")["blas"]
row["train_minutes"], row["prune_minutes"] = round((t1 - t0) / 60, 1), round((t2 - t1) / 60, 1)
print(json.dumps(row))
PY
done
