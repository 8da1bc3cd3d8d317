#!/usr/bin/env bash
# Analytics through the all-in-one binary on a fixed scenario driven
# through the real services, every number computed by hand. Six requests in
# one community (distinct buildings), with a rules file whose keyword 慢测
# gives a 2 s response and 3 s resolve deadline:
#   A  reached on time, resolved on time, rated satisfied (closed)
#   B  慢测: reached after its deadline, resolved after its deadline, rated satisfied
#   C  reached on time, resolved, rated NOT satisfied, then reopened (not resolved now)
#   D  慢测: never touched; its response deadline passes (routing escalates it)
#   E  verified invalid (rejected): not in the cohort
#   F  the same building and category as D while D is open: merged, not in the cohort
# The community's rates, then: requests 4; response on time 2 of due 4
# (reached 3 + D overdue) = 0.5; resolved 2 of 4 = 0.5, on time 1; rated 3,
# satisfied 2; reopened 1, merged 1, invalid 1.
# The month's 一张表 of the community (Excel and CSV, over HTTP and from
# gzctl) reads back those numbers, the categories, D as overdue (its 3 s
# resolve deadline passed), a 逢四说事 meeting recorded this month, and on
# 通知与志愿服务 notify's deliveries of the community's requests (staff on the
# log channel: sent; residents on a webhook nobody listens on: dead after
# 3 attempts) as notify's own table counts them, and the one volunteer
# need filed with matching.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init analytics
gz_createdb
rules=$GZ_TMP/rules
{ echo "*  慢测  *  local  grid  -  2s  3s"; cat "$GZ_SOURCE_DIR/services/routing/default.rules"; } >"$rules"
export GZ_PORT_BASE=$(( 20000 + RANDOM % 10000 )) GZ_ROUTING_RULES=$rules \
       GZ_DEMO_API_KEY=an-key GZ_DEMO_OPERATOR_TOKEN=an-operator GZ_BUS_HEARTBEAT_MS=200 \
       GZ_ORG_CHECK_MS=0 GZ_ANALYTICS_HOTSPOT_MIN=1 \
       GZ_NOTIFY_QUIET_HOURS=off GZ_NOTIFY_DIGEST_WINDOW_MS=0 GZ_NOTIFY_RECIPIENT_PER_HOUR=0 \
       GZ_NOTIFY_STAFF_CHANNELS=log GZ_NOTIFY_RESIDENT_CHANNELS=webhook GZ_NOTIFY_MAX_ATTEMPTS=3 \
       GZ_NOTIFY_BACKOFF_MS=100 GZ_NOTIFY_BACKOFF_MAX_MS=200
# Nobody listens there: every resident's message ends dead.
export GZ_NOTIFY_WEBHOOK_URL="http://127.0.0.1:$((GZ_PORT_BASE + 51))/hook"
gz_seed
gz_start gongzhi.log "$GZ_BIN/gongzhi"
pid=$GZ_PID
web="http://127.0.0.1:$GZ_PORT_BASE"
rapi="http://127.0.0.1:$((GZ_PORT_BASE + 1))/api/v1"
aapi="http://127.0.0.1:$((GZ_PORT_BASE + 4))/api/v1"
op="Authorization: Bearer an-operator"
gz_wait_ready "$web" "${rapi%/api/v1}" "${aapi%/api/v1}"

