#!/usr/bin/env bash
# Analytics through the all-in-one binary on a fixed scenario driven
# through the real services, every number computed by hand. Six requests in
# one community (distinct buildings), with a rules file whose keyword 慢测
# gives a 2 s response and 3 s resolve deadline:
#   A  reached on time, resolved on time, rated satisfied (closed)
#   B  慢测: reached after its deadline, resolved after its deadline, rated satisfied
#   C  reached on time, resolved, rated NOT satisfied, then reopened (not resolved now)
#   D  慢测: never touched; its response deadline passes (routing escalates it)
#   E  verified invalid (rejected): not in the cohort
#   F  the same building and category as D while D is open: merged, not in the cohort
# The community's rates, then: requests 4; response on time 2 of due 4
# (reached 3 + D overdue) = 0.5; resolved 2 of 4 = 0.5, on time 1; rated 3,
# satisfied 2; reopened 1, merged 1, invalid 1.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init analytics
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
act() { # ID ACTION JSON
    local who tok
    who=$(curl -fsS -H "$op" "$rapi/requests/$1" | jq -r .assignee.staff_id)
    tok=$("$GZ_BIN/gzctl" token issue "$who" 2>/dev/null)
    curl -fsS -X POST -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
        -d "$3" "$rapi/requests/$1/$2" >/dev/null || gz_fail "$2 on $1"
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
sleep 3.5 # B's and D's deadlines (2 s, 3 s) pass
work "$B"; act "$B" resolve '{"result":"已清运"}'; resident "$B" rate '{"score":4,"satisfied":true}'

today=$(TZ=Asia/Shanghai date +%F)
rates() { curl -fsS -H "$op" "$aapi/rates?node=$1&from=$today&to=$today"; }
settled() { [ "$(rates $community | jq .satisfaction.rated)" = 3 ]; }
gz_wait_for 20 "analytics did not count the ratings" settled
r=$(rates $community)
echo "$r" | jq -c '{requests, response, resolution, satisfaction, reopened, merged, invalid}'
check() { [ "$(jq -c "$1" <<<"$r")" = "$2" ] || gz_fail "$1 = $(jq -c "$1" <<<"$r"), want $2"; }
check .requests 4
check '.response | [.on_time, .due, .rate]' '[2,4,0.5]'
check '.resolution | [.resolved, .total, .rate, .on_time]' '[2,4,0.5,1]'
check '.satisfaction | [.satisfied, .rated]' '[2,3]'
check '.satisfaction.rate * 1000 | floor' 666
check '[.reopened, .merged, .invalid]' '[1,1,1]'

# The sub-district and the district count the same requests; another
# community none (rates null, not 0/0).
sub=$(gz_sql "SELECT parent_code FROM org.units WHERE code = '$community'")
[ "$(rates "$sub" | jq .requests)" = 4 ] || gz_fail "sub-district: $(rates "$sub")"
empty=$(rates HGY-C02)
[ "$(jq -c '[.requests, .response.rate, .resolution.rate, .satisfaction.rate]' <<<"$empty")" = '[0,null,null,null]' ] ||
    gz_fail "an empty community: $empty"

# Bad parameters: 400 with the reason; no token: 401.
code() { curl -s -o "$GZ_TMP/err" -w '%{http_code}' -H "$op" "$aapi/$1"; }
[ "$(code "rates?node=$community&from=2026-02-30&to=$today")" = 400 ] && grep -q from "$GZ_TMP/err" ||
    gz_fail "a bad date"
[ "$(code "rates?node=NOPE&from=$today&to=$today")" = 400 ] || gz_fail "an unknown node"
[ "$(code "rates?node=$community&from=$today&to=2020-01-01")" = 400 ] || gz_fail "from after to"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$aapi/rates?node=$community&from=$today&to=$today")" = 401 ] ||
    gz_fail "no token"

# Rankings: the communities of the sub-district, none ranked under the
# default minimum sample of 20; hot spots: none at 3, the community's five
# buildings at 1.
rk=$(curl -fsS -H "$op" "$aapi/rankings?node=$sub&from=$today&to=$today")
[ "$(jq '[.units[] | select(.ranked)] | length' <<<"$rk")" = 0 ] || gz_fail "ranked below the sample: $rk"
[ "$(jq -r '.units[] | select(.node == "'$community'") | .requests' <<<"$rk")" = 4 ] || gz_fail "rankings: $rk"
hs=$(curl -fsS -H "$op" "$aapi/hotspots?node=$community&min=1")
[ "$(jq '.hotspots | length' <<<"$hs")" = 4 ] || gz_fail "hot spots at 1: $hs"
tr=$(curl -fsS -H "$op" "$aapi/trends?node=$community&from=$today&to=$today")
[ "$(jq '.days[0].requests' <<<"$tr")" = 4 ] && [ "$(jq '.volumes.category.noise' <<<"$tr")" = 1 ] ||
    gz_fail "trends: $tr"
# Work in hand now (routing's state): C (reopened) and D are open; overdue
# as routing's deadlines say (an escalation moves them). A meeting held today; a volunteer need filed
# with matching (its stream counted by day and node).
st=$(curl -fsS -H "$op" "$aapi/staff?node=$community")
overdue=$(gz_sql "SELECT count(*) FROM routing.requests WHERE community_code = '$community'
                  AND state IN ('assigned', 'accepted', 'verified', 'in_progress')
                  AND resolve_due_us < extract(epoch FROM now()) * 1e6")
[ "$(jq '[.units[].open] | add' <<<"$st")" = 2 ] && [ "$(jq '[.units[].overdue] | add' <<<"$st")" = "$overdue" ] ||
    gz_fail "staff: $st (overdue in routing: $overdue)"
[ "$(jq '[.staff[].open] | add' <<<"$st")" = 2 ] || gz_fail "staff per person: $st"
gz_sql "INSERT INTO routing.meetings (id, community_code, held_on, place, participants, hosts,
        recorded_role, client_key, body_sha256, demands_total, status)
        VALUES ('M9100', '$community', (now() AT TIME ZONE 'Asia/Shanghai')::date, '活动室', 30,
        '{}', 'operator', 'k', 'x', 2, 'recorded')"
mt=$(curl -fsS -H "$op" "$aapi/meetings?node=$sub&from=$today&to=$today")
[ "$(jq -c '[.meetings, .participants, .demands]' <<<"$mt")" = '[1,30,2]' ] || gz_fail "meetings: $mt"
mapi="http://127.0.0.1:$((GZ_PORT_BASE + 2))/api/v1"
curl -fsS -X POST -H "$op" -H 'Content-Type: application/json' "$mapi/needs" \
    -d "{\"building\":\"${b[0]}\",\"contact_name\":\"张奶奶\",\"skill\":\"shopping\",\"weekly\":\"sat 09:00-10:00\"}" >/dev/null ||
    gz_fail "need"
needs() { [ "$(curl -fsS -H "$op" "$aapi/volunteers?node=$community&from=$today&to=$today" | jq .needs)" = 1 ]; }
gz_wait_for 20 "analytics did not count matching's need" needs
gz_stop "$pid" gongzhi
echo "analytics: ok"
