#!/usr/bin/env bash
# Notify through the all-in-one binary, as a resident and a grid worker
# would live it, with a real webhook receiver (tests/tools/gz_webhook_sink):
# a request filed on the QR page with a phone is routed, and both the
# resident (with the status link, whose contact notify got from intake's
# narrow path) and the grid worker hear it, once each; the receiver goes
# down while the worker resolves it and everything arrives once it is back;
# a receiver that refuses (400) dead-letters, gzctl notify dead lists it and
# gzctl notify retry sends it again; the deliveries API shows each state.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init notify
gz_createdb
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) \
       GZ_DEMO_API_KEY=notify-key GZ_DEMO_OPERATOR_TOKEN=notify-operator GZ_BUS_HEARTBEAT_MS=200 \
       GZ_ORG_CHECK_MS=0 GZ_NOTIFY_CONTACT_KEY=notify-contact-key GZ_NOTIFY_QUIET_HOURS=off \
       GZ_NOTIFY_BACKOFF_MS=200 GZ_NOTIFY_BACKOFF_MAX_MS=400 GZ_NOTIFY_MAX_ATTEMPTS=100 \
       GZ_NOTIFY_WEBHOOK_SECRET=notify-secret
sink_port=$((GZ_PORT_BASE + 50))
export GZ_NOTIFY_WEBHOOK_URL="http://127.0.0.1:$sink_port/hook"
gz_seed
out=$GZ_TMP/received.tsv
control=$GZ_TMP/control
touch "$out"

start_sink() {
    gz_start sink.log "$GZ_BUILD_DIR/tests/gz_webhook_sink" "$sink_port" "$out" "$control"
    sink=$GZ_PID
    gz_wait_for 10 "the webhook sink did not start" grep -q listening "$GZ_TMP/sink.log"
}
start_sink
gz_start gongzhi.log "$GZ_BIN/gongzhi"
pid=$GZ_PID
web="http://127.0.0.1:$GZ_PORT_BASE"
api="http://127.0.0.1:$((GZ_PORT_BASE + 1))/api/v1"
napi="http://127.0.0.1:$((GZ_PORT_BASE + 3))/api/v1"
auth="Authorization: Bearer notify-operator"
gz_wait_ready "$web" "${api%/api/v1}" "${napi%/api/v1}"

# received RECIPIENT TEMPLATE: how many lines the sink recorded for them.
received() { awk -F'\t' -v r="$1" -v t="$2" '$3 == r && $4 == t' "$out" | wc -l; }
has() { [ "$(received "$1" "$2")" -ge 1 ]; }

# 1. A resident files on the QR page with a phone; routing assigns it.
page=$(curl -fsS "$web/q/HGY-B0001")
nonce=$(grep -o 'name="nonce" value="[0-9a-f-]*"' <<<"$page" | sed 's/.*value="//; s/"$//')
done_page=$(curl -sS --data-urlencode "nonce=$nonce" -d service_code=property \
    --data-urlencode "description=5单元电梯停运" -d phone=13800005678 "$web/q/HGY-B0001")
id=$(grep -o 'href="/r/[0-9]*?t=' <<<"$done_page" | head -1 | sed 's|href="/r/||; s|?t=||')
[ -n "$id" ] || gz_fail "no request id"
secret=$(gz_sql "SELECT secret FROM intake.requests WHERE id = $id")

# 2. Intake's narrow path: only notify's key opens it, and it holds the phone.
code=$(curl -s -o /dev/null -w '%{http_code}' "$web/internal/v1/contacts/$id")
[ "$code" = 404 ] || gz_fail "contacts without the key: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong" \
    "$web/internal/v1/contacts/$id")
[ "$code" = 404 ] || gz_fail "contacts with a wrong key: $code"
contact=$(curl -fsS -H "Authorization: Bearer notify-contact-key" "$web/internal/v1/contacts/$id")
[ "$(jq -r .phone <<<"$contact")" = 13800005678 ] || gz_fail "contact: $contact"
[ "$(jq -r .status_path <<<"$contact")" = "/r/$id?t=$secret" ] || gz_fail "contact: $contact"

