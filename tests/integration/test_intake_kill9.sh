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
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init ikill9
gz_createdb
KILL_S=${GZ_KILL9_SECONDS:-10} # per phase
CLIENTS=32
load=""
# The clients stop on SIGTERM (gz_start processes get SIGKILL after this).
gz_cleanup_more() { [ -n "$load" ] && kill "$load" 2>/dev/null; return 0; }
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) GZ_API_KEYS=k9=k9-key \
       GZ_INTAKE_RATE=0 GZ_LOG_LEVEL=warn GZ_BUS_HEARTBEAT_MS=200
gz_seed
web="http://127.0.0.1:$GZ_PORT_BASE"
start_intake() {
    gz_start intake.log "$GZ_BIN/gz-intake"
    pid=$GZ_PID
}
start_intake
gz_wait_ready "$web"

# Two phases: one committer (the default), then GZ_INTAKE_WRITERS=2 (writer
# threads taking turns to insert). In each, the clients
# (tests/tools/gz_intake_load) send each key until answered 201 or 200 and
# record every answer as "key,status,id", while gz-intake is killed at
# random and restarted.
kills=0
for writers in 1 2; do
    export GZ_INTAKE_WRITERS=$writers
    gz_kill9 "$pid"
    start_intake
    gz_wait_ready "$web"
    rm -f "$GZ_TMP/stop"
    "$GZ_BUILD_DIR/tests/gz_intake_load" "$web" k9-key $CLIENTS "$GZ_TMP/stop" "$GZ_TMP/acks.csv" \
        "w$writers" 2>>"$GZ_TMP/load.log" &
    load=$!
    end=$(( $(date +%s) + KILL_S ))
    while [ "$(date +%s)" -lt "$end" ]; do
        sleep "0.$(( 2 + RANDOM % 10 ))"
        gz_kill9 "$pid"
        kills=$((kills + 1))
        start_intake
    done
    gz_wait_ready "$web"
    sleep 1
    touch "$GZ_TMP/stop"
    wait "$load" || { cat "$GZ_TMP/load.log"; gz_fail "the clients did not get every key answered"; }
    load=""
done
acked=$(wc -l <"$GZ_TMP/acks.csv")
[ "$acked" -ge 1000 ] || gz_fail "only $acked answers in 2 x ${KILL_S}s"
gz_sql "CREATE TABLE acks (key text, status int, id bigint)"
gz_sql "\\copy acks FROM '$GZ_TMP/acks.csv' WITH (FORMAT csv)"

lost=$(gz_sql "SELECT count(*) FROM acks a LEFT JOIN intake.requests r
    ON r.id = a.id AND r.idempotency_key = a.key WHERE r.id IS NULL")
[ "$lost" = 0 ] || gz_fail "$lost answered requests are not stored: $(gz_sql "SELECT a.* FROM acks a
    LEFT JOIN intake.requests r ON r.id = a.id AND r.idempotency_key = a.key WHERE r.id IS NULL LIMIT 3")"
[ "$(gz_sql "SELECT count(*) FROM (SELECT key FROM acks GROUP BY key HAVING count(DISTINCT id) > 1) d")" = 0 ] ||
    gz_fail "a key was answered with two ids"
stored=$(gz_sql "SELECT count(*) FROM intake.requests")
keys=$(gz_sql "SELECT count(DISTINCT key) FROM acks")
[ "$stored" = "$keys" ] || gz_fail "$stored requests stored for $keys keys"
[ "$(gz_sql "SELECT count(*) FROM (SELECT idempotency_key FROM intake.requests GROUP BY idempotency_key
    HAVING count(*) > 1) d")" = 0 ] || gz_fail "a key stored twice"
[ "$(gz_sql "SELECT count(*) FROM intake.requests r FULL JOIN (SELECT key, count(*) AS n FROM intake.outbox
    WHERE type = 'RequestSubmitted' GROUP BY key) o ON o.key = r.id::text
    WHERE r.id IS NULL OR o.n IS DISTINCT FROM 1")" = 0 ] || gz_fail "a request without exactly one event"
events=$(gz_sql "SELECT count(*) FROM intake.outbox")
[ "$events" = "$stored" ] || gz_fail "$events events for $stored requests"
[ "$(gz_sql "SELECT max(position) FROM intake.outbox")" = "$events" ] &&
    [ "$(gz_sql "SELECT count(DISTINCT position) FROM intake.outbox")" = "$events" ] ||
    gz_fail "stream positions are not 1..$events"
published=""
for _ in $(seq 1 100); do
    published=$(gz_sql "SELECT published = head FROM intake.bus_stream")
    [ "$published" = t ] && break
    sleep 0.1
done
[ "$published" = t ] || gz_fail "not everything re-published: $(gz_sql "SELECT * FROM intake.bus_stream")"
retried=$(gz_sql "SELECT count(*) FROM acks WHERE status = 200")
grep 'answered' "$GZ_TMP/load.log"
echo "intake killed $kills times; $acked answers, $keys requests stored once each ($retried answered 200 to a retry), $events events gap-free, all published"
echo PASS
