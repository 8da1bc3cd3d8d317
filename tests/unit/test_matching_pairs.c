/*  Unit tests for matching_pairs: each feasibility rule on its own, the
    cost formula's values, continuity and urgency deciding through the
    solver, and on random instances (fixed seeds) the pairs the builder
    reports are exactly the brute-force feasible set over needs x
    volunteers, each once, with mt_pairs_cost's cost.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "matching_pairs.h"

#define T_EARTH_M 6371008.8
#define T_DEG (3.14159265358979323846 / 180.0)
#define T_LAT 31.2304
#define T_LON 121.4737

//  Minute of the week: day 0 = Monday.
static int32_t
t_at (int day, int hour, int minute)
{
    return (int32_t) (day * 1440 + hour * 60 + minute);
}

static const mt_window_t t_monday_9_12[] = {{9 * 60, 12 * 60}};
static const mt_window_t t_monday_9_10[] = {{9 * 60, 10 * 60}};
static const mt_window_t t_monday_10_11[] = {{10 * 60, 11 * 60}};
static const mt_window_t t_monday_959_11[] = {{9 * 60 + 59, 11 * 60}};
static const mt_window_t t_tuesday[] = {{1440 + 9 * 60, 1440 + 17 * 60}};

//  A need at the reference place, grid 1 / community 1, skill 3, Monday
//  9-12, not urgent, no history.
static mt_pairs_need_t
t_need (void)
{
    return (mt_pairs_need_t){.lat = T_LAT,
                             .lon = T_LON,
                             .grid = 1,
                             .community = 1,
                             .skill = 3,
                             .windows = t_monday_9_12,
                             .n_windows = 1,
                             .previous = -1};
}

//  A volunteer at the same place and grid, skills 3 and 5, Monday 9-12,
//  room for 2, no recent load, never rated.
static mt_pairs_volunteer_t
t_vol (void)
{
    return (mt_pairs_volunteer_t){.lat = T_LAT,
                                  .lon = T_LON,
                                  .grid = 1,
                                  .community = 1,
                                  .skills = (1u << 3) | (1u << 5),
                                  .windows = t_monday_9_12,
                                  .n_windows = 1,
                                  .capacity = 2};
}

static int64_t
t_cost (const mt_pairs_need_t *need, const mt_pairs_volunteer_t *vol)
{
    mt_pairs_weights_t w;
    mt_pairs_weights_default (&w);
    return mt_pairs_cost (need, vol, 0, &w);
}

static int
t_count_fn (void *ctx, size_t need, size_t volunteer, int64_t cost)
{
    (void) need, (void) volunteer, (void) cost;
    (*(long *) ctx)++;
    return 0;
}

//  How many pairs mt_pairs_each reports for one need and one volunteer
//  (checked against its return value).
static long
t_each_count (const mt_pairs_need_t *need, const mt_pairs_volunteer_t *vol)
{
    mt_pairs_weights_t w;
    mt_pairs_weights_default (&w);
    long seen = 0;
    long rc = mt_pairs_each (need, 1, vol, 1, &w, t_count_fn, &seen);
    assert_int_equal (rc, seen);
    return rc;
}

//  Asserts the pair is infeasible by both mt_pairs_cost and the builder.
static void
t_infeasible (const mt_pairs_need_t *need, const mt_pairs_volunteer_t *vol)
{
    assert_int_equal (t_cost (need, vol), -1);
    assert_int_equal (t_each_count (need, vol), 0);
}

static void
test_base_pair (void **state)
{
    (void) state;
    mt_pairs_need_t need = t_need ();
    mt_pairs_volunteer_t vol = t_vol ();
    //  0 m + same grid 0 + fairness 0 + never rated (4.0) 5 x 10 + normal 500
    assert_int_equal (t_cost (&need, &vol), 550);
    assert_int_equal (t_each_count (&need, &vol), 1);
}

static void
test_skill_missing (void **state)
{
    (void) state;
    mt_pairs_need_t need = t_need ();
    mt_pairs_volunteer_t vol = t_vol ();
    vol.skills = (1u << 2) | (1u << 4);
    t_infeasible (&need, &vol);
    need.skill = 4;
    assert_int_equal (t_each_count (&need, &vol), 1);
}

static void
test_windows (void **state)
{
    (void) state;
    mt_pairs_need_t need = t_need ();
    mt_pairs_volunteer_t vol = t_vol ();
    vol.windows = t_tuesday;
    t_infeasible (&need, &vol);
    //  [9:00,10:00) and [10:00,11:00) touch but do not overlap
    need.windows = t_monday_9_10;
    vol.windows = t_monday_10_11;
    t_infeasible (&need, &vol);
    vol.windows = t_monday_959_11;
    assert_int_equal (t_each_count (&need, &vol), 1);
    //  no windows at all, or only an empty one: never available
    vol.n_windows = 0;
    t_infeasible (&need, &vol);
    mt_window_t empty[] = {{600, 600}, {t_at (2, 9, 0), t_at (2, 10, 0)}};
    vol.windows = empty, vol.n_windows = 2;
    t_infeasible (&need, &vol);
    //  the second window of each list overlaps
    mt_window_t a[] = {{t_at (0, 8, 0), t_at (0, 9, 0)}, {t_at (3, 14, 0), t_at (3, 15, 0)}};
    mt_window_t b[] = {{t_at (1, 8, 0), t_at (1, 9, 0)}, {t_at (3, 14, 30), t_at (3, 18, 0)}};
    assert_true (mt_pairs_overlap (a, 2, b, 2));
    assert_false (mt_pairs_overlap (a, 1, b, 2));
    assert_false (mt_pairs_overlap (a, 2, b, 1));
}

static void
test_capacity (void **state)
{
    (void) state;
    mt_pairs_need_t need = t_need ();
    mt_pairs_volunteer_t vol = t_vol ();
    vol.capacity = 0;
    t_infeasible (&need, &vol);
    vol.capacity = -3;
    t_infeasible (&need, &vol);
    vol.capacity = 1;
    assert_int_equal (t_each_count (&need, &vol), 1);
}

static void
test_excluded (void **state)
{
    (void) state;
    mt_pairs_need_t need = t_need ();
    mt_pairs_volunteer_t vols[3] = {t_vol (), t_vol (), t_vol ()};
    int64_t excluded[] = {7, 1, -2};
    need.excluded = excluded, need.n_excluded = 3;
    mt_pairs_weights_t w;
    mt_pairs_weights_default (&w);
    assert_int_equal (mt_pairs_cost (&need, &vols[1], 1, &w), -1);
    assert_int_equal (mt_pairs_cost (&need, &vols[1], 2, &w), 550);
    long seen = 0;
    assert_int_equal (mt_pairs_each (&need, 1, vols, 3, &w, t_count_fn, &seen), 2);
}

static void
test_distance_and_bands (void **state)
{
    (void) state;
    //  Along a meridian the great circle is R x the latitude difference.
    double north = 0.0225; //  2,501.9 m
    assert_true (fabs (mt_pairs_distance (T_LAT, T_LON, T_LAT + north, T_LON) -
                       T_EARTH_M * north * T_DEG) < 0.01);
    assert_true (fabs (mt_pairs_distance (0, 10, 0, 11) - T_EARTH_M * T_DEG) < 0.01);
    assert_true (isinf (mt_pairs_distance (NAN, T_LON, T_LAT, T_LON)));
    assert_true (isinf (mt_pairs_distance (95, T_LON, T_LAT, T_LON)));

    mt_pairs_need_t need = t_need ();
    mt_pairs_volunteer_t vol = t_vol ();
    vol.grid = 2, vol.community = 2;
    //  another community within 3 km: 250 (2.5 km) + further 1000 + 50 + 500
    vol.lat = T_LAT + north;
    assert_int_equal (t_cost (&need, &vol), 1800);
    assert_int_equal (t_each_count (&need, &vol), 1);
    //  another community 3.5 km away: beyond the radius
    vol.lat = T_LAT + 0.0315;
    t_infeasible (&need, &vol);
    //  ... unless the radius is 4 km
    mt_pairs_weights_t w;
    mt_pairs_weights_default (&w);
    w.radius_m = 4000;
    assert_int_equal (mt_pairs_cost (&need, &vol, 0, &w), 350 + 1000 + 50 + 500);
    //  the same community, another grid, 3.5 km: feasible, band 200, the
    //  distance term stops at the radius (300)
    vol.community = 1;
    assert_int_equal (t_cost (&need, &vol), 300 + 200 + 50 + 500);
    //  same grid with wrong coordinates (lat/lon swapped, or none): feasible
    vol.grid = 1, vol.community = 7;
    vol.lat = T_LON, vol.lon = T_LAT;
    assert_int_equal (t_cost (&need, &vol), 300 + 0 + 50 + 500);
    assert_int_equal (t_each_count (&need, &vol), 1);
    vol.lat = NAN;
    assert_int_equal (t_cost (&need, &vol), 850);
    assert_int_equal (t_each_count (&need, &vol), 1);
    //  nowhere and in another grid and community: never within the radius
    vol.grid = 2;
    t_infeasible (&need, &vol);
    //  codes < 0 are no grid or community: they equal nothing
    vol = t_vol ();
    need.grid = vol.grid = -1, need.community = vol.community = -1;
    vol.lat = T_LAT + 0.0315;
    t_infeasible (&need, &vol);
}

static void
test_cost_formula (void **state)
{
    (void) state;
    mt_pairs_need_t need = t_need ();
    mt_pairs_volunteer_t vol = t_vol ();
    vol.recent_load = 3; //  + 60
    assert_int_equal (t_cost (&need, &vol), 610);
    vol.rating_x10 = 45; //  5 x 5 instead of 5 x 10
    assert_int_equal (t_cost (&need, &vol), 585);
    vol.rating_x10 = 50;
    assert_int_equal (t_cost (&need, &vol), 560);
    vol.rating_x10 = 10; //  5 x 40
    assert_int_equal (t_cost (&need, &vol), 760);
    need.urgent = true;
    assert_int_equal (t_cost (&need, &vol), 260);
    //  same community, other grid, 1 km (rounded to the metre's cost)
    vol = t_vol ();
    vol.grid = 9;
    vol.lat = T_LAT + 1000.0 / (T_EARTH_M * T_DEG);
    assert_int_equal (t_cost (&need, &vol), 100 + 200 + 50);
    //  the previous volunteer: 350 - 100000, clamped at 0
    need.previous = 0;
    assert_int_equal (t_cost (&need, &vol), 0);
    mt_pairs_weights_t w;
    mt_pairs_weights_default (&w);
    w.continuity = 120;
    assert_int_equal (mt_pairs_cost (&need, &vol, 0, &w), 230);
    assert_int_equal (mt_pairs_cost (&need, &vol, 1, &w), 350);
    //  every weight counts as documented
    w = (mt_pairs_weights_t){.radius_m = 3000,
                             .per_km = 7,
                             .same_grid = 11,
                             .same_community = 13,
                             .further = 17,
                             .fairness = 19,
                             .rating = 23,
                             .continuity = 0,
                             .normal = 29};
    need = t_need ();
    vol = t_vol ();
    vol.recent_load = 2, vol.rating_x10 = 42;
    vol.lat = T_LAT + 2000.0 / (T_EARTH_M * T_DEG);
    assert_int_equal (mt_pairs_cost (&need, &vol, 0, &w), 14 + 11 + 38 + 23 * 8 + 29);
}

static void
test_bad_arguments (void **state)
{
    (void) state;
    mt_pairs_need_t need = t_need ();
    mt_pairs_volunteer_t vol = t_vol ();
    mt_pairs_weights_t w;
    mt_pairs_weights_default (&w);
    long seen = 0;
    assert_int_equal (mt_pairs_each (NULL, 0, NULL, 0, &w, t_count_fn, &seen), 0);
    assert_int_equal (mt_pairs_each (NULL, 1, &vol, 1, &w, t_count_fn, &seen), -1);
    assert_int_equal (mt_pairs_each (&need, 1, NULL, 1, &w, t_count_fn, &seen), -1);
    assert_int_equal (mt_pairs_each (&need, 1, &vol, 1, NULL, t_count_fn, &seen), -1);
    assert_int_equal (mt_pairs_each (&need, 1, &vol, 1, &w, NULL, &seen), -1);
    need.skill = 32;
    assert_int_equal (mt_pairs_each (&need, 1, &vol, 1, &w, t_count_fn, &seen), -1);
    assert_int_equal (mt_pairs_cost (&need, &vol, 0, &w), -1);
    need.skill = 3;
    w.fairness = -1;
    assert_int_equal (mt_pairs_each (&need, 1, &vol, 1, &w, t_count_fn, &seen), -1);
    assert_int_equal (mt_pairs_cost (&need, &vol, 0, &w), -1);
    mt_pairs_weights_default (&w);
    need.n_excluded = 1; //  excluded is NULL
    assert_int_equal (mt_pairs_cost (&need, &vol, 0, &w), -1);
    need.n_excluded = 0;
    //  a solver with too few volunteers
    mt_pairs_volunteer_t vols[2] = {vol, vol};
    matching_solver_t *solver = matching_solver_new (1, 1);
    assert_int_equal (mt_pairs_build (&need, 1, vols, 2, &w, solver), -1);
    assert_int_equal (mt_pairs_build (&need, 1, vols, 2, &w, NULL), -1);
    matching_solver_destroy (&solver);
    assert_int_equal (seen, 0);
}

//  Builds and solves; returns the volunteer matched to each need.
static matching_result_t
t_solve (const mt_pairs_need_t *needs, size_t n, const mt_pairs_volunteer_t *vols, size_t v,
         const mt_pairs_weights_t *w, long pairs)
{
    matching_solver_t *solver = matching_solver_new (n, v);
    assert_int_equal (mt_pairs_build (needs, n, vols, v, w, solver), pairs);
    matching_result_t r;
    assert_int_equal (matching_solver_solve (solver, &r), 0);
    matching_solver_destroy (&solver);
    return r;
}

//  Collects the volunteers of need 0's pairs as a bit set.
static int
t_mask_fn (void *ctx, size_t need, size_t volunteer, int64_t cost)
{
    (void) need, (void) cost;
    *(uint32_t *) ctx |= 1u << volunteer;
    return 0;
}

//  enough: the next band only while a need has fewer pairs than that; the
//  previous volunteer is kept wherever they are.
static void
test_enough_bands (void **state)
{
    (void) state;
    mt_pairs_weights_t w;
    mt_pairs_weights_default (&w);
    //  0, 1: same grid; 2, 3: same community, another grid; 4: another
    //  community 2.5 km away (within the radius).
    mt_pairs_volunteer_t vols[5];
    for (int v = 0; v < 5; v++)
        vols[v] = t_vol ();
    vols[2].grid = vols[3].grid = 2;
    vols[4].grid = 5, vols[4].community = 5, vols[4].lat = T_LAT + 0.0225;
    mt_pairs_need_t need = t_need ();
    uint32_t mask = 0;
    assert_int_equal (mt_pairs_each (&need, 1, vols, 5, &w, t_mask_fn, &mask), 5);
    assert_int_equal (mask, 0x1f); //  0: every band
    w.enough = 2;                  //  the grid has 2: nothing farther
    mask = 0;
    assert_int_equal (mt_pairs_each (&need, 1, vols, 5, &w, t_mask_fn, &mask), 2);
    assert_int_equal (mask, 0x03);
    w.enough = 3; //  grid 2 < 3: the community too, 4 >= 3: stop
    mask = 0;
    assert_int_equal (mt_pairs_each (&need, 1, vols, 5, &w, t_mask_fn, &mask), 4);
    assert_int_equal (mask, 0x0f);
    w.enough = 5; //  4 < 5: within the radius too
    mask = 0;
    assert_int_equal (mt_pairs_each (&need, 1, vols, 5, &w, t_mask_fn, &mask), 5);
    w.enough = 2; //  the household's previous volunteer is far: kept
    need.previous = 4;
    mask = 0;
    assert_int_equal (mt_pairs_each (&need, 1, vols, 5, &w, t_mask_fn, &mask), 3);
    assert_int_equal (mask, 0x13);
    vols[4].capacity = 0; //  ... unless they cannot take it
    mask = 0;
    assert_int_equal (mt_pairs_each (&need, 1, vols, 5, &w, t_mask_fn, &mask), 2);
    w.enough = -1;
    assert_int_equal (mt_pairs_each (&need, 1, vols, 5, &w, t_mask_fn, &mask), -1);
}

static void
test_continuity_wins (void **state)
{
    (void) state;
    mt_pairs_weights_t w;
    mt_pairs_weights_default (&w);
    //  volunteer 0 next door, volunteer 1 2.5 km away in another community,
    //  rated 1.0 and busy
    mt_pairs_volunteer_t vols[2] = {t_vol (), t_vol ()};
    vols[1].grid = 5, vols[1].community = 5, vols[1].lat = T_LAT + 0.0225;
    vols[1].recent_load = 12, vols[1].rating_x10 = 10;
    mt_pairs_need_t need = t_need ();
    matching_result_t r = t_solve (&need, 1, vols, 2, &w, 2);
    assert_int_equal (r.volunteer[0], 0);
    matching_result_free (&r);
    need.previous = 1;
    r = t_solve (&need, 1, vols, 2, &w, 2);
    assert_int_equal (r.matched, 1);
    assert_int_equal (r.volunteer[0], 1);
    assert_int_equal (r.cost, 0);
    matching_result_free (&r);
}

static void
test_urgent_wins_contested_place (void **state)
{
    (void) state;
    mt_pairs_weights_t w;
    mt_pairs_weights_default (&w);
    //  one place; need 0 (normal) is next door, need 1 (urgent) 2.5 km
    //  away in the same community: 550 against 250 + 200 + 50 = 500
    mt_pairs_volunteer_t vol = t_vol ();
    vol.capacity = 1;
    mt_pairs_need_t needs[2] = {t_need (), t_need ()};
    needs[1].grid = 4, needs[1].lat = T_LAT - 0.0225, needs[1].urgent = true;
    matching_result_t r = t_solve (needs, 2, &vol, 1, &w, 2);
    assert_int_equal (r.matched, 1);
    assert_int_equal (r.volunteer[0], -1);
    assert_int_equal (r.volunteer[1], 0);
    assert_int_equal (r.cost, 500);
    matching_result_free (&r);
    //  without the normal surcharge the nearer need would take it
    w.normal = 0;
    r = t_solve (needs, 2, &vol, 1, &w, 2);
    assert_int_equal (r.volunteer[0], 0);
    assert_int_equal (r.volunteer[1], -1);
    matching_result_free (&r);
}

//  Random instances ----------------------------------------------------

#define T_NEEDS 200
#define T_VOLS 600

static uint64_t s_rng = 0x9E3779B97F4A7C15ULL;

static uint64_t
s_next (void)
{
    s_rng ^= s_rng >> 12, s_rng ^= s_rng << 25, s_rng ^= s_rng >> 27;
    return s_rng * 2685821657736338717ULL;
}

static int32_t
s_below (int32_t n)
{
    return (int32_t) (s_next () % (uint64_t) n);
}

static double
s_uniform (void)
{
    return (double) (s_next () >> 11) / 9007199254740992.0;
}

typedef struct {
    mt_pairs_need_t needs[T_NEEDS];
    mt_pairs_volunteer_t vols[T_VOLS];
    mt_window_t windows[(T_NEEDS + T_VOLS) * 3];
    int64_t excluded[T_NEEDS * 3];
    size_t used_windows, used_excluded;
    int64_t cost[T_NEEDS][T_VOLS]; //  what mt_pairs_each reported, -1: nothing
    long reported;
} t_random_t;

//  1-3 sorted, disjoint windows (sometimes touching) in a week.
static const mt_window_t *
s_windows (t_random_t *t, size_t *n)
{
    *n = 1 + (size_t) s_below (3);
    mt_window_t *out = &t->windows[t->used_windows];
    int32_t at = s_below (3 * 1440);
    for (size_t k = 0; k < *n; k++) {
        int32_t length = 30 + s_below (6 * 60);
        out[k] = (mt_window_t){at, at + length};
        at += length + (s_below (4) == 0 ? 0 : s_below (1440));
    }
    t->used_windows += *n;
    return out;
}

//  A place in a 10 km square around the reference; now and then nowhere.
static void
s_place (double *lat, double *lon)
{
    *lat = T_LAT + s_uniform () * 0.09, *lon = T_LON + s_uniform () * 0.105;
    int32_t odd = s_below (40);
    if (odd == 0)
        *lat = NAN;
    else if (odd == 1)
        *lat = *lon;
}

static void
s_generate (t_random_t *t)
{
    memset (t, 0, sizeof *t);
    for (size_t v = 0; v < T_VOLS; v++) {
        mt_pairs_volunteer_t *vol = &t->vols[v];
        s_place (&vol->lat, &vol->lon);
        vol->grid = s_below (25) - 1; //  -1: none
        vol->community = vol->grid < 0 ? s_below (6) - 1 : vol->grid / 4;
        for (int k = s_below (4); k >= 0; k--)
            vol->skills |= 1u << s_below (12);
        vol->windows = s_windows (t, &vol->n_windows);
        vol->capacity = s_below (5) - 1;
        vol->recent_load = s_below (10);
        vol->rating_x10 = s_below (3) == 0 ? 0 : 10 + s_below (41);
    }
    for (size_t i = 0; i < T_NEEDS; i++) {
        mt_pairs_need_t *need = &t->needs[i];
        s_place (&need->lat, &need->lon);
        need->grid = s_below (25) - 1;
        need->community = need->grid < 0 ? s_below (6) - 1 : need->grid / 4;
        need->skill = s_below (12);
        need->windows = s_windows (t, &need->n_windows);
        need->urgent = s_below (4) == 0;
        need->previous = s_below (3) == 0 ? s_below (T_VOLS) : -1;
        need->n_excluded = (size_t) s_below (4);
        need->excluded = &t->excluded[t->used_excluded];
        for (size_t k = 0; k < need->n_excluded; k++)
            t->excluded[t->used_excluded++] = s_below (8) == 0 ? T_VOLS + 5 : s_below (T_VOLS);
    }
}

static int
t_record_fn (void *ctx, size_t need, size_t volunteer, int64_t cost)
{
    t_random_t *t = ctx;
    assert_true (need < T_NEEDS && volunteer < T_VOLS);
    assert_int_equal (t->cost[need][volunteer], -1); //  never twice
    assert_true (cost >= 0);
    t->cost[need][volunteer] = cost;
    t->reported++;
    return 0;
}

//  Feasibility written out plainly, independently of the module.
static bool
t_reference_feasible (const t_random_t *t, size_t i, size_t v, int32_t radius)
{
    const mt_pairs_need_t *need = &t->needs[i];
    const mt_pairs_volunteer_t *vol = &t->vols[v];
    if (vol->capacity <= 0 || !(vol->skills & (1u << need->skill)))
        return false;
    for (size_t k = 0; k < need->n_excluded; k++)
        if (need->excluded[k] == (int64_t) v)
            return false;
    bool near = (need->grid >= 0 && need->grid == vol->grid) ||
                (need->community >= 0 && need->community == vol->community) ||
                mt_pairs_distance (need->lat, need->lon, vol->lat, vol->lon) <= radius;
    if (!near)
        return false;
    for (size_t a = 0; a < need->n_windows; a++)
        for (size_t b = 0; b < vol->n_windows; b++) {
            int32_t s = need->windows[a].start > vol->windows[b].start ? need->windows[a].start
                                                                       : vol->windows[b].start;
            int32_t e = need->windows[a].end < vol->windows[b].end ? need->windows[a].end
                                                                   : vol->windows[b].end;
            if (s < e)
                return true;
        }
    return false;
}

static void
test_random_equals_brute_force (void **state)
{
    (void) state;
    t_random_t *t = malloc (sizeof *t);
    assert_non_null (t);
    const int32_t radii[] = {3000, 1000, 0, 250, 20000};
    long total = 0, spatial = 0;
    for (int round = 0; round < 10; round++) {
        s_generate (t);
        mt_pairs_weights_t w;
        mt_pairs_weights_default (&w);
        w.radius_m = radii[round % 5];
        for (size_t i = 0; i < T_NEEDS; i++)
            for (size_t v = 0; v < T_VOLS; v++)
                t->cost[i][v] = -1;
        long pairs = mt_pairs_each (t->needs, T_NEEDS, t->vols, T_VOLS, &w, t_record_fn, t);
        assert_int_equal (pairs, t->reported);
        long brute = 0;
        for (size_t i = 0; i < T_NEEDS; i++)
            for (size_t v = 0; v < T_VOLS; v++) {
                int64_t cost = mt_pairs_cost (&t->needs[i], &t->vols[v], (int64_t) v, &w);
                bool feasible = t_reference_feasible (t, i, v, w.radius_m);
                assert_int_equal (cost >= 0, feasible);
                assert_int_equal (t->cost[i][v], cost);
                brute += feasible;
                if (feasible && t->needs[i].community != t->vols[v].community &&
                    t->needs[i].grid != t->vols[v].grid)
                    spatial++;
            }
        assert_int_equal (pairs, brute);
        total += pairs;
        //  the builder gives the solver the same pairs
        matching_solver_t *solver = matching_solver_new (T_NEEDS, T_VOLS);
        assert_int_equal (mt_pairs_build (t->needs, T_NEEDS, t->vols, T_VOLS, &w, solver), pairs);
        matching_result_t r;
        assert_int_equal (matching_solver_solve (solver, &r), 0);
        for (size_t i = 0; i < T_NEEDS; i++)
            if (r.volunteer[i] >= 0)
                assert_true (t->cost[i][r.volunteer[i]] >= 0);
        matching_result_free (&r);
        matching_solver_destroy (&solver);
    }
    //  the instances exercise every kind of pair
    assert_true (total > 5000);
    assert_true (spatial > 500);
    free (t);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_base_pair),
        cmocka_unit_test (test_skill_missing),
        cmocka_unit_test (test_windows),
        cmocka_unit_test (test_capacity),
        cmocka_unit_test (test_excluded),
        cmocka_unit_test (test_distance_and_bands),
        cmocka_unit_test (test_cost_formula),
        cmocka_unit_test (test_bad_arguments),
        cmocka_unit_test (test_enough_bands),
        cmocka_unit_test (test_continuity_wins),
        cmocka_unit_test (test_urgent_wins_contested_place),
        cmocka_unit_test (test_random_equals_brute_force),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
