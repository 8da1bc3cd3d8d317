#!/usr/bin/env bash
# The volunteer's offer page (/o/{id}?t=) through the all-in-one binary, as
# a volunteer would use it from the link in their text message: the page
# shows what is asked in Chinese (skill, place, contact, time, note, until
# when to answer) with the page headers and the household's note escaped;
# a wrong or missing secret is a 404 that tells nothing of the offer; 拒绝
# declines the offer (stored) and the need goes to another volunteer, whose
# 接受 makes a service record; a second answer shows the current state, not
# an error; an answered or expired offer shows its state and no buttons; a
# form without the secret is a 404.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=browser.sh
source "$(dirname "$0")/browser.sh"
gz_init matching_page
gz_createdb
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) \
       GZ_DEMO_API_KEY=page-key GZ_DEMO_OPERATOR_TOKEN=page-operator GZ_BUS_HEARTBEAT_MS=200 \
       GZ_ORG_CHECK_MS=0 GZ_NOTIFY_CONTACT_KEY=page-contact-key GZ_MATCHING_BATCH_MS=200
gz_seed
gz_start gongzhi.log "$GZ_BIN/gongzhi"
pid=$GZ_PID
m="http://127.0.0.1:$((GZ_PORT_BASE + 2))"
api="$m/api/v1"
gz_wait_ready "http://127.0.0.1:$GZ_PORT_BASE" "http://127.0.0.1:$((GZ_PORT_BASE + 1))" "$m"

building=HGY-B0001
bname=$(gz_sql "SELECT name FROM org.buildings WHERE code = '$building'")
grid=$(gz_sql "SELECT grid_code FROM org.buildings WHERE code = '$building'")
worker=$(gz_sql "SELECT id FROM org.staff WHERE unit_code = '$grid' ORDER BY id LIMIT 1")
staff="Authorization: Bearer $("$GZ_BIN/gzctl" token issue "$worker" 2>/dev/null)"

post() { # PATH JSON: the HTTP status, the body in $GZ_TMP/body
    curl -sS -o "$GZ_TMP/body" -w '%{http_code}' -X POST -H "$staff" \
        -H 'Content-Type: application/json' -d "$2" "$api/$1" || true
}
volunteer() { # ID NAME
    code=$(post volunteers "{\"id\":\"$1\",\"name\":\"$2\",\"skills\":[\"shopping\"],
        \"grid\":\"$grid\",\"availability\":\"mon-sun 00:00-24:00\",\"max_per_week\":5}")
    [ "$code" = 201 ] || gz_fail "volunteer $1: $code $(cat "$GZ_TMP/body")"
}
at() { TZ=Asia/Shanghai date -d "@$(( $(date +%s) + $1 ))" '+%Y-%m-%dT%H:%M:%S+08:00'; }
offered() { [ "$(gz_sql "SELECT state FROM matching.needs WHERE id = $1")" = offered ]; }
offer_of() { gz_sql "SELECT id FROM matching.offers WHERE need_id = $1 AND state = 'offered'"; }
offer_state() { gz_sql "SELECT state FROM matching.offers WHERE id = $1"; }
volunteer_of() { gz_sql "SELECT volunteer_id FROM matching.offers WHERE id = $1"; }
token_of() {
    curl -fsS -H "Authorization: Bearer page-contact-key" "$m/internal/v1/offers/$1" |
        jq -r .link | sed 's/.*?t=//'
}
# page URL [curl args...]: the status; the body in $GZ_TMP/page, the
# headers in $GZ_TMP/headers.
page() {
    local url=$1
    shift
    curl -sS -D "$GZ_TMP/headers" -o "$GZ_TMP/page" -w '%{http_code}' "$@" "$url" || true
}
has() { grep -qF -- "$1" "$GZ_TMP/page"; }
# answer OFFER TOKEN ACTION: the form's POST.
answer() {
    page "$m/o/$1" -X POST --data-urlencode "t=$2" --data-urlencode "action=$3"
}

volunteer v-zheng 郑小明
volunteer v-li 李华
code=$(post needs "{\"building\":\"$building\",\"contact_name\":\"张奶奶\",\"skill\":\"shopping\",
    \"window\":{\"from\":\"$(at 3600)\",\"to\":\"$(at 7200)\"},\"note\":\"买菜 <b>两斤</b>鸡蛋\"}")
[ "$code" = 201 ] || gz_fail "need: $code $(cat "$GZ_TMP/body")"
need=$(jq -r .id "$GZ_TMP/body")
gz_wait_for 10 "need $need was not offered" offered "$need"
o1=$(offer_of "$need")
t1=$(token_of "$o1")
[ -n "$t1" ] || gz_fail "no token for offer $o1"

# 1. The page: Chinese, what is asked, two buttons carrying the token, the
#    page headers; the household's note escaped.
code=$(page "$m/o/$o1?t=$t1")
[ "$code" = 200 ] || gz_fail "the page: $code"
for text in 志愿服务邀请 买菜购物 "$bname" 张奶奶 接受 拒绝 "name=\"t\" value=\"$t1\"" \
            "value=\"accept\"" "value=\"decline\"" "&lt;b&gt;两斤&lt;/b&gt;" 前答复; do
    has "$text" || gz_fail "the page lacks '$text': $(head -c 3000 "$GZ_TMP/page")"
