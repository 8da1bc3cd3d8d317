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
# the cards of overdue work (超期工单, empty, then with a request routed
# on a clock 30 days back), notify's deliveries (通知送达) and matching's
# volunteering (志愿服务, a service of 90 minutes) show the API's numbers row by row,
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
       GZ_DEMO_OPERATOR_TOKEN=dash-operator GZ_BUS_HEARTBEAT_MS=200 GZ_ORG_CHECK_MS=0 \
       GZ_TEST_CLOCK=1 GZ_NOTIFY_QUIET_HOURS=off GZ_NOTIFY_STAFF_CHANNELS=log \
       GZ_NOTIFY_RECIPIENT_PER_HOUR=0 GZ_NOTIFY_DIGEST_WINDOW_MS=0 GZ_MATCHING_BATCH_MS=200
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

# 7b. The cards of overdue work, notifications and volunteering show the
#     API's numbers for the page's node and period, row by row (the API
#     read again until the page has refreshed to it, 20 s at most).
rows() { # CSS of a table: its body's rows as arrays of the cells' text
    js "return Array.prototype.map.call(document.querySelectorAll('$1 tbody tr'), function (tr) {
        return Array.prototype.map.call(tr.cells, function (td) { return td.textContent; }); });"
}
page_cards() {
    local node
    node=$(js "return document.getElementById('node-name').getAttribute('data-node');" | jq -r .)
    jq -cn --arg node "$node" --argjson u "$(rows '#overdue-units')" --argjson s "$(rows '#overdue-staff')" \
        --argjson c "$(rows '#notify-channels')" --argjson v "$(rows '#volunteers')" \
        --arg o "$(text_of '#overdue-open')" --arg t "$(text_of '#overdue-total')" \
        --arg empty "$(js "return !document.getElementById('overdue-empty').hidden;")" \
        --arg n "$(text_of '#notify-sent') $(text_of '#notify-dead') $(text_of '#notify-skipped')" \
        '{node: $node, overdue: [$o, $t, $empty], units: $u, staff: $s, notify: $n, channels: $c,
          volunteers: $v}'
}
api_cards() { # NODE
    local st nt vt
    st=$(curl -fsS -H "$op" "$aapi/staff?node=$1")
    nt=$(curl -fsS -H "$op" "$aapi/notifications?node=$1&from=$from&to=$to")
    vt=$(curl -fsS -H "$op" "$aapi/volunteers?node=$1&from=$from&to=$to")
    jq -cn --arg node "$1" --argjson st "$st" --argjson nt "$nt" --argjson vt "$vt" '
      def late: [.[] | select(.overdue > 0)][:10];
      def s: tostring;
      def either(a; b; none): if (a // "") != "" then a elif (b // "") != "" then b else none end;
      {node: $node,
       overdue: (([$st.units[].open] | add // 0 | s) as $o | ([$st.units[].overdue] | add // 0) as $t |
                 [$o, ($t | s), ($t == 0 | s)]),
       units: [$st.units | late | .[] | [either(.unit_name; .unit; "未分派"), (.open | s), (.overdue | s)]],
       staff: [$st.staff | late | .[] | [either(.name; .staff; "未分派"), either(.unit_name; .unit; ""),
                                          (.open | s), (.overdue | s)]],
       notify: "\($nt.sent) \($nt.dead) \($nt.skipped)",
       channels: ($nt.channels | to_entries | sort_by([-(.value.sent + .value.dead + .value.skipped), .key]) |
                  map([({sms: "短信", email: "邮件", webhook: "接口推送", wechat: "微信", log: "日志"}[.key] // .key),
                       (.value.sent | s), (.value.dead | s), (.value.skipped | s)]) |
                  if length == 0 then [["暂无通知"]] else . end),
       volunteers: [["需求", ($vt.needs | s)], ["已对接", ($vt.accepted | s)], ["服务次数", ($vt.services | s)],
                    ["服务时长（小时）", ($vt.service_hours * 10 | round / 10 | s)],
                    ["积分发放", ($vt.points_earned | s)], ["积分兑换", ($vt.points_redeemed | s)]]}'
}
cards_agree() { # NODE: the page shows the API's answers (else $got and $want differ)
    for _ in $(seq 1 40); do
        want=$(api_cards "$1")
        got=$(page_cards)
        [ "$got" = "$want" ] && return 0
        sleep 0.5
    done
    fail "the cards differ from the API for $1:
page $got
API  $want"
}
# Nothing overdue yet: the empty state, in Chinese.
cards_agree "$district"
[ "$(jq -c .overdue <<<"$got")" = '["1","0","true"]' ] || fail "overdue before any: $got"
[ "$(text_of '#overdue-empty')" = 暂无超期工单 ] || fail "no empty state: $(text_of '#overdue-empty')"
# Notify told the assignees of the three routed requests (the log channel).
delivered() { [ "$(curl -fsS -H "$op" "$aapi/notifications?node=$district&from=$from&to=$to" | jq .sent)" -ge 3 ]; }
gz_wait_for 20 "analytics did not count notify's deliveries" delivered
# A volunteer service through matching: a volunteer of the grid, a need
# for the next hours, offered by a batch, accepted and checked out (90
# minutes) by staff for the volunteer, confirmed.
mapi="http://127.0.0.1:$((GZ_PORT_BASE + 2))/api/v1"
mpost() { # PATH JSON: matching's answer
    curl -fsS -X POST -H "$op" -H 'Content-Type: application/json' -d "$2" "$mapi/$1" || fail "matching: $1"
}
soon() { TZ=Asia/Shanghai date -d "@$(($(date +%s) + $1))" '+%Y-%m-%dT%H:%M:%S+08:00'; }
grid0=$(gz_sql "SELECT grid_code FROM org.buildings WHERE code = '${b[0]}'")
mpost volunteers "{\"id\":\"v-dash\",\"name\":\"赵强\",\"skills\":[\"shopping\"],\"grid\":\"$grid0\",
    \"availability\":\"mon-sun 00:00-24:00\",\"max_per_week\":5,\"phone\":\"13800001234\"}" >/dev/null
need=$(mpost needs "{\"building\":\"${b[0]}\",\"contact_name\":\"张奶奶\",\"skill\":\"shopping\",
    \"window\":{\"from\":\"$(soon 3600)\",\"to\":\"$(soon 10800)\"}}" | jq -r .id)
offer() { gz_sql "SELECT id FROM matching.offers WHERE need_id = $need AND state = 'offered'"; }
offered() { [ -n "$(offer)" ]; }
gz_wait_for 20 "need $need was not offered" offered
service=$(mpost "offers/$(offer)/accept" '{}' | jq -r .service)
mpost "services/$service/checkout" '{"minutes":90}' >/dev/null
mpost "services/$service/confirm" '{"rating":5}' >/dev/null
served() { [ "$(curl -fsS -H "$op" "$aapi/volunteers?node=$district&from=$from&to=$to" | jq .services)" = 1 ]; }
gz_wait_for 20 "analytics did not count matching's service" served
# Overdue work: routing's clock 30 days back while request O is routed,
# so its resolve deadline has passed on analytics' (the wall) clock. The
# clock stays back: put forward, the due timers would escalate O and arm
# fresh deadlines.
[ "$(curl -sS -o "$tmp/clock.json" -w '%{http_code}' -H "$op" -H 'Content-Type: application/json' \
    -d '{"advance_s": -2592000}' "${rapi%/api/v1}/internal/v1/clock")" = 200 ] ||
    fail "routing's clock: $(cat "$tmp/clock.json")"
O=$(file sanitation "${b[3]}" "垃圾桶满溢")
gz_wait_for 20 "request $O not routed" routed "$O"
late_one() { [ "$(curl -fsS -H "$op" "$aapi/staff?node=$district" | jq '[.units[].overdue] | add')" = 1 ]; }
gz_wait_for 20 "request $O is not overdue in /api/v1/staff" late_one
cards_agree "$district"
[ "$(jq -c '[.overdue, (.units | length), (.staff | length), (.volunteers[:4] | map(.[1]))]' <<<"$got")" = \
  '[["2","1","false"],1,1,["1","1","1","1.5"]]' ] || fail "the scenario's cards: $got"
[ "$(jq -r '.notify | split(" ")[0] | tonumber >= 3' <<<"$got")" = true ] || fail "deliveries: $got"
[ "$(jq -r '.channels[0][0]' <<<"$got")" = 日志 ] || fail "the channel's label: $got"
[ "$(text_of '#overdue-staff tbody tr td:first-child')" = \
  "$(gz_sql "SELECT coalesce(assignee_name, assignee_staff) FROM routing.requests WHERE id = '$O'")" ] ||
    fail "the overdue person is not $O's assignee: $got"

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
js "document.getElementById('overdue-units').closest('.card').scrollIntoView();" >/dev/null
shot cards 1280 900 # the overdue, notification and volunteer cards
js "window.scrollTo(0, 0);" >/dev/null

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
[ "$(text_of '#requests')" = 4 ] || fail "the community's requests: $(text_of '#requests')"
cards_agree "$community"
post /window/rect '{"width": 768, "height": 1024}' >/dev/null # the cards reflow at this width
until_js "window.innerWidth === 768" || fail "window not 768 wide"
js "document.getElementById('notify-channels').closest('.card').scrollIntoView();" >/dev/null
shot tablet 768 1024
js "window.scrollTo(0, 0);" >/dev/null
click "#crumbs button[data-node=\"$district\"]"
until_js "document.getElementById('node-name').getAttribute('data-node') === '$district'" ||
    fail "the breadcrumb did not lead back to the district"
no_console_errors "after the drill-down"

# 9. It refreshes itself: a new request shows without a reload.
file parking "${b[3]}" "乱停车" >/dev/null
until_js "document.getElementById('requests').textContent === '5'" ||
    fail "the page did not refresh: $(text_of '#requests')"
no_console_errors "after refreshing"
# A clean SIGTERM (under ASan: no leak in what the dashboard's routes did).
gz_stop "$pid" gongzhi
echo PASS
