#!/usr/bin/env bash
# Routing benchmark (not a timed test; never run by ctest). Real gz-intake and
# gz-routing on a fresh durable PostgreSQL cluster (fsync and
# synchronous_commit on), the seeded huaguoyuan directory, the shipped rules
# (merge window cut to 1s so repeated building/category pairs across runs
# are routed, not merged). The load generator (tests/bench/bench_routing.c)
# runs on the same machine: it sends SubmitRequest over intake's bus at a
# paced rate and times each request from its scheduled send to the arrival
# of its RequestRouted event on routing's PUB (client clock, end to end:
# intake commit and publish, routing consume, commit and publish).
#  1. steady 500 requests/s for $DURATION s (default 60): p50/p90/p99/max;
#     cross-checked with the database: routing.requests.routed_at_us minus
#     the submitted_at_us intake stamped (server side, no publish legs);
#  2. steps of $STEP_S s (default 20) at 1000, 1500, 2000, 2500, 3000, 4000, 5000,
#     6000/s until p99 reaches 100 ms, a request is not routed within 15 s of the last send or the generator
#     cannot keep the rate: the highest rate that passed is the result.
# Usage: tests/bench/bench_routing.sh [seconds]   (default 60)
# GZ_BENCH_BUILD names the build directory (default build/; GZ_BENCH_NOBUILD=1
# uses it as built). STEPS="" skips the steps; GZ_BENCH_STEADY sets the
# steady rate (default 500). GZ_BENCH_PGSS=1 loads pg_stat_statements and prints, after the
# steady run, routing's statements per routed request and consumer
# transactions (events per batch): figures that other load on the machine
# does not move, unlike the latencies.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$GZ_ROOT"
DURATION=${1:-60}
STEP_S=${STEP_S:-20}
STEADY=${GZ_BENCH_STEADY:-500}
STEPS=${STEPS-"1000 1500 2000 2500 3000 4000 5000 6000"}
BUILD=${GZ_BENCH_BUILD:-build}
gz_deps
[ "${GZ_BENCH_NOBUILD:-0}" = 1 ] || gz_build "$BUILD" >/dev/null

tmp=$(mktemp -d /tmp/gz-bench-routing.XXXXXX); chmod 755 "$tmp"
pgport=$(( 15000 + RANDOM % 5000 )); base=$(( 20000 + RANDOM % 10000 ))  # below the ephemeral ports
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    gz_pg_stop "$tmp/pg"
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "bench_routing: FAIL: $*" >&2; tail -n 20 "$tmp"/*.log >&2; exit 1; }

gz_pg_start "$tmp/pg" "$pgport"   # durable: fsync and synchronous_commit on
if [ "${GZ_BENCH_PGSS:-0}" = 1 ]; then
    echo "shared_preload_libraries = 'pg_stat_statements'" | gz_pg_as tee -a "$tmp/pg/postgresql.conf" >/dev/null
    gz_pg_stop "$tmp/pg" && gz_pg_start "$tmp/pg" "$pgport"
    psql "postgresql://gongzhi@127.0.0.1:$pgport/gongzhi" -qAt -c "CREATE EXTENSION pg_stat_statements"
fi
url="postgresql://gongzhi@127.0.0.1:$pgport/gongzhi"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
psql "$url" -qAt -c "SHOW fsync" -c "SHOW synchronous_commit" | paste -sd' ' | sed 's/^/fsync, synchronous_commit: /'

sed 's/^set merge_window .*/set merge_window 1s/' services/routing/default.rules >"$tmp/bench.rules"
export GZ_DATABASE_URL=$url GZ_PORT_BASE=$base GZ_INTAKE_RATE=0 GZ_API_KEYS=bench=bench-key \
       GZ_LOG_LEVEL=warn GZ_ROUTING_RULES=$tmp/bench.rules
"$BUILD"/services/gzctl seed huaguoyuan >/dev/null
# GZ_BENCH_ROUTING_WRAP runs routing under a tool, e.g.
# "valgrind --tool=callgrind --callgrind-out-file=/tmp/routing.cg" (CPU per request).
${GZ_BENCH_ROUTING_WRAP:-} "$BUILD"/services/gz-routing 2>"$tmp/routing.log" & pids+=($!)
"$BUILD"/services/gz-intake 2>"$tmp/intake.log" & pids+=($!)
for port in $base $((base + 1)); do
    for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 || fail "service on port $port not ready"
