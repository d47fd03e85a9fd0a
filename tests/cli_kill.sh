#!/usr/bin/env bash
# kill -9 in the middle of the verbs that write models: the output path
# holds either the complete old file or the complete new one, never a
# partial file; and `train --resume` after a kill finishes with the model
# the uninterrupted run makes, bit for bit (one thread).
set -u
BIN=${1:?usage: cli_kill.sh path/to/minnow}
T=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
fails=0; passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
has_verb() { "$BIN" --help 2>/dev/null | grep -q "^  $1 "; }

# 10000 samples of 16 features, 3 classes: ~0.2 s an epoch, so that a kill
# up to 0.09 s after an epoch line still lands inside the next epoch
# (scripts/valgrind.sh asks for 64 units: valgrind slows everything ~50x).
mkdir -p "$T/d"
awk -v n=10000 -v seed=5 'BEGIN{srand(seed); printf "f0"; for(j=1;j<16;j++) printf ",f%d", j; print ",label";
  for(i=0;i<n;i++){s=0; for(j=0;j<16;j++){v=rand()*2-1; x[j]=v; s+=v*(j%3-1)}; l=(s>0)+(x[0]>0.5);
    for(j=0;j<16;j++) printf "%.3f,", x[j]; print l}}' >"$T/d/train.csv"
head -1001 "$T/d/train.csv" >"$T/d/val.csv"
U=${MINNOW_KILL_UNITS:-384}
SPEC="input x; dense fc1 units=$U; relu r1; dropout d rate=0.2; dense fc2 units=$U; relu r2; dense fc3 units=classes"
TRAIN=(train --arch "$SPEC" --data "$T/d" --epochs 6 --batch 32 --threads 1)

# Runs "$@" in the background, waits until its stderr matches $WAIT_FOR
# (or it exits), sleeps $EXTRA seconds more, and kill -9s it.  Sets
# $killed to 1 if it was still running.
run_and_kill() {
  # Emptied first: the background job may open it after the first grep,
  # which would then read the previous run's epoch lines and kill at once.
  : >"$T/err"
  "$@" >"$T/out" 2>"$T/err" &
  local pid=$!
  pids+=("$pid")
  local i=0
  while kill -0 "$pid" 2>/dev/null && ! grep -q -- "$WAIT_FOR" "$T/err" 2>/dev/null; do
    sleep 0.01; i=$((i + 1)); [ $i -gt 6000 ] && break
  done
  sleep "$EXTRA"
  killed=0
  if kill -9 "$pid" 2>/dev/null; then killed=1; nkilled=$((nkilled + 1)); fi
  wait "$pid" 2>/dev/null
}
# Each verb must really have been killed mid-run at least once, or the
# checks above prove nothing.
nkilled=0
expect_kills() { [ "$nkilled" -gt 0 ] && ok || bad "$1: no run was still going when killed"; nkilled=0; }

# After a kill the output is the old file or the finished new one.
check_output() { # out old new what
  if cmp -s "$1" "$2"; then ok; return; fi
  if [ -n "$3" ] && cmp -s "$1" "$3"; then ok; return; fi
  if [ ! -e "$1" ] && [ "$2" = /dev/null ]; then ok; return; fi
  bad "$4: after kill -9 the output $(basename "$1") is neither the old nor the new complete file ($(stat -c %s "$1" 2>/dev/null || echo missing) bytes)"
}

# ---- train: reference, kills at several points, resume ----------------------
"$BIN" "${TRAIN[@]}" -o "$T/ref.mnw" 2>"$T/err" || { bad "reference train: $(tail -1 "$T/err")"; exit 1; }
cp "$T/ref.mnw" "$T/old.mnw"
# An older, different model stands where the output goes.
"$BIN" train --arch "$SPEC" --data "$T/d" --epochs 1 --batch 32 --seed 3 -o "$T/prev.mnw" 2>/dev/null || bad "train prev"

n=0
for point in "epoch 1:" "epoch 3:" "epoch 6:"; do
  n=$((n + 1))
  cp "$T/prev.mnw" "$T/k.mnw"
  rm -f "$T/k.mnw.ckpt"
  WAIT_FOR=$point EXTRA=0.0$((RANDOM % 10)) run_and_kill "$BIN" "${TRAIN[@]}" --checkpoint-every 1 -o "$T/k.mnw"
  check_output "$T/k.mnw" "$T/prev.mnw" "$T/ref.mnw" "train kill $n ($point)"
  if [ -e "$T/k.mnw.ckpt" ]; then
    "$BIN" info "$T/k.mnw.ckpt" >/dev/null 2>&1 && bad "a checkpoint passes for a model"
  fi
  # Once, kill the resumed run too before resuming to the end.
  if [ "$n" = 2 ]; then
    WAIT_FOR="epoch 5:" EXTRA=0.0$((RANDOM % 10)) run_and_kill "$BIN" "${TRAIN[@]}" --checkpoint-every 1 --resume -o "$T/k.mnw"
    grep -q "resuming from" "$T/err" && ok || bad "train kill $n: no checkpoint to resume from"
    check_output "$T/k.mnw" "$T/prev.mnw" "$T/ref.mnw" "train kill $n, resumed run"
  fi
  if "$BIN" "${TRAIN[@]}" --checkpoint-every 1 --resume -o "$T/k.mnw" 2>"$T/err"; then
    cmp -s "$T/k.mnw" "$T/ref.mnw" && ok || bad "train kill $n ($point): resumed model differs from the uninterrupted one"
    [ -e "$T/k.mnw.ckpt" ] && bad "checkpoint left behind after a finished run" || ok
  else
    bad "train kill $n ($point): resume failed: $(tail -1 "$T/err")"
  fi
