/*  matching_solver: an optimal min-cost maximum b-matching on a sparse
    bipartite graph, the core of the matching service (issue 10).

    The problem. Needs (each matched at most once), volunteers (each with
    an integer capacity >= 0: how many needs it may take), and the feasible
    pairs, each with an integer cost >= 0. A solution assigns some needs to
    volunteers along feasible pairs without exceeding any capacity. The
    solver returns, among all solutions with the most matches, one with the
    least total cost. Parallel edges (the same pair given twice) are
    allowed: the cheaper one counts, the other is ignored.

    The algorithm: the Hungarian method, one need at a time, with
    Dijkstra on reduced costs and early termination (the "shortest
    augmenting path" scheme of Jonker and Volgenant, generalised to
    volunteer capacities). The lexicographic objective (most matches, then
    least cost) is made a single one by giving every need a private
    "unmatched" option of cost BIG = 1 + the sum over needs of their
    dearest edge: one more match always beats any cost difference, and
    every need is then assigned (to a volunteer or to its own option), a
    rectangular assignment problem with column capacities.

    Duals u (per need, 0 <= u <= BIG) and w (per volunteer, w <= 0, and
    w < 0 only on a volunteer whose capacity is used up) are kept feasible
    (reduced cost c(i,v) - u_i - w_v >= 0 on every pair, 0 on the matched
    ones). Start: w = 0, u_i = the need's cheapest cost, and each need
    takes its cheapest volunteer if that one has room (most needs are
    placed here). Each need still free then runs Dijkstra over the
    residual graph (need -> volunteer on an unmatched pair, volunteer ->
    the needs it holds at reduced cost 0), stopping at the first volunteer
    with room, or at the cheapest "unmatched" option of a need it reached,
    whichever is nearer (distance mu). Only the volunteers settled before
    the stop get w += d - mu and the needs they hold u += mu - d, which keeps
    the duals feasible and complementary; the path is then flipped. At the
    end primal and dual are feasible and complementary, so the assignment
    is optimal for the combined objective, hence lexicographically optimal.
    A need that loses to another (same volunteer, dearer) moves to its
    "unmatched" option as part of such a path, so the answer is not just
    a maximum matching of some set of needs but the right set.

    Complexity: O(n (m + V) log m) in the worst case (n needs, V
    volunteers, m pairs), each search a Dijkstra with a binary heap. In
    practice the cheapest-edge start places most needs and each remaining
    search settles a small neighbourhood before it meets a volunteer with
    room, so sparse instances with slack capacity solve in milliseconds
    (docs/matching.md has the figures, next to LEMON's network simplex).
    Searches are slow only when capacity is scarce: a need that cannot be
    matched settles everything it can reach.

    Numbers: costs are int64 and at most MATCHING_SOLVER_COST_MAX (10^12),
    capacities at most MATCHING_SOLVER_CAPACITY_MAX; solve refuses an
    instance whose BIG would exceed 2^61 (every sum then fits int64).  */
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
//  too large for exact int64 arithmetic. May be called again after more
//  edges or capacities; every call solves from scratch.
int matching_solver_solve (matching_solver_t *self, matching_result_t *out);

//  Frees out's array and zeroes it; harmless twice.
void matching_result_free (matching_result_t *out);

#endif
