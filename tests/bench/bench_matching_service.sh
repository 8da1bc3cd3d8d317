#!/usr/bin/env bash
# The matching service's batch, end to end (not a timed test). Against its
# own durable PostgreSQL cluster and the Huaguoyuan demo directory:
#  1. `gzctl volunteers import` of $VOLUNTEERS volunteers (a generated CSV
#     over every grid: 9 skill sets, 5 weekly patterns, caps 2-5): rows/s;
#  2. $NEEDS open needs (weekly 08:00-20:00, a random skill, a random
#     building; written by SQL, the batch is what is measured);
#  3. one batch on demand (POST /api/v1/match through gongzhi): the HTTP
#     round trip (lock and load the needs and volunteers, build the pairs,
#     solve, write the offers and their events, commit), and the batch's
#     own log line (pairs, matched, cost, solve time);
#  4. the batch again after every offer expired (each need now excludes
#     its first volunteer).
# Usage: tests/bench/bench_matching_service.sh [needs] [volunteers]   (10000, 50000)
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$GZ_ROOT"
NEEDS=${1:-10000}
VOLUNTEERS=${2:-50000}
gz_deps
BUILD=${GZ_BENCH_BUILD:-build-bench}
gz_build "$BUILD" >/dev/null
bin=$BUILD/services

tmp=$(mktemp -d /tmp/gz-bench.XXXXXX); chmod 755 "$tmp"
pgport=$(( 15000 + RANDOM % 5000 )); base=$(( 20000 + RANDOM % 10000 ))  # below the ephemeral ports
pid=""
cleanup() {
    [ -z "$pid" ] || { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
    gz_pg_stop "$tmp/pg"; rm -rf "$tmp"
}
trap cleanup EXIT
gz_pg_start "$tmp/pg" "$pgport"   # durable: fsync and synchronous_commit on
url="postgresql://gongzhi@127.0.0.1:$pgport/gongzhi"
export GZ_DATABASE_URL=$url GZ_PORT_BASE=$base GZ_DEMO_OPERATOR_TOKEN=bench-op \
       GZ_MATCHING_ANSWER_TIMEOUT_MS=600000 \
       GZ_MATCHING_BATCH_MS=0 GZ_ORG_CHECK_MS=0 GZ_MATCHING_OFFER_TTL_S=3600
sql() { psql "$url" -qAt -c "$1"; }
"$bin"/gzctl migrate >/dev/null 2>&1
"$bin"/gzctl seed huaguoyuan >/dev/null 2>&1
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

sql "SELECT code FROM org.units WHERE level = 'grid' ORDER BY code" | awk -v n="$VOLUNTEERS" '
BEGIN {
    split("shopping|companionship;housework|meal_delivery;hospital_escort|companionship;" \
          "repairs|housework;tutoring|child_care;elderly_care|shopping|companionship;" \
          "legal_aid;psych_support|companionship;haircut|elderly_care", sk, ";")
    split("mon-fri 08:00-12:00;sat-sun 09:00-18:00;mon-sun 14:00-20:00;" \
          "mon,wed,fri 09:00-17:00;mon-sun 07:00-21:00", av, ";")
    print "id,name,skills,grid,availability,max_per_week"
}
{ grid[NR] = $1 }
END { for (i = 0; i < n; i++)
          printf "v-%06d,志愿者%d,%s,%s,\"%s\",%d\n", i, i, sk[i % 9 + 1], grid[(i * 7919) % NR + 1],
                 av[i % 5 + 1], 2 + i % 4 }' >"$tmp/volunteers.csv"
t0=$(date +%s.%N)
"$bin"/gzctl volunteers import "$tmp/volunteers.csv" 2>/dev/null
t1=$(date +%s.%N)
awk -v n="$VOLUNTEERS" -v a="$t0" -v b="$t1" \
    'BEGIN { printf "import: %d volunteers in %.2f s (%.0f rows/s)\n", n, b - a, n / (b - a) }'

sql "INSERT INTO matching.needs (building_code, grid_code, community_code, subdistrict_code, lat,
       lon, household, contact_name, skill, recurring, weekly, windows, source)
     SELECT b.code, b.grid_code, g.parent_code, c.parent_code, b.lat, b.lon,
       b.code || '/居民' || s, '居民' || s, (s * 7) % 12, true, 'mon-sun 08:00-20:00',
       (SELECT array_agg(int4range(d * 1440 + 480, d * 1440 + 1200)) FROM generate_series(0, 6) d),
       'api'
     FROM generate_series(1, $NEEDS) s
     JOIN LATERAL (SELECT * FROM org.buildings OFFSET (s * 104729) % 4000 LIMIT 1) b ON true
     JOIN org.units g ON g.code = b.grid_code JOIN org.units c ON c.code = g.parent_code"
"$bin"/gongzhi 2>"$tmp/gongzhi.log" &
pid=$!
for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$((base + 2))/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

batch() {
    local a b out
    a=$(date +%s.%N)
    out=$(curl -sS -m 600 -X POST -H "Authorization: Bearer bench-op" "http://127.0.0.1:$((base + 2))/api/v1/match")
    b=$(date +%s.%N)
    awk -v a="$a" -v b="$b" -v o="$out" -v w="$1" 'BEGIN { printf "%s: %s in %.2f s (HTTP round trip)\n", w, o, b - a }'
    grep 'msg="batch"' "$tmp/gongzhi.log" | tail -1 | sed 's/.*msg="batch" /  batch: /'
    grep 'svc=matching.*level=warn\|level=error' "$tmp/gongzhi.log" | tail -3 || true
}
batch "batch 1 ($NEEDS needs x $VOLUNTEERS volunteers)"
sql "UPDATE matching.offers SET expires_at = now() WHERE state = 'offered'"
until [ "$(sql "SELECT count(*) FROM matching.offers WHERE state = 'offered'")" = 0 ]; do sleep 0.2; done
batch "batch 2 (after every offer expired)"
echo "offers: $(sql "SELECT count(*) FROM matching.offers"); MatchOffered events: $(sql "SELECT count(*) FROM matching.outbox WHERE type = 'MatchOffered'")"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
