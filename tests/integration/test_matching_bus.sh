#!/usr/bin/env bash
# Offer answers over the bus (issue 10): MatchCommand envelopes from a
# DEALER to gz-matching's ROUTER (tests/tools/gz_match_cmd). Accepting with
# the offer's secret works once (state accepted); the same again is a
# conflict that changes nothing; a wrong secret is forbidden; a frame that
# is not an Envelope is answered bad_request and counted in
# gz_decode_errors_total{source="bus"}; "solve" needs an operator: refused
# without a credential and with a staff one, done with an operator's.
# Between commands the actor still answers HTTP; SIGTERM then exits 0.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init matching_bus
gz_createdb
export GZ_PORT_BASE=$((20000 + RANDOM % 10000)) GZ_BUS_HEARTBEAT_MS=200 GZ_ORG_CHECK_MS=0 \
    GZ_MATCHING_BATCH_MS=100
cmd() { timeout 10 "$GZ_BUILD_DIR/tests/gz_match_cmd" "$@"; }
bus="tcp://127.0.0.1:$((GZ_PORT_BASE + 14))"
m="http://127.0.0.1:$((GZ_PORT_BASE + 2))"
gz_seed
# Routing's schema holds the tokens: migrated once by gz-routing.
gz_start routing.log "$GZ_BIN/gz-routing"
gz_wait_ready "http://127.0.0.1:$((GZ_PORT_BASE + 1))"
kill -TERM "$GZ_PID"; gz_reap "$GZ_PID" # (it may exit 1: intake never ran)
building=HGY-B0001
grid=$(gz_sql "SELECT grid_code FROM org.buildings WHERE code = '$building'")
worker=$(gz_sql "SELECT id FROM org.staff WHERE unit_code = '$grid' ORDER BY id LIMIT 1")
staff=$("$GZ_BIN/gzctl" token issue "$worker" 2>/dev/null)
operator=$("$GZ_BIN/gzctl" token operator bus-test 2>/dev/null)
printf 'id,name,skills,grid,availability\nv-1,郑小明,shopping,%s,mon-sun 00:00-24:00\n' "$grid" \
    >"$GZ_TMP/v.csv"
"$GZ_BIN/gzctl" volunteers import "$GZ_TMP/v.csv" >/dev/null 2>&1 || gz_fail "import"
gz_start matching.log "$GZ_BIN/gz-matching"
MATCHING=$GZ_PID
gz_wait_ready "$m"

from=$(TZ=Asia/Shanghai date -d "@$(($(date +%s) + 3600))" '+%Y-%m-%dT%H:%M:%S+08:00')
to=$(TZ=Asia/Shanghai date -d "@$(($(date +%s) + 7200))" '+%Y-%m-%dT%H:%M:%S+08:00')
need=$(curl -fsS -X POST -H "Authorization: Bearer $staff" -H 'Content-Type: application/json' \
    -d "{\"building\":\"$building\",\"contact_name\":\"张奶奶\",\"skill\":\"shopping\",
         \"window\":{\"from\":\"$from\",\"to\":\"$to\"}}" "$m/api/v1/needs" | jq -r .id)
offered() { [ -n "$(gz_sql "SELECT id FROM matching.offers WHERE need_id = $need")" ]; }
gz_wait_for 10 "need $need was not offered" offered
offer=$(gz_sql "SELECT id FROM matching.offers WHERE need_id = $need")
secret=$(gz_sql "SELECT secret FROM matching.offer_secrets WHERE offer_id = $offer")
state() { gz_sql "SELECT state FROM matching.offers WHERE id = $offer"; }
# expect WHAT WANT REPLY: REPLY begins with WANT.
expect() { [[ "$3" == "$2"* ]] || gz_fail "$1: $3"; }
count() { gz_sql "SELECT (SELECT count(*) FROM matching.offers) || ' ' ||
                         (SELECT count(*) FROM matching.services) || ' ' ||
                         (SELECT count(*) FROM matching.outbox)"; }

echo "== a wrong secret, then the right one, then again"
before=$(count)
expect "wrong secret" "ok=0 error=forbidden" "$(cmd "$bus" accept "$offer" not-the-secret)"
expect "no secret, no credential" "ok=0 error=bad_request" "$(cmd "$bus" accept "$offer" -)"
expect "unknown action" "ok=0 error=bad_request" "$(cmd "$bus" cancel "$offer" "$secret")"
expect "bad credential" "ok=0 error=unauthorized" \
    "$(cmd "$bus" accept "$offer" "$secret" "Bearer no-such-token")"
[ "$(state)" = offered ] && [ "$(count)" = "$before" ] || gz_fail "a refused command changed things"
expect "accept" "ok=1 error= state=accepted" "$(cmd "$bus" accept "$offer" "$secret")"
[ "$(state)" = accepted ] || gz_fail "state after accept: $(state)"
[ "$(gz_sql "SELECT count(*) FROM matching.services WHERE offer_id = $offer")" = 1 ] ||
    gz_fail "no service record"
after=$(count)
expect "accept again" "ok=0 error=conflict state=accepted" "$(cmd "$bus" accept "$offer" "$secret")"
expect "decline after accept" "ok=0 error=conflict state=accepted" \
    "$(cmd "$bus" decline "$offer" "$secret")"
[ "$(state)" = accepted ] && [ "$(count)" = "$after" ] || gz_fail "the second answer changed things"
[ "$(gz_sql "SELECT count(*) FROM matching.outbox WHERE type = 'MatchAccepted'")" = 1 ] ||
    gz_fail "not one MatchAccepted event"
# The actor is not held by the bus: an HTTP write right after is answered
# (it once waited in a receive for the next command).
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -X POST -H "Authorization: Bearer $staff" \
    -H 'Content-Type: application/json' -d "{\"building\":\"$building\",\"contact_name\":\"李爷爷\",
    \"skill\":\"shopping\",\"weekly\":\"sat 09:00-10:00\"}" "$m/api/v1/needs") || true
[ "$code" = 201 ] || gz_fail "a need over HTTP after a bus command: $code"
# Its batch offers it too: counted once that is done, not while it runs.
two_offers() { [ "$(gz_sql "SELECT count(*) FROM matching.offers")" = 2 ]; }
gz_wait_for 10 "the second need was not offered" two_offers
after=$(count)

echo "== garbage"
decode_errors() {
    curl -fsS "$m/metrics" | awk '/^gz_decode_errors_total\{source="bus"\}/ {print $2}'
}
[ "$(decode_errors)" = 0 ] || gz_fail "decode errors before: $(decode_errors)"
expect "garbage" "ok=0 error=bad_request" "$(cmd "$bus" --garbage)"
[ "$(decode_errors)" = 1 ] || gz_fail "decode errors after garbage: $(decode_errors)"
[ "$(count)" = "$after" ] || gz_fail "garbage changed things"

echo "== solve"
batches() { gz_sql "SELECT count(*) FROM matching.batches"; }
expect "solve without a credential" "ok=0 error=forbidden" "$(cmd "$bus" solve 0 -)"
expect "solve as staff" "ok=0 error=forbidden" "$(cmd "$bus" solve 0 - "Bearer $staff")"
expect "solve as an operator" "ok=1" "$(cmd "$bus" solve 0 - "Bearer $operator")"
[ "$(batches)" -gt 0 ] || gz_fail "no batch recorded"
gz_stop "$MATCHING" gz-matching
echo "matching_bus: ok"
