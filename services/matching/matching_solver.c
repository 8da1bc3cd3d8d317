/*  matching_solver: the min-cost maximum b-matching (see the header for
    the problem, the algorithm, why it is optimal and what it costs).

    DESIGN. Edges are collected as given, then at solve time sorted by
    (need, volunteer) with two counting sorts (linear), parallel pairs
    folded to the cheaper one, and pairs with a volunteer of capacity 0
    dropped. Two compressed adjacency arrays follow: by need (what a need
    may take) and by volunteer (which needs may hold it: scanning a
    settled volunteer walks these and keeps the ones matched to it, so no
    per-volunteer list of holders has to be maintained). Dijkstra's
    per-search arrays are stamped with a search number rather than
    cleared, so a search costs what it settles, not V. The dead region
    (stage 3) is solved by a second solver built on the transposed pairs,
    run without stages 1 and 3.  */
#include "matching_solver.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

//  Beyond this bound the sums of the search could overflow int64.
#define S_BOUND_MAX (INT64_C (1) << 61)

typedef struct {
    int32_t need;
    int32_t volunteer;
    int64_t cost;
} s_pair_t;

typedef struct {
    int64_t key;
    int32_t volunteer;
} s_heap_item_t;

struct _matching_solver_t {
    size_t needs, volunteers;
    int64_t *cap; //  per volunteer
    s_pair_t *in; //  the pairs as given
    size_t in_count, in_alloc;

    //  Built by solve: pairs by need (nstart, e_vol, e_cost, e_need) and
    //  by volunteer (vstart, v_edge: edge indices).
    int32_t *nstart, *e_vol, *e_need, *vstart, *v_edge;
    int64_t *e_cost;
    size_t edges;
    //  The assignment and the duals.
    int32_t *match; //  per need: its edge, or -1
    int64_t *used;  //  per volunteer
    int64_t *u, *w;
    uint8_t *dead; //  per volunteer: full, and no path from it to room
    //  Per-search state.
    int64_t *dist;
    int32_t *pred; //  per volunteer: the edge it was reached by
    uint32_t *seen, *done, stamp;
    int32_t *scanned, *reached;
    size_t scanned_count, reached_count;
    s_heap_item_t *heap;
    size_t heap_count, heap_alloc;
};

static void *
s_alloc (size_t count, size_t size)
{
    void *p = calloc (count ? count : 1, size);
    if (!p)
        abort ();
    return p;
}

matching_solver_t *
matching_solver_new (size_t needs, size_t volunteers)
{
    assert (needs < INT32_MAX && volunteers < INT32_MAX);
    matching_solver_t *self = s_alloc (1, sizeof *self);
    self->needs = needs;
    self->volunteers = volunteers;
    self->cap = s_alloc (volunteers, sizeof *self->cap);
    return self;
}

//  Frees what solve builds.
static void
s_release (matching_solver_t *self)
{
    free (self->nstart), free (self->e_vol), free (self->e_need), free (self->vstart);
    free (self->v_edge), free (self->e_cost), free (self->match), free (self->used);
    free (self->u), free (self->w), free (self->dist), free (self->pred), free (self->seen);
    free (self->done), free (self->scanned), free (self->reached), free (self->heap);
    free (self->dead);
    self->dead = NULL;
    self->nstart = self->e_vol = self->e_need = self->vstart = self->v_edge = NULL;
    self->e_cost = self->used = self->u = self->w = self->dist = NULL;
    self->match = self->pred = self->scanned = self->reached = NULL;
    self->seen = self->done = NULL;
    self->heap = NULL;
    self->heap_alloc = 0;
}

void
matching_solver_destroy (matching_solver_t **self_p)
{
    assert (self_p);
    matching_solver_t *self = *self_p;
    if (!self)
        return;
    s_release (self);
    free (self->cap);
    free (self->in);
    free (self);
    *self_p = NULL;
}

int
matching_solver_capacity (matching_solver_t *self, size_t volunteer, int64_t cap)
{
    assert (self);
    if (volunteer >= self->volunteers || cap < 0 || cap > MATCHING_SOLVER_CAPACITY_MAX)
        return -1;
    self->cap[volunteer] = cap;
    return 0;
}

