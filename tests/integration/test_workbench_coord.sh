#!/usr/bin/env bash
# The coordinator's page of the workbench (/w/coord) and reassign, in a
# real browser 390 px wide with JavaScript off: days pass on routing's
# test clock with nobody acting on a request of a grid under a community,
# its deadlines escalate it up the ladder until it is overdue at the top
# rung; the community's duty coordinator signs in with the one-time link,
# follows 协调 from 待办, sees it overdue (counted by unit and by person,
# 已超时 in red), tries to reassign it to a grid worker of
# another community (refused with a Chinese message, nothing changes),
# then reassigns it to a grid worker of a neighbouring grid, whose 待办
# then has it. With curl: a grid worker gets the 403 page on /w/coord and
# no 协调 link; a reassign without its CSRF token is refused and changes
# nothing. The JSON worker API takes the same action (outside_area, 403
# for a grid worker, 200 for the coordinator). A screenshot
# (workbench_coord_390.png) lands in the build directory. Skipped (77)
# without chromium and chromedriver.
#
# The clock: routing runs inside gongzhi here, so its CLOCK pipe command
# (test_routing.c's way) is out of reach; GZ_TEST_CLOCK=1 opens
# POST /internal/v1/clock (operator token) instead, which moves the clock
# routing's timers and the pages read. Its refusals are checked too.
set -euo pipefail
: "${GZ_BUILD_DIR:?run under ctest}" "${GZ_TEST_DATABASE_URL:?run under scripts/test}"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=browser.sh
source "$(dirname "$0")/browser.sh"
bw_require
gz_init workbench_coord
gz_createdb
tmp=$GZ_TMP
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) GZ_DEMO_API_KEY=wbc-key \
       GZ_DEMO_OPERATOR_TOKEN=wbc-operator GZ_TEST_CLOCK=1
gz_seed
gz_start gongzhi.log "$GZ_BIN/gongzhi"
web="http://127.0.0.1:$GZ_PORT_BASE"
wb="http://127.0.0.1:$((GZ_PORT_BASE + 1))"
gz_wait_ready "$web" "$wb"
# shellcheck source=workbench.sh
source "$(dirname "$0")/workbench.sh"

assignee() { gz_sql "SELECT assignee_staff || ' ' || state FROM routing.requests WHERE id = '$1'"; }
signin() { # STAFF JAR: a session for STAFF in the cookie jar JAR (curl)
    local url st
    url=$(link "$1")
    st=$(curl -sS -o /dev/null -w '%{http_code}' -c "$2" -d "code=${url##*code=}" "$wb/w/login")
    [ "$st" = 303 ] || gz_fail "signing $1 in: $st"
}

