#!/usr/bin/env bash
# The second hardening pass (issue 16, docs/HARDENING.md "Hostile and
# careless use"): no hangs, no clobbered files, no silently wrong results,
# clear messages, bounded memory.  Each example of the issue and at least one
# variant per class; a small CSV problem and generated IDX files, no MNIST.
set -u
BIN=${1:?usage: cli_hardening.sh path/to/minnow}
. "$(dirname "$0")/clilib.sh"
# timeout: a hang is a failure (exit 124), not a stuck CI job.
TO=(timeout 20)

mkdir -p "$T/d"
mkcsv_signs "$T/d/train.csv" 300 3
mkcsv_signs "$T/d/val.csv" 100 4
SPEC="input x; dense fc1 units=24; relu r1; dense fc2 units=classes"
D=(--data "$T/d" --batch 20 --lr 0.01)
expect_ok "$BIN" train --arch "$SPEC" "${D[@]}" --epochs 10 -o "$T/m.mnw" || { echo "cannot train"; exit 1; }

# ---- hangs: non-regular inputs ----------------------------------------------
mkfifo "$T/f"
expect_fail 1 "FIFO" -- "${TO[@]}" "$BIN" info "$T/f"
expect_fail 1 "FIFO" -- "${TO[@]}" "$BIN" train --arch "$T/f" "${D[@]}" -o "$T/x.mnw"
expect_fail 1 "FIFO" -- "${TO[@]}" "$BIN" compress "$T/m.mnw" --recipe "$T/f" --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "FIFO" -- "${TO[@]}" "$BIN" import "$T/f" -o "$T/x.mnw"
expect_fail 1 "FIFO" -- "${TO[@]}" "$BIN" eval "$T/f" --data "$T/d"
expect_fail 1 "directory" -- "${TO[@]}" "$BIN" info "$T/d"                     # variant: a directory
expect_fail 1 "FIFO" -- "${TO[@]}" "$BIN" distill --teacher "$T/f" --arch "$SPEC" "${D[@]}" -o "$T/x.mnw"
absent "$T/x.mnw"
# recipes: size and nesting capped before libyaml, one document only
"$PY" -c "print('passes: '+'['*200000+']'*200000)" >"$T/deep.yaml"
expect_fail 1 "65536-byte limit" -- "${TO[@]}" "$BIN" compress "$T/m.mnw" --recipe "$T/deep.yaml" --data "$T/d" -o "$T/x.mnw"
"$PY" -c "print('passes: '+'['*30000+']'*30000)" >"$T/deep2.yaml"   # variant: under the size cap
expect_fail 1 "nested more than 32 levels" -- "${TO[@]}" "$BIN" compress "$T/m.mnw" --recipe "$T/deep2.yaml" --data "$T/d" -o "$T/x.mnw"
"$PY" -c "print('passes: '+'{a: '*5000+'}'*5000)" >"$T/deep3.yaml"
expect_fail 1 "nested more than 32 levels" -- "${TO[@]}" "$BIN" compress "$T/m.mnw" --recipe "$T/deep3.yaml" --data "$T/d" -o "$T/x.mnw"
"$PY" -c "print('passes:\n'+'- '*300+'x')" >"$T/deep4.yaml"            # block nesting
expect_fail 1 "indent at most 128" -- "${TO[@]}" "$BIN" compress "$T/m.mnw" --recipe "$T/deep4.yaml" --data "$T/d" -o "$T/x.mnw"
# a quote inside a plain word (or after a space in a flow list) opens no
# quoted scalar in YAML, so it must not hide the nesting after it
"$PY" -c "print('name: it\'s\npasses: '+'['*20000+']'*20000)" >"$T/deep5.yaml"
expect_fail 1 "nested more than 32 levels" -- "${TO[@]}" "$BIN" compress "$T/m.mnw" --recipe "$T/deep5.yaml" --data "$T/d" -o "$T/x.mnw"
"$PY" -c "print('name: x\npasses: [a \'b, '+'['*20000+']'*20000+']')" >"$T/deep6.yaml"
expect_fail 1 "nested more than 32 levels" -- "${TO[@]}" "$BIN" compress "$T/m.mnw" --recipe "$T/deep6.yaml" --data "$T/d" -o "$T/x.mnw"
# an option given twice, under two of its names, or two methods: refused
printf 'passes:\n  - quantize: {bits: 4, epochs: 0, finetune: 1}\n' >"$T/dup.yaml"
expect_fail 1 "given twice (under another name)" -- "$BIN" compress "$T/m.mnw" --recipe "$T/dup.yaml" --data "$T/d" -o "$T/x.mnw"
printf 'passes:\n  - prune: {method: magnitude, method: snip, sparsity: 0.5}\n' >"$T/dup2.yaml"
expect_fail 1 "'method' given twice" -- "$BIN" compress "$T/m.mnw" --recipe "$T/dup2.yaml" --data "$T/d" -o "$T/x.mnw"
printf 'passes:\n  - prune: {sparsity: 0.5}\n---\npasses:\n  - encode: {huffman: true}\n' >"$T/two.yaml"
expect_fail 1 "second YAML document" -- "$BIN" compress "$T/m.mnw" --recipe "$T/two.yaml" --data "$T/d" -o "$T/x.mnw"
absent "$T/x.mnw"

