#!/usr/bin/env bash
# Matching through the all-in-one binary, as a social worker, volunteers and
# the points supermarket would live it: volunteers registered (a bad one
# refused, nothing stored); a household's need matched within a batch; the
# offer declined with its link's token and offered to someone else; an
# offer left unanswered expires and counts as a decline; an accepted offer
# becomes a service record, checked in and out, confirmed with a rating,
# and its hours earn points; the points buy an item, a retry does not buy
# it twice, and an overdraft is refused; a recurring need stays with the
# volunteer who served it (continuity); a routed elderly-care request
# becomes a need by itself; every step is an event on the matching stream
# and the ledger balances.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init matching
gz_createdb
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) \
       GZ_DEMO_API_KEY=match-key GZ_DEMO_OPERATOR_TOKEN=match-operator GZ_BUS_HEARTBEAT_MS=200 \
       GZ_ORG_CHECK_MS=0 GZ_NOTIFY_CONTACT_KEY=match-contact-key GZ_MATCHING_BATCH_MS=200 \
       GZ_MATCHING_POINTS="report=5,rider_report=10,hour=10,meeting=2"
gz_seed
gz_start gongzhi.log "$GZ_BIN/gongzhi"
pid=$GZ_PID
web="http://127.0.0.1:$GZ_PORT_BASE"
m="http://127.0.0.1:$((GZ_PORT_BASE + 2))"
api="$m/api/v1"
op="Authorization: Bearer match-operator"
gz_wait_ready "$web" "http://127.0.0.1:$((GZ_PORT_BASE + 1))" "$m"

building=HGY-B0001
grid=$(gz_sql "SELECT grid_code FROM org.buildings WHERE code = '$building'")
community=$(gz_sql "SELECT parent_code FROM org.units WHERE code = '$grid'")
worker=$(gz_sql "SELECT id FROM org.staff WHERE unit_code = '$grid' ORDER BY id LIMIT 1")
staff="Authorization: Bearer $("$GZ_BIN/gzctl" token issue "$worker" 2>/dev/null)"

# post PATH JSON [AUTH]: the HTTP status, the body in $GZ_TMP/body.
post() {
    curl -sS -o "$GZ_TMP/body" -w '%{http_code}' -X POST -H "${3:-$staff}" \
        -H 'Content-Type: application/json' -d "$2" "$api/$1" || true
}
body() { cat "$GZ_TMP/body"; }
get() { curl -fsS -H "$staff" "$api/$1"; }
volunteer() { # ID NAME [STATE]
    local code
    code=$(post volunteers "{\"id\":\"$1\",\"name\":\"$2\",\"skills\":[\"shopping\",\"companionship\"],
        \"grid\":\"$grid\",\"availability\":\"mon-sun 00:00-24:00\",\"max_per_week\":5,
        \"state\":\"${3:-active}\",\"phone\":\"1380000${RANDOM:0:4}\"}")
    [ "$code" = 201 ] || gz_fail "volunteer $1: $code $(body)"
}
count() { gz_sql "SELECT count(*) FROM matching.$1"; }
# The China-time ISO text of now + $1 seconds.
at() { TZ=Asia/Shanghai date -d "@$(( $(date +%s) + $1 ))" '+%Y-%m-%dT%H:%M:%S+08:00'; }
offer_of() { get "needs/$1" | jq -r '.offer.id // empty'; }
offer_state() { gz_sql "SELECT state FROM matching.offers WHERE id = $1"; }
offered() { [ "$(gz_sql "SELECT state FROM matching.needs WHERE id = $1")" = offered ]; }
volunteer_of() { gz_sql "SELECT volunteer_id FROM matching.offers WHERE id = $1"; }
token_of() {
    curl -fsS -H "Authorization: Bearer match-contact-key" "$m/internal/v1/offers/$1" |
        jq -r .link | sed 's/.*?t=//'
}

# 1. The registry: two active volunteers and a paused one; bad input is
#    refused with the field named, and nothing is stored.
volunteer v-zheng 郑小明
volunteer v-li 李华
volunteer v-wang 王芳 paused
code=$(post volunteers "{\"id\":\"v-bad\",\"name\":\"坏\",\"skills\":[\"cooking\"],\"grid\":\"$grid\",\"availability\":\"mon 09:00-10:00\"}")
[ "$code" = 422 ] && grep -q skills <<<"$(body)" || gz_fail "unknown skill: $code $(body)"
code=$(post volunteers "{\"id\":\"v-bad\",\"name\":\"坏\",\"skills\":[\"shopping\"],\"grid\":\"no-such-grid\",\"availability\":\"mon 09:00-10:00\"}")
[ "$code" = 422 ] && grep -q grid <<<"$(body)" || gz_fail "unknown grid: $code $(body)"
code=$(post volunteers '{"id":' )
[ "$code" = 400 ] || gz_fail "broken JSON: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{}' "$api/volunteers")
[ "$code" = 401 ] || gz_fail "no token: $code"
[ "$(count volunteers)" = 3 ] || gz_fail "bad volunteers were stored"
list=$(get "volunteers?grid=$grid")
[ "$(jq length <<<"$list")" = 3 ] || gz_fail "list: $list"
jq -e 'all(.[]; (.phone_masked // .phone // "") | test("\\*"))' <<<"$list" >/dev/null ||
    gz_fail "the list shows a phone unmasked: $list"

