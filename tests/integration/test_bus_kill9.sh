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
: "${GZ_BUILD_DIR:=$(cd "$(dirname "$0")/../.." && pwd)/build}"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init kill9

BIN=$GZ_BUILD_DIR/tests/gz_bus_torture
TOTAL=10000
KEYS=37
DEADLINE_S=480
export GZ_BUS_HEARTBEAT_MS=${GZ_BUS_HEARTBEAT_MS:-250}
export GZ_TORTURE_PAUSE_MS=${GZ_TORTURE_PAUSE_MS:-25}
export GZ_LOG_LEVEL=${GZ_LOG_LEVEL:-warn}

[ -x "$BIN" ] || gz_fail "$BIN not built"
gz_createdb
PRODUCER=""
CONSUMER=""

PRODUCER_STARTS=0
start_producer() {
    PRODUCER_STARTS=$((PRODUCER_STARTS + 1))
    gz_start producer.log "$BIN" produce "$GZ_URL" "$ENDPOINT" "$TOTAL" "$KEYS"
    PRODUCER=$GZ_PID
}
start_consumer() {
    gz_start consumer.log "$BIN" consume "$GZ_URL" "$ENDPOINT" "$TOTAL"
    CONSUMER=$GZ_PID
}

# A free port for the producer's PUB: a random one below the kernel's and
# CZMQ's ephemeral ranges; the tool exits 3 when it is taken, then try another.
ENDPOINT=""
for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 12000))
    ENDPOINT="tcp://127.0.0.1:$port"
    : >"$GZ_TMP/producer.log"
    PRODUCER_STARTS=0
    start_producer
    bound=""
    for _ in $(seq 1 300); do
        grep -q "bound" "$GZ_TMP/producer.log" && { bound=yes; break; }
        kill -0 "$PRODUCER" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$bound" ] && break
    kill -0 "$PRODUCER" 2>/dev/null && gz_fail "producer did not bind within 30s"
    gz_reap "$PRODUCER"
    PRODUCER=""
    [ "$GZ_RC" -eq 3 ] || gz_fail "producer did not start (exit $GZ_RC)"
    echo "test_bus_kill9: port $port taken, trying another"
done
[ -n "$bound" ] || gz_fail "no free port for the producer"
start_consumer
echo "test_bus_kill9: $TOTAL events, $KEYS keys, producer on $ENDPOINT, database $GZ_DB"

# Kill at random points until the consumer has applied everything.
kills_producer=0
kills_consumer=0
started=$SECONDS
while :; do
    if ! kill -0 "$CONSUMER" 2>/dev/null; then
        gz_reap "$CONSUMER"
        CONSUMER=""
        [ "$GZ_RC" -eq 0 ] && break
        gz_fail "consumer exited with $GZ_RC without being killed"
    fi
    if ! kill -0 "$PRODUCER" 2>/dev/null; then
        gz_reap "$PRODUCER"
        PRODUCER=""
        gz_fail "producer exited with $GZ_RC without being killed"
    fi
    [ $((SECONDS - started)) -lt $DEADLINE_S ] || gz_fail "timeout after ${DEADLINE_S}s"

    ms=$((50 + RANDOM % 451))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"

    if [ $((RANDOM % 2)) -eq 0 ]; then
        gz_kill9 "$PRODUCER"
        [ "$GZ_RC" -eq 137 ] || gz_fail "producer exited with $GZ_RC before it was killed"
        kills_producer=$((kills_producer + 1))
        start_producer
    else
        gz_kill9 "$CONSUMER"
        CONSUMER=""
        [ "$GZ_RC" -eq 0 ] && break # it finished just before the kill
        [ "$GZ_RC" -eq 137 ] || gz_fail "consumer exited with $GZ_RC before it was killed"
        kills_consumer=$((kills_consumer + 1))
        start_consumer
    fi
done
elapsed=$((SECONDS - started))

# The producer ends on SIGTERM (a clean exit: under ASan this checks leaks),
# once it is up: a process restarted a moment ago has no handler yet.
for _ in $(seq 1 300); do
    [ "$(grep -c "bound" "$GZ_TMP/producer.log")" -ge "$PRODUCER_STARTS" ] && break
    sleep 0.1
done
gz_stop "$PRODUCER" producer
PRODUCER=""

echo "test_bus_kill9: kills: producer $kills_producer, consumer $kills_consumer," \
    "$((kills_producer + kills_consumer)) in all; ${elapsed}s"
grep -h "^consume: cursor" "$GZ_TMP/consumer.log" | tail -n 1
"$BIN" verify "$GZ_URL" "$TOTAL" || gz_fail "verify failed"
[ $((kills_producer + kills_consumer)) -gt 0 ] || gz_fail "nothing was killed"
echo "test_bus_kill9: PASS"
