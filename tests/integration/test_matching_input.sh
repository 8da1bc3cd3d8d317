#!/usr/bin/env bash
# Bad input to every write of matching's API (issue 10): for each POST
# endpoint, malformed JSON is 400, a field of the wrong type or an unknown
# one is 422 naming the field, a body over 64 KiB is 413, a control
# character in a name is 422 (raw bytes that are not UTF-8 make the body
# not JSON: 400), no token is 401; GETs with bad parameters are 400. After
# all of it no table has changed.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init matching_input
gz_createdb
export GZ_PORT_BASE=$((20000 + RANDOM % 10000)) GZ_BUS_HEARTBEAT_MS=200 GZ_ORG_CHECK_MS=0 \
    GZ_MATCHING_BATCH_MS=100
m="http://127.0.0.1:$((GZ_PORT_BASE + 2))"
api="$m/api/v1"
gz_seed
# Routing's schema holds the tokens: migrated once by gz-routing.
gz_start routing.log "$GZ_BIN/gz-routing"
gz_wait_ready "http://127.0.0.1:$((GZ_PORT_BASE + 1))"
kill -TERM "$GZ_PID"
gz_reap "$GZ_PID" # (it may exit 1: intake never ran)
building=HGY-B0001
grid=$(gz_sql "SELECT grid_code FROM org.buildings WHERE code = '$building'")
community=$(gz_sql "SELECT parent_code FROM org.units WHERE code = '$grid'")
worker=$(gz_sql "SELECT id FROM org.staff WHERE unit_code = '$grid' ORDER BY id LIMIT 1")
staff="Authorization: Bearer $("$GZ_BIN/gzctl" token issue "$worker" 2>/dev/null)"
op="Authorization: Bearer $("$GZ_BIN/gzctl" token operator input-test 2>/dev/null)"
gz_start matching.log "$GZ_BIN/gz-matching"
MATCHING=$GZ_PID
gz_wait_ready "$m"

# post PATH BODY [AUTH]: the status; the body in $GZ_TMP/body. BODY @FILE
# sends a file.
post() {
    curl -sS -o "$GZ_TMP/body" -w '%{http_code}' -X POST -H "${3:-$staff}" \
        -H 'Content-Type: application/json' --data-binary "$2" "$api/$1" || true
}
body() { cat "$GZ_TMP/body"; }
from=$(TZ=Asia/Shanghai date -d "@$(($(date +%s) + 3600))" '+%Y-%m-%dT%H:%M:%S+08:00')
to=$(TZ=Asia/Shanghai date -d "@$(($(date +%s) + 7200))" '+%Y-%m-%dT%H:%M:%S+08:00')
vol="\"id\":\"v-1\",\"name\":\"郑小明\",\"skills\":[\"shopping\"],\"grid\":\"$grid\",\"availability\":\"mon-sun 00:00-24:00\""
need="\"building\":\"$building\",\"contact_name\":\"张奶奶\",\"skill\":\"shopping\",\"window\":{\"from\":\"$from\",\"to\":\"$to\"}"

# A volunteer, a need offered, accepted (a service), an item, some points.
[ "$(post volunteers "{$vol}")" = 201 ] || gz_fail "volunteer: $(body)"
[ "$(post needs "{$need}")" = 201 ] || gz_fail "need: $(body)"
offered() { [ -n "$(gz_sql "SELECT id FROM matching.offers")" ]; }
gz_wait_for 10 "no offer" offered
offer=$(gz_sql "SELECT id FROM matching.offers")
[ "$(post "offers/$offer/accept" '{}')" = 200 ] || gz_fail "accept: $(body)"
service=$(jq -r .service "$GZ_TMP/body")
item="\"id\":\"rice\",\"community\":\"$community\",\"name\":\"大米\",\"price\":10,\"stock\":3"
[ "$(post shop/items "{$item}" "$op")" = 200 ] || gz_fail "item: $(body)"
tables="volunteers volunteer_contacts needs need_contacts offers offer_secrets services batches
        shop_items redemptions ledger_tx entries outbox"
snapshot() {
    local t
    for t in $tables; do echo "$t $(gz_sql "SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '')
                                       FROM matching.$t x")"; done
}
snapshot >"$GZ_TMP/before"

