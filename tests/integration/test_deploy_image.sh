#!/usr/bin/env bash
# The container image's runtime stage (deploy/Dockerfile) installs what the
# binaries it copies need: every shared library the built binaries name
# (ELF NEEDED) must come from a Debian package the runtime stage installs
# (or from libc6, which debian:12 has), and every binary the image copies
# must exist in the build. This machine has no container engine, so the
# image itself is not built here; this catches the drift that would break
# it (a new library linked, a binary renamed).
set -euo pipefail
: "${GZ_SOURCE_DIR:?run under ctest}"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gz_init deploy_image
dockerfile="$GZ_SOURCE_DIR/deploy/Dockerfile"
# The Debian package that owns a library file (merged /usr: dpkg may know it
# under /lib or /usr/lib, by its link name or its real name).
owner() {
    local real p
    real=$(readlink -f "$1")
    for p in "$1" "$real" "${1#/usr}" "/usr$1" "${real#/usr}" "/usr$real"; do
        dpkg -S "$p" 2>/dev/null | head -n 1 | cut -d: -f1 | grep . && return 0
    done
    return 0
}

# The runtime stage: everything after the last FROM.
runtime=$(awk '/^FROM /{stage = ""} {stage = stage $0 "\n"} END {printf "%s", stage}' "$dockerfile")
packages=$(sed -n '/apt-get install/,/rm -rf/p' <<<"$runtime" | tr ' \\' '\n\n' |
    grep -E '^[a-z0-9][a-z0-9.+-]+$' | sort -u) # package names (and a few words: harmless)
[ -n "$packages" ] || gz_fail "no runtime packages found in $dockerfile"
binaries=$(grep -A2 '^COPY --from=build' <<<"$runtime" | grep -oE '/build/services/[a-z-]+' | sed 's|/build/services/||')
[ -n "$binaries" ] || gz_fail "no binaries copied in the runtime stage"

for b in $binaries; do
    bin="$GZ_BIN/$b"
    [ -x "$bin" ] || gz_fail "the image copies $b, which the build does not make"
    for lib in $(readelf -d "$bin" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p'); do
        path=$(ldd "$bin" | awk -v l="$lib" '$1 == l {print $3}')
        [ -n "$path" ] || gz_fail "$b: $lib not found"
        pkg=$(owner "$path")
        [ -n "$pkg" ] || gz_fail "$b: no Debian package owns $lib"
        case $pkg in
            libc6) continue ;;
            libasan*|libubsan*|liblsan*|libtsan*) continue ;; # a sanitizer build's runtime
        esac
        grep -qx "$pkg" <<<"$packages" || gz_fail "$b needs $lib from $pkg, which the image does not install"
    done
done
echo "runtime stage installs what $(echo $binaries | wc -w) binaries need: $(echo $packages)"
echo PASS
