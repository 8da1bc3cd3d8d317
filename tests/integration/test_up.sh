#!/usr/bin/env bash
# scripts/up loads the matching demo (its needs are offered within
# seconds) and supervises gongzhi: killed with -9, the binary is started again
# (with a log line, after 1 s, then 2 s when it dies again at once) and
# answers /healthz; SIGTERM to scripts/up stops the binary and the script.
# Runs scripts/up on the test database (GZ_DATABASE_URL: no PostgreSQL of
# its own) with the binaries already built (GZ_UP_SKIP_BUILD=1).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init up
gz_createdb
export GZ_PORT_BASE=$((20000 + RANDOM % 10000)) GZ_UP_SKIP_BUILD=1 GZ_LOG_LEVEL=warn
export GZ_DATA_DIR=$GZ_TMP/var
base="http://127.0.0.1:$GZ_PORT_BASE"
log=$GZ_TMP/up.log

# Whatever gongzhi the script left behind is killed at exit, then the script.
gz_cleanup_more() {
    local p
    for p in $(pgrep -P "$up" -x gongzhi || true); do kill -9 "$p" 2>/dev/null || true; done
}

gz_start up.log bash "$GZ_SOURCE_DIR/scripts/up"
up=$GZ_PID
logged() { grep -qF "$1" "$log"; }
# Up and announced: a gongzhi that dies while it first starts ends scripts/up.
gz_wait_for 120 "scripts/up did not announce gongzhi" logged "gongzhi is running"

# The workbench: the banner's one-time sign-in links (a grid worker, a
# call-back operator, a community coordinator) each sign in, and each
# person's page opens: 待办, 回访, 协调.
banner_link() { # LABEL: the sign-in link on the banner line after LABEL
    grep -A1 -F "$1" "$log" | grep -o 'http://[^ ]*/w/login?code=[A-Za-z0-9_-]*' | head -1
}
for who in '工作台), grid worker:/w/' '回访, call-back operator:/w/callback' \
           '协调, community coordinator:/w/coord'; do
    label=${who%%:*} page=${who#*:}
    link=$(banner_link "$label")
    [ -n "$link" ] || gz_fail "scripts/up printed no sign-in link after '$label'"
    jar=$GZ_TMP/up-${page//\//_}.jar
    [ "$(curl -sS -o /dev/null -w '%{http_code}' -c "$jar" -d "code=${link##*code=}" "${link%%\?*}")" = 303 ] ||
        gz_fail "the banner's sign-in link after '$label' does not sign in"
    [ "$(curl -sS -o /dev/null -w '%{http_code}' -b "$jar" "${link%%/w/login*}$page")" = 200 ] ||
        gz_fail "signed in from '$label', $page does not open"
done

# The matching demo: volunteers imported, a supermarket per community, and
# the three open needs offered to volunteers by the first batches.
logged "imported 10000 volunteers" || gz_fail "the matching demo did not import its volunteers"
offers() { [ "$(gz_sql "SELECT count(DISTINCT need_id) FROM matching.offers")" = 3 ]; }
gz_wait_for 30 "the demo needs were not offered" offers
[ "$(gz_sql "SELECT count(DISTINCT community_code) FROM matching.shop_items")" = \
  "$(gz_sql "SELECT count(*) FROM org.units WHERE level = 'community'")" ] ||
    gz_fail "not every community has a points supermarket"

# The one gongzhi the script runs now (a child of the script).
child() { pgrep -P "$up" -x gongzhi || true; }
healthy() { curl -fsS "$base/healthz" >/dev/null 2>&1; }
restarted() { local c; c=$(child); [ -n "$c" ] && [ "$c" != "$1" ] && healthy; }

first=$(child)
[ -n "$first" ] || gz_fail "no gongzhi child of scripts/up"
kill -9 "$first"
gz_wait_for 30 "restart line after kill -9" \
    logged "gongzhi exited with status 137; restarting in 1 s"
gz_wait_for 60 "gongzhi back after kill -9" restarted "$first"
second=$(child)

# Dying again at once: the wait doubles.
kill -9 "$second"
gz_wait_for 30 "backoff line after a second kill -9" \
    logged "gongzhi exited with status 137; restarting in 2 s"
gz_wait_for 60 "gongzhi back after the second kill -9" restarted "$second"
gz_wait_ready "$base"
third=$(child)

# SIGTERM to scripts/up: gongzhi drains and exits, the script exits 0.
kill -TERM "$up"
gz_reap "$up"
[ "$GZ_RC" -eq 0 ] || gz_fail "scripts/up exited $GZ_RC on SIGTERM"
! kill -0 "$third" 2>/dev/null || gz_fail "gongzhi $third still runs after scripts/up stopped"
logged "== stopped" || gz_fail "scripts/up did not say it stopped"
! healthy || gz_fail "/healthz still answers after scripts/up stopped"
echo "PASS"