community=HGY-C01
mapfile -t b < <(gz_sql "SELECT b.code FROM org.buildings b JOIN org.units g ON g.code = b.grid_code
                         WHERE g.parent_code = '$community' ORDER BY b.code LIMIT 5")
[ "${#b[@]}" = 5 ] || gz_fail "seed: 5 buildings in $community"
file() { # CATEGORY BUILDING DESCRIPTION [PHONE]: the request id
    curl -fsS -d api_key=an-key -d service_code="$1" -d "address_id=$2" ${4:+-d "phone=$4"} \
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
        -d "$3" "$rapi/requests/$1/$2" >/dev/null || gz_fail "$2 on $1"
}
resident() { # ID ACTION JSON
    local secret
    secret=$(gz_sql "SELECT secret FROM intake.requests WHERE id = $1")
    curl -fsS -X POST -H 'Content-Type: application/json' -d "$3" \
        "$rapi/requests/$1/$2?t=$secret" >/dev/null || gz_fail "resident $2 on $1"
}
work() { act "$1" accept '{}'; act "$1" verify '{"outcome":"reached"}'; act "$1" start '{}'; }

A=$(file property "${b[0]}" "楼道灯坏了" 13800001111) # A's resident hears (webhook: dead)
B=$(file sanitation "${b[1]}" "垃圾没清运 慢测")
C=$(file road "${b[2]}" "井盖松动")
D=$(file noise "${b[3]}" "夜间施工噪音 慢测")
E=$(file parking "${b[4]}" "乱停车")
for r in "$A" "$B" "$C" "$D" "$E"; do gz_wait_for 20 "request $r not routed" routed "$r"; done
F=$(file noise "${b[3]}" "夜间施工噪音又来了")
gz_wait_for 20 "F not merged" bash -c "[ \"\$(curl -fsS -H '$op' '$rapi/requests/$F' | jq -r .state)\" = merged ]"

work "$A"; act "$A" resolve '{"result":"已修复"}'; resident "$A" rate '{"score":5,"satisfied":true}'
work "$C"; act "$C" resolve '{"result":"已处理"}'; resident "$C" rate '{"score":2,"satisfied":false}'
resident "$C" reopen '{"comment":"还是松的"}'
act "$E" accept '{}'; act "$E" verify '{"outcome":"invalid"}'
sleep 3.5 # B's and D's deadlines (2 s, 3 s) pass
work "$B"; act "$B" resolve '{"result":"已清运"}'; resident "$B" rate '{"score":4,"satisfied":true}'

today=$(TZ=Asia/Shanghai date +%F)
rates() { curl -fsS -H "$op" "$aapi/rates?node=$1&from=$today&to=$today"; }
rates_on() { curl -fsS -H "$op" "$aapi/rates?node=$community&from=$1&to=$1"; }
settled() { [ "$(rates $community | jq .satisfaction.rated)" = 3 ]; }
gz_wait_for 20 "analytics did not count the ratings" settled
r=$(rates $community)
echo "$r" | jq -c '{requests, response, resolution, satisfaction, reopened, merged, invalid}'
check() { [ "$(jq -c "$1" <<<"$r")" = "$2" ] || gz_fail "$1 = $(jq -c "$1" <<<"$r"), want $2"; }
check .requests 4
check '.response | [.on_time, .due, .rate]' '[2,4,0.5]'
check '.resolution | [.resolved, .total, .rate, .on_time]' '[2,4,0.5,1]'
check '.satisfaction | [.satisfied, .rated]' '[2,3]'
check '.satisfaction.rate * 1000 | floor' 666
check '[.reopened, .merged, .invalid]' '[1,1,1]'

# Days older than any response deadline (31 days): their requests not
# reached are all overdue, counted from the rollup (requests - reached).
old=$(TZ=Asia/Shanghai date -d '40 days ago' +%F)
gz_sql "INSERT INTO analytics.rollup (node, day, requests, reached, reached_on_time)
        VALUES ('$community', '$old', 3, 1, 1)"
[ "$(rates_on "$old" | jq -c '.response | [.on_time, .due, .overdue_unreached]')" = '[1,3,2]' ] ||
    gz_fail "an old day's response: $(rates_on "$old")"
[ "$(curl -fsS -H "$op" "$aapi/rates?node=$community&from=$old&to=$today" | jq -c '.response | [.due, .overdue_unreached]')" = '[7,3]' ] ||
    gz_fail "old and recent days together"
gz_sql "DELETE FROM analytics.rollup WHERE node = '$community' AND day = '$old'"

# A whole month is read from its monthly row, a part of one from its days:
# a row written (as the consumer writes both) on 2026-03-15.
gz_sql "INSERT INTO analytics.rollup (node, day, requests) VALUES ('$community', '2026-03-15', 5);
        INSERT INTO analytics.rollup_month (node, day, requests) VALUES ('$community', '2026-03-01', 5)"
whole=$(curl -fsS -H "$op" "$aapi/rates?node=$community&from=2026-02-01&to=2026-04-30" | jq .requests)
part=$(curl -fsS -H "$op" "$aapi/rates?node=$community&from=2026-03-10&to=2026-04-30" | jq .requests)
[ "$whole" = 5 ] && [ "$part" = 5 ] || gz_fail "months: whole $whole, part $part"
gz_sql "UPDATE analytics.rollup_month SET requests = 7 WHERE node = '$community' AND day = '2026-03-01'"
[ "$(curl -fsS -H "$op" "$aapi/rates?node=$community&from=2026-03-01&to=2026-03-31" | jq .requests)" = 7 ] ||
    gz_fail "a whole month is not read from its monthly row"
gz_sql "DELETE FROM analytics.rollup WHERE node = '$community' AND day = '2026-03-15';
        DELETE FROM analytics.rollup_month WHERE node = '$community' AND day = '2026-03-01'"

# The sub-district and the district count the same requests; another
# community none (rates null, not 0/0).
sub=$(gz_sql "SELECT parent_code FROM org.units WHERE code = '$community'")
[ "$(rates "$sub" | jq .requests)" = 4 ] || gz_fail "sub-district: $(rates "$sub")"
empty=$(rates HGY-C02)
[ "$(jq -c '[.requests, .response.rate, .resolution.rate, .satisfaction.rate]' <<<"$empty")" = '[0,null,null,null]' ] ||
    gz_fail "an empty community: $empty"

# Bad parameters: 400 with the reason; no token: 401.
code() { curl -s -o "$GZ_TMP/err" -w '%{http_code}' -H "$op" "$aapi/$1"; }
[ "$(code "rates?node=$community&from=2026-02-30&to=$today")" = 400 ] && grep -q from "$GZ_TMP/err" ||
    gz_fail "a bad date"
[ "$(code "rates?node=NOPE&from=$today&to=$today")" = 400 ] || gz_fail "an unknown node"
[ "$(code "rates?node=$community&from=$today&to=2020-01-01")" = 400 ] || gz_fail "from after to"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$aapi/rates?node=$community&from=$today&to=$today")" = 401 ] ||
    gz_fail "no token"

