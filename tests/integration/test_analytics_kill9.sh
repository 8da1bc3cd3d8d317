#!/usr/bin/env bash
# test_analytics_kill9: no count lost or doubled when gz-analytics is
# killed with SIGKILL mid-stream (issue 11). gz-intake, gz-routing and
# gz-analytics run as separate processes; about 2,000 requests are filed on
# Open311 (one per building and category, so none merges), each routed by
# routing (intake's and routing's streams both flow), while gz-analytics is
# killed every 0.2-1.1 s and started again (for as long as the filing
# takes, at least GZ_KILL9_SECONDS). Then, with the last start left running until it has
# consumed both streams to their heads:
#  - the facts count equals intake's requests count;
#  - gzctl analytics verify finds 0 differences between the rollups and
#    the source tables (a batch applied twice or lost would show);
#  - a rebuild from the outboxes (the service still running) gives the
#    same: verify again 0 differences (its events/s are printed).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init ankill9
gz_createdb
KILL_S=${GZ_KILL9_SECONDS:-15}
N=${GZ_ANALYTICS_KILL9_REQUESTS:-2000}
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) GZ_API_KEYS=k9=k9-key GZ_INTAKE_RATE=0 \
       GZ_LOG_LEVEL=warn GZ_BUS_HEARTBEAT_MS=200 GZ_ORG_CHECK_MS=0
gz_seed
gz_start intake.log "$GZ_BIN/gz-intake"
gz_start routing.log "$GZ_BIN/gz-routing"
start_analytics() {
    gz_start analytics.log "$GZ_BIN/gz-analytics"
    apid=$GZ_PID
}
start_analytics
web="http://127.0.0.1:$GZ_PORT_BASE"
rapi="http://127.0.0.1:$((GZ_PORT_BASE + 1))/api/v1"
gz_wait_ready "$web" "${rapi%/api/v1}" "http://127.0.0.1:$((GZ_PORT_BASE + 4))"

# N requests, two categories per building, 16 at a time, in the
# background.
gz_sql "SELECT code FROM org.buildings ORDER BY code LIMIT $(( (N + 1) / 2 ))" >"$GZ_TMP/buildings"
file_all() {
    local i=0 code cat
    while read -r code; do
        for cat in property sanitation; do
            i=$((i + 1))
            [ "$i" -gt "$N" ] && break
            curl -fsS -o /dev/null -d api_key=k9-key -d service_code=$cat -d "address_id=$code" \
                --data-urlencode "description=问题 $i" "$web/open311/v2/requests.json" &
        done
        [ $((i % 16)) -eq 0 ] && wait
    done <"$GZ_TMP/buildings"
    wait
}
file_all &
filer=$!

kills=0
end=$(( $(date +%s) + KILL_S ))
while [ "$(date +%s)" -lt "$end" ] || kill -0 "$filer" 2>/dev/null; do
    sleep "0.$(( 2 + RANDOM % 9 ))"
    gz_kill9 "$apid"
    kills=$((kills + 1))
    start_analytics
done
wait "$filer" || gz_fail "filing the requests failed"
echo "killed gz-analytics $kills times"
filed=$(gz_sql "SELECT count(*) FROM intake.requests")
[ "$filed" = "$N" ] || gz_fail "$filed of $N requests were filed"

# Routing settles, then analytics reaches both heads.
gz_wait_for 60 "routing did not route every request" \
    bash -c "[ \"\$(psql -X '$GZ_URL' -qAt -c 'SELECT count(*) FROM routing.requests')\" = $N ]"
caught_up() {
    [ "$(gz_sql "SELECT (SELECT coalesce(max(position), 0) FROM intake.outbox WHERE stream = 'intake')
                      + (SELECT coalesce(max(position), 0) FROM routing.outbox WHERE stream = 'routing')
                      - (SELECT coalesce(sum(position), 0) FROM analytics.bus_cursor WHERE consumer = 'analytics')")" = 0 ]
}
gz_wait_for 120 "analytics did not catch up" caught_up
facts=$(gz_sql "SELECT count(*) FROM analytics.facts")
[ "$facts" = "$N" ] || gz_fail "$facts facts for $N requests"
"$GZ_BIN/gzctl" analytics verify >"$GZ_TMP/verify.out" 2>&1 ||
    { head -20 "$GZ_TMP/verify.out"; gz_fail "verify after $kills kills"; }
tail -1 "$GZ_TMP/verify.out"
"$GZ_BIN/gzctl" analytics rebuild || gz_fail "rebuild"
"$GZ_BIN/gzctl" analytics verify >"$GZ_TMP/verify.out" 2>&1 ||
    { head -20 "$GZ_TMP/verify.out"; gz_fail "verify after the rebuild"; }
[ "$(gz_sql "SELECT count(*) FROM analytics.facts")" = "$N" ] || gz_fail "facts after the rebuild"
echo "test_analytics_kill9: ok ($N requests, $kills kills, 0 differences)"
