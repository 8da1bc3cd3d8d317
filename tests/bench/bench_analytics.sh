#!/usr/bin/env bash
# Analytics benchmark (issue 11, "Performance"; not a timed test).
#  1. A generator (deterministic: every value is a fixed hash of the row
#     number, so every run loads the same data) writes N requests (default
#     10,000,000) of five years of history across the demo org (gzctl seed
#     huaguoyuan: its grids, communities, sub-districts, district), streamed
#     by COPY straight into analytics.facts; the rollups are computed from
#     the facts in SQL (INSERT ... SELECT ... GROUP BY, every node level).
#  2. The rates API of a real gz-analytics (the rollups read into the page
#     cache first, GZ_BENCH_COLD=1 not to): p50/p99 of REQUESTS calls (2,000)
#     for random nodes (grid .. district) and random periods (a week .. five
#     years), timed by curl's time_total, one at a time: first a curl
#     process (and a new connection) per call, then the same calls on one
#     kept-alive connection. GZ_BENCH_SEED picks the calls (default 42).
#  3. Plain SQL over the raw facts (index on (subdistrict, day)) for a
#     sub-district-month, a community-month and the district-year: the
#     median of 5 runs each.
# The data (docs/analytics-bench.md): submitted uniformly over 2021-12-01 ..
# 2026-11-30; 8 categories, 7 channels, tiers 1-3; 3% merged, 2% invalid;
# every request older than 3 days verified reached (90% within its 24 h
# response deadline), 85% resolved (80% of those within 7 days), 60% of the
# resolved rated (85% satisfied), 4% escalated, 3% reopened. Histograms
# are left at zero (the API reads them all the same).
# Usage: tests/bench/bench_analytics.sh [requests] [api-calls]
# GZ_BENCH_BUILD: the build directory (default build/, built already).
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$GZ_ROOT"
N=${1:-10000000}
REQUESTS=${2:-2000}
BUILD=${GZ_BENCH_BUILD:-build}
gz_build "$BUILD" >/dev/null   # incremental: the binary under test is this checkout's
bin=$BUILD/services

tmp=$(mktemp -d /tmp/gz-bench.XXXXXX); chmod 755 "$tmp"
pgport=$(( 15000 + RANDOM % 5000 )); base=$(( 20000 + RANDOM % 10000 ))  # below the ephemeral ports
pid=""
cleanup() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; gz_pg_stop "$tmp/pg"; rm -rf "$tmp"; }
trap cleanup EXIT
gz_pg_start "$tmp/pg" "$pgport" fast
url="postgresql://gongzhi@127.0.0.1:$pgport/gongzhi"
export GZ_DATABASE_URL=$url GZ_PORT_BASE=$base GZ_LOG_LEVEL=warn GZ_DEMO_OPERATOR_TOKEN=bench-op
sql() { psql -X "$url" -v ON_ERROR_STOP=1 -qAt -c "$1"; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

"$bin/gzctl" seed huaguoyuan >/dev/null
# Start once so the schemas exist (analytics' tables, routing's tokens).
"$bin/gz-routing" >"$tmp/routing.log" 2>&1 & rpid=$!
"$bin/gz-analytics" >"$tmp/analytics.log" 2>&1 & pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$((base + 4))/readyz" >/dev/null 2>&1 &&
    curl -fs "http://127.0.0.1:$((base + 1))/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

# Grid i (0-based) with its building, community, sub-district and district.
sql "CREATE UNLOGGED TABLE public.bench_grids AS SELECT (row_number() OVER (ORDER BY g.code) - 1)::int AS i,
       g.code AS grid, c.code AS community, s.code AS sub, s.parent_code AS district,
       (SELECT min(b.code) FROM org.buildings b WHERE b.grid_code = g.code) AS building
     FROM org.units g JOIN org.units c ON c.code = g.parent_code JOIN org.units s ON s.code = c.parent_code
     WHERE g.level = 'grid'"
grids=$(sql "SELECT count(*) FROM public.bench_grids")
echo "org: $grids grids, $(sql "SELECT count(*) FROM org.units WHERE level = 'community'") communities, $(sql "SELECT count(*) FROM org.units WHERE level = 'subdistrict'") sub-districts"

# The generator: h(k) is a fixed hash of the row number (Knuth's
# multiplicative hash), so the data are the same on every run.
gen="WITH r AS (SELECT i, (1638316800 + ((i * 2654435761) % 157766400)) * 1000000::bigint AS sub_us,
       ((i * 40503 + 7) % 1000) AS h1, ((i * 69069 + 13) % 1000) AS h2, ((i * 1103515245 + 12345) % 1000) AS h3
     FROM generate_series(1::bigint, $N) i)
