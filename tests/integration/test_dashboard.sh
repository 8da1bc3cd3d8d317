#!/usr/bin/env bash
# The operators' dashboard (analytics at /) in headless Chromium over
# WebDriver, JavaScript on, against the real all-in-one binary with a few
# requests filed and worked through the real services: the page and its
# scripts come from analytics itself with their headers (the CSP allows
# only this origin's scripts), the operator types the token once, the page
# loads with no console error (CSP violations included) and nothing from
# another origin, the ECharts charts draw, the three big numbers equal
# the API's, a click on a sub-district and then a community drills down
# (the heading and breadcrumb name them) and the breadcrumb goes back up,
# the page refreshes itself when a new request arrives, and screenshots
# at desktop and tablet width are PNGs of that width (kept in the build
# dir). scripts/test installs chromium and chromium-driver, and scripts/lib.sh
# (gz_web_deps) ECharts; run by hand without the browser, the test is
# skipped (exit 77).
set -euo pipefail
: "${GZ_BUILD_DIR:?run under ctest}" "${GZ_TEST_DATABASE_URL:?run under scripts/test}"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=browser.sh
source "$(dirname "$0")/browser.sh"
bw_require
gz_init dashboard
gz_createdb
tmp=$GZ_TMP
fail() {
    echo "--- browser log"; [ -n "$sid" ] && browser_log | jq -c '.[]' | head -20
    bw_fail "$@"
}
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) GZ_DEMO_API_KEY=dash-key \
       GZ_DEMO_OPERATOR_TOKEN=dash-operator GZ_BUS_HEARTBEAT_MS=200 GZ_ORG_CHECK_MS=0
gz_seed
gz_start gongzhi.log "$GZ_BIN/gongzhi"
pid=$GZ_PID
web="http://127.0.0.1:$GZ_PORT_BASE"
rapi="http://127.0.0.1:$((GZ_PORT_BASE + 1))/api/v1"
dash="http://127.0.0.1:$((GZ_PORT_BASE + 4))"
aapi="$dash/api/v1"
op="Authorization: Bearer dash-operator"
gz_wait_ready "$web" "${rapi%/api/v1}" "$dash"

# 1. The page and its scripts, served by analytics itself.
headers=$(curl -sS -D - -o "$tmp/page.html" "$dash/" | tr -d '\r')
for h in "Content-Type: text/html; charset=utf-8" "Cache-Control: no-store" \
         "Referrer-Policy: no-referrer" "X-Frame-Options: DENY" "X-Content-Type-Options: nosniff"; do
    grep -qiF "$h" <<<"$headers" || fail "page without the header: $h"
done
csp=$(grep -i '^Content-Security-Policy:' <<<"$headers" | sed 's/^[^:]*: //')
script_src=$(tr ';' '\n' <<<"$csp" | grep -E '^ *script-src ' || true)
[ "$(echo $script_src)" = "script-src 'self'" ] || fail "the page's CSP: $csp"
grep -q "default-src 'none'" <<<"$csp" && grep -q "frame-ancestors 'none'" <<<"$csp" || fail "CSP: $csp"
grep -q '诉求办理运行看板' "$tmp/page.html" || fail "not the dashboard"
! grep -qiE '<script[^>]*src="(https?:)?//' "$tmp/page.html" || fail "the page loads a script from elsewhere"
! grep -qiE '<script>' "$tmp/page.html" || fail "the page carries an inline script"
headers=$(curl -sS -D - -o "$tmp/echarts.js" "$dash/static/echarts.min.js" | tr -d '\r')
grep -q '^HTTP/1.1 200' <<<"$headers" || fail "echarts.min.js: $(head -c 300 "$tmp/echarts.js")"
grep -qi '^Content-Type: text/javascript' <<<"$headers" || fail "echarts.min.js type: $headers"
grep -qi '^Cache-Control: public, max-age=' <<<"$headers" || fail "echarts.min.js not cacheable"
pinned=$(jq -r '.packages["node_modules/echarts"].version' \
    "$GZ_SOURCE_DIR/services/analytics/web/package-lock.json")
grep -qF "ETag: \"echarts-$pinned\"" <<<"$headers" || fail "echarts.min.js is not the pinned $pinned"
[ "$(stat -c %s "$tmp/echarts.js")" -gt 500000 ] || fail "echarts.min.js is too small"
[ "$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: \"echarts-$pinned\"" \
    "$dash/static/echarts.min.js")" = 304 ] || fail "no 304 for a held echarts.min.js"
headers=$(curl -sS -D - -o /dev/null "$dash/static/dashboard.js" | tr -d '\r')
grep -qi '^Content-Type: text/javascript' <<<"$headers" && grep -qi '^Cache-Control: no-cache' <<<"$headers" ||
    fail "dashboard.js headers: $headers"
[ "$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$dash/")" = 405 ] || fail "POST / is not 405"

