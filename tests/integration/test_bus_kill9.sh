#!/usr/bin/env bash
# test_bus_kill9: the durable bus survives kill -9. A producer and a consumer
# (tests/tools/gz_bus_torture) run as separate processes while 10,000 events
# flow; every 50-500 ms one of them, chosen at random, is killed with SIGKILL
# and restarted at once. When the consumer has applied everything, verify
# checks that every event was applied exactly once and in order per key.
#
# Needs GZ_TEST_DATABASE_URL (the throwaway cluster's maintenance database;
# this test creates and drops its own database) and GZ_BUILD_DIR (set by ctest).
set -uo pipefail

BIN=${GZ_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}/tests/gz_bus_torture
ADMIN=${GZ_TEST_DATABASE_URL:-}
TOTAL=10000
KEYS=37
DEADLINE_S=480
export GZ_BUS_HEARTBEAT_MS=${GZ_BUS_HEARTBEAT_MS:-250}
export GZ_TORTURE_PAUSE_MS=${GZ_TORTURE_PAUSE_MS:-25}
export GZ_LOG_LEVEL=${GZ_LOG_LEVEL:-warn}

die() {
    echo "test_bus_kill9: FAIL: $*" >&2
    for f in "$WORK"/producer.log "$WORK"/consumer.log; do
        [ -f "$f" ] && { echo "--- tail of $f" >&2; tail -n 30 "$f" >&2; }
    done
    exit 1
}

[ -n "$ADMIN" ] || { echo "test_bus_kill9: GZ_TEST_DATABASE_URL is not set; run scripts/test" >&2; exit 1; }
[ -x "$BIN" ] || { echo "test_bus_kill9: $BIN not built" >&2; exit 1; }

DB="gzt_kill9_$$_$RANDOM"
URL="${ADMIN%/*}/$DB"
WORK=$(mktemp -d /tmp/gz-kill9.XXXXXX)
PRODUCER=""
CONSUMER=""

cleanup() {
    for p in $PRODUCER $CONSUMER; do
        kill -9 "$p"
        wait "$p"
    done
    psql -X "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
    rm -rf "$WORK"
} 2>/dev/null
trap cleanup EXIT

psql -X "$ADMIN" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $DB" >/dev/null ||
    die "cannot create database $DB"

PRODUCER_STARTS=0
start_producer() {
    PRODUCER_STARTS=$((PRODUCER_STARTS + 1))
    "$BIN" produce "$URL" "$ENDPOINT" "$TOTAL" "$KEYS" >>"$WORK/producer.log" 2>&1 &
    PRODUCER=$!
}
start_consumer() {
    "$BIN" consume "$URL" "$ENDPOINT" "$TOTAL" >>"$WORK/consumer.log" 2>&1 &
    CONSUMER=$!
}

# A free port for the producer's PUB: a random one below the kernel's and
# CZMQ's ephemeral ranges; the tool exits 3 when it is taken, then try another.
ENDPOINT=""
for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 12000))
    ENDPOINT="tcp://127.0.0.1:$port"
    : >"$WORK/producer.log"
    PRODUCER_STARTS=0
    start_producer
    bound=""
    for _ in $(seq 1 300); do
        grep -q "bound" "$WORK/producer.log" && { bound=yes; break; }
        kill -0 "$PRODUCER" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$bound" ] && break
    kill -0 "$PRODUCER" 2>/dev/null && die "producer did not bind within 30s"
    { wait "$PRODUCER"; } 2>/dev/null
    rc=$?
    PRODUCER=""
    [ "$rc" -eq 3 ] || die "producer did not start (exit $rc)"
    echo "test_bus_kill9: port $port taken, trying another"
done
[ -n "$bound" ] || die "no free port for the producer"
start_consumer
echo "test_bus_kill9: $TOTAL events, $KEYS keys, producer on $ENDPOINT, database $DB"

# Kill at random points until the consumer has applied everything.
kills_producer=0
kills_consumer=0
started=$SECONDS
while :; do
    if ! kill -0 "$CONSUMER" 2>/dev/null; then
        { wait "$CONSUMER"; } 2>/dev/null
        rc=$?
        CONSUMER=""
        [ "$rc" -eq 0 ] && break
        die "consumer exited with $rc without being killed"
    fi
    if ! kill -0 "$PRODUCER" 2>/dev/null; then
        { wait "$PRODUCER"; } 2>/dev/null
        rc=$?
        PRODUCER=""
        die "producer exited with $rc without being killed"
    fi
    [ $((SECONDS - started)) -lt $DEADLINE_S ] || die "timeout after ${DEADLINE_S}s"

    ms=$((50 + RANDOM % 451))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"

    if [ $((RANDOM % 2)) -eq 0 ]; then
        kill -9 "$PRODUCER" 2>/dev/null
        { wait "$PRODUCER"; } 2>/dev/null
        rc=$?
        [ "$rc" -eq 137 ] || die "producer exited with $rc before it was killed"
        kills_producer=$((kills_producer + 1))
        start_producer
    else
        kill -9 "$CONSUMER" 2>/dev/null
        { wait "$CONSUMER"; } 2>/dev/null
        rc=$?
        CONSUMER=""
        [ "$rc" -eq 0 ] && break # it finished just before the kill
        [ "$rc" -eq 137 ] || die "consumer exited with $rc before it was killed"
        kills_consumer=$((kills_consumer + 1))
        start_consumer
    fi
done
elapsed=$((SECONDS - started))

# The producer ends on SIGTERM (a clean exit: under ASan this checks leaks),
# once it is up: a process restarted a moment ago has no handler yet.
for _ in $(seq 1 300); do
    [ "$(grep -c "bound" "$WORK/producer.log")" -ge "$PRODUCER_STARTS" ] && break
    sleep 0.1
done
kill -TERM "$PRODUCER" 2>/dev/null
{ wait "$PRODUCER"; } 2>/dev/null
rc=$?
PRODUCER=""
[ "$rc" -eq 0 ] || die "producer exited with $rc on SIGTERM"

echo "test_bus_kill9: kills: producer $kills_producer, consumer $kills_consumer," \
    "$((kills_producer + kills_consumer)) in all; ${elapsed}s"
grep -h "^consume: cursor" "$WORK/consumer.log" | tail -n 1
"$BIN" verify "$URL" "$TOTAL" || die "verify failed"
[ $((kills_producer + kills_consumer)) -gt 0 ] || die "nothing was killed"
echo "test_bus_kill9: PASS"
