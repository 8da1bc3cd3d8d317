#!/usr/bin/env bash
# gzctl match solve end to end (no database): a small instance piped in
# gives exactly the optimal answer (greedy by cost would match one need
# fewer), and bad instances exit 1 with "gzctl: line N: ..." on stderr and
# nothing on stdout.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init gzctl_match
gzctl="$GZ_BIN/gzctl"
[ -x "$gzctl" ] || gz_fail "no gzctl binary at $gzctl"

echo "== an instance"
cat >"$GZ_TMP/in.txt" <<'IN'
# three needs, three volunteers
n elder-01
n elder-02
n kid-03        # nobody can take this one
v ZHENG 1
v LI 2
v WANG 0
e elder-01 ZHENG 1
e elder-01 LI 40
e elder-02 ZHENG 2
e kid-03 WANG 0

IN
cat >"$GZ_TMP/want.txt" <<'OUT'
m elder-01 LI
m elder-02 ZHENG
matched 2 cost 42
OUT
"$gzctl" match solve <"$GZ_TMP/in.txt" >"$GZ_TMP/out" 2>"$GZ_TMP/err" || gz_fail "solve failed: $(cat "$GZ_TMP/err")"
diff -u "$GZ_TMP/want.txt" "$GZ_TMP/out" || gz_fail "wrong answer"
[ ! -s "$GZ_TMP/err" ] || gz_fail "stderr not empty: $(cat "$GZ_TMP/err")"

echo "== an empty instance"
"$gzctl" match solve </dev/null >"$GZ_TMP/out" || gz_fail "empty instance failed"
[ "$(cat "$GZ_TMP/out")" = "matched 0 cost 0" ] || gz_fail "empty: $(cat "$GZ_TMP/out")"

# bad LINE MESSAGE TEXT: TEXT is refused with "gzctl: line LINE: MESSAGE...".
bad() {
    local rc=0
    printf '%b' "$3" | "$gzctl" match solve >"$GZ_TMP/out" 2>"$GZ_TMP/err" || rc=$?
    [ "$rc" -eq 1 ] || gz_fail "'$3' exited $rc, want 1"
    [ ! -s "$GZ_TMP/out" ] || gz_fail "'$3' wrote to stdout: $(cat "$GZ_TMP/out")"
    grep -q "^gzctl: line $1: $2" "$GZ_TMP/err" || gz_fail "'$3': stderr '$(cat "$GZ_TMP/err")', want line $1: $2"
}
echo "== bad instances"
bad 4 "negative cost '-5'" 'n A\nv X 1\n# a comment\ne A X -5\n'
bad 3 "unknown volunteer 'Y'" 'n A\nv X 1\ne A Y 1\n'
bad 2 "duplicate need 'A'" 'n A\nn A\n'
bad 1 "negative capacity" 'v X -1\n'
bad 2 "unknown item 'q'" 'n A\nq\n'
bad 1 "'e' wants" 'e A X\n'

echo "== usage"
rc=0; "$gzctl" match </dev/null >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || gz_fail "gzctl match exited $rc, want 2"
echo "ok"
