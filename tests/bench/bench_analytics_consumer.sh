#!/usr/bin/env bash
# Analytics' live consumer catch-up rate (issue 11: "the consumer keeps up
# with at least 20,000 events/s"; a benchmark that prints figures, not a
# timed test).
#  1. Its own PostgreSQL (fsync off, like the tests'), the demo org (gzctl
#     seed huaguoyuan); gz-intake and gz-routing started once, so their
#     schemas and outboxes exist, and stopped.
#  2. EVENTS events (default 200,000) written straight into intake's and
#     routing's outboxes by COPY: one RequestSubmitted and six routing
#     updates (routed .. rated) per request, realistic payloads from
#     tests/bench/analytics_events.c (its header says what they hold).
#  3. gz-analytics started alone: its subscribers find the outboxes ahead
#     of their cursors and catch up batch by batch, each batch one
#     transaction with its cursor, as after an outage. The cursors are
#     sampled every 0.2 s until both reach the outboxes' heads; printed:
#     the time from start, events/s overall and in the middle 80%, and
#     the facts and rollup rows it made.
# Usage: tests/bench/bench_analytics_consumer.sh [events]
# GZ_BENCH_BUILD: the build directory (default build/).
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$GZ_ROOT"
EVENTS=${1:-200000}
BUILD=${GZ_BENCH_BUILD:-build}
gz_build "$BUILD" >/dev/null # incremental: the binary under test is this checkout's
bin=$BUILD/services
gen=$BUILD/tests/analytics_events
[ -x "$gen" ] || { echo "no $gen: build first" >&2; exit 1; }

tmp=$(mktemp -d /tmp/gz-bench.XXXXXX); chmod 755 "$tmp"
pgport=$(( 30000 + RANDOM % 10000 )); base=$(( 40000 + RANDOM % 10000 ))
pid=""
cleanup() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; gz_pg_stop "$tmp/pg"; rm -rf "$tmp"; }
trap cleanup EXIT
gz_pg_start "$tmp/pg" "$pgport" fast
url="postgresql://gongzhi@127.0.0.1:$pgport/gongzhi"
export GZ_DATABASE_URL=$url GZ_PORT_BASE=$base GZ_LOG_LEVEL=warn
sql() { psql -X "$url" -v ON_ERROR_STOP=1 -qAt -c "$1"; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

"$bin/gzctl" seed huaguoyuan >/dev/null
"$bin/gz-intake" >"$tmp/intake.log" 2>&1 & ipid=$!
"$bin/gz-routing" >"$tmp/routing.log" 2>&1 & rpid=$!
for _ in $(seq 150); do curl -fs "http://127.0.0.1:$base/readyz" >/dev/null 2>&1 &&
    curl -fs "http://127.0.0.1:$((base + 1))/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
kill -TERM "$ipid" "$rpid" 2>/dev/null || true; wait "$ipid" "$rpid" 2>/dev/null || true

sql "SELECT g.code || '|' || c.code || '|' || s.code || '|' ||
            (SELECT min(b.code) FROM org.buildings b WHERE b.grid_code = g.code)
     FROM org.units g JOIN org.units c ON c.code = g.parent_code JOIN org.units s ON s.code = c.parent_code
     WHERE g.level = 'grid' AND EXISTS (SELECT 1 FROM org.buildings b WHERE b.grid_code = g.code)
     ORDER BY g.code" >"$tmp/grids"
requests=$(( EVENTS / 7 ))
cols="stream, position, id, type, key, topic, occurred_at_us, trace_id, idempotency_key, payload"
t0=$(date +%s.%N)
"$gen" intake "$requests" "$tmp/grids" | psql -X "$url" -v ON_ERROR_STOP=1 -qAt -c "COPY intake.outbox ($cols) FROM STDIN"
"$gen" routing "$requests" "$tmp/grids" | psql -X "$url" -v ON_ERROR_STOP=1 -qAt -c "COPY routing.outbox ($cols) FROM STDIN"
ihead=$(sql "SELECT max(position) FROM intake.outbox WHERE stream = 'intake'")
rhead=$(sql "SELECT max(position) FROM routing.outbox WHERE stream = 'routing'")
# The heads the publishers would have recorded (they are not running).
sql "UPDATE intake.bus_stream SET head = $ihead, published = $ihead WHERE stream = 'intake'"
sql "UPDATE routing.bus_stream SET head = $rhead, published = $rhead WHERE stream = 'routing'"
sql "VACUUM ANALYZE intake.outbox"; sql "VACUUM ANALYZE routing.outbox"; sql "CHECKPOINT"
total=$(( ihead + rhead ))
echo "outboxes: $ihead intake + $rhead routing = $total events ($requests requests, $(wc -l <"$tmp/grids") grids) by COPY in $(echo "$(date +%s.%N) - $t0" | bc) s"

consumed() { sql "SELECT coalesce(sum(position), 0) FROM analytics.bus_cursor
                  WHERE consumer = 'analytics' AND stream IN ('intake', 'routing')" 2>/dev/null || echo 0; }
start=$(date +%s.%N)
"$bin/gz-analytics" >"$tmp/analytics.log" 2>&1 & pid=$!
: >"$tmp/samples"
while :; do
    n=$(consumed); now=$(date +%s.%N)
    echo "$(echo "$now - $start" | bc) $n" >>"$tmp/samples"
    [ "$n" -ge "$total" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/analytics.log"; echo "gz-analytics died" >&2; exit 1; }
    sleep 0.2
done
awk -v total="$total" '
    { t[NR] = $1; n[NR] = $2 }
    END {
        for (i = 1; i <= NR; i++) { if (!a && n[i] >= total * 0.1) a = i; if (!b && n[i] >= total * 0.9) b = i }
        printf "caught up %d events in %.2f s from start: %.0f events/s overall\n", total, t[NR], total / t[NR]
        if (b > a) printf "middle 80%%: %d events in %.2f s: %.0f events/s\n", n[b] - n[a], t[b] - t[a], (n[b] - n[a]) / (t[b] - t[a])
    }' "$tmp/samples"
echo "facts: $(sql "SELECT count(*) FROM analytics.facts"), rollup rows: $(sql "SELECT count(*) FROM analytics.rollup"), requests counted (district): $(sql "SELECT sum(requests) FROM analytics.rollup r JOIN org.units u ON u.code = r.node WHERE u.level = 'district'")"
curl -fsS "http://127.0.0.1:$((base + 4))/metrics" | grep -E '^gz_analytics_events_total|^gz_decode_errors_total' || true
[ -n "${GZ_BENCH_DEBUG:-}" ] && sql "SELECT u.level, count(DISTINCT r.node), sum(r.requests) FROM analytics.rollup r JOIN org.units u ON u.code = r.node GROUP BY 1"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
