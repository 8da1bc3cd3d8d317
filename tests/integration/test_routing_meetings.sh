#!/usr/bin/env bash
# 逢四说事 through the real all-in-one binary: a community records a meeting
# and its demands on routing's API (POST /api/v1/meetings); each demand is
# filed with intake over its bus as a MEETING request tied to the meeting and
# comes back routed. A retry (same key, Idempotency-Key header, or the same
# body) files nothing twice; bad input is refused with nothing changed; staff
# of another community get 403.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init meet
gz_createdb
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) \
       GZ_DEMO_API_KEY=meet-key GZ_DEMO_OPERATOR_TOKEN=meet-operator GZ_BUS_HEARTBEAT_MS=200
gz_seed
gz_start gongzhi.log "$GZ_BIN/gongzhi"
pid=$GZ_PID
api="http://127.0.0.1:$((GZ_PORT_BASE + 1))/api/v1"
gz_wait_ready "http://127.0.0.1:$GZ_PORT_BASE" "${api%/api/v1}"

# Staff tokens (gzctl token is not there yet): a grid worker of HGY-C01 and the
# secretary of HGY-C02.
gz_sql "INSERT INTO routing.tokens (token_sha256, staff_id, role, label) VALUES
     (encode(sha256('c01-worker'), 'hex'), 'HGY-W0001', 'staff', 'test'),
     (encode(sha256('c02-sec'), 'hex'), 'HGY-C02-SEC', 'staff', 'test')"
[ "$(gz_sql "SELECT g.parent_code FROM org.staff s JOIN org.units g ON g.code = s.unit_code
          WHERE s.id = 'HGY-W0001'")" = HGY-C01 ] || gz_fail "seed: HGY-W0001 is not in HGY-C01"
