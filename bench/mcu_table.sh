#!/bin/sh
# The deployment table of docs/DEPLOY.md: each model on each Cortex-M target
# in QEMU (scripts/mcu.sh, 100 images of the split), one JSON line per run on
# stdout, then the Markdown table.
#   bench/mcu_table.sh DATA_DIR NAME=MODEL.mnw [NAME=MODEL.mnw ...]
# Targets: $MCU_TARGETS (default "cortex-m4 cortex-m7 cortex-m33"); images:
# $MCU_N (default 100); split: $MCU_SPLIT (default val).
set -eu
[ $# -ge 2 ] || { echo "usage: bench/mcu_table.sh DATA_DIR NAME=MODEL.mnw ..." >&2; exit 1; }
DATA=$1; shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
for nm in "$@"; do
  name=${nm%%=*} model=${nm#*=}
  for t in ${MCU_TARGETS:-cortex-m4 cortex-m7 cortex-m33}; do
    line=$("$ROOT/scripts/mcu.sh" "$model" "$t" "$DATA" "${MCU_SPLIT:-val}" "${MCU_N:-100}")
    echo "$line" | python3 -c 'import json,sys; r=json.load(sys.stdin); r["model"]=sys.argv[1]; print(json.dumps(r))' "$name" | tee -a "$OUT"
  done
done
python3 - "$OUT" <<'PY'
import json, sys
print("\n| model | target | classes equal | max abs diff | model flash (plan) | model RAM (plan) | stack | instructions / inference | program flash / RAM |")
print("|---|---|---|---|---|---|---|---|---|")
for l in open(sys.argv[1]):
    r = json.loads(l)
    print("| %s | %s | %d / %d | %.2g | %s (%s) | %s (%s) | %d | %s | %s / %s |" % (
        r["model"], r["target"], r["agree"], r["n"], r["max_abs_diff"], f"{r['model_flash_bytes']:,}",
        f"{r['plan_flash_bytes']:,}", f"{r['model_ram_bytes']:,}", f"{r['plan_ram_bytes']:,}", r["stack_bytes"],
        f"{r['insns_per_inference']:,}", f"{r['flash_bytes']:,}", f"{r['ram_bytes']:,}"))
PY