# expect WHAT CODE [WORD]: the last status is CODE and the error's message
# holds WORD.
expect() {
    [ "$code" = "$2" ] || gz_fail "$1: $code, not $2: $(body)"
    [ -z "${3:-}" ] || jq -r '.error.message' "$GZ_TMP/body" | grep -q -- "$3" ||
        gz_fail "$1: the error does not name '$3': $(body)"
}
head -c 70000 /dev/zero | tr '\0' 'x' | sed 's/^/{"note":"/; s/$/"}/' >"$GZ_TMP/big.json"

redeem='"account":"volunteer:v-1","item":"rice","quantity":1,"key":"k"'
# PATH AUTH WRONG-TYPE-BODY FIELD VALID-BODY: each POST endpoint.
endpoints=(
    "volunteers|$staff|{${vol/\"v-1\"/5}}|id|{${vol/v-1/v-2}}"
    "needs|$staff|{${need/\"shopping\"/7}}|skill|{$need}"
    "offers/$offer/accept|$staff|{\"token\":5}|token|{}"
    "services/$service/checkout|$staff|{\"minutes\":\"90\"}|minutes|{\"minutes\":30}"
    "services/$service/confirm|$staff|{\"rating\":\"5\"}|rating|{\"rating\":5}"
    "shop/items|$op|{${item/10/\"10\"}}|price|{$item}"
    "shop/redeem|$staff|{${redeem/:1,/:\"1\",}}|quantity|{$redeem}"
    "match|$op|{\"now\":true}|now|{}"
)
for e in "${endpoints[@]}"; do
    IFS='|' read -r path auth wrong field valid <<<"$e"
    echo "== $path"
    code=$(post "$path" '{"id":' "$auth")
    expect "$path: malformed JSON" 400
    code=$(post "$path" '[1,2]' "$auth")
    expect "$path: not an object" 400
    code=$(post "$path" "$wrong" "$auth")
    expect "$path: a wrong type" 422 "$field"
    code=$(post "$path" '{"bogus_field":1}' "$auth")
    expect "$path: an unknown field" 422 bogus_field
    code=$(post "$path" "@$GZ_TMP/big.json" "$auth")
    expect "$path: 70,000 bytes" 413
    code=$(post "$path" '{}' "X-None: 1")
    expect "$path: no token" 401
    code=$(post "$path" "$valid" "Authorization: Bearer not-a-token")
    expect "$path: a valid body with a bad token" 401
done

echo "== names"
code=$(post volunteers "{${vol/郑小明/郑\\u0001明}}")
expect "volunteer: a control character in the name" 422 name
code=$(post needs "{${need/张奶奶/张\\u0007}}")
expect "need: a control character in the name" 422 contact_name
code=$(post shop/items "{${item/大米/大\\u0001米}}" "$op")
expect "item: a control character in the name" 422 name
printf '{%s}' "${vol/郑小明/$'\xff\xfe'}" >"$GZ_TMP/latin.json"
code=$(post volunteers "@$GZ_TMP/latin.json")
expect "volunteer: bytes that are not UTF-8" 400
printf '{%s}' "${item/大米/$'\xc3\x28'}" >"$GZ_TMP/latin.json"
code=$(post shop/items "@$GZ_TMP/latin.json" "$op")
expect "item: bytes that are not UTF-8" 400

echo "== GET with bad parameters"
get() { curl -sS -o "$GZ_TMP/body" -w '%{http_code}' -H "$staff" "$api/$1" || true; }
for q in "volunteers?limit=0" "volunteers?limit=abc" "volunteers?skill=cooking" \
    "needs?state=bogus" "needs?limit=5000" "points/volunteer:v-1?limit=-1" "redlist" \
    "redlist?month=2026-13" "redlist?month=2026-1x"; do
    code=$(get "$q")
    expect "GET $q" 400
done

snapshot >"$GZ_TMP/after"
diff "$GZ_TMP/before" "$GZ_TMP/after" >&2 || gz_fail "bad input changed the tables"
gz_stop "$MATCHING" gz-matching
echo "matching_input: ok"
