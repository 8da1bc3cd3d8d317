#!/usr/bin/env bash
# gzctl end to end: the real binary against a fresh database on the test
# cluster (GZ_TEST_DATABASE_URL): usage, migrate, seed (twice), stats,
# import of a valid and of a bad file, and that a failed import changes
# nothing.
set -euo pipefail

: "${GZ_BUILD_DIR:?GZ_BUILD_DIR is not set (run through ctest)}"
: "${GZ_TEST_DATABASE_URL:?GZ_TEST_DATABASE_URL is not set; run scripts/test}"
gzctl="$GZ_BUILD_DIR/services/gzctl"
[ -x "$gzctl" ] || { echo "no gzctl binary at $gzctl" >&2; exit 1; }

db="gzt_gzctl_$$_$RANDOM"
work=$(mktemp -d /tmp/gzctl-test.XXXXXX)
psql_admin() { psql "$GZ_TEST_DATABASE_URL" -qAt -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
    psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
psql_admin -c "CREATE DATABASE $db"
export GZ_DATABASE_URL="${GZ_TEST_DATABASE_URL%/*}/$db"

fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_rc WANT CMD...: run CMD, require exit status WANT; output in $work/out, $work/err.
expect_rc() {
    local want=$1; shift
    local rc=0
    "$@" >"$work/out" 2>"$work/err" || rc=$?
    if [ "$rc" -ne "$want" ]; then
        cat "$work/out" "$work/err" >&2
        fail "'$*' exited $rc, want $want"
    fi
}
# stat KEY: the count printed by gzctl org stats for KEY.
stat() { awk -v k="$1" '$1 == k { print $2 }' "$work/stats"; }

echo "== usage"
expect_rc 2 "$gzctl"
expect_rc 2 "$gzctl" help
grep -q "usage: gzctl" "$work/err" || fail "help does not print usage on stderr"
[ ! -s "$work/out" ] || fail "usage went to stdout"
expect_rc 2 "$gzctl" frobnicate
expect_rc 2 "$gzctl" seed atlantis
expect_rc 2 "$gzctl" org import

echo "== stats before migrate fails cleanly"
expect_rc 1 "$gzctl" org stats

echo "== migrate (twice: idempotent)"
expect_rc 0 "$gzctl" migrate
expect_rc 0 "$gzctl" migrate

echo "== seed"
start=$(date +%s%N)
expect_rc 0 "$gzctl" seed huaguoyuan
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "seed took $ms ms"
[ "$ms" -lt 5000 ] || fail "seed took $ms ms (limit 5000)"
expect_rc 0 "$gzctl" org stats
cp "$work/out" "$work/stats"
cat "$work/stats"
[ "$(stat units.district)" = 1 ] || fail "districts"
[ "$(stat units.subdistrict)" = 5 ] || fail "sub-districts"
[ "$(stat units.community)" = 38 ] || fail "communities"
[ "$(stat units.department)" = 101 ] || fail "departments"
grids=$(stat units.grid)
[ "$grids" -ge 1200 ] && [ "$grids" -le 1400 ] || fail "grids: $grids"
buildings=$(stat buildings)
[ "$buildings" -ge 3800 ] && [ "$buildings" -le 4200 ] || fail "buildings: $buildings"
[ "$(stat staff.grid_worker)" = "$grids" ] || fail "one grid worker per grid"
[ "$(stat staff.grid_cadre)" = 2763 ] || fail "cadres"
[ "$(stat pairings)" = 101 ] || fail "pairings"

echo "== seed again: same directory"
expect_rc 0 "$gzctl" seed huaguoyuan
expect_rc 0 "$gzctl" org stats
diff "$work/stats" "$work/out" || fail "second seed changed the counts"

echo "== seed --print is an importable document"
expect_rc 0 "$gzctl" seed huaguoyuan --print
cp "$work/out" "$work/hgy.json"
expect_rc 0 "$gzctl" org import "$work/hgy.json" --check
grep -q "valid" "$work/out" || fail "--check did not say valid"

echo "== import of a bad file fails and changes nothing"
gen() { psql "$GZ_DATABASE_URL" -qAt -c "SELECT value FROM org.generation"; }
gen0=$(gen)
cat >"$work/bad.json" <<'EOF'
{
  "units": [
    {"code": "X-D", "level": "district", "name": "测试区"},
    {"code": "X-G", "level": "grid", "parent": "X-C", "name": "测试网格"}
  ],
  "buildings": [
    {"code": "X-B1", "grid": "X-G", "name": "1栋", "lat": 95.0, "lon": 106.7}
  ]
}
EOF
expect_rc 1 "$gzctl" org import "$work/bad.json"
grep -q 'units\[1\].parent: unknown unit "X-C"' "$work/err" || { cat "$work/err"; fail "no parent error"; }
grep -q 'buildings\[0\].lat: out of range' "$work/err" || { cat "$work/err"; fail "no lat error"; }
printf '{"units": [' >"$work/broken.json"
expect_rc 1 "$gzctl" org import "$work/broken.json"
grep -q "broken.json:1:" "$work/err" || { cat "$work/err"; fail "no position for broken JSON"; }
expect_rc 1 "$gzctl" org import "$work/missing.json"
expect_rc 0 "$gzctl" org stats
diff "$work/stats" "$work/out" || fail "a failed import changed the directory"
[ "$(gen)" = "$gen0" ] || fail "a failed import moved org.generation"

echo "== import of a valid file replaces the directory"
cat >"$work/good.json" <<'EOF'
{
  "format": "gongzhi-org/1",
  "units": [
    {"code": "X-D", "level": "district", "name": "测试区"},
    {"code": "X-S", "level": "subdistrict", "parent": "X-D", "name": "测试街道"},
    {"code": "X-C", "level": "community", "parent": "X-S", "name": "测试社区"},
    {"code": "X-G", "level": "grid", "parent": "X-C", "name": "测试网格"}
  ],
  "buildings": [
    {"code": "X-B1", "grid": "X-G", "name": "1栋", "lat": 26.56, "lon": 106.69}
  ],
  "staff": [
    {"id": "X-W", "name": "测试网格员", "role": "grid_worker", "unit": "X-G"}
  ]
}
EOF
expect_rc 0 "$gzctl" org import "$work/good.json"
# Running services reload when org.generation moves (GZ_ORG_CHECK_MS).
[ "$(gen)" -gt "$gen0" ] || fail "the import did not move org.generation"
expect_rc 0 "$gzctl" org stats
cp "$work/out" "$work/stats"
[ "$(stat units.grid)" = 1 ] && [ "$(stat buildings)" = 1 ] && [ "$(stat staff.grid_worker)" = 1 ] &&
    [ "$(stat pairings)" = 0 ] || { cat "$work/stats"; fail "import did not replace"; }

echo "== database down: clear failure"
GZ_DATABASE_URL="postgresql://gongzhi@127.0.0.1:1/none" expect_rc 1 "$gzctl" org stats
grep -q "cannot connect" "$work/err" || fail "no connect error"

echo "PASS"