# 3. Routed: the resident and the grid worker hear it, once each.
gz_wait_for 20 "the resident did not hear the routing" has "resident:$id" routed.resident
view=$(curl -fsS -H "$auth" "$api/requests/$id")
worker=$(jq -r .assignee.staff_id <<<"$view")
gz_wait_for 20 "the grid worker did not hear of new work" has "staff:$worker" routed.assignee
line=$(awk -F'\t' -v r="resident:$id" '$3 == r' "$out" | head -1)
grep -q "/r/$id?t=$secret" <<<"$line" || gz_fail "the resident's message has no status link: $line"
grep -q "$id" <<<"$(cut -f6 <<<"$line")" || gz_fail "the resident's text lacks the number: $line"
grep -q 13800005678 "$GZ_TMP/gongzhi.log" && gz_fail "the phone number appears in the log"
echo "routed: resident and $worker notified"

# 4. The receiver is down while the worker accepts, verifies, starts and
#    resolves: the resident's "resolved" waits and arrives once it is back.
kill -TERM "$sink"; gz_reap "$sink"
wtoken=$("$GZ_BIN/gzctl" token issue "$worker" 2>/dev/null)
act() {
    curl -fsS -X POST -H "Authorization: Bearer $wtoken" -H 'Content-Type: application/json' \
        -d "$2" "$api/requests/$id/$1" >/dev/null || gz_fail "action $1"
}
act accept '{}'
act verify '{"outcome":"reached"}'
act start '{}'
act resolve '{"result":"电梯已修复"}'
sleep 2
has "resident:$id" resolved.resident && gz_fail "delivered while the receiver was down"
# Being retried: at least two attempts so far, waiting for the next one or
# in it (a check at one instant may fall on either).
retried() {
    [ "$(gz_sql "SELECT count(*) FROM notify.deliveries WHERE request_id = '$id'
                 AND template = 'resolved.resident' AND state IN ('failed', 'sending')
                 AND attempts >= 2")" = 1 ]
}
gz_wait_for 20 "the resolved notice is not being retried" retried
start_sink
gz_wait_for 20 "resolved not delivered after the receiver came back" \
    has "resident:$id" resolved.resident
sleep 1
for t in routed.resident resolved.resident; do
    [ "$(received "resident:$id" "$t")" = 1 ] || gz_fail "$t received $(received "resident:$id" "$t") times"
done
dups=$(cut -f1 "$out" | sort | uniq -d | wc -l)
[ "$dups" = 0 ] || gz_fail "$dups keys received twice"
echo "outage: everything arrived once"

# 5. The deliveries API: the operator sees the request's deliveries, sent.
list=$(curl -fsS -H "$auth" "$napi/notifications?request_id=$id")
[ "$(jq '[.[] | select(.template == "resolved.resident")][0].state' -r <<<"$list")" = sent ] ||
    gz_fail "API: $list"
jq -e 'all(.[]; has("text") | not)' <<<"$list" >/dev/null || gz_fail "the API shows message text"
code=$(curl -s -o /dev/null -w '%{http_code}' "$napi/notifications?request_id=$id")
[ "$code" = 401 ] || gz_fail "no token: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $wtoken" \
    "$napi/notifications?recipient=resident:$id")
[ "$code" = 403 ] || gz_fail "a worker reading a resident's deliveries: $code"

# 6. A receiver that refuses (400): dead at once; gzctl lists it and
#    sends it again once the receiver takes it.
echo 400 >"$control"
curl -fsS -X POST -H 'Content-Type: application/json' -d '{"score":5,"satisfied":true}' \
    "$api/requests/$id/rate?t=$secret" >/dev/null || gz_fail "rate"
gz_wait_for 20 "no dead letter" \
    bash -c "[ \"\$(psql -X '$GZ_URL' -qAt -c \"SELECT count(*) FROM notify.deliveries WHERE state = 'dead'\")\" -ge 1 ]"