int
matching_solver_edge (matching_solver_t *self, size_t need, size_t volunteer, int64_t cost)
{
    assert (self);
    if (need >= self->needs || volunteer >= self->volunteers || cost < 0 ||
        cost > MATCHING_SOLVER_COST_MAX || self->in_count >= INT32_MAX - 1)
        return -1;
    if (self->in_count == self->in_alloc) {
        self->in_alloc = self->in_alloc ? self->in_alloc * 2 : 1024;
        self->in = realloc (self->in, self->in_alloc * sizeof *self->in);
        if (!self->in)
            abort ();
    }
    self->in[self->in_count++] = (s_pair_t){(int32_t) need, (int32_t) volunteer, cost};
    return 0;
}

//  Stable counting sort of pairs by need (by_need) or by volunteer.
static void
s_sort (const s_pair_t *from, s_pair_t *to, size_t count, size_t keys, bool by_need)
{
    size_t *start = s_alloc (keys + 1, sizeof *start);
    for (size_t k = 0; k < count; k++)
        start[(by_need ? from[k].need : from[k].volunteer) + 1]++;
    for (size_t k = 0; k < keys; k++)
        start[k + 1] += start[k];
    for (size_t k = 0; k < count; k++)
        to[start[by_need ? from[k].need : from[k].volunteer]++] = from[k];
    free (start);
}

//  The adjacency arrays: pairs by (need, volunteer), the cheaper of
//  parallel pairs, none to a volunteer without capacity.
static void
s_build (matching_solver_t *self)
{
    size_t n = self->needs, nv = self->volunteers, count = self->in_count;
    s_pair_t *tmp = s_alloc (count, sizeof *tmp);
    s_pair_t *sorted = s_alloc (count, sizeof *sorted);
    s_sort (self->in, tmp, count, nv, false);
    s_sort (tmp, sorted, count, n, true);
    free (tmp);
    self->nstart = s_alloc (n + 1, sizeof (int32_t));
    self->e_vol = s_alloc (count, sizeof (int32_t));
    self->e_need = s_alloc (count, sizeof (int32_t));
    self->e_cost = s_alloc (count, sizeof (int64_t));
    size_t m = 0;
    for (size_t k = 0; k < count; k++) {
        s_pair_t p = sorted[k];
        if (self->cap[p.volunteer] == 0)
            continue;
        if (m > 0 && self->e_need[m - 1] == p.need && self->e_vol[m - 1] == p.volunteer) {
            if (p.cost < self->e_cost[m - 1])
                self->e_cost[m - 1] = p.cost;
            continue;
        }
        self->e_need[m] = p.need, self->e_vol[m] = p.volunteer, self->e_cost[m] = p.cost;
        self->nstart[p.need + 1]++;
        m++;
    }
    free (sorted);
    self->edges = m;
    for (size_t i = 0; i < n; i++)
        self->nstart[i + 1] += self->nstart[i];
    self->vstart = s_alloc (nv + 1, sizeof (int32_t));
    self->v_edge = s_alloc (m, sizeof (int32_t));
    for (size_t e = 0; e < m; e++)
        self->vstart[self->e_vol[e] + 1]++;
    for (size_t v = 0; v < nv; v++)
        self->vstart[v + 1] += self->vstart[v];
    int32_t *fill = s_alloc (nv, sizeof *fill);
    for (size_t e = 0; e < m; e++) {
        int32_t v = self->e_vol[e];
        self->v_edge[self->vstart[v] + fill[v]++] = (int32_t) e;
    }
    free (fill);
}

static void
s_heap_push (matching_solver_t *self, int64_t key, int32_t volunteer)
{
    if (self->heap_count == self->heap_alloc) {
        self->heap_alloc = self->heap_alloc ? self->heap_alloc * 2 : 256;
        self->heap = realloc (self->heap, self->heap_alloc * sizeof *self->heap);
        if (!self->heap)
            abort ();
    }
    s_heap_item_t *h = self->heap;
    size_t k = self->heap_count++;
    while (k > 0 && h[(k - 1) / 2].key > key) {
        h[k] = h[(k - 1) / 2];
        k = (k - 1) / 2;
    }
    h[k] = (s_heap_item_t){key, volunteer};
}

static s_heap_item_t
s_heap_pop (matching_solver_t *self)
{
    s_heap_item_t *h = self->heap;
    s_heap_item_t top = h[0], last = h[--self->heap_count];
    size_t k = 0, count = self->heap_count;
    while (2 * k + 1 < count) {
        size_t c = 2 * k + 1;
        if (c + 1 < count && h[c + 1].key < h[c].key)
            c++;
        if (h[c].key >= last.key)
            break;
        h[k] = h[c];
        k = c;
    }
    if (count > 0)
        h[k] = last;
    return top;
}

