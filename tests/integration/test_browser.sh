#!/usr/bin/env bash
# The resident's pages in a real browser with JavaScript turned off: headless
# Chromium driven over WebDriver (chromedriver), phone-sized window, against
# the real all-in-one binary. The resident opens the QR page of a building,
# picks a category, types a Chinese description and a phone number, taps
# 提交, gets the request number, follows the link to the status page; the
# request is stored exactly as typed, with channel QR, and the phone shows
# only masked. Then the grid worker resolves it and the resident rates it
# on the status page, in the browser too. scripts/test installs chromium
# and chromium-driver; run by hand without them, the test is skipped
# (exit 77).
set -euo pipefail
: "${GZ_BUILD_DIR:?run under ctest}" "${GZ_TEST_DATABASE_URL:?run under scripts/test}"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=browser.sh
source "$(dirname "$0")/browser.sh"
bw_require
gz_init browser
gz_createdb
tmp=$GZ_TMP
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) GZ_DEMO_API_KEY=browser-key
gz_seed
gz_start gongzhi.log "$GZ_BIN/gongzhi"
web="http://127.0.0.1:$GZ_PORT_BASE"
gz_wait_ready "$web"

# The pages defend themselves: nothing but their inline style loads, forms
# post only back, no framing, no Referer (the status link holds a token).
headers=$(curl -sS -D - -o /dev/null "$web/q/HGY-B0001" | tr -d '\r')
for h in "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'" \
         "Referrer-Policy: no-referrer" "X-Frame-Options: DENY" "X-Content-Type-Options: nosniff"; do
    grep -qiF "$h" <<<"$headers" || fail "QR page without the header: $h"
done

# WebDriver: chromedriver on a free port, one session, JavaScript off.
bw_start 390 844 nojs

# 1. The QR code of HGY-B0001 opens its page: the building is known.
go "$web/q/HGY-B0001"
page=$(source_of)
grep -q '码上办' <<<"$page" || fail "not the QR page"
grep -q '示例' <<<"$page" || fail "the building's name is not shown"
! grep -qi '<script' <<<"$page" || fail "the QR page carries a script"
# JavaScript is off in this browser: a page whose script would retitle it
# keeps its title.
post /url '{"url": "data:text/html,<title>off</title><script>document.title=\"on\"</script>"}' >/dev/null
[ "$(curl -sS "$s/title" | jq -r .value)" = off ] || fail "JavaScript is on in the test browser"
go "$web/q/HGY-B0001"

# 2. The resident fills in the form and taps 提交.
description='3单元5楼楼道灯不亮已经一周了，晚上上下楼很不方便'
click 'select[name="service_code"] option[value="property"]'
type_in 'textarea[name="description"]' "$description"
type_in 'input[name="phone"]' '13800001234'
click 'form[action^="/q/"] button[type="submit"], form[action^="/q/"] input[type="submit"]'

# 3. The answer: accepted, with the request number and a link to its progress.
page_with '您的诉求已受理' || fail "no acceptance page after 提交"
id=$(grep -o 'href="/r/[0-9]*' <<<"$page" | head -1 | sed 's|.*/r/||')
[ -n "$id" ] || fail "no link to the status page"
grep -q "$id" <<<"$page" || fail "the request number is not shown"
row=$(gz_sql "SELECT channel || '|' || service_code || '|' || description || '|' || building_code
    FROM intake.requests WHERE id = $id")
[ "$row" = "QR|property|$description|HGY-B0001" ] || fail "stored as: $row"
[ "$(gz_sql "SELECT phone FROM intake.contacts WHERE request_id = $id")" = 13800001234 ] ||
    fail "phone not stored with the request"
[ "$(gz_sql "SELECT count(*) FROM intake.requests")" = 1 ] || fail "more than one request stored"

# 4. The status page, reached by the link: the number, the timeline, a
#    masked phone at most.
click "a[href^=\"/r/$id\"]"
page_with '办理过程' || fail "the link did not lead to the status page"
grep -q "$id" <<<"$page" || fail "status page without the request number"
grep -q '诉求编号' <<<"$page" || fail "not the status page"
grep -q '已提交' <<<"$page" || fail "no submission in the timeline"
! grep -q '13800001234' <<<"$page" || fail "the full phone number is on the status page"
echo "filed request $id in Chromium without JavaScript"

# 5. The grid worker resolves it (worker API), and the resident, back on
#    the status page, rates it in the browser.
api="http://127.0.0.1:$((GZ_PORT_BASE + 1))/api/v1"
worker=""
for _ in $(seq 1 200); do
    worker=$(gz_sql "SELECT assignee_staff FROM routing.requests WHERE id = '$id'
        AND state = 'assigned'" 2>/dev/null || true)
    [ -n "$worker" ] && break
    sleep 0.05
done
[ -n "$worker" ] || fail "request $id was not assigned"
wtoken=$("$GZ_BUILD_DIR/services/gzctl" token issue "$worker")
act() {
    local code
    code=$(curl -sS -o "$tmp/out" -w '%{http_code}' -H "Authorization: Bearer $wtoken" \
        -H 'Content-Type: application/json' -d "$2" "$api/requests/$id/$1")
    [ "$code" = 200 ] || fail "$1: $code $(cat "$tmp/out")"
}
act accept '{}'
act verify '{"outcome":"reached"}'
act start '{}'
act resolve '{"result":"已更换楼道灯"}'
status=$(curl -sS "$s/url" | jq -r .value)
for _ in $(seq 1 200); do
    post /refresh '{}' >/dev/null
    page=$(source_of)
    grep -q '提交评价' <<<"$page" && break
    sleep 0.05
done
grep -q '提交评价' <<<"$page" || fail "no rating form on $status"
grep -q '已更换楼道灯' <<<"$page" || fail "the worker's result is not shown"
click 'select[name="score"] option[value="5"]'
click 'select[name="satisfied"] option[value="yes"]'
type_in 'textarea[name="comment"]' '网格员来得很快，谢谢！'
click 'form[action*="/rate"] button[type="submit"]'
page_with '感谢您的评价' || fail "no thanks after 提交评价"
closed=""
for _ in $(seq 1 200); do
    closed=$(gz_sql "SELECT state FROM routing.requests WHERE id = '$id'")
    [ "$closed" = closed ] && break
    sleep 0.05
done
[ "$closed" = closed ] || fail "not closed after the rating: $closed"
rating=$(gz_sql "SELECT score || '|' || satisfied || '|' || comment FROM routing.requests
    WHERE id = '$id'")
[ "$rating" = "5|true|网格员来得很快，谢谢！" ] || fail "rating stored as: $rating"
post /url "$(jq -n --arg u "$status" '{url: $u}')" >/dev/null
page_with '已评价' || fail "the timeline lacks the rating"
echo "resolved by $worker and rated in the browser"
echo PASS
