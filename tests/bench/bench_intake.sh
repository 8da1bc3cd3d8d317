#!/usr/bin/env bash
# Intake benchmark (not a timed test). In one run on this machine:
#  1. pgbench's rate for single-row durable INSERTs at 64 clients
#     (fsync=on, synchronous_commit=on: the default cluster settings);
#  2. 64 concurrent Open311 POSTs at a real intake (gz-intake) for
#     $DURATION seconds (wrk), against the same cluster;
# and prints requests/s, p50/p99 latency and the ratio to pgbench.
# Usage: tests/bench/bench_intake.sh [seconds] [rounds]   (30, 1)
# With rounds > 1 the two phases alternate (pgbench, intake, pgbench, ...)
# against the same cluster and the median of the per-round ratios is
# printed too: on a shared 2-core machine either figure swings by a
# quarter from one run to the next, and one pair says little.
# GZ_BENCH_BUILD names the build directory (default build-bench/, its own,
# so a benchmark never races another build). Both phases start right after
# a CHECKPOINT, so neither pays for the other's dirty buffers or the first
# full-page writes after a checkpoint; the load average before each phase
# is printed because a busy machine skews both figures.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$GZ_ROOT"
DURATION=${1:-30}
ROUNDS=${2:-1}
CLIENTS=64
GZ_PACKAGES="$GZ_PACKAGES wrk" gz_deps
BUILD=${GZ_BENCH_BUILD:-build-bench}
gz_build "$BUILD" >/dev/null

tmp=$(mktemp -d /tmp/gz-bench.XXXXXX); chmod 755 "$tmp"
pgport=$(( 15000 + RANDOM % 5000 )); base=$(( 20000 + RANDOM % 10000 ))  # below the ephemeral ports
pid=""
cleanup() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; gz_pg_stop "$tmp/pg"; rm -rf "$tmp"; }
trap cleanup EXIT
gz_pg_start "$tmp/pg" "$pgport"   # durable: fsync and synchronous_commit on
url="postgresql://gongzhi@127.0.0.1:$pgport/gongzhi"
psql "$url" -qAt -c "SHOW fsync" -c "SHOW synchronous_commit" | paste -sd' ' | sed 's/^/fsync, synchronous_commit: /'

load() { echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"; }
# CPU busy (user + system, all cores) over the middle of a phase, from
# /proc/stat: a phase that leaves the CPU idle is waiting, not working.
cpu_sample() { awk '/^cpu / {print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }
cpu_busy() { # seconds-from-now window-seconds -> prints "NN%" after it
    sleep "$1"; local a b; a=$(cpu_sample); sleep "$2"; b=$(cpu_sample)
    echo "$a $b" | awk '{ printf "%.0f%%\n", 100 * ($3 - $1) / ($4 - $2) }'
}

# The gz-intake under test: started once, used by every round.
start_intake() {
    # The load comes from one address: no per-address connection limit.
    export GZ_DATABASE_URL=$url GZ_PORT_BASE=$base GZ_INTAKE_RATE=0 GZ_API_KEYS=bench=bench-key GZ_LOG_LEVEL=warn \
           GZ_HTTP_MAX_PER_ADDRESS=0
    "$BUILD"/services/gzctl migrate >/dev/null
    "$BUILD"/services/gzctl seed huaguoyuan >/dev/null
    "$BUILD"/services/gz-intake 2>"$tmp/intake.log" &
    pid=$!
    for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    curl -fsS "http://127.0.0.1:$base/readyz" >/dev/null 2>&1 ||
        { echo "gz-intake did not become ready:" >&2; cat "$tmp/intake.log" >&2; exit 1; }
    building=$(psql "$url" -qAt -c "SELECT code FROM org.buildings ORDER BY code LIMIT 1")
    cat >"$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "api_key=bench-key&service_code=property&address_id=$building&description=%E6%A5%BC%E9%81%93%E7%81%AF%E5%9D%8F%E4%BA%86&phone=13800001234"
done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d non2xx=%d total=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, summary.errors.status, summary.requests))
end
LUA
}

commits() { curl -fsS "http://127.0.0.1:$base/metrics" | awk '$1 == "gz_intake_commits_total" {print $2}'; }

