#!/usr/bin/env bash
# gzctl end to end: the real binary against a fresh database on the test
# cluster (GZ_TEST_DATABASE_URL): usage, migrate, seed (twice), stats,
# import of a valid and of a bad file, and that a failed import changes
# nothing.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init gzctl
gzctl="$GZ_BIN/gzctl"
[ -x "$gzctl" ] || gz_fail "no gzctl binary at $gzctl"
gz_createdb
# expect_rc WANT CMD...: run CMD, require exit status WANT; output in $GZ_TMP/out, $GZ_TMP/err.
expect_rc() {
    local want=$1; shift
    local rc=0
    "$@" >"$GZ_TMP/out" 2>"$GZ_TMP/err" || rc=$?
    if [ "$rc" -ne "$want" ]; then
        cat "$GZ_TMP/out" "$GZ_TMP/err" >&2
        gz_fail "'$*' exited $rc, want $want"
    fi
}
# stat KEY: the count printed by gzctl org stats for KEY.
stat() { awk -v k="$1" '$1 == k { print $2 }' "$GZ_TMP/stats"; }

echo "== usage"
expect_rc 2 "$gzctl"
expect_rc 2 "$gzctl" help
grep -q "usage: gzctl" "$GZ_TMP/err" || gz_fail "help does not print usage on stderr"
[ ! -s "$GZ_TMP/out" ] || gz_fail "usage went to stdout"
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
[ "$ms" -lt 5000 ] || gz_fail "seed took $ms ms (limit 5000)"
expect_rc 0 "$gzctl" org stats
cp "$GZ_TMP/out" "$GZ_TMP/stats"
cat "$GZ_TMP/stats"
[ "$(stat units.district)" = 1 ] || gz_fail "districts"
[ "$(stat units.subdistrict)" = 5 ] || gz_fail "sub-districts"
[ "$(stat units.community)" = 38 ] || gz_fail "communities"
[ "$(stat units.department)" = 101 ] || gz_fail "departments"
grids=$(stat units.grid)
[ "$grids" -ge 1200 ] && [ "$grids" -le 1400 ] || gz_fail "grids: $grids"
buildings=$(stat buildings)
[ "$buildings" -ge 3800 ] && [ "$buildings" -le 4200 ] || gz_fail "buildings: $buildings"
[ "$(stat staff.grid_worker)" = "$grids" ] || gz_fail "one grid worker per grid"
[ "$(stat staff.grid_cadre)" = 2763 ] || gz_fail "cadres"
[ "$(stat pairings)" = 101 ] || gz_fail "pairings"

echo "== seed again: same directory"
expect_rc 0 "$gzctl" seed huaguoyuan
expect_rc 0 "$gzctl" org stats
diff "$GZ_TMP/stats" "$GZ_TMP/out" || gz_fail "second seed changed the counts"

echo "== seed --print is an importable document"
expect_rc 0 "$gzctl" seed huaguoyuan --print
cp "$GZ_TMP/out" "$GZ_TMP/hgy.json"
expect_rc 0 "$gzctl" org import "$GZ_TMP/hgy.json" --check
grep -q "valid" "$GZ_TMP/out" || gz_fail "--check did not say valid"

echo "== import of a bad file fails and changes nothing"
gen() { gz_sql "SELECT value FROM org.generation"; }
gen0=$(gen)
cat >"$GZ_TMP/bad.json" <<'EOF'
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
expect_rc 1 "$gzctl" org import "$GZ_TMP/bad.json"
grep -q 'units\[1\].parent: unknown unit "X-C"' "$GZ_TMP/err" || { cat "$GZ_TMP/err"; gz_fail "no parent error"; }
grep -q 'buildings\[0\].lat: out of range' "$GZ_TMP/err" || { cat "$GZ_TMP/err"; gz_fail "no lat error"; }
printf '{"units": [' >"$GZ_TMP/broken.json"
expect_rc 1 "$gzctl" org import "$GZ_TMP/broken.json"
grep -q "broken.json:1:" "$GZ_TMP/err" || { cat "$GZ_TMP/err"; gz_fail "no position for broken JSON"; }
expect_rc 1 "$gzctl" org import "$GZ_TMP/missing.json"
expect_rc 0 "$gzctl" org stats
diff "$GZ_TMP/stats" "$GZ_TMP/out" || gz_fail "a failed import changed the directory"
[ "$(gen)" = "$gen0" ] || gz_fail "a failed import moved org.generation"

echo "== import of a valid file replaces the directory"
cat >"$GZ_TMP/good.json" <<'EOF'
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
expect_rc 0 "$gzctl" org import "$GZ_TMP/good.json"
# Running services reload when org.generation moves (GZ_ORG_CHECK_MS).
[ "$(gen)" -gt "$gen0" ] || gz_fail "the import did not move org.generation"
expect_rc 0 "$gzctl" org stats
cp "$GZ_TMP/out" "$GZ_TMP/stats"
[ "$(stat units.grid)" = 1 ] && [ "$(stat buildings)" = 1 ] && [ "$(stat staff.grid_worker)" = 1 ] &&
    [ "$(stat pairings)" = 0 ] || { cat "$GZ_TMP/stats"; gz_fail "import did not replace"; }

echo "== database down: clear failure"
GZ_DATABASE_URL="postgresql://gongzhi@127.0.0.1:1/none" expect_rc 1 "$gzctl" org stats
grep -q "cannot connect" "$GZ_TMP/err" || gz_fail "no connect error"

echo "PASS"