SELECT 'B' || r.i, (ARRAY['property','sanitation','road','noise','parking','dispute','greening','water'])[1 + r.h1 % 8],
  1 + r.h2 % 7, 1 + r.h3 % 3, g.building, g.grid, g.community, g.sub, g.district, '', r.sub_us,
  ((to_timestamp(r.sub_us / 1e6) AT TIME ZONE 'Asia/Shanghai')::date),
  r.sub_us + 86400000000, r.sub_us + 7 * 86400000000,
  CASE WHEN r.sub_us > 1764460800000000 - 3 * 86400000000 AND r.h1 % 10 < 5 THEN 0
       ELSE r.sub_us + CASE WHEN r.h2 % 10 < 9 THEN (r.h3 % 24) ELSE 25 + r.h3 % 48 END * 3600000000 END,
  CASE WHEN r.h3 % 100 < 85 THEN r.sub_us + CASE WHEN r.h1 % 10 < 8 THEN (r.h2 % 168) ELSE 169 + r.h2 END * 3600000000 ELSE 0 END,
  r.h3 % 100 < 85, r.h1 % 100 < 3, r.h1 % 100 BETWEEN 3 AND 4,
  CASE WHEN r.h3 % 100 < 85 AND r.h2 % 100 < 60 THEN (r.h1 % 100 < 85)::int ELSE -1 END,
  (r.h2 % 100 < 3)::int, (r.h3 % 100 BETWEEN 90 AND 93)::int
FROM r JOIN public.bench_grids g ON g.i = r.i % $grids"
cols="request_id, category, channel, tier, building, grid, community, subdistrict, district, department,
      submitted_us, day, response_due_us, resolve_due_us, reached_us, resolved_us, resolved, merged, invalid,
      satisfied, reopens, escalations"
t0=$(date +%s.%N)
sql "ALTER TABLE analytics.facts SET UNLOGGED" >/dev/null
psql -X "$url" -qAt -c "COPY ($gen) TO STDOUT" | psql -X "$url" -v ON_ERROR_STOP=1 -qAt -c "COPY analytics.facts ($cols) FROM STDIN"
t1=$(date +%s.%N)
echo "loaded $(sql "SELECT count(*) FROM analytics.facts") facts by COPY in $(echo "$t1 - $t0" | bc) s"
counts="sum((NOT merged AND NOT invalid)::int), sum((NOT merged AND NOT invalid AND reached_us > 0)::int),
  sum((NOT merged AND NOT invalid AND reached_us > 0 AND reached_us <= response_due_us)::int),
  sum((NOT merged AND NOT invalid AND resolved)::int),
  sum((NOT merged AND NOT invalid AND resolved AND resolved_us <= resolve_due_us)::int),
  sum((NOT merged AND NOT invalid AND satisfied >= 0)::int), sum((NOT merged AND NOT invalid AND satisfied = 1)::int),
  sum((NOT merged AND NOT invalid AND escalations > 0)::int), sum((NOT merged AND NOT invalid AND reopens > 0)::int),
  sum(merged::int), sum((NOT merged AND invalid)::int),
  sum((NOT merged AND NOT invalid AND category = 'dispute')::int),
  sum((NOT merged AND NOT invalid AND category = 'dispute' AND resolved)::int)"
sql "INSERT INTO analytics.rollup (node, day, requests, reached, reached_on_time, resolved, resolved_on_time,
       rated, satisfied, escalated, reopened, merged, invalid, disputes, disputes_resolved)
     SELECT n.node, f.day, $counts FROM analytics.facts f
     CROSS JOIN LATERAL (VALUES (f.grid), (f.community), (f.subdistrict), (f.district)) n(node)
     GROUP BY n.node, f.day"
sql "INSERT INTO analytics.volumes (node, day, dim, value, n)
     SELECT n.node, f.day, 'category', f.category, count(*) FROM analytics.facts f
     CROSS JOIN LATERAL (VALUES (f.grid), (f.community), (f.subdistrict), (f.district)) n(node)
     WHERE NOT merged AND NOT invalid GROUP BY 1, 2, 4"
sql "INSERT INTO analytics.rollup_month SELECT node, date_trunc('month', day)::date, sum(requests),
     sum(reached), sum(reached_on_time), sum(resolved), sum(resolved_on_time), sum(rated),
     sum(satisfied), sum(escalated), sum(reopened), sum(merged), sum(invalid), sum(disputes),
     sum(disputes_resolved), analytics.array_sum(contact_hist), analytics.array_sum(resolve_hist)
     FROM analytics.rollup GROUP BY 1, 2"