"$GZ_BIN/gzctl" notify dead >"$GZ_TMP/dead.txt" || gz_fail "gzctl notify dead"
grep -q "1 dead delivery\|dead deliveries" "$GZ_TMP/dead.txt" || gz_fail "dead: $(cat "$GZ_TMP/dead.txt")"
grep -q "HTTP 400\|400" "$GZ_TMP/dead.txt" || gz_fail "dead without its error: $(cat "$GZ_TMP/dead.txt")"
rm -f "$control"
"$GZ_BIN/gzctl" notify retry --all >/dev/null || gz_fail "gzctl notify retry"
gz_wait_for 20 "the retried notice did not arrive" \
    bash -c "[ \"\$(psql -X '$GZ_URL' -qAt -c \"SELECT count(*) FROM notify.deliveries WHERE state = 'dead'\")\" = 0 ]"
"$GZ_BIN/gzctl" notify retry 999999 >/dev/null 2>&1 && gz_fail "retry of no such delivery succeeded"
echo "dead letters: listed and sent again"

# file CATEGORY: a QR filing with a phone in HGY-B0002; its id in $fid.
file() {
    local page nonce donep
    page=$(curl -fsS "$web/q/HGY-B0002")
    nonce=$(grep -o 'name="nonce" value="[0-9a-f-]*"' <<<"$page" | sed 's/.*value="//; s/"$//')
    donep=$(curl -sS --data-urlencode "nonce=$nonce" -d "service_code=$1" \
        --data-urlencode "description=测试 $1" -d phone=13900001111 "$web/q/HGY-B0002")
    fid=$(grep -o 'href="/r/[0-9]*?t=' <<<"$donep" | head -1 | sed 's|href="/r/||; s|?t=||')
    [ -n "$fid" ] || gz_fail "no id for the $1 filing"
}
# row_of ID TEMPLATE: "channel state due-in-minutes" of the request's row.
row_of() {
    gz_sql "SELECT channel || ' ' || state || ' ' || round(extract(epoch FROM due_at - now()) / 60)
            FROM notify.deliveries WHERE request_id = '$1' AND template = '$2'"
}
escalate() {
    curl -fsS -X POST -H "$auth" -H 'Content-Type: application/json' -d '{"reason":"测试"}' \
        "$api/requests/$1/escalate" >/dev/null || gz_fail "escalate $1"
}

# 7. Preferences: every staff member opts out of what is not essential and
#    prefers the log. New work is then not announced to them; an escalation
#    (essential) is, on the log; the resident still hears the routing.
gz_sql "INSERT INTO notify.preferences (person, channels, opt_out)
        SELECT 'staff:' || id, '{log}', true FROM org.staff" >/dev/null
file sanitation
gz_wait_for 20 "the resident of $fid was not notified" has "resident:$fid" routed.resident
sleep 1
[ -z "$(row_of "$fid" routed.assignee)" ] || gz_fail "an opted-out worker got new work: $(row_of "$fid" routed.assignee)"
escalate "$fid"
gz_wait_for 20 "the escalation was not announced" \
    bash -c "psql -X '$GZ_URL' -qAt -c \"SELECT state FROM notify.deliveries WHERE request_id = '$fid' AND template = 'escalated.next_rung'\" | grep -qx sent"
[ "$(row_of "$fid" escalated.next_rung | cut -d' ' -f1)" = log ] || gz_fail "escalation not on the preferred log"
grep -q "msg=\"notification\".*template=escalated.next_rung" "$GZ_TMP/gongzhi.log" ||
    gz_fail "no log line for the escalation"
echo "preferences: opt-out and channel order honoured"
gz_stop "$pid" gongzhi

# 8. Quiet hours around now (China time) and a plan directory of our own.
now_min=$(( ( $(date -u +%s) / 60 + 8 * 60 ) % 1440 ))
hm() { printf '%02d:%02d' $(( ($1 + 1440) % 1440 / 60 )) $(( ($1 + 1440) % 60 )); }
export GZ_NOTIFY_QUIET_HOURS="$(hm $((now_min - 60)))-$(hm $((now_min + 60)))"
cp -r "$GZ_SOURCE_DIR/services/notify/plan" "$GZ_TMP/plan"
export GZ_NOTIFY_PLAN=$GZ_TMP/plan
gz_sql "DELETE FROM notify.preferences" >/dev/null
gz_start gongzhi2.log "$GZ_BIN/gongzhi"
pid=$GZ_PID
gz_wait_ready "$web" "${api%/api/v1}" "${napi%/api/v1}"
file noise
gz_wait_for 20 "no row for the resident of $fid" bash -c "[ -n \"\$(psql -X '$GZ_URL' -qAt -c \"SELECT 1 FROM notify.deliveries WHERE request_id = '$fid' AND template = 'routed.resident'\")\" ]"
read -r _ state mins <<<"$(row_of "$fid" routed.resident)"
[ "$state" = queued ] && [ "$mins" -ge 55 ] ||
    gz_fail "inside quiet hours the resident's message should wait about an hour: $state in $mins min"
