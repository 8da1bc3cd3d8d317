#!/usr/bin/env bash
# Notify's stream (stream "notify", NotifyEvent): each delivery that ends
# is one event in notify's outbox, written in the transaction that records
# the end. Staff hear through the log channel (sent at once); residents
# through a webhook nobody listens on, given up after 3 attempts (dead).
# Three requests filed with a phone: one DeliverySent per sent row, one
# DeliveryDead per dead row (not one per attempt), nothing for rows still
# waiting, keys = delivery ids, the payload names the recipient kind and
# the request's grid but never the phone; every event went out on the PUB
# (bus_stream.published = head); and after a restart nothing is added
# twice. Analytics follows the stream: /api/v1/notifications answers, for
# each grid of the three buildings and for the district, the counts worked
# out by hand from which grid each building is in (staff: log, sent;
# residents: webhook, dead), per channel and per day; bad parameters are
# 400, no token 401; gzctl analytics verify finds no difference, and after
# gzctl analytics rebuild the answers are the same.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init notify_stream
gz_createdb
export GZ_PORT_BASE=$((20000 + RANDOM % 10000)) \
    GZ_DEMO_API_KEY=ns-key GZ_DEMO_OPERATOR_TOKEN=ns-operator GZ_BUS_HEARTBEAT_MS=200 \
    GZ_ORG_CHECK_MS=0 GZ_NOTIFY_CONTACT_KEY=ns-contact-key GZ_NOTIFY_QUIET_HOURS=off \
    GZ_NOTIFY_BACKOFF_MS=100 GZ_NOTIFY_BACKOFF_MAX_MS=200 GZ_NOTIFY_MAX_ATTEMPTS=3 \
    GZ_NOTIFY_RESIDENT_CHANNELS=webhook GZ_NOTIFY_STAFF_CHANNELS=log \
    GZ_NOTIFY_RECIPIENT_PER_HOUR=0 GZ_NOTIFY_DIGEST_WINDOW_MS=0
# Nobody listens there: every attempt fails (connection refused).
export GZ_NOTIFY_WEBHOOK_URL="http://127.0.0.1:$((GZ_PORT_BASE + 51))/hook"
gz_seed
gz_start gongzhi.log "$GZ_BIN/gongzhi"
pid=$GZ_PID
web="http://127.0.0.1:$GZ_PORT_BASE"
gz_wait_ready "$web" "http://127.0.0.1:$((GZ_PORT_BASE + 1))" "http://127.0.0.1:$((GZ_PORT_BASE + 3))"

# file BUILDING PHONE: a QR filing; prints its id.
file() {
    local page nonce done_page
    page=$(curl -fsS "$web/q/$1")
    nonce=$(grep -o 'name="nonce" value="[0-9a-f-]*"' <<<"$page" | sed 's/.*value="//; s/"$//')
    done_page=$(curl -sS --data-urlencode "nonce=$nonce" -d service_code=property \
        --data-urlencode "description=楼道灯不亮" -d phone="$2" "$web/q/$1")
    grep -o 'href="/r/[0-9]*?t=' <<<"$done_page" | head -1 | sed 's|href="/r/||; s|?t=||'
}
ids=()
for n in 1 2 3; do
    id=$(file "HGY-B000$n" "1380000$n$n$n$n")
    [ -n "$id" ] || gz_fail "no request id"
    ids+=("$id")
