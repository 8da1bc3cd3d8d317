#!/usr/bin/env bash
# The staff's workbench (/w/ on routing's port) in a real browser, phone
# sized (390 px, mobile emulation), JavaScript off: a grid worker signs in
# with the one-time link gzctl token issue prints, finds a new request
# (filed over Open311) in 待办, and takes it through 签收 → 核实 → 开始处置
# → 办结 with a Chinese result; the resident's status page shows each
# step. Then, with curl: the defensive headers and the cookie's flags; a
# used or expired link is refused and a link's GET spends nothing; a form
# without its CSRF token is refused and changes nothing; a stale action
# shows the current state; another unit's request is a 403 page; signing
# out ends the session server-side. A screenshot (workbench_390.png) lands
# in the build directory. Skipped (77) without chromium and chromedriver.
set -euo pipefail
: "${GZ_BUILD_DIR:?run under ctest}" "${GZ_TEST_DATABASE_URL:?run under scripts/test}"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=browser.sh
source "$(dirname "$0")/browser.sh"
bw_require
gz_init workbench
gz_createdb
tmp=$GZ_TMP
# 127.0.0.1 is a trusted proxy here, so X-Forwarded-Proto: https can be tried.
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) GZ_DEMO_API_KEY=wb-key \
       GZ_DEMO_OPERATOR_TOKEN=wb-operator GZ_TRUSTED_PROXIES=127.0.0.1
gz_seed
gz_start gongzhi.log "$GZ_BIN/gongzhi"
web="http://127.0.0.1:$GZ_PORT_BASE"
wb="http://127.0.0.1:$((GZ_PORT_BASE + 1))"
gz_wait_ready "$web" "$wb"
# shellcheck source=workbench.sh
source "$(dirname "$0")/workbench.sh"


id=$(file HGY-B0001 '3单元楼道灯不亮，晚上看不见台阶')
worker=$(gz_sql "SELECT assignee_staff FROM routing.requests WHERE id = '$id'")
[ "$(gz_sql "SELECT role FROM org.staff WHERE id = '$worker'")" = grid_worker ] ||
    gz_fail "request $id is not with a grid worker"