escalate "$fid"
gz_wait_for 20 "an urgent escalation waited for the quiet hours" \
    bash -c "psql -X '$GZ_URL' -qAt -c \"SELECT state FROM notify.deliveries WHERE request_id = '$fid' AND template = 'escalated.next_rung'\" | grep -qx sent"
echo "quiet hours ($GZ_NOTIFY_QUIET_HOURS): the resident waits, the escalation does not"

# 9. SIGHUP reloads the plan: a template with an unknown variable is refused
#    with file:line and the old one stays; a good change is used.
echo "{no_such_variable}" >>"$GZ_TMP/plan/templates/escalated.next_rung.txt"
kill -HUP "$pid"
gz_wait_for 10 "the bad plan was not refused with file:line" \
    grep -q 'plan refused.*escalated.next_rung.txt:[0-9]' "$GZ_TMP/gongzhi2.log"
cp "$GZ_SOURCE_DIR/services/notify/plan/templates/escalated.next_rung.txt" "$GZ_TMP/plan/templates/"
sed -i '$ s/$/【已重新加载】/' "$GZ_TMP/plan/templates/escalated.next_rung.txt"
kill -HUP "$pid"
gz_wait_for 10 "the good plan was not loaded" \
    bash -c "[ \$(grep -c 'plan and directory loaded' '$GZ_TMP/gongzhi2.log') -ge 2 ]"
unset GZ_NOTIFY_QUIET_HOURS
file parking
escalate "$fid"
gz_wait_for 20 "the reloaded template was not used" grep -q "已重新加载" "$out"
echo "plan reload: refused with file:line, then the new text"

gz_stop "$pid" gongzhi

