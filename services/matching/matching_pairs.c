/*  matching_pairs: the feasible pairs of a batch and their costs (see the
    header for the rules, the cost formula and how the index works).

    DESIGN. One array of entries grouped by key holds the three indexes; a
    key is a tag (grid, community or cell) and the skill in its high bits,
    the grid or community code or the three cell coordinates in its low
    bits. A hash table of keys gives each key's run (grouping is a
    counting pass, no sort), so a lookup is one probe. Only volunteers with
    room are indexed. A need first stamps its excluded volunteers as seen,
    then visits its grid's run, its community's run and the cells' runs; a
    volunteer met again is skipped by its stamp, so every pair is reported
    once. An entry carries the volunteer's hours of the week (and in a
    cell its place), so most candidates are rejected while the run is read
    in order, without touching the volunteer: no hour in common, or (from
    a cell, where every volunteer not yet seen is in another grid and
    community, so feasible only within the radius) a chord longer than the
    radius, the chord being a lower bound of the great-circle distance.
    The rest get the exact check, the same function as mt_pairs_cost.  */
#include "matching_pairs.h"

#include <math.h>
#include <stdlib.h>

#define S_EARTH_RADIUS_M 6371008.8
#define S_DEG (3.14159265358979323846 / 180.0)
//  Cells are at least this wide, so that a coordinate fits 17 bits.
#define S_CELL_MIN_M 100.0
#define S_CELL_OFFSET (1 << 16)
#define S_WEEK_MIN (7 * 24 * 60)
//  The chord test lets through what is this much beyond the radius.
#define S_REACH_MARGIN_M 8.0

#define S_TAG_GRID (UINT64_C (0) << 62)
#define S_TAG_COMMUNITY (UINT64_C (1) << 62)
#define S_TAG_CELL (UINT64_C (2) << 62)
//  Tag 3 is never used, so this is no key.
#define S_NO_KEY UINT64_MAX

//  The hours of the week (168 bits) a window list touches: two lists
//  that overlap share an hour, so lists with no hour in common are
//  disjoint (the converse does not hold: the exact test follows).
typedef struct {
    uint64_t bit[3];
} s_hours_t;

//  An index entry carries what rejects most candidates, so that a run is
//  read in order rather than by jumping to each volunteer: the hours, and
//  for a cell entry the place (floats: a metre off at most, covered by
//  S_REACH_MARGIN_M).
typedef struct {
    uint64_t key;
    uint32_t volunteer;
    float x, y, z;
    s_hours_t hours;
} s_entry_t;

//  A place in Earth-centred coordinates (metres); valid false: nowhere.
typedef struct {
    double x, y, z;
    bool valid;
} s_point_t;

void
mt_pairs_weights_default (mt_pairs_weights_t *w)
{
    *w = (mt_pairs_weights_t){.radius_m = 3000,
                              .per_km = 100,
                              .same_grid = 0,
                              .same_community = 200,
                              .further = 1000,
                              .fairness = 20,
                              .rating = 5,
                              .continuity = 100000,
                              .normal = 500};
}

static bool
s_place_valid (double lat, double lon)
{
    return isfinite (lat) && isfinite (lon) && fabs (lat) <= 90.0 && fabs (lon) <= 180.0;
}

double
mt_pairs_distance (double lat1, double lon1, double lat2, double lon2)
{
    if (!s_place_valid (lat1, lon1) || !s_place_valid (lat2, lon2))
        return INFINITY;
    double p1 = lat1 * S_DEG, p2 = lat2 * S_DEG;
    double sp = sin ((p2 - p1) / 2.0), sl = sin ((lon2 - lon1) * S_DEG / 2.0);
    double a = sp * sp + cos (p1) * cos (p2) * sl * sl;
    if (a > 1.0)
        a = 1.0;
    return 2.0 * S_EARTH_RADIUS_M * asin (sqrt (a));
}

bool
mt_pairs_overlap (const mt_window_t *a, size_t na, const mt_window_t *b, size_t nb)
{
    //  Both sorted by start: when two windows do not overlap, the one that
    //  lies wholly before the other cannot overlap anything later.
    size_t i = 0, j = 0;
    while (i < na && j < nb) {
        if (a[i].start >= a[i].end)
            i++;
        else if (b[j].start >= b[j].end)
            j++;
        else if (a[i].end <= b[j].start)
            i++;
        else if (b[j].end <= a[i].start)
            j++;
        else
            return true;
    }
    return false;
}

