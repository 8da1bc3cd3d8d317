#!/usr/bin/env bash
# Offers reach volunteers through notify (issue 10), through the all-in-one
# binary with a real webhook receiver (tests/tools/gz_webhook_sink): a
# volunteer registered with a phone is offered a household's need; notify
# follows matching's stream and the volunteer gets exactly one message
# (offered.volunteer) with the place and their answer link, whose phone and
# link notify got from matching's keyed path when it sent; the token in the
# message accepts the offer. An offer answered before its message could go
# (the receiver down, the message retrying) is skipped, never sent stale.
# The phone is nowhere in notify's tables or the log.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init notify_matching
gz_createdb
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) \
       GZ_DEMO_API_KEY=nm-key GZ_DEMO_OPERATOR_TOKEN=nm-operator GZ_BUS_HEARTBEAT_MS=200 \
       GZ_ORG_CHECK_MS=0 GZ_NOTIFY_CONTACT_KEY=nm-contact-key GZ_NOTIFY_QUIET_HOURS=off \
       GZ_NOTIFY_BACKOFF_MS=200 GZ_NOTIFY_BACKOFF_MAX_MS=400 GZ_NOTIFY_MAX_ATTEMPTS=100 \
       GZ_MATCHING_BATCH_MS=200 GZ_MATCHING_PUBLIC_URL=https://gz.example.cn
sink_port=$((GZ_PORT_BASE + 50))
export GZ_NOTIFY_WEBHOOK_URL="http://127.0.0.1:$sink_port/hook"
gz_seed
out=$GZ_TMP/received.tsv
touch "$out"
start_sink() {
    gz_start sink.log "$GZ_BUILD_DIR/tests/gz_webhook_sink" "$sink_port" "$out"
    sink=$GZ_PID
    gz_wait_for 10 "the webhook sink did not start" grep -q listening "$GZ_TMP/sink.log"
}
start_sink
gz_start gongzhi.log "$GZ_BIN/gongzhi"
m="http://127.0.0.1:$((GZ_PORT_BASE + 2))"
api="$m/api/v1"
gz_wait_ready "http://127.0.0.1:$GZ_PORT_BASE" "$m" "http://127.0.0.1:$((GZ_PORT_BASE + 3))"

building=HGY-B0001
place=$(gz_sql "SELECT name FROM org.buildings WHERE code = '$building'")
grid=$(gz_sql "SELECT grid_code FROM org.buildings WHERE code = '$building'")
worker=$(gz_sql "SELECT id FROM org.staff WHERE unit_code = '$grid' ORDER BY id LIMIT 1")
staff="Authorization: Bearer $("$GZ_BIN/gzctl" token issue "$worker" 2>/dev/null)"
phone=13912345678
post() { # PATH JSON [AUTH]: the status; the body in $GZ_TMP/body
    curl -sS -o "$GZ_TMP/body" -w '%{http_code}' -X POST -H "${3:-$staff}" \
        -H 'Content-Type: application/json' -d "$2" "$api/$1" || true
}
body() { cat "$GZ_TMP/body"; }
at() { TZ=Asia/Shanghai date -d "@$(( $(date +%s) + $1 ))" '+%Y-%m-%dT%H:%M:%S+08:00'; }
need() { # the new need's id in $need
    local code
    code=$(post needs "{\"building\":\"$building\",\"contact_name\":\"张奶奶\",\"phone\":\"13900001111\",
        \"skill\":\"shopping\",\"window\":{\"from\":\"$(at 3600)\",\"to\":\"$(at 7200)\"}}")
    [ "$code" = 201 ] || gz_fail "need: $code $(body)"
    need=$(jq -r .id <<<"$(body)")
}
offer_of() { gz_sql "SELECT coalesce(max(id), 0) FROM matching.offers WHERE need_id = $1"; }
offered() { [ "$(offer_of "$1")" != 0 ]; }
received() { awk -F'\t' -v r="volunteer:v-zheng" -v t=offered.volunteer '$3 == r && $4 == t' "$out"; }
has() { [ "$(received | wc -l)" -ge "$1" ]; }

