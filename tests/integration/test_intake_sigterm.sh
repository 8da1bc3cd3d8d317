#!/usr/bin/env bash
# SIGTERM drains intake: while 300 Open311 POSTs are in flight from 32
# concurrent clients, gz-intake gets SIGTERM. It must exit 0, every request
# answered 201 must be stored (and announced in the outbox), and nothing
# answered otherwise may be stored without its client having heard "201".
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init sigterm
gz_createdb
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) GZ_INTAKE_RATE=0 \
       GZ_API_KEYS=t=sigterm-key GZ_LOG_LEVEL=warn
gz_seed
gz_start intake.log "$GZ_BIN/gz-intake"
pid=$GZ_PID
base="http://127.0.0.1:$GZ_PORT_BASE"
gz_wait_ready "$base"

post() {
    curl -s -o /dev/null -w "%{http_code} $1\n" -H "Idempotency-Key: k$1" \
        -d api_key=sigterm-key -d service_code=road -d address_id=HGY-B0001 \
        -d description=d$1 "$base/open311/v2/requests.json" || true
}
export -f post
export base
seq 1 300 | xargs -P 32 -I{} bash -c 'post {}' >"$GZ_TMP/codes" &
load=$!
# Let some requests through, then ask intake to stop while others are in flight.
for _ in $(seq 1 200); do [ "$(wc -l <"$GZ_TMP/codes")" -ge 40 ] && break; sleep 0.02; done
kill -TERM "$pid"
gz_reap "$pid"
wait "$load" || true
[ "$GZ_RC" -eq 0 ] || gz_fail "gz-intake exited $GZ_RC after SIGTERM"

ok=$(awk '$1 == 201' "$GZ_TMP/codes" | wc -l)
other=$(awk '$1 != 201' "$GZ_TMP/codes" | wc -l)
stored=$(gz_sql "SELECT count(*) FROM intake.requests")
announced=$(gz_sql "SELECT count(*) FROM intake.outbox WHERE type = 'RequestSubmitted'")
echo "answered 201: $ok, other answers: $other, stored: $stored, in outbox: $announced"
[ "$ok" -ge 40 ] || gz_fail "too few requests before SIGTERM"
# Every 201 is stored: each idempotency key answered 201 has its row.
awk '$1 == 201 { print "k" $2 }' "$GZ_TMP/codes" | sort >"$GZ_TMP/want"
gz_sql "SELECT idempotency_key FROM intake.requests" | sort >"$GZ_TMP/have"
missing=$(comm -23 "$GZ_TMP/want" "$GZ_TMP/have" | wc -l)
extra=$(comm -13 "$GZ_TMP/want" "$GZ_TMP/have" | wc -l)
[ "$missing" -eq 0 ] || gz_fail "$missing requests answered 201 are not stored"
[ "$extra" -eq 0 ] || gz_fail "$extra requests stored without a 201 answer"
[ "$announced" -eq "$stored" ] || gz_fail "outbox has $announced events for $stored requests"
echo "PASS"