# 2. The directory for the drill-down: /api/v1/nodes.
[ "$(curl -sS -o /dev/null -w '%{http_code}' "$aapi/nodes")" = 401 ] || fail "nodes without a token"
district=$(gz_sql "SELECT code FROM org.units WHERE level = 'district'")
community=HGY-C01
sub=$(gz_sql "SELECT parent_code FROM org.units WHERE code = '$community'")
n=$(curl -fsS -H "$op" "$aapi/nodes")
[ "$(jq -r '[.node, .level, (.parent == null)] | join(",")' <<<"$n")" = "$district,district,true" ] ||
    fail "the root node: $n"
jq -e --arg s "$sub" '.children | map(.node) | index($s)' <<<"$n" >/dev/null || fail "root's children: $n"
n=$(curl -fsS -H "$op" "$aapi/nodes?node=$community")
[ "$(jq -r '[.parent.node, (.path | map(.node) | join(">")), .children[0].level] | join(",")' <<<"$n")" = \
  "$sub,$district>$sub>$community,grid" ] || fail "a community: $n"
[ "$(jq -r .name <<<"$n")" = "$(gz_sql "SELECT name FROM org.units WHERE code = '$community'")" ] ||
    fail "the community's name: $n"
[ "$(curl -sS -o /dev/null -w '%{http_code}' -H "$op" "$aapi/nodes?node=NOPE")" = 400 ] ||
    fail "an unknown node is not 400"

