#!/bin/sh
# Runs a model on a microcontroller's instruction set: exports it for TARGET
# (minnow export-c --target), builds it with arm-none-eabi-gcc, runs it in
# qemu-system-arm on the first N images of the split, compares every output
# with minnow's own (the host runtime), and prints one JSON line:
#   {"target":..., "n":..., "agree":..., "max_abs_diff":..., "flash_bytes":...,
#    "ram_bytes":..., "insns_per_inference":..., ...}
# An image agrees when its argmax is minnow's and no output differs by more
# than TOL (default 1e-3).  Exit 1 when any image disagrees or a step fails.
#
#   scripts/mcu.sh MODEL.mnw TARGET DATA_DIR SPLIT N [TOL]
#   TARGET: cortex-m4 | cortex-m7 | cortex-m33 | host
# minnow is $MINNOW, else build/minnow.  MCU_EXPORT_OPTS: more export-c
# options (e.g. "--decode startup"); MCU_MAKE_OPTS: make's (e.g.
# "EXTRA=-DMDL_PORTABLE": the portable C instead of the DSP instructions).
# MCU_KEEP=DIR keeps the build there;
# MCU_TIMEOUT (seconds, default 600) bounds the emulator run.
# Needs gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm, make and
# python3 (Debian packages).  docs/MCU.md.
set -u
die() { echo "mcu.sh: $*" >&2; exit 1; }
[ $# -ge 5 ] && [ $# -le 6 ] || die "usage: scripts/mcu.sh MODEL.mnw TARGET DATA_DIR SPLIT N [TOL]"
MODEL=$1 TARGET=$2 DATA=$3 SPLIT=$4 N=$5 TOL=${6:-1e-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MINNOW=${MINNOW:-$ROOT/build/minnow}
[ -x "$MINNOW" ] || die "no minnow at $MINNOW (build it, or set MINNOW)"
[ -f "$MODEL" ] || die "$MODEL: no such model"
case $N in ''|*[!0-9]*) die "N must be a positive integer, not '$N'";; esac
[ "$N" -ge 1 ] || die "N must be at least 1"
python3 -c 'import math,sys; t=float(sys.argv[1]); sys.exit(0 if math.isfinite(t) and t >= 0 else 1)' "$TOL" 2>/dev/null ||
  die "TOL must be a number >= 0, not '$TOL'"
case $TARGET in
  cortex-m4|cortex-m7|cortex-m33)
    for t in arm-none-eabi-gcc arm-none-eabi-size qemu-system-arm make python3; do
      command -v $t >/dev/null || die "$t not found (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm make python3)"
    done;;
  host)
    for t in cc size make python3; do command -v $t >/dev/null || die "$t not found"; done;;
  *) die "unknown target '$TARGET' (cortex-m4, cortex-m7, cortex-m33, host)";;
esac

if [ -n "${MCU_KEEP:-}" ]; then
  D=$MCU_KEEP
  mkdir -p "$D" || die "cannot create $D"
else
  D=$(mktemp -d) || die "mktemp failed"
  trap 'rm -rf "$D"' EXIT
  trap 'exit 130' INT TERM
fi

# shellcheck disable=SC2086 # MCU_EXPORT_OPTS is a list of options
"$MINNOW" export-c "$MODEL" --target "$TARGET" -o "$D" --check "$N" --data "$DATA" --split "$SPLIT" --json ${MCU_EXPORT_OPTS:-} \
  >"$D/export.json" 2>"$D/export.log" || die "export-c failed: $(tail -1 "$D/export.log")"
# shellcheck disable=SC2086
make -C "$D" ${MCU_MAKE_OPTS:-} >"$D/build.log" 2>&1 || die "build failed: $(tail -3 "$D/build.log")"
(cd "$D" && timeout "${MCU_TIMEOUT:-600}" make -s run >run.txt 2>run.log)
rc=$?
[ $rc = 124 ] && die "the run took more than ${MCU_TIMEOUT:-600} s"
[ $rc = 0 ] || die "the run failed (exit $rc): $(tail -2 "$D/run.txt" "$D/run.log" | tr '\n' ' ')"

