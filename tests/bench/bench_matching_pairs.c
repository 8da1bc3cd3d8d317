/*  bench_matching_pairs: the feasible-pair builder (matching_pairs) and the
    solver on a city-sized batch, for tests/bench/bench_matching.sh.

      bench_matching_pairs [NEEDS [VOLUNTEERS [SEED]]]   (10000 50000 1)

    The generator (fixed seed; xorshift64*): a city of 40 communities (8 x 5,
    each 3 km x 3 km, so 24 km x 15 km around Shanghai's centre), each cut
    into 10 grids (5 x 2); needs and volunteers uniform in it. 12 skills: a
    volunteer has one (two for a third of them); a need wants one.
    Volunteers are available 2-3 two-hour windows a week (a day, starting
    8:00-19:00), needs want one two-hour window; capacity 0-3 (0 for one in
    ten), recent load 0-15, a third never rated, the rest 3.0-5.0; a need
    is urgent one time in five and has a previous volunteer one time in
    twenty. Default weights (radius 3 km).

    Prints one line: pairs, pairs per need, build_ms (mt_pairs_build:
    index, lookups, checks and the solver's edges), solve_ms, matched,
    cost; and checks the first 100 needs against a brute force over every
    volunteer (exit 1 when they differ).  */
#include "matching_pairs.h"
#include "matching_solver.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define S_LAT0 31.2304
#define S_LON0 121.4737
#define S_M_PER_DEG 111195.08

static uint64_t s_state;

static uint64_t
s_next (void)
{
    s_state ^= s_state >> 12, s_state ^= s_state << 25, s_state ^= s_state >> 27;
    return s_state * 2685821657736338717ULL;
}

static double
s_uniform (void) //  in [0, 1)
{
    return (double) (s_next () >> 11) / 9007199254740992.0;
}

static int32_t
s_below (int32_t n)
{
    return (int32_t) (s_next () % (uint64_t) n);
}

static double
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

//  A uniform place in the city, its community and grid.
static void
s_place (double *lat, double *lon, int32_t *community, int32_t *grid)
{
    double x = s_uniform () * 24000.0, y = s_uniform () * 15000.0;
    int32_t cx = (int32_t) (x / 3000.0), cy = (int32_t) (y / 3000.0);
    *community = cy * 8 + cx;
    *grid = *community * 10 + (int32_t) ((y - cy * 3000.0) / 1500.0) * 5 +
            (int32_t) ((x - cx * 3000.0) / 600.0);
    *lat = S_LAT0 + y / S_M_PER_DEG;
    *lon = S_LON0 + x / (S_M_PER_DEG * cos (S_LAT0 * 3.14159265358979323846 / 180.0));
}

static int
s_window_compare (const void *a, const void *b)
{
    const mt_window_t *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

//  n two-hour windows, sorted and merged; returns how many remain.
static size_t
s_windows (mt_window_t *out, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        int32_t start = s_below (7) * 1440 + (8 + s_below (12)) * 60;
        out[k] = (mt_window_t){start, start + 120};
    }
    qsort (out, n, sizeof *out, s_window_compare);
    size_t m = 0;
    for (size_t k = 0; k < n; k++)
        if (m > 0 && out[k].start <= out[m - 1].end)
            out[m - 1].end = out[k].end > out[m - 1].end ? out[k].end : out[m - 1].end;
        else
            out[m++] = out[k];
    return m;
}

static int
s_count_fn (void *ctx, size_t need, size_t volunteer, int64_t cost)
{
    (void) need, (void) volunteer, (void) cost;
    (*(long *) ctx)++;
    return 0;
}

//  The first needs' pairs by the builder and by brute force; 0 when equal.
static int
s_check (const mt_pairs_need_t *needs, size_t n, const mt_pairs_volunteer_t *vols, size_t v,
         const mt_pairs_weights_t *w)
{
    long built = 0, brute = 0;
    if (mt_pairs_each (needs, n, vols, v, w, s_count_fn, &built) != built)
        return -1;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < v; k++)
            brute += mt_pairs_cost (&needs[i], &vols[k], (int64_t) k, w) >= 0;
    if (built != brute)
        fprintf (stderr, "bench_matching_pairs: %ld pairs built, %ld by brute force\n", built,
                 brute);
    return built == brute ? 0 : -1;
}

int
main (int argc, char *argv[])
{
    size_t n_needs = argc > 1 ? strtoul (argv[1], NULL, 10) : 10000;
    size_t n_vols = argc > 2 ? strtoul (argv[2], NULL, 10) : 50000;
    s_state = (argc > 3 ? strtoull (argv[3], NULL, 10) : 1) * 0x9E3779B97F4A7C15ULL + 1;
    mt_pairs_volunteer_t *vols = calloc (n_vols ? n_vols : 1, sizeof *vols);
    mt_pairs_need_t *needs = calloc (n_needs ? n_needs : 1, sizeof *needs);
    mt_window_t *windows = calloc (n_vols * 3 + n_needs + 1, sizeof *windows);
    if (!vols || !needs || !windows)
        return 1;
    size_t used = 0;
    for (size_t v = 0; v < n_vols; v++) {
        mt_pairs_volunteer_t *vol = &vols[v];
        s_place (&vol->lat, &vol->lon, &vol->community, &vol->grid);
        vol->skills = 1u << s_below (12);
        if (s_below (3) == 0)
            vol->skills |= 1u << s_below (12);
        vol->windows = &windows[used];
        vol->n_windows = s_windows (&windows[used], 2 + (size_t) s_below (2));
        used += vol->n_windows;
        vol->capacity = s_below (10) == 0 ? 0 : 1 + s_below (3);
        vol->recent_load = s_below (16);
        vol->rating_x10 = s_below (3) == 0 ? 0 : 30 + s_below (21);
    }
    for (size_t i = 0; i < n_needs; i++) {
        mt_pairs_need_t *need = &needs[i];
        s_place (&need->lat, &need->lon, &need->community, &need->grid);
        need->skill = s_below (12);
        need->windows = &windows[used];
        need->n_windows = s_windows (&windows[used], 1);
        used += need->n_windows;
        need->urgent = s_below (5) == 0;
        need->previous = s_below (20) == 0 && n_vols ? s_below ((int32_t) n_vols) : -1;
    }
    mt_pairs_weights_t w;
    mt_pairs_weights_default (&w);

    double start = s_now_ms ();
    matching_solver_t *solver = matching_solver_new (n_needs, n_vols);
    long pairs = mt_pairs_build (needs, n_needs, vols, n_vols, &w, solver);
    double built = s_now_ms ();
    matching_result_t result;
    int rc = pairs < 0 ? -1 : matching_solver_solve (solver, &result);
    double solved = s_now_ms ();
    if (rc == 0) {
        printf ("needs %zu volunteers %zu pairs %ld per_need %.1f build_ms %.1f solve_ms %.1f "
                "matched %zu cost %lld\n",
                n_needs, n_vols, pairs, n_needs ? (double) pairs / (double) n_needs : 0.0,
                built - start, solved - built, result.matched, (long long) result.cost);
        matching_result_free (&result);
        rc = s_check (needs, n_needs < 100 ? n_needs : 100, vols, n_vols, &w);
    }
    else
        fprintf (stderr, "bench_matching_pairs: build or solve failed\n");
    matching_solver_destroy (&solver);
    free (vols), free (needs), free (windows);
    return rc == 0 ? 0 : 1;
}
