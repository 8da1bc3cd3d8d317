# workbench.sh: what the workbench tests share (sourced after lib.sh, once
# web (intake's base URL) and wb (routing's, where /w/ is) are set and
# GZ_DEMO_API_KEY is exported):
#   file BUILDING DESCRIPTION [curl args]  file over Open311; the request id
#                                          once routing assigned it
#   state ID                               the request's state in routing
#   link STAFF                             a fresh one-time sign-in link
#                                          (gzctl token issue's), on $wb

file() {
    local id w b=$1 d=$2
    shift 2
    id=$(curl -fsS -d "api_key=$GZ_DEMO_API_KEY" -d service_code=property -d "address_id=$b" "$@" \
        --data-urlencode "description=$d" "$web/open311/v2/requests.json" | jq -r '.[0].service_request_id')
    [ -n "$id" ] && [ "$id" != null ] || gz_fail "filing in $b failed"
    for _ in $(seq 1 200); do
        w=$(gz_sql "SELECT assignee_staff FROM routing.requests WHERE id = '$id' AND state = 'assigned'")
        [ -n "$w" ] && { echo "$id"; return 0; }
        sleep 0.05
    done
    gz_fail "request $id was not routed"
}

state() { gz_sql "SELECT state FROM routing.requests WHERE id = '$1'"; }

link() {
    local url
    "$GZ_BIN/gzctl" token issue "$1" 2>"$GZ_TMP/issue.err" >/dev/null ||
        gz_fail "token issue $1: $(cat "$GZ_TMP/issue.err")"
    url=$(grep -o 'http://[^ ]*/w/login?code=[A-Za-z0-9_-]*' "$GZ_TMP/issue.err" | head -1)
    [ -n "$url" ] || gz_fail "gzctl token issue printed no sign-in link: $(cat "$GZ_TMP/issue.err")"
    echo "$wb/w/login?code=${url##*code=}"
}
