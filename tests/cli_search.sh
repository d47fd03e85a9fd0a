#!/usr/bin/env bash
# CLI behaviour of `minnow search` on a small CSV problem (no MNIST needed):
# each budget kind is met as `minnow info` / the export plan measure it
# afterwards, the written recipe reproduces the model, --uniform ties the
# layers, an interrupted search resumes from its state file, and bad
# arguments or an unreachable budget give one clear line and no output.
set -u
BIN=${1:?usage: cli_search.sh path/to/minnow}
. "$(dirname "$0")/clilib.sh"

mkdir -p "$T/d"
mkcsv_signs "$T/d/train.csv" 600 3
mkcsv_signs "$T/d/val.csv" 300 4
SPEC="input x; dense fc1 units=48; relu r1; dense fc2 units=32; relu r2; dense fc3 units=classes"
D=(--data "$T/d")
expect_ok "$BIN" train --arch "$SPEC" "${D[@]}" --batch 20 --lr 0.01 --epochs 20 -o "$T/m.mnw" || { echo "cannot train"; exit 1; }
FT=(--finetune 1 --steps 1 --batch 20 --lr 0.005)

# ---- bad arguments --------------------------------------------------------
expect_ok "$BIN" search --help
expect_fail 1 "--budget KIND=N is required" -- "$BIN" search "$T/m.mnw" "${D[@]}" -o "$T/x.mnw"
expect_fail 1 "expected KIND=N" -- "$BIN" search "$T/m.mnw" "${D[@]}" --budget weight=3 -o "$T/x.mnw"
expect_fail 1 "expected KIND=N" -- "$BIN" search "$T/m.mnw" "${D[@]}" --budget bytes=-3 -o "$T/x.mnw"
expect_fail 1 "expected KIND=N" -- "$BIN" search "$T/m.mnw" "${D[@]}" --budget bytes=12kb -o "$T/x.mnw"
expect_fail 1 "each part is prune, units" -- "$BIN" search "$T/m.mnw" "${D[@]}" --budget bytes=2000 --space prune+zip -o "$T/x.mnw"
expect_fail 1 "exclude each other" -- "$BIN" search "$T/m.mnw" "${D[@]}" --budget bytes=2000 --space kmeans+affine -o "$T/x.mnw"
expect_fail 1 "-o OUT.mnw is required" -- "$BIN" search "$T/m.mnw" "${D[@]}" --budget bytes=2000
"$BIN" search "$T/m.mnw" "${D[@]}" --budget bytes=100 "${FT[@]}" -o "$T/x.mnw" >"$T/out" 2>"$T/err"
[ $? = 1 ] && tail -1 "$T/err" | grep -q "cannot be met in this space" && ok || bad "unreachable budget: $(tail -2 "$T/err")"
absent "$T/x.mnw"
absent "$T/x.yaml"

# ---- bytes: shared weights + pruning --------------------------------------
dense=$("$BIN" info "$T/m.mnw" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["file_bytes"])')
B=$((dense * 2 / 5))
expect_ok "$BIN" search "$T/m.mnw" "${D[@]}" --budget bytes=$B "${FT[@]}" -o "$T/s.mnw" --json
cp "$T/out" "$T/s.json"
check "$T/s.json" "r['cost'] <= $B and r['file_bytes'] == r['cost'] and r['cost_dense'] > $B and r['steps'] > 0"
check "$T/s.json" "all(l['bits'] in (2,3,4,5,6,8) for l in r['layers']) and r['val_error'] < 0.3"
"$BIN" info "$T/s.mnw" --json >"$T/i.json"
check "$T/i.json" "r['file_bytes'] <= $B"
[ -f "$T/s.yaml" ] && grep -q "method: kmeans" "$T/s.yaml" && ok || bad "no recipe beside the model"
[ ! -e "$T/s.search" ] && ok || bad "the state file stays after a finished search"
# The recipe it wrote gives the same model again.
expect_ok "$BIN" compress "$T/m.mnw" --recipe "$T/s.yaml" "${D[@]}" -o "$T/c.mnw"
"$BIN" info "$T/c.mnw" --json >"$T/ci.json"
check "$T/ci.json" "r['file_bytes'] == $(cat "$T/s.json" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["file_bytes"])')"