# A request in grid HGY-G0001 (community HGY-C01), with its grid worker.
id=$(file HGY-B0001 '6单元楼道灯不亮，老人晚上下楼看不见')
before=$(assignee "$id")
worker=${before%% *}
grid=$(gz_sql "SELECT unit_code FROM org.staff WHERE id = '$worker'")
community=$(gz_sql "SELECT parent_code FROM org.units WHERE code = '$grid'")
[ "$community" = HGY-C01 ] || gz_fail "request $id is with $worker of $grid in $community"
coord=$(gz_sql "SELECT id FROM org.staff WHERE unit_code = '$community' AND role = 'community_duty' LIMIT 1")
# Another grid worker of the community, and one of another community.
peer=$(gz_sql "SELECT s.id FROM org.staff s JOIN org.units u ON u.code = s.unit_code
               WHERE u.parent_code = '$community' AND s.role = 'grid_worker' AND s.id <> '$worker'
               ORDER BY s.id LIMIT 1")
outsider=$(gz_sql "SELECT s.id FROM org.staff s JOIN org.units u ON u.code = s.unit_code
                   WHERE u.parent_code <> '$community' AND u.level = 'grid'
                   AND s.role = 'grid_worker' ORDER BY s.id LIMIT 1")
[ -n "$coord" ] && [ -n "$peer" ] && [ -n "$outsider" ] || gz_fail "seed: '$coord' '$peer' '$outsider'"

# ---- routing's test clock: the operator only.
clock() { # TOKEN BODY: status of POST /internal/v1/clock, the answer in $tmp/clock.json
    curl -sS -o "$tmp/clock.json" -w '%{http_code}' -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' -d "$2" "$wb/internal/v1/clock"
}
wtok=$("$GZ_BIN/gzctl" token issue "$worker" 2>/dev/null)
[ "$(clock "$wtok" '{"advance_s": 86400}')" = 403 ] || gz_fail "a grid worker moved the clock"
[ "$(clock nobody '{"advance_s": 86400}')" = 401 ] || gz_fail "an unknown token moved the clock"
for body in '{}' '{"advance_s": "1d"}' '{"now_us": -1}' '{"now_us": 1, "advance_s": 1}'; do
    [ "$(clock wbc-operator "$body")" = 400 ] || gz_fail "the clock took $body"
done
[ "$(assignee "$id")" = "$before" ] || gz_fail "a refused clock changed $id: $(assignee "$id")"

# Days pass with nobody acting: each day the due timers escalate the
# request one rung (its deadlines start again), until at the top rung a
# deadline runs out for good (DeadlineWarning, nothing armed): overdue.
now=0
settled() { # no timer of routing is due on its clock
    [ "$(gz_sql "SELECT count(*) FROM routing.timers WHERE fired_at_us IS NULL AND fire_at_us <= $now")" = 0 ]
}
overdue() {
    [ "$(gz_sql "SELECT level = 3 AND least(response_due_us, resolve_due_us) < $now
                 AND NOT EXISTS (SELECT 1 FROM routing.timers WHERE request_id = '$id'
                                 AND fired_at_us IS NULL AND kind LIKE '%_due')
                 FROM routing.requests WHERE id = '$id'")" = t ]
}
for day in $(seq 1 8); do
    [ "$(clock wbc-operator '{"advance_s": 86400}')" = 200 ] || gz_fail "the clock: $(cat "$tmp/clock.json")"
    now=$(jq -r .now_us "$tmp/clock.json")
    gz_wait_for 20 "routing's timers did not fire on day $day" settled
    overdue && break
done
overdue || gz_fail "request $id is not overdue at the top rung: $(gz_sql "SELECT level, response_due_us,
    resolve_due_us FROM routing.requests WHERE id = '$id'") now $now"
[ "$(gz_sql "SELECT count(*) FROM routing.timeline WHERE request_id = '$id' AND kind = 'escalated'")" = 3 ] ||
    gz_fail "request $id did not climb three rungs"
# The deadlines' reminders to staff are in the timeline, not in the
# resident's view of it (the status link's secret), as on intake's page.
[ "$(gz_sql "SELECT count(*) > 0 FROM routing.timeline WHERE request_id = '$id' AND kind = 'deadline_warning'")" = t ] ||
    gz_fail "request $id has no deadline_warning row"
secret=$(gz_sql "SELECT secret FROM intake.requests WHERE id = $id")
curl -fsS -o "$tmp/resident.json" "$wb/api/v1/requests/$id?t=$secret" || gz_fail "the resident's view"
jq -e '[.timeline[].kind] | index("escalated") and (index("deadline_warning") | not)' "$tmp/resident.json" >/dev/null ||
    gz_fail "the resident's view: $(jq -c '[.timeline[].kind]' "$tmp/resident.json")"
before=$(assignee "$id")
top=${before%% *}
topunit=$(gz_sql "SELECT assignee_unit FROM routing.requests WHERE id = '$id'")

# ---- the browser: the coordinator
bw_start 390 844 nojs
go 'data:text/html,<title>off</title><script>document.title="on"</script>'
[ "$(curl -sS "$s/title" | jq -r .value)" = off ] || fail "JavaScript is on in the test browser"

go "$(link "$coord")"
page_with '一次性登录链接' || fail "the sign-in link's page"
click 'button#login'
page_with '待签收</div>' || fail "no queue after the coordinator signed in"
grep -q 'href="/w/coord"' <<<"$page" || fail "待办 has no 协调 link for a coordinator"
click 'a[href="/w/coord"]'
page_with '按单位' || fail "the coordinator page does not count by unit"
grep -q "id=\"r-$id\"" <<<"$page" || fail "request $id is not on the coordinator page"
grep -q '<b id="late" class="late">1</b>' <<<"$page" || fail "the page does not count 1 overdue in red"
grep -q "<tr id=\"u-$topunit\">.*n-late late\">1<" <<<"$page" || fail "$topunit is not counted 1 overdue"
grep -q "<tr id=\"p-$top\">.*n-late late\">1<" <<<"$page" || fail "$top is not counted 1 overdue"
grep -q '<span class="late">已超时 ' <<<"$page" || fail "the overdue request is not marked 已超时 in red"
! grep -qi '<script' <<<"$page" || fail "the coordinator page carries a script"

# Outside the coordinator's area: refused, in Chinese, nothing changes.
click "#r-$id details summary"
type_in "#r-$id input[name=\"to_staff\"]" "$outsider"
click "#r-$id form[action\$=\"/reassign\"] button[type=\"submit\"]"
page_with '不在您的辖区' || fail "reassigning to $outsider (outside $community) was not refused clearly"
[ "$(assignee "$id")" = "$before" ] || fail "a refused reassign changed $id: $(assignee "$id")"

# To a grid worker of a neighbouring grid.
go "$wb/w/coord"
page_with "id=\"r-$id\"" || fail "back on the coordinator page"
click "#r-$id details summary"
type_in "#r-$id input[name=\"to_staff\"]" "$peer"
type_in "#r-$id textarea[name=\"text\"]" '原网格员请假，改派邻近网格'
click "#r-$id form[action\$=\"/reassign\"] button[type=\"submit\"]"
page_with '已改派' || fail "the reassign was not confirmed"
grep -q '已改派给' <<<"$page" || fail "the timeline does not show the reassign"
[ "$(assignee "$id")" = "$peer assigned" ] || fail "after the reassign: $(assignee "$id")"
[ "$(gz_sql "SELECT count(*) FROM routing.outbox WHERE key = '$id' AND type = 'RequestReassigned'")" = 1 ] ||
    fail "no RequestReassigned event on routing's stream"
[ "$(gz_sql "SELECT count(*) FROM routing.timeline WHERE request_id = '$id' AND kind = 'reassigned'
             AND actor_id = '$coord' AND note LIKE '%邻近网格%'")" = 1 ] ||
    fail "no timeline row of the reassign by $coord"
# Notify tells the new assignee, with the reason; the resident hears nothing (as on a transfer).
told() {
    [ "$(gz_sql "SELECT count(*) FROM notify.deliveries WHERE request_id = '$id' AND event = 'reassigned'
                 AND recipient = 'staff:$peer' AND template = 'reassigned.assignee'
                 AND vars->>'note' LIKE '%邻近网格%'")" = 1 ]
}
gz_wait_for 20 "notify planned no reassigned.assignee message to $peer" told
[ "$(gz_sql "SELECT count(*) FROM notify.deliveries WHERE request_id = '$id' AND event = 'reassigned'
             AND recipient <> 'staff:$peer'")" = 0 ] || fail "someone else heard of the reassign"

# The new assignee's 待办 has it.
bw_start 390 844 nojs
go "$(link "$peer")"
page_with '一次性登录链接' || fail "the peer's sign-in link"
click 'button#login'
page_with '待签收</div>' || fail "no queue for $peer"
grep -q "/w/r/$id\"" <<<"$page" || fail "request $id is not in $peer's 待办"
grep -q 'href="/w/coord"' <<<"$page" && fail "a grid worker's 待办 links to 协调"

# ---- curl: a grid worker gets the 403 page on /w/coord.
signin "$worker" "$tmp/worker.jar"
st=$(curl -sS -b "$tmp/worker.jar" -o "$tmp/out" -w '%{http_code}' "$wb/w/coord")
[ "$st" = 403 ] && grep -q '协调页面仅供' "$tmp/out" || gz_fail "a grid worker on /w/coord: $st"

# A reassign without its CSRF token (or with a wrong one) changes nothing.
signin "$coord" "$tmp/coord.jar"
curl -sS -b "$tmp/coord.jar" -o "$tmp/coord.html" "$wb/w/coord"
csrf=$(grep -o 'name="csrf" value="[0-9a-f]*"' "$tmp/coord.html" | head -1 | sed 's/.*value="//; s/"//')
[ ${#csrf} = 64 ] || gz_fail "the coordinator page's forms carry no CSRF token"
bad=${csrf%?}$([ "${csrf: -1}" = 0 ] && echo 1 || echo 0) # never the right one
for body in "to_staff=$worker" "to_staff=$worker&csrf=$bad"; do
    st=$(curl -sS -b "$tmp/coord.jar" -o "$tmp/out" -w '%{http_code}' -d "$body" "$wb/w/r/$id/reassign")
    [ "$st" = 403 ] && grep -q '操作没有执行' "$tmp/out" || gz_fail "reassign without its CSRF token: $st"
done
[ "$(assignee "$id")" = "$peer assigned" ] || gz_fail "a reassign without CSRF changed $id: $(assignee "$id")"

# ---- the JSON worker API: the same action.
api() { # TOKEN BODY: status and body of POST /api/v1/requests/$id/reassign
    curl -sS -o "$tmp/api.json" -w '%{http_code}' -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' -d "$2" "$wb/api/v1/requests/$id/reassign"
}
ctok=$("$GZ_BIN/gzctl" token issue "$coord" 2>/dev/null)
wtok=$("$GZ_BIN/gzctl" token issue "$peer" 2>/dev/null)
st=$(api "$ctok" "{\"to_staff\": \"$outsider\"}")
[ "$st" = 422 ] && [ "$(jq -r .error.code "$tmp/api.json")" = outside_area ] ||
    gz_fail "API reassign outside the area: $st $(cat "$tmp/api.json")"
st=$(api "$wtok" "{\"to_staff\": \"$worker\"}")
[ "$st" = 403 ] || gz_fail "a grid worker reassigned over the API: $st $(cat "$tmp/api.json")"
st=$(api "$ctok" '{}')
[ "$st" = 400 ] || gz_fail "API reassign without to_staff: $st"
[ "$(assignee "$id")" = "$peer assigned" ] || gz_fail "refused API calls changed $id: $(assignee "$id")"
st=$(api "$ctok" "{\"to_staff\": \"$worker\", \"reason\": \"原网格员已返岗\"}")
[ "$st" = 200 ] && [ "$(jq -r .state "$tmp/api.json")" = assigned ] ||
    gz_fail "API reassign: $st $(cat "$tmp/api.json")"
[ "$(assignee "$id")" = "$worker assigned" ] || gz_fail "after the API reassign: $(assignee "$id")"

# The coordinator page as a phone shows it: a 390 px wide screenshot.
bw_start 390 844 nojs mobile
go "$wb/w/login"
post /cookie "$(jq -n --arg v "$(awk '$6 == "gz_session" {print $7}' "$tmp/coord.jar")" \
    '{cookie: {name: "gz_session", value: $v, path: "/w/", httpOnly: true}}')" >/dev/null
go "$wb/w/coord"
page_with '按人员' || fail "the screenshot session does not show the coordinator page"
screenshot_at "$GZ_BUILD_DIR/workbench_coord_390.png" 390
echo "ok: workbench_coord"
