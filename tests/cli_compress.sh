#!/usr/bin/env bash
# CLI behaviour of `minnow compress` (recipes) and `minnow encode` on a small
# CSV problem (no MNIST needed): a Deep Compression recipe runs end to end
# and the result loads, evaluates as reported and is stored as codebooks;
# encode Huffman-codes and un-codes without changing a value; bad recipes and
# arguments give one clear line, a non-zero exit and no output file.
set -u
BIN=${1:?usage: cli_compress.sh path/to/minnow}
. "$(dirname "$0")/clilib.sh"
mkcsv() { # file n: 3 classes by the signs of two of 12 features
  awk -v n="$2" -v s="$3" 'BEGIN{srand(s); print "a,b,c,d,e,f,g,h,i,j,k,l,label";
    for(i=0;i<n;i++){a=rand()*2-1;b=rand()*2-1; l=(a>0)+(b>0);
      printf "%.4f,%.4f", a, b; for(j=0;j<10;j++) printf ",%.4f", rand(); printf ",%d\n", l}}' >"$1"
}
mkdir -p "$T/d"
mkcsv "$T/d/train.csv" 600 5
mkcsv "$T/d/val.csv" 200 6
SPEC="input x; dense fc1 units=64; relu r1; dense fc2 units=32; relu r2; dense fc3 units=classes"
expect_ok "$BIN" train --arch "$SPEC" --data "$T/d" --batch 20 --lr 0.01 --epochs 20 -o "$T/m.mnw" \
  || { echo "cannot train"; exit 1; }

cat >"$T/dc.yaml" <<'EOF'
# a Deep Compression recipe for the small net
name: tiny-dc
passes:
  - prune:
      sparsity: {fc1: 0.8, fc2: 0.7, fc3: 0.5}
      steps: 2
      finetune: 2
      lr: 0.003
  - quantize:
      bits: {fc1: 3, fc2: 3, fc3: 4}
      finetune: 2
  - encode: {huffman: true}
EOF

# ---- the recipe end to end ------------------------------------------------
expect_ok "$BIN" compress --help
expect_ok "$BIN" encode --help
expect_ok "$BIN" compress "$T/m.mnw" --recipe "$T/dc.yaml" --data "$T/d" -o "$T/c.mnw" --json
cp "$T/out" "$T/c.json"
check "$T/c.json" 'r["recipe"] == "tiny-dc" and len(r["passes"]) == 3'
check "$T/c.json" '[l["storage"] for l in r["layers"]] == ["codebook"] * 3'
check "$T/c.json" '[l["bits"] for l in r["layers"]] == [3, 3, 4]'
check "$T/c.json" 'abs(r["layers"][0]["kept"] - 0.2) < 0.002 and abs(r["layers"][1]["kept"] - 0.3) < 0.002'
check "$T/c.json" 'r["ratio"] > 4 and abs(r["ratio"] - r["dense_file_bytes"] / r["file_bytes"]) < 1e-3'
check "$T/c.json" 'r["val_error"] < r["val_error_before"] + 0.1'
check "$T/c.json" 'all(0 < l["index_bits"] <= l["bits"] + 0.5 for l in r["layers"])'
# the file is really that size, loads, and evaluates as reported
sz=$(stat -c %s "$T/c.mnw")
check "$T/c.json" "r['file_bytes'] == $sz"
expect_ok "$BIN" eval "$T/c.mnw" --data "$T/d" --json && cp "$T/out" "$T/e.json"
err=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["val_error"])' "$T/c.json")
check "$T/e.json" "abs(r['error'] - $err) < 1e-6"
expect_ok "$BIN" info "$T/c.mnw" --json && cp "$T/out" "$T/i.json"
check "$T/i.json" '[l["storage"] for l in r["layers"] if l["op"] == "dense"] == ["codebook"] * 3'
# text table
expect_ok "$BIN" compress "$T/m.mnw" --recipe "$T/dc.yaml" --data "$T/d" -o "$T/c2.mnw"
grep -q "compression" "$T/out" && grep -q "^fc1 " "$T/out" && ok || bad "no table: $(cat "$T/out")"
cmp -s "$T/c.mnw" "$T/c2.mnw" && ok || bad "the same recipe gave two different files"

# ---- encode -----------------------------------------------------------------
cat >"$T/q.yaml" <<'EOF'
passes:
  - prune: {sparsity: 0.75}
  - quantize: {bits: 4}
