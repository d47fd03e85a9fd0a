#!/usr/bin/env bash
# The budget search against its baselines (docs/SEARCH.md): for each seed's
# model and each budget, `minnow search` (the greedy per-layer policy), the
# same search tied to one setting for every layer (--uniform), and, when
# given, a hand-written recipe; one JSON line per run, then a summary per
# budget and policy (mean +- std of val error over the seeds, cost max).
#
#   bench/search.sh MODEL DATA KIND=N[,KIND=N...] SEEDS [--hand RECIPE] [-- SEARCH-OPTIONS]
#
# SEEDS is a count (1..N) or a list (2,3).  MODEL holds %s for the seed (e.g. out/lenet5-s%s.mnw, trained with
# `minnow train --recipe recipes/train-lenet5.yaml --seed S`).  The
# hand-written recipe runs once per seed (it has no budget; its cost is
# reported beside).  Environment: MINNOW (default build/minnow), OUT (the
# directory for models, default /tmp/minnow-search), POLICIES (default
# "searched uniform").
set -euo pipefail
cd "$(dirname "$0")/.."
M=${MINNOW:-build/minnow}
OUT=${OUT:-/tmp/minnow-search}
[ $# -ge 4 ] || { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
model=$1 data=$2 budgets=$3 seeds=$4
shift 4
hand=""
if [ "${1:-}" = --hand ]; then hand=$2; shift 2; fi
[ "${1:-}" = -- ] && shift
mkdir -p "$OUT"
rows="$OUT/rows.$$.jsonl"
: >"$rows"
case $seeds in *,*) seedlist=${seeds//,/ } ;; *) seedlist=$(seq 1 "$seeds") ;; esac
for s in $seedlist; do
  m=$(printf "$model" "$s")
  [ -f "$m" ] || { echo "search.sh: no model $m" >&2; exit 1; }
  if [ -n "$hand" ]; then # its own seed line set to this seed
    sed "s/^seed: .*/seed: $s/" "$hand" >"$OUT/hand-s$s.yaml"
    "$M" compress "$m" --recipe "$OUT/hand-s$s.yaml" --data "$data" -o "$OUT/hand-s$s.mnw" --json \
      2>"$OUT/hand-s$s.log" >"$OUT/hand-s$s.json"
    /usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))
print(json.dumps({"seed":int(sys.argv[2]),"budget":"-","policy":"hand","cost":r["file_bytes"],"bytes":r["file_bytes"],
  "val_error":r["val_error"]}))' "$OUT/hand-s$s.json" "$s" | tee -a "$rows"
  fi
  for b in ${budgets//,/ }; do
    for pol in ${POLICIES:-searched uniform}; do
      extra=()
      [ $pol = uniform ] && extra=(--uniform)
      tag="${b//=/-}-$pol-s$s"
      if ! "$M" search "$m" --budget "$b" --data "$data" --seed "$s" "${extra[@]}" "$@" -o "$OUT/$tag.mnw" --json \
        2>"$OUT/$tag.log" >"$OUT/$tag.json"; then
        echo "search.sh: seed $s $b $pol failed: $(tail -1 "$OUT/$tag.log")" >&2
        continue
      fi
      /usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))
print(json.dumps({"seed":int(sys.argv[2]),"budget":sys.argv[3],"policy":sys.argv[4],"cost":r["cost"],"bytes":r["file_bytes"],
  "macs":r["macs"],"val_error":r["val_error"],"estimate":r["error_estimate"],"evals":r["evals"],"seconds":r["seconds"],
  "layers":{l["name"]:[l["units_removed"],l["sparsity"],l["bits"]] for l in r["layers"]}}))' \
        "$OUT/$tag.json" "$s" "$b" "$pol" | tee -a "$rows"
    done
  done
done
/usr/bin/python3 - "$rows" <<'EOF'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
groups = {}
for r in rows: groups.setdefault((r["budget"], r["policy"]), []).append(r)
for (b, p), rs in sorted(groups.items()):
    e = [100 * r["val_error"] for r in rs]
    sd = st.stdev(e) if len(e) > 1 else 0.0
    print(json.dumps({"summary": True, "budget": b, "policy": p, "seeds": len(rs), "val_error_mean": round(st.mean(e), 3),
                      "val_error_std": round(sd, 3), "min": round(min(e), 3), "max": round(max(e), 3),
                      "bytes_max": max(r["bytes"] for r in rs), "macs_max": max(r.get("macs", 0) for r in rs)}))
EOF