# 2. A need is matched within a batch, to an active volunteer.
code=$(post needs "{\"building\":\"$building\",\"contact_name\":\"张奶奶\",\"phone\":\"13900001111\",
    \"skill\":\"shopping\",\"window\":{\"from\":\"$(at 3600)\",\"to\":\"$(at 10800)\"},\"note\":\"买菜\"}")
[ "$code" = 201 ] || gz_fail "need: $code $(body)"
need=$(jq -r .id <<<"$(body)")
code=$(post needs "{\"building\":\"NO-SUCH\",\"contact_name\":\"x\",\"skill\":\"shopping\",\"weekly\":\"sat 09:00-10:00\"}")
[ "$code" = 422 ] || gz_fail "need at an unknown building: $code $(body)"
gz_wait_for 10 "need $need was not offered" offered "$need"
o1=$(offer_of "$need")
v1=$(volunteer_of "$o1")
[ "$v1" = v-zheng ] || [ "$v1" = v-li ] || gz_fail "offered to $v1"
echo "need $need offered to $v1 (offer $o1)"

# 3. The volunteer declines with the token of their link; a second answer
#    is a conflict; the next batch offers the need to the other volunteer.
code=$(curl -s -o /dev/null -w '%{http_code}' "$m/internal/v1/offers/$o1")
[ "$code" = 404 ] || gz_fail "the internal path without notify's key: $code"
t1=$(token_of "$o1")
code=$(post "offers/$o1/decline" '{"token":"wrong"}' "X-None: 1")
[ "$code" = 403 ] || gz_fail "a wrong token: $code $(body)"
code=$(post "offers/$o1/accept" '{}' "X-None: 1")
[ "$code" = 401 ] || gz_fail "no token: $code $(body)"
code=$(post "offers/$o1/decline" "{\"token\":\"$t1\"}" "X-None: 1")
[ "$code" = 200 ] || gz_fail "decline: $code $(body)"
code=$(post "offers/$o1/accept" "{\"token\":\"$t1\"}" "X-None: 1")
[ "$code" = 409 ] && [ "$(jq -r .error.state <<<"$(body)")" = declined ] || gz_fail "second answer: $code $(body)"
gz_wait_for 10 "need $need was not offered again" offered "$need"
o2=$(offer_of "$need")
v2=$(volunteer_of "$o2")
[ "$o2" != "$o1" ] && [ "$v2" != "$v1" ] && [ "$v2" != v-wang ] || gz_fail "re-offered to $v2"
echo "declined by $v1, offered to $v2"

# 4. Silence is a decline: the offer's time passes; with nobody left the
#    need waits, open, until a new volunteer registers.
gz_sql "UPDATE matching.offers SET expires_at = now() WHERE id = $o2"
expired() { [ "$(offer_state "$o2")" = expired ]; }
gz_wait_for 10 "offer $o2 did not expire" expired
sleep 1
[ "$(gz_sql "SELECT state FROM matching.needs WHERE id = $need")" = open ] || gz_fail "need not open"
volunteer v-zhao 赵强
gz_wait_for 10 "need $need was not offered to the newcomer" offered "$need"
o3=$(offer_of "$need")
[ "$(volunteer_of "$o3")" = v-zhao ] || gz_fail "offered to $(volunteer_of "$o3")"

