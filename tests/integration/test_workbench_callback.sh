#!/usr/bin/env bash
# The workbench's 回访 (call-back) page and the resident's phone as a tel:
# link (issue 12), in a real browser at 390 px with JavaScript off, then
# with curl. A request filed with a phone is taken to 已办结 over the JSON
# API; its grid worker sees the number on the request page as a tel: link
# and every view is one contact_viewed row in the timeline; a worker of
# another unit sees no number (403 page) and no 回访 page. The
# sub-district's call-back operator signs in with her link, finds the
# request in 回访 with its result and the number, records score,
# satisfied and a comment taken by phone: the request closes, and the
# resident's status page says so. A rating form without its CSRF token
# changes nothing; a second rating of the same request shows its current
# state. With a contact key intake refuses, the pages say 号码暂不可用 and
# still work. A screenshot (workbench_callback_390.png) lands in the build
# directory. Skipped (77) without chromium and chromedriver.
set -euo pipefail
: "${GZ_BUILD_DIR:?run under ctest}" "${GZ_TEST_DATABASE_URL:?run under scripts/test}"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=browser.sh
source "$(dirname "$0")/browser.sh"
bw_require
gz_init workbench_callback
gz_createdb
tmp=$GZ_TMP
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) GZ_DEMO_API_KEY=cb-key \
       GZ_DEMO_OPERATOR_TOKEN=cb-operator GZ_NOTIFY_CONTACT_KEY=cb-contact-key
gz_seed
gz_start gongzhi.log "$GZ_BIN/gongzhi"
gongzhi=$GZ_PID # (bw_start's chromedriver takes GZ_PID)
web="http://127.0.0.1:$GZ_PORT_BASE"
wb="http://127.0.0.1:$((GZ_PORT_BASE + 1))"
api="$wb/api/v1/requests"
gz_wait_ready "$web" "$wb"
# shellcheck source=workbench.sh
source "$(dirname "$0")/workbench.sh"
phone=13812345678