# 1. One volunteer with a phone; a need is offered to them; they hear it once.
code=$(post volunteers "{\"id\":\"v-zheng\",\"name\":\"郑小明\",\"skills\":[\"shopping\"],
    \"grid\":\"$grid\",\"availability\":\"mon-sun 00:00-24:00\",\"max_per_week\":5,\"phone\":\"$phone\"}")
[ "$code" = 201 ] || gz_fail "volunteer: $code $(body)"
need
gz_wait_for 15 "need $need was not offered" offered "$need"
o1=$(offer_of "$need")
gz_wait_for 20 "the volunteer did not hear of offer $o1" has 1
sleep 1
[ "$(received | wc -l)" = 1 ] || gz_fail "received $(received | wc -l) offers: $(received)"
line=$(received)
text=$(cut -f6 <<<"$line")
grep -q "$place" <<<"$text" || gz_fail "the text lacks the place $place: $text"
grep -q "郑小明" <<<"$text" || gz_fail "the text lacks the name: $text"
grep -q "https://gz.example.cn/o/$o1?t=" <<<"$text" || gz_fail "the text lacks the answer link: $text"
[ "$(cut -f5 <<<"$line")" = "$(grep -o 'https://[^ ]*' <<<"$text")" ] || gz_fail "link field: $line"
grep -q "^matching:[0-9]*:volunteer:v-zheng:webhook$" <<<"$(cut -f1 <<<"$line")" ||
    gz_fail "key: $line"
echo "offer $o1 heard: $text"

# 2. The token in the message accepts the offer.
token=$(grep -o "/o/$o1?t=[0-9a-f]*" <<<"$text" | sed 's/.*?t=//')
[ -n "$token" ] || gz_fail "no token in $text"
code=$(post "offers/$o1/accept" "{\"token\":\"$token\"}" "X-None: 1")
[ "$code" = 200 ] || gz_fail "accept with the message's token: $code $(body)"
[ "$(gz_sql "SELECT state FROM matching.offers WHERE id = $o1")" = accepted ] || gz_fail "not accepted"
[ "$(gz_sql "SELECT state FROM notify.deliveries WHERE event = 'offered'")" = sent ] ||
    gz_fail "delivery: $(gz_sql "SELECT state, last_error FROM notify.deliveries")"

# 3. The receiver is down when the next offer is made: its message retries;
#    the volunteer declines meanwhile (their link, from matching's path):
#    the message is skipped, and never arrives once the receiver is back.
kill -TERM "$sink"; gz_reap "$sink"
need
gz_wait_for 15 "need $need was not offered" offered "$need"
o2=$(offer_of "$need")
retrying() {
    [ "$(gz_sql "SELECT count(*) FROM notify.deliveries WHERE event = 'offered'
                 AND vars->>'offer_id' = '$o2' AND state IN ('failed', 'sending')
                 AND attempts >= 1")" = 1 ]
}
gz_wait_for 20 "offer $o2's message is not being retried" retrying
t2=$(curl -fsS -H "Authorization: Bearer nm-contact-key" "$m/internal/v1/offers/$o2" |
    jq -r .link | sed 's/.*?t=//')
code=$(post "offers/$o2/decline" "{\"token\":\"$t2\"}" "X-None: 1")
[ "$code" = 200 ] || gz_fail "decline: $code $(body)"
skipped() {
    [ "$(gz_sql "SELECT state FROM notify.deliveries WHERE vars->>'offer_id' = '$o2'")" = skipped ]
}
gz_wait_for 20 "offer $o2's message was not skipped" skipped
gz_sql "SELECT last_error FROM notify.deliveries WHERE vars->>'offer_id' = '$o2'" |
    grep -q declined || gz_fail "skipped without the reason"
start_sink
sleep 1
[ "$(received | wc -l)" = 1 ] || gz_fail "a stale offer was sent: $(received)"
echo "offer $o2 declined before its message went: skipped"

# 4. The phone is nowhere in notify's tables or the log.
dump=$(gz_sql "SELECT d::text FROM notify.deliveries d")
grep -q "$phone" <<<"$dump" && gz_fail "the phone is in notify.deliveries"
grep -q "$phone" "$GZ_TMP/gongzhi.log" && gz_fail "the phone is in the log"
grep -q "$token" "$GZ_TMP/gongzhi.log" && gz_fail "the offer's secret is in the log"
echo "ok"
