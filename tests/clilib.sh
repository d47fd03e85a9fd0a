# Shared helpers of the CLI tests (tests/cli_*.sh source this file; its name
# does not match CTest's cli_*.sh glob).  Sets T (a temporary directory,
# removed at exit) and the pass/fail counters.
#   ok / bad MSG                 count a pass / report and count a failure
#   expect_fail CODE NEEDLE -- command...
#                                exit CODE and exactly one stderr line holding
#                                NEEDLE (a fixed string, any case)
#   expect_ok command...         exit 0 (returns 1 otherwise)
#   check FILE EXPR              the JSON in FILE, as r, satisfies the Python EXPR
#   absent FILE                  a failed command left no FILE behind
#   finish NAME                  prints the counts; exits non-zero on a failure
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0; passes=0
PY=${PY:-/usr/bin/python3}
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect_fail() {
  local code=$1 needle=$2; shift 3
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  local lines; lines=$(wc -l <"$T/err")
  if [ "$rc" != "$code" ]; then bad "$* -> exit $rc, want $code: $(head -c 300 "$T/err")"; return; fi
  if [ "$lines" != 1 ]; then bad "$* -> $lines stderr lines: $(head -c 300 "$T/err")"; return; fi
  if ! grep -qiF -- "$needle" "$T/err"; then bad "$* -> '$(cat "$T/err")' lacks '$needle'"; return; fi
  ok
}
expect_ok() {
  "$@" >"$T/out" 2>"$T/err" || { bad "$* -> exit $?: $(head -c 300 "$T/err")"; return 1; }
  ok
}
check() {
  "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert eval(sys.argv[2]), r' "$1" "$2" 2>"$T/perr" \
    && ok || bad "check '$2' on $(head -c 400 "$1"): $(tail -1 "$T/perr")"
}
absent() { [ ! -e "$1" ] && ok || bad "$1 exists after a failure"; }
# A CSV data set: 6 features, 3 classes from the signs of the first two
# (cli_distill, cli_exits).
mkcsv_signs() { # file n seed
  awk -v n="$2" -v s="$3" 'BEGIN{srand(s); print "a,b,c,d,e,f,label";
    for(i=0;i<n;i++){a=rand()*2-1;b=rand()*2-1; l=(a>0)+(b>0);
      printf "%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%d\n",a,b,rand(),rand(),rand()*2-1,rand(),l}}' >"$1"
}

finish() {
  echo "$1: $passes passed, $fails failed"
  [ "$fails" = 0 ]
}
