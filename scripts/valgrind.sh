#!/usr/bin/env bash
# The test suite under valgrind memcheck (issue 8): every test executable,
# and every CLI test with the `minnow` binary itself run under valgrind (a
# wrapper script passed as the binary; tests that spawn minnow get it as
# MINNOW_BIN too).  One log per process under $B/vg-logs; a process with any
# memcheck error or definite leak leaves a non-empty log, and the run fails.
#
#   scripts/valgrind.sh [TEST...]     (default: every test CTest knows)
#
# MNIST-dependent cases skip (MINNOW_DATA points nowhere unless
# MINNOW_VG_DATA=1): they run the same code on more data and would take
# hours under valgrind.  valgrind has no AVX-512, so the run-time dispatch
# picks the AVX2 paths here (the sanitizer build covers the AVX-512 ones).
set -uo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind not installed (apt-get install -y valgrind)" >&2; exit 1; }
B=${MINNOW_VG_BUILD:-build-vg}
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
cmake --build "$B" -j"$(nproc)" >/dev/null || { echo "valgrind.sh: build failed" >&2; exit 1; }
B=$(cd "$B" && pwd)
LOGS=$B/vg-logs
rm -rf "$LOGS" && mkdir -p "$LOGS" && touch "$LOGS/.stamp"
VG=(valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --track-origins=yes --num-callers=30
    --suppressions="$PWD/scripts/valgrind.supp")
cat >"$B/minnow-vg" <<EOF
#!/usr/bin/env bash
exec ${VG[*]} --log-file=$LOGS/minnow.%p.log $B/minnow "\$@"
EOF
chmod +x "$B/minnow-vg"
[ "${MINNOW_VG_DATA:-0}" = 1 ] || export MINNOW_DATA=/nonexistent-minnow-data
export MINNOW_BIN=$B/minnow-vg MINNOW_SRC=$PWD
export MINNOW_KILL_UNITS=64  # cli_kill: a small net is slow enough under valgrind

if [ $# -gt 0 ]; then tests=("$@")
else mapfile -t tests < <(ctest --test-dir "$B" -N | sed -n 's/^ *Test *#[0-9]*: //p'); fi

fail=0
for t in "${tests[@]}"; do
  t0=$(date +%s)
  if [ -x "$B/$t" ]; then
    if [ "$t" = test_sparse ]; then  # its re-exec cannot run under valgrind
      MINNOW_NO_SIMD=0 "${VG[@]}" --log-file="$LOGS/$t.%p.log" "$B/$t" >"$LOGS/$t.out" 2>&1 &&
      MINNOW_NO_SIMD=1 "${VG[@]}" --log-file="$LOGS/$t.nosimd.%p.log" "$B/$t" >>"$LOGS/$t.out" 2>&1
    else
      "${VG[@]}" --log-file="$LOGS/$t.%p.log" "$B/$t" >"$LOGS/$t.out" 2>&1
    fi
  else
    bash "tests/$t.sh" "$B/minnow-vg" >"$LOGS/$t.out" 2>&1
  fi
  rc=$?
  bad=$(find "$LOGS" -name '*.log' -size +0 -newer "$LOGS/.stamp" 2>/dev/null | wc -l)
  touch "$LOGS/.stamp"
  case $rc in 0) res=passed ;; 77) res=skipped ;; *) res="FAILED (exit $rc)"; fail=1 ;; esac
  [ "$bad" -gt 0 ] && { res="$res, $bad valgrind report(s)"; fail=1; }
  printf '%-16s %-40s %5ds\n' "$t" "$res" $(( $(date +%s) - t0 ))
done
procs=$(find "$LOGS" -name '*.log' | wc -l)
reports=$(find "$LOGS" -name '*.log' -size +0 | wc -l)
echo "valgrind.sh: $procs processes under valgrind, $reports with a report (logs: $LOGS)"
exit $fail