# ---- outputs: never replace what is not a regular file ----------------------
if mknod "$T/n" c 1 3 2>/dev/null; then
  expect_fail 1 "character device" -- "$BIN" export-onnx "$T/m.mnw" -o "$T/n"
  [ -c "$T/n" ] && ok || bad "the device node was replaced"
else
  echo "mknod not permitted: device-node case skipped"
fi
mkfifo "$T/fo"
expect_fail 1 "FIFO" -- "${TO[@]}" "$BIN" train --arch "$SPEC" "${D[@]}" --epochs 50 -o "$T/fo"
[ -p "$T/fo" ] && ok || bad "the FIFO output was replaced"
expect_fail 1 "directory" -- "$BIN" export-onnx "$T/m.mnw" -o "$T/d"
expect_fail 1 "names a directory" -- "$BIN" export-onnx "$T/m.mnw" -o "$T/d/"
# symlinks are followed: the target is replaced, the link stays
cp "$T/m.mnw" "$T/target.mnw"
ln -s target.mnw "$T/link.mnw"
expect_ok "$BIN" prune "$T/m.mnw" --method magnitude --sparsity 0.5 "${D[@]}" -o "$T/link.mnw"
[ -L "$T/link.mnw" ] && ok || bad "the symlink was replaced by a file"
cmp -s "$T/target.mnw" "$T/m.mnw" && bad "the symlink's target was not written" || ok
ln -s nowhere.mnw "$T/dangling.mnw"
expect_fail 1 "symlink to a missing file" -- "$BIN" export-onnx "$T/m.mnw" -o "$T/dangling.mnw"
# a read-only file is refused, an existing file keeps its mode
cp "$T/m.mnw" "$T/ro.mnw"; chmod 444 "$T/ro.mnw"
expect_fail 1 "read-only" -- "$BIN" prune "$T/m.mnw" --method magnitude --sparsity 0.5 "${D[@]}" -o "$T/ro.mnw"
cmp -s "$T/ro.mnw" "$T/m.mnw" && ok || bad "the read-only file changed"
[ "$(stat -c %a "$T/ro.mnw")" = 444 ] && ok || bad "read-only mode changed"
cp "$T/m.mnw" "$T/m600.mnw"; chmod 600 "$T/m600.mnw"
expect_ok "$BIN" prune "$T/m.mnw" --method magnitude --sparsity 0.5 "${D[@]}" -o "$T/m600.mnw"
[ "$(stat -c %a "$T/m600.mnw")" = 600 ] && ok || bad "mode 600 became $(stat -c %a "$T/m600.mnw")"
cp "$T/m.mnw" "$T/m640.onnx"; chmod 640 "$T/m640.onnx"
expect_ok "$BIN" export-onnx "$T/m.mnw" -o "$T/m640.onnx"
[ "$(stat -c %a "$T/m640.onnx")" = 640 ] && ok || bad "mode 640 became $(stat -c %a "$T/m640.onnx")"
# a bad -o is found before any work (one stderr line: no epoch was run)
expect_fail 1 "No such file or directory" -- "$BIN" train --arch "$SPEC" "${D[@]}" --epochs 100 -o "$T/nodir/x.mnw"
expect_fail 1 "empty output path" -- "$BIN" train --arch "$SPEC" "${D[@]}" --epochs 100 -o ""
expect_fail 1 "No such file or directory" -- "$BIN" eval "$T/m.mnw" --data "$T/d" --sweep --svg "$T/nodir/c.svg"
expect_fail 1 "too long" -- "$BIN" export-onnx "$T/m.mnw" -o "$T/$(head -c 5000 /dev/zero | tr '\0' a)"
# paths up to PATH_MAX: a 1,500-byte output path works
long="$T"; for i in 1 2 3 4 5 6 7; do long="$long/$(head -c 200 /dev/zero | tr '\0' b)"; done
mkdir -p "$long"
expect_ok "$BIN" train --arch "$SPEC" "${D[@]}" --epochs 1 -o "$long/long.mnw"
[ -f "$long/long.mnw" ] && ok || bad "no model at a ${#long}-byte path"
expect_ok "$BIN" train --arch "$SPEC" "${D[@]}" --epochs 2 --checkpoint-every 1 -o "$long/ck.mnw"
mkdir -p "$T/ckdir"; mkfifo "$T/ckdir/k.mnw.ckpt"                            # variant: the checkpoint path
expect_fail 1 "FIFO" -- "${TO[@]}" "$BIN" train --arch "$SPEC" "${D[@]}" --epochs 50 --checkpoint-every 1 -o "$T/ckdir/k.mnw"
# SIGTERM / SIGINT remove the temporary files.  A big model on a few samples
# spends most of its time writing checkpoints, so the signal usually lands
# while a temporary file exists; none may be left either way.
BIG="input x; dense h1 units=2048; relu r; dense h2 units=256; relu r2; dense o units=classes"
head -41 "$T/d/train.csv" >"$T/d/few.csv"
nohup_run() { # signal: start train under python (SIGINT not ignored), signal it mid-run
  local sig=$1 dir=$2
  mkdir -p "$dir"
  "$PY" -c 'import os,signal,sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
    "$BIN" train --arch "$BIG" --data "$T/d" --split few --val none --epochs 1000 --checkpoint-every 1 \
    -o "$dir/m.mnw" 2>"$dir/err" &
  local pid=$! k=0
  while ! grep -q "epoch 2:" "$dir/err" 2>/dev/null && [ $k -lt 400 ]; do sleep 0.05; k=$((k + 1)); done
  sleep "0.0$((RANDOM % 10))"
  kill -s "$sig" $pid
  wait $pid 2>/dev/null
}
# Under a wrapper (scripts/valgrind.sh) the signal would reach valgrind, which
# reports the fatal signal itself: only the real binary is signalled.
if head -c 4 "$BIN" | grep -q ELF; then
  for i in 1 2 3; do nohup_run TERM "$T/sig$i"; done
  for i in 4 5 6; do nohup_run INT "$T/sig$i"; done
  left=$(ls "$T"/sig*/ | grep -c "\.tmp\." || true)
  [ "$left" = 0 ] && ok || bad "$left temporary files left after SIGTERM/SIGINT: $(ls "$T"/sig*/)"
  ls "$T"/sig*/m.mnw.ckpt >/dev/null 2>&1 && ok || bad "no checkpoint written before the signals"