EOF
expect_ok "$BIN" compress "$T/m.mnw" --recipe "$T/q.yaml" --data "$T/d" -o "$T/q.mnw"
expect_ok "$BIN" encode "$T/q.mnw" --huffman -o "$T/h.mnw" --json && cp "$T/out" "$T/h.json"
check "$T/h.json" 'sum(l["bytes_after"] for l in r["layers"]) < sum(l["bytes_before"] for l in r["layers"])'
check "$T/h.json" 'r["file_bytes_after"] <= r["file_bytes_before"] and len(r["layers"]) == 3'
check "$T/h.json" 'any(l["huffman_index"] or l["huffman_gaps"] for l in r["layers"])'
expect_ok "$BIN" encode "$T/h.mnw" --plain -o "$T/p.mnw" --json && cp "$T/out" "$T/p.json"
check "$T/p.json" 'not any(l["huffman_index"] or l["huffman_gaps"] for l in r["layers"])'
for f in q p; do "$BIN" info "$T/$f.mnw" --json >"$T/$f.info" 2>/dev/null || bad "info $f"; done
$PY -c 'import json,sys; a,b=[[(l["name"],l["bytes"]) for l in json.load(open(f))["layers"]] for f in sys.argv[1:]]; assert a==b,(a,b)' \
  "$T/q.info" "$T/p.info" && ok || bad "encode --plain did not give back the plain layers"
for f in q h; do "$BIN" eval "$T/$f.mnw" --data "$T/d" --json >"$T/$f.eval" 2>/dev/null || bad "eval $f"; done
cmp -s "$T/q.eval" "$T/h.eval" && ok || bad "Huffman coding changed the model's outputs"

# ---- quantize --method kmeans ----------------------------------------------
expect_ok "$BIN" quantize "$T/m.mnw" --method kmeans --bits 3 --layer-bits fc3=0 --epochs 1 --data "$T/d" \
  -o "$T/k.mnw" --json && cp "$T/out" "$T/k.json"
check "$T/k.json" '[c["name"] for c in r["codebooks"]] == ["fc1.weight", "fc2.weight"] and all(c["k"] <= 8 for c in r["codebooks"])'
check "$T/k.json" 'r["val_error_after"] < r["val_error_before"] + 0.1'
expect_fail 1 "no dense or conv layer 'fc9'" -- "$BIN" quantize "$T/m.mnw" --method kmeans --layer-bits fc9=3 --data "$T/d" -o "$T/x.mnw"
expect_fail 2 "--bits must be an integer in [1, 8]" -- "$BIN" quantize "$T/m.mnw" --method kmeans --bits 9 --data "$T/d" -o "$T/x.mnw"

