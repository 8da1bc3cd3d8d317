#!/usr/bin/env bash
# SIGTERM drains intake: while 300 Open311 POSTs are in flight from 32
# concurrent clients, gz-intake gets SIGTERM. It must exit 0, every request
# answered 201 must be stored (and announced in the outbox), and nothing
# answered otherwise may be stored without its client having heard "201".
set -euo pipefail
: "${GZ_BUILD_DIR:?run under ctest}" "${GZ_TEST_DATABASE_URL:?run under scripts/test}"
db="gzt_sigterm_$$_$RANDOM"
admin=$GZ_TEST_DATABASE_URL
url="${admin%/*}/$db"
tmp=$(mktemp -d /tmp/gz-sigterm.XXXXXX)
pid=""
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    psql "$admin" -qAt -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
psql "$admin" -qAt -c "CREATE DATABASE $db" >/dev/null
export GZ_DATABASE_URL=$url GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) GZ_INTAKE_RATE=0 \
       GZ_API_KEYS=t=sigterm-key GZ_LOG_LEVEL=warn
"$GZ_BUILD_DIR/services/gzctl" seed huaguoyuan >/dev/null
"$GZ_BUILD_DIR/services/gz-intake" 2>"$tmp/intake.log" &
pid=$!
base="http://127.0.0.1:$GZ_PORT_BASE"
for _ in $(seq 1 600); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
curl -fsS "$base/readyz" >/dev/null || { echo "FAIL: intake not ready"; cat "$tmp/intake.log"; exit 1; }

post() {
    curl -s -o /dev/null -w "%{http_code} $1\n" -H "Idempotency-Key: k$1" \
        -d api_key=sigterm-key -d service_code=road -d address_id=HGY-B0001 \
        -d description=d$1 "$base/open311/v2/requests.json" || true
}
export -f post
export base
seq 1 300 | xargs -P 32 -I{} bash -c 'post {}' >"$tmp/codes" &
load=$!
# Let some requests through, then ask intake to stop while others are in flight.
for _ in $(seq 1 200); do [ "$(wc -l <"$tmp/codes")" -ge 40 ] && break; sleep 0.02; done
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=""
wait "$load" || true
[ $rc -eq 0 ] || { echo "FAIL: gz-intake exited $rc after SIGTERM"; cat "$tmp/intake.log"; exit 1; }

ok=$(awk '$1 == 201' "$tmp/codes" | wc -l)
other=$(awk '$1 != 201' "$tmp/codes" | wc -l)
stored=$(psql "$url" -qAt -c "SELECT count(*) FROM intake.requests")
announced=$(psql "$url" -qAt -c "SELECT count(*) FROM intake.outbox WHERE type = 'RequestSubmitted'")
echo "answered 201: $ok, other answers: $other, stored: $stored, in outbox: $announced"
[ "$ok" -ge 40 ] || { echo "FAIL: too few requests before SIGTERM"; exit 1; }
# Every 201 is stored: each idempotency key answered 201 has its row.
awk '$1 == 201 { print "k" $2 }' "$tmp/codes" | sort >"$tmp/want"
psql "$url" -qAt -c "SELECT idempotency_key FROM intake.requests" | sort >"$tmp/have"
missing=$(comm -23 "$tmp/want" "$tmp/have" | wc -l)
extra=$(comm -13 "$tmp/want" "$tmp/have" | wc -l)
[ "$missing" -eq 0 ] || { echo "FAIL: $missing requests answered 201 are not stored"; exit 1; }
[ "$extra" -eq 0 ] || { echo "FAIL: $extra requests stored without a 201 answer"; exit 1; }
[ "$announced" -eq "$stored" ] || { echo "FAIL: outbox has $announced events for $stored requests"; exit 1; }
echo "PASS"
