#!/usr/bin/env bash
# test_analytics_catchup: analytics far behind its streams catches up
# exactly once. Intake's and routing's outboxes are filled with N
# requests' events (tests/tools/analytics_events: one RequestSubmitted and
# six routing updates, routed .. rated, each; default N = 4,000, 28,000
# events) before gz-analytics starts, so its routing subscriber catches up
# in more transactions (5,000 outbox rows each) than one call of the
# catch-up runs (4). (That the next call follows at once, not a heartbeat
# later, is measured by tests/bench/bench_analytics_consumer.sh: here
# other wake-ups of the loop hide it.) Each
# transaction must write only its own batch's deltas: the counts below are
# computed by hand from the generator's rules (all filed on 2026-11-01
# China time, every one verified reached and resolved within its
# deadlines, rated satisfied unless i mod 7 = 0) for the district, one
# sub-district and one grid.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init ancatchup
gz_createdb
N=${GZ_ANALYTICS_CATCHUP_REQUESTS:-4000}
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) GZ_LOG_LEVEL=warn GZ_BUS_HEARTBEAT_MS=200 \
       GZ_ORG_CHECK_MS=0 GZ_DEMO_OPERATOR_TOKEN=cu-operator
gz_seed
# Intake and routing once: their schemas and outboxes exist; then stopped
# (their publishers would otherwise re-publish the rows written below).
gz_start intake.log "$GZ_BIN/gz-intake"; ipid=$GZ_PID
gz_start routing.log "$GZ_BIN/gz-routing"; rpid=$GZ_PID
gz_wait_ready "http://127.0.0.1:$GZ_PORT_BASE" "http://127.0.0.1:$((GZ_PORT_BASE + 1))"
gz_stop "$ipid" gz-intake
gz_stop "$rpid" gz-routing

gz_sql "SELECT g.code || '|' || c.code || '|' || s.code || '|' ||
               (SELECT min(b.code) FROM org.buildings b WHERE b.grid_code = g.code)
        FROM org.units g JOIN org.units c ON c.code = g.parent_code JOIN org.units s ON s.code = c.parent_code
        WHERE g.level = 'grid' AND EXISTS (SELECT 1 FROM org.buildings b WHERE b.grid_code = g.code)
        ORDER BY g.code" >"$GZ_TMP/grids"
cols="stream, position, id, type, key, topic, occurred_at_us, trace_id, idempotency_key, payload"
gen=$GZ_BUILD_DIR/tests/analytics_events
"$gen" intake "$N" "$GZ_TMP/grids" | psql -X "$GZ_URL" -v ON_ERROR_STOP=1 -qAt -c "COPY intake.outbox ($cols) FROM STDIN"
"$gen" routing "$N" "$GZ_TMP/grids" | psql -X "$GZ_URL" -v ON_ERROR_STOP=1 -qAt -c "COPY routing.outbox ($cols) FROM STDIN"
[ "$(gz_sql "SELECT count(*) FROM routing.outbox")" = $((6 * N)) ] || gz_fail "routing's outbox"

gz_start analytics.log "$GZ_BIN/gz-analytics"; apid=$GZ_PID
aapi="http://127.0.0.1:$((GZ_PORT_BASE + 4))/api/v1"
# The cursors, from the database (absent until analytics made its schema).
cursors() { gz_sql "SELECT string_agg(stream || '=' || position, ' ' ORDER BY stream) FROM analytics.bus_cursor
                    WHERE consumer = 'analytics' AND stream IN ('intake', 'routing')" 2>/dev/null; }
caught_up() { [ "$(cursors)" = "intake=$N routing=$((6 * N))" ]; }
gz_wait_for 120 "analytics did not catch up" caught_up
echo "caught up: $(cursors)"
gz_wait_ready "${aapi%/api/v1}"

# Hand-computed: request i is in grid line i mod grids; satisfied unless
# i mod 7 = 0.
expect() { # AWK-CONDITION-ON-THE-GRID-LINE: "requests satisfied"
    awk -F'|' -v n="$N" "{ g[NR - 1] = \$0; gl[NR - 1] = \$1; sl[NR - 1] = \$3 } END {
        for (i = 0; i < n; i++) { k = i % NR; \$0 = g[k]; split(\$0, f, \"|\");
            if ($1) { r++; if (i % 7) s++ } }
        printf \"%d %d\", r, s }" "$GZ_TMP/grids"
}
sub=$(awk -F'|' 'NR == 1 {print $3}' "$GZ_TMP/grids")
grid=$(awk -F'|' 'NR == 2 {print $1}' "$GZ_TMP/grids")
district=$(gz_sql "SELECT parent_code FROM org.units WHERE code = '$sub'")
check() { # NODE "requests satisfied"
    local got want
    got=$(curl -fsS -H "Authorization: Bearer cu-operator" "$aapi/rates?node=$1&from=2026-11-01&to=2026-11-01" |
          jq -r '[.requests, .response.on_time, .response.due, .resolution.resolved, .resolution.on_time,
                  .satisfaction.satisfied, .satisfaction.rated] | map(tostring) | join(" ")')
    read -r r s <<<"$2"
    want="$r $r $r $r $r $s $r"
    [ "$got" = "$want" ] || gz_fail "$1: requests on-time due resolved resolved-on-time satisfied rated = $got, want $want"
}
[ "$(expect 1)" = "$N $((N - (N + 6) / 7))" ] || gz_fail "expect: $(expect 1)"
check "$district" "$(expect 1)"
check "$sub" "$(expect "f[3] == \"$sub\"")"
check "$grid" "$(expect "f[1] == \"$grid\"")"
[ "$(gz_sql "SELECT count(*) FROM analytics.facts")" = "$N" ] || gz_fail "facts"
gz_stop "$apid" gz-analytics
echo "analytics catch-up: ok"
