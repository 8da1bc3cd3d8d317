#!/usr/bin/env bash
# test_intake_kill9: nothing accepted is lost, nothing is doubled, when
# gz-intake is killed with SIGKILL at random moments under load. 32
# clients (tests/tools/gz_intake_load) file Open311 POSTs with idempotency
# keys, one after another, as district systems would: a request that gets no answer (connection refused
# or cut, 503) is sent again with the same key until it is answered 201 or
# 200. Meanwhile gz-intake is killed every 0.1-0.9 s (mid-batch,
# mid-commit, during start-up) and started again: 10 s with one committer,
# then 10 s with two writer threads. Then, with the last start left
# running:
#  - every answered id is stored, under the key it was answered for;
#  - each key is stored once and was only ever answered with one id;
#  - each stored request has exactly one RequestSubmitted event, and the
#    stream's positions are 1..N without a gap;
#  - the restarted publisher re-publishes what a kill left unsent (the
#    stream's published mark reaches its head).
# Needs GZ_TEST_DATABASE_URL (creates and drops its own database) and
# GZ_BUILD_DIR (set by ctest).
set -euo pipefail
: "${GZ_BUILD_DIR:?run under ctest}" "${GZ_TEST_DATABASE_URL:?run under scripts/test}"
KILL_S=${GZ_KILL9_SECONDS:-10} # per phase
CLIENTS=32
db="gzt_ikill9_$$_$RANDOM"
admin=$GZ_TEST_DATABASE_URL
url="${admin%/*}/$db"
tmp=$(mktemp -d /tmp/gz-ikill9.XXXXXX)
pid="" load=""
cleanup() {
    [ -n "$load" ] && kill "$load" 2>/dev/null
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    psql "$admin" -qAt -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- last intake log"; tail -n 20 "$tmp/intake.log"; exit 1; }
q() { psql "$url" -qAt -v ON_ERROR_STOP=1 -c "$1"; }

psql "$admin" -qAt -c "CREATE DATABASE $db" >/dev/null
export GZ_DATABASE_URL=$url GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) GZ_API_KEYS=k9=k9-key \
       GZ_INTAKE_RATE=0 GZ_LOG_LEVEL=warn GZ_BUS_HEARTBEAT_MS=200
"$GZ_BUILD_DIR/services/gzctl" seed huaguoyuan >/dev/null
web="http://127.0.0.1:$GZ_PORT_BASE"
start_intake() {
    "$GZ_BUILD_DIR/services/gz-intake" 2>>"$tmp/intake.log" &
    pid=$!
}
wait_ready() {
    for _ in $(seq 1 400); do curl -fsS "$web/readyz" >/dev/null 2>&1 && return 0; sleep 0.05; done
    fail "gz-intake not ready"
}
start_intake
wait_ready

# Two phases: one committer (the default), then GZ_INTAKE_WRITERS=2 (writer
# threads taking turns to insert). In each, the clients
# (tests/tools/gz_intake_load) send each key until answered 201 or 200 and
# record every answer as "key,status,id", while gz-intake is killed at
# random and restarted.
kills=0
for writers in 1 2; do
    export GZ_INTAKE_WRITERS=$writers
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true
    start_intake
    wait_ready
    rm -f "$tmp/stop"
    "$GZ_BUILD_DIR/tests/gz_intake_load" "$web" k9-key $CLIENTS "$tmp/stop" "$tmp/acks.csv" \
        "w$writers" 2>>"$tmp/load.log" &
    load=$!
    end=$(( $(date +%s) + KILL_S ))
    while [ "$(date +%s)" -lt "$end" ]; do
        sleep "0.$(( 2 + RANDOM % 10 ))"
        kill -9 "$pid"; wait "$pid" 2>/dev/null || true
        kills=$((kills + 1))
        start_intake
    done
    wait_ready
    sleep 1
    touch "$tmp/stop"
    wait "$load" || { cat "$tmp/load.log"; fail "the clients did not get every key answered"; }
    load=""
done
acked=$(wc -l <"$tmp/acks.csv")
[ "$acked" -ge 1000 ] || fail "only $acked answers in 2 x ${KILL_S}s"
q "CREATE TABLE acks (key text, status int, id bigint)"
psql "$url" -qAt -v ON_ERROR_STOP=1 -c "\\copy acks FROM '$tmp/acks.csv' WITH (FORMAT csv)"

lost=$(q "SELECT count(*) FROM acks a LEFT JOIN intake.requests r
    ON r.id = a.id AND r.idempotency_key = a.key WHERE r.id IS NULL")
[ "$lost" = 0 ] || fail "$lost answered requests are not stored: $(q "SELECT a.* FROM acks a
    LEFT JOIN intake.requests r ON r.id = a.id AND r.idempotency_key = a.key WHERE r.id IS NULL LIMIT 3")"
[ "$(q "SELECT count(*) FROM (SELECT key FROM acks GROUP BY key HAVING count(DISTINCT id) > 1) d")" = 0 ] ||
    fail "a key was answered with two ids"
stored=$(q "SELECT count(*) FROM intake.requests")
keys=$(q "SELECT count(DISTINCT key) FROM acks")
[ "$stored" = "$keys" ] || fail "$stored requests stored for $keys keys"
[ "$(q "SELECT count(*) FROM (SELECT idempotency_key FROM intake.requests GROUP BY idempotency_key
    HAVING count(*) > 1) d")" = 0 ] || fail "a key stored twice"
[ "$(q "SELECT count(*) FROM intake.requests r FULL JOIN (SELECT key, count(*) AS n FROM intake.outbox
    WHERE type = 'RequestSubmitted' GROUP BY key) o ON o.key = r.id::text
    WHERE r.id IS NULL OR o.n IS DISTINCT FROM 1")" = 0 ] || fail "a request without exactly one event"
events=$(q "SELECT count(*) FROM intake.outbox")
[ "$events" = "$stored" ] || fail "$events events for $stored requests"
[ "$(q "SELECT max(position) FROM intake.outbox")" = "$events" ] &&
    [ "$(q "SELECT count(DISTINCT position) FROM intake.outbox")" = "$events" ] ||
    fail "stream positions are not 1..$events"
published=""
for _ in $(seq 1 100); do
    published=$(q "SELECT published = head FROM intake.bus_stream")
    [ "$published" = t ] && break
    sleep 0.1
done
[ "$published" = t ] || fail "not everything re-published: $(q "SELECT * FROM intake.bus_stream")"
retried=$(q "SELECT count(*) FROM acks WHERE status = 200")
grep 'answered' "$tmp/load.log"
echo "intake killed $kills times; $acked answers, $keys requests stored once each ($retried answered 200 to a retry), $events events gap-free, all published"
echo PASS
