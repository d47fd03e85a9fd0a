#!/usr/bin/env bash
# Layer pruning of ResNet-20 on Fashion-MNIST (docs/DYNAMIC.md).
#
#   bench/blocks.sh [SEEDS]      (default "1"; e.g. "1 2 3")
#
# Per seed: the dense net from recipes/train-resnet20-fashion.yaml (reused
# when OUT/resnet20-sS.mnw exists), then a third of its 9 residual blocks
# removed in 3 rounds, each scored on 2,000 training images and followed by
# 2 epochs of SGD fine-tuning; one JSON line: val error, blocks, nodes, MACs
# and batch-1 latency (median, one thread) of both, and the minutes.
# Environment: MINNOW (default build/minnow), OUT (default bench-blocks/),
# THREADS for training (default 1).  Data: Debian's dataset-fashion-mnist.
set -uo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-1}
BIN=${MINNOW:-build/minnow}
OUT=${OUT:-bench-blocks}
TH=${THREADS:-1}
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "bench/blocks.sh: no minnow at $BIN" >&2; exit 1; }
for s in $SEEDS; do
  dense="$OUT/resnet20-s$s.mnw" pruned="$OUT/resnet20-blocks-s$s.mnw"
  t0=$(date +%s)
  if [ ! -s "$dense" ]; then
    "$BIN" train --recipe recipes/train-resnet20-fashion.yaml --data fashion-mnist --seed "$s" --threads "$TH" \
      -o "$dense" 2>"$OUT/train-s$s.log" >/dev/null || { echo "train failed: $(tail -1 "$OUT/train-s$s.log")" >&2; exit 1; }
  fi
  t1=$(date +%s)
  "$BIN" prune "$dense" --method blocks --sparsity 0.34 --steps 3 --finetune 2 --opt sgd --lr 0.01 --wd 5e-4 \
    --sched cosine --batch 128 --data fashion-mnist --threads "$TH" --json -o "$pruned" \
    >"$OUT/prune-s$s.json" 2>"$OUT/prune-s$s.log" || { echo "prune failed: $(tail -1 "$OUT/prune-s$s.log")" >&2; exit 1; }
  t2=$(date +%s)
  "$BIN" eval "$dense" --data fashion-mnist --json >"$OUT/e0.json" 2>/dev/null
  "$BIN" bench "$dense" --json >"$OUT/b0.json" 2>/dev/null
  "$BIN" bench "$pruned" --json >"$OUT/b1.json" 2>/dev/null
  python3 - "$s" "$OUT" "$t0" "$t1" "$t2" <<'PY'
import json, sys
s, out, t0, t1, t2 = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
p = json.load(open("%s/prune-s%s.json" % (out, s)))
e0 = json.load(open(out + "/e0.json"))
b0, b1 = json.load(open(out + "/b0.json")), json.load(open(out + "/b1.json"))
print(json.dumps({"row": "blocks-resnet20-fashion", "seed": int(s), "split": "val (6,000 held out of train)",
                  "dense_val_error": e0["error"], "pruned_val_error": p["val_error"],
                  "after_cut_val_errors": [st["val_error"] for st in p["stages"]],
                  "blocks": [p["blocks_before"], p["blocks"]], "nodes": [p["nodes_before"], p["nodes"]],
                  "macs": [p["macs_before"], p["macs"]], "params": [p["weights_before"], p["weights"]],
                  "latency_us": [b0["latency_us"], b1["latency_us"]],
                  "train_minutes": round((t1 - t0) / 60, 1), "prune_minutes": round((t2 - t1) / 60, 1)}))
PY
done
