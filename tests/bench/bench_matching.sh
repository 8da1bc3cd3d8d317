#!/usr/bin/env bash
# Matching solver benchmark (not a timed test; no database). For each size
# a fixed-seed instance from matching_gen (tests/bench/matching_gen.c: ~20
# feasible volunteers per need, distance-like costs, capacities 1-3) is
# solved by
#   - our solver (matching_gen solve: parse and solve timed apart),
#   - gzctl match solve (wall time, parsing and output included),
#   - LEMON's Preflow + NetworkSimplex (matching_lemon.cc, g++ here only),
#   - a greedy pass, cheapest pair first (count and cost only),
# and the script checks that ours and LEMON's agree on count and cost.
# Usage: tests/bench/bench_matching.sh [rounds]   (3: the best time of each)
# Sizes: 1k x 5k, 10k x 50k (the issue's goal), 50k x 50k, and a scarce
# 20k x 5k where half the needs cannot be matched.
# Then the pair builder (matching_pairs) on a city-sized 10k x 50k batch:
# build and solve times (bench_matching_pairs.c).
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$GZ_ROOT"
ROUNDS=${1:-3}
GZ_PACKAGES="$GZ_PACKAGES liblemon-dev" gz_deps
BUILD=${GZ_BENCH_BUILD:-build-bench}
gz_build "$BUILD" >/dev/null
tmp=$(mktemp -d /tmp/gz-bench-matching.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
g++ -O2 -o "$tmp/matching_lemon" tests/bench/matching_lemon.cc -llemon
gen="$BUILD/tests/bench/matching_gen"

# field NAME LINE: the value after NAME in LINE.
field() { echo "$2" | awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'; }
# best CMD...: run CMD ROUNDS times on $inst, print the output line of the fastest by KEY.
best() {
    local key=$1; shift
    for _ in $(seq 1 "$ROUNDS"); do "$@" <"$inst"; done |
        awk -v k="$key" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1), $0 }' | sort -n | head -1 | cut -d' ' -f2-
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-16s %8s | %9s %8s %8s | %9s %9s %8s | %8s %9s | %s\n' instance pairs \
    "ours_s" "gzctl_s" matched "lemon_ns" "lemon_pf" "lemon_wall" greedy greedy_cost "cost (ours = lemon)"
for size in "1000 5000" "10000 50000" "50000 50000" "20000 5000"; do
    set -- $size
    inst="$tmp/$1x$2.txt"
    "$gen" gen "$1" "$2" 1 >"$inst"
    ours=$(best solve_s "$gen" solve)
    lemon=$(best simplex_s "$tmp/matching_lemon")
    greedy=$("$gen" greedy <"$inst")
    start=$(date +%s%N)
    "$BUILD"/services/gzctl match solve <"$inst" >"$tmp/out"
    gzctl_s=$(awk -v t="$(( $(date +%s%N) - start ))" 'BEGIN { printf "%.3f", t / 1e9 }')
    [ "$(tail -1 "$tmp/out")" = "matched $(field matched "$ours") cost $(field cost "$ours")" ] ||
        { echo "gzctl and matching_gen disagree: $(tail -1 "$tmp/out")" >&2; exit 1; }
    agree=same
    [ "$(field matched "$ours") $(field cost "$ours")" = "$(field matched "$lemon") $(field cost "$lemon")" ] ||
        agree="DIFFERENT: lemon $(field matched "$lemon") $(field cost "$lemon")"
    lemon_wall=$(awk -v a="$(field parse_s "$lemon")" -v b="$(field preflow_s "$lemon")" \
        -v c="$(field simplex_s "$lemon")" 'BEGIN { printf "%.3f", a + b + c }')
    printf '%-16s %8s | %9s %8s %8s | %9s %9s %8s | %8s %9s | %s %s\n' "$1 x $2" "$(field pairs "$ours")" \
        "$(field solve_s "$ours")" "$gzctl_s" "$(field matched "$ours")" \
        "$(field simplex_s "$lemon")" "$(field preflow_s "$lemon")" "$lemon_wall" \
        "$(field matched "$greedy")" "$(field cost "$greedy")" "$(field cost "$ours")" "$agree"
    [ "$agree" = same ] || exit 1
done

# The pair builder ahead of the solver (tests/bench/bench_matching_pairs.c):
# a city of 40 communities x 10 grids, 12 skills, weekly windows, default
# weights; best build time of ROUNDS. It also checks 100 needs against a
# brute force over every volunteer.
echo
printf '%-16s %8s %8s | %9s %9s %8s %9s\n' "pairs builder" pairs per_need build_ms solve_ms matched cost
for _ in $(seq 1 "$ROUNDS"); do "$BUILD/tests/bench/bench_matching_pairs" 10000 50000 1; done |
    sort -n -k10 | head -1 |
    awk '{ printf "%-16s %8s %8s | %9s %9s %8s %9s\n", $2 " x " $4, $6, $8, $10, $12, $14, $16 }'