//  Relaxes the pairs of need j, reached at distance d (u_j as given).
static void
s_relax (matching_solver_t *self, int32_t j, int64_t d, int64_t uj)
{
    uint32_t stamp = self->stamp;
    for (int32_t e = self->nstart[j]; e < self->nstart[j + 1]; e++) {
        int32_t v = self->e_vol[e];
        if (self->done[v] == stamp || self->dead[v])
            continue;
        int64_t nd = d + self->e_cost[e] - uj - self->w[v];
        if (self->seen[v] != stamp || nd < self->dist[v]) {
            self->seen[v] = stamp;
            self->dist[v] = nd;
            self->pred[v] = e;
            s_heap_push (self, nd, v);
        }
    }
}

//  Flips the path that ends at volunteer v back to the start need.
static void
s_flip (matching_solver_t *self, int32_t v, int32_t start)
{
    for (;;) {
        int32_t e = self->pred[v];
        int32_t j = self->e_need[e];
        int32_t old = self->match[j];
        self->match[j] = e;
        if (j == start)
            return;
        v = self->e_vol[old];
    }
}

//  A fresh search number for the seen/done stamps.
static uint32_t
s_next_stamp (matching_solver_t *self)
{
    if (++self->stamp == 0) { //  wrapped: clear the stamps once
        memset (self->seen, 0, self->volunteers * sizeof *self->seen);
        memset (self->done, 0, self->volunteers * sizeof *self->done);
        self->stamp = 1;
    }
    return self->stamp;
}

//  The first stage: a maximum matching by cardinality alone (breadth-first
//  augmenting paths), only to find the dead region D: every volunteer
//  reached by a need that cannot be matched is full in every maximum
//  matching, and stays so, so it is marked dead and never searched again
//  (all failed searches together settle each volunteer at most once).
static void
s_find_dead (matching_solver_t *self)
{
    size_t n = self->needs, nv = self->volunteers;
    int32_t *hold = s_alloc (n, sizeof *hold); //  per need: its edge, or -1
    int64_t *used = s_alloc (nv, sizeof *used);
    int32_t *queue = s_alloc (n, sizeof *queue);
    for (size_t i = 0; i < n; i++) {
        hold[i] = -1;
        for (int32_t e = self->nstart[i]; e < self->nstart[i + 1] && hold[i] < 0; e++)
            if (used[self->e_vol[e]] < self->cap[self->e_vol[e]])
                hold[i] = e, used[self->e_vol[e]]++;
    }
    for (size_t i = 0; i < n; i++) {
        if (hold[i] >= 0 || self->nstart[i] == self->nstart[i + 1])
            continue;
        uint32_t stamp = s_next_stamp (self);
        size_t head = 0, tail = 0;
        int32_t sink = -1;
        queue[tail++] = (int32_t) i;
        self->scanned_count = 0;
        while (head < tail && sink < 0) {
            int32_t j = queue[head++];
            for (int32_t e = self->nstart[j]; e < self->nstart[j + 1] && sink < 0; e++) {
                int32_t v = self->e_vol[e];
                if (self->dead[v] || self->seen[v] == stamp)
                    continue;
                self->seen[v] = stamp, self->pred[v] = e;
                self->scanned[self->scanned_count++] = v;
                if (used[v] < self->cap[v]) {
                    sink = v;
                    break;
                }
                for (int32_t k = self->vstart[v]; k < self->vstart[v + 1]; k++)
                    if (hold[self->e_need[self->v_edge[k]]] == self->v_edge[k])
                        queue[tail++] = self->e_need[self->v_edge[k]];
            }
        }
        if (sink < 0) {
            for (size_t k = 0; k < self->scanned_count; k++)
                self->dead[self->scanned[k]] = 1;
            continue;
        }
        used[sink]++;
        for (int32_t v = sink;;) {
            int32_t e = self->pred[v], j = self->e_need[e], old = hold[j];
            hold[j] = e;
            if (j == (int32_t) i)
                break;
            v = self->e_vol[old];
        }
    }
    free (hold), free (used), free (queue);
}

