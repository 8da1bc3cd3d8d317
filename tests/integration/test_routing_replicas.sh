#!/usr/bin/env bash
# test_routing_replicas: two gz-routing replicas at once never both handle
# the same request. Both run against one database and schema (the consumer
# cursor, the timers and the routing stream are shared), on their own
# HTTP, bus and event ports, consuming intake's one stream while 5,000
# requests flow in (tests/tools/gz_routing_load, 250/s) and the short
# deadlines of routing_check.sh (respond 2s / resolve 4s) warn and escalate.
# After the timers run out, routing_check.sh's checks prove each request
# routed once and each timer fired once; both replicas must have done part
# of the work (applied events and fired timers).
#
# Needs GZ_TEST_DATABASE_URL (creates and drops its own database) and
# GZ_BUILD_DIR (set by ctest).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init routing_replicas
# shellcheck source=routing_check.sh
source "$(dirname "$0")/routing_check.sh"

TOTAL=${GZ_REPLICAS_TOTAL:-5000}
RATE=${GZ_REPLICAS_RATE:-250}

rc_setup
# Start both at once: they also race through the migrations.
rc_start_routing 0
R0=$GZ_PID
rc_start_routing 1
R1=$GZ_PID
gz_wait_ready "http://127.0.0.1:$(rc_routing_http 0)"
gz_wait_ready "http://127.0.0.1:$(rc_routing_http 1)"
events1=$(rc_routing_env 1 | sed -E 's/.*GZ_ROUTING_EVENTS=//')
rc_start_intake "tcp://127.0.0.1:$((GZ_PORT_BASE + 13)),$events1"
echo "$GZ_NAME: $TOTAL requests at $RATE/s to two replicas, database $GZ_DB," \
    "port base $GZ_PORT_BASE ${GZ_SANITIZED:+(sanitized)}"

started=$SECONDS
"$RC_LOAD" "$GZ_URL" "tcp://127.0.0.1:$((GZ_PORT_BASE + 10))" "$RC_KEY" "$TOTAL" "$RATE" rp \
    >"$GZ_TMP/load.log" 2>&1 || gz_fail "the load generator failed: $(tail -n 3 "$GZ_TMP/load.log")"
cat "$GZ_TMP/load.log"
kill -0 "$R0" 2>/dev/null || gz_fail "replica 0 died"
kill -0 "$R1" 2>/dev/null || gz_fail "replica 1 died"
rc_settle "$TOTAL" 120
rc_verify "$TOTAL" rp

# Both took part. Counters are per process: events applied from the bus
# (live or caught up) and timers fired.
for k in 0 1; do
    m=$(curl -fsS "http://127.0.0.1:$(rc_routing_http $k)/metrics") || gz_fail "no metrics from replica $k"
    applied=$(awk '/^gz_bus_consumed_total/ { s += $2 } END { print s + 0 }' <<<"$m")
    fired=$(awk '/^gz_routing_timers_fired_total/ { s += $2 } END { print s + 0 }' <<<"$m")
    routed=$(awk '/^gz_routing_routed_total/ { s += $2 } END { print s + 0 }' <<<"$m")
    dups=$(awk '/^gz_bus_duplicates_total/ { s += $2 } END { print s + 0 }' <<<"$m")
    echo "$GZ_NAME: replica $k: applied $applied intake events (routed $routed), dropped $dups" \
        "already applied, fired $fired timers"
    [ "$fired" -gt 0 ] || gz_fail "replica $k fired no timer: the test did not race them"
    [ "$applied" -gt 0 ] || gz_fail "replica $k applied no event: the test did not race them"
done
gz_stop "$R0" "routing replica 0"
gz_stop "$R1" "routing replica 1"
gz_stop "$RC_INTAKE" gz-intake
echo "$GZ_NAME: PASS in $((SECONDS - started))s"
