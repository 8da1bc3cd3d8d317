/*  matching_pairs: the feasible pairs of a batch and their costs, the pure
    step between the database rows and matching_solver (issue 10).

    A batch has needs (a household wants one skill at some time of the
    week) and volunteers (skills, weekly windows, a place, room left this
    week). This module says which pairs are feasible and what each costs,
    and hands them to the solver, without enumerating needs x volunteers.

    Feasible: the volunteer has capacity > 0 and the need's skill, some
    weekly window of the volunteer overlaps some window of the need by a
    positive length ([9:00,10:00) and [10:00,11:00) do not), the volunteer
    is not in the need's excluded list, and the two are in the same grid,
    or the same community, or at most radius_m apart (great circle).

    Cost, an integer in [0, MATCHING_SOLVER_COST_MAX]:

        per_km x min(d, radius_m) / 1000            (rounded to nearest)
      + band      same_grid | same_community | further
      + fairness x recent_load                    (a negative load counts 0)
      + rating x (50 - r)     r = rating_x10 clamped to 10..50; 40 (4.0)
                              when never rated (rating_x10 <= 0)
      + normal                when the need is not urgent
      - continuity            when the volunteer is the need's previous one
      clamped at 0 (and at MATCHING_SOLVER_COST_MAX).

    d is the haversine distance in metres (Earth radius 6,371,008.8 m).
    The distance term stops at radius_m so that a same-grid or same-
    community pair with wrong coordinates is not priced out; a place with
    coordinates that are not finite or out of range (|lat| > 90, |lon| >
    180) is nowhere: never within the radius, its distance term radius_m.
    A grid or community code < 0 means none (it equals nothing).

    Windows are [start, end) minutes of the week (China time, Monday 00:00
    = 0), sorted by start; an empty window (start >= end) counts for
    nothing. A window across Sunday midnight is given as two.

    How. Volunteers with room are indexed by (skill, grid), (skill,
    community) and (skill, cell), a cell being a cube at least radius_m
    wide in Earth-centred coordinates: a point within radius_m of a need is
    within that chord, so in one of the 27 cells around it (those whose
    nearest point is farther are skipped). Each need looks up its grid,
    its community and those cells, skips a volunteer it has seen (a
    per-volunteer stamp) or with none of its hours of the week or, from a
    cell, beyond the chord, and checks the rest exactly with the same code
    as mt_pairs_cost. Cost: linear in the index (at most three entries per
    volunteer and skill, grouped by a hash table, no sort), then what the
    lookups return: 10,000 needs x 50,000 volunteers in a city build in
    about 0.15 s (docs/matching.md).  */
#ifndef MATCHING_PAIRS_H_INCLUDED
#define MATCHING_PAIRS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "matching_model.h"
#include "matching_solver.h"

typedef struct {
    double lat, lon;            //  where the volunteer lives
    int32_t grid, community;    //  interned codes (>= 0; < 0: none)
    uint32_t skills;            //  bitmask, bit i = skill i
    const mt_window_t *windows; //  weekly availability, sorted by start
    size_t n_windows;           //
    int32_t capacity;           //  tasks still allowed this week; <= 0: none
    int32_t recent_load;        //  tasks in the last 28 days (fairness)
    int32_t rating_x10;         //  mean rating x10 (10..50), 0 when never rated
} mt_pairs_volunteer_t;

typedef struct {
    double lat, lon;            //  the household's building
    int32_t grid, community;    //  interned codes (>= 0; < 0: none)
    int skill;                  //  bit index, 0..31
    const mt_window_t *windows; //  when it is wanted, weekly form, sorted
    size_t n_windows;           //
    bool urgent;                //
    int64_t previous;           //  volunteer index who served it before, -1: none
    const int64_t *excluded;    //  volunteer indices who declined or let
    size_t n_excluded;          //  an offer of this need expire
} mt_pairs_need_t;

typedef struct {
    int32_t radius_m;       //  beyond the community, at most this far (3000)
    int32_t per_km;         //  cost per km of distance (100)
    int32_t same_grid;      //  band: same grid (0),
    int32_t same_community; //  same community (200),
    int32_t further;        //  other communities within radius (1000)
    int32_t fairness;       //  per task in the last 28 days (20)
    int32_t rating;         //  per 0.1 below 5.0 (5); never rated counts as 4.0
    int32_t continuity;     //  subtracted for the previous volunteer (100000:
                            //  the previous volunteer is all but always chosen)
    int32_t normal;         //  added to every pair of a non-urgent need (500), so
                            //  an urgent need wins a place two needs compete for
    int32_t enough;         //  the bands are looked at in turn (same grid, same
                            //  community, within radius_m) and a need's next band
                            //  only while it has fewer than this many pairs; the
                            //  previous volunteer is added wherever they are.
                            //  0 (the default here): every band, every pair
} mt_pairs_weights_t;

//  Called once per feasible pair; returns 0 to go on, -1 to stop.
typedef int (mt_pairs_fn) (void *ctx, size_t need, size_t volunteer, int64_t cost);

//  Fills w with the defaults above.
void mt_pairs_weights_default (mt_pairs_weights_t *w);

//  Calls fn once for every feasible pair (each pair exactly once, needs
//  in order; within a need the order is the index's). Returns the number
//  of pairs, or -1 on bad arguments (a NULL array with a count > 0, a
//  need's skill outside 0..31, a negative weight) or when fn stopped.
//  Aborts when out of memory.
long mt_pairs_each (const mt_pairs_need_t *needs, size_t n_needs, const mt_pairs_volunteer_t *vols,
                    size_t n_vols, const mt_pairs_weights_t *w, mt_pairs_fn *fn, void *ctx);

//  Sets every volunteer's capacity in solver (max (capacity, 0)) and adds
//  every feasible pair with its cost. The solver is the caller's, made by
//  matching_solver_new (n_needs, n_vols). Returns the number of pairs
//  added, or -1 on bad arguments (as mt_pairs_each, or a solver too small).
long mt_pairs_build (const mt_pairs_need_t *needs, size_t n_needs, const mt_pairs_volunteer_t *vols,
                     size_t n_vols, const mt_pairs_weights_t *w, matching_solver_t *solver);

//  The cost of the pair (need, vol) as above, vol being volunteer number
//  vol_index (for previous and excluded); -1 when the pair is not feasible
//  or an argument is bad. For explanations and tests.
int64_t mt_pairs_cost (const mt_pairs_need_t *need, const mt_pairs_volunteer_t *vol,
                       int64_t vol_index, const mt_pairs_weights_t *w);

//  The great-circle distance in metres (haversine), or INFINITY when a
//  coordinate is not finite or out of range.
double mt_pairs_distance (double lat1, double lon1, double lat2, double lon2);

//  True when two sorted window lists overlap by a positive length.
bool mt_pairs_overlap (const mt_window_t *a, size_t na, const mt_window_t *b, size_t nb);

#endif
