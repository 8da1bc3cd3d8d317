# browser.sh: headless Chromium driven over WebDriver (chromedriver), for
# the tests that check pages in a real browser. Sourced after lib.sh:
#
#     source "$(dirname "$0")/lib.sh"
#     source "$(dirname "$0")/browser.sh"
#     bw_require                 # skip (77) without chromium, chromedriver, jq
#     gz_init NAME
#     ...
#     bw_start 390 844 nojs mobile   # WIDTH HEIGHT js|nojs [mobile] [log]
#     go "$url"; page_with '待办' || fail "..."; click 'button#login'
#
# bw_start runs chromedriver on a free port and opens one session: the
# window WIDTH×HEIGHT; `nojs` turns JavaScript off (both ways Chromium
# knows); `mobile` adds mobile emulation at that size (headless Chromium's
# window is at least 500 px wide otherwise); `log` keeps the browser's
# console log for browser_log. It sets wd (the driver's URL), sid and s
# (the session's URL). The session ends and chromedriver stops at exit
# (lib.sh's gz_cleanup calls bw_cleanup), before gz_start's processes die.
#
# Then, in the session:
#   go URL               open URL
#   element CSS          the element id of the first match (empty if none)
#   click CSS            click it (fail when there is none)
#   type_in CSS TEXT     type TEXT into it
#   source_of            the page's source
#   page_with REGEX      wait up to 10 s for the source to match; sets page
#   js BODY              run BODY (a function body) and print its value as JSON
#   until_js EXPR        wait up to 15 s for EXPR to be true
#   text_of CSS          the first match's textContent
#   browser_log          the console entries since the last call (with `log`)
#   screenshot FILE      a PNG of the window
#   screenshot_at FILE W a PNG of the window, failing unless it is W px wide
#   post PATH JSON       any other WebDriver command on the session (bw_post, if
#                        the test has a post of its own)
# Failures go through `fail`, which prints the page and calls gz_fail; a
# test may redefine fail after sourcing (to print more) and end with bw_fail.

bw_require() {
    local b
    for b in chromium chromedriver jq; do
        command -v "$b" >/dev/null || { echo "SKIP: $b not installed (scripts/test installs it)"; exit 77; }
    done
}

wd="" sid="" s="" BW_DRIVER=""

bw_cleanup() {
    [ -n "$sid" ] && { curl -sS -m 10 -X DELETE "$wd/session/$sid" >/dev/null 2>&1 || true; }
    [ -n "$BW_DRIVER" ] && { kill "$BW_DRIVER" 2>/dev/null || true; }
    # A browser chromedriver left behind (it happens) goes too: it is the
    # one with this test's profile directory.
    [ -n "$BW_DRIVER" ] && { pkill -KILL -f -- "--user-data-dir=$GZ_TMP/profile" 2>/dev/null || true; }
    sid="" BW_DRIVER=""
    return 0
}

bw_fail() {
    if [ -n "$sid" ]; then
        echo "--- page"
        source_of | head -c 3000
        echo
    fi
    gz_fail "$@"
}
fail() { bw_fail "$@"; }

# bw_start WIDTH HEIGHT js|nojs [mobile] [log]
bw_start() {
    local width=$1 height=$2 script=$3 mobile=false log=false opt
    shift 3
    bw_cleanup # a second session replaces the first
    for opt in "$@"; do
        case $opt in
        mobile) mobile=true ;;
        log) log=true ;;
        *) gz_fail "bw_start: unknown option $opt" ;;
        esac
    done
    local port=$((10000 + RANDOM % 5000)) # below the ephemeral range (32768-)
    gz_start driver.log chromedriver --port="$port"
    BW_DRIVER=$GZ_PID
    wd="http://127.0.0.1:$port"
    # Up to 30 s: a first start on a fresh (or busy) machine can be slow.
    local i
    for i in $(seq 1 600); do
        curl -fsS "$wd/status" 2>/dev/null | jq -e '.value.ready' >/dev/null 2>&1 && break
        sleep 0.05
    done
    local caps
    caps=$(jq -n --arg dir "$GZ_TMP/profile.$port" --argjson w "$width" --argjson h "$height" \
        --argjson nojs "$([ "$script" = nojs ] && echo true || echo false)" \
        --argjson mobile "$mobile" --argjson log "$log" '
        {capabilities: {alwaysMatch: ({browserName: "chrome",
            "goog:chromeOptions": ({binary: "/usr/bin/chromium",
                args: (["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                        "--force-device-scale-factor=1",
                        ("--window-size=\($w),\($h)"), ("--user-data-dir=" + $dir)]
                       + (if $nojs then ["--blink-settings=scriptEnabled=false"] else [] end))}
              + (if $nojs then {prefs: {"profile.managed_default_content_settings.javascript": 2}}
                 else {} end)
              + (if $mobile then {mobileEmulation: {deviceMetrics:
                    {width: $w, height: $h, pixelRatio: 1}}} else {} end))}
          + (if $log then {"goog:loggingPrefs": {browser: "ALL"}} else {} end))}}')
    sid=$(curl -sS -X POST -H 'Content-Type: application/json' -d "$caps" "$wd/session" |
        jq -r '.value.sessionId // empty')
    [ -n "$sid" ] || gz_fail "no WebDriver session: $(tail -n 20 "$GZ_TMP/driver.log")"
    s="$wd/session/$sid"
}

bw_post() { curl -sS -m 30 -X POST -H 'Content-Type: application/json' -d "$2" "$s$1"; }
post() { bw_post "$@"; } # a test may define its own post: this file's functions use bw_post
go() { bw_post /url "$(jq -n --arg u "$1" '{url: $u}')" >/dev/null; }
element() {
    bw_post /element "$(jq -n --arg v "$1" '{using: "css selector", value: $v}')" |
        jq -r '.value | if type == "object" then (to_entries[0].value // empty) else empty end'
}
click() { local e; e=$(element "$1"); [ -n "$e" ] || fail "no element $1"; bw_post "/element/$e/click" '{}' >/dev/null; }
type_in() {
    local e; e=$(element "$1"); [ -n "$e" ] || fail "no element $1"
    bw_post "/element/$e/value" "$(jq -n --arg t "$2" '{text: $t}')" >/dev/null
}
source_of() { curl -sS -m 30 "$s/source" | jq -r .value; }
# The page once it matches (a click that submits a form or follows a link
# may return before the next page is there): up to 10 s.
page_with() {
    local i
    for i in $(seq 1 200); do
        page=$(source_of)
        grep -q "$1" <<<"$page" && return 0
        sleep 0.05
    done
    return 1
}
js() { bw_post /execute/sync "$(jq -n --arg f "$1" '{script: $f, args: []}')" | jq -c .value; }
until_js() {
    local i
    for i in $(seq 1 150); do
        [ "$(js "return !!($1);")" = true ] && return 0
        sleep 0.1
    done
    return 1
}
text_of() { js "var e = document.querySelector('$1'); return e ? e.textContent : null;" | jq -r .; }
browser_log() { bw_post /se/log '{"type": "browser"}' | jq -c '.value'; }
screenshot() { curl -sS -m 30 "$s/screenshot" | jq -r .value | base64 -d >"$1"; }
screenshot_at() {
    screenshot "$1"
    local w
    w=$(od -An -tu1 -j16 -N4 "$1" | awk '{print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4}')
    [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = "211PNG" ] && [ "$w" = "$2" ] ||
        gz_fail "the screenshot $1 is not a $2 px wide PNG (width $w)"
    echo "screenshot: $1"
}