# 5. Accepted: a service record; checked in and out; confirmed by staff
#    (not by the volunteer's token) with a rating; 90 minutes earn 15 points.
t3=$(token_of "$o3")
code=$(post "offers/$o3/accept" "{\"token\":\"$t3\"}" "X-None: 1")
[ "$code" = 200 ] || gz_fail "accept: $code $(body)"
service=$(jq -r .service <<<"$(body)")
code=$(post "services/$service/confirm" "{\"token\":\"$t3\",\"rating\":5}" "X-None: 1")
[ "$code" = 401 ] || gz_fail "a volunteer confirms their own service: $code $(body)"
code=$(post "services/$service/checkin" "{\"token\":\"$t3\"}" "X-None: 1")
[ "$code" = 200 ] || gz_fail "checkin: $code $(body)"
code=$(post "services/$service/confirm" '{"rating":5}')
[ "$code" = 409 ] || gz_fail "confirm before checkout: $code $(body)"
code=$(post "services/$service/checkout" "{\"token\":\"$t3\",\"minutes\":90}" "X-None: 1")
[ "$code" = 200 ] && [ "$(jq .minutes <<<"$(body)")" = 90 ] || gz_fail "checkout: $code $(body)"
code=$(post "services/$service/confirm" '{"rating":6}')
[ "$code" = 422 ] || gz_fail "rating 6: $code $(body)"
code=$(post "services/$service/confirm" '{"rating":5,"comment":"小赵真亲"}')
[ "$code" = 200 ] && [ "$(jq .points <<<"$(body)")" = 15 ] || gz_fail "confirm: $code $(body)"
[ "$(gz_sql "SELECT state FROM matching.needs WHERE id = $need")" = done ] || gz_fail "need not done"
points=$(get "points/volunteer:v-zhao")
[ "$(jq .balance <<<"$points")" = 15 ] || gz_fail "balance: $points"
echo "service $service confirmed: 15 points"

# 6. The supermarket: an operator stocks an item; the volunteer's points buy
#    it; a retry with the same key is the same purchase; no overdraft.
code=$(post shop/items "{\"id\":\"rice-5kg\",\"community\":\"$community\",\"name\":\"大米5斤\",\"price\":10,\"stock\":3}" "$op")
[ "$code" = 200 ] || gz_fail "item: $code $(body)"
code=$(post shop/items "{\"id\":\"oil\",\"community\":\"$community\",\"name\":\"油\",\"price\":10,\"stock\":3}")
[ "$code" = 403 ] || gz_fail "staff stocking the shop: $code"
items=$(curl -fsS "$api/shop/items?community=$community")
[ "$(jq -r '.[0].name' <<<"$items")" = 大米5斤 ] || gz_fail "items: $items"
redeem='{"account":"volunteer:v-zhao","item":"rice-5kg","quantity":1,"key":"buy-1"}'
code=$(post shop/redeem "$redeem")
[ "$code" = 201 ] && [ "$(jq .balance <<<"$(body)")" = 5 ] || gz_fail "redeem: $code $(body)"
code=$(post shop/redeem "$redeem")
[ "$code" = 200 ] && [ "$(jq .duplicate <<<"$(body)")" = true ] || gz_fail "retry: $code $(body)"
code=$(post shop/redeem '{"account":"volunteer:v-zhao","item":"rice-5kg","quantity":1,"key":"buy-2"}')
[ "$code" = 409 ] && grep -q insufficient_points <<<"$(body)" || gz_fail "overdraft: $code $(body)"
[ "$(jq .balance <<<"$(get "points/volunteer:v-zhao")")" = 5 ] || gz_fail "balance after"
[ "$(gz_sql "SELECT stock FROM matching.shop_items WHERE id = 'rice-5kg'")" = 2 ] || gz_fail "stock"

# 7. Continuity: a weekly need stays with the volunteer who served it.
code=$(post needs "{\"building\":\"$building\",\"contact_name\":\"李爷爷\",\"skill\":\"companionship\",
    \"weekly\":\"mon-sun 08:00-20:00\"}")
[ "$code" = 201 ] || gz_fail "weekly need: $code $(body)"
weekly=$(jq -r .id <<<"$(body)")
gz_wait_for 10 "weekly need not offered" offered "$weekly"
ow=$(offer_of "$weekly")
vw=$(volunteer_of "$ow")
code=$(post "offers/$ow/accept" '{}')
[ "$code" = 200 ] || gz_fail "staff accepts for $vw: $code $(body)"
sw=$(jq -r .service <<<"$(body)")
post "services/$sw/checkout" '{"minutes":60}' >/dev/null
code=$(post "services/$sw/confirm" '{"rating":5}')
[ "$code" = 200 ] || gz_fail "weekly confirm: $code $(body)"
gz_wait_for 10 "weekly need not offered for its next week" offered "$weekly"
ow2=$(offer_of "$weekly")
[ "$ow2" != "$ow" ] && [ "$(volunteer_of "$ow2")" = "$vw" ] ||
    gz_fail "next week offered to $(volunteer_of "$ow2"), not $vw"
echo "continuity: $vw again"

# 8. A routed elderly-care request becomes a need by itself (once).
r=$(curl -fsS -d api_key=match-key -d service_code=elderly_care -d "address_id=$building" \
    --data-urlencode "description=独居老人需要有人帮忙买菜" "$web/open311/v2/requests.json")
rid=$(jq -r '.[0].service_request_id' <<<"$r")
made() { [ "$(gz_sql "SELECT count(*) FROM matching.needs WHERE source = 'request:$rid'")" = 1 ]; }
gz_wait_for 20 "no need from request $rid" made
echo "request $rid became a need"

