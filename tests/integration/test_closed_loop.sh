#!/usr/bin/env bash
# The whole closed loop through the real all-in-one binary, as a resident and
# a grid worker would live it: file on the QR page -> routed to the building's
# grid worker -> accept, verify (call-back reached), start, resolve through
# the worker API -> the resident rates on the status page -> closed; Open311
# and the updates feed show it. SIGHUP serves a building added meanwhile.
# Then SIGTERM stops everything cleanly.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init loop
gz_createdb
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) \
       GZ_DEMO_API_KEY=loop-key GZ_DEMO_OPERATOR_TOKEN=loop-operator GZ_BUS_HEARTBEAT_MS=200 \
       GZ_ORG_CHECK_MS=0
gz_seed
gz_start gongzhi.log "$GZ_BIN/gongzhi"
pid=$GZ_PID
web="http://127.0.0.1:$GZ_PORT_BASE"
api="http://127.0.0.1:$((GZ_PORT_BASE + 1))/api/v1"
auth="Authorization: Bearer loop-operator"
gz_wait_ready "$web" "${api%/api/v1}"

# 1. The resident scans the QR code of building HGY-B0001 and files a request.
page=$(curl -fsS "$web/q/HGY-B0001")
nonce=$(grep -o 'name="nonce" value="[0-9a-f-]*"' <<<"$page" | sed 's/.*value="//; s/"$//')
[ -n "$nonce" ] || gz_fail "no nonce on the QR page"
done_page=$(curl -sS -w '\n%{http_code}' --data-urlencode "nonce=$nonce" -d service_code=property \
    --data-urlencode "description=3单元楼道灯不亮" -d phone=13800001234 "$web/q/HGY-B0001")
[ "$(tail -n 1 <<<"$done_page")" = 201 ] || gz_fail "QR submit: $(tail -n 1 <<<"$done_page")"
link=$(grep -o 'href="/r/[0-9]*?t=[0-9a-f]*"' <<<"$done_page" | head -1 | sed 's/href="//; s/"$//')
id=$(sed 's|/r/||; s|?.*||' <<<"$link")
[ -n "$id" ] || gz_fail "no status link"
echo "filed request $id"

# 2. Routing assigns it to the grid worker of the building's grid.
state=""
for _ in $(seq 1 200); do
    view=$(curl -sS -H "$auth" "$api/requests/$id")
    state=$(jq -r '.state // empty' <<<"$view")
    [ "$state" = assigned ] && break
    sleep 0.05
done
[ "$state" = assigned ] || gz_fail "not routed: $view"
[ "$(jq -r .tier <<<"$view")" = local ] || gz_fail "tier: $view"
[ "$(jq -r .assignee.role <<<"$view")" = grid_worker ] || gz_fail "assignee: $view"
grid=$(gz_sql "SELECT grid_code FROM org.buildings WHERE code = 'HGY-B0001'")
[ "$(jq -r .assignee.unit_code <<<"$view")" = "$grid" ] || gz_fail "wrong grid: $view"
echo "routed to $(jq -r .assignee.staff_id <<<"$view") ($grid)"

# 3. The worker, with a token from gzctl, signs, calls back, goes on site and
#    resolves it; a worker of another grid may not touch it.
worker=$(jq -r .assignee.staff_id <<<"$view")
wtoken=$("$GZ_BIN/gzctl" token issue "$worker")
other=$("$GZ_BIN/gzctl" token issue HGY-W0002 --days 7 2>"$GZ_TMP/issue.err")
grep -q "token valid until" "$GZ_TMP/issue.err" || gz_fail "gzctl did not say when the token expires"
[ "$(psql "$GZ_URL" -qAt -c "SELECT count(*) FROM routing.tokens WHERE staff_id = 'HGY-W0002'
    AND expires_at BETWEEN now() + interval '6 days' AND now() + interval '8 days'")" = 1 ] ||
    gz_fail "--days 7 did not set the expiry"
"$GZ_BIN/gzctl" token issue HGY-W0002 --days 0 >/dev/null 2>&1 && gz_fail "--days 0 accepted"
"$GZ_BIN/gzctl" token issue NO-SUCH-STAFF >/dev/null 2>&1 && gz_fail "token for unknown staff"
code=$(curl -sS -o "$GZ_TMP/out" -w '%{http_code}' -H "Authorization: Bearer $other" -d '{}' \
    "$api/requests/$id/accept")
[ "$code" = 403 ] || gz_fail "another grid's worker got $code: $(cat "$GZ_TMP/out")"
auth="Authorization: Bearer $wtoken"
post() { curl -sS -o "$GZ_TMP/out" -w '%{http_code}' -H "$auth" -H 'Content-Type: application/json' \
    -d "$2" "$api/requests/$id/$1"; }
