#!/usr/bin/env bash
# Staff looking at a resident's phone is for staff only (issue 12): a
# request filed with a phone is signed for by its grid worker, who opens
# its workbench page (the number as a tel: link, one contact_viewed row in
# routing's timeline per view). The resident, with the status link's secret, does
# not see that view: not on intake's status page (/r/{id}?t=), not in the
# Open311 request or the servicerequestupdates feed, not in routing's
# GET /api/v1/requests/{id}?t=. Staff do: the worker's bearer token on the
# same API and the request page list it. Also: without GZ_TEST_CLOCK,
# /internal/v1/clock does not exist (404, even for the operator).
set -euo pipefail
: "${GZ_BUILD_DIR:?run under ctest}" "${GZ_TEST_DATABASE_URL:?run under scripts/test}"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init workbench_privacy
gz_createdb
tmp=$GZ_TMP
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) GZ_DEMO_API_KEY=wbp-key \
       GZ_DEMO_OPERATOR_TOKEN=wbp-operator GZ_NOTIFY_CONTACT_KEY=wbp-contact-key
unset GZ_TEST_CLOCK
gz_seed
gz_start gongzhi.log "$GZ_BIN/gongzhi"
web="http://127.0.0.1:$GZ_PORT_BASE"
wb="http://127.0.0.1:$((GZ_PORT_BASE + 1))"
api="$wb/api/v1/requests"
gz_wait_ready "$web" "$wb"
phone=13812340000

id=$(curl -fsS -d api_key=wbp-key -d service_code=property -d address_id=HGY-B0001 -d "phone=$phone" \
    --data-urlencode 'description=3单元电梯停运，老人下不了楼' "$web/open311/v2/requests.json" |
    jq -r '.[0].service_request_id')
[ -n "$id" ] && [ "$id" != null ] || gz_fail "filing failed"
routed() { [ -n "$(gz_sql "SELECT assignee_staff FROM routing.requests WHERE id = '$id' AND state = 'assigned'")" ]; }
gz_wait_for 20 "request $id was not routed" routed
worker=$(gz_sql "SELECT assignee_staff FROM routing.requests WHERE id = '$id'")
secret=$(gz_sql "SELECT secret FROM intake.requests WHERE id = $id")
tok=$("$GZ_BIN/gzctl" token issue "$worker" 2>/dev/null)
curl -fsS -o /dev/null -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' -d '{}' \
    "$api/$id/accept" || gz_fail "accept"

# The worker opens the request page: the number, and one logged view.
st=$(curl -sS -o /dev/null -w '%{http_code}' -c "$tmp/jar" --data-urlencode "token=$tok" "$wb/w/login")
[ "$st" = 303 ] || gz_fail "signing $worker in: $st"
curl -fsS -b "$tmp/jar" -o "$tmp/req.html" "$wb/w/r/$id" || gz_fail "the request page"
grep -q "href=\"tel:$phone\"" "$tmp/req.html" || gz_fail "the worker's page has no tel: link"
[ "$(gz_sql "SELECT count(*) FROM routing.timeline WHERE request_id = '$id' AND kind = 'contact_viewed'")" = 1 ] ||
    gz_fail "the view of the number was not logged"
# (The page lists the views before its own: the second load shows the first.)
curl -fsS -b "$tmp/jar" -o "$tmp/req.html" "$wb/w/r/$id" || gz_fail "the request page again"
grep -q '查看居民电话' "$tmp/req.html" || gz_fail "the staff page's timeline does not show the view"

# Staff (the worker's token) see the view in the API's timeline.
curl -fsS -H "Authorization: Bearer $tok" -o "$tmp/staff.json" "$api/$id" || gz_fail "staff view"
jq -e '[.timeline[].kind] | index("contact_viewed")' "$tmp/staff.json" >/dev/null ||
    gz_fail "staff do not see the view: $(jq -c '[.timeline[].kind]' "$tmp/staff.json")"

# The resident, with the status link's secret: every step but that one.
curl -fsS -o "$tmp/resident.json" "$api/$id?t=$secret" || gz_fail "the resident's view"
kinds=$(jq -c '[.timeline[].kind]' "$tmp/resident.json")
jq -e '[.timeline[].kind] | index("accepted")' "$tmp/resident.json" >/dev/null ||
    gz_fail "the resident's view lacks the steps: $kinds"
! grep -q 'contact_viewed\|查看居民电话' "$tmp/resident.json" ||
    gz_fail "the resident's API view shows that staff looked at the phone: $kinds"

# Intake's status page and Open311 (from routing's events): the steps, not the view.
accepted() { curl -fsS "$web/r/$id?t=$secret" -o "$tmp/status.html" && grep -q '已签收' "$tmp/status.html"; }
gz_wait_for 20 "the status page does not show 已签收" accepted
! grep -q 'contact_viewed\|查看居民电话' "$tmp/status.html" ||
    gz_fail "the resident's status page mentions the view of the phone"
curl -fsS -o "$tmp/o311.json" "$web/open311/v2/requests/$id.json" || gz_fail "Open311 request"
! grep -q 'contact_viewed\|查看居民电话' "$tmp/o311.json" || gz_fail "Open311 shows the view: $(cat "$tmp/o311.json")"
curl -fsS -o "$tmp/updates.json" "$web/open311/v2/servicerequestupdates.json" || gz_fail "Open311 updates"
jq -e --arg id "$id" '[.service_request_updates[] | select(.service_request_id == $id)] | length > 0' \
    "$tmp/updates.json" >/dev/null || gz_fail "the updates feed lacks request $id: $(head -c 400 "$tmp/updates.json")"
! grep -q 'contact_viewed\|查看居民电话' "$tmp/updates.json" || gz_fail "the updates feed shows the view"

# No test clock in production: /internal/v1/clock is not there.
for m in GET POST; do
    st=$(curl -sS -o /dev/null -w '%{http_code}' -X "$m" -H 'Authorization: Bearer wbp-operator' \
        -H 'Content-Type: application/json' -d '{"advance_s": 86400}' "$wb/internal/v1/clock")
    [ "$st" = 404 ] || gz_fail "$m /internal/v1/clock without GZ_TEST_CLOCK: $st"
done
echo "ok: workbench_privacy"
