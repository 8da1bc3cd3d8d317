#!/usr/bin/env bash
# test_matching_kill9: matching survives kill -9 mid-batch (issue 10). A
# registry of 3,000 volunteers imported with gzctl over the seeded grids
# (every hour of the week, four skills in various sets, no weekly cap in
# reach); 1,000 needs created over HTTP by a loop that keeps going while
# gz-matching, alone (intake and routing not running: it follows their
# streams and waits), batching every 50 ms, is killed with SIGKILL at
# random moments and restarted. Then, quiet: every need acknowledged with
# a 201 exists, none was created twice; no need has two offers out; each
# offer has exactly one MatchOffered event (key = its need) and each need
# one NeedCreated; the batches' matched sum to the offers; each need is
# offered, or open with nobody able to take it. SIGTERM then exits 0.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init matching_kill9
gz_createdb
export GZ_PORT_BASE=$((20000 + RANDOM % 10000)) GZ_BUS_HEARTBEAT_MS=200 GZ_ORG_CHECK_MS=0 \
    GZ_MATCHING_BATCH_MS=50
NEEDS=${GZ_KILL9_NEEDS:-1000} # a multiple of 4
VOLUNTEERS=3000
KILLS=15
LIMIT_S=$((${GZ_SANITIZED:+3*}100)) # for the creation (ASan: slower)
m="http://127.0.0.1:$((GZ_PORT_BASE + 2))"
gz_seed

# Routing's schema holds the staff tokens: migrate it once (gz-routing up
# and down), then matching runs without it.
gz_start routing.log "$GZ_BIN/gz-routing"
gz_wait_ready "http://127.0.0.1:$((GZ_PORT_BASE + 1))"
kill -TERM "$GZ_PID"; gz_reap "$GZ_PID" # (it may exit 1: intake never ran)
worker=$(gz_sql "SELECT id FROM org.staff ORDER BY id LIMIT 1")
auth="Authorization: Bearer $("$GZ_BIN/gzctl" token issue "$worker" 2>/dev/null)"

# The registry: skills from four, every grid in turn.
skills=(shopping companionship housework hospital_escort)
mapfile -t grids < <(gz_sql "SELECT code FROM org.units WHERE level = 'grid' ORDER BY code")
{
    echo "id,name,skills,grid,availability,max_per_week,phone"
    for i in $(seq 1 $VOLUNTEERS); do
        a=${skills[$((i % 4))]} b=${skills[$(((i / 4) % 4))]}
        printf 'v-%04d,志愿者%d,%s|%s,%s,mon-sun 00:00-24:00,50,138%08d\n' "$i" "$i" "$a" "$b" \
            "${grids[$((i % ${#grids[@]}))]}" "$i"
    done
} >"$GZ_TMP/volunteers.csv"
"$GZ_BIN/gzctl" volunteers import "$GZ_TMP/volunteers.csv" >"$GZ_TMP/import.out" 2>"$GZ_TMP/import.log" ||
    gz_fail "import: $(tail -3 "$GZ_TMP/import.log")"
grep -qx "imported $VOLUNTEERS volunteers ($VOLUNTEERS new, 0 updated)" "$GZ_TMP/import.out" ||
    gz_fail "import: $(cat "$GZ_TMP/import.out")"

start_matching() {
    gz_start matching.log "$GZ_BIN/gz-matching"
    MATCHING=$GZ_PID
}
start_matching
gz_wait_ready "$m"

# A creator (four at once; a batch holds the actor for a while, and the
# writes queued meanwhile are done together): POST needs until its share
# of $NEEDS were acknowledged; each 201's id goes to acked.txt. A POST
# without an answer may or may not exist.
mapfile -t buildings < <(gz_sql "SELECT code FROM org.buildings ORDER BY random() LIMIT $NEEDS")
from=$(TZ=Asia/Shanghai date -d "@$(($(date +%s) + 3600))" '+%Y-%m-%dT%H:%M:%S+08:00')
to=$(TZ=Asia/Shanghai date -d "@$(($(date +%s) + 10800))" '+%Y-%m-%dT%H:%M:%S+08:00')
CREATORS=4
create() { # K: the creator's number, 0..CREATORS-1
    local n=0 i=$1 code out="$GZ_TMP/need$1.json"
    while [ $n -lt $((NEEDS / CREATORS)) ]; do
        i=$((i + CREATORS))
        code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 5 -X POST -H "$auth" \
            -H 'Content-Type: application/json' \
            -d "{\"building\":\"${buildings[$((i % NEEDS))]}\",\"contact_name\":\"住户$i\",
                 \"phone\":\"139$(printf %08d $i)\",\"skill\":\"${skills[$((i % 4))]}\",
                 \"window\":{\"from\":\"$from\",\"to\":\"$to\"}}" "$m/api/v1/needs" 2>/dev/null) || true
        if [ "$code" = 201 ]; then
            jq -r .id "$out" >>"$GZ_TMP/acked.txt"
            n=$((n + 1))
        else
            echo "$code" >>"$GZ_TMP/refused.txt"
            sleep 0.02
        fi
    done
}
: >"$GZ_TMP/acked.txt"
CREATOR=()
for k in $(seq 0 $((CREATORS - 1))); do
    create "$k" &
    CREATOR+=($!)
    GZ_PIDS+=($!)
