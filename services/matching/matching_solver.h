/*  matching_solver: an optimal min-cost maximum b-matching on a sparse
    bipartite graph, the core of the matching service (issue 10).

    The problem. Needs (each matched at most once), volunteers (each with
    an integer capacity >= 0: how many needs it may take), and the feasible
    pairs, each with an integer cost >= 0. A solution assigns some needs to
    volunteers along feasible pairs without exceeding any capacity. The
    solver returns, among all solutions with the most matches, one with the
    least total cost. Parallel edges (the same pair given twice) are
    allowed: the cheaper one counts, the other is ignored.

    The algorithm, in three stages.

    1. Which needs compete. A maximum matching by cardinality alone
       (first-free start, then a breadth-first augmenting path per free
       need) finds the dead region D of the Dulmage-Mendelsohn
       decomposition: the volunteers reachable by an alternating path from
       a need that cannot be matched, and the needs that hold them. D's
       volunteers are full in every maximum matching and hold only D's
       needs; every need outside D is matched in every maximum matching,
       to a volunteer outside D. So the optimum splits into two
       independent problems. A failed search marks what it reached dead
       and later searches skip it, so all failures together cost O(m).

    2. Outside D: every need must be matched, at least cost. The
       Hungarian method one need at a time (Jonker-Volgenant's shortest
       augmenting path, generalised to capacities): duals u (per need) and
       w (per volunteer, w <= 0, w < 0 only on a full volunteer) with
       reduced costs c(i,v) - u_i - w_v >= 0 on every pair, 0 on matched
       ones. Start: w = 0, u_i = the need's cheapest cost, and each need
       takes its cheapest volunteer if it has room (most needs are placed
       here). Each need still free runs Dijkstra on reduced costs over the
       residual graph (need -> volunteer on an unmatched pair, volunteer ->
       the needs it holds at reduced cost 0) and stops at the first
       volunteer with room, at distance mu. Only the volunteers settled
       before the stop get w += d - mu and the needs they hold u += mu - d,
       which keeps the duals feasible and complementary; the path is then
       flipped. At the end primal and dual are feasible and complementary:
       optimal.

    3. Inside D: every unit of capacity of D's volunteers must be used, at
       least cost, by D's needs (more of them than places). The same method
       on the transposed problem (a row per unit of capacity, a column of
       capacity 1 per need), where every row is matched, so it never fails.
       The copy costs capacity x pairs per dead volunteer: small for
       volunteers who take a few tasks a week, quadratic for a hub.

    Complexity, worst case (n needs, V volunteers, m pairs): stage 1 is
    O(m) for all its failed searches together and O(m) for each need the
    first-free start leaves free; stages 2 and 3 are O(k (m + V) log m)
    for the k needs (or rows) the cheapest-pair start leaves free (Dijkstra
    with a binary heap). In practice every search settles a small
    neighbourhood before it meets a volunteer with room: 10,000 needs x
    50,000 volunteers with 20 pairs per need solve in about 20 ms
    (docs/matching.md has the figures, next to LEMON's network simplex,
    for plentiful and for scarce capacity).

    Numbers: costs are int64 and at most MATCHING_SOLVER_COST_MAX (10^12),
    capacities at most MATCHING_SOLVER_CAPACITY_MAX; solve refuses an
    instance where 1 + the sum over needs of their dearest pair exceeds
    2^61 (it bounds every path cost and dual, so every sum fits int64).  */
#ifndef MATCHING_SOLVER_H_INCLUDED
#define MATCHING_SOLVER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define MATCHING_SOLVER_COST_MAX 1000000000000LL
#define MATCHING_SOLVER_CAPACITY_MAX 1000000000LL

typedef struct _matching_solver_t matching_solver_t;

typedef struct {
    int64_t *volunteer; //  per need: the matched volunteer's index, or -1
    size_t needs;       //  the length of volunteer[]
    size_t matched;     //  how many needs are matched
    int64_t cost;       //  the total cost of the matched pairs
} matching_result_t;

//  A solver for needs x volunteers (either may be 0); every capacity starts
//  at 0. Aborts when out of memory.
matching_solver_t *matching_solver_new (size_t needs, size_t volunteers);

//  Frees the solver and nulls the pointer; harmless on NULL.
void matching_solver_destroy (matching_solver_t **self_p);

//  Sets volunteer v's capacity. Returns 0, or -1 when v is out of range or
//  cap is negative or above MATCHING_SOLVER_CAPACITY_MAX.
int matching_solver_capacity (matching_solver_t *self, size_t volunteer, int64_t cap);

//  Adds the feasible pair (need, volunteer) with cost. Returns 0, or -1 when
//  an index is out of range or cost is negative or above
//  MATCHING_SOLVER_COST_MAX. Given twice, the cheaper cost counts.
int matching_solver_edge (matching_solver_t *self, size_t need, size_t volunteer, int64_t cost);

//  Solves the instance into out (out->volunteer is allocated: free it with
//  matching_result_free). Returns 0, or -1 (out zeroed) when the costs are
//  too large for exact int64 arithmetic, or when stage 3's copy (a
//  volunteer's pairs once per unit of capacity) would pass 2^31 pairs. May be called again after
//  more edges or capacities; every call solves from scratch.
int matching_solver_solve (matching_solver_t *self, matching_result_t *out);

//  Frees out's array and zeroes it; harmless twice.
void matching_result_free (matching_result_t *out);

#endif