views() { gz_sql "SELECT count(*) FROM routing.timeline WHERE request_id = '$1' AND kind = 'contact_viewed'"; }
session() { # STAFF JAR: a workbench session for STAFF in the cookie jar JAR
    local tok st
    tok=$("$GZ_BIN/gzctl" token issue "$1" 2>/dev/null)
    st=$(curl -sS -o /dev/null -w '%{http_code}' -c "$2" --data-urlencode "token=$tok" "$wb/w/login")
    [ "$st" = 303 ] || gz_fail "signing $1 in: $st"
}
act() { # TOKEN ID ACTION JSON: the worker API
    local st
    st=$(curl -sS -o "$tmp/act.json" -w '%{http_code}' -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' -d "$4" "$api/$2/$3")
    [ "$st" = 200 ] || gz_fail "$3 of $2: $st $(cat "$tmp/act.json")"
}
resolve() { # ID RESULT: the assignee takes ID to resolved over the JSON API
    local w tok
    w=$(gz_sql "SELECT assignee_staff FROM routing.requests WHERE id = '$1'")
    tok=$("$GZ_BIN/gzctl" token issue "$w" 2>/dev/null)
    act "$tok" "$1" accept '{}'
    act "$tok" "$1" verify '{"outcome": "reached", "text": "已电话联系居民"}'
    act "$tok" "$1" start '{}'
    act "$tok" "$1" resolve "$(jq -n --arg r "$2" '{result: $r}')"
    [ "$(state "$1")" = resolved ] || gz_fail "$1 is $(state "$1"), not resolved"
}

result='已疏通5单元下水管道，居民确认排水正常'
id=$(file HGY-B0001 '5单元下水道堵塞，污水漫到楼道' -d "phone=$phone")
worker=$(gz_sql "SELECT assignee_staff FROM routing.requests WHERE id = '$id'")
sub=$(gz_sql "SELECT subdistrict_code FROM routing.requests WHERE id = '$id'")
operator=$(gz_sql "SELECT id FROM org.staff WHERE role = 'callback_operator' AND unit_code = '$sub'")
[ -n "$operator" ] || gz_fail "the seed has no call-back operator in $sub"
resolve "$id" "$result"

# ---- the assignee's request page: the number as a tel: link, each view logged
session "$worker" "$tmp/wjar"
for n in 1 2; do
    curl -sS -b "$tmp/wjar" -o "$tmp/req.html" "$wb/w/r/$id"
    grep -q "href=\"tel:$phone\"" "$tmp/req.html" || gz_fail "the assignee's page has no tel: link"
    [ "$(views "$id")" = "$n" ] || gz_fail "after $n views of the number: $(views "$id") logged"
done
grep -q '查看居民电话' "$tmp/req.html" || gz_fail "the view is not in the page's timeline"
[ "$(gz_sql "SELECT actor_id FROM routing.timeline WHERE request_id = '$id'
             AND kind = 'contact_viewed' LIMIT 1")" = "$worker" ] || gz_fail "the view does not say who"

# ---- a worker of another unit: no number, no 回访
other=$(gz_sql "SELECT id FROM org.staff WHERE role = 'grid_worker' AND unit_code <> (SELECT grid_code
                FROM routing.requests WHERE id = '$id') ORDER BY id LIMIT 1")
session "$other" "$tmp/ojar"
st=$(curl -sS -b "$tmp/ojar" -o "$tmp/other.html" -w '%{http_code}' "$wb/w/r/$id")
[ "$st" = 403 ] || gz_fail "another unit's worker opened request $id: $st"
! grep -q "$phone" "$tmp/other.html" || gz_fail "another unit's worker saw the number"
st=$(curl -sS -b "$tmp/ojar" -o "$tmp/other.html" -w '%{http_code}' "$wb/w/callback")
[ "$st" = 403 ] && grep -q '仅供回访员' "$tmp/other.html" || gz_fail "a grid worker opened 回访: $st"
[ "$(views "$id")" = 2 ] || gz_fail "a refused page logged a view"

# ---- the browser: the call-back operator rates it
url=$(link "$operator")
bw_start 390 844 nojs
go "$url"
page_with '一次性登录链接' || fail "the sign-in link's page"
click 'button#login'
page_with '待签收</div>' || fail "no queue after signing in"
click 'a[href="/w/callback"]'
page_with "id=\"cb-$id\"" || fail "request $id is not in 回访"
grep -q "$result" <<<"$page" || fail "回访 does not show the result"
grep -q "href=\"tel:$phone\"" <<<"$page" || fail "回访 does not show the number as a tel: link"
! grep -qi '<script' <<<"$page" || fail "the 回访 page carries a script"
[ "$(views "$id")" = 3 ] || fail "the call-back view is not logged: $(views "$id")"
f="form[action=\"/w/callback/$id\"]"
click "$f select[name=\"score\"] option[value=\"5\"]"
click "$f select[name=\"satisfied\"] option[value=\"yes\"]"
type_in "$f textarea[name=\"comment\"]" '居民说下水道通了，很满意'
click "$f button[type=\"submit\"]"
page_with '已记录诉求' || fail "the rating was not confirmed"
grep -q '已关闭' <<<"$page" || fail "the confirmation does not say 已关闭"
! grep -q "id=\"cb-$id\"" <<<"$page" || fail "a rated request is still waiting in 回访"
[ "$(state "$id")" = closed ] || fail "state after the rating: $(state "$id")"
[ "$(gz_sql "SELECT score || ' ' || satisfied || ' ' || comment FROM routing.requests WHERE id = '$id'")" = \
  '5 true 居民说下水道通了，很满意' ] || fail "the rating is not the one taken by phone"
[ "$(gz_sql "SELECT actor_id FROM routing.timeline WHERE request_id = '$id' AND kind = 'rated'")" = \
  "$operator" ] || fail "the timeline does not name the operator as the rater"
bw_cleanup
for _ in $(seq 1 200); do
    curl -sS "$web/r/$id" -o "$tmp/status.html"
    grep -q '已关闭' "$tmp/status.html" && break
    sleep 0.05
done
grep -q '已关闭' "$tmp/status.html" || gz_fail "the resident's page does not show 已关闭"
echo "rated request $id on the 回访 page in Chromium without JavaScript"

# ---- curl: CSRF and a stale rating
id2=$(file HGY-B0001 '6单元楼顶漏水' -d "phone=$phone")
resolve "$id2" '已修补6单元楼顶防水层'
session "$operator" "$tmp/cjar"
curl -sS -b "$tmp/cjar" -o "$tmp/cb.html" "$wb/w/callback"
grep -q "id=\"cb-$id2\"" "$tmp/cb.html" || gz_fail "request $id2 is not in 回访"
csrf=$(grep -o 'name="csrf" value="[0-9a-f]*"' "$tmp/cb.html" | head -1 | sed 's/.*value="//; s/"//')
[ ${#csrf} = 64 ] || gz_fail "the 回访 forms carry no CSRF token"
bad=${csrf%?}$([ "${csrf: -1}" = 0 ] && echo 1 || echo 0) # never the right one
for c in "" "csrf=$bad&"; do
    st=$(curl -sS -b "$tmp/cjar" -o "$tmp/out" -w '%{http_code}' -d "${c}score=4&satisfied=yes" \
        "$wb/w/callback/$id2")
    [ "$st" = 403 ] || gz_fail "a rating without its CSRF token: $st"
    [ "$(state "$id2")" = resolved ] || gz_fail "a rating without its CSRF token changed $id2"
done
# A form without a score or an answer to 满意 is refused, nothing changes.
st=$(curl -sS -b "$tmp/cjar" -o /dev/null -w '%{http_code}' -d "csrf=$csrf&satisfied=yes" "$wb/w/callback/$id2")
[ "$st" = 303 ] && [ "$(state "$id2")" = resolved ] || gz_fail "a rating without a score: $st"
# The first request again (someone rated it): its current state, no error page.
curl -sS -b "$tmp/cjar" -L -o "$tmp/stale.html" -w '%{http_code}' \
    -d "csrf=$csrf&score=2&satisfied=no" "$wb/w/callback/$id" >"$tmp/code"
[ "$(cat "$tmp/code")" = 200 ] && grep -q '已不在待回访状态' "$tmp/stale.html" &&
    grep -q '当前状态：<b id="focus-state">已关闭' "$tmp/stale.html" || gz_fail "a stale rating"
[ "$(gz_sql "SELECT score FROM routing.requests WHERE id = '$id'")" = 5 ] || gz_fail "a stale rating applied"

# ---- intake refuses routing's key: 号码暂不可用, and the pages still work
gz_stop "$gongzhi" gongzhi
GZ_ROUTING_CONTACT_KEY=not-the-key gz_start gongzhi2.log "$GZ_BIN/gongzhi"
gz_wait_ready "$web" "$wb"
n=$(views "$id2")
curl -sS -b "$tmp/cjar" -o "$tmp/cb.html" -w '%{http_code}' "$wb/w/callback" >"$tmp/code"
[ "$(cat "$tmp/code")" = 200 ] && grep -q "id=\"cb-$id2\"" "$tmp/cb.html" || gz_fail "回访 without intake's number"
grep -q '号码暂不可用' "$tmp/cb.html" || gz_fail "回访 does not say 号码暂不可用"
! grep -q "$phone" "$tmp/cb.html" || gz_fail "a number without the key"
st=$(curl -sS -b "$tmp/cjar" -o /dev/null -w '%{http_code}' -d "csrf=$csrf&score=3&satisfied=no&comment=一般" \
    "$wb/w/callback/$id2")
[ "$st" = 303 ] && [ "$(state "$id2")" = rated ] || gz_fail "rating without intake's number: $st $(state "$id2")"
w2=$(gz_sql "SELECT assignee_staff FROM routing.requests WHERE id = '$id2'")
session "$w2" "$tmp/w2jar"
curl -sS -b "$tmp/w2jar" -o "$tmp/req.html" "$wb/w/r/$id2"
grep -q '号码暂不可用' "$tmp/req.html" || gz_fail "the request page does not say 号码暂不可用"
[ "$(views "$id2")" = "$n" ] || gz_fail "a number not shown was logged as viewed"

# The 回访 page as a phone shows it: a 390 px wide screenshot (mobile
# emulation), signed in with the operator's session.
id3=$(file HGY-B0001 '楼下路灯不亮' -d "phone=$phone")
resolve "$id3" '已更换路灯灯泡'
bw_start 390 844 nojs mobile
go "$wb/w/login"
post /cookie "$(jq -n --arg v "$(awk '$6 == "gz_session" {print $7}' "$tmp/cjar")" \
    '{cookie: {name: "gz_session", value: $v, path: "/w/", httpOnly: true}}')" >/dev/null
go "$wb/w/callback"
page_with "id=\"cb-$id3\"" || fail "the screenshot session does not show request $id3"
screenshot_at "$GZ_BUILD_DIR/workbench_callback_390.png" 390
echo "ok: workbench_callback"