static s_hours_t
s_hours (const mt_window_t *windows, size_t n)
{
    s_hours_t hours = {{0, 0, 0}};
    for (size_t k = 0; k < n; k++) {
        if (windows[k].start >= windows[k].end)
            continue;
        if (windows[k].start < 0 || windows[k].end > S_WEEK_MIN)
            return (s_hours_t){{UINT64_MAX, UINT64_MAX, UINT64_MAX}};
        for (int32_t h = windows[k].start / 60; h <= (windows[k].end - 1) / 60; h++)
            hours.bit[h / 64] |= UINT64_C (1) << (h % 64);
    }
    return hours;
}

static bool
s_hours_meet (const s_hours_t *a, const s_hours_t *b)
{
    return (a->bit[0] & b->bit[0]) | (a->bit[1] & b->bit[1]) | (a->bit[2] & b->bit[2]);
}

static int64_t
s_term (double value)
{
    return value >= (double) MATCHING_SOLVER_COST_MAX ? MATCHING_SOLVER_COST_MAX
                                                      : (int64_t) llround (value);
}

//  The pair's cost, or -1 when infeasible; the excluded list is checked
//  only when asked (the builder stamps it instead).
static int64_t
s_cost (const mt_pairs_need_t *need, const mt_pairs_volunteer_t *vol, int64_t vol_index,
        const mt_pairs_weights_t *w, bool check_excluded)
{
    if (vol->capacity <= 0 || !((vol->skills >> need->skill) & 1u))
        return -1;
    if (!mt_pairs_overlap (need->windows, need->n_windows, vol->windows, vol->n_windows))
        return -1;
    bool same_grid = need->grid >= 0 && need->grid == vol->grid;
    bool same_community = need->community >= 0 && need->community == vol->community;
    double d = mt_pairs_distance (need->lat, need->lon, vol->lat, vol->lon);
    if (!same_grid && !same_community && !(d <= (double) w->radius_m))
        return -1;
    if (check_excluded)
        for (size_t k = 0; k < need->n_excluded; k++)
            if (need->excluded[k] == vol_index)
                return -1;
    if (!(d <= (double) w->radius_m))
        d = (double) w->radius_m;
    int32_t r = vol->rating_x10 <= 0 ? 40 : vol->rating_x10 < 10 ? 10 : vol->rating_x10;
    if (r > 50)
        r = 50;
    int32_t load = vol->recent_load > 0 ? vol->recent_load : 0;
    int64_t cost = s_term ((double) w->per_km * d / 1000.0);
    cost += same_grid ? w->same_grid : same_community ? w->same_community : w->further;
    cost += s_term ((double) w->fairness * (double) load);
    cost += (int64_t) w->rating * (50 - r);
    cost += need->urgent ? 0 : w->normal;
    if (need->previous >= 0 && need->previous == vol_index)
        cost -= w->continuity;
    return cost < 0 ? 0 : cost > MATCHING_SOLVER_COST_MAX ? MATCHING_SOLVER_COST_MAX : cost;
}

static bool
s_weights_valid (const mt_pairs_weights_t *w)
{
    return w && w->radius_m >= 0 && w->per_km >= 0 && w->same_grid >= 0 && w->same_community >= 0 &&
           w->further >= 0 && w->fairness >= 0 && w->rating >= 0 && w->continuity >= 0 &&
           w->normal >= 0 && w->enough >= 0;
}

static bool
s_need_valid (const mt_pairs_need_t *need)
{
    return need && need->skill >= 0 && need->skill < 32 && (need->windows || !need->n_windows) &&
           (need->excluded || !need->n_excluded);
}

static bool
s_volunteer_valid (const mt_pairs_volunteer_t *vol)
{
    return vol && (vol->windows || !vol->n_windows);
}

int64_t
mt_pairs_cost (const mt_pairs_need_t *need, const mt_pairs_volunteer_t *vol, int64_t vol_index,
               const mt_pairs_weights_t *w)
{
    if (!s_need_valid (need) || !s_volunteer_valid (vol) || !s_weights_valid (w))
        return -1;
    return s_cost (need, vol, vol_index, w, true);
}