b1=$(gz_sql "SELECT b.code FROM org.buildings b JOIN org.units g ON g.code = b.grid_code
          WHERE g.parent_code = 'HGY-C01' ORDER BY b.sort_order, b.code LIMIT 1")
b2=$(gz_sql "SELECT b.code FROM org.buildings b JOIN org.units g ON g.code = b.grid_code
          WHERE g.parent_code = 'HGY-C01' ORDER BY b.sort_order DESC, b.code DESC LIMIT 1")
other=$(gz_sql "SELECT b.code FROM org.buildings b JOIN org.units g ON g.code = b.grid_code
             WHERE g.parent_code = 'HGY-C02' LIMIT 1")
[ -n "$b1" ] && [ -n "$b2" ] && [ "$b1" != "$b2" ] && [ -n "$other" ] || gz_fail "seed buildings"

# post TOKEN BODY [extra curl args]: status code; the body in $GZ_TMP/out.
post() {
    local tok=$1 body=$2; shift 2
    curl -sS -o "$GZ_TMP/out" -w '%{http_code}' ${tok:+-H "Authorization: Bearer $tok"} \
        -H 'Content-Type: application/json' "$@" --data-binary "$body" "$api/meetings"
}
get() { curl -sS -o "$GZ_TMP/out" -w '%{http_code}' -H "Authorization: Bearer $1" "$api/$2"; }
meeting() { # meeting KEY-FIELD DEMANDS-JSON [participants]
    jq -cn --arg b1 "$b1" --argjson d "$2" --argjson p "${3:-23}" --arg key "$1" \
        '{community: "HGY-C01", date: "2026-12-04", place: "社区党群服务中心二楼",
          participants: $p, hosts: ["HGY-C01-SEC", "HGY-K0001-1"], demands: $d}
         + (if $key == "" then {} else {key: $key} end)'
}
demands=$(jq -cn --arg b1 "$b1" --arg b2 "$b2" '[
    {service_code: "property", description: "3单元电梯经常停运", building: $b1, phone: "13800001234"},
    {service_code: "road", description: "小区北门路面塌陷", building: $b2},
    {service_code: "elderly_care", description: "独居老人希望有人定期探望"}]')
count_meetings() { gz_sql "SELECT count(*) FROM routing.meetings"; }
count_filed() { gz_sql "SELECT count(*) FROM intake.requests WHERE channel = 'MEETING'"; }

# 1. Bad input: refused, nothing recorded, nothing filed.
expect() { # expect STATUS CODE WHAT TOKEN BODY
    local code
    code=$(post "$4" "$5")
    [ "$code" = "$1" ] || gz_fail "$3: got $code, want $1: $(cat "$GZ_TMP/out")"
    [ "$(jq -r .error.code "$GZ_TMP/out")" = "$2" ] || gz_fail "$3: error code $(cat "$GZ_TMP/out")"
}
good=$(meeting "" "$demands")
expect 401 unauthorized "no token" "" "$good"
expect 401 unauthorized "unknown token" "nobody" "$good"
expect 400 bad_request "not JSON" c01-worker "{nope"
expect 400 bad_request "bad date" c01-worker "$(jq -c '.date = "2026-02-30"' <<<"$good")"
expect 400 bad_request "negative participants" c01-worker "$(jq -c '.participants = -1' <<<"$good")"
expect 400 bad_request "no place" c01-worker "$(jq -c 'del(.place)' <<<"$good")"
expect 400 bad_request "no hosts" c01-worker "$(jq -c '.hosts = []' <<<"$good")"
expect 422 unprocessable "unknown community" meet-operator "$(jq -c '.community = "HGY-C99"' <<<"$good")"
expect 422 unprocessable "unknown host" c01-worker "$(jq -c '.hosts += ["NOBODY-1"]' <<<"$good")"
expect 422 unprocessable "unknown service" c01-worker "$(jq -c '.demands[1].service_code = "x"' <<<"$good")"
expect 400 bad_request "empty description" c01-worker "$(jq -c '.demands[2].description = "  "' <<<"$good")"
expect 400 bad_request "bad phone" c01-worker "$(jq -c '.demands[0].phone = "call me"' <<<"$good")"
expect 422 unprocessable "building elsewhere" c01-worker \
    "$(jq -c --arg o "$other" '.demands[1].building = $o' <<<"$good")"
expect 422 unprocessable "unknown building" c01-worker "$(jq -c '.demands[1].building = "NO-B1"' <<<"$good")"
expect 422 unprocessable "missing required attribute" c01-worker \
    "$(jq -c '.demands[0].service_code = "utilities"' <<<"$good")"
many=$(jq -c '[range(0; 101) | {service_code: "other", description: "第\(.)条"}]' <<<null)
expect 400 bad_request "101 demands" meet-operator "$(meeting "" "$many")"
expect 403 forbidden "another community's staff" c02-sec "$good"
[ "$(count_meetings)" = 0 ] || gz_fail "a refused meeting was recorded"
[ "$(count_filed)" = 0 ] || gz_fail "a refused meeting filed demands"
echo "bad input refused, nothing changed"

# 2. Record a meeting with three demands (with a key).
body=$(meeting "c01-2026-12" "$demands")
code=$(post c01-worker "$body")
[ "$code" = 201 ] || gz_fail "record: $code $(cat "$GZ_TMP/out")"
mid=$(jq -r .id "$GZ_TMP/out")
ids=$(jq -c .requests "$GZ_TMP/out")
[ "$(jq length <<<"$ids")" = 3 ] || gz_fail "want 3 requests: $(cat "$GZ_TMP/out")"
[ "$(gz_sql "SELECT count(*) FROM intake.requests WHERE channel = 'MEETING' AND meeting_id = '$mid'")" = 3 ] ||
    gz_fail "intake does not hold 3 MEETING requests of $mid"
[ "$(gz_sql "SELECT status FROM routing.meetings WHERE id = '$mid'")" = recorded ] || gz_fail "status"
grep -q 13800001234 "$GZ_TMP/gongzhi.log" && gz_fail "the phone number appears in the log"
echo "meeting $mid filed $ids"

# 3. Each demand is routed like any other request, tied to the meeting.
view=""
for _ in $(seq 1 200); do
    get c01-worker "meetings/$mid" >/dev/null
    view=$(cat "$GZ_TMP/out")
    [ "$(jq '[.demands[] | select(.state == "assigned")] | length' <<<"$view")" = 3 ] && break
    sleep 0.05
done
[ "$(jq '[.demands[] | select(.state == "assigned")] | length' <<<"$view")" = 3 ] ||
    gz_fail "not all routed: $view"
[ "$(jq -r '.participants, .date, .status, (.hosts | length), .hosts[0].name != ""' <<<"$view" |
     tr '\n' ' ')" = "23 2026-12-04 recorded 2 true " ] || gz_fail "meeting view: $view"
[ "$(jq -c '[.demands[].request_id]' <<<"$view")" = "$ids" ] || gz_fail "demand ids: $view"
for rid in $(jq -r '.[]' <<<"$ids"); do
    r=$(curl -fsS -H "Authorization: Bearer meet-operator" "$api/requests/$rid")
    [ "$(jq -r '.channel, .meeting_id, .community_code' <<<"$r" | tr '\n' ' ')" = \
      "MEETING $mid HGY-C01 " ] || gz_fail "request $rid: $r"
    [ "$(jq -r '.assignee.staff_id // empty' <<<"$r")" != "" ] || gz_fail "no assignee: $r"
done
echo "3 demands routed"

# 4. Retries file nothing twice: the same key, the key as Idempotency-Key,
#    the same body again.
code=$(post c01-worker "$body")
[ "$code" = 200 ] || gz_fail "retry: $code $(cat "$GZ_TMP/out")"
[ "$(jq -r .id "$GZ_TMP/out")" = "$mid" ] && [ "$(jq -c .requests "$GZ_TMP/out")" = "$ids" ] ||
    gz_fail "retry answered differently: $(cat "$GZ_TMP/out")"
code=$(post c01-worker "$(meeting "" "$demands")" -H "Idempotency-Key: c01-2026-12")
[ "$code" = 200 ] && [ "$(jq -r .id "$GZ_TMP/out")" = "$mid" ] || gz_fail "header retry: $code $(cat "$GZ_TMP/out")"
code=$(post c01-worker "$(meeting "c01-2026-12" "$demands" 24)")
[ "$code" = 409 ] || gz_fail "key reused for another meeting: $code $(cat "$GZ_TMP/out")"
plain=$(meeting "" "$(jq -c '.[:1] | .[0].description = "楼道堆物"' <<<"$demands")" 12)
code=$(post meet-operator "$plain")
[ "$code" = 201 ] || gz_fail "second meeting: $code $(cat "$GZ_TMP/out")"
m2=$(jq -r .id "$GZ_TMP/out")
code=$(post meet-operator "$plain")
[ "$code" = 200 ] && [ "$(jq -r .id "$GZ_TMP/out")" = "$m2" ] || gz_fail "body replay: $code $(cat "$GZ_TMP/out")"
[ "$(count_meetings)" = 2 ] || gz_fail "meetings: $(count_meetings)"
[ "$(count_filed)" = 4 ] || gz_fail "filed: $(count_filed)"
echo "retries filed nothing twice"

# 5. Reading: lists and views, by community.
[ "$(get c01-worker meetings)" = 200 ] || gz_fail "list: $(cat "$GZ_TMP/out")"
[ "$(jq '.meetings | length' "$GZ_TMP/out")" = 2 ] || gz_fail "list: $(cat "$GZ_TMP/out")"
[ "$(get c01-worker 'meetings?community=HGY-C01&from=2026-12-01&to=2026-12-31')" = 200 ] ||
    gz_fail "list range"
jq -e --arg m "$mid" '.meetings[] | select(.id == $m) | .demands_filed == 3' "$GZ_TMP/out" >/dev/null ||
    gz_fail "list entry: $(cat "$GZ_TMP/out")"
[ "$(get c02-sec 'meetings?community=HGY-C01')" = 403 ] || gz_fail "c02 list: $(cat "$GZ_TMP/out")"
[ "$(get c02-sec "meetings/$mid")" = 403 ] || gz_fail "c02 view: $(cat "$GZ_TMP/out")"
[ "$(get c02-sec meetings)" = 200 ] && [ "$(jq '.meetings | length' "$GZ_TMP/out")" = 0 ] ||
    gz_fail "c02 own list: $(cat "$GZ_TMP/out")"
[ "$(get meet-operator "meetings/$mid")" = 200 ] || gz_fail "operator view"
[ "$(get meet-operator meetings/M0)" = 404 ] || gz_fail "unknown meeting"
[ "$(get c01-worker 'meetings?from=yesterday')" = 400 ] || gz_fail "bad from"
curl -fsS "${api%/api/v1}/metrics" | grep -q '^gz_routing_meeting_demands_total 4' ||
    gz_fail "metrics: $(curl -sS "${api%/api/v1}/metrics" | grep meeting)"
echo "views and authorization ok"

gz_stop "$pid" gongzhi
echo PASS
