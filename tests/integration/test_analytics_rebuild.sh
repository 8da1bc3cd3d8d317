#!/usr/bin/env bash
# rebuild = verify = live (issue 11): test_analytics.sh's scenario (on
# time, late, rejected, merged, reopened, rated both ways) driven through
# the real services, then
#  - gzctl analytics verify finds 0 differences against the source tables;
#  - gzctl analytics rebuild (with the service running) replays the
#    outboxes (intake's, routing's, matching's) into fresh rollups: verify
#    again finds 0 differences, and the API answers the same numbers as
#    before, matching's (/volunteers) too;
#  - the live consumer continues from the rebuild's cursors exactly once: a
#    request filed after it is counted once;
#  - one rollup cell corrupted by SQL: verify prints exactly that
#    difference and exits 1; one matching_daily cell likewise.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init anrebuild
gz_createdb
rules=$GZ_TMP/rules
{ echo "*  慢测  *  local  grid  -  2s  3s"; cat "$GZ_SOURCE_DIR/services/routing/default.rules"; } >"$rules"
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) GZ_ROUTING_RULES=$rules \
       GZ_DEMO_API_KEY=an-key GZ_DEMO_OPERATOR_TOKEN=an-operator GZ_BUS_HEARTBEAT_MS=200 \
       GZ_ORG_CHECK_MS=0
gz_seed
gz_start gongzhi.log "$GZ_BIN/gongzhi"
pid=$GZ_PID
web="http://127.0.0.1:$GZ_PORT_BASE"
rapi="http://127.0.0.1:$((GZ_PORT_BASE + 1))/api/v1"
aapi="http://127.0.0.1:$((GZ_PORT_BASE + 4))/api/v1"
op="Authorization: Bearer an-operator"
gz_wait_ready "$web" "${rapi%/api/v1}" "${aapi%/api/v1}"