# 9. A resident who reported a problem (with their points id) earns points
#    once it is resolved and they rate it satisfied; once only.
rapi="http://127.0.0.1:$((GZ_PORT_BASE + 1))/api/v1"
r=$(curl -fsS -d api_key=match-key -d service_code=property -d "address_id=$building" \
    -d reporter_id=resident:R-1 --data-urlencode "description=楼道灯坏了" \
    "$web/open311/v2/requests.json")
rid2=$(jq -r '.[0].service_request_id' <<<"$r")
assignee() { curl -fsS -H "$op" "$rapi/requests/$rid2" | jq -r '.assignee.staff_id // empty'; }
routed() { [ -n "$(assignee)" ]; }
gz_wait_for 20 "request $rid2 not routed" routed
wauth="Authorization: Bearer $("$GZ_BIN/gzctl" token issue "$(assignee)" 2>/dev/null)"
for a in 'accept {}' 'verify {"outcome":"reached"}' 'start {}' 'resolve {"result":"已更换灯泡"}'; do
    curl -fsS -X POST -H "$wauth" -H 'Content-Type: application/json' -d "${a#* }" \
        "$rapi/requests/$rid2/${a%% *}" >/dev/null || gz_fail "worker ${a%% *}"
done
rsecret=$(gz_sql "SELECT secret FROM intake.requests WHERE id = $rid2")
curl -fsS -X POST -H 'Content-Type: application/json' -d '{"score":5,"satisfied":true}' \
    "$rapi/requests/$rid2/rate?t=$rsecret" >/dev/null || gz_fail "rate"
earned() { [ "$(jq .balance <<<"$(get "points/resident:R-1")")" = 5 ]; }
gz_wait_for 20 "the reporter earned no points" earned
[ "$(gz_sql "SELECT count(*) FROM matching.ledger_tx WHERE source_key = 'report:$rid2'")" = 1 ] ||
    gz_fail "the report earned more than once"
echo "report $rid2: resident:R-1 earned 5 points"

# 10. A 逢四说事 meeting's attendance (recorded by routing; here by SQL):
#     each person present earns the meeting's 2 points once; more people
#     than the meeting counted, or an unknown meeting, are refused.
gz_sql "INSERT INTO routing.meetings (id, community_code, held_on, place, participants, hosts,
        recorded_role, client_key, body_sha256, demands_total, status)
        VALUES ('M9001', '$community', current_date, '社区活动室', 2, '{}', 'operator', 'k', 'x', 0,
        'recorded')"
code=$(post meetings/M9001/attendance '{"accounts":["resident:R-1","rider:MT-7788"]}')
[ "$code" = 200 ] || gz_fail "attendance: $code $(body)"
code=$(post meetings/M9001/attendance '{"accounts":["resident:R-1","rider:MT-7788"]}')
[ "$code" = 200 ] && [ "$(jq '[.awarded[].points] | add' <<<"$(body)")" = 0 ] ||
    gz_fail "attendance twice: $code $(body)"
[ "$(jq .balance <<<"$(get "points/rider:MT-7788")")" = 2 ] || gz_fail "the rider's meeting points"
[ "$(jq .balance <<<"$(get "points/resident:R-1")")" = 7 ] || gz_fail "the resident's points"
code=$(post meetings/M9001/attendance '{"accounts":["resident:A","resident:B","resident:C"]}')
[ "$code" = 422 ] || gz_fail "more than the meeting counted: $code $(body)"
code=$(post meetings/M404/attendance '{"accounts":["resident:A"]}')
[ "$code" = 404 ] || gz_fail "an unknown meeting: $code $(body)"
code=$(post meetings/M9001/attendance '{"accounts":["nobody"]}')
[ "$code" = 422 ] || gz_fail "a bad account: $code $(body)"
echo "meeting M9001: attendance earned once"

# 11. The stream carries every kind, and the ledger balances.
for t in NeedCreated MatchOffered MatchDeclined MatchExpired MatchAccepted ServiceCompleted \
         PointsAwarded PointsRedeemed; do
    [ "$(gz_sql "SELECT count(*) FROM matching.outbox WHERE type = '$t'")" -ge 1 ] ||
        gz_fail "no $t event"
done
unbalanced=$(gz_sql "SELECT count(*) FROM (SELECT tx_id FROM matching.entries GROUP BY tx_id
                     HAVING sum(amount) <> 0) x")
[ "$unbalanced" = 0 ] || gz_fail "$unbalanced ledger transactions do not sum to zero"
grep -q 13900001111 "$GZ_TMP/gongzhi.log" && gz_fail "a phone number appears in the log"
gz_stop "$pid" gongzhi
echo "matching: ok"
