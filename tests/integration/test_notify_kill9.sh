#!/usr/bin/env bash
# test_notify_kill9: no notification lost, none doubled at a receiver that
# counts by Idempotency-Key, when gz-notify is killed with SIGKILL at random
# while about 2,000 notifications flow. gz-intake, gz-routing and gz-notify
# run as separate processes; 1,000 requests with a phone are filed on
# Open311 (one per building, so none merges), each routed: the resident and
# the assignee hear it, about 2,000 deliveries to a real webhook receiver
# (tests/tools/gz_webhook_sink). Meanwhile gz-notify is killed every
# 0.2-1.1 s (mid-consume, mid-claim, mid-send) and started again. Then,
# with the last start left running:
#  - every request's resident got exactly one delivery row for "routed",
#    and every row was sent;
#  - the receiver saw every row's key, and no key that is not a row's;
#  - the number of repeats it saw (a send cut off after the receiver took
#    it but before notify recorded it) is printed; a receiver that drops
#    repeated keys sees each notification once;
#  - notify's stream holds exactly one DeliverySent per delivery (the end
#    and its event commit together, once, whatever was repeated).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init nkill9
gz_createdb
KILL_S=${GZ_KILL9_SECONDS:-15}
N=${GZ_NOTIFY_KILL9_REQUESTS:-1000}
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) GZ_API_KEYS=k9=k9-key GZ_INTAKE_RATE=0 \
       GZ_LOG_LEVEL=warn GZ_BUS_HEARTBEAT_MS=200 GZ_ORG_CHECK_MS=0 \
       GZ_NOTIFY_CONTACT_KEY=k9-contact GZ_NOTIFY_QUIET_HOURS=off GZ_NOTIFY_BACKOFF_MS=100 \
       GZ_NOTIFY_BACKOFF_MAX_MS=500 GZ_NOTIFY_MAX_ATTEMPTS=100 GZ_NOTIFY_DIGEST_WINDOW_MS=0 \
       GZ_NOTIFY_RECIPIENT_PER_HOUR=0
sink_port=$((GZ_PORT_BASE + 50))
export GZ_NOTIFY_WEBHOOK_URL="http://127.0.0.1:$sink_port/hook"
gz_seed
out=$GZ_TMP/received.tsv
touch "$out"
gz_start sink.log "$GZ_BUILD_DIR/tests/gz_webhook_sink" "$sink_port" "$out"
gz_wait_for 10 "the webhook sink did not start" grep -q listening "$GZ_TMP/sink.log"
gz_start intake.log "$GZ_BIN/gz-intake"
gz_start routing.log "$GZ_BIN/gz-routing"
start_notify() {
    gz_start notify.log "$GZ_BIN/gz-notify"
    npid=$GZ_PID
}
start_notify
web="http://127.0.0.1:$GZ_PORT_BASE"
gz_wait_ready "$web" "http://127.0.0.1:$((GZ_PORT_BASE + 1))" "http://127.0.0.1:$((GZ_PORT_BASE + 3))"

# File N requests, 16 at a time, in the background.
gz_sql "SELECT code FROM org.buildings ORDER BY code LIMIT $N" >"$GZ_TMP/buildings"
file_all() {
    local i=0 code
    while read -r code; do
        i=$((i + 1))
        curl -fsS -o /dev/null -d api_key=k9-key -d service_code=property -d "address_id=$code" \
            --data-urlencode "description=楼道灯不亮 $i" -d "phone=1380000$(printf %04d "$i")" \
            "$web/open311/v2/requests.json" &
        [ $((i % 16)) -eq 0 ] && wait
    done <"$GZ_TMP/buildings"
    wait
}
file_all &
filer=$!

kills=0
end=$(( $(date +%s) + KILL_S ))
while [ "$(date +%s)" -lt "$end" ]; do
    sleep "0.$(( 2 + RANDOM % 10 ))"
    gz_kill9 "$npid"
    kills=$((kills + 1))
    start_notify
done
wait "$filer" || gz_fail "filing the requests failed"
echo "killed gz-notify $kills times"
filed=$(gz_sql "SELECT count(*) FROM intake.requests")
[ "$filed" = "$N" ] || gz_fail "$filed of $N requests were filed"

# The last start runs to the end: everything routed is planned and sent.
rows() { gz_sql "SELECT count(*) FROM notify.deliveries WHERE template = 'routed.resident'"; }
gz_wait_for 120 "not every request's resident was planned ($(rows) of $N)" \
    bash -c "[ \"\$(psql -X '$GZ_URL' -qAt -c \"SELECT count(*) FROM notify.deliveries WHERE template = 'routed.resident'\")\" = $N ]"
gz_wait_for 120 "not everything was sent" \
    bash -c "[ \"\$(psql -X '$GZ_URL' -qAt -c \"SELECT count(*) FROM notify.deliveries WHERE state <> 'sent'\")\" = 0 ]"
twice=$(gz_sql "SELECT count(*) FROM (SELECT request_id FROM notify.deliveries
                 WHERE template = 'routed.resident' GROUP BY 1 HAVING count(*) > 1) d")
[ "$twice" = 0 ] || gz_fail "$twice requests' residents have two routed rows"
total=$(gz_sql "SELECT count(*) FROM notify.deliveries")
gz_sql "SELECT key FROM notify.deliveries ORDER BY 1" >"$GZ_TMP/rows.keys"
cut -f1 "$out" | sort -u >"$GZ_TMP/seen.keys"
missing=$(comm -23 "$GZ_TMP/rows.keys" "$GZ_TMP/seen.keys" | wc -l)
extra=$(comm -13 "$GZ_TMP/rows.keys" "$GZ_TMP/seen.keys" | wc -l)
[ "$missing" = 0 ] || gz_fail "$missing deliveries never reached the receiver"
[ "$extra" = 0 ] || gz_fail "$extra keys the receiver saw are no delivery's"
# Notify's stream: however often a send was repeated after a kill, each
# delivery ended once, so it is exactly one DeliverySent in the outbox.
events=$(gz_sql "SELECT count(*) FROM notify.outbox WHERE stream = 'notify' AND type = 'DeliverySent'")
keys=$(gz_sql "SELECT count(DISTINCT key) FROM notify.outbox WHERE stream = 'notify'")
[ "$events" = "$total" ] && [ "$keys" = "$total" ] ||
    gz_fail "$events DeliverySent events ($keys keys) for $total deliveries"
repeats=$(( $(wc -l <"$out") - $(wc -l <"$GZ_TMP/seen.keys") ))
echo "test_notify_kill9: ok ($N requests, $total deliveries, each key received and one event each on the stream; $repeats repeats of a key after a kill, $kills kills)"