[ "$(post accept '{}')" = 200 ] || gz_fail "accept: $(cat "$GZ_TMP/out")"
[ "$(post start '{}')" = 409 ] || gz_fail "start before verify should be 409: $(cat "$GZ_TMP/out")"
[ "$(post verify '{"outcome":"reached"}')" = 200 ] || gz_fail "verify: $(cat "$GZ_TMP/out")"
[ "$(post start '{}')" = 200 ] || gz_fail "start: $(cat "$GZ_TMP/out")"
[ "$(post resolve '{"result":"已更换楼道灯"}')" = 200 ] || gz_fail "resolve: $(cat "$GZ_TMP/out")"

# 4. The resident sees it resolved and rates it on the status page.
form=""
for _ in $(seq 1 200); do
    form=$(curl -fsS "$web$link")
    grep -q '提交评价' <<<"$form" && break
    sleep 0.05
done
grep -q '提交评价' <<<"$form" || gz_fail "no rating form on the status page"
grep -q '已更换楼道灯' <<<"$form" || gz_fail "result not on the status page"
code=$(curl -sS -o "$GZ_TMP/out" -w '%{http_code}' -d score=5 -d satisfied=yes \
    "$web/r/$id/rate?${link#*\?}")
[ "$code" = 200 ] || gz_fail "rate: $code $(cat "$GZ_TMP/out")"

"$GZ_BIN/gzctl" token revoke "$worker" | grep -q "revoked 1" || gz_fail "revoke"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "$auth" "$api/queue")
[ "$code" = 401 ] || gz_fail "revoked token still works: $code"
auth="Authorization: Bearer loop-operator"

# 5. Closed everywhere.
for _ in $(seq 1 200); do
    state=$(curl -sS -H "$auth" "$api/requests/$id" | jq -r .state)
    [ "$state" = closed ] && break
    sleep 0.05
done
[ "$state" = closed ] || gz_fail "not closed: $state"
o311=""
for _ in $(seq 1 200); do
    o311=$(curl -fsS "$web/open311/v2/requests/$id.json")
    [ "$(jq -r '.[0].status' <<<"$o311")" = closed ] && break
    sleep 0.05
done
[ "$(jq -r '.[0].status' <<<"$o311")" = closed ] || gz_fail "Open311 status: $o311"
curl -fsS "$web/open311/v2/servicerequestupdates.json" |
    jq -e --arg id "$id" '[.service_request_updates[] | select(.service_request_id == $id) | .status] | index("fixed") != null' >/dev/null ||
    gz_fail "no 'fixed' update in the feed"
curl -fsS "$web$link" | grep -q '已评价' || gz_fail "timeline lacks the rating"
grep -q 13800001234 "$GZ_TMP/gongzhi.log" && gz_fail "the phone number appears in the log"

# Routing's metrics count each committed transition once (the refused
# early "start" counts nothing).
metrics=$(curl -fsS "${api%/api/v1}/metrics")
for kind in accepted verified started resolved rated; do
    grep -q "^gz_routing_transitions_total{kind=\"$kind\"} 1$" <<<"$metrics" ||
        gz_fail "transitions metric for $kind: $(grep transitions_total <<<"$metrics")"
done

# 6. A building added to the directory is served after SIGHUP, without a
#    restart (gzctl org import, then SIGHUP).
gz_sql "INSERT INTO org.buildings (code, grid_code, name, address, lat, lon)
    SELECT 'HGY-NEW1', grid_code, '示例新楼', address, lat, lon FROM org.buildings
    WHERE code = 'HGY-B0001'" >/dev/null
code=$(curl -sS -o /dev/null -w '%{http_code}' "$web/q/HGY-NEW1")
[ "$code" = 404 ] || gz_fail "new building known before SIGHUP: $code"
kill -HUP "$pid"
for _ in $(seq 1 100); do
    code=$(curl -sS -o /dev/null -w '%{http_code}' "$web/q/HGY-NEW1")
    [ "$code" = 200 ] && break
    sleep 0.05
done
[ "$code" = 200 ] || gz_fail "new building not served after SIGHUP: $code"
# Each service logs its reload once done, which may be just after the page
# above was served.
gz_wait_for 10 "no intake reload logged" grep -q 'svc=intake msg="SIGHUP reload" ok=1' "$GZ_TMP/gongzhi.log"
gz_wait_for 10 "no routing reload logged" grep -q 'svc=routing msg="SIGHUP reload" ok=1' "$GZ_TMP/gongzhi.log"
echo "SIGHUP reloaded the directory"

gz_stop "$pid" gongzhi
echo PASS