# One pgbench phase: sets pg_tps and pg_cpu.
pgbench_phase() {
    echo "== pgbench: single-row INSERT, $CLIENTS clients, ${DURATION}s"
    psql "$url" -q -c "CHECKPOINT"
    load
    cpu_busy $((DURATION / 4)) $((DURATION / 2)) >"$tmp/pgbench.cpu" & cpu_pid=$!
    pgbench -n -h 127.0.0.1 -p "$pgport" -U gongzhi -c $CLIENTS -j 2 -T "$DURATION" -f "$tmp/insert.sql" gongzhi >"$tmp/pgbench.out" 2>&1
    wait "$cpu_pid"
    pg_tps=$(grep -Eo 'tps = [0-9.]+' "$tmp/pgbench.out" | head -1 | awk '{print $3}')
    pg_cpu=$(cat "$tmp/pgbench.cpu")
    echo "pgbench tps: $pg_tps ($(grep -E '^latency average' "$tmp/pgbench.out")), CPU busy $pg_cpu"
}

# One intake phase: sets rps, p50, p99 and in_cpu.
intake_phase() {
    echo "== intake: $CLIENTS concurrent Open311 POSTs, ${DURATION}s"
    psql "$url" -q -c "CHECKPOINT"
    load
    local c0 c1 stored0 stored1 result
    c0=$(commits); stored0=$(psql "$url" -qAt -c "SELECT count(*) FROM intake.requests")
    cpu_busy $((DURATION / 4)) $((DURATION / 2)) >"$tmp/intake.cpu" & cpu_pid=$!
    wrk -t2 -c$CLIENTS -d"${DURATION}s" --latency -s "$tmp/post.lua" "http://127.0.0.1:$base/open311/v2/requests.json" >"$tmp/wrk.out" 2>&1
    wait "$cpu_pid"
    grep -E 'Latency|Requests/sec|Non-2xx|Socket' "$tmp/wrk.out"
    result=$(grep RESULT "$tmp/wrk.out")
    echo "$result"
    rps=$(echo "$result" | sed -E 's/.*rps=([0-9.]+).*/\1/')
    p50=$(echo "$result" | sed -E 's/.*p50_ms=([0-9.]+).*/\1/')
    p99=$(echo "$result" | sed -E 's/.*p99_ms=([0-9.]+).*/\1/')
    in_cpu=$(cat "$tmp/intake.cpu")
    c1=$(commits); stored1=$(psql "$url" -qAt -c "SELECT count(*) FROM intake.requests")
    echo "requests stored: $((stored1 - stored0)) in $((c1 - c0)) commits, CPU busy $in_cpu"
}

psql "$url" -q -c "CREATE TABLE bench_insert (id bigserial PRIMARY KEY, v int, t text, at timestamptz DEFAULT now())"
echo "INSERT INTO bench_insert (v, t) VALUES (random() * 1000, 'x');" >"$tmp/insert.sql"
start_intake
: >"$tmp/rounds"
for round in $(seq 1 "$ROUNDS"); do
    [ "$ROUNDS" -gt 1 ] && echo "==== round $round of $ROUNDS"
    pgbench_phase
    intake_phase
    ratio=$(awk -v a="$rps" -v b="$pg_tps" 'BEGIN { printf "%.2f", a / b }')
    echo "$round $pg_tps $pg_cpu $rps $in_cpu $p50 $p99 $ratio" >>"$tmp/rounds"
done
# The HTTP front's own ceiling (no database, no commit) on this machine,
# for reading the figures: intake cannot beat it.
http_rps=$(wrk -t2 -c$CLIENTS -d"$(( (DURATION + 3) / 4 ))s" "http://127.0.0.1:$base/healthz" 2>&1 |
    awk '/Requests\/sec/ {print $2}')
echo "== summary"
if [ "$ROUNDS" -gt 1 ]; then
    echo "round  pgbench tps (CPU)  intake POST/s (CPU)  p50/p99 ms   ratio"
    awk '{ printf "%5d  %9.0f (%4s)    %9.0f (%4s)     %s / %s   %s\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$tmp/rounds"
    sort -n -k8 "$tmp/rounds" | awk '{ r[NR] = $8 } END { m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2; printf "median ratio intake/pgbench over %d rounds: %.2f\n", NR, m }'
else
    echo "CPU busy mid-phase: pgbench $pg_cpu, intake $in_cpu"
    echo "pgbench single-row INSERT tps (64 clients): $pg_tps"
    echo "intake Open311 POST/s (64 clients):         $rps"
    echo "intake latency p50 $p50 ms, p99 $p99 ms"
    echo "ratio intake/pgbench: $ratio"
fi
echo "HTTP front alone (GET /healthz, 64 clients): $http_rps req/s"