done
creating() { local p; for p in "${CREATOR[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }

# Kill at random moments (during start-up too) while the needs come in.
started=$SECONDS
kills=0
sleep 0.3
while [ $kills -lt $KILLS ] || creating; do
    [ $((SECONDS - started)) -lt $LIMIT_S ] || gz_fail "creation not done after ${LIMIT_S}s: $(wc -l <"$GZ_TMP/acked.txt") acknowledged, $(sort "$GZ_TMP/refused.txt" | uniq -c | tr "\n" " ")"
    if [ $kills -ge 25 ]; then
        sleep 0.2
        continue
    fi
    kill -0 "$MATCHING" 2>/dev/null || gz_fail "gz-matching died without being killed"
    gz_kill9 "$MATCHING"
    [ "$GZ_RC" -eq 137 ] || gz_fail "gz-matching exited $GZ_RC before it was killed"
    kills=$((kills + 1))
    start_matching
    [ $((RANDOM % 2)) -eq 0 ] && gz_wait_ready "$m"
    ms=$((100 + RANDOM % 501))
    sleep "0.$(printf '%03d' "$ms")"
    [ "$ms" -lt 1000 ] || sleep 0.6
done
for p in "${CREATOR[@]}"; do
    gz_reap "$p"
    [ "$GZ_RC" -eq 0 ] || gz_fail "a creator exited $GZ_RC"
done
echo "$GZ_NAME: $kills kills in $((SECONDS - started))s; $(wc -l <"$GZ_TMP/acked.txt") needs" \
    "acknowledged, $(wc -l <"$GZ_TMP/refused.txt" 2>/dev/null || echo 0) POSTs unanswered"
gz_wait_ready "$m"

# Quiet: no open need anyone could take (same grid, the skill: feasible,
# every volunteer being available all week and far under their cap).
q() { gz_sql "$1"; }
feasible_open="SELECT count(*) FROM matching.needs n WHERE n.state = 'open' AND EXISTS
    (SELECT 1 FROM matching.volunteers v WHERE v.grid_code = n.grid_code
     AND (v.skills >> n.skill) & 1 = 1)"
settled() { [ "$(q "$feasible_open")" = 0 ]; }
gz_wait_for 60 "open needs that a volunteer could take remain" settled
sleep 0.5

needs=$(q "SELECT count(*) FROM matching.needs")
offers=$(q "SELECT count(*) FROM matching.offers")
# comm wants both lists in the same (byte) order, not numeric.
LC_ALL=C sort "$GZ_TMP/acked.txt" >"$GZ_TMP/acked.sorted"
[ "$(sort -un "$GZ_TMP/acked.txt" | wc -l)" = "$NEEDS" ] || gz_fail "an id acknowledged twice"
q "SELECT id FROM matching.needs" | LC_ALL=C sort >"$GZ_TMP/stored.txt"
lost=$(LC_ALL=C comm -23 "$GZ_TMP/acked.sorted" "$GZ_TMP/stored.txt" | wc -l)
[ "$lost" = 0 ] || gz_fail "$lost acknowledged needs are missing"
[ "$needs" -ge "$NEEDS" ] || gz_fail "$needs needs stored"
twice=$(q "SELECT count(*) FROM (SELECT contact_name FROM matching.needs
           GROUP BY contact_name HAVING count(*) > 1) x")
[ "$twice" = 0 ] || gz_fail "$twice POSTs made two needs"
two_out=$(q "SELECT count(*) FROM (SELECT need_id FROM matching.offers WHERE state = 'offered'
             GROUP BY need_id HAVING count(*) > 1) x")
[ "$two_out" = 0 ] || gz_fail "$two_out needs have two offers out"
events=$(q "SELECT count(*) FROM matching.outbox WHERE type = 'MatchOffered'")
[ "$events" = "$offers" ] || gz_fail "$offers offers but $events MatchOffered events"
mismatch=$(q "SELECT count(*) FROM matching.needs n
    WHERE (SELECT count(*) FROM matching.offers o WHERE o.need_id = n.id)
       <> (SELECT count(*) FROM matching.outbox e WHERE e.type = 'MatchOffered' AND e.key = n.id::text)")
[ "$mismatch" = 0 ] || gz_fail "$mismatch needs whose offers and MatchOffered events differ"
created=$(q "SELECT count(*) FROM matching.needs n WHERE (SELECT count(*) FROM matching.outbox e
             WHERE e.type = 'NeedCreated' AND e.key = n.id::text) <> 1")
[ "$created" = 0 ] || gz_fail "$created needs without exactly one NeedCreated"
[ "$(q "SELECT count(*) FROM matching.outbox WHERE type = 'NeedCreated'")" = "$needs" ] ||
    gz_fail "NeedCreated events are not one per need"
other=$(q "SELECT count(*) FROM matching.needs WHERE state NOT IN ('offered', 'open')")
[ "$other" = 0 ] || gz_fail "$other needs neither offered nor open"
unoffered=$(q "SELECT count(*) FROM matching.needs n WHERE n.state = 'offered' AND NOT EXISTS
    (SELECT 1 FROM matching.offers o WHERE o.need_id = n.id AND o.state = 'offered')")
[ "$unoffered" = 0 ] || gz_fail "$unoffered needs offered without an offer out"
matched=$(q "SELECT coalesce(sum(matched), 0) FROM matching.batches")
[ "$matched" = "$offers" ] || gz_fail "the batches matched $matched, but there are $offers offers"
open=$(q "SELECT count(*) FROM matching.needs WHERE state = 'open'")
[ "$offers" -gt 0 ] || gz_fail "nothing was offered"
echo "$GZ_NAME: $needs needs, $offers offers in $(q "SELECT count(*) FROM matching.batches")" \
    "batches, $open open with nobody able to take them"
gz_stop "$MATCHING" gz-matching
echo "$GZ_NAME: PASS in $((SECONDS - started))s"