python3 - "$D" "$TARGET" "$TOL" <<'EOF'
import json, os, struct, subprocess, sys
d, target, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
ex = json.load(open(os.path.join(d, "export.json")))
no, n = ex["out"], ex["check"]
raw = open(os.path.join(d, "expected.bin"), "rb").read()
ref = struct.unpack("<%df" % (len(raw) // 4), raw)
rows, work, painted = [], None, None
for line in open(os.path.join(d, "run.txt")):
    f = line.split()
    if f and f[0] == "y":
        rows.append([struct.unpack("<f", struct.pack("<I", int(h, 16)))[0] for h in f[1:]])
    elif len(f) == 2 and f[0] in ("insns_per_inference", "ns_per_inference"):
        work = (f[0], int(f[1]))
    elif len(f) == 2 and f[0] == "stack_bytes":
        painted = int(f[1])
if len(rows) != n or any(len(r) != no for r in rows) or work is None or (target != "host" and painted is None):
    sys.exit("mcu.sh: the device printed %d outputs for %d inputs; see %s/run.txt" % (len(rows), n, d))
import math
agree, worst = 0, 0.0
for i, r in enumerate(rows):
    e = ref[i * no:(i + 1) * no]
    # A NaN anywhere disagrees (and max() would pass over it).
    diff = max(abs(a - b) if math.isfinite(a) and math.isfinite(b) else math.inf for a, b in zip(r, e))
    worst = max(worst, diff)
    agree += diff <= tol and r.index(max(r)) == e.index(max(e))
def sections(path):
    """name -> size from `size -A`."""
    tool = "size" if target == "host" else "arm-none-eabi-size"
    out = subprocess.run([tool, "-A", path], capture_output=True, text=True, check=True).stdout
    s = {}
    for line in out.splitlines()[2:]:
        f = line.split()
        if len(f) >= 2 and f[1].isdigit():
            s[f[0]] = int(f[1])
    return s
res = {"target": target, "n": n, "agree": agree, "max_abs_diff": worst if math.isfinite(worst) else None,
       "decode": ex["decode"]}
m = sections(os.path.join(d, "model.o"))
def total(secs, *prefixes):
    return sum(v for k, v in secs.items() if k.startswith(prefixes))
# The model's own flash: model.o's code, constants and initialised data.
model_flash = total(m, ".text", ".rodata", ".data")
if target == "host":
    res["flash_bytes"] = model_flash
    res["ram_bytes"] = ex["plan"]["ram_bytes"]
else:
    e = sections(os.path.join(d, "model.elf"))
    # The whole program (harness, newlib's stdio and semihosting included).
    res["flash_bytes"] = e.get(".text", 0) + e.get(".ARM.exidx", 0) + e.get(".data", 0)
    res["ram_bytes"] = e.get(".data", 0) + e.get(".bss", 0) + (painted or 0)
    # The model's own RAM: main.c's scratch, input and output arrays, model.c's
    # data, and the stack model_run used (painted in QEMU).
    res["model_ram_bytes"] = total(sections(os.path.join(d, "main.o")), ".bss", ".data") + total(m, ".data", ".bss") + painted
    res["stack_bytes"] = painted
res[work[0]] = work[1]
res["model_flash_bytes"] = model_flash
res["weight_bytes"] = ex["weight_bytes"]
res["plan_stack_bytes"] = ex["plan"]["stack_bytes_est"]
res["plan_flash_bytes"] = ex["plan"]["flash_bytes"]
res["plan_ram_bytes"] = ex["plan"]["ram_bytes"]
res["scratch_bytes"] = ex["plan"]["scratch_bytes"]
print(json.dumps(res))
sys.exit(0 if agree == n else 1)
EOF