community=HGY-C01
mapfile -t b < <(gz_sql "SELECT b.code FROM org.buildings b JOIN org.units g ON g.code = b.grid_code
                         WHERE g.parent_code = '$community' ORDER BY b.code LIMIT 5")
[ "${#b[@]}" = 5 ] || gz_fail "seed: 5 buildings in $community"
file() { # CATEGORY BUILDING DESCRIPTION: the request id
    curl -fsS -d api_key=an-key -d service_code="$1" -d "address_id=$2" \
        --data-urlencode "description=$3" "$web/open311/v2/requests.json" |
        jq -r '.[0].service_request_id'
}
state() { curl -fsS -H "$op" "$rapi/requests/$1" | jq -r .state; }
routed() { [ "$(state "$1")" != null ] && [ "$(state "$1")" != "" ]; }
act() { # ID ACTION JSON (again if a 2 s deadline escalated it to someone else meanwhile)
    local who tok try
    for try in 1 2 3; do
        who=$(curl -fsS -H "$op" "$rapi/requests/$1" | jq -r .assignee.staff_id)
        tok=$("$GZ_BIN/gzctl" token issue "$who" 2>/dev/null)
        curl -fsS -X POST -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
            -d "$3" "$rapi/requests/$1/$2" >/dev/null && return 0
        sleep 0.5
    done
    gz_fail "$2 on $1"
}
resident() { # ID ACTION JSON
    local secret
    secret=$(gz_sql "SELECT secret FROM intake.requests WHERE id = $1")
    curl -fsS -X POST -H 'Content-Type: application/json' -d "$3" \
        "$rapi/requests/$1/$2?t=$secret" >/dev/null || gz_fail "resident $2 on $1"
}
work() { act "$1" accept '{}'; act "$1" verify '{"outcome":"reached"}'; act "$1" start '{}'; }

A=$(file property "${b[0]}" "楼道灯坏了")
B=$(file sanitation "${b[1]}" "垃圾没清运 慢测")
C=$(file road "${b[2]}" "井盖松动")
D=$(file noise "${b[3]}" "夜间施工噪音 慢测")
E=$(file parking "${b[4]}" "乱停车")
for r in "$A" "$B" "$C" "$D" "$E"; do gz_wait_for 20 "request $r not routed" routed "$r"; done
F=$(file noise "${b[3]}" "夜间施工噪音又来了")
gz_wait_for 20 "F not merged" bash -c "[ \"\$(curl -fsS -H '$op' '$rapi/requests/$F' | jq -r .state)\" = merged ]"

work "$A"; act "$A" resolve '{"result":"已修复"}'; resident "$A" rate '{"score":5,"satisfied":true}'
work "$C"; act "$C" resolve '{"result":"已处理"}'; resident "$C" rate '{"score":2,"satisfied":false}'
resident "$C" reopen '{"comment":"还是松的"}'
act "$E" accept '{}'; act "$E" verify '{"outcome":"invalid"}'
act "$D" accept '{}'; act "$D" verify '{"outcome":"not_reached"}'
sleep 3.5 # B's and D's deadlines (2 s, 3 s) pass
work "$B"; act "$B" resolve '{"result":"已清运"}'; resident "$B" rate '{"score":4,"satisfied":true}'

# Two volunteer needs filed with matching: matching's stream, counted in
# matching_daily by the live consumer.
mapi="http://127.0.0.1:$((GZ_PORT_BASE + 2))/api/v1"
for i in 0 1; do
    curl -fsS -X POST -H "$op" -H 'Content-Type: application/json' "$mapi/needs" \
        -d "{\"building\":\"${b[$i]}\",\"contact_name\":\"张奶奶\",\"skill\":\"shopping\",\"weekly\":\"sat 09:00-10:00\"}" \
        >/dev/null || gz_fail "need $i"
done

today=$(TZ=Asia/Shanghai date +%F)
rates() { curl -fsS -H "$op" "$aapi/rates?node=$1&from=$today&to=$today"; }
volunteers() { curl -fsS -H "$op" "$aapi/volunteers?node=$1&from=$today&to=$today"; }
settled() { [ "$(rates $community | jq .satisfaction.rated)" = 3 ]; }
gz_wait_for 20 "analytics did not count the ratings" settled
needs2() { [ "$(volunteers $community | jq .needs)" = 2 ]; }
gz_wait_for 20 "analytics did not count matching's two needs" needs2
sub=$(gz_sql "SELECT parent_code FROM org.units WHERE code = '$community'")
district=$(gz_sql "SELECT parent_code FROM org.units WHERE code = '$sub'")
snapshot() {
    for n in "$community" "$sub" "$district"; do
        rates "$n" | jq -cS 'del(.generated_at)'
        volunteers "$n" | jq -cS 'del(.generated_at)'
    done
}
# analytics' cursors (intake's, matching's and routing's) at the outbox
# heads: a quiet system, what verify needs.
cursors() { gz_sql "SELECT stream || '=' || position FROM analytics.bus_cursor
                   WHERE consumer = 'analytics' AND stream IN ('intake', 'routing', 'matching') ORDER BY 1" | tr '\n' ' '; }
heads() { echo "intake=$(gz_sql "SELECT max(position) FROM intake.outbox WHERE stream = 'intake'") matching=$(gz_sql "SELECT max(position) FROM matching.outbox WHERE stream = 'matching'") routing=$(gz_sql "SELECT max(position) FROM routing.outbox WHERE stream = 'routing'") "; }
at_heads() { [ "$(cursors)" = "$(heads)" ]; }
gz_wait_for 10 "cursors before verify: $(cursors), outbox heads: $(heads)" at_heads
live=$(snapshot)
grep -q '"requests":4' <<<"$live" || gz_fail "live numbers: $live"
[ "$(grep -c '"needs":2' <<<"$live")" = 3 ] || gz_fail "live needs (2 at each level): $live"

verify() { "$GZ_BIN/gzctl" analytics verify >"$GZ_TMP/verify.out" 2>&1; }
verify || { cat "$GZ_TMP/verify.out"; gz_fail "verify of the live rollups"; }
grep -q "^verified [1-9][0-9]* rollup rows, 0 differences$" "$GZ_TMP/verify.out" ||
    gz_fail "verify: $(cat "$GZ_TMP/verify.out")"

"$GZ_BIN/gzctl" analytics rebuild >"$GZ_TMP/rebuild.out" 2>&1 ||
    { cat "$GZ_TMP/rebuild.out"; gz_fail "rebuild"; }
cat "$GZ_TMP/rebuild.out"
# matching's outbox holds at least the two NeedCreated events (its batch
# may add others: they count as the live consumer counts them).
grep -Eq "^rebuilt from 6 intake, [0-9]+ routing, ([2-9]|[1-9][0-9]+) matching and [0-9]+ notify events: 6 facts, [0-9]+ rollup rows, [1-9][0-9]* matching rows, [0-9]+ notify rows" \
    "$GZ_TMP/rebuild.out" ||
    gz_fail "rebuild: $(cat "$GZ_TMP/rebuild.out")"
verify || { cat "$GZ_TMP/verify.out"; gz_fail "verify after the rebuild"; }
[ "$(snapshot)" = "$live" ] || gz_fail "the API after the rebuild: $(snapshot), before: $live"
# The cursors reach the outbox heads again: the rebuild's, or later ones
# the live consumer took from there (a deadline timer may fire meanwhile).
gz_wait_for 10 "cursors after the rebuild: $(cursors), outbox heads: $(heads)" at_heads

# The live consumer goes on from the rebuild's cursors: one more request
# counts once.
G=$(file property "${b[4]}" "电梯异响")
gz_wait_for 20 "G not counted" bash -c "[ \"\$(curl -fsS -H '$op' '$aapi/rates?node=$community&from=$today&to=$today' | jq .requests)\" = 5 ]"
gz_wait_for 20 "G not routed" routed "$G"
sleep 1 # G's routing events reach analytics
verify || { cat "$GZ_TMP/verify.out"; gz_fail "verify after a live request"; }
[ "$(rates "$district" | jq .requests)" = 5 ] || gz_fail "district after G: $(rates "$district")"

# A corrupted cell (in its day's row and its month's, as a write of both
# would leave them): exactly that difference, exit 1.
gz_sql "UPDATE analytics.rollup SET satisfied = satisfied + 1 WHERE node = '$community' AND day = '$today';
        UPDATE analytics.rollup_month SET satisfied = satisfied + 1 WHERE node = '$community'
        AND day = date_trunc('month', '$today'::date)::date"
if verify; then gz_fail "verify passed a corrupted rollup"; fi
cat "$GZ_TMP/verify.out"
[ "$(grep -c ': rollup ' "$GZ_TMP/verify.out")" = 1 ] &&
    grep -qx "$community $today satisfied: rollup 3, source 2" "$GZ_TMP/verify.out" &&
    grep -q "rollup rows, 1 differences$" "$GZ_TMP/verify.out" ||
    gz_fail "verify of the corrupted cell: $(cat "$GZ_TMP/verify.out")"
# A matching_daily cell changed by hand: exactly that difference.
gz_sql "UPDATE analytics.matching_daily SET needs = needs + 1 WHERE node = '$sub' AND day = '$today'"
if verify; then gz_fail "verify passed a corrupted matching_daily"; fi
grep -qx "$sub|$today matching needs: rollup 3, source 2" "$GZ_TMP/verify.out" &&
    grep -q "rollup rows, 2 differences$" "$GZ_TMP/verify.out" ||
    gz_fail "verify of the matching cell: $(cat "$GZ_TMP/verify.out")"
gz_sql "UPDATE analytics.matching_daily SET needs = needs - 1 WHERE node = '$sub' AND day = '$today'"
# A month row that is not the sum of its days: reported too.
gz_sql "UPDATE analytics.rollup SET satisfied = satisfied - 1 WHERE node = '$community' AND day = '$today'"
if verify; then gz_fail "verify passed a month that is not the sum of its days"; fi
grep -q "^rollup_month all rows not the sum of their days: rollup 1, source 0" "$GZ_TMP/verify.out" ||
    gz_fail "verify of the month: $(cat "$GZ_TMP/verify.out")"
gz_stop "$pid" gongzhi
echo "analytics rebuild: ok"