# Rankings: the communities of the sub-district, none ranked under the
# default minimum sample of 20; hot spots: none at 3, the community's five
# buildings at 1.
rk=$(curl -fsS -H "$op" "$aapi/rankings?node=$sub&from=$today&to=$today")
[ "$(jq '[.units[] | select(.ranked)] | length' <<<"$rk")" = 0 ] || gz_fail "ranked below the sample: $rk"
[ "$(jq -r '.units[] | select(.node == "'$community'") | .requests' <<<"$rk")" = 4 ] || gz_fail "rankings: $rk"
# Under the district: its sub-districts, not the departments it also
# holds (they are ranked apart, with level=department).
dist=$(gz_sql "SELECT parent_code FROM org.units WHERE code = '$sub'")
for want in "subdistrict:" "department:&level=department"; do
    rk=$(curl -fsS -H "$op" "$aapi/rankings?node=$dist&from=$today&to=$today${want#*:}")
    expected=$(gz_sql "SELECT coalesce(string_agg(code, ' ' ORDER BY code), '') FROM org.units
                       WHERE parent_code = '$dist' AND level = '${want%%:*}'")
    [ -n "$expected" ] && [ "$(jq -r '[.units[].node] | sort | join(" ")' <<<"$rk")" = "$expected" ] ||
        gz_fail "rankings of the district's ${want%%:*} units: $(jq -c '[.units[].node]' <<<"$rk") want $expected"
done
[ "$(code "rankings?node=$dist&from=$today&to=$today&level=grid")" = 400 ] || gz_fail "rankings level=grid"
hs=$(curl -fsS -H "$op" "$aapi/hotspots?node=$community&min=1")
[ "$(jq '.hotspots | length' <<<"$hs")" = 4 ] || gz_fail "hot spots at 1: $hs"
tr=$(curl -fsS -H "$op" "$aapi/trends?node=$community&from=$today&to=$today")
[ "$(jq '.days[0].requests' <<<"$tr")" = 4 ] && [ "$(jq '.volumes.category.noise' <<<"$tr")" = 1 ] ||
    gz_fail "trends: $tr"

# The monthly 一张表. A meeting this month (and one two months ago, not
# counted), recorded by routing; here by SQL.
month=$(TZ=Asia/Shanghai date +%Y-%m)
gz_sql "INSERT INTO routing.meetings (id, community_code, held_on, place, participants, hosts,
        recorded_role, client_key, body_sha256, demands_total, status)
        VALUES ('M9101', '$community', '$today', '社区议事厅', 12, '{}', 'operator', 'k1', 'x', 3,
        'recorded'), ('M9102', '$community', '$today'::date - 62, '社区议事厅', 5, '{}', 'operator',
        'k2', 'x', 1, 'recorded')" >/dev/null