else
  echo "$BIN is a wrapper: signal cases skipped"
fi
# --json output is all or nothing
expect_fail 1 "unknown architecture" -- "$BIN" arch nosucharch --json
[ -s "$T/out" ] && bad "arch --json wrote '$(head -c 100 "$T/out")' before failing" || ok
expect_fail 1 "unknown architecture" -- "$BIN" arch lenet5 nosucharch --json   # variant: after a good entry
[ -s "$T/out" ] && bad "arch --json wrote '$(head -c 100 "$T/out")' before failing" || ok
expect_ok "$BIN" arch lenet5 lenet300 --json
check "$T/out" 'len(r["archs"]) == 2'

# ---- silently wrong results ----------------------------------------------------
# extra positional arguments
expect_fail 2 "unexpected argument" -- "$BIN" info "$T/m.mnw" "$T/m.mnw"
expect_fail 2 "unexpected argument 'junk'" -- "$BIN" train junk --arch "$SPEC" "${D[@]}" -o "$T/x.mnw"
expect_fail 2 "unexpected argument" -- "$BIN" export-onnx "$T/m.mnw" extra -o "$T/x.onnx"
expect_fail 2 "unexpected argument" -- "$BIN" quantize "$T/m.mnw" "$T/m.mnw" --method affine -o "$T/x.mnw"
# IDX images must match the model's H and W, not just their count
"$PY" - "$T" <<'EOF'
import struct, sys, os
t = sys.argv[1]
def idx(d, split, n, h, w):
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/{split}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, h, w)); f.write(bytes((i * 7 + j) % 256 for i in range(n) for j in range(h * w)))
    with open(f"{d}/{split}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, n)); f.write(bytes(i % 3 for i in range(n)))
for s in ("train", "val"):
    idx(f"{t}/i28", s, 30, 28, 28)
    idx(f"{t}/i56", s, 30, 56, 14)
    idx(f"{t}/i14", s, 30, 14, 56)
EOF
expect_ok "$BIN" train --arch "input x c=1 h=28 w=28; conv c1 filters=2 k=3; relu r; flatten f; dense o units=classes" \
  --data "$T/i28" --epochs 1 -o "$T/img.mnw"
expect_fail 1 "1x56x14 but the model takes 1x28x28" -- "$BIN" eval "$T/img.mnw" --data "$T/i56"
expect_fail 1 "1x14x56 but the model takes 1x28x28" -- "$BIN" eval "$T/img.mnw" --data "$T/i14"
# stray labels, architectures without parameters, --epochs 0, --lr 0
mkdir -p "$T/s1" "$T/s2"
cp "$T/d/val.csv" "$T/s1/val.csv"; cp "$T/d/val.csv" "$T/s2/val.csv"
{ cat "$T/d/train.csv"; echo "0.1,0.2,0.3,0.4,0.5,0.6,65535"; } >"$T/s1/train.csv"
{ cat "$T/d/train.csv"; echo "0.1,0.2,0.3,0.4,0.5,0.6,40"; } >"$T/s2/train.csv"
expect_fail 1 "stray label" -- "$BIN" train --arch "$SPEC" --data "$T/s1" --epochs 1 -o "$T/x.mnw"
expect_fail 1 "stray label" -- "$BIN" train --arch "$SPEC" --data "$T/s2" --epochs 1 -o "$T/x.mnw"
expect_fail 1 "no trainable parameters" -- "$BIN" train --arch "input x; relu r" "${D[@]}" -o "$T/x.mnw"
expect_fail 1 "no trainable parameters" -- "$BIN" train --arch "input x; tanh t; softmax s" "${D[@]}" -o "$T/x.mnw"
expect_fail 1 "--epochs 0 trains nothing" -- "$BIN" train --arch "$SPEC" "${D[@]}" --epochs 0 -o "$T/x.mnw"
expect_fail 1 "--lr 0" -- "$BIN" train --arch "$SPEC" --data "$T/d" --lr 0 -o "$T/x.mnw"
expect_fail 1 "--epochs 0 trains nothing" -- "$BIN" distill --teacher "$T/m.mnw" --arch "$SPEC" "${D[@]}" --epochs 0 -o "$T/x.mnw"
absent "$T/x.mnw"
# ONNX initializers holding NaN / Inf are refused at import, naming the tensor
expect_ok "$BIN" export-onnx "$T/m.mnw" -o "$T/m.onnx"
if "$PY" -c "import onnx" 2>/dev/null; then
  "$PY" - "$T" <<'EOF'
import onnx, struct, sys
t = sys.argv[1]
for name, val in (("nan", float("nan")), ("inf", float("inf"))):
    m = onnx.load(f"{t}/m.onnx")
    init = m.graph.initializer[0]
    if init.raw_data:
        init.raw_data = struct.pack("<f", val) + init.raw_data[4:]
    else:
        init.float_data[0] = val
    open(f"{t}/tensor_name_{name}", "w").write(init.name)
    onnx.save(m, f"{t}/{name}.onnx")
EOF
  expect_fail 1 "'$(cat "$T/tensor_name_nan")' holds a non-finite value (NaN" -- "$BIN" import "$T/nan.onnx" -o "$T/x.mnw"
  expect_fail 1 "non-finite value (Inf" -- "$BIN" import "$T/inf.onnx" -o "$T/x.mnw"
  absent "$T/x.mnw"
else
  echo "python3-onnx missing: NaN initializer cases skipped"
fi
# verbs with nothing to do exit non-zero
expect_ok "$BIN" binarize "$T/m.mnw" --method bc "${D[@]}" --epochs 1 -o "$T/bin.mnw"
expect_fail 1 "nothing to do" -- "$BIN" quantize "$T/bin.mnw" --method affine --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "nothing to do" -- "$BIN" quantize "$T/m.mnw" --method kmeans --layer-bits fc1=0,fc2=0 --data "$T/d" -o "$T/x.mnw"
expect_fail 1 "nothing to analyse" -- "$BIN" sensitivity "$T/bin.mnw" --data "$T/d"
expect_fail 1 "nothing to do" -- "$BIN" quantize "$T/bin.mnw" --method kmeans --data "$T/d" -o "$T/x.mnw"  # variant
expect_ok "$BIN" quantize "$T/m.mnw" --method affine --data "$T/d" -o "$T/q8.mnw"
# compression never silently undone, a model never silently grown
expect_ok "$BIN" quantize "$T/m.mnw" --method kmeans --bits 4 --data "$T/d" -o "$T/km.mnw"
expect_fail 1 "drop the affine storage" -- "$BIN" prune "$T/q8.mnw" --method magnitude --sparsity 0.5 "${D[@]}" -o "$T/x.mnw"
expect_fail 1 "drop the codebook storage" -- "$BIN" prune "$T/km.mnw" --method magnitude --sparsity 0.5 "${D[@]}" -o "$T/x.mnw"
expect_fail 1 "drop the affine storage" -- "$BIN" factorize "$T/q8.mnw" --rank 2 --data "$T/d" -o "$T/x.mnw"
printf 'passes:\n  - prune: {sparsity: 0.5}\n' >"$T/p.yaml"
expect_fail 1 "would drop the affine storage of fc1.weight" -- "$BIN" compress "$T/q8.mnw" --recipe "$T/p.yaml" --data "$T/d" -o "$T/x.mnw"
expect_ok "$BIN" prune "$T/m.mnw" --method magnitude --sparsity 0.8 "${D[@]}" -o "$T/sp.mnw"
expect_fail 1 "growing it" -- "$BIN" quantize "$T/sp.mnw" --method affine --data "$T/d" -o "$T/x.mnw"
absent "$T/x.mnw"
# prune never cuts every weight of a unit off by its sparsity
expect_fail 1 "output units" -- "$BIN" prune "$T/m.mnw" --method magnitude --sparsity 0.99999 "${D[@]}" -o "$T/x.mnw"
expect_fail 1 "output units" -- "$BIN" prune "$T/m.mnw" --method magnitude --scope global --sparsity 0.999 "${D[@]}" -o "$T/x.mnw"
absent "$T/x.mnw"

# ---- messages ------------------------------------------------------------------
expect_fail 1 "spec statement 3: duplicate node name 'fc'" -- "$BIN" arch "input x; dense fc units=4; dense fc units=classes"
grep -q "statement 3: spec statement" "$T/err" && bad "message formatted into itself: $(cat "$T/err")" || ok
expect_fail 1 "takes 2..4 inputs, got 1" -- "$BIN" arch "input x; concat c in=x"
grep -q "statement 2: spec statement" "$T/err" && bad "message formatted into itself: $(cat "$T/err")" || ok
expect_fail 1 "1..4096" -- "$BIN" arch lenet5 --shape 3,30000,30000
expect_fail 1 "1..4096" -- "$BIN" arch lenet5 --shape 0,28,28
expect_fail 1 "expected C,H,W" -- "$BIN" arch lenet5 --shape 3,28

# ---- memory: headers and declared sizes before the bulk ------------------------
# a gzip IDX declaring 268M pixels in a few hundred bytes: refused before inflating
"$PY" - "$T" <<'EOF'
import gzip, struct, sys, os
t = sys.argv[1]
os.makedirs(f"{t}/bomb", exist_ok=True)
with gzip.open(f"{t}/bomb/train-images-idx3-ubyte.gz", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, 16, 4096, 4096) + bytes(65536))
with gzip.open(f"{t}/bomb/train-labels-idx1-ubyte.gz", "wb") as f:
    f.write(struct.pack(">II", 0x801, 16) + bytes(16))
