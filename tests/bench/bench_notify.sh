#!/usr/bin/env bash
# Notify benchmark (not a timed test). Against its own durable PostgreSQL
# cluster and a local webhook receiver (tests/tools/gz_webhook_sink):
#  1. throughput: $ROWS deliveries queued at once (staff recipients, so no
#     contact lookup), sent by gz-notify with 32 webhook workers (32
#     concurrent connections): deliveries per second from the first send to
#     the last;
#  2. latency at 200 events/s: gz-intake, gz-routing and gz-notify; curl
#     files 100 requests/s with a phone for $SECONDS_LOAD s, each routed
#     (two notifications: the resident and the assignee, so 200/s); the
#     time from routing's event (the delivery row's creation, when notify
#     consumed it) to the receiver's 200, and from the filing to it, p50
#     and p99.
# Usage: tests/bench/bench_notify.sh [rows] [seconds]   (20000, 20)
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$GZ_ROOT"
ROWS=${1:-20000}
SECONDS_LOAD=${2:-20}
gz_deps
BUILD=${GZ_BENCH_BUILD:-build-bench}
gz_build "$BUILD" >/dev/null
bin=$BUILD/services

tmp=$(mktemp -d /tmp/gz-bench.XXXXXX); chmod 755 "$tmp"
pgport=$(( 15000 + RANDOM % 5000 )); base=$(( 20000 + RANDOM % 10000 ))  # below the ephemeral ports
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    gz_pg_stop "$tmp/pg"; rm -rf "$tmp"
}
trap cleanup EXIT
gz_pg_start "$tmp/pg" "$pgport"   # durable: fsync and synchronous_commit on
url="postgresql://gongzhi@127.0.0.1:$pgport/gongzhi"
sink_port=$((base + 50))
export GZ_DATABASE_URL=$url GZ_PORT_BASE=$base GZ_INTAKE_RATE=0 GZ_API_KEYS=bench=bench-key \
       GZ_LOG_LEVEL=warn GZ_NOTIFY_CONTACT_KEY=bench-contact GZ_NOTIFY_QUIET_HOURS=off \
       GZ_NOTIFY_WEBHOOK_URL="http://127.0.0.1:$sink_port/hook" GZ_NOTIFY_WEBHOOK_SECRET=bench \
       GZ_BUS_HEARTBEAT_MS=200 GZ_ORG_CHECK_MS=0 GZ_NOTIFY_DIGEST_WINDOW_MS=0 \
       GZ_NOTIFY_RECIPIENT_PER_HOUR=0
"$bin"/gzctl migrate >/dev/null
"$bin"/gzctl seed huaguoyuan >/dev/null
"$BUILD"/tests/gz_webhook_sink "$sink_port" - >"$tmp/sink.log" 2>&1 &
pids+=($!)
ready() { for _ in $(seq 1 300); do curl -fsS "$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
sql() { psql "$url" -qAt -c "$1"; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. Throughput: rows queued before gz-notify starts (its schema made by a
#    first start), then a fresh start sends them all.
GZ_NOTIFY_CHANNEL_WORKERS=32 "$bin"/gz-notify 2>"$tmp/notify0.log" &
p=$!; ready "http://127.0.0.1:$((base + 3))" || { cat "$tmp/notify0.log"; exit 1; }
kill -TERM $p; wait $p || true
sql "INSERT INTO notify.deliveries (key, stream, position, event, request_id, audience, recipient,
       channel, template, vars)
     SELECT 'bench:' || g, 'routing', g, 'routed', g::text, 'assignee', 'staff:HGY-W0001',
       'webhook', 'routed.assignee',
       json_build_object('request_id', g::text, 'category', '物业管理', 'place', '示例小区1 1栋',
                         'deadline', '12月5日 18:00', 'assignee_unit', '示例网格')::jsonb
     FROM generate_series(1, $ROWS) g"
start=$(date +%s.%N)
GZ_NOTIFY_CHANNEL_WORKERS=32 "$bin"/gz-notify 2>"$tmp/notify1.log" &
p=$!; pids+=($p)
until [ "$(sql "SELECT count(*) FROM notify.deliveries WHERE state = 'sent'")" = "$ROWS" ]; do
    sleep 0.2
done
end=$(date +%s.%N)
span=$(sql "SELECT extract(epoch FROM max(sent_at) - min(sent_at)) FROM notify.deliveries")
awk -v n="$ROWS" -v s="$span" -v t0="$start" -v t1="$end" 'BEGIN {
    printf "throughput: %d deliveries, 32 connections: %.0f/s (first to last send %.1f s; %.1f s from start)\n",
           n, n / s, s, t1 - t0 }'
kill -TERM $p; wait $p || true
sql "TRUNCATE notify.deliveries"

# 2. Latency at 200 notifications/s through the three services.
"$bin"/gz-intake 2>"$tmp/intake.log" & pids+=($!)
"$bin"/gz-routing 2>"$tmp/routing.log" & pids+=($!)
GZ_NOTIFY_CHANNEL_WORKERS=8 "$bin"/gz-notify 2>"$tmp/notify2.log" & pids+=($!)
for port in $base $((base + 1)) $((base + 3)); do ready "http://127.0.0.1:$port" || exit 1; done
n=$((100 * SECONDS_LOAD))
sql "SELECT code FROM org.buildings ORDER BY code LIMIT $n" | awk -v u="http://127.0.0.1:$base/open311/v2/requests.json" '{
    printf "url = \"%s\"\ndata = \"api_key=bench-key&service_code=property&address_id=%s&description=bench&phone=1380000%04d\"\noutput = \"/dev/null\"\nnext\n", u, $1, NR % 10000 }' | sed '$d' >"$tmp/curl.cfg"
echo "filing $n requests at 100/s (curl --rate) ..."
curl -sS --rate 100/s -K "$tmp/curl.cfg" || true
until [ "$(sql "SELECT count(*) FROM notify.deliveries WHERE state = 'sent'")" -ge $((2 * n)) ]; do
    sleep 0.5
done
sql "SELECT 'event -> delivered (ms): p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1)
        || ', p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1)
        || ', max ' || round(max(ms)::numeric, 1) || ' over ' || count(*) || ' deliveries'
     FROM (SELECT extract(epoch FROM sent_at - created_at) * 1000 AS ms FROM notify.deliveries) d"
sql "SELECT 'filed -> delivered (ms): p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1)
        || ', p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1)
     FROM (SELECT extract(epoch FROM d.sent_at - r.submitted_at) * 1000 AS ms
           FROM notify.deliveries d JOIN intake.requests r ON r.id::text = d.request_id) x"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