# 10. Digests: with a 3 s window, a staff member's first new work goes at
#     once and the next two, inside the window, go together as one message.
unset GZ_NOTIFY_PLAN
export GZ_NOTIFY_QUIET_HOURS=off GZ_NOTIFY_DIGEST_WINDOW_MS=3000
gz_start gongzhi3.log "$GZ_BIN/gongzhi"
pid=$GZ_PID
gz_wait_ready "$web" "${api%/api/v1}" "${napi%/api/v1}"
community=$(gz_sql "SELECT g.parent_code FROM org.buildings b JOIN org.units g ON g.code = b.grid_code
                    WHERE b.code = 'HGY-B0001'")
gz_sql "SELECT b.code FROM org.buildings b JOIN org.units g ON g.code = b.grid_code
        WHERE g.parent_code = '$community' ORDER BY b.code OFFSET 3 LIMIT 3" >"$GZ_TMP/digest.b"
sleep 3.5 # nothing sent to anyone in the last window
ids=()
while read -r b; do
    r=$(curl -fsS -d api_key=notify-key -d service_code=property -d "address_id=$b" \
        --data-urlencode "description=电梯异响 $b" -d phone=13900002222 "$web/open311/v2/requests.json")
    ids+=("$(jq -r '.[0].service_request_id' <<<"$r")")
done <"$GZ_TMP/digest.b"
[ "${#ids[@]}" = 3 ] || gz_fail "three filings for the digest"
in_list=$(printf "'%s'," "${ids[@]}"); in_list=${in_list%,}
gz_wait_for 30 "the digest's rows were not all sent: $(gz_sql "SELECT id, recipient, state, digest, digest_of, created_at, due_at, sent_at, last_error FROM notify.deliveries WHERE request_id IN ($in_list)")" bash -c "[ \"\$(psql -X '$GZ_URL' -qAt -c \"SELECT count(*) FROM notify.deliveries WHERE request_id IN ($in_list) AND template = 'routed.assignee' AND state = 'sent'\")\" = 3 ]"
who=$(gz_sql "SELECT DISTINCT recipient FROM notify.deliveries WHERE request_id IN ($in_list)
              AND template = 'routed.assignee'")
[ "$(wc -l <<<"$who")" = 1 ] || gz_fail "the three went to different people: $who"
groups=$(gz_sql "SELECT count(DISTINCT digest_of) FROM notify.deliveries
                 WHERE request_id IN ($in_list) AND template = 'routed.assignee'")
[ "$groups" = 2 ] || gz_fail "expected the first alone and the next two in one digest: $groups groups: $(gz_sql "SELECT id, recipient, digest, digest_of, created_at, due_at, sent_at FROM notify.deliveries WHERE request_id IN ($in_list) AND template = 'routed.assignee'")"
msgs=$(awk -F'\t' -v r="$who" '$3 == r && $4 == "routed.assignee"' "$out" | grep -c "您有2条新消息" || true)
[ "$msgs" = 1 ] || gz_fail "the receiver did not get one digest of two ($msgs)"
echo "digest: the first at once, the next two as one message to $who"
gz_stop "$pid" gongzhi

# 11. Rate limits: one non-essential message per person per hour (the duty
#     worker's first new work goes, the next two wait about an hour),
#     and the webhook paced at 2 a second (three residents' messages take
#     a second or more).
export GZ_NOTIFY_DIGEST_WINDOW_MS=0 GZ_NOTIFY_RECIPIENT_PER_HOUR=1 GZ_NOTIFY_CHANNEL_RATE=webhook=2 \
       GZ_NOTIFY_MAX_ATTEMPTS=2
gz_start gongzhi4.log "$GZ_BIN/gongzhi"
pid=$GZ_PID
gz_wait_ready "$web" "${api%/api/v1}" "${napi%/api/v1}"
gz_sql "SELECT b.code FROM org.buildings b JOIN org.units g ON g.code = b.grid_code
        WHERE g.parent_code = '$community' ORDER BY b.code OFFSET 6 LIMIT 3" >"$GZ_TMP/rate.b"
ids=()
while read -r b; do
    r=$(curl -fsS -d api_key=notify-key -d service_code=property -d "address_id=$b" \
        --data-urlencode "description=门禁坏了 $b" -d phone=13900003333 "$web/open311/v2/requests.json")
    ids+=("$(jq -r '.[0].service_request_id' <<<"$r")")
done <"$GZ_TMP/rate.b"
in_list=$(printf "'%s'," "${ids[@]}"); in_list=${in_list%,}
gz_wait_for 30 "the three residents were not all notified" bash -c "[ \"\$(psql -X '$GZ_URL' -qAt -c \"SELECT count(*) FROM notify.deliveries WHERE request_id IN ($in_list) AND template = 'routed.resident' AND state = 'sent'\")\" = 3 ]"
spread=$(gz_sql "SELECT extract(epoch FROM max(sent_at) - min(sent_at)) FROM notify.deliveries
                 WHERE request_id IN ($in_list) AND template = 'routed.resident'")
awk -v s="$spread" 'BEGIN { exit !(s >= 0.9) }' || gz_fail "three webhook sends at 2/s took only ${spread}s"
waiting=$(gz_sql "SELECT count(*) FROM notify.deliveries WHERE request_id IN ($in_list)
                  AND template = 'routed.assignee' AND state = 'queued' AND due_at > now() + interval '50 minutes'")
[ "$waiting" = 2 ] || gz_fail "two of the duty worker's new work should wait for the hour: $waiting of 3 waiting"
echo "rate limits: paced at 2/s (${spread}s for 3), one an hour per person"

# 12. A receiver that keeps answering 500: retried, then dead after
#     GZ_NOTIFY_MAX_ATTEMPTS (2 here) with the last error.
echo 500 >"$control"
file public_order
gz_wait_for 30 "a failing delivery was not dead-lettered" bash -c "[ \"\$(psql -X '$GZ_URL' -qAt -c \"SELECT state || ' ' || attempts || ' ' || last_error FROM notify.deliveries WHERE request_id = '$fid' AND template = 'routed.resident'\")\" = 'dead 2 HTTP 500' ]"
rm -f "$control"
echo "retries: 500 twice, then dead"
gz_stop "$pid" gongzhi
echo "test_notify: ok"