# ---- the uniform baseline: one setting for every layer --------------------
expect_ok "$BIN" search "$T/m.mnw" "${D[@]}" --budget bytes=$B "${FT[@]}" --uniform -o "$T/u.mnw" --json
cp "$T/out" "$T/u.json"
check "$T/u.json" "r['uniform'] and r['cost'] <= $B and len({l['bits'] for l in r['layers']}) == 1 and len({l['sparsity'] for l in r['layers']}) == 1"

# ---- macs: units removed ---------------------------------------------------
macs=$("$BIN" info "$T/m.mnw" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["macs"])')
M=$((macs / 2))
expect_ok "$BIN" search "$T/m.mnw" "${D[@]}" --budget macs=$M "${FT[@]}" -o "$T/n.mnw" --json
cp "$T/out" "$T/n.json"
check "$T/n.json" "r['macs'] <= $M and r['cost'] == r['macs'] and any(l['units_removed'] > 0 for l in r['layers'])"
"$BIN" info "$T/n.mnw" --json >"$T/i.json"
check "$T/i.json" "r['macs'] <= $M"

# NetAdapt's short-term fine-tuning of each candidate: still within budget.
expect_ok "$BIN" search "$T/m.mnw" "${D[@]}" --budget macs=$M --probe 200 "${FT[@]}" -o "$T/np.mnw" --json
check "$T/out" "r['macs'] <= $M and r['val_error'] < 0.3"

# ---- flash for a microcontroller: affine bits + pruning ---------------------
expect_ok "$BIN" search "$T/m.mnw" "${D[@]}" --budget flash=6000 --space prune+affine "${FT[@]}" -o "$T/f.mnw" --json
cp "$T/out" "$T/f.json"
check "$T/f.json" "r['cost'] <= 6000"
expect_ok "$BIN" export-c "$T/f.mnw" -o "$T/fc" --report --json
check "$T/out" "r['plan']['flash_bytes'] <= 6000"

# ---- latency: a budget the model already meets ------------------------------
expect_ok "$BIN" search "$T/m.mnw" "${D[@]}" --budget latency_us=1e6 "${FT[@]}" -o "$T/l.mnw" --json
check "$T/out" "r['steps'] == 0 and r['cost'] < 1e6"

# ---- resuming: an interrupted search goes on where it stopped ---------------
"$BIN" search "$T/m.mnw" "${D[@]}" --budget bytes=$B "${FT[@]}" --max-evals 6 -o "$T/r.mnw" >"$T/out" 2>"$T/err"
[ $? = 1 ] && tail -1 "$T/err" | grep -q "limit of 6 estimates" && ok || bad "max-evals: $(tail -2 "$T/err")"
absent "$T/r.mnw"
saved=$(($(wc -l <"$T/r.search") - 1))
[ "$saved" -ge 3 ] && ok || bad "state file: $saved estimates"
expect_ok "$BIN" search "$T/m.mnw" "${D[@]}" --budget bytes=$B "${FT[@]}" -o "$T/r.mnw" --json
grep -q "resuming with $saved estimates" "$T/err" && ok || bad "no resume: $(head -3 "$T/err")"
check "$T/out" "r['evals'] < $(cat "$T/s.json" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["evals"])')"
check "$T/out" "[l['sparsity'] for l in r['layers']] == [l['sparsity'] for l in json.load(open('$T/s.json'))['layers']]"
# A state file of another search is refused.
"$BIN" search "$T/m.mnw" "${D[@]}" --budget bytes=$B "${FT[@]}" --max-evals 2 -o "$T/q.mnw" >/dev/null 2>&1
expect_fail 1 "holds another search" -- "$BIN" search "$T/m.mnw" "${D[@]}" --budget bytes=$((B - 1)) "${FT[@]}" -o "$T/q.mnw"

finish cli_search
