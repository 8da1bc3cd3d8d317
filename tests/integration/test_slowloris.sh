#!/usr/bin/env bash
# One hostile client must not take the HTTP ports away from everyone
# (hardening, item 1). From 127.0.0.2, 1,100 slowloris connections per port
# (a header line every second, never the end of the header, each reopened
# as soon as the server ends it), then 5,000 idle connections; meanwhile a
# resident on 127.0.0.1 gets the QR page (intake) and an operator the
# worker API (routing), each in under a second, again and again. The
# per-address limit refuses the surplus, the header deadline cuts the rest
# (GZ_HTTP_HEADER_TIMEOUT_S=3 here), no thread is started per connection,
# and the log does not get a line per connection.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init slowloris
gz_createdb
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) \
       GZ_DEMO_OPERATOR_TOKEN=slow-operator GZ_HTTP_HEADER_TIMEOUT_S=3 GZ_ORG_CHECK_MS=0
gz_seed
gz_start gongzhi.log "$GZ_BIN/gongzhi"
pid=$GZ_PID
web="http://127.0.0.1:$GZ_PORT_BASE"
api="http://127.0.0.1:$((GZ_PORT_BASE + 1))"
# Every service of the process ready (each starts its threads first).
gz_wait_ready "$web" "$api" "http://127.0.0.1:$((GZ_PORT_BASE + 2))" \
    "http://127.0.0.1:$((GZ_PORT_BASE + 3))" "http://127.0.0.1:$((GZ_PORT_BASE + 4))"
threads_before=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status")

# probe NAME URL [HEADER]: one request from 127.0.0.1; fail unless it is
# answered 200 within a second.
probe() {
    local out code took
    out=$(curl -sS -o /dev/null -m 5 -w '%{http_code} %{time_total}' ${3:+-H "$3"} "$2") ||
        gz_fail "$1: no answer during the attack"
    read -r code took <<<"$out"
    [ "$code" = 200 ] || gz_fail "$1: HTTP $code during the attack"
    awk -v t="$took" 'BEGIN { exit !(t < 1.0) }' || gz_fail "$1 took ${took}s during the attack"
}

# attack MODE COUNT SECONDS: the hostile client on both ports, and the
# probes every half second while it lasts.
attack() {
    local mode=$1 count=$2 seconds=$3 a b n=0 threads
    "$GZ_BUILD_DIR/tests/gz_slowloris" 127.0.0.2 "$GZ_PORT_BASE" "$count" "$seconds" "$mode" \
        >"$GZ_TMP/$mode-intake.out" 2>&1 &
    a=$!
    "$GZ_BUILD_DIR/tests/gz_slowloris" 127.0.0.2 "$((GZ_PORT_BASE + 1))" "$count" "$seconds" \
        "$mode" >"$GZ_TMP/$mode-routing.out" 2>&1 &
    b=$!
    sleep 1 # the connections are up
    while kill -0 "$a" 2>/dev/null || kill -0 "$b" 2>/dev/null; do
        probe "QR page ($mode)" "$web/q/HGY-B0001"
        probe "worker API ($mode)" "$api/api/v1/queue" "Authorization: Bearer slow-operator"
        threads=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status")
        [ "$threads" -le $((threads_before + 2)) ] ||
            gz_fail "threads grew from $threads_before to $threads under the attack"
        n=$((n + 1))
        sleep 0.5
    done
    wait "$a" || gz_fail "gz_slowloris (intake) failed: $(cat "$GZ_TMP/$mode-intake.out")"
    wait "$b" || gz_fail "gz_slowloris (routing) failed: $(cat "$GZ_TMP/$mode-routing.out")"
    [ "$n" -ge 4 ] || gz_fail "only $n probes during the $mode attack"
    echo "$mode: intake $(cat "$GZ_TMP/$mode-intake.out"); routing $(cat "$GZ_TMP/$mode-routing.out"); $n probes answered in < 1 s"
}

# metric URL NAME: the value of an unlabelled series on URL/metrics.
metric() { curl -fsS "$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'; }

attack slow 1100 8
for u in "$web" "$api"; do
    refused=$(metric "$u" gz_http_connections_refused_total)
    cut=$(metric "$u" gz_http_connections_cut_total)
    awk -v r="$refused" 'BEGIN { exit !(r >= 1000) }' || gz_fail "$u refused only $refused"
    awk -v c="$cut" 'BEGIN { exit !(c >= 64) }' || gz_fail "$u cut only $cut slow connections"
done
# The 64 slowloris connections the limit let in were cut after about 3 s,
# though each sent a line every second.
grep -q "ended_by_server=[1-9]" "$GZ_TMP/slow-intake.out" || gz_fail "nothing ended by intake"

attack idle 5000 6

# A few lines about the flood, not one per connection.
lines=$(grep -c 'svc=http' "$GZ_TMP/gongzhi.log" || true)
[ "$lines" -lt 200 ] || gz_fail "$lines log lines about HTTP connections"
echo "log: $lines http lines"

gz_stop "$pid" gongzhi
echo "test_slowloris: ok"
