#!/usr/bin/env bash
# 逢四说事 through the real all-in-one binary: a community records a meeting
# and its demands on routing's API (POST /api/v1/meetings); each demand is
# filed with intake over its bus as a MEETING request tied to the meeting and
# comes back routed. A retry (same key, Idempotency-Key header, or the same
# body) files nothing twice; bad input is refused with nothing changed; staff
# of another community get 403.
set -euo pipefail
: "${GZ_BUILD_DIR:?run under ctest}" "${GZ_TEST_DATABASE_URL:?run under scripts/test}"
db="gzt_meet_$$_$RANDOM"
admin=$GZ_TEST_DATABASE_URL
url="${admin%/*}/$db"
tmp=$(mktemp -d /tmp/gz-meet.XXXXXX)
pid=""
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    psql "$admin" -qAt -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- gongzhi log"; tail -n 30 "$tmp/gongzhi.log"; exit 1; }
sql() { psql "$url" -qAt -c "$1"; }
psql "$admin" -qAt -c "CREATE DATABASE $db" >/dev/null
export GZ_DATABASE_URL=$url GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) \
       GZ_DEMO_API_KEY=meet-key GZ_DEMO_OPERATOR_TOKEN=meet-operator GZ_BUS_HEARTBEAT_MS=200
"$GZ_BUILD_DIR/services/gzctl" seed huaguoyuan >/dev/null
"$GZ_BUILD_DIR/services/gongzhi" 2>"$tmp/gongzhi.log" &
pid=$!
api="http://127.0.0.1:$((GZ_PORT_BASE + 1))/api/v1"
for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$GZ_PORT_BASE/readyz" >/dev/null 2>&1 &&
        curl -fsS "${api%/api/v1}/readyz" >/dev/null 2>&1 && break
    sleep 0.05
done
curl -fsS "${api%/api/v1}/readyz" >/dev/null || fail "not ready"

# Staff tokens (gzctl token is not there yet): a grid worker of HGY-C01 and the
# secretary of HGY-C02.
sql "INSERT INTO routing.tokens (token_sha256, staff_id, role, label) VALUES
     (encode(sha256('c01-worker'), 'hex'), 'HGY-W0001', 'staff', 'test'),
     (encode(sha256('c02-sec'), 'hex'), 'HGY-C02-SEC', 'staff', 'test')"
[ "$(sql "SELECT g.parent_code FROM org.staff s JOIN org.units g ON g.code = s.unit_code
          WHERE s.id = 'HGY-W0001'")" = HGY-C01 ] || fail "seed: HGY-W0001 is not in HGY-C01"