sql "VACUUM ANALYZE analytics.facts" ; sql "VACUUM ANALYZE analytics.rollup"; sql "VACUUM ANALYZE analytics.volumes"
sql "VACUUM ANALYZE analytics.rollup_month"
# The load's dirty pages written out now, not during the timed calls.
sql "CHECKPOINT"
# The rates' working set (the rollups and the unreached facts' indexes,
# about 1.2 GB at 10 M) read into the OS page cache, as on a server sized
# for it: otherwise the first calls after the load read it from disk.
# Set GZ_BENCH_COLD=1 to time those cold reads instead.
if [ "${GZ_BENCH_COLD:-0}" != 1 ]; then
    sql "CREATE EXTENSION IF NOT EXISTS pg_prewarm" >/dev/null
    sql "SELECT sum(pg_prewarm(c.oid::regclass, 'read')) FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'analytics' AND (c.relname LIKE 'rollup%' OR c.relname LIKE 'facts_unreached%')" >/dev/null
fi
t2=$(date +%s.%N)
echo "rollups: $(sql "SELECT count(*) FROM analytics.rollup") rows, volumes: $(sql "SELECT count(*) FROM analytics.volumes") rows, in $(echo "$t2 - $t1" | bc) s"

# 2. The rates API: random node (grid .. district), random period (7 days
# .. 5 years) ending within the history, one call at a time.
sql "SELECT code FROM org.units WHERE level IN ('grid', 'community', 'subdistrict', 'district')" >"$tmp/nodes"
mapfile -t nodes <"$tmp/nodes"
RANDOM=${GZ_BENCH_SEED:-42}
: >"$tmp/urls"
for _ in $(seq "$REQUESTS"); do
    node=${nodes[RANDOM % ${#nodes[@]}]}
    days=$(( 7 + (RANDOM * 32768 + RANDOM) % (1826 - 7) ))
    end=$(( days + (RANDOM * 32768 + RANDOM) % (1827 - days) ))
    to=$(date -u -d "2021-12-01 + $end days" +%F); from=$(date -u -d "$to - $days days" +%F)
    echo "http://127.0.0.1:$((base + 4))/api/v1/rates?node=$node&from=$from&to=$to" >>"$tmp/urls"
done
percentiles() { # LABEL < seconds, one per line
    sort -n | awk -v l="$1" '{t[NR] = $1 * 1000} END {printf "%s: %d calls, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", l, NR, t[int(NR * 0.5)], t[int(NR * 0.99)], t[NR]}'
}
# a. One curl per call: each call a new process and a new connection.
: >"$tmp/times"
while read -r u; do
    curl -fsS -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer bench-op" "$u" >>"$tmp/times"
done <"$tmp/urls"
# The service's own view of the same calls (without curl's process start).
echo "the service's latency histogram for these calls (seconds: calls at or under):"
curl -fsS "http://127.0.0.1:$((base + 4))/metrics" | grep 'gz_http_request_duration_seconds_bucket{route="rates"' |
    sed 's/.*le="\([^"]*\)"} */  le \1: /' || true
percentiles "rates API, a curl per call" <"$tmp/times"
# b. The same calls again on one kept-alive connection (as the dashboard
# and a district system call it): one curl, every URL, one at a time.
sed 's/.*/url = "&"\noutput = "\/dev\/null"/' "$tmp/urls" >"$tmp/curl.cfg"
curl -fsS -K "$tmp/curl.cfg" -w '%{time_total}\n' -H "Authorization: Bearer bench-op" >"$tmp/times2"
percentiles "rates API, one connection" <"$tmp/times2"

# 3. Plain SQL over the raw facts.
sql "CREATE INDEX bench_facts_sub_day ON analytics.facts (subdistrict, day)"
sql "ANALYZE analytics.facts"
sub=$(sql "SELECT sub FROM public.bench_grids LIMIT 1"); com=$(sql "SELECT community FROM public.bench_grids LIMIT 1")
dis=$(sql "SELECT district FROM public.bench_grids LIMIT 1")
plain() { # LABEL WHERE
    local i ms=()
    for i in 1 2 3 4 5; do
        ms+=("$(psql -X "$url" -qAt -c '\timing on' -c "SELECT $counts FROM analytics.facts WHERE $2" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')")
    done
    printf '%s\n' "${ms[@]}" | sort -n | awk -v l="$1" 'NR == 3 {printf "plain SQL, %s: median %.1f ms of 5\n", l, $1}'
}
plain "sub-district-month" "subdistrict = '$sub' AND day BETWEEN '2025-06-01' AND '2025-06-30'"
plain "community-month" "community = '$com' AND day BETWEEN '2025-06-01' AND '2025-06-30'"
plain "district-year" "district = '$dis' AND day BETWEEN '2025-01-01' AND '2025-12-31'"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
kill -TERM "$rpid" 2>/dev/null || true