done
has "<b>两斤" && gz_fail "the note is not escaped"
tr -d '\r' <"$GZ_TMP/headers" >"$GZ_TMP/h"
for h in "Content-Type: text/html; charset=utf-8" \
         "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'" \
         "Referrer-Policy: no-referrer" "X-Frame-Options: DENY" "X-Content-Type-Options: nosniff" \
         "Cache-Control: no-store"; do
    grep -qiF "$h" "$GZ_TMP/h" || gz_fail "the page lacks the header: $h"
done

# 2. A wrong or missing token, or an unknown offer: 404, nothing told.
for url in "$m/o/$o1?t=wrong$t1" "$m/o/$o1" "$m/o/$o1?t=" "$m/o/999999?t=$t1" "$m/o/abc?t=$t1"; do
    code=$(page "$url")
    [ "$code" = 404 ] || gz_fail "$url: $code"
    has "$bname" || has 张奶奶 || has 买菜 && gz_fail "$url tells of the offer"
    has 未找到 || gz_fail "$url: not the 404 page"
done

# 3. The form without its token, or with a wrong one: 404, nothing changes.
code=$(page "$m/o/$o1" -X POST -d action=decline)
[ "$code" = 404 ] && has 未找到 || gz_fail "POST without t: $code"
code=$(answer "$o1" "wrong$t1" decline)
[ "$code" = 404 ] && has 未找到 || gz_fail "POST with a wrong t: $code"
[ "$(offer_state "$o1")" = offered ] || gz_fail "a bad form changed the offer"

# 4. 拒绝: declined, stored; the need goes to the other volunteer.
code=$(answer "$o1" "$t1" decline)
[ "$code" = 200 ] && has 已拒绝 || gz_fail "decline: $code $(cat "$GZ_TMP/page")"
[ "$(offer_state "$o1")" = declined ] || gz_fail "offer $o1 is $(offer_state "$o1")"
code=$(page "$m/o/$o1?t=$t1")
[ "$code" = 200 ] && has 已拒绝 || gz_fail "the declined offer's page: $code"
has "<form" && gz_fail "the declined offer's page has buttons"
gz_wait_for 10 "need $need was not offered again" offered "$need"
o2=$(offer_of "$need")
[ "$(volunteer_of "$o2")" != "$(volunteer_of "$o1")" ] || gz_fail "re-offered to the same volunteer"
t2=$(token_of "$o2")

# 5. 接受: accepted, a service record, the service number on the page.
code=$(answer "$o2" "$t2" accept)
[ "$code" = 200 ] && has 已接受，谢谢 || gz_fail "accept: $code $(cat "$GZ_TMP/page")"
service=$(gz_sql "SELECT id FROM matching.services WHERE offer_id = $o2")
[ -n "$service" ] || gz_fail "no service record for offer $o2"
has ">$service<" || gz_fail "the page lacks the service number $service"
[ "$(offer_state "$o2")" = accepted ] || gz_fail "offer $o2 is $(offer_state "$o2")"

# 6. A second answer (a reload, a second tap): the current state, no error.
code=$(answer "$o2" "$t2" decline)
[ "$code" = 200 ] && has 已接受 || gz_fail "second answer: $code $(cat "$GZ_TMP/page")"
has 未找到 && gz_fail "second answer: an error page"
has 系统繁忙 && gz_fail "second answer: an error page"
[ "$(offer_state "$o2")" = accepted ] || gz_fail "the second answer changed offer $o2"
[ "$(gz_sql "SELECT count(*) FROM matching.services WHERE offer_id = $o2")" = 1 ] ||
    gz_fail "a second service record"
code=$(page "$m/o/$o2?t=$t2")
[ "$code" = 200 ] && has 已接受 || gz_fail "the accepted offer's page: $code"
has "<form" && gz_fail "the accepted offer's page has buttons"

# 7. An offer past its time: 已过期, no buttons.
code=$(post needs "{\"building\":\"$building\",\"contact_name\":\"李爷爷\",\"skill\":\"shopping\",
    \"weekly\":\"sat 09:00-11:00\"}")
[ "$code" = 201 ] || gz_fail "weekly need: $code $(cat "$GZ_TMP/body")"
need2=$(jq -r .id "$GZ_TMP/body")
gz_wait_for 10 "need $need2 was not offered" offered "$need2"
o3=$(offer_of "$need2")
t3=$(token_of "$o3")
code=$(page "$m/o/$o3?t=$t3")
[ "$code" = 200 ] && has "每周 周六 09:00-11:00" && has "<form" ||
    gz_fail "the weekly offer's page: $code $(head -c 3000 "$GZ_TMP/page")"
# The open offer as a phone shows it, JavaScript off: a 390 px wide
# (mobile emulation: headless Chromium's window is at least 500 px)
# screenshot in the build directory (matching_page_390.png), when headless
# Chromium is installed (scripts/test installs it).
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    bw_start 390 844 nojs mobile
    go "$m/o/$o3?t=$t3"
    page_with '每周 周六 09:00-11:00' || fail "the browser does not show the weekly offer"
    screenshot_at "${GZ_BUILD_DIR:-$GZ_TMP}/matching_page_390.png" 390
    bw_cleanup
fi
gz_sql "UPDATE matching.offers SET expires_at = now() - interval '1 second' WHERE id = $o3"
code=$(page "$m/o/$o3?t=$t3")
[ "$code" = 200 ] && has 已过期 || gz_fail "the expired offer's page: $code"
has "<form" && gz_fail "the expired offer's page has buttons"

grep -qF "$t1" "$GZ_TMP/gongzhi.log" && gz_fail "an offer's secret appears in the log"
gz_stop "$pid" gongzhi
echo "matching page: ok"