b1=$(sql "SELECT b.code FROM org.buildings b JOIN org.units g ON g.code = b.grid_code
          WHERE g.parent_code = 'HGY-C01' ORDER BY b.sort_order, b.code LIMIT 1")
b2=$(sql "SELECT b.code FROM org.buildings b JOIN org.units g ON g.code = b.grid_code
          WHERE g.parent_code = 'HGY-C01' ORDER BY b.sort_order DESC, b.code DESC LIMIT 1")
other=$(sql "SELECT b.code FROM org.buildings b JOIN org.units g ON g.code = b.grid_code
             WHERE g.parent_code = 'HGY-C02' LIMIT 1")
[ -n "$b1" ] && [ -n "$b2" ] && [ "$b1" != "$b2" ] && [ -n "$other" ] || fail "seed buildings"

# post TOKEN BODY [extra curl args]: status code; the body in $tmp/out.
post() {
    local tok=$1 body=$2; shift 2
    curl -sS -o "$tmp/out" -w '%{http_code}' ${tok:+-H "Authorization: Bearer $tok"} \
        -H 'Content-Type: application/json' "$@" --data-binary "$body" "$api/meetings"
}
get() { curl -sS -o "$tmp/out" -w '%{http_code}' -H "Authorization: Bearer $1" "$api/$2"; }
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
count_meetings() { sql "SELECT count(*) FROM routing.meetings"; }
count_filed() { sql "SELECT count(*) FROM intake.requests WHERE channel = 'MEETING'"; }

# 1. Bad input: refused, nothing recorded, nothing filed.
expect() { # expect STATUS CODE WHAT TOKEN BODY
    local code
    code=$(post "$4" "$5")
    [ "$code" = "$1" ] || fail "$3: got $code, want $1: $(cat "$tmp/out")"
    [ "$(jq -r .error.code "$tmp/out")" = "$2" ] || fail "$3: error code $(cat "$tmp/out")"
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
[ "$(count_meetings)" = 0 ] || fail "a refused meeting was recorded"
[ "$(count_filed)" = 0 ] || fail "a refused meeting filed demands"
echo "bad input refused, nothing changed"

# 2. Record a meeting with three demands (with a key).
body=$(meeting "c01-2026-12" "$demands")
code=$(post c01-worker "$body")
[ "$code" = 201 ] || fail "record: $code $(cat "$tmp/out")"
mid=$(jq -r .id "$tmp/out")
ids=$(jq -c .requests "$tmp/out")
[ "$(jq length <<<"$ids")" = 3 ] || fail "want 3 requests: $(cat "$tmp/out")"
[ "$(sql "SELECT count(*) FROM intake.requests WHERE channel = 'MEETING' AND meeting_id = '$mid'")" = 3 ] ||
    fail "intake does not hold 3 MEETING requests of $mid"
[ "$(sql "SELECT status FROM routing.meetings WHERE id = '$mid'")" = recorded ] || fail "status"
grep -q 13800001234 "$tmp/gongzhi.log" && fail "the phone number appears in the log"
echo "meeting $mid filed $ids"

# 3. Each demand is routed like any other request, tied to the meeting.
view=""
for _ in $(seq 1 200); do
    get c01-worker "meetings/$mid" >/dev/null
    view=$(cat "$tmp/out")
    [ "$(jq '[.demands[] | select(.state == "assigned")] | length' <<<"$view")" = 3 ] && break
    sleep 0.05
done
[ "$(jq '[.demands[] | select(.state == "assigned")] | length' <<<"$view")" = 3 ] ||
    fail "not all routed: $view"
[ "$(jq -r '.participants, .date, .status, (.hosts | length), .hosts[0].name != ""' <<<"$view" |
     tr '\n' ' ')" = "23 2026-12-04 recorded 2 true " ] || fail "meeting view: $view"
[ "$(jq -c '[.demands[].request_id]' <<<"$view")" = "$ids" ] || fail "demand ids: $view"
for rid in $(jq -r '.[]' <<<"$ids"); do
    r=$(curl -fsS -H "Authorization: Bearer meet-operator" "$api/requests/$rid")
    [ "$(jq -r '.channel, .meeting_id, .community_code' <<<"$r" | tr '\n' ' ')" = \
      "MEETING $mid HGY-C01 " ] || fail "request $rid: $r"
    [ "$(jq -r '.assignee.staff_id // empty' <<<"$r")" != "" ] || fail "no assignee: $r"
done
echo "3 demands routed"

# 4. Retries file nothing twice: the same key, the key as Idempotency-Key,
#    the same body again.
code=$(post c01-worker "$body")
[ "$code" = 200 ] || fail "retry: $code $(cat "$tmp/out")"
[ "$(jq -r .id "$tmp/out")" = "$mid" ] && [ "$(jq -c .requests "$tmp/out")" = "$ids" ] ||
    fail "retry answered differently: $(cat "$tmp/out")"
code=$(post c01-worker "$(meeting "" "$demands")" -H "Idempotency-Key: c01-2026-12")
[ "$code" = 200 ] && [ "$(jq -r .id "$tmp/out")" = "$mid" ] || fail "header retry: $code $(cat "$tmp/out")"
code=$(post c01-worker "$(meeting "c01-2026-12" "$demands" 24)")
[ "$code" = 409 ] || fail "key reused for another meeting: $code $(cat "$tmp/out")"
plain=$(meeting "" "$(jq -c '.[:1] | .[0].description = "楼道堆物"' <<<"$demands")" 12)
code=$(post meet-operator "$plain")
[ "$code" = 201 ] || fail "second meeting: $code $(cat "$tmp/out")"
m2=$(jq -r .id "$tmp/out")
code=$(post meet-operator "$plain")
[ "$code" = 200 ] && [ "$(jq -r .id "$tmp/out")" = "$m2" ] || fail "body replay: $code $(cat "$tmp/out")"
[ "$(count_meetings)" = 2 ] || fail "meetings: $(count_meetings)"
[ "$(count_filed)" = 4 ] || fail "filed: $(count_filed)"
echo "retries filed nothing twice"

# 5. Reading: lists and views, by community.
[ "$(get c01-worker meetings)" = 200 ] || fail "list: $(cat "$tmp/out")"
[ "$(jq '.meetings | length' "$tmp/out")" = 2 ] || fail "list: $(cat "$tmp/out")"
[ "$(get c01-worker 'meetings?community=HGY-C01&from=2026-12-01&to=2026-12-31')" = 200 ] ||
    fail "list range"
jq -e --arg m "$mid" '.meetings[] | select(.id == $m) | .demands_filed == 3' "$tmp/out" >/dev/null ||
    fail "list entry: $(cat "$tmp/out")"
[ "$(get c02-sec 'meetings?community=HGY-C01')" = 403 ] || fail "c02 list: $(cat "$tmp/out")"
[ "$(get c02-sec "meetings/$mid")" = 403 ] || fail "c02 view: $(cat "$tmp/out")"
[ "$(get c02-sec meetings)" = 200 ] && [ "$(jq '.meetings | length' "$tmp/out")" = 0 ] ||
    fail "c02 own list: $(cat "$tmp/out")"
[ "$(get meet-operator "meetings/$mid")" = 200 ] || fail "operator view"
[ "$(get meet-operator meetings/M0)" = 404 ] || fail "unknown meeting"
[ "$(get c01-worker 'meetings?from=yesterday')" = 400 ] || fail "bad from"
curl -fsS "${api%/api/v1}/metrics" | grep -q '^gz_routing_meeting_demands_total 4' ||
    fail "metrics: $(curl -sS "${api%/api/v1}/metrics" | grep meeting)"
echo "views and authorization ok"

kill -TERM "$pid"; rc=0; wait "$pid" || rc=$?; pid=""
[ $rc -eq 0 ] || fail "gongzhi exited $rc on SIGTERM"
echo PASS