static bool
s_args_valid (const mt_pairs_need_t *needs, size_t n_needs, const mt_pairs_volunteer_t *vols,
              size_t n_vols, const mt_pairs_weights_t *w)
{
    if ((!needs && n_needs) || (!vols && n_vols) || !s_weights_valid (w) || n_needs >= UINT32_MAX ||
        n_vols >= UINT32_MAX)
        return false;
    for (size_t i = 0; i < n_needs; i++)
        if (!s_need_valid (&needs[i]))
            return false;
    for (size_t v = 0; v < n_vols; v++)
        if (!s_volunteer_valid (&vols[v]))
            return false;
    return true;
}

static s_point_t
s_point (double lat, double lon)
{
    if (!s_place_valid (lat, lon))
        return (s_point_t){0, 0, 0, false};
    double p = lat * S_DEG, l = lon * S_DEG;
    return (s_point_t){S_EARTH_RADIUS_M * cos (p) * cos (l), S_EARTH_RADIUS_M * cos (p) * sin (l),
                       S_EARTH_RADIUS_M * sin (p), true};
}

static uint64_t
s_code_key (uint64_t tag, int skill, int32_t code)
{
    return tag | ((uint64_t) skill << 32) | (uint64_t) (uint32_t) code;
}

static uint64_t
s_cell_key (int skill, int64_t cx, int64_t cy, int64_t cz)
{
    return S_TAG_CELL | ((uint64_t) skill << 51) | ((uint64_t) (cx + S_CELL_OFFSET) << 34) |
           ((uint64_t) (cy + S_CELL_OFFSET) << 17) | (uint64_t) (cz + S_CELL_OFFSET);
}

static int64_t
s_cell_of (double coordinate, double cell)
{
    return (int64_t) floor (coordinate / cell);
}

//  A run of equal keys in the index: entry[start .. start + count).
typedef struct {
    uint64_t key; //  S_NO_KEY: a free slot
    uint32_t start, count;
} s_slot_t;

typedef struct {
    s_entry_t *entry; //  grouped by key, volunteers ascending within a run
    s_slot_t *slot;   //  open addressing, a power of two, at most half full
    size_t mask;      //  slots - 1
} s_index_t;

//  The slot of key: its own, or the free one where it would go.
static s_slot_t *
s_slot (const s_index_t *index, uint64_t key)
{
    size_t k = (size_t) ((key * UINT64_C (0x9E3779B97F4A7C15)) >> 20) & index->mask;
    while (index->slot[k].key != key && index->slot[k].key != S_NO_KEY)
        k = (k + 1) & index->mask;
    return &index->slot[k];
}

//  Adds e's index entries (three per skill at most) to list.
static size_t
s_list (const mt_pairs_volunteer_t *vol, const s_point_t *at, double cell, s_entry_t e,
        s_entry_t *list)
{
    size_t n = 0;
    for (int s = 0; s < 32; s++) {
        if (!((vol->skills >> s) & 1u))
            continue;
        e.x = e.y = e.z = 0;
        e.key = s_code_key (S_TAG_GRID, s, vol->grid);
        if (vol->grid >= 0)
            list[n++] = e;
        e.key = s_code_key (S_TAG_COMMUNITY, s, vol->community);
        if (vol->community >= 0)
            list[n++] = e;
        e.key = s_cell_key (s, s_cell_of (at->x, cell), s_cell_of (at->y, cell),
                            s_cell_of (at->z, cell));
        e.x = (float) at->x, e.y = (float) at->y, e.z = (float) at->z;
        if (at->valid)
            list[n++] = e;
    }
    return n;
}

