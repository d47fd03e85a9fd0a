#!/usr/bin/env bash
# Depth chosen per sample (SkipNet-style gates) on ResNet-20, Fashion-MNIST
# (docs/DYNAMIC.md): gates on the 7 identity-shortcut blocks of a trained
# ResNet-20, trained EPOCHS epochs against each compute cost.
#
#   bench/gate.sh [COSTS] [SEED]     (default "0.5 1 2", seed 1)
#
# The dense net: recipes/train-resnet20-fashion.yaml (reused when
# OUT/resnet20-sSEED.mnw exists, as bench/blocks.sh leaves it).  One JSON
# line per cost: val error, average executed MACs, how often each gate
# opened, batch-1 latency per sample (all val images, one thread) overall
# and by the number of gates open, before and after.
# Environment: MINNOW (default build/minnow), OUT (default bench-gate/),
# THREADS for training (default 1), EPOCHS (default 3), DISTILL=1 (the
# ungated net as a distillation teacher, T 4, alpha 0.9).  Data: Debian's
# dataset-fashion-mnist.
set -uo pipefail
cd "$(dirname "$0")/.."
COSTS=${1:-0.5 1 2}
s=${2:-1}
BIN=${MINNOW:-build/minnow}
OUT=${OUT:-bench-gate}
TH=${THREADS:-1}
EP=${EPOCHS:-3}
KD=(); tag=""
[ "${DISTILL:-0}" = 1 ] && KD=(--distill) && tag="-kd"
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "bench/gate.sh: no minnow at $BIN" >&2; exit 1; }
dense="$OUT/resnet20-s$s.mnw"
if [ ! -s "$dense" ]; then
  "$BIN" train --recipe recipes/train-resnet20-fashion.yaml --data fashion-mnist --seed "$s" --threads "$TH" \
    -o "$dense" 2>"$OUT/train-s$s.log" >/dev/null || { echo "train failed: $(tail -1 "$OUT/train-s$s.log")" >&2; exit 1; }
fi
for c in $COSTS; do
  t0=$(date +%s)
  "$BIN" gate "$dense" --cost "$c" --epochs "$EP" --opt sgd --lr 0.01 --wd 5e-4 --sched cosine --batch 128 \
    --data fashion-mnist --threads "$TH" --seed "$s" "${KD[@]}" --json -o "$OUT/gated-c$c-e$EP$tag-s$s.mnw" \
    >"$OUT/gate-c$c-e$EP$tag-s$s.json" 2>"$OUT/gate-c$c-e$EP$tag-s$s.log" || { echo "gate failed: $(tail -1 "$OUT/gate-c$c-e$EP$tag-s$s.log")" >&2; exit 1; }
  python3 - "$OUT/gate-c$c-e$EP$tag-s$s.json" "$c" "$s" "$(( $(date +%s) - t0 ))" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
b, a = r["before"], r["after"]
print(json.dumps({"seed": int(sys.argv[3]), "cost": float(sys.argv[2]), "epochs": len(r["epochs"]), "distill": r["distill"],
                  "gates": r["gates"],
                  "dense_error": b["error"], "dense_macs": b["avg_macs"], "dense_latency_us": b["latency_us"],
                  "error": a["error"], "avg_macs": a["avg_macs"], "macs_fraction": round(a["avg_macs"] / b["avg_macs"], 4),
                  "latency_us": a["latency_us"], "open": a["open"], "by_open_gates": a["by_open_gates"],
                  "minutes": round(int(sys.argv[4]) / 60, 1)}))
PY
done