url=$(link "$worker")
[ -n "$url" ] || gz_fail "no sign-in link"
code=${url##*code=}

# A link's GET only shows the button: a link previewer spends nothing.
curl -sS "$url" -o "$tmp/login.html"
grep -q '登录' "$tmp/login.html" || gz_fail "the link's page has no 登录 button"
[ "$(gz_sql "SELECT count(*) FROM routing.login_codes WHERE used_at IS NULL")" = 1 ] ||
    gz_fail "opening the link spent the code"
gz_sql "SELECT count(*) FROM routing.login_codes WHERE code_sha256 = '$code'" | grep -qx 0 ||
    gz_fail "the code is stored in clear"

# ---- the browser
bw_start 390 844 nojs

# JavaScript is off in this browser.
go 'data:text/html,<title>off</title><script>document.title="on"</script>'
[ "$(curl -sS "$s/title" | jq -r .value)" = off ] || fail "JavaScript is on in the test browser"

# 1. The link, the 登录 button, then 待办 with the new request in it.
go "$url"
page_with '一次性登录链接' || fail "the sign-in link's page"
click 'button#login'
page_with '待签收</div>' || fail "no queue after signing in"
grep -q "/w/r/$id\"" <<<"$page" || fail "request $id is not in the queue"
grep -q '物业管理' <<<"$page" || fail "the queue does not name the category in Chinese"
grep -q '还剩' <<<"$page" || fail "the queue does not say how long is left"
! grep -qi '<script' <<<"$page" || fail "a workbench page carries a script"

# 2. The request: 签收 → 核实 → 开始处置 → 办结.
click "a[href=\"/w/r/$id\"]"
page_with '3单元楼道灯不亮' || fail "the request page does not show the description"
grep -q '待签收' <<<"$page" || fail "the request page does not say 待签收"
click 'form[action$="/accept"] button[type="submit"]'
page_with '已签收。' || fail "签收 was not confirmed"
[ "$(state "$id")" = accepted ] || fail "state after 签收: $(state "$id")"

click 'form[action$="/verify"] select[name="outcome"] option[value="reached"]'
type_in 'form[action$="/verify"] textarea[name="text"]' '已电话联系居民，情况属实'
click 'form[action$="/verify"] button[type="submit"]'
page_with '已记录核实结果。' || fail "核实 was not confirmed"
[ "$(state "$id")" = verified ] || fail "state after 核实: $(state "$id")"

click 'form[action$="/start"] button[type="submit"]'
page_with '已开始处置。' || fail "开始处置 was not confirmed"
[ "$(state "$id")" = in_progress ] || fail "state after 开始处置: $(state "$id")"

result='已更换3单元楼道灯，居民确认亮了'
type_in 'form[action$="/resolve"] textarea[name="text"]' "$result"
click 'form[action$="/resolve"] button[type="submit"]'
page_with '已办结，等待居民评价。' || fail "办结 was not confirmed"
[ "$(state "$id")" = resolved ] || fail "state after 办结: $(state "$id")"
grep -q "$result" <<<"$page" || fail "the result is not in the timeline"
! grep -q 'action="/w/r/[^"]*/accept"' <<<"$page" || fail "a resolved request still offers 签收"
echo "worked request $id in Chromium without JavaScript"

# 3. The resident's status page shows each step.
for _ in $(seq 1 200); do
    curl -sS "$web/r/$id" -o "$tmp/status.html"
    grep -q '已办结' "$tmp/status.html" && break
    sleep 0.05
done
for step in 已签收 已电话核实 正在上门处置 已办结 "$result"; do
    grep -q "$step" "$tmp/status.html" || gz_fail "the resident's page does not show: $step"
done
bw_cleanup
# (Mobile emulation is for the screenshot only: a form's click under it
# never returns in this chromedriver.)

# ---- curl
jar=$tmp/jar
signin() { # CODE [extra curl args]: the status of POST /w/login
    local c=$1; shift
    curl -sS -o "$tmp/out" -D "$tmp/hdr" -w '%{http_code}' -c "$jar" "$@" -d "code=$c" "$wb/w/login"
}
# A used link is refused.
[ "$(signin "$code")" = 403 ] && grep -q '已经用过或已过期' "$tmp/out" || gz_fail "a used link signed in"
# An expired one too.
url2=$(link "$worker"); code2=${url2##*code=}
gz_sql "UPDATE routing.login_codes SET expires_at = now() - interval '1 second'
        WHERE code_sha256 = encode(sha256(convert_to('$code2', 'UTF8')), 'hex')"
[ "$(signin "$code2")" = 403 ] || gz_fail "an expired link signed in"
# A fresh one: a session cookie with its flags, Secure behind an HTTPS proxy.
url3=$(link "$worker"); code3=${url3##*code=}
[ "$(signin "$code3" -H 'X-Forwarded-Proto: https')" = 303 ] || gz_fail "a fresh link was refused"
cookie=$(grep -i '^set-cookie:' "$tmp/hdr" | tr -d '\r')
for f in 'gz_session=' 'HttpOnly' 'SameSite=Strict' 'Path=/w/' 'Secure'; do
    grep -qF "$f" <<<"$cookie" || gz_fail "the session cookie lacks $f: $cookie"
done
grep -qi '^location: /w/' "$tmp/hdr" || gz_fail "signing in does not land on the queue"
url4=$(link "$worker"); code4=${url4##*code=}
[ "$(signin "$code4")" = 303 ] || gz_fail "a fresh link was refused"
! grep -i '^set-cookie:' "$tmp/hdr" | grep -q Secure || gz_fail "Secure over plain HTTP"
# Login CSRF: another site's form (the browser names it in Origin or
# Referer) signs nobody in, and leaves the link unused; this site's does.
url5=$(link "$worker"); code5=${url5##*code=}
for h in 'Origin: https://evil.example' 'Origin: null' 'Referer: http://evil.example/w/login'; do
    [ "$(signin "$code5" -H "$h")" = 403 ] && grep -q '请从本站的登录页面登录' "$tmp/out" ||
        gz_fail "a cross-site sign-in ($h) was not refused"
    ! grep -qi '^set-cookie: gz_session=[0-9a-f]' "$tmp/hdr" || gz_fail "a cross-site sign-in ($h) set a session"
done
[ "$(signin "$code5" -H "Origin: http://127.0.0.1:$((GZ_PORT_BASE + 1))")" = 303 ] ||
    gz_fail "this site's sign-in after the refused ones: $(cat "$tmp/out")"
sess=$(awk '$6 == "gz_session" {print $7}' "$jar")
gz_sql "SELECT count(*) FROM routing.sessions WHERE session_sha256 = '$sess'" | grep -qx 0 ||
    gz_fail "the session id is stored in clear"

# The defensive headers of every workbench page.
headers=$(curl -sS -b "$jar" -D - -o "$tmp/queue.html" "$wb/w/" | tr -d '\r')
for h in "Content-Security-Policy: default-src 'none'" "Referrer-Policy: no-referrer" \
         "X-Frame-Options: DENY" "X-Content-Type-Options: nosniff"; do
    grep -qiF "$h" <<<"$headers" || gz_fail "the queue page without the header: $h"
done
[ "$(curl -sS -o /dev/null -w '%{http_code}' "$wb/w/")" = 303 ] || gz_fail "the queue without a session"

# A second request: a form without (or with a wrong) CSRF token changes nothing.
id2=$(file HGY-B0001 '2单元门口垃圾没人清')
[ "$(gz_sql "SELECT assignee_staff FROM routing.requests WHERE id = '$id2'")" = "$worker" ] ||
    gz_fail "the second request went to someone else"
curl -sS -b "$jar" -o "$tmp/req2.html" "$wb/w/r/$id2"
csrf=$(grep -o 'name="csrf" value="[0-9a-f]*"' "$tmp/req2.html" | head -1 | sed 's/.*value="//; s/"//')
[ ${#csrf} = 64 ] || gz_fail "the request page's forms carry no CSRF token"
bad=${csrf%?}$([ "${csrf: -1}" = 0 ] && echo 1 || echo 0) # never the right one
for body in "" "csrf=$bad"; do
    st=$(curl -sS -b "$jar" -o "$tmp/out" -w '%{http_code}' -d "$body" "$wb/w/r/$id2/accept")
    [ "$st" = 403 ] && grep -q '操作没有执行' "$tmp/out" || gz_fail "accept without its CSRF token: $st"
done
[ "$(state "$id2")" = assigned ] || gz_fail "a form without its CSRF token changed the request"
st=$(curl -sS -b "$jar" -o /dev/null -w '%{http_code}' -d "csrf=$csrf" "$wb/w/r/$id2/accept")
[ "$st" = 303 ] && [ "$(state "$id2")" = accepted ] || gz_fail "accept with its CSRF token: $st"

# A stale action (someone acted first): the page says so and shows the state now.
curl -sS -b "$jar" -L -o "$tmp/out" -d "csrf=$csrf" "$wb/w/r/$id/start"
grep -q '状态已经变了' "$tmp/out" || gz_fail "a stale action does not say the state changed"
grep -q 'id="state">已办结' "$tmp/out" || gz_fail "a stale action does not show the current state"
[ "$(state "$id")" = resolved ] || gz_fail "a stale action changed the request"

# Another unit's request: a 403 page, as the JSON API answers.
grid=$(gz_sql "SELECT unit_code FROM org.staff WHERE id = '$worker'")
other=$(gz_sql "SELECT code FROM org.buildings WHERE grid_code <> '$grid' ORDER BY code LIMIT 1")
id3=$(file "$other" '路灯坏了')
st=$(curl -sS -b "$jar" -o "$tmp/out" -w '%{http_code}' "$wb/w/r/$id3")
[ "$st" = 403 ] && grep -q '无权查看' "$tmp/out" || gz_fail "another unit's request page: $st"
st=$(curl -sS -b "$jar" -o /dev/null -w '%{http_code}' -d "csrf=$csrf" "$wb/w/r/$id3/accept")
[ "$(state "$id3")" = assigned ] || gz_fail "another unit's request was accepted ($st)"

# Signing out ends the session server-side: the old cookie opens nothing.
cp "$jar" "$tmp/old-jar"
st=$(curl -sS -b "$jar" -c "$jar" -o /dev/null -w '%{http_code}' -d "csrf=$csrf" "$wb/w/logout")
[ "$st" = 303 ] || gz_fail "sign out: $st"
[ "$(gz_sql "SELECT count(*) FROM routing.sessions WHERE session_sha256 =
    encode(sha256(convert_to('$sess', 'UTF8')), 'hex')")" = 0 ] || gz_fail "the session outlived sign out"
[ "$(curl -sS -b "$tmp/old-jar" -o /dev/null -w '%{http_code}' "$wb/w/")" = 303 ] ||
    gz_fail "the signed-out cookie still opens the queue"

# The bearer token signs in too.
tok=$("$GZ_BIN/gzctl" token issue "$worker" 2>/dev/null)
st=$(curl -sS -o /dev/null -w '%{http_code}' -c "$tmp/jar2" --data-urlencode "token=$tok" "$wb/w/login")
[ "$st" = 303 ] && [ "$(curl -sS -b "$tmp/jar2" -o /dev/null -w '%{http_code}' "$wb/w/")" = 200 ] ||
    gz_fail "signing in with the bearer token: $st"

# The request page as a phone shows it: a 390 px wide screenshot (mobile
# emulation) in the build directory, signed in with the token's session.
bw_start 390 844 nojs mobile
go "$wb/w/login"
post /cookie "$(jq -n --arg v "$(awk '$6 == "gz_session" {print $7}' "$tmp/jar2")" \
    '{cookie: {name: "gz_session", value: $v, path: "/w/", httpOnly: true}}')" >/dev/null
go "$wb/w/r/$id2"
page_with '2单元门口垃圾没人清' || fail "the screenshot session does not show request $id2"
screenshot_at "$GZ_BUILD_DIR/workbench_390.png" 390

# gzctl token revoke ends the person's sessions and unused links too.
link "$worker" >/dev/null
out=$("$GZ_BIN/gzctl" token revoke "$worker")
grep -q 'ended [1-9][0-9]* workbench session(s) and [1-9][0-9]* sign-in link(s)' <<<"$out" ||
    gz_fail "revoke said: $out"
[ "$(gz_sql "SELECT (SELECT count(*) FROM routing.sessions WHERE staff_id = '$worker')
    + (SELECT count(*) FROM routing.login_codes WHERE staff_id = '$worker' AND used_at IS NULL)")" = 0 ] ||
    gz_fail "sessions or links outlived gzctl token revoke"
[ "$(curl -sS -b "$tmp/jar2" -o /dev/null -w '%{http_code}' "$wb/w/")" = 303 ] ||
    gz_fail "a session outlived gzctl token revoke"
echo "ok: workbench"