//  The index of the volunteers with room, grouped by key in linear time:
//  count per key, place each run, then copy the entries into their runs
//  in volunteer order.
static s_index_t
s_index (const mt_pairs_volunteer_t *vols, size_t n_vols, const s_point_t *at, double cell)
{
    size_t n = 0;
    for (size_t v = 0; v < n_vols; v++)
        if (vols[v].capacity > 0)
            n += 3 * (size_t) __builtin_popcount (vols[v].skills);
    s_entry_t *list = malloc ((n ? n : 1) * sizeof *list);
    s_index_t index = {.entry = malloc ((n ? n : 1) * sizeof *index.entry)};
    size_t slots = 16;
    while (slots < 2 * n)
        slots *= 2;
    index.slot = malloc (slots * sizeof *index.slot);
    index.mask = slots - 1;
    if (!list || !index.entry || !index.slot)
        abort ();
    for (size_t k = 0; k < slots; k++)
        index.slot[k] = (s_slot_t){S_NO_KEY, 0, 0};
    n = 0;
    for (size_t v = 0; v < n_vols; v++)
        if (vols[v].capacity > 0)
            n += s_list (&vols[v], &at[v], cell,
                         (s_entry_t){.volunteer = (uint32_t) v,
                                     .hours = s_hours (vols[v].windows, vols[v].n_windows)},
                         &list[n]);
    for (size_t k = 0; k < n; k++) {
        s_slot_t *slot = s_slot (&index, list[k].key);
        slot->key = list[k].key;
        slot->count++;
    }
    uint32_t start = 0;
    for (size_t k = 0; k < slots; k++)
        if (index.slot[k].key != S_NO_KEY) {
            index.slot[k].start = start;
            start += index.slot[k].count;
            index.slot[k].count = 0;
        }
    for (size_t k = 0; k < n; k++) {
        s_slot_t *slot = s_slot (&index, list[k].key);
        index.entry[slot->start + slot->count++] = list[k];
    }
    free (list);
    return index;
}

typedef struct {
    const mt_pairs_need_t *needs;
    const mt_pairs_volunteer_t *vols;
    const mt_pairs_weights_t *w;
    const s_point_t *at; //  per volunteer
    size_t n_vols;
    s_index_t index;
    uint32_t *seen; //  per volunteer: the stamp of the last need that met it
    mt_pairs_fn *fn;
    void *ctx;
    long pairs;
} s_walk_t;

//  Visits the run of key for need i (stamp i + 1), skipping volunteers
//  with none of the need's hours. With near set (a cell's
//  run), only volunteers whose chord to the need is within the radius
//  (plus a margin for rounding) are checked: one beyond it is in another
//  grid and community (those runs came first), so it cannot be feasible.
//  Returns 0, or -1 when fn stopped.
static int
s_visit (s_walk_t *self, size_t i, uint64_t key, const s_hours_t *hours, const s_point_t *near)
{
    const s_slot_t *slot = s_slot (&self->index, key);
    if (slot->key != key)
        return 0;
    double reach = (double) self->w->radius_m + S_REACH_MARGIN_M;
    for (uint32_t k = slot->start; k < slot->start + slot->count; k++) {
        const s_entry_t *e = &self->index.entry[k];
        if (!s_hours_meet (hours, &e->hours))
            continue;
        if (near) {
            double dx = near->x - e->x, dy = near->y - e->y, dz = near->z - e->z;
            if (dx * dx + dy * dy + dz * dz > reach * reach)
                continue;
        }
        uint32_t v = e->volunteer;
        if (self->seen[v] == (uint32_t) i + 1)
            continue;
        self->seen[v] = (uint32_t) i + 1;
        int64_t cost = s_cost (&self->needs[i], &self->vols[v], (int64_t) v, self->w, false);
        if (cost < 0)
            continue;
        self->pairs++;
        if (self->fn (self->ctx, i, v, cost) != 0)
            return -1;
    }
    return 0;
}

//  The need has enough pairs (weights' enough) since before: skip the
//  farther bands.
static bool
s_enough (const s_walk_t *self, long before)
{
    return self->w->enough > 0 && self->pairs - before >= self->w->enough;
}

//  The previous volunteer of need i, when the bands walked did not meet
//  them (only when enough cut the walk short): their pair, if feasible.
static int
s_previous (s_walk_t *self, size_t i)
{
    const mt_pairs_need_t *need = &self->needs[i];
    int64_t v = need->previous;
    if (v < 0 || (uint64_t) v >= (uint64_t) self->n_vols || self->seen[v] == (uint32_t) i + 1)
        return 0;
    self->seen[v] = (uint32_t) i + 1;
    int64_t cost = mt_pairs_cost (need, &self->vols[v], v, self->w);
    if (cost < 0)
        return 0;
    self->pairs++;
    return self->fn (self->ctx, i, (size_t) v, cost) != 0 ? -1 : 0;
}