# A volunteer need filed with matching (its stream counted by day and node).
mapi="http://127.0.0.1:$((GZ_PORT_BASE + 2))/api/v1"
curl -fsS -X POST -H "$op" -H 'Content-Type: application/json' "$mapi/needs" \
    -d "{\"building\":\"${b[0]}\",\"contact_name\":\"张奶奶\",\"skill\":\"shopping\",\"weekly\":\"sat 09:00-10:00\"}" >/dev/null ||
    gz_fail "need"
needs() { [ "$(curl -fsS -H "$op" "$aapi/volunteers?node=$community&from=$today&to=$today" | jq .needs)" = 1 ]; }
gz_wait_for 20 "analytics did not count matching's need" needs
# Notify's deliveries of the community's requests, once every one has ended
# and analytics has counted them all: per channel, as notify's table says.
mine="SELECT id FROM routing.requests WHERE community_code = '$community'"
ended() { [ "$(gz_sql "SELECT count(*) FROM notify.deliveries WHERE request_id IN ($mine)
                        AND state NOT IN ('sent', 'dead', 'skipped')")" = 0 ]; }
# Routing first climbs B's and D's ladders to the top (2 s and 3 s a rung),
# every rung and warning a message: no timer of theirs left within the hour.
climbed() { [ "$(gz_sql "SELECT count(*) FROM routing.timers WHERE fired_at_us IS NULL
    AND fire_at_us < extract(epoch FROM now() + interval '1 hour') * 1e6 AND request_id IN ($mine)")" = 0 ]; }
