#!/usr/bin/env bash
# test_routing_kill9: routing survives kill -9. Real gz-intake and gz-routing
# processes on a fresh database (seeded huaguoyuan directory, the shipped
# rules with every deadline cut to respond 2s / resolve 4s). 5,000 requests
# flow in over intake's bus (tests/tools/gz_routing_load, idempotency keys,
# 200/s) while deadlines warn and escalate, and gz-routing is killed with
# SIGKILL every 0.2-2.5 s (at random: mid-batch, mid-timer run, during
# start-up) and restarted, for the whole submission and 10 s after. Then,
# unkilled, it catches up and every timer runs out (the ladder is finite),
# and the checks of routing_check.sh prove each request routed once, each
# timer fired once and none lost, and timeline and events in agreement.
#
# Needs GZ_TEST_DATABASE_URL (creates and drops its own database) and
# GZ_BUILD_DIR (set by ctest).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init routing_kill9
# shellcheck source=routing_check.sh
source "$(dirname "$0")/routing_check.sh"

TOTAL=${GZ_KILL9_TOTAL:-5000}
RATE=${GZ_KILL9_RATE:-200}
AFTER_S=10 # keep killing this long after the last submission (timers firing)

rc_setup
rc_start_routing 0
ROUTING=$GZ_PID
gz_wait_ready "http://127.0.0.1:$(rc_routing_http 0)"
rc_start_intake "tcp://127.0.0.1:$((GZ_PORT_BASE + 13))"
echo "$GZ_NAME: $TOTAL requests at $RATE/s, database $GZ_DB, port base $GZ_PORT_BASE" \
    "${GZ_SANITIZED:+(sanitized)}"

gz_start load.log "$RC_LOAD" "$GZ_URL" "tcp://127.0.0.1:$((GZ_PORT_BASE + 10))" "$RC_KEY" "$TOTAL" \
    "$RATE" k9
LOAD=$GZ_PID

started=$SECONDS
kills=0
load_done=""
while :; do
    if [ -z "$load_done" ] && ! kill -0 "$LOAD" 2>/dev/null; then
        gz_reap "$LOAD"
        [ "$GZ_RC" -eq 0 ] || gz_fail "the load generator exited $GZ_RC"
        load_done=$SECONDS
    fi
    [ -n "$load_done" ] && [ $((SECONDS - load_done)) -ge $AFTER_S ] && break
    [ $((SECONDS - started)) -lt 200 ] || gz_fail "submission not done after 200s"
    kill -0 "$ROUTING" 2>/dev/null || gz_fail "gz-routing died without being killed"
    ms=$((200 + RANDOM % 2301))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
    gz_kill9 "$ROUTING"
    [ "$GZ_RC" -eq 137 ] || gz_fail "gz-routing exited $GZ_RC before it was killed"
    kills=$((kills + 1))
    # Restart at once or after a pause (timers fall due meanwhile).
    [ $((RANDOM % 3)) -eq 0 ] && sleep "0.$((RANDOM % 10))"
    rc_start_routing 0
    ROUTING=$GZ_PID
done
cat "$GZ_TMP/load.log"
echo "$GZ_NAME: $kills kills of gz-routing in $((SECONDS - started))s"
[ "$kills" -gt 0 ] || gz_fail "nothing was killed"

gz_wait_ready "http://127.0.0.1:$(rc_routing_http 0)"
rc_settle "$TOTAL" 120
rc_verify "$TOTAL" k9
echo "$GZ_NAME: the last gz-routing's metrics:" "$(curl -fsS "http://127.0.0.1:$(rc_routing_http 0)/metrics" |
    grep -E '^gz_(bus_(consumed|caught_up|duplicates)|routing_timers_fired)_total' | tr '\n' ' ' || true)"
gz_stop "$ROUTING" gz-routing
gz_stop "$RC_INTAKE" gz-intake
echo "$GZ_NAME: PASS in $((SECONDS - started))s"
