# Shared shell helpers for scripts/up, scripts/test and the benchmarks.
# Sourced, not run. Functions: gz_deps, gz_web_deps, gz_build, gz_pg_start, gz_pg_stop.

GZ_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GZ_PACKAGES="build-essential cmake pkg-config libzmq3-dev libczmq-dev libprotobuf-c-dev
protobuf-c-compiler libpq-dev postgresql postgresql-contrib libmicrohttpd-dev libjansson-dev
libcurl4-openssl-dev libssl-dev libcmocka-dev libxlsxwriter-dev clang-format prometheus curl jq
libxml2-utils unzip libvips-dev libheif1"

# Install missing Debian packages: apt-get when root, else print the line and fail.
gz_deps() {
    local missing=()
    for p in $GZ_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    # npm (the dashboard's ECharts): Debian's package, unless a Node.js that
    # brings its own npm is installed (NodeSource's nodejs conflicts with it).
    command -v npm >/dev/null || missing+=(npm)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages; run as root:" >&2
        echo "  apt-get install -y ${missing[*]}" >&2
        return 1
    fi
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
}

# gz_web_deps: the dashboard's npm dependencies (Apache ECharts, pinned in
# services/analytics/web/package-lock.json), installed by `npm ci` when
# node_modules is missing or older than the lock file; the build embeds
# them. Offline-tolerant: npm's cache first, then the registry; if both
# fail (or npm is missing) it warns and the build goes on without the
# charts (/static/echarts.min.js answers 503; test_dashboard fails).
gz_web_deps() {
    local web=$GZ_ROOT/services/analytics/web
    local stamp=$web/node_modules/.package-lock.json
    [ -f "$stamp" ] && [ ! "$web/package-lock.json" -nt "$stamp" ] && return 0
    if ! command -v npm >/dev/null; then
        echo "warning: npm missing; the dashboard is built without ECharts" >&2
        return 0
    fi
    (cd "$web" && { npm ci --offline --no-audit --no-fund --loglevel=error >/dev/null 2>&1 ||
        npm ci --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null; }) ||
        echo "warning: npm ci failed in $web; the dashboard is built without ECharts" >&2
    return 0
}

# gz_build DIR [cmake args...]: install the dashboard's npm dependencies
# when missing, configure and build into DIR.
gz_build() {
    local dir=$1; shift
    gz_web_deps
    cmake -S "$GZ_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null &&
        cmake --build "$dir" -j "$(nproc)" -- --no-print-directory
}

gz_pg_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] || { echo "no PostgreSQL server binaries under /usr/lib/postgresql" >&2; return 1; }
    echo "$d"
}

# Run a command as the unprivileged owner of the cluster (PostgreSQL refuses root).
gz_pg_as() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u gzpg -- "$@")
    else
        "$@"
    fi
}

# gz_pg_start DIR PORT [fast]: start (initdb first if needed) a private cluster in DIR,
# listening on 127.0.0.1:PORT and a socket in DIR. Creates role and database gongzhi.
# "fast" turns fsync off (throwaway test clusters only).
gz_pg_start() {
    local dir=$1 port=$2 mode=${3:-}
    local bin; bin=$(gz_pg_bindir) || return 1
    if [ "$(id -u)" -eq 0 ]; then
        id gzpg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin gzpg
    fi
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown gzpg "$dir"
    if [ ! -f "$dir/PG_VERSION" ]; then
        gz_pg_as "$bin/initdb" -D "$dir" -U gongzhi -A trust -E UTF8 --locale=C.UTF-8 >/dev/null ||
            { echo "initdb failed in $dir" >&2; return 1; }
        {
            echo "listen_addresses = '127.0.0.1'"
            echo "max_connections = 300"
            echo "shared_buffers = 256MB"
            echo "unix_socket_directories = '$dir'"
        } | gz_pg_as tee -a "$dir/postgresql.conf" >/dev/null
    fi
    local extra=""
    [ "$mode" = fast ] && extra="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    gz_pg_as "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
        -o "-p $port $extra" start >/dev/null ||
        { echo "PostgreSQL did not start; see $dir/server.log" >&2; tail -n 20 "$dir/server.log" >&2; return 1; }
    "$bin/psql" -h 127.0.0.1 -p "$port" -U gongzhi -d postgres -qAt \
        -c "SELECT 1 FROM pg_database WHERE datname='gongzhi'" | grep -q 1 ||
        "$bin/createdb" -h 127.0.0.1 -p "$port" -U gongzhi gongzhi
}

gz_pg_stop() {
    local dir=$1
    local bin; bin=$(gz_pg_bindir) || return 1
    [ -f "$dir/postmaster.pid" ] && gz_pg_as "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
    return 0
}
