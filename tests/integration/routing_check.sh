# Shared by test_routing_kill9.sh and test_routing_replicas.sh (sourced,
# not a test itself), on top of lib.sh: a fresh database with the seeded
# directory, a rules file with short deadlines, starting gz-intake and
# gz-routing processes, waiting for the timers to settle, and the
# exactly-once checks.
#
# The caller sets -euo pipefail, sources lib.sh, calls gz_init with its
# name, then rc_setup.

RC_LOAD=$GZ_BUILD_DIR/tests/gz_routing_load
RC_INTAKE=""
RC_KEY=rk-key

export GZ_LOG_LEVEL=${GZ_LOG_LEVEL:-warn} GZ_BUS_HEARTBEAT_MS=${GZ_BUS_HEARTBEAT_MS:-250}
export GZ_ROUTING_TIMER_MS=${GZ_ROUTING_TIMER_MS:-100}

# rc_setup: database, seed, rules (the shipped rules with every deadline cut
# to respond 2s / resolve 4s, so warnings at 1.6 s / 3.2 s and escalations
# every 2 s / 4 s happen during the run), ports.
rc_setup() {
    [ -x "$RC_LOAD" ] || gz_fail "$RC_LOAD not built"
    gz_createdb
    export GZ_API_KEYS="rk=$RC_KEY" GZ_INTAKE_RATE=0
    gz_seed
    awk '!/^[[:space:]]*(#|$)/ && $1 != "set" { $7 = "2s"; $8 = "4s" } { print }' \
        "${GZ_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/services/routing/default.rules" \
        >"$GZ_TMP/short.rules"
    export GZ_ROUTING_RULES=$GZ_TMP/short.rules
    # Ports: GZ_PORT_BASE+0..13 for intake and the first routing; further
    # routing replicas use base+20+10k.. (see rc_routing_env).
    export GZ_PORT_BASE=$((20000 + RANDOM % 9000))
}

# rc_routing_env K: the environment of routing replica K (0, 1, ...).
rc_routing_env() {
    local k=$1 b=$((GZ_PORT_BASE + 20 + 10 * $1))
    [ "$k" -eq 0 ] && { echo ""; return; }
    echo "GZ_ROUTING_HTTP_PORT=$b GZ_ROUTING_BUS=tcp://127.0.0.1:$((b + 1))" \
        "GZ_ROUTING_EVENTS=tcp://127.0.0.1:$((b + 2))"
}
rc_routing_http() {
    [ "$1" -eq 0 ] && echo $((GZ_PORT_BASE + 1)) || echo $((GZ_PORT_BASE + 20 + 10 * $1))
}

# rc_start_routing K: start replica K in the background; its pid in GZ_PID.
rc_start_routing() {
    # shellcheck disable=SC2046
    gz_start "routing$1.log" env $(rc_routing_env "$1") "$GZ_BIN/gz-routing"
}

# rc_start_intake ROUTING_EVENTS: intake, following routing's stream there.
rc_start_intake() {
    gz_start intake.log env GZ_ROUTING_EVENTS="$1" "$GZ_BIN/gz-intake"
    # shellcheck disable=SC2034 # read by the tests that source this file
    RC_INTAKE=$GZ_PID
    gz_wait_ready "http://127.0.0.1:$GZ_PORT_BASE"
}

RC_NOW="(extract(epoch from clock_timestamp()) * 1000000)::bigint"

