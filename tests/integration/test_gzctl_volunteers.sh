#!/usr/bin/env bash
# gzctl volunteers import, all or nothing (issue 10): a file with three
# invalid rows among valid ones exits 1, lists exactly those three lines
# and imports nothing; a grid the org directory does not know is reported
# with its line, nothing imported; a valid file imports every row, the
# phones only in volunteer_contacts and masked in volunteers; importing it
# again with a change updates; a missing file is a clear error.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init gzctl_volunteers
gz_createdb
gz_seed
gzctl="$GZ_BIN/gzctl"
mapfile -t grids < <(gz_sql "SELECT code FROM org.units WHERE level = 'grid' ORDER BY code LIMIT 3")
[ "${#grids[@]}" = 3 ] || gz_fail "the seed has no grids"
g1=${grids[0]} g2=${grids[1]} g3=${grids[2]}
# count TABLE: its rows (0 while matching's schema does not exist yet).
count() {
    if [ "$(gz_sql "SELECT to_regclass('matching.$1') IS NULL")" = t ]; then echo 0; else
        gz_sql "SELECT count(*) FROM matching.$1"; fi
}
head='id,name,skills,grid,availability,social_worker,phone'

# import FILE: exit status in rc, stdout in out, stderr in err.
import() {
    rc=0
    "$gzctl" volunteers import "$1" >"$GZ_TMP/out" 2>"$GZ_TMP/err" || rc=$?
    out=$(cat "$GZ_TMP/out")
    err=$(cat "$GZ_TMP/err")
}

echo "== three invalid rows among valid ones"
cat >"$GZ_TMP/bad.csv" <<CSV
$head
v-001,郑小明,shopping|hospital_escort,$g1,"mon-fri 09:00-12:00; sat 14:00-18:00",是,13812348000
v-002,"Li, Hua",tutoring,$g2,wed 19:00-21:00,否,
v-003,王芳,cooking,$g1,mon 09:00-10:00,否,
v-004,赵强,shopping,$g3,mon 25:00-26:00,否,
v-005,钱多多,companionship,$g2,sun 00:00-24:00,false,13900001111
v-001,重复,shopping,$g1,mon 09:00-10:00,否,
CSV
import "$GZ_TMP/bad.csv"
[ "$rc" = 1 ] || gz_fail "bad file: exit $rc"
[ -z "$out" ] || gz_fail "bad file: stdout: $out"
lines=$(grep -o 'line [0-9]*:' <<<"$err" | sort -u | tr '\n' ' ')
[ "$lines" = "line 4: line 5: line 7: " ] || gz_fail "bad file: reported $lines: $err"
grep -q "line 4: skills:.*cooking" <<<"$err" || gz_fail "no skills error: $err"
grep -q "line 5: availability:" <<<"$err" || gz_fail "no availability error: $err"
grep -q "line 7: id:.*line 2" <<<"$err" || gz_fail "no duplicate id error: $err"
grep -q "nothing imported" <<<"$err" || gz_fail "no 'nothing imported': $err"
[ "$(count volunteers)" = 0 ] || gz_fail "the bad file imported rows"

echo "== a grid the org directory does not know"
cat >"$GZ_TMP/grid.csv" <<CSV
$head
v-001,郑小明,shopping,$g1,mon 09:00-12:00,否,13812348000
v-002,李华,tutoring,NO-SUCH-GRID,wed 19:00-21:00,否,
CSV
import "$GZ_TMP/grid.csv"
[ "$rc" = 1 ] || gz_fail "unknown grid: exit $rc"
grep -q "line 3: grid:.*NO-SUCH-GRID" <<<"$err" || gz_fail "unknown grid not reported: $err"
[ "$(grep -c 'line [0-9]*:' <<<"$err")" = 1 ] || gz_fail "unknown grid: more lines: $err"
[ "$(count volunteers)" = 0 ] || gz_fail "the unknown grid file imported rows"

echo "== a valid file"
cat >"$GZ_TMP/good.csv" <<CSV
$head
v-001,郑小明,shopping|hospital_escort,$g1,"mon-fri 09:00-12:00; sat 14:00-18:00",是,13812348000
v-002,"Li, Hua",tutoring,$g2,wed 19:00-21:00,否,
v-003,王芳,companionship;shopping,$g3,sun 00:00-24:00,0,13900001111
CSV
import "$GZ_TMP/good.csv"
[ "$rc" = 0 ] || gz_fail "good file: exit $rc: $err"
[ "$out" = "imported 3 volunteers (3 new, 0 updated)" ] || gz_fail "good file: $out"
[ "$(count volunteers)" = 3 ] || gz_fail "good file: $(count volunteers) volunteers"
[ "$(gz_sql "SELECT grid_code FROM matching.volunteers WHERE id = 'v-002'")" = "$g2" ] ||
    gz_fail "v-002's grid"
[ "$(gz_sql "SELECT name FROM matching.volunteers WHERE id = 'v-002'")" = "Li, Hua" ] ||
    gz_fail "a quoted name"
[ "$(gz_sql "SELECT social_worker FROM matching.volunteers WHERE id = 'v-001'")" = t ] ||
    gz_fail "是 is not a social worker"
[ "$(gz_sql "SELECT phone FROM matching.volunteer_contacts WHERE volunteer_id = 'v-001'")" = \
    13812348000 ] || gz_fail "v-001's phone is not in volunteer_contacts"
[ "$(count volunteer_contacts)" = 2 ] || gz_fail "contacts: $(count volunteer_contacts)"
masked=$(gz_sql "SELECT phone_masked FROM matching.volunteers WHERE id = 'v-001'")
[ "$masked" = "138****8000" ] || gz_fail "v-001's phone masked as '$masked'"
whole=$(gz_sql "SELECT count(*) FROM matching.volunteers v
                WHERE (to_jsonb(v))::text LIKE '%13812348000%' OR (to_jsonb(v))::text LIKE '%13900001111%'")
[ "$whole" = 0 ] || gz_fail "a whole phone number in matching.volunteers"

echo "== the same file with a change"
sed -e 's/wed 19:00-21:00/thu 19:00-21:00/' "$GZ_TMP/good.csv" >"$GZ_TMP/good2.csv"
import "$GZ_TMP/good2.csv"
[ "$rc" = 0 ] || gz_fail "re-import: exit $rc: $err"
[ "$out" = "imported 3 volunteers (0 new, 3 updated)" ] || gz_fail "re-import: $out"
[ "$(count volunteers)" = 3 ] || gz_fail "re-import: $(count volunteers) volunteers"
avail=$(gz_sql "SELECT availability FROM matching.volunteers WHERE id = 'v-002'")
[ "$avail" = "thu 19:00-21:00" ] || gz_fail "re-import did not update: '$avail'"
[ "$(gz_sql "SELECT phone FROM matching.volunteer_contacts WHERE volunteer_id = 'v-001'")" = \
    13812348000 ] || gz_fail "re-import lost v-001's phone"

echo "== a missing file"
import "$GZ_TMP/no-such.csv"
[ "$rc" = 1 ] || gz_fail "missing file: exit $rc"
grep -q "no-such.csv" <<<"$err" && grep -qi "no such file" <<<"$err" ||
    gz_fail "missing file: unclear error: $err"
[ "$(count volunteers)" = 3 ] || gz_fail "the missing file changed the registry"
echo "gzctl_volunteers: ok"