static int
s_walk_need (s_walk_t *self, size_t i, double cell)
{
    const mt_pairs_need_t *need = &self->needs[i];
    for (size_t k = 0; k < need->n_excluded; k++)
        if (need->excluded[k] >= 0 && (uint64_t) need->excluded[k] < (uint64_t) self->n_vols)
            self->seen[need->excluded[k]] = (uint32_t) i + 1;
    //  Grid and community first: a volunteer met in a cell afterwards is
    //  in neither, so the chord test may reject it.
    s_hours_t hours = s_hours (need->windows, need->n_windows);
    long before = self->pairs;
    if (need->grid >= 0 &&
        s_visit (self, i, s_code_key (S_TAG_GRID, need->skill, need->grid), &hours, NULL))
        return -1;
    if (s_enough (self, before))
        return s_previous (self, i);
    if (need->community >= 0 &&
        s_visit (self, i, s_code_key (S_TAG_COMMUNITY, need->skill, need->community), &hours, NULL))
        return -1;
    if (s_enough (self, before))
        return s_previous (self, i);
    s_point_t p = s_point (need->lat, need->lon);
    if (!p.valid)
        return s_previous (self, i);
    int64_t c[3] = {s_cell_of (p.x, cell), s_cell_of (p.y, cell), s_cell_of (p.z, cell)};
    //  gap[axis][step + 1]: how far the need is from the neighbour cell
    //  step (-1, 0, 1) along axis; a cell farther than the reach is skipped.
    double at[3] = {p.x, p.y, p.z}, gap[3][3];
    for (int a = 0; a < 3; a++) {
        gap[a][0] = at[a] - (double) c[a] * cell;
        gap[a][1] = 0;
        gap[a][2] = (double) (c[a] + 1) * cell - at[a];
    }
    double reach = (double) self->w->radius_m + S_REACH_MARGIN_M;
    for (int x = 0; x < 3; x++)
        for (int y = 0; y < 3; y++)
            for (int z = 0; z < 3; z++) {
                if (gap[0][x] * gap[0][x] + gap[1][y] * gap[1][y] + gap[2][z] * gap[2][z] >
                    reach * reach)
                    continue;
                uint64_t key = s_cell_key (need->skill, c[0] + x - 1, c[1] + y - 1, c[2] + z - 1);
                if (s_visit (self, i, key, &hours, &p))
                    return -1;
            }
    return s_previous (self, i);
}

long
mt_pairs_each (const mt_pairs_need_t *needs, size_t n_needs, const mt_pairs_volunteer_t *vols,
               size_t n_vols, const mt_pairs_weights_t *w, mt_pairs_fn *fn, void *ctx)
{
    if (!fn || !s_args_valid (needs, n_needs, vols, n_vols, w))
        return -1;
    //  At least radius_m (and a margin for rounding) wide: two points
    //  within radius_m differ by at most one cell on every axis.
    double cell = (double) w->radius_m * 1.001 + 1.0;
    if (cell < S_CELL_MIN_M)
        cell = S_CELL_MIN_M;
    s_point_t *at = malloc ((n_vols ? n_vols : 1) * sizeof *at);
    uint32_t *seen = calloc (n_vols ? n_vols : 1, sizeof *seen);
    if (!at || !seen)
        abort ();
    for (size_t v = 0; v < n_vols; v++)
        at[v] = s_point (vols[v].lat, vols[v].lon);
    s_walk_t walk = {.needs = needs,
                     .vols = vols,
                     .w = w,
                     .at = at,
                     .n_vols = n_vols,
                     .seen = seen,
                     .fn = fn,
                     .ctx = ctx};
    walk.index = s_index (vols, n_vols, at, cell);
    long rc = 0;
    for (size_t i = 0; i < n_needs && rc == 0; i++)
        rc = s_walk_need (&walk, i, cell);
    free (walk.index.entry), free (walk.index.slot), free (seen), free (at);
    return rc == 0 ? walk.pairs : -1;
}

static int
s_add_edge (void *ctx, size_t need, size_t volunteer, int64_t cost)
{
    return matching_solver_edge ((matching_solver_t *) ctx, need, volunteer, cost);
}

long
mt_pairs_build (const mt_pairs_need_t *needs, size_t n_needs, const mt_pairs_volunteer_t *vols,
                size_t n_vols, const mt_pairs_weights_t *w, matching_solver_t *solver)
{
    if (!solver || !s_args_valid (needs, n_needs, vols, n_vols, w))
        return -1;
    for (size_t v = 0; v < n_vols; v++)
        if (matching_solver_capacity (solver, v, vols[v].capacity > 0 ? vols[v].capacity : 0))
            return -1;
    return mt_pairs_each (needs, n_needs, vols, n_vols, w, s_add_edge, solver);
}