EOF
expect_fail 1 "decompression bomb" -- "${TO[@]}" "$BIN" eval "$T/img.mnw" --data "$T/bomb" --split train
# a 2 GB file starting with MNW1: its header is checked first (sparse file, no disk used)
{ printf 'MNW1\001\000\000\000\004\000\000\000'; head -c 200 /dev/zero; } >"$T/big.mnw"
truncate -s 2000000000 "$T/big.mnw"
expect_fail 1 "header CRC mismatch" -- timeout 5 "$BIN" info "$T/big.mnw"
cp "$T/m.mnw" "$T/padded.mnw"; truncate -s 100000000 "$T/padded.mnw"     # variant: a valid header, 100 MB after it
expect_fail 1 "sections end at" -- timeout 5 "$BIN" info "$T/padded.mnw"
{ printf 'MNCK\001\000\000\000\040\000\000\000\000\000\000\000'; head -c 100 /dev/zero; } >"$T/r.mnw.ckpt"   # variant: a checkpoint
truncate -s 2000000000 "$T/r.mnw.ckpt"
expect_fail 1 "it says 32 bytes, the file has 2000000000" -- timeout 5 "$BIN" train --arch "$SPEC" "${D[@]}" --checkpoint-every 1 --resume -o "$T/r.mnw"
rm -f "$T/big.mnw" "$T/padded.mnw" "$T/r.mnw.ckpt"
# a CSV with a million columns: memory follows the rows read, no "out of memory"
mkdir -p "$T/wide"
"$PY" -c "
import sys
n = 1000000
with open(sys.argv[1] + '/train.csv', 'w') as f:
    f.write(','.join('c%d' % i for i in range(n)) + ',label\n')
    for r in range(2): f.write('0.5,' * n + '%d\n' % r)
" "$T/wide"
expect_fail 1 "data samples are 1000000x1x1 but the model takes 6 values" -- "${TO[@]}" "$BIN" eval "$T/m.mnw" --data "$T/wide" --split train

finish cli_hardening