done
in_list="'${ids[0]}','${ids[1]}','${ids[2]}'"
grids=$(gz_sql "SELECT string_agg(quote_literal(grid_code), ',') FROM org.buildings
    WHERE code IN ('HGY-B0001', 'HGY-B0002', 'HGY-B0003')")

# Every row of the three requests ends: staff ones sent, residents' dead.
ended="SELECT count(*) FROM notify.deliveries WHERE request_id IN ($in_list)
    AND state IN ('sent', 'dead', 'skipped')"
all="SELECT count(*) FROM notify.deliveries WHERE request_id IN ($in_list)"
gz_wait_for 30 "the deliveries of the three requests did not all end" \
    bash -c "n=\$(psql -X '$GZ_URL' -qAt -c \"$ended\"); [ \"\$n\" -ge 4 ] && [ \"\$n\" = \"\$(psql -X '$GZ_URL' -qAt -c \"$all\")\" ]"
sent=$(gz_sql "SELECT count(*) FROM notify.deliveries WHERE state = 'sent'")
dead=$(gz_sql "SELECT count(*) FROM notify.deliveries WHERE state = 'dead'")
[ "$(gz_sql "SELECT count(*) FROM notify.deliveries WHERE state = 'dead' AND recipient LIKE 'resident:%' AND attempts = 3")" = 3 ] ||
    gz_fail "expected the 3 residents' rows dead after 3 attempts: $(gz_sql "SELECT id, recipient, state, attempts FROM notify.deliveries")"
[ "$sent" -ge 1 ] || gz_fail "no staff message sent"

# check: the outbox holds exactly one event per ended row, of its kind.
check() {
    local events bad
    events=$(gz_sql "SELECT count(*) FROM notify.outbox WHERE stream = 'notify'")
    [ "$events" = "$((sent + dead))" ] ||
        gz_fail "$events events for $sent sent and $dead dead: $(gz_sql "SELECT position, type, key FROM notify.outbox")"
    bad=$(gz_sql "SELECT count(*) FROM notify.deliveries d WHERE d.state IN ('sent', 'dead')
        AND (SELECT count(*) FROM notify.outbox o WHERE o.stream = 'notify' AND o.key = d.id::text
             AND o.type = CASE d.state WHEN 'sent' THEN 'DeliverySent' ELSE 'DeliveryDead' END) <> 1")
    [ "$bad" = 0 ] || gz_fail "$bad ended rows without exactly one event of their kind"
    [ "$(gz_sql "SELECT count(*) FROM notify.outbox WHERE stream = 'notify'
        AND type NOT IN ('DeliverySent', 'DeliveryDead')")" = 0 ] || gz_fail "unexpected event types"
}
check
# Positions gap-free from 1; all published on the PUB.
[ "$(gz_sql "SELECT min(position) = 1 AND max(position) = count(*) FROM notify.outbox WHERE stream = 'notify'")" = t ] ||
    gz_fail "positions not gap-free"
gz_wait_for 10 "not every event was published" bash -c \
    "[ \"\$(psql -X '$GZ_URL' -qAt -c \"SELECT published = head FROM notify.bus_stream WHERE stream = 'notify'\")\" = t ]"
# The payload: the recipient kind, the channel, the grid; never the phone.
[ "$(gz_sql "SELECT count(*) FROM notify.outbox WHERE type = 'DeliveryDead'
    AND position('resident'::bytea IN payload) > 0 AND position('webhook'::bytea IN payload) > 0
    AND EXISTS (SELECT 1 FROM unnest(ARRAY[$grids]) g
                WHERE position(convert_to(g, 'UTF8') IN payload) > 0)")" = 3 ] ||
    gz_fail "the dead events do not name resident, webhook and the grid"
[ "$(gz_sql "SELECT count(*) FROM notify.outbox WHERE type = 'DeliverySent'
    AND position('staff'::bytea IN payload) > 0 AND position('log'::bytea IN payload) > 0")" = "$sent" ] ||
    gz_fail "the sent events do not name staff and log"
[ "$(gz_sql "SELECT count(*) FROM notify.outbox WHERE position('13800'::bytea IN payload) > 0")" = 0 ] ||
    gz_fail "a phone number is on the stream"
echo "stream: $sent DeliverySent, $dead DeliveryDead, one per ended delivery"

# Analytics: hand-computed counts per grid (k of the three buildings in
# it: k staff messages sent on the log, k residents' dead on the webhook).
aapi="http://127.0.0.1:$((GZ_PORT_BASE + 4))/api/v1"
op="Authorization: Bearer ns-operator"
today=$(TZ=Asia/Shanghai date +%F)
notifications() { curl -fsS -H "$op" "$aapi/notifications?node=$1&from=$today&to=$today"; }
want() { # want K: the answer for a node with K of the buildings under it
    jq -cnS --arg d "$today" --argjson k "$1" '{sent: $k, dead: $k, skipped: 0,
        channels: {log: {sent: $k, dead: 0, skipped: 0}, webhook: {sent: 0, dead: $k, skipped: 0}},
        daily: [{day: $d, sent: $k, dead: $k, skipped: 0}]}'
}
got() { notifications "$1" | jq -cS '{sent, dead, skipped, channels, daily}'; }
sub=$(gz_sql "SELECT c.parent_code FROM org.buildings b JOIN org.units g ON g.code = b.grid_code
    JOIN org.units c ON c.code = g.parent_code WHERE b.code = 'HGY-B0001'")
district=$(gz_sql "SELECT parent_code FROM org.units WHERE code = '$sub'")
gz_wait_for 20 "analytics did not count notify's stream: $(notifications "$district")" \
    bash -c "[ \"\$(curl -fsS -H '$op' '$aapi/notifications?node=$district&from=$today&to=$today' | jq -c '[.sent, .dead]')\" = '[3,3]' ]"
declare -A answers
answers[$district]=$(got "$district")
[ "${answers[$district]}" = "$(want 3)" ] || gz_fail "district: ${answers[$district]}"
for g in $(gz_sql "SELECT DISTINCT grid_code FROM org.buildings
    WHERE code IN ('HGY-B0001', 'HGY-B0002', 'HGY-B0003')"); do
    k=$(gz_sql "SELECT count(*) FROM org.buildings WHERE grid_code = '$g'
        AND code IN ('HGY-B0001', 'HGY-B0002', 'HGY-B0003')")
    answers[$g]=$(got "$g")
    [ "${answers[$g]}" = "$(want "$k")" ] || gz_fail "grid $g (k=$k): ${answers[$g]}"
done
# Another day counts nothing.
[ "$(curl -fsS -H "$op" "$aapi/notifications?node=$district&from=2020-01-01&to=2020-01-31" |
    jq -c '[.sent, .dead, .skipped, .channels, .daily]')" = '[0,0,0,{},[]]' ] ||
    gz_fail "a past month is not empty"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code -H "$op" "$aapi/notifications?node=$district&from=2026-13-01&to=$today")" = 400 ] ||
    gz_fail "a bad date is not 400"
[ "$(code -H "$op" "$aapi/notifications?node=NO-SUCH&from=$today&to=$today")" = 400 ] ||
    gz_fail "an unknown node is not 400"
[ "$(code "$aapi/notifications?node=$district&from=$today&to=$today")" = 401 ] ||
    gz_fail "no token is not 401"
"$GZ_BIN/gzctl" analytics verify >"$GZ_TMP/verify.out" 2>&1 ||
    gz_fail "verify: $(cat "$GZ_TMP/verify.out")"
"$GZ_BIN/gzctl" analytics rebuild >"$GZ_TMP/rebuild.out" 2>&1 ||
    gz_fail "rebuild: $(cat "$GZ_TMP/rebuild.out")"
grep -q "and $((sent + dead)) notify events" "$GZ_TMP/rebuild.out" ||
    gz_fail "rebuild did not replay notify's events: $(cat "$GZ_TMP/rebuild.out")"
for n in "${!answers[@]}"; do
    [ "$(got "$n")" = "${answers[$n]}" ] || gz_fail "after rebuild $n: $(got "$n")"
done
"$GZ_BIN/gzctl" analytics verify >"$GZ_TMP/verify.out" 2>&1 ||
    gz_fail "verify after rebuild: $(cat "$GZ_TMP/verify.out")"
# A count changed by hand is found.
gz_sql "UPDATE analytics.notify_daily SET sent = sent + 1 WHERE node = '$district'" >/dev/null
"$GZ_BIN/gzctl" analytics verify >"$GZ_TMP/verify.out" 2>&1 && gz_fail "verify missed a changed count"
grep -q "notify" "$GZ_TMP/verify.out" || gz_fail "verify: $(cat "$GZ_TMP/verify.out")"
gz_sql "UPDATE analytics.notify_daily SET sent = sent - 1 WHERE node = '$district'" >/dev/null
echo "analytics: /api/v1/notifications as counted by hand; verify and rebuild agree"

# A restart re-publishes nothing new into the outbox and ends nothing twice.
gz_stop "$pid" gongzhi
gz_start gongzhi2.log "$GZ_BIN/gongzhi"
pid=$GZ_PID
gz_wait_ready "$web" "http://127.0.0.1:$((GZ_PORT_BASE + 3))"
sleep 0.5 # let the workers look once more (nothing is due: nothing may change)
check
gz_stop "$pid" gongzhi
echo "test_notify_stream: ok"