done

expect_kills train

# A checkpoint is refused by a run with other settings.
cp "$T/prev.mnw" "$T/k.mnw"
WAIT_FOR="epoch 2:" EXTRA=0 run_and_kill "$BIN" "${TRAIN[@]}" --checkpoint-every 1 -o "$T/k.mnw"
if [ -e "$T/k.mnw.ckpt" ]; then
  "$BIN" "${TRAIN[@]}" --seed 5 --checkpoint-every 1 --resume -o "$T/k.mnw" >/dev/null 2>"$T/err"
  rc=$?
  [ $rc = 1 ] && grep -q -- "--seed" "$T/err" && [ "$(wc -l <"$T/err")" -ge 1 ] && ok ||
    bad "resume with another seed: exit $rc, $(tail -1 "$T/err")"
  # A truncated checkpoint: one clear error, nothing written.
  head -c 1000 "$T/k.mnw.ckpt" >"$T/cut" && mv "$T/cut" "$T/k.mnw.ckpt"
  "$BIN" "${TRAIN[@]}" --checkpoint-every 1 --resume -o "$T/k.mnw" >/dev/null 2>"$T/err"
  rc=$?
  [ $rc = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "checkpoint" "$T/err" && ok ||
    bad "truncated checkpoint: exit $rc, $(cat "$T/err")"
  cmp -s "$T/k.mnw" "$T/prev.mnw" && ok || bad "a refused resume touched the output"
else
  bad "no checkpoint after epoch 2"
fi

# ---- prune and compress: kill during fine-tuning ------------------------------
nkilled=0
if has_verb prune; then
  PRUNE=(prune "$T/ref.mnw" --method magnitude --sparsity 0.8 --steps 2 --finetune 3 --data "$T/d" --threads 1)
  if "$BIN" "${PRUNE[@]}" -o "$T/pref.mnw" >/dev/null 2>"$T/err"; then
    for point in "epoch 1" "epoch 4"; do
      cp "$T/prev.mnw" "$T/p.mnw"
      WAIT_FOR=$point EXTRA=0.0$((RANDOM % 10)) run_and_kill "$BIN" "${PRUNE[@]}" -o "$T/p.mnw"
      check_output "$T/p.mnw" "$T/prev.mnw" "$T/pref.mnw" "prune kill ($point)"
    done
    # No old file: nothing, or the complete new one.
    rm -f "$T/p.mnw"
    WAIT_FOR="epoch 2" EXTRA=0 run_and_kill "$BIN" "${PRUNE[@]}" -o "$T/p.mnw"
    check_output "$T/p.mnw" /dev/null "$T/pref.mnw" "prune kill, no old output"
    expect_kills prune
  else
    bad "prune: $(tail -1 "$T/err")"
  fi
fi
if has_verb compress; then
  cat >"$T/r.yaml" <<'EOF'
name: kill-test
seed: 1
passes:
  - prune:
      method: magnitude
      sparsity: 0.8
      steps: 2
      finetune: 2
  - quantize:
      method: kmeans
      bits: 4
      finetune: 2
  - encode:
      huffman: true
EOF
  COMP=(compress "$T/ref.mnw" --recipe "$T/r.yaml" --data "$T/d" --threads 1)
  if "$BIN" "${COMP[@]}" -o "$T/cref.mnw" >/dev/null 2>"$T/err"; then
    for point in "epoch 1" "epoch 4"; do
      cp "$T/prev.mnw" "$T/c.mnw"
      WAIT_FOR=$point EXTRA=0.0$((RANDOM % 10)) run_and_kill "$BIN" "${COMP[@]}" -o "$T/c.mnw"
      check_output "$T/c.mnw" "$T/prev.mnw" "$T/cref.mnw" "compress kill ($point)"
    done
    expect_kills compress
  else
    bad "compress: $(tail -1 "$T/err")"
  fi
fi

echo "cli_kill: $passes passed, $fails failed"
[ "$fails" = 0 ]