# ---- the pass registry: every pass a recipe may use is the CLI's -----------
expect_ok "$BIN" compress --passes && cp "$T/out" "$T/passes.txt"
[ "$(wc -l <"$T/passes.txt")" -ge 15 ] && ok || bad "compress --passes lists $(wc -l <"$T/passes.txt") passes"
expect_ok "$BIN" compress --passes --json && cp "$T/out" "$T/passes.json"
check "$T/passes.json" '{(p["pass"], p["method"]) for p in r["passes"]} >= {("prune", "neuron"), ("prune", "filter"), ("prune", "lottery"), ("quantize", "affine"), ("quantize", "kmeans"), ("quantize", "fixed"), ("quantize", "qat"), ("binarize", "xnor"), ("factorize", ""), ("encode", "")}'
# each option of each pass is a long option its verb documents, each method one it takes
while IFS= read -r line; do
  head=${line%%:*} opts=${line#*:} verb=${head%% *} method=
  [ "$verb" != "$head" ] && method=${head#* }
  "$BIN" "$verb" --help >"$T/vhelp" 2>&1 || bad "$verb --help"
  [ -z "$method" ] || grep -q -- "$method" "$T/vhelp" && ok || bad "$verb --help does not name method '$method'"
  for o in $opts; do
    grep -q -- "--$o\b" "$T/vhelp" && ok || bad "$verb $method: option '$o' is not a --$o of minnow $verb"
  done
done <"$T/passes.txt"
expect_fail 2 "unknown option" -- "$BIN" compress --passes --frobnicate
# structured pruning, factorisation and affine int8 from a recipe
cat >"$T/st.yaml" <<'EOF'
name: structured
passes:
  - prune: {method: neuron, sparsity: {fc1: 0.5, fc2: 0.25}, criterion: l2, finetune: 1, batch: 20, lr: 0.003}
  - factorize: {layers: fc1=8}
  - quantize: {method: affine, bits: 8, act_bits: 8, calib-batches: 2}
EOF
expect_ok "$BIN" compress "$T/m.mnw" --recipe "$T/st.yaml" --data "$T/d" -o "$T/st.mnw" --json && cp "$T/out" "$T/st.json"
check "$T/st.json" 'len(r["passes"]) == 3 and {l["name"] for l in r["layers"]} == {"fc1_a", "fc1_b", "fc2", "fc3"}'
check "$T/st.json" 'all(l["storage"] == "affine" for l in r["layers"]) and r["val_error"] < r["val_error_before"] + 0.15'
grep -q "pass 2/3: factorize (line 4)" "$T/err" && ok || bad "progress line of the factorize pass: $(head -c 300 "$T/err")"
# the recipe's pass is the verb's: the same neuron pruning either way
printf 'passes:\n  - prune: {method: neuron, sparsity: {fc1: 0.5}, criterion: l2}\n' >"$T/n.yaml"
expect_ok "$BIN" compress "$T/m.mnw" --recipe "$T/n.yaml" --data "$T/d" -o "$T/n1.mnw"
expect_ok "$BIN" prune "$T/m.mnw" --method neuron --sparsity fc1=0.5 --criterion l2 --data "$T/d" -o "$T/n2.mnw"
for f in n1 n2; do "$BIN" eval "$T/$f.mnw" --data "$T/d" --json >"$T/$f.eval" 2>/dev/null || bad "eval $f"; done
cmp -s "$T/n1.eval" "$T/n2.eval" && ok || bad "recipe and minnow prune disagree: $(cat "$T/n1.eval" "$T/n2.eval")"
# lottery tickets from a recipe: the model's weights are the rewind point
printf 'passes:\n  - prune: {method: lottery, sparsity: 0.5, rounds: 1, epochs: 1, batch: 20}\n' >"$T/lt.yaml"
expect_ok "$BIN" compress "$T/m.mnw" --recipe "$T/lt.yaml" --data "$T/d" -o "$T/lt.mnw" --json && cp "$T/out" "$T/lt.json"
check "$T/lt.json" 'abs(r["layers"][0]["kept"] - 0.5) < 0.01 and r["val_error"] < 0.5' 
printf 'passes:\n  - quantize: {method: affine, bits: 4, act-bits: 1}\n' >"$T/ab.yaml"
expect_fail 1 "ab.yaml:2: 'act-bits' must be 0 (float) or 2..8" -- "$BIN" compress "$T/m.mnw" --recipe "$T/ab.yaml" --data "$T/d" -o "$T/x.mnw"

# ---- errors -----------------------------------------------------------------
printf 'passes:\n  - prune: {sparsity: 0.5\n  - encode\n' >"$T/bad1.yaml"
printf 'passes:\n  - prune: {sparsity: 0.5}\n  - squash: {x: 1}\n' >"$T/bad2.yaml"
printf 'passes:\n  - quantize:\n      bits: 12\n' >"$T/bad3.yaml"
printf 'passes:\n  - prune: {sparsity: {fc7: 0.5}}\n' >"$T/bad4.yaml"
printf 'passes:\n  - encode\n' >"$T/bad5.yaml"
expect_fail 1 "malformed YAML" -- "$BIN" compress "$T/m.mnw" --recipe "$T/bad1.yaml" --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "bad2.yaml:3: unknown pass 'squash'" -- "$BIN" compress "$T/m.mnw" --recipe "$T/bad2.yaml" --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "bad3.yaml:3: 'bits' must be an integer in [1, 8], got '12'" -- "$BIN" compress "$T/m.mnw" --recipe "$T/bad3.yaml" --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "line 2: prune:" -- "$BIN" compress "$T/m.mnw" --recipe "$T/bad4.yaml" --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "no codebook layers" -- "$BIN" compress "$T/m.mnw" --recipe "$T/bad5.yaml" --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "nope.yaml" -- "$BIN" compress "$T/m.mnw" --recipe "$T/nope.yaml" --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "--recipe FILE is required" -- "$BIN" compress "$T/m.mnw" -o "$T/x.mnw"
expect_fail 1 "-o OUT.mnw is required" -- "$BIN" compress "$T/m.mnw" --recipe "$T/dc.yaml"
expect_fail 1 "" -- "$BIN" compress "$T/m.mnw" --recipe "$T/dc.yaml" --data "$T/nodata" -o "$T/x.mnw"
expect_fail 2 "unknown option" -- "$BIN" compress "$T/m.mnw" --recipe "$T/dc.yaml" --frobnicate -o "$T/x.mnw"
expect_fail 1 "has no codebook layers" -- "$BIN" encode "$T/m.mnw" --huffman -o "$T/x.mnw"
expect_fail 1 "exactly one of --huffman or --plain" -- "$BIN" encode "$T/c.mnw" -o "$T/x.mnw"
expect_fail 1 "exactly one of --huffman or --plain" -- "$BIN" encode "$T/c.mnw" --huffman --plain -o "$T/x.mnw"
expect_fail 1 "-o OUT.mnw is required" -- "$BIN" encode "$T/c.mnw" --huffman
head -c 300 "$T/c.mnw" >"$T/trunc.mnw"
expect_fail 1 "trunc.mnw" -- "$BIN" encode "$T/trunc.mnw" --huffman -o "$T/x.mnw"
absent "$T/x.mnw"

finish cli_compress
