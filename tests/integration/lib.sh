# lib.sh: what the shell-driven integration tests share (sourced, not a test
# itself): a fresh database on the throwaway PostgreSQL, a temporary
# directory, processes started in the background and killed at the end,
# psql, waiting for /readyz or any condition with a deadline, failing with
# the tail of every log. A test starts with
#
#     set -euo pipefail
#     source "$(dirname "$0")/lib.sh"
#     gz_init NAME          # GZ_TMP and the EXIT trap
#     gz_createdb           # GZ_DB / GZ_URL, dropped at the end
#
# and, if it has more to undo at exit, defines gz_cleanup_more (run first).

: "${GZ_BUILD_DIR:?run under ctest}"
GZ_BIN=$GZ_BUILD_DIR/services
GZ_PIDS=() # processes started by gz_start and not reaped yet

# gz_init NAME: GZ_NAME (for messages), GZ_TMP (a fresh directory) and the
# EXIT trap (gz_cleanup).
gz_init() {
    GZ_NAME=$1
    GZ_TMP=$(mktemp -d "/tmp/gz-$GZ_NAME.XXXXXX")
    GZ_DB=""
    trap gz_cleanup EXIT
}

# gz_createdb: a fresh database GZ_DB (URL in GZ_URL; GZ_ADMIN is the
# maintenance database) on the cluster scripts/test starts; exported as
# GZ_DATABASE_URL for the binaries, dropped at exit.
gz_createdb() {
    : "${GZ_TEST_DATABASE_URL:?run under scripts/test}"
    GZ_ADMIN=$GZ_TEST_DATABASE_URL
    GZ_DB="gzt_${GZ_NAME}_$$_$RANDOM"
    GZ_URL="${GZ_ADMIN%/*}/$GZ_DB"
    gz_admin_sql "CREATE DATABASE $GZ_DB" >/dev/null || gz_fail "cannot create database $GZ_DB"
    export GZ_DATABASE_URL=$GZ_URL
}

gz_cleanup() {
    if declare -F bw_cleanup >/dev/null; then bw_cleanup || true; fi
    if declare -F gz_cleanup_more >/dev/null; then gz_cleanup_more || true; fi
    local p
    for p in "${GZ_PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ -n "$GZ_DB" ]; then
        gz_admin_sql "DROP DATABASE IF EXISTS $GZ_DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$GZ_TMP"
}

# gz_fail MESSAGE...: say what failed, show the tail of every log in
# GZ_TMP, exit 1.
gz_fail() {
    echo "$GZ_NAME: FAIL: $*" >&2
    local f
    for f in "$GZ_TMP"/*.log; do
        [ -f "$f" ] && { echo "--- tail of $(basename "$f")" >&2; tail -n 30 "$f" >&2; }
    done
    exit 1
}

# gz_sql SQL: run SQL on the test database; rows unaligned, no headers.
gz_sql() { psql -X "$GZ_URL" -v ON_ERROR_STOP=1 -qAt -c "$1"; }
gz_admin_sql() { psql -X "$GZ_ADMIN" -v ON_ERROR_STOP=1 -qAt -c "$1"; }

# gz_seed: the huaguoyuan directory in the test database (gzctl seed).
gz_seed() { "$GZ_BIN/gzctl" seed huaguoyuan >/dev/null || gz_fail "gzctl seed failed"; }

# gz_start LOG CMD...: run CMD in the background, its output appended to
# GZ_TMP/LOG; its pid in GZ_PID. Killed at exit unless reaped before.
gz_start() {
    local log=$1
    shift
    "$@" >>"$GZ_TMP/$log" 2>&1 &
    GZ_PID=$!
    GZ_PIDS+=("$GZ_PID")
}

# gz_reap PID: wait for PID (started by gz_start); its exit status in
# GZ_RC. It is no longer killed at exit (its pid may be reused).
gz_reap() {
    GZ_RC=0
    { wait "$1"; } 2>/dev/null || GZ_RC=$?
    local p kept=()
    for p in "${GZ_PIDS[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
    GZ_PIDS=("${kept[@]+"${kept[@]}"}")
}

# gz_kill9 PID: SIGKILL and reap; the exit status in GZ_RC (137 if killed).
gz_kill9() {
    kill -9 "$1" 2>/dev/null || true
    gz_reap "$1"
}

# gz_stop PID WHAT: SIGTERM and require a clean exit (under ASan: no leak).
gz_stop() {
    kill -TERM "$1" 2>/dev/null || gz_fail "$2 is not running at the end"
    gz_reap "$1"
    [ "$GZ_RC" -eq 0 ] || gz_fail "$2 exited $GZ_RC on SIGTERM"
}

# gz_wait_for SECONDS WHAT CMD...: run CMD every 50 ms until it succeeds;
# fail with "WHAT" if it has not within SECONDS.
gz_wait_for() {
    local limit=$1 what=$2
    shift 2
    local end=$((SECONDS + limit))
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || gz_fail "$what (waited ${limit}s)"
        sleep 0.05
    done
}

# gz_ready URL...: every URL/readyz answers 2xx now.
gz_ready() {
    local u
    for u in "$@"; do curl -fsS "$u/readyz" >/dev/null 2>&1 || return 1; done
}

# gz_wait_ready URL...: every URL/readyz answers 2xx within 60 s.
gz_wait_ready() { gz_wait_for 60 "not ready: $*" gz_ready "$@"; }
