#!/usr/bin/env bash
# Pruning that makes the model smaller and faster: a dense LeNet-300-100
# against the same network magnitude-pruned to 7.7% and stored sparse (CSR).
#
#   bench/sparse_bench.sh [DENSE.mnw]      (default: train one, ~15 s)
#   MINNOW_BENCH_NO_CROSSOVER=1 bench/sparse_bench.sh   (skip step 5)
#
# 1. Builds minnow (Release) into $MINNOW_BENCH_BUILD (default build-bench)
#    and bench/sparse_crossover.c against its libminnow.a.
# 2. Dense parent: DENSE.mnw, or `minnow train --arch lenet300 --epochs 15`.
# 3. `minnow prune --method magnitude --sparsity $RATES --steps 5 --finetune 3`
#    (RATES: Han et al.'s per-layer rates, fc1=0.925,fc2=0.91,fc3=0.74, 7.7%
#    of the weights left: the README's recipe, which keeps val error within
#    0.3 points of dense; MINNOW_BENCH_SPARSITY overrides, per-layer rates
#    in layer order, as the PyTorch peer takes them in that order)
#    (saves CSR through mn_graph_sparsify); val error of both (`minnow
#    eval`), file bytes and per-layer storage (`minnow info --json`).
# 4. Latency, batch 1 and 64, one thread, `minnow bench --json` (random
#    uniform pixels): dense vs pruned; peer: bench/torch_sparse.py (PyTorch,
#    the same network pruned to the same rates, dense and with torch's CSR
#    tensors).
# 5. Batch 1 on real images (sparse_crossover --model): one of the pruned
#    model's batch-1 paths skips inputs equal to a baseline (EIE), so the
#    choice and its time depend on the input (the sliced AVX-512 path's do
#    not).  Dense and pruned take turns in blocks of the val split's first
#    300 images; per layer: active inputs, row kernel, column (EIE) path,
#    sliced path, what inference runs, sgemv.
# 6. Where sparse stops beating dense SGEMM per layer shape and density
#    (bench/sparse_crossover, --quick): what MN_SPARSE_DEFAULT_DENSITY rests on.
# Ratios are dense / pruned (or peer / minnow): above 1 means faster or
# smaller.  Targets (issue 3): file <= 1/6 of dense, batch 1 >= 3x faster
# (on real images: step 5).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${MINNOW_BENCH_BUILD:-build-bench}
DATA=${MINNOW_DATA:-../shared/data}/mnist
PY=${PYTHON:-/usr/bin/python3}
TMP=$(mktemp -d /tmp/minnow-sparse-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

die() { echo "sparse_bench: $*" >&2; exit 1; }
[ -e "$DATA/train-images-idx3-ubyte.gz" ] || [ -e "$DATA/train-images-idx3-ubyte" ] ||
  die "no MNIST in $DATA (set MINNOW_DATA)"
command -v "$PY" >/dev/null || PY=python3
command -v "$PY" >/dev/null || die "python3 is needed to read the JSON reports"

echo "== building minnow (Release) in $BUILD" >&2
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMINNOW_TESTS=OFF >/dev/null || die "cmake configure failed"
cmake --build "$BUILD" -j"$(nproc)" --target minnow minnow_static >/dev/null || die "build failed"
MINNOW=$BUILD/minnow
XOVER=$TMP/sparse_crossover
BLAS=$(sed -n 's/^\(MINNOW_\)\{0,1\}OPENBLAS_LIB:FILEPATH=//p' "$BUILD/CMakeCache.txt" | head -1)
${CC:-cc} -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude bench/sparse_crossover.c "$BUILD/libminnow.a" \
  ${BLAS:+"$BLAS"} -fopenmp -lz -lm -o "$XOVER" 2>"$TMP/cc.err" ||
  { echo "sparse_bench: cannot build sparse_crossover: $(head -1 "$TMP/cc.err")" >&2; XOVER=; }

jfield() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }
ratio() { if [[ $1 == n/a || $2 == n/a ]]; then echo n/a; else "$PY" -c "print('%.2f' % ($1 / $2))"; fi; }
fmt() { if [[ $1 == n/a ]]; then echo n/a; else "$PY" -c "print('%.${2:-1}f' % $1)"; fi; }

DENSE=${1:-}
if [ -n "$DENSE" ]; then
  [ -f "$DENSE" ] || die "no such model: $DENSE"
else
  DENSE=$TMP/dense.mnw
  echo "== training lenet300 (15 epochs)" >&2
  "$MINNOW" train --arch lenet300 --epochs 15 --data "$DATA" -o "$DENSE" >/dev/null 2>"$TMP/train.err" ||
    die "minnow train failed: $(tail -1 "$TMP/train.err")"
fi
PRUNED=$TMP/pruned.mnw
RATES=${MINNOW_BENCH_SPARSITY:-fc1=0.925,fc2=0.91,fc3=0.74}
echo "== pruning ($RATES: magnitude, 5 steps, 3 fine-tune epochs each)" >&2
"$MINNOW" prune "$DENSE" --method magnitude --sparsity "$RATES" --steps 5 --finetune 3 --data "$DATA" \
  -o "$PRUNED" --json >"$TMP/prune.json" 2>"$TMP/prune.err" ||
  die "minnow prune failed: $(tail -1 "$TMP/prune.err")"

echo "minnow sparse benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo

declare -A ERR BYTES
for m in dense pruned; do
  f=$DENSE; [ $m = pruned ] && f=$PRUNED
  "$MINNOW" eval "$f" --data "$DATA" --split val --json >"$TMP/e.json" 2>/dev/null &&
    ERR[$m]=$(jfield "$TMP/e.json" '100 * d["error"]') || ERR[$m]=n/a
  "$MINNOW" info "$f" --json >"$TMP/info_$m.json" 2>/dev/null &&
    BYTES[$m]=$(jfield "$TMP/info_$m.json" 'd["file_bytes"]') || BYTES[$m]=n/a
done
echo "LeNet-300-100 on MNIST (val split, 1000 images)"
printf '%-8s %12s %10s %10s   %s\n' model file_bytes nonzero val_error "per layer: storage density bytes"
for m in dense pruned; do
  printf '%-8s %12s %10s %9s%%   %s\n' $m "${BYTES[$m]}" "$(jfield "$TMP/info_$m.json" 'd["nonzero"]')" \
    "$(fmt "${ERR[$m]}" 2)" \
    "$(jfield "$TMP/info_$m.json" '" ".join("%s:%s:%.1f%%:%d" % (l["name"], l["storage"], 100 * l["density"], l["bytes"]) for l in d["layers"] if l["params"])')"
done
echo "file: dense / pruned = $(ratio "${BYTES[dense]}" "${BYTES[pruned]}")x smaller (target >= 6x)"
echo

HAVE_TORCH=0
"$PY" -c 'import torch' 2>/dev/null && HAVE_TORCH=1
echo "load now: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Latency: median of one forward pass in microseconds, 1 thread, random input"
printf '%6s %10s %10s %14s %12s %12s %16s %14s\n' batch dense pruned dense/pruned torch_dense torch_csr torch_csr/pruned torch_speedup
for b in 1 64; do
  declare -A L=()
  for m in dense pruned; do
    f=$DENSE; [ $m = pruned ] && f=$PRUNED
    "$MINNOW" bench "$f" --batch $b --threads 1 --json >"$TMP/b.json" 2>/dev/null &&
      L[$m]=$(jfield "$TMP/b.json" 'd["latency_us"]') || L[$m]=n/a
  done
  td=n/a; tc=n/a
  if [ $HAVE_TORCH = 1 ] && "$PY" bench/torch_sparse.py --sparsity "$(echo "$RATES" | sed 's/[a-z0-9]*=//g')" --batch $b --threads 1 --json \
       >"$TMP/t.json" 2>"$TMP/t.err"; then
    td=$(jfield "$TMP/t.json" 'd["dense_us"]') || td=n/a
    tc=$(jfield "$TMP/t.json" 'd["csr_us"]') || tc=n/a
  elif [ $HAVE_TORCH = 1 ]; then
    echo "sparse_bench: torch_sparse.py failed: $(tail -1 "$TMP/t.err")" >&2
  fi
  printf '%6s %10s %10s %13sx %12s %12s %15sx %13sx\n' $b "$(fmt "${L[dense]}")" "$(fmt "${L[pruned]}")" \
    "$(ratio "${L[dense]}" "${L[pruned]}")" "$(fmt $td)" "$(fmt $tc)" "$(ratio $tc "${L[pruned]}")" "$(ratio $td $tc)"
done
echo "(dense/pruned: minnow's speed-up from pruning, on random pixels; torch_csr/pruned: PyTorch's"
echo " CSR time over minnow's pruned time; torch_speedup: what CSR gives PyTorch over its own dense)"

if [ -n "$XOVER" ]; then
  echo
  echo "load now: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "Batch 1 on real MNIST val images (the first 300), 1 thread:"
  if "$XOVER" --model "$DENSE" --model "$PRUNED" --data "$DATA" --images 300 >"$TMP/m.txt" 2>"$TMP/m.err"; then
    sed -e "s#$DENSE#dense#; s#$PRUNED#pruned#" "$TMP/m.txt"
    d1=$(sed -n "s#^$DENSE: forward batch 1 \([0-9.]*\) us.*#\1#p" "$TMP/m.txt")
    p1=$(sed -n "s#^$PRUNED: forward batch 1 \([0-9.]*\) us.*#\1#p" "$TMP/m.txt")
    [ -n "$d1" ] && [ -n "$p1" ] && echo "batch 1 on real images: dense / pruned = $(ratio "$d1" "$p1")x (target >= 3x)"
  else
    echo "sparse_bench: sparse_crossover --model failed: $(tail -1 "$TMP/m.err")" >&2
  fi
fi

if [ -n "$XOVER" ] && [ "${MINNOW_BENCH_NO_CROSSOVER:-0}" != 1 ]; then
  echo
  echo "== sparse vs dense crossover per layer (this takes a minute)" >&2
  "$XOVER" --quick >"$TMP/x.txt" || echo "sparse_bench: sparse_crossover failed" >&2
  head -1 "$TMP/x.txt"
  awk '/, batch/ {s=$0} /sparse faster up to/ {sub(/^ +/, ""); print "  " s ": " $0}' "$TMP/x.txt"
  echo "(full tables: bench/sparse_crossover.c, built as above and run without --quick;"
  echo " the default density cap MN_SPARSE_DEFAULT_DENSITY is in include/minnow/sparse.h)"
fi