gz_wait_for 60 "routing's timers still due: $(gz_sql "SELECT request_id, kind, fire_at_us FROM routing.timers WHERE fired_at_us IS NULL")" climbed
gz_wait_for 30 "notify's deliveries did not all end: $(gz_sql "SELECT channel, state FROM notify.deliveries")" ended
by_channel=$(gz_sql "SELECT json_object_agg(channel, json_build_object('sent', s, 'dead', x, 'skipped', k))
    FROM (SELECT channel, count(*) FILTER (WHERE state = 'sent') AS s,
          count(*) FILTER (WHERE state = 'dead') AS x, count(*) FILTER (WHERE state = 'skipped') AS k
          FROM notify.deliveries WHERE request_id IN ($mine) GROUP BY channel) c" | jq -cS .)
[ "$(jq -c '[.log.sent > 0, .webhook.dead > 0]' <<<"$by_channel")" = '[true,true]' ] ||
    gz_fail "expected staff messages sent on the log and residents' dead on the webhook: $by_channel"
counted() { [ "$(curl -fsS -H "$op" "$aapi/notifications?node=$community&from=$today&to=$today" | jq -cS .channels)" = "$by_channel" ]; }
gz_wait_for 20 "analytics did not count notify's deliveries as $by_channel" counted
echo "notify's deliveries of $community: $by_channel"
report="$aapi/reports/monthly?node=$community&month=$month"
curl -fsS -H "$op" -D "$GZ_TMP/xlsx.h" -o "$GZ_TMP/http.xlsx" "$report&format=xlsx" || gz_fail "report xlsx"
grep -qi '^content-type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' "$GZ_TMP/xlsx.h" ||
    gz_fail "xlsx content type: $(cat "$GZ_TMP/xlsx.h")"
grep -qi "^content-disposition: attachment; filename=\"report-$community-$month.xlsx\"; filename\*=UTF-8''%E4%B8%80%E5%BC%A0%E8%A1%A8-$community-$month.xlsx" "$GZ_TMP/xlsx.h" ||
    gz_fail "xlsx disposition: $(cat "$GZ_TMP/xlsx.h")"
cells=$(python3 "$(dirname "$0")/xlsx_cells.py" "$GZ_TMP/http.xlsx") || gz_fail "not a workbook"
cell() { jq -c "$1" <<<"$cells"; }
want() { [ "$(cell "$1")" = "$2" ] || gz_fail "xlsx $1 = $(cell "$1"), want $2"; }
want 'del(._formats) | keys_unsorted' '["总览","分类","排名","热点","超期","逢四说事","通知与志愿服务"]'
cname=$(gz_sql "SELECT name FROM org.units WHERE code = '$community'")
want '.["总览"].A1' "\"$cname（$community）$month 一张表\""
want '.["总览"] | [.A4, .B4]' '["指标","数值"]'
# 总览: row 5 requests, 6 response rate, 9 resolution, 13 satisfaction.
want '.["总览"] | [.A5, .B5, .A6, .B6, .B7, .B8]' '["受理诉求（件）",4,"响应率",0.5,2,4]'
want '.["总览"] | [.A9, .B9, .B10, .B11]' '["解决率",0.5,2,1]'
want '.["总览"] | [.A13, (.B13 * 1000 | floor), .B14, .B15]' '["满意率",666,2,3]'
want '._formats["总览"] | [.B5, .B6, .B13]' '["0","0.0%","0.0%"]'
want '[.["分类"] | to_entries[] | select(.key | test("^B[0-9]+$")) | .value] | .[1:] | sort' '["noise","property","road","sanitation"]'
want '[.["分类"] | to_entries[] | select(.key | test("^C[0-9]+$")) | .value] | .[1:]' '[1,1,1,1]'
# 排名 of a community: its grids; their requests add up to 4.
want '[.["排名"] | to_entries[] | select(.key | test("^C[0-9]+$")) | .value] | .[1:] | add' 4
want '[.["热点"] | to_entries[] | select(.key | test("^D[0-9]+$")) | .value] | .[1:] | length' 4
want '.["超期"] | [.A5, .G5, .A6]' "[\"$D\",0,null]"
want '._formats["超期"] | [.["E5"], .F5]' '["yyyy-mm-dd","yyyy-mm-dd hh:mm"]'
serial=$(python3 -c "import datetime; print((datetime.date.fromisoformat('$today') - datetime.date(1899, 12, 30)).days)")
want ".[\"逢四说事\"] | [.A5, .B5, .C5, .D5, .[\"E5\"], .F5, .A6]" "[\"M9101\",\"$cname\",$serial,\"社区议事厅\",12,3,null]"
want '._formats["逢四说事"].C5' '"yyyy-mm-dd"'
# The category names are Chinese (gz_category), whatever they are.
for code in noise road; do
    name=$(cell "[.[\"分类\"] | to_entries[] | select(.value == \"$code\") | .key | sub(\"B\"; \"A\")] | .[0]")
    [ "$(cell ".[\"分类\"][$name] | test(\"^[^a-z]+$\")")" = true ] || gz_fail "category $code has no Chinese name"
done

# The CSV: a BOM, the same numbers; gzctl writes the same file.
curl -fsS -H "$op" -D "$GZ_TMP/csv.h" -o "$GZ_TMP/http.csv" "$report&format=csv" || gz_fail "report csv"
grep -qi '^content-type: text/csv; charset=utf-8' "$GZ_TMP/csv.h" || gz_fail "csv content type"
[ "$(head -c 3 "$GZ_TMP/http.csv" | od -An -tx1 | tr -d ' ')" = efbbbf ] || gz_fail "csv: no BOM"
python3 - "$GZ_TMP/http.csv" "$D" "$cname" <<'PY' || gz_fail "csv content"
import csv, sys
rows = list(csv.reader(open(sys.argv[1], encoding="utf-8-sig", newline="")))
d, cname = sys.argv[2], sys.argv[3]
def section(name):
    i = rows.index([name])
    assert rows[i - 1] == [], name
    end = next((k for k in range(i + 1, len(rows)) if rows[k] == []), len(rows))
    return rows[i + 1:end]
ov = dict((r[0], r[1]) for r in section("总览")[1:])
assert ov["受理诉求（件）"] == "4" and ov["响应率"] == "50.0%", ov
assert ov["解决率"] == "50.0%" and ov["满意率"] == "66.7%" and ov["已评价（件）"] == "3", ov
assert ov["超期未办结（件）"] == "1" and ov["逢四说事（场）"] == "1", ov
cats = {r[1]: r[2] for r in section("分类")[1:]}
assert cats == {"noise": "1", "property": "1", "road": "1", "sanitation": "1"}, cats
over = section("超期")
assert over[0][0] == "诉求编号" and [r[0] for r in over[1:]] == [d], over
meet = section("逢四说事")[1:]
assert meet == [["M9101", cname, meet[0][2], "社区议事厅", "12", "3"]], meet
PY
"$GZ_BIN/gzctl" report monthly --node "$community" --month "$month" --out "$GZ_TMP/cli.csv" >/dev/null ||
    gz_fail "gzctl report csv"
# 通知与志愿服务 in the workbook and the CSV: the totals and each channel
# (webhook before log, Chinese names) as notify's table counted them; the
# need, and the rest of matching's month as /volunteers answers it.
vol=$(curl -fsS -H "$op" "$aapi/volunteers?node=$community&from=${month}-01&to=$today")
[ "$(jq .needs <<<"$vol")" = 1 ] || gz_fail "volunteers this month: $vol"
echo "$cells" >"$GZ_TMP/cells.json"
python3 - "$GZ_TMP/cells.json" "$GZ_TMP/http.csv" "$by_channel" "$vol" <<'PY' || gz_fail "通知与志愿服务"
import csv, json, sys
cells = json.load(open(sys.argv[1]))
rows = list(csv.reader(open(sys.argv[2], encoding="utf-8-sig", newline="")))
chan, vol = json.loads(sys.argv[3]), json.loads(sys.argv[4])
labels = {"webhook": "接口推送", "log": "系统日志"}
assert list(chan) == ["log", "webhook"], chan
def delivered(what, c):
    return [[what, "已发送（条）", c["sent"]], [what, "发送失败（条）", c["dead"]],
            [what, "已跳过（条）", c["skipped"]]]
total = {k: sum(c[k] for c in chan.values()) for k in ("sent", "dead", "skipped")}
want = delivered("通知（合计）", total)
for code in ("webhook", "log"):
    want += delivered("通知（%s）" % labels[code], chan[code])
v = "志愿服务"
want += [[v, "服务需求（件）", 1], [v, "服务邀请（次）", vol["offers"]],
         [v, "接受邀请（次）", vol["accepted"]], [v, "完成服务（次）", vol["services"]],
         [v, "服务时长（小时）", vol["service_hours"]], [v, "获得积分（分）", vol["points_earned"]],
         [v, "兑换积分（分）", vol["points_redeemed"]]]
sh = cells["通知与志愿服务"]
assert [sh["A4"], sh["B4"], sh["C4"]] == ["项目", "指标", "数值"], sh
got = [[sh.get("%s%d" % (col, 5 + i)) for col in "ABC"] for i in range(len(want) + 1)]
assert got == want + [[None, None, None]], (got, want)
fmt = cells["_formats"]["通知与志愿服务"]
assert fmt["C5"] == "0" and fmt["C%d" % (4 + len(want) - 2)] == "0.0", fmt
i = rows.index(["通知与志愿服务"])
assert rows[i - 1] == [] and rows[i + 1] == ["项目", "指标", "数值"], rows[i - 1:i + 2]
as_text = [[a, b, ("%.1f" % x) if "小时" in b else str(x)] for a, b, x in want]
assert rows[i + 2:] == as_text, (rows[i + 2:], as_text)
PY
cmp -s "$GZ_TMP/cli.csv" "$GZ_TMP/http.csv" || gz_fail "gzctl's CSV differs from the API's"
"$GZ_BIN/gzctl" report monthly --node "$community" --month "$month" --out "$GZ_TMP/cli.x" --format xlsx >/dev/null ||
    gz_fail "gzctl report xlsx"
[ "$(python3 "$(dirname "$0")/xlsx_cells.py" "$GZ_TMP/cli.x")" = "$cells" ] || gz_fail "gzctl's workbook differs"
"$GZ_BIN/gzctl" report monthly --node "$community" --month "$month" --out "$GZ_TMP/x.pdf" 2>/dev/null &&
    gz_fail "gzctl: a .pdf accepted"
# The sub-district's report ranks its communities (none ranked below 20).
curl -fsS -H "$op" -o "$GZ_TMP/sub.csv" "$aapi/reports/monthly?node=$sub&month=$month&format=csv" || gz_fail "sub report"
grep -q "^$cname,$community,4,50.0%,,50.0%,,66.7%,,否（样本不足）" "$GZ_TMP/sub.csv" || gz_fail "sub ranking: $(cat "$GZ_TMP/sub.csv")"
# Bad parameters: 400; no token: 401.
for q in "node=$community&month=2026-13" "node=$community&month=$month&format=pdf" \
         "node=NOPE&month=$month" "month=$month"; do
    [ "$(code "reports/monthly?$q")" = 400 ] || gz_fail "report $q: not 400"
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$report")" = 401 ] || gz_fail "report: no token"
# Work in hand now (routing's state): C (reopened) and D are open; overdue
# as routing's deadlines say (an escalation moves them). The meeting held today (M9101 above).
st=$(curl -fsS -H "$op" "$aapi/staff?node=$community")
overdue=$(gz_sql "SELECT count(*) FROM routing.requests WHERE community_code = '$community'
                  AND state IN ('assigned', 'accepted', 'verified', 'in_progress')
                  AND resolve_due_us < extract(epoch FROM now()) * 1e6")
[ "$(jq '[.units[].open] | add' <<<"$st")" = 2 ] && [ "$(jq '[.units[].overdue] | add' <<<"$st")" = "$overdue" ] ||
    gz_fail "staff: $st (overdue in routing: $overdue)"
[ "$(jq '[.staff[].open] | add' <<<"$st")" = 2 ] || gz_fail "staff per person: $st"
mt=$(curl -fsS -H "$op" "$aapi/meetings?node=$sub&from=$today&to=$today")
[ "$(jq -c '[.meetings, .participants, .demands]' <<<"$mt")" = '[1,12,3]' ] || gz_fail "meetings: $mt"
gz_stop "$pid" gongzhi
echo "analytics: ok"