//  One shortest augmenting path from the free need i to a volunteer with
//  room (see the header). Returns false when there is none: then every
//  volunteer i reaches is full for good (dead), and is skipped from now on.
static bool
s_search (matching_solver_t *self, int32_t i)
{
    uint32_t stamp = s_next_stamp (self);
    self->heap_count = self->scanned_count = self->reached_count = 0;
    int32_t sink = -1;
    int64_t mu = 0;
    s_relax (self, i, 0, 0);
    while (self->heap_count > 0) {
        s_heap_item_t top = s_heap_pop (self);
        int32_t v = top.volunteer;
        if (self->done[v] == stamp || top.key > self->dist[v])
            continue;
        self->done[v] = stamp;
        if (self->used[v] < self->cap[v]) {
            sink = v, mu = top.key;
            break;
        }
        self->scanned[self->scanned_count++] = v;
        for (int32_t k = self->vstart[v]; k < self->vstart[v + 1]; k++) {
            int32_t e = self->v_edge[k], j = self->e_need[e];
            if (self->match[j] == e) {
                self->reached[self->reached_count++] = j;
                s_relax (self, j, top.key, self->u[j]);
            }
        }
    }
    if (sink < 0) {
        for (size_t k = 0; k < self->scanned_count; k++)
            self->dead[self->scanned[k]] = 1;
        return false;
    }
    for (size_t k = 0; k < self->reached_count; k++) {
        int32_t j = self->reached[k];
        self->u[j] += mu - self->dist[self->e_vol[self->match[j]]];
    }
    for (size_t k = 0; k < self->scanned_count; k++) {
        int32_t v = self->scanned[k];
        self->w[v] += self->dist[v] - mu;
    }
    self->u[i] = mu;
    self->used[sink]++;
    s_flip (self, sink, i);
    return true;
}

//  Whether the sums of the search fit int64: 1 + the sum of every need's
//  dearest pair bounds every path cost and potential; false past 2^61.
static bool
s_small_enough (const matching_solver_t *self)
{
    int64_t bound = 1;
    for (size_t i = 0; i < self->needs; i++) {
        int64_t dearest = 0;
        for (int32_t e = self->nstart[i]; e < self->nstart[i + 1]; e++)
            if (self->e_cost[e] > dearest)
                dearest = self->e_cost[e];
        bound += dearest;
        if (bound > S_BOUND_MAX)
            return false;
    }
    return true;
}

//  The arrays of a solve (zeroed).
static void
s_state (matching_solver_t *self)
{
    size_t n = self->needs, nv = self->volunteers;
    self->match = s_alloc (n, sizeof (int32_t));
    self->u = s_alloc (n, sizeof (int64_t));
    self->used = s_alloc (nv, sizeof (int64_t));
    self->w = s_alloc (nv, sizeof (int64_t));
    self->dist = s_alloc (nv, sizeof (int64_t));
    self->pred = s_alloc (nv, sizeof (int32_t));
    self->seen = s_alloc (nv, sizeof (uint32_t));
    self->done = s_alloc (nv, sizeof (uint32_t));
    self->dead = s_alloc (nv, sizeof (uint8_t));
    self->scanned = s_alloc (nv, sizeof (int32_t));
    self->reached = s_alloc (n, sizeof (int32_t));
    self->stamp = 0;
}

//  The cheapest pair of need i to a live volunteer, or -1.
static int32_t
s_cheapest (const matching_solver_t *self, size_t i)
{
    int32_t cheapest = -1;
    for (int32_t e = self->nstart[i]; e < self->nstart[i + 1]; e++)
        if (!self->dead[self->e_vol[e]] &&
            (cheapest < 0 || self->e_cost[e] < self->e_cost[cheapest]))
            cheapest = e;
    return cheapest;
}

//  The start of the second stage: every need at its cheapest live
//  volunteer if that one has room, w = 0, u = the cheapest cost.
static void
s_start (matching_solver_t *self)
{
    for (size_t i = 0; i < self->needs; i++) {
        self->match[i] = -1;
        int32_t cheapest = s_cheapest (self, i);
        if (cheapest < 0)
            continue;
        self->u[i] = self->e_cost[cheapest];
        int32_t v = self->e_vol[cheapest];
        if (self->used[v] < self->cap[v]) {
            self->used[v]++;
            self->match[i] = cheapest;
        }
    }
}

static int s_run (matching_solver_t *self, matching_result_t *out, bool whole);