done

# run RATE SECONDS PREFIX: one paced run; prints and keeps its RESULT line.
run() {
    "$BUILD"/tests/bench/bench_routing "tcp://127.0.0.1:$((base + 10))" "tcp://127.0.0.1:$((base + 11))" \
        "tcp://127.0.0.1:$((base + 13))" bench-key "$url" "$1" "$2" "$3" | tee "$tmp/last.out"
}
field() { sed -E "s/.* $1=([0-9.]+).*/\1/" "$tmp/last.out"; }

echo "== steady: $STEADY requests/s for ${DURATION}s (latency: scheduled send -> RequestRouted on routing's PUB)"
run "$STEADY" "$DURATION" "s$STEADY"
steady=$(cat "$tmp/last.out")
db=$(psql "$url" -qAt -c "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY d)::numeric, 1) || ' ' ||
        round(percentile_cont(0.99) WITHIN GROUP (ORDER BY d)::numeric, 1)
      FROM (SELECT (r.routed_at_us - r.submitted_at_us) / 1000.0 d FROM routing.requests r
            JOIN intake.requests i ON i.id::text = r.id WHERE i.idempotency_key LIKE 's$STEADY-%') x")
echo "database view (routed_at_us - intake's submitted_at_us): p50 ${db% *} ms, p99 ${db#* } ms"
if [ "${GZ_BENCH_PGSS:-0}" = 1 ]; then
    # routing's writer and intake share the database: count only statements
    # on routing's schema or its consumer's cursor, per request it routed.
    psql "$url" -qAt -F' ' -c "
      WITH n AS (SELECT count(*)::numeric AS routed FROM routing.requests),
           s AS (SELECT query, calls, total_exec_time FROM pg_stat_statements
                 WHERE query ~ 'routing\"?\.')
      SELECT 'routing statements per routed request: ' ||
             round(sum(calls) FILTER (WHERE query ~ 'routing\"?\.') / n.routed, 2) ||
             ', consumer transactions: ' ||
             sum(calls) FILTER (WHERE query ~ 'routing\"?\.bus_cursor.*FOR UPDATE') ||
             ' (events per transaction ' ||
             round(n.routed / nullif(sum(calls) FILTER (WHERE query ~ 'routing\"?\.bus_cursor.*FOR UPDATE'), 0), 1) || ')'
      FROM s, n GROUP BY n.routed"
    psql "$url" -qAt -F' | ' -c "
      SELECT calls, round(total_exec_time::numeric, 1) AS ms, left(regexp_replace(query, '\s+', ' ', 'g'), 90)
      FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 14"
fi

echo "== steps of ${STEP_S}s: the highest steady rate with p99 < 100 ms"
best=0
best_line=""
for r in $STEPS; do
    sleep 2 # let the previous run's tail drain
    run "$r" "$STEP_S" "r$r"
    p99=$(field p99_ms); lost=$(field unrouted); achieved=$(field achieved)
    ok=$(awk -v p="$p99" -v l="$lost" -v a="$achieved" -v r="$r" \
        'BEGIN { print (p < 100 && l == 0 && a >= 0.98 * r) ? 1 : 0 }')
    [ "$ok" = 1 ] || { echo "   ($r/s fails: p99 ${p99} ms, unrouted $lost, achieved $achieved/s)"; break; }
    best=$r; best_line=$(cat "$tmp/last.out")
done

echo "== summary ($(nproc) cores, load generator, intake, routing and PostgreSQL on this machine)"
echo "steady $STEADY/s ${DURATION}s: $(sed -E 's/.*(p50_ms=[0-9.]+).*(p99_ms=[0-9.]+).*(max_ms=[0-9.]+).*/\1 \2 \3/' <<<"$steady")" \
     "(unrouted $(sed -E 's/.* unrouted=([0-9]+).*/\1/' <<<"$steady"))"
echo "highest steady rate with p99 < 100 ms: ${best}/s ${best_line:+($(sed -E 's/.*(p50_ms=[0-9.]+).*(p99_ms=[0-9.]+).*/\1 \2/' <<<"$best_line"))}"