# 3. A few requests in one community: A resolved and rated satisfied, C
#    resolved and rated not satisfied, G only filed.
mapfile -t b < <(gz_sql "SELECT b.code FROM org.buildings b JOIN org.units g ON g.code = b.grid_code
                         WHERE g.parent_code = '$community' ORDER BY b.code LIMIT 4")
file() { # CATEGORY BUILDING DESCRIPTION: the request id
    curl -fsS -d api_key=dash-key -d service_code="$1" -d "address_id=$2" \
        --data-urlencode "description=$3" "$web/open311/v2/requests.json" |
        jq -r '.[0].service_request_id'
}
state() { curl -fsS -H "$op" "$rapi/requests/$1" | jq -r .state; }
routed() { [ "$(state "$1")" != null ] && [ "$(state "$1")" != "" ]; }
act() { # ID ACTION JSON
    local who tok
    who=$(curl -fsS -H "$op" "$rapi/requests/$1" | jq -r .assignee.staff_id)
    tok=$("$GZ_BIN/gzctl" token issue "$who" 2>/dev/null)
    curl -fsS -X POST -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
        -d "$3" "$rapi/requests/$1/$2" >/dev/null || fail "$2 on $1"
}
rate() { # ID JSON
    local secret
    secret=$(gz_sql "SELECT secret FROM intake.requests WHERE id = $1")
    curl -fsS -X POST -H 'Content-Type: application/json' -d "$2" \
        "$rapi/requests/$1/rate?t=$secret" >/dev/null || fail "rate $1"
}
A=$(file property "${b[0]}" "楼道灯坏了")
C=$(file road "${b[1]}" "井盖松动")
G=$(file noise "${b[2]}" "夜间施工噪音")
for r in "$A" "$C" "$G"; do gz_wait_for 20 "request $r not routed" routed "$r"; done
for r in "$A" "$C"; do
    act "$r" accept '{}'; act "$r" verify '{"outcome":"reached"}'; act "$r" start '{}'
    act "$r" resolve '{"result":"已处理"}'
done
rate "$A" '{"score":5,"satisfied":true}'
rate "$C" '{"score":2,"satisfied":false}'
today=$(TZ=Asia/Shanghai date +%F)
rated() { [ "$(curl -fsS -H "$op" "$aapi/rates?node=$district&from=$today&to=$today" | jq .satisfaction.rated)" = 2 ]; }
gz_wait_for 20 "analytics did not count the ratings" rated

# 4. WebDriver: chromedriver on a free port, one session, JavaScript on,
#    the browser's console log kept.
bw_start 1280 900 js log
no_console_errors() {
    local log
    log=$(browser_log)
    [ "$(jq '[.[] | select(.level == "SEVERE" or .level == "WARNING")] | length' <<<"$log")" = 0 ] ||
        fail "console errors $1: $(jq -c '[.[] | select(.level != "INFO" and .level != "DEBUG")]' <<<"$log")"
}

# 5. The operator opens the dashboard and types the token once.
go "$dash/"
until_js "document.getElementById('token') && !document.getElementById('login').hidden" ||
    fail "no token form"
type_in '#token' dash-operator
click '#login-form button[type="submit"]'
until_js "document.body.getAttribute('data-loaded')" || fail "the dashboard did not load"
[ "$(js "return sessionStorage.getItem('gz.token');")" = '"dash-operator"' ] || fail "token not kept"
[ "$(text_of '#node-name')" = "$(gz_sql "SELECT name FROM org.units WHERE code = '$district'")" ] ||
    fail "heading: $(text_of '#node-name')"
no_console_errors "on load"
[ "$(js "return performance.getEntriesByType('resource').every(function (e) {
    return e.name.indexOf(location.origin + '/') === 0; });")" = true ] ||
    fail "something loaded from another origin: $(js "return performance.getEntriesByType('resource').map(function (e) { return e.name; });")"

# 6. The charts drew: ECharts instances on both chart elements, each with
#    a canvas.
for c in chart-volume chart-category; do
    [ "$(js "var el = document.getElementById('$c'); return !!(window.echarts &&
        echarts.getInstanceByDom(el)) && el.querySelectorAll('canvas').length > 0;")" = true ] ||
        fail "chart $c did not draw"
done
bars=$(js "return echarts.getInstanceByDom(document.getElementById('chart-volume')).getOption().series[0].data;")
[ "$(jq 'add' <<<"$bars")" = 3 ] || fail "daily volume bars: $bars"

# 7. The big numbers equal the API's for the page's node and period.
from=$(js "return document.getElementById('period').getAttribute('data-from');" | jq -r .)
to=$(js "return document.getElementById('period').getAttribute('data-to');" | jq -r .)
[ "$to" = "$today" ] || fail "the page's period ends $to, not today ($today)"
api_rates=$(curl -fsS -H "$op" "$aapi/rates?node=$district&from=$from&to=$to")
percent() { jq -r "if $1 == null then \"—\" else ($1 * 1000 | round / 10 | tostring |
    if test(\"\\\\.\") then . else . + \".0\" end) + \"%\" end" <<<"$api_rates"; }
for w in response resolution satisfaction; do
    want=$(percent ".$w.rate")
    got=$(text_of "#rate-$w")
    [ "$got" = "$want" ] || fail "$w: the page shows $got, the API says $want ($api_rates)"
    [ "$(js "return Number(document.getElementById('rate-$w').getAttribute('data-value'));")" = \
      "$(jq ".$w.rate" <<<"$api_rates")" ] || fail "$w: data-value differs from the API"
done
[ "$(percent .resolution.rate),$(percent .satisfaction.rate)" = "66.7%,50.0%" ] ||
    fail "the scenario's rates: $api_rates"
[ "$(text_of '#requests')" = 3 ] || fail "requests: $(text_of '#requests')"

shot() { # NAME WIDTH HEIGHT: a screenshot at that window size, checked
    local png="$GZ_BUILD_DIR/dashboard-$1.png" w
    post /window/rect "{\"width\": $2, \"height\": $3}" >/dev/null
    until_js "window.innerWidth === $2" || fail "window not $2 wide: $(js 'return window.innerWidth;')"
    sleep 0.3 # the charts redraw on resize (their handler runs on the event)
    curl -sS "$s/screenshot" | jq -r .value | base64 -d >"$png"
    [ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$png is not a PNG"
    w=$(od -An -tu1 -j16 -N4 "$png" | awk '{print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4}')
    [ "$w" = "$2" ] || fail "$png is $w px wide, not $2"
    echo "screenshot $png (${2}px)"
}
shot desktop 1280 900

# 8. Drill down: the sub-district, then the community, by clicks; the
#    breadcrumb goes back up.
name_of() { gz_sql "SELECT name FROM org.units WHERE code = '$1'"; }
click "#ranking button[data-node=\"$sub\"]"
until_js "document.getElementById('node-name').getAttribute('data-node') === '$sub'" ||
    fail "no drill-down to $sub"
[ "$(text_of '#node-name')" = "$(name_of "$sub")" ] || fail "heading after the click: $(text_of '#node-name')"
[ "$(text_of '#ranking-title')" = 社区排名 ] || fail "ranking title: $(text_of '#ranking-title')"
until_js "document.querySelector('#ranking button[data-node=\"$community\"]')" ||
    fail "the communities of $sub are not listed"
click "#ranking button[data-node=\"$community\"]"
until_js "document.getElementById('node-name').getAttribute('data-node') === '$community'" ||
    fail "no drill-down to $community"
[ "$(text_of '#node-name')" = "$(name_of "$community")" ] || fail "heading: $(text_of '#node-name')"
crumbs=$(js "return Array.prototype.map.call(document.querySelectorAll('#crumbs button'),
    function (b) { return b.getAttribute('data-node'); });")
[ "$crumbs" = "[\"$district\",\"$sub\"]" ] || fail "breadcrumb: $crumbs"
grids=$(js "return document.querySelectorAll('#ranking tbody tr').length;")
[ "$grids" = "$(gz_sql "SELECT count(*) FROM org.units WHERE parent_code = '$community'")" ] ||
    fail "the grids of $community: $grids rows"
[ "$(text_of '#requests')" = 3 ] || fail "the community's requests: $(text_of '#requests')"
shot tablet 768 1024
click "#crumbs button[data-node=\"$district\"]"
until_js "document.getElementById('node-name').getAttribute('data-node') === '$district'" ||
    fail "the breadcrumb did not lead back to the district"
no_console_errors "after the drill-down"

# 9. It refreshes itself: a new request shows without a reload.
file parking "${b[3]}" "乱停车" >/dev/null
until_js "document.getElementById('requests').textContent === '4'" ||
    fail "the page did not refresh: $(text_of '#requests')"
no_console_errors "after refreshing"
# A clean SIGTERM (under ASan: no leak in what the dashboard's routes did).
gz_stop "$pid" gongzhi
echo PASS