//  The dead region D (see the header): its volunteers, all full, and the
//  needs that hold them or failed. Re-solved from the volunteers' side:
//  a row per unit of capacity of a dead volunteer, a column of capacity 1
//  per need of D; every row is matched there, so the transposed run never
//  fails a search and needs no stages 1 and 3. A volunteer's pairs are
//  copied once per unit of its capacity. Returns 0, or -1 when that copy
//  would pass 2^31 pairs or its sums could overflow.
static int
s_solve_dead (matching_solver_t *self)
{
    size_t n = self->needs, nv = self->volunteers, rows = 0, cols = 0;
    int32_t *col_need = s_alloc (n, sizeof *col_need);
    int32_t *first_row = s_alloc (nv, sizeof *first_row);
    for (size_t v = 0; v < nv; v++)
        if (self->dead[v])
            first_row[v] = (int32_t) rows, rows += (size_t) self->cap[v];
    //  Stage 2 left D's needs free (and placed every other need), and their
    //  pairs all lead into D.
    size_t copies = 0;
    for (size_t e = 0; e < self->edges; e++)
        if (self->dead[self->e_vol[e]] && self->match[self->e_need[e]] < 0)
            copies += (size_t) self->cap[self->e_vol[e]];
    if (rows == 0 || copies >= INT32_MAX - 2) {
        free (col_need), free (first_row);
        return rows == 0 ? 0 : -1;
    }
    int32_t *row_vol = s_alloc (rows, sizeof *row_vol);
    for (size_t v = 0; v < nv; v++)
        for (int64_t k = 0; self->dead[v] && k < self->cap[v]; k++)
            row_vol[first_row[v] + k] = (int32_t) v;
    for (size_t i = 0; i < n; i++)
        if (self->match[i] < 0 && self->nstart[i] < self->nstart[i + 1])
            col_need[cols++] = (int32_t) i;
    matching_solver_t *sub = matching_solver_new (rows, cols);
    for (size_t c = 0; c < cols; c++) {
        int32_t i = col_need[c];
        matching_solver_capacity (sub, c, 1);
        for (int32_t e = self->nstart[i]; e < self->nstart[i + 1]; e++) {
            int32_t v = self->e_vol[e];
            for (int64_t k = 0; self->dead[v] && k < self->cap[v]; k++) {
                int rc =
                    matching_solver_edge (sub, (size_t) (first_row[v] + k), c, self->e_cost[e]);
                assert (rc == 0); //  counted above
                (void) rc;
            }
        }
        self->match[i] = -1;
    }
    matching_result_t r;
    int rc = s_run (sub, &r, false);
    assert (rc != 0 || r.matched == rows); //  D's volunteers are full in every optimum
    for (size_t row = 0; rc == 0 && row < rows; row++) {
        if (r.volunteer[row] < 0)
            continue;
        int32_t i = col_need[r.volunteer[row]], v = row_vol[row];
        for (int32_t e = self->nstart[i]; e < self->nstart[i + 1]; e++)
            if (self->e_vol[e] == v)
                self->match[i] = e;
    }
    matching_result_free (&r);
    matching_solver_destroy (&sub);
    free (col_need), free (first_row), free (row_vol);
    return rc;
}

//  Solves; whole: with the first stage and the third (the dead region);
//  without, every need must be matchable (the transposed dead region).
static int
s_run (matching_solver_t *self, matching_result_t *out, bool whole)
{
    memset (out, 0, sizeof *out);
    s_release (self);
    s_build (self);
    if (!s_small_enough (self)) {
        s_release (self);
        return -1;
    }
    s_state (self);
    bool dead = false;
    if (whole) {
        s_find_dead (self);
        for (size_t v = 0; v < self->volunteers && !dead; v++)
            dead = self->dead[v];
    }
    s_start (self);
    for (size_t i = 0; i < self->needs; i++)
        if (self->match[i] < 0 && s_cheapest (self, i) >= 0) {
            bool found = s_search (self, (int32_t) i);
            assert (found); //  the first stage left only needs that can be matched
            (void) found;
        }
    if (dead && s_solve_dead (self)) {
        s_release (self);
        return -1;
    }
    out->needs = self->needs;
    out->volunteer = s_alloc (self->needs, sizeof *out->volunteer);
    for (size_t i = 0; i < self->needs; i++) {
        int32_t e = self->match[i];
        out->volunteer[i] = e < 0 ? -1 : self->e_vol[e];
        if (e >= 0) {
            out->matched++;
            out->cost += self->e_cost[e];
        }
    }
    s_release (self);
    return 0;
}

int
matching_solver_solve (matching_solver_t *self, matching_result_t *out)
{
    assert (self && out);
    return s_run (self, out, true);
}

void
matching_result_free (matching_result_t *out)
{
    if (!out)
        return;
    free (out->volunteer);
    memset (out, 0, sizeof *out);
}