# rc_settle TOTAL LIMIT_S: wait until routing holds TOTAL requests, has
# consumed intake's whole stream and no timer is unfired (the ladder is
# finite: at the top a missed deadline only warns, so every request ends
# with all its timers fired). Prints how long it took.
rc_settle() {
    local total=$1 limit=$2 t0=$SECONDS state=""
    while [ $((SECONDS - t0)) -lt "$limit" ]; do
        state=$(gz_sql "SELECT (SELECT count(*) FROM routing.requests),
            (SELECT coalesce(max(position), 0) FROM routing.bus_cursor
              WHERE consumer = 'routing' AND stream = 'intake')
              - (SELECT coalesce(max(head), 0) FROM intake.bus_stream WHERE stream = 'intake'),
            (SELECT count(*) FROM routing.timers WHERE fired_at_us IS NULL)" | tr '|' ' ')
        read -r held behind unfired <<<"$state"
        [ "$held" -eq "$total" ] && [ "$behind" -eq 0 ] && [ "$unfired" -eq 0 ] && {
            echo "$GZ_NAME: settled in $((SECONDS - t0))s"
            return 0
        }
        sleep 0.5
    done
    gz_fail "not settled after ${limit}s: routed $held of $total, cursor behind by $behind," \
        "$unfired timers unfired ($(gz_sql "SELECT count(*) FROM routing.timers
            WHERE fired_at_us IS NULL AND fire_at_us < $RC_NOW - 2000000") overdue by 2s+)"
}

# rc_zero WHAT SQL: SQL counts violations; it must be 0.
rc_zero() {
    local n
    n=$(gz_sql "$2") || gz_fail "query for '$1' failed"
    [ "$n" = 0 ] || gz_fail "$1: $n"
}

# rc_verify TOTAL PREFIX: the exactly-once checks. Prints figures.
rc_verify() {
    local total=$1 prefix=$2
    local held
    held=$(gz_sql "SELECT count(*) FROM intake.requests WHERE idempotency_key LIKE '$prefix-%'")
    [ "$held" -eq "$total" ] || gz_fail "intake holds $held of $total requests"
    rc_zero "requests of intake routing does not hold" \
        "SELECT count(*) FROM intake.requests i LEFT JOIN routing.requests r ON r.id = i.id::text
         WHERE r.id IS NULL"
    rc_zero "routing rows that intake does not know" \
        "SELECT count(*) FROM routing.requests r LEFT JOIN intake.requests i ON r.id = i.id::text
         WHERE i.id IS NULL"
    # Routed exactly once: one RequestRouted or RequestMerged event, one
    # routed/merged timeline row, per request.
    rc_zero "requests without exactly one RequestRouted/RequestMerged event" \
        "SELECT count(*) FROM routing.requests r LEFT JOIN (SELECT key, count(*) n FROM routing.outbox
           WHERE type IN ('RequestRouted', 'RequestMerged') GROUP BY key) o ON o.key = r.id
         WHERE coalesce(o.n, 0) <> 1"
    rc_zero "requests without exactly one routed/merged timeline row" \
        "SELECT count(*) FROM routing.requests r LEFT JOIN (SELECT request_id, count(*) n
           FROM routing.timeline WHERE kind IN ('routed', 'merged') GROUP BY request_id) t
           ON t.request_id = r.id WHERE coalesce(t.n, 0) <> 1"
    rc_zero "routing events for requests routing does not hold" \
        "SELECT count(*) FROM routing.outbox o LEFT JOIN routing.requests r ON r.id = o.key
         WHERE r.id IS NULL"
    # Merged exactly where a request repeats the building and category of
    # an earlier one in intake's stream, into that first one.
    rc_zero "merges that differ from the stream's repeats" \
        "WITH s AS (SELECT o.position, i.id::text id, i.building_code b, i.service_code c
                      FROM intake.outbox o JOIN intake.requests i ON i.id::text = o.key
                     WHERE o.type = 'RequestSubmitted'),
              f AS (SELECT DISTINCT ON (b, c) b, c, id FROM s ORDER BY b, c, position)
         SELECT count(*) FROM s JOIN f USING (b, c) JOIN routing.requests r ON r.id = s.id
          WHERE (s.id = f.id) <> (r.merged_into IS NULL) OR (s.id <> f.id AND r.merged_into <> f.id)"
    rc_zero "co-handler rows of merged requests" \
        "SELECT count(*) FROM routing.co_handlers c JOIN routing.requests r ON r.id = c.request_id
         WHERE r.state = 'merged'"
    # Timers: none lost (every routed request armed both deadlines; none
    # is left unfired), none early, each fired once (one warning or
    # escalation per fired timer, per request and deadline; one re-arm per
    # escalation).
    rc_zero "routed requests missing a first-generation timer" \
        "SELECT count(*) FROM routing.requests r WHERE r.state <> 'merged' AND
           (SELECT count(*) FROM routing.timers t WHERE t.request_id = r.id AND t.generation = 1
              AND t.kind IN ('response_warn', 'response_due', 'resolve_warn', 'resolve_due')) <> 4"
    rc_zero "timers of merged requests" \
        "SELECT count(*) FROM routing.timers t JOIN routing.requests r ON r.id = t.request_id
         WHERE r.state = 'merged'"
    rc_zero "timers unfired" "SELECT count(*) FROM routing.timers WHERE fired_at_us IS NULL"
    rc_zero "timers fired before they were due" \
        "SELECT count(*) FROM routing.timers WHERE fired_at_us < fire_at_us"
    rc_zero "(request, deadline) pairs whose fired timers and warning/escalation rows differ" \
        "WITH f AS (SELECT request_id, split_part(kind, '_', 1) d, count(*) n FROM routing.timers
                     WHERE fired_at_us IS NOT NULL GROUP BY 1, 2),
              t AS (SELECT request_id, detail->>'deadline' d, count(*) n FROM routing.timeline
                     WHERE kind IN ('deadline_warning', 'escalated') GROUP BY 1, 2)
         SELECT count(*) FROM f FULL JOIN t USING (request_id, d)
          WHERE coalesce(f.n, 0) <> coalesce(t.n, 0)"
    rc_zero "requests whose fired timers and DeadlineWarning/RequestEscalated events differ" \
        "WITH f AS (SELECT request_id id, count(*) n FROM routing.timers
                     WHERE fired_at_us IS NOT NULL GROUP BY 1),
              e AS (SELECT key id, count(*) n FROM routing.outbox
                     WHERE type IN ('DeadlineWarning', 'RequestEscalated') GROUP BY 1)
         SELECT count(*) FROM f FULL JOIN e USING (id) WHERE coalesce(f.n, 0) <> coalesce(e.n, 0)"
    rc_zero "(request, deadline) pairs whose escalations and re-arms differ" \
        "WITH g AS (SELECT request_id, split_part(kind, '_', 1) d, max(generation) - 1 n
                      FROM routing.timers WHERE kind LIKE '%_due' GROUP BY 1, 2),
              t AS (SELECT request_id, detail->>'deadline' d, count(*) n FROM routing.timeline
                     WHERE kind = 'escalated' GROUP BY 1, 2)
         SELECT count(*) FROM g FULL JOIN t USING (request_id, d)
          WHERE coalesce(g.n, 0) <> coalesce(t.n, 0)"
    # Timeline and events agree, kind by kind.
    rc_zero "(request, kind) pairs whose timeline rows and events differ" \
        "WITH t AS (SELECT request_id id, CASE kind WHEN 'routed' THEN 'RequestRouted'
                      WHEN 'merged' THEN 'RequestMerged' WHEN 'deadline_warning' THEN 'DeadlineWarning'
                      WHEN 'escalated' THEN 'RequestEscalated' ELSE kind END ty, count(*) n
                      FROM routing.timeline GROUP BY 1, 2),
              e AS (SELECT key id, type ty, count(*) n FROM routing.outbox GROUP BY 1, 2)
         SELECT count(*) FROM t FULL JOIN e USING (id, ty) WHERE coalesce(t.n, 0) <> coalesce(e.n, 0)"
    # No doubled or stray assignment: the request's assignee and level are
    # those of its last timeline row.
    rc_zero "requests whose assignee differs from their last timeline row" \
        "SELECT count(*) FROM routing.requests r JOIN LATERAL (SELECT detail FROM routing.timeline t
           WHERE t.request_id = r.id ORDER BY seq DESC LIMIT 1) l ON true
         WHERE coalesce(r.assignee_staff, '') <> coalesce(l.detail->'assignee'->>'staff_id', '')
            OR r.assignee_unit <> coalesce(l.detail->'assignee'->>'unit_code', '')"
    rc_zero "requests whose level differs from their last escalation" \
        "SELECT count(*) FROM routing.requests r JOIN LATERAL (SELECT detail FROM routing.timeline t
           WHERE t.request_id = r.id AND t.kind = 'escalated' ORDER BY seq DESC LIMIT 1) l ON true
         WHERE r.level <> (l.detail->>'escalation_level')::int"
    # The routing stream itself: gap-free, head and watermark at the end.
    rc_zero "routing stream positions not 1..head" \
        "SELECT count(*) FROM routing.bus_stream s WHERE s.stream = 'routing' AND
           (s.head <> (SELECT count(*) FROM routing.outbox WHERE stream = 'routing') OR
            s.head <> (SELECT coalesce(max(position), 0) FROM routing.outbox WHERE stream = 'routing'))"
    gz_sql "SELECT 'figures: requests ' || count(*) || ', routed ' || count(*) FILTER (WHERE state <> 'merged')
              || ' (local ' || count(*) FILTER (WHERE tier = 1 AND state <> 'merged')
              || ', upper ' || count(*) FILTER (WHERE tier = 2 AND state <> 'merged')
              || ', hard ' || count(*) FILTER (WHERE tier = 3 AND state <> 'merged')
              || '), merged ' || count(*) FILTER (WHERE state = 'merged')
              || '; final level grid/community/subdistrict/department '
              || count(*) FILTER (WHERE level = 0) || '/' || count(*) FILTER (WHERE level = 1) || '/'
              || count(*) FILTER (WHERE level = 2) || '/' || count(*) FILTER (WHERE level = 3)
            FROM routing.requests" | sed "s/^/$GZ_NAME: /"
    gz_sql "SELECT 'timers fired: ' || string_agg(kind || ' ' || n, ', ' ORDER BY kind) || '; total '
              || sum(n) FROM (SELECT kind, count(*) n FROM routing.timers WHERE fired_at_us IS NOT NULL
              GROUP BY kind) k" | sed "s/^/$GZ_NAME: /"
    gz_sql "SELECT 'events: ' || string_agg(type || ' ' || n, ', ' ORDER BY type) || '; total ' || sum(n)
              FROM (SELECT type, count(*) n FROM routing.outbox GROUP BY type) e" | sed "s/^/$GZ_NAME: /"
    gz_sql "SELECT 'timer lateness (fired - due) ms: p50 ' ||
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY fired_at_us - fire_at_us) / 1000) ||
              ', p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY fired_at_us - fire_at_us) / 1000) ||
              ', max ' || round(max(fired_at_us - fire_at_us) / 1000.0)
              FROM routing.timers WHERE fired_at_us IS NOT NULL" | sed "s/^/$GZ_NAME: /"
}
