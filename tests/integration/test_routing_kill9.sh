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
RC_NAME=routing_kill9
# shellcheck source=routing_check.sh
source "$(dirname "$0")/routing_check.sh"
trap rc_cleanup EXIT

TOTAL=${GZ_KILL9_TOTAL:-5000}
RATE=${GZ_KILL9_RATE:-200}
AFTER_S=10 # keep killing this long after the last submission (timers firing)

rc_setup
rc_start_routing 0
ROUTING=$RC_PID
rc_wait_ready "$(rc_routing_http 0)" routing
rc_start_intake "tcp://127.0.0.1:$((GZ_PORT_BASE + 13))"
echo "$RC_NAME: $TOTAL requests at $RATE/s, database $RC_DB, port base $GZ_PORT_BASE" \
    "${GZ_SANITIZED:+(sanitized)}"

"$RC_LOAD" "$RC_URL" "tcp://127.0.0.1:$((GZ_PORT_BASE + 10))" "$RC_KEY" "$TOTAL" "$RATE" k9 \
    >"$RC_TMP/load.log" 2>&1 &
LOAD=$!
RC_PIDS+=("$LOAD")

started=$SECONDS
kills=0
load_done=""
while :; do
    if [ -z "$load_done" ] && ! kill -0 "$LOAD" 2>/dev/null; then
        rc=0
        wait "$LOAD" || rc=$?
        [ "$rc" -eq 0 ] || rc_fail "the load generator exited $rc"
        load_done=$SECONDS
    fi
    [ -n "$load_done" ] && [ $((SECONDS - load_done)) -ge $AFTER_S ] && break
    [ $((SECONDS - started)) -lt 200 ] || rc_fail "submission not done after 200s"
    kill -0 "$ROUTING" 2>/dev/null || rc_fail "gz-routing died without being killed"
    ms=$((200 + RANDOM % 2301))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
    kill -9 "$ROUTING"
    rc=0
    { wait "$ROUTING"; } 2>/dev/null || rc=$?
    [ "$rc" -eq 137 ] || rc_fail "gz-routing exited $rc before it was killed"
    kills=$((kills + 1))
    # Restart at once or after a pause (timers fall due meanwhile).
    [ $((RANDOM % 3)) -eq 0 ] && sleep "0.$((RANDOM % 10))"
    rc_start_routing 0
    ROUTING=$RC_PID
done
cat "$RC_TMP/load.log"
echo "$RC_NAME: $kills kills of gz-routing in $((SECONDS - started))s"
[ "$kills" -gt 0 ] || rc_fail "nothing was killed"

rc_wait_ready "$(rc_routing_http 0)" routing
rc_settle "$TOTAL" 120
rc_verify "$TOTAL" k9
echo "$RC_NAME: the last gz-routing's metrics:" "$(curl -fsS "http://127.0.0.1:$(rc_routing_http 0)/metrics" |
    grep -E '^gz_(bus_(consumed|caught_up|duplicates)|routing_timers_fired)_total' | tr '\n' ' ' || true)"
rc_stop "$ROUTING" gz-routing
rc_stop "$RC_INTAKE" gz-intake
echo "$RC_NAME: PASS in $((SECONDS - started))s"
