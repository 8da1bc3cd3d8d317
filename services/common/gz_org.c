/*  gz_org: the org directory in memory. See gz_org.h.

    DESIGN: gz_org_load reads the four org tables in one read-only
    snapshot and builds an immutable structure; nothing changes it
    afterwards, so several threads may read one gz_org_t at once and a
    refresh is "load a new one, swap the pointer, destroy the old one".

    - Strings live in an arena (a list of large blocks), so destroy is a
      handful of frees whatever the size of the directory.
    - Code lookups (units, buildings, staff) go through open-addressing
      hash tables of indices (FNV-1a, linear probing, load <= 1/2).
    - Each unit knows its slice of the staff array (loaded ordered by
      unit) and of the pairings array (ordered by community).
    - Nearest building: buildings are bucketed into cells of about
      S_CELL_M metres (degrees of latitude, and degrees of longitude
      widened by 1/cos of the area's mean latitude). A query scans rings
      of cells around its own cell until the best distance found is below
      what any further ring could hold, or the ring is beyond max_m. When
      the rings would cover more cells than the index holds (a query far
      outside the area with a huge max_m), a linear scan is cheaper.
      Distances are haversine; the ring bound is made conservative for
      latitudes away from the mean so pruning never drops the true
      nearest. Longitudes are not wrapped at +/-180 (an area spanning the
      antimeridian would need it).  */
#include "gz_org.h"
#include "gz_log.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SVC "org"
#define S_GENERATION_SQL "SELECT value FROM org.generation"
#define S_EARTH_M 6371008.8
#define S_M_PER_DEG (S_EARTH_M * M_PI / 180.0)
#define S_CELL_M 200.0
#define S_ARENA_BLOCK 65536

//  --------------------------------------------------------------------
//  Arena of strings

typedef struct s_block_t {
    struct s_block_t *next;
    size_t used, size;
    char data[];
} s_block_t;

static char *
s_arena_strdup (s_block_t **head_p, const char *str)
{
    size_t len = strlen (str) + 1;
    s_block_t *head = *head_p;
    if (!head || head->size - head->used < len) {
        size_t size = len > S_ARENA_BLOCK ? len : S_ARENA_BLOCK;
        s_block_t *block = malloc (sizeof *block + size);
        assert (block);
        block->next = head;
        block->used = 0;
        block->size = size;
        *head_p = head = block;
    }
    char *copy = head->data + head->used;
    memcpy (copy, str, len);
    head->used += len;
    return copy;
}

static void
s_arena_destroy (s_block_t **head_p)
{
    s_block_t *block = *head_p;
    while (block) {
        s_block_t *next = block->next;
        free (block);
        block = next;
    }
    *head_p = NULL;
}

//  --------------------------------------------------------------------
//  String-keyed index: slots hold (array index + 1), 0 is empty

typedef struct {
    uint32_t *slots;
    size_t mask;
} s_index_t;

static uint64_t
s_hash (const char *str)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *) str; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

//  Builds the index over keys[0 .. n-1]; a duplicate key keeps the first.
static void
s_index_build (s_index_t *index, const char *const *keys, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    index->slots = calloc (cap, sizeof *index->slots);
    assert (index->slots);
    index->mask = cap - 1;
    for (size_t i = 0; i < n; i++) {
        size_t slot = s_hash (keys[i]) & index->mask;
        bool dup = false;
        while (index->slots[slot] && !dup) {
            dup = strcmp (keys[index->slots[slot] - 1], keys[i]) == 0;
            slot = (slot + 1) & index->mask;
        }
        if (!dup)
            index->slots[slot] = (uint32_t) (i + 1);
    }
}

//  Position of key in keys, or -1.
static long
s_index_find (const s_index_t *index, const char *const *keys, const char *key)
{
    if (!key || !index->slots)
        return -1;
    size_t slot = s_hash (key) & index->mask;
    while (index->slots[slot]) {
        uint32_t i = index->slots[slot] - 1;
        if (strcmp (keys[i], key) == 0)
            return (long) i;
        slot = (slot + 1) & index->mask;
    }
    return -1;
}

//  --------------------------------------------------------------------
//  The directory

typedef struct {
    const char *code;
    const char *level;
    const char *parent;
    const char *name;
    size_t staff_first, staff_count;
    size_t pair_first, pair_count;
} s_unit_t;

typedef struct {
    uint64_t key;
    uint32_t first, count; //  slice of cell_members
    bool used;
} s_cell_t;

struct _gz_org_t {
    s_block_t *arena;
    int64_t generation; //  org.generation's value in the snapshot loaded

    s_unit_t *units;
    const char **unit_keys;
    size_t nunits;
    s_index_t unit_index;

    gz_building_t *buildings;
    const char **building_keys;
    size_t nbuildings;
    s_index_t building_index;

    gz_staff_t *staff;
    const char **staff_keys;
    size_t nstaff;
    s_index_t staff_index;

    const char **pair_departments; //  grouped by community
    size_t npairs;

    //  Spatial index
    double cell_dlat, cell_dlon; //  cell size in degrees
    double cos_lat0;             //  cosine of the mean latitude
    s_cell_t *cells;
    size_t cell_mask, ncells;
    uint32_t *cell_members; //  building indices grouped by cell
    double *cos_lat;        //  cosine of each building's latitude
};

static const char *
s_value (s_block_t **arena, PGresult *r, int row, int col)
{
    if (PQgetisnull (r, row, col))
        return NULL;
    return s_arena_strdup (arena, PQgetvalue (r, row, col));
}

static s_unit_t *
s_unit (gz_org_t *self, const char *code)
{
    long i = s_index_find (&self->unit_index, self->unit_keys, code);
    return i < 0 ? NULL : &self->units[i];
}

//  The parent of unit code if it exists and has the expected level.
static const char *
s_parent_at (gz_org_t *self, const char *code, const char *want_level)
{
    s_unit_t *unit = s_unit (self, code);
    if (!unit || !unit->parent)
        return NULL;
    s_unit_t *parent = s_unit (self, unit->parent);
    return parent && strcmp (parent->level, want_level) == 0 ? parent->code : NULL;
}

static void
s_load_units (gz_org_t *self, PGresult *r)
{
    self->nunits = (size_t) PQntuples (r);
    self->units = calloc (self->nunits + 1, sizeof *self->units);
    self->unit_keys = calloc (self->nunits + 1, sizeof *self->unit_keys);
    assert (self->units && self->unit_keys);
    for (size_t i = 0; i < self->nunits; i++) {
        s_unit_t *u = &self->units[i];
        u->code = s_value (&self->arena, r, (int) i, 0);
        u->level = s_value (&self->arena, r, (int) i, 1);
        u->parent = s_value (&self->arena, r, (int) i, 2);
        u->name = s_value (&self->arena, r, (int) i, 3);
        if (!u->code)
            u->code = "";
        if (!u->level)
            u->level = "";
        if (!u->name)
            u->name = "";
        self->unit_keys[i] = u->code;
    }
    s_index_build (&self->unit_index, self->unit_keys, self->nunits);
}

static void
s_load_buildings (gz_org_t *self, PGresult *r)
{
    self->nbuildings = (size_t) PQntuples (r);
    self->buildings = calloc (self->nbuildings + 1, sizeof *self->buildings);
    self->building_keys = calloc (self->nbuildings + 1, sizeof *self->building_keys);
    assert (self->buildings && self->building_keys);
    size_t broken = 0;
    for (size_t i = 0; i < self->nbuildings; i++) {
        gz_building_t *b = &self->buildings[i];
        int row = (int) i;
        b->code = s_value (&self->arena, r, row, 0);
        if (!b->code)
            b->code = "";
        b->grid_code = s_value (&self->arena, r, row, 1);
        b->name = s_value (&self->arena, r, row, 2);
        b->address = s_value (&self->arena, r, row, 3);
        b->lat = strtod (PQgetvalue (r, row, 4), NULL);
        b->lon = strtod (PQgetvalue (r, row, 5), NULL);
        if (!b->name)
            b->name = "";
        if (!b->address)
            b->address = "";
        //  The chain points at the units' own strings.
        s_unit_t *grid = s_unit (self, b->grid_code);
        if (grid && strcmp (grid->level, "grid") == 0) {
            b->grid_code = grid->code;
            b->community_code = s_parent_at (self, grid->code, "community");
        }
        else
            b->grid_code = NULL;
        if (b->community_code)
            b->subdistrict_code = s_parent_at (self, b->community_code, "subdistrict");
        if (b->subdistrict_code)
            b->district_code = s_parent_at (self, b->subdistrict_code, "district");
        if (!b->district_code)
            broken++;
        self->building_keys[i] = b->code;
    }
    if (broken)
        gz_warn (S_SVC, "msg=\"buildings without a full grid-to-district chain\" count=%zu",
                 broken);
    s_index_build (&self->building_index, self->building_keys, self->nbuildings);
}

//  Staff rows come ordered by unit, so each unit gets a contiguous slice.
static void
s_load_staff (gz_org_t *self, PGresult *r)
{
    self->nstaff = (size_t) PQntuples (r);
    self->staff = calloc (self->nstaff + 1, sizeof *self->staff);
    self->staff_keys = calloc (self->nstaff + 1, sizeof *self->staff_keys);
    assert (self->staff && self->staff_keys);
    for (size_t i = 0; i < self->nstaff; i++) {
        gz_staff_t *s = &self->staff[i];
        int row = (int) i;
        s->id = s_value (&self->arena, r, row, 0);
        s->name = s_value (&self->arena, r, row, 1);
        s->role = s_value (&self->arena, r, row, 2);
        s->unit_code = s_value (&self->arena, r, row, 3);
        s->phone = s_value (&self->arena, r, row, 4);
        s->on_duty = strcmp (PQgetvalue (r, row, 5), "t") == 0;
        s->max_open = (int) strtol (PQgetvalue (r, row, 6), NULL, 10);
        if (!s->id)
            s->id = "";
        if (!s->name)
            s->name = "";
        if (!s->role)
            s->role = "";
        if (!s->unit_code)
            s->unit_code = "";
        self->staff_keys[i] = s->id;
        s_unit_t *unit = s_unit (self, s->unit_code);
        if (unit) {
            if (unit->staff_count == 0)
                unit->staff_first = i;
            if (unit->staff_first + unit->staff_count == i)
                unit->staff_count++;
        }
    }
    s_index_build (&self->staff_index, self->staff_keys, self->nstaff);
}

static void
s_load_pairings (gz_org_t *self, PGresult *r)
{
    self->npairs = (size_t) PQntuples (r);
    self->pair_departments = calloc (self->npairs + 1, sizeof *self->pair_departments);
    assert (self->pair_departments);
    for (size_t i = 0; i < self->npairs; i++) {
        s_unit_t *community = s_unit (self, PQgetvalue (r, (int) i, 0));
        s_unit_t *department = s_unit (self, PQgetvalue (r, (int) i, 1));
        self->pair_departments[i] = department ? department->code : "";
        if (community) {
            if (community->pair_count == 0)
                community->pair_first = i;
            if (community->pair_first + community->pair_count == i)
                community->pair_count++;
        }
    }
}

//  --------------------------------------------------------------------
//  Spatial index

static uint64_t
s_cell_key (int64_t x, int64_t y)
{
    return ((uint64_t) (uint32_t) (int32_t) x << 32) | (uint32_t) (int32_t) y;
}

static uint64_t
s_mix (uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return key;
}

static void
s_cell_of (gz_org_t *self, double lat, double lon, int64_t *x, int64_t *y)
{
    *x = (int64_t) floor (lon / self->cell_dlon);
    *y = (int64_t) floor (lat / self->cell_dlat);
}

static const s_cell_t *
s_cell_find (gz_org_t *self, uint64_t key)
{
    size_t slot = s_mix (key) & self->cell_mask;
    while (self->cells[slot].used) {
        if (self->cells[slot].key == key)
            return &self->cells[slot];
        slot = (slot + 1) & self->cell_mask;
    }
    return NULL;
}

typedef struct {
    uint64_t key;
    uint32_t building;
} s_keyed_t;

static int
s_keyed_compare (const void *a, const void *b)
{
    const s_keyed_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->building < y->building ? -1 : x->building > y->building;
}

static void
s_spatial_build (gz_org_t *self)
{
    double sum = 0;
    for (size_t i = 0; i < self->nbuildings; i++)
        sum += self->buildings[i].lat;
    double lat0 = self->nbuildings ? sum / (double) self->nbuildings : 0;
    self->cos_lat0 = fmax (cos (lat0 * M_PI / 180.0), 0.01);
    self->cell_dlat = S_CELL_M / S_M_PER_DEG;
    self->cell_dlon = self->cell_dlat / self->cos_lat0;

    self->cos_lat = calloc (self->nbuildings + 1, sizeof *self->cos_lat);
    assert (self->cos_lat);
    for (size_t i = 0; i < self->nbuildings; i++)
        self->cos_lat[i] = cos (self->buildings[i].lat * M_PI / 180.0);

    s_keyed_t *keyed = calloc (self->nbuildings + 1, sizeof *keyed);
    self->cell_members = calloc (self->nbuildings + 1, sizeof *self->cell_members);
    assert (keyed && self->cell_members);
    for (size_t i = 0; i < self->nbuildings; i++) {
        int64_t x, y;
        s_cell_of (self, self->buildings[i].lat, self->buildings[i].lon, &x, &y);
        keyed[i].key = s_cell_key (x, y);
        keyed[i].building = (uint32_t) i;
    }
    qsort (keyed, self->nbuildings, sizeof *keyed, s_keyed_compare);
    size_t distinct = 0;
    for (size_t i = 0; i < self->nbuildings; i++)
        if (i == 0 || keyed[i].key != keyed[i - 1].key)
            distinct++;
    size_t cap = 16;
    while (cap < distinct * 2)
        cap *= 2;
    self->cells = calloc (cap, sizeof *self->cells);
    assert (self->cells);
    self->cell_mask = cap - 1;
    self->ncells = distinct;
    for (size_t i = 0; i < self->nbuildings;) {
        size_t j = i;
        while (j < self->nbuildings && keyed[j].key == keyed[i].key) {
            self->cell_members[j] = keyed[j].building;
            j++;
        }
        size_t slot = s_mix (keyed[i].key) & self->cell_mask;
        while (self->cells[slot].used)
            slot = (slot + 1) & self->cell_mask;
        self->cells[slot] = (s_cell_t){keyed[i].key, (uint32_t) i, (uint32_t) (j - i), true};
        i = j;
    }
    free (keyed);
}

//  --------------------------------------------------------------------
//  Public API

gz_org_t *
gz_org_load (gz_db_t *db)
{
    assert (db);
    if (gz_db_ensure (db))
        return NULL;
    gz_db_prepare (db, "gz_org_generation", S_GENERATION_SQL);
    gz_db_prepare (db, "gz_org_units",
                   "SELECT code, level, parent_code, name FROM org.units ORDER BY code");
    gz_db_prepare (db, "gz_org_buildings",
                   "SELECT code, grid_code, name, address, lat, lon"
                   " FROM org.buildings ORDER BY code");
    gz_db_prepare (db, "gz_org_staff",
                   "SELECT id, name, role, unit_code, phone, on_duty, coalesce(max_open, -1)"
                   " FROM org.staff ORDER BY unit_code, on_duty DESC, sort_order, id");
    gz_db_prepare (db, "gz_org_pairings",
                   "SELECT community_code, department_code FROM org.pairings"
                   " ORDER BY community_code, department_code");

    //  One snapshot for all four reads, unless the caller is already in a
    //  transaction (then theirs is used).
    bool own_tx = PQtransactionStatus (gz_db_conn (db)) == PQTRANS_IDLE;
    if (own_tx && gz_db_command (db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")) {
        gz_error (S_SVC, "msg=\"org load failed\" error=\"%s\"", gz_db_error (db));
        return NULL;
    }
    //  The counter first, in the same snapshot: the copy is exactly the
    //  directory at this generation.
    PGresult *gen = gz_db_exec (db, "gz_org_generation", 0, NULL);
    PGresult *units = gen ? gz_db_exec (db, "gz_org_units", 0, NULL) : NULL;
    PGresult *buildings = units ? gz_db_exec (db, "gz_org_buildings", 0, NULL) : NULL;
    PGresult *staff = buildings ? gz_db_exec (db, "gz_org_staff", 0, NULL) : NULL;
    PGresult *pairings = staff ? gz_db_exec (db, "gz_org_pairings", 0, NULL) : NULL;
    gz_org_t *self = NULL;
    if (!pairings)
        gz_error (S_SVC, "msg=\"org load failed\" sqlstate=%s error=\"%s\"", gz_db_sqlstate (db),
                  gz_db_error (db));
    else {
        self = calloc (1, sizeof *self);
        assert (self);
        if (PQntuples (gen) == 1)
            self->generation = strtoll (PQgetvalue (gen, 0, 0), NULL, 10);
        s_load_units (self, units);
        s_load_buildings (self, buildings);
        s_load_staff (self, staff);
        s_load_pairings (self, pairings);
        s_spatial_build (self);
        gz_debug (S_SVC, "msg=\"org loaded\" units=%zu buildings=%zu staff=%zu pairings=%zu",
                  self->nunits, self->nbuildings, self->nstaff, self->npairs);
    }
    PQclear (gen);
    PQclear (units);
    PQclear (buildings);
    PQclear (staff);
    PQclear (pairings);
    if (own_tx)
        gz_db_rollback (db); //  read-only: nothing to commit
    return self;
}

int64_t
gz_org_generation (gz_org_t *self)
{
    assert (self);
    return self->generation;
}

int64_t
gz_org_generation_now (gz_db_t *db)
{
    assert (db);
    if (gz_db_ensure (db))
        return -1;
    gz_db_prepare (db, "gz_org_generation", S_GENERATION_SQL);
    PGresult *r = gz_db_exec (db, "gz_org_generation", 0, NULL);
    if (!r)
        return -1;
    int64_t value = PQntuples (r) == 1 ? strtoll (PQgetvalue (r, 0, 0), NULL, 10) : -1;
    PQclear (r);
    return value;
}

void
gz_org_destroy (gz_org_t **self_p)
{
    assert (self_p);
    gz_org_t *self = *self_p;
    if (!self)
        return;
    s_arena_destroy (&self->arena);
    free (self->units);
    free (self->unit_keys);
    free (self->unit_index.slots);
    free (self->buildings);
    free (self->building_keys);
    free (self->building_index.slots);
    free (self->staff);
    free (self->staff_keys);
    free (self->staff_index.slots);
    free (self->pair_departments);
    free (self->cells);
    free (self->cell_members);
    free (self->cos_lat);
    free (self);
    *self_p = NULL;
}

size_t
gz_org_building_count (gz_org_t *self)
{
    assert (self);
    return self->nbuildings;
}

const gz_building_t *
gz_org_building (gz_org_t *self, const char *code)
{
    assert (self);
    long i = s_index_find (&self->building_index, self->building_keys, code);
    return i < 0 ? NULL : &self->buildings[i];
}

const gz_building_t *
gz_org_building_at (gz_org_t *self, size_t index)
{
    assert (self);
    return index < self->nbuildings ? &self->buildings[index] : NULL;
}

double
gz_geo_distance_m (double lat1, double lon1, double lat2, double lon2)
{
    const double rad = M_PI / 180.0;
    double dphi = (lat2 - lat1) * rad;
    double dlambda = (lon2 - lon1) * rad;
    double s1 = sin (dphi / 2), s2 = sin (dlambda / 2);
    double a = s1 * s1 + cos (lat1 * rad) * cos (lat2 * rad) * s2 * s2;
    return 2 * S_EARTH_M * asin (fmin (1.0, sqrt (a)));
}

//  A nearest-building search. Candidates are compared by the haversine
//  term a = hav(dlat) + cos(lat1) cos(lat2) hav(dlon), which grows with
//  the distance, so only the winner pays for sqrt and asin; building
//  cosines are computed once at load.
typedef struct {
    double lat, lon, cos_lat; //  the query point (degrees; cosine)
    long best;                //  building index, -1 none
    double best_a, best_d;
} s_search_t;

static void
s_consider (gz_org_t *self, s_search_t *q, uint32_t index)
{
    const double rad = M_PI / 180.0;
    const gz_building_t *b = &self->buildings[index];
    double s1 = sin ((b->lat - q->lat) * rad / 2);
    double s2 = sin ((b->lon - q->lon) * rad / 2);
    double a = s1 * s1 + q->cos_lat * self->cos_lat[index] * s2 * s2;
    //  Ties go to the lower index, whichever order cells are visited in.
    if (a < q->best_a || (a == q->best_a && (long) index < q->best)) {
        q->best_a = a;
        q->best = (long) index;
        q->best_d = 2 * S_EARTH_M * asin (fmin (1.0, sqrt (a)));
    }
}

static void
s_scan_cell (gz_org_t *self, s_search_t *q, int64_t x, int64_t y)
{
    const s_cell_t *cell = s_cell_find (self, s_cell_key (x, y));
    for (uint32_t k = 0; cell && k < cell->count; k++)
        s_consider (self, q, self->cell_members[cell->first + k]);
}

const gz_building_t *
gz_org_nearest (gz_org_t *self, double lat, double lon, double max_m, double *dist_m)
{
    assert (self);
    if (dist_m)
        *dist_m = -1;
    //  Outside input: reject what is not a position.
    if (!isfinite (lat) || !isfinite (lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180 ||
        isnan (max_m) || max_m < 0 || self->nbuildings == 0)
        return NULL;

    s_search_t q = {lat, lon, cos (lat * M_PI / 180.0), -1, INFINITY, INFINITY};
    int64_t qx, qy;
    s_cell_of (self, lat, lon, &qx, &qy);
    //  Beyond this many cells a linear scan is cheaper than more rings.
    double ring_limit = 4.0 * (double) self->ncells + 64;
    bool done = false;
    for (int64_t r = 0; !done; r++) {
        double side = 2.0 * (double) r + 1;
        if (side * side > ring_limit) {
            for (size_t i = 0; i < self->nbuildings; i++)
                s_consider (self, &q, (uint32_t) i);
            break;
        }
        if (r == 0)
            s_scan_cell (self, &q, qx, qy);
        else {
            for (int64_t dx = -r; dx <= r; dx++) {
                s_scan_cell (self, &q, qx + dx, qy - r);
                s_scan_cell (self, &q, qx + dx, qy + r);
            }
            for (int64_t dy = -r + 1; dy <= r - 1; dy++) {
                s_scan_cell (self, &q, qx - r, qy + dy);
                s_scan_cell (self, &q, qx + r, qy + dy);
            }
        }
        //  Anything in ring r+1 is at least r cells away along one axis.
        //  Along longitude a cell shrinks with cos(latitude): use the
        //  farthest latitude such a cell may sit at, and a safety margin.
        double far_lat = fmin (fabs (lat) + (double) (r + 1) * self->cell_dlat, 89.999);
        double shrink = fmin (1.0, cos (far_lat * M_PI / 180.0) / self->cos_lat0) * 0.995;
        double bound = (double) r * S_CELL_M * shrink;
        if (q.best_d <= bound || bound > max_m)
            done = true;
    }
    if (q.best < 0 || q.best_d > max_m)
        return NULL;
    if (dist_m)
        *dist_m = q.best_d;
    return &self->buildings[q.best];
}

size_t
gz_org_unit_count (gz_org_t *self)
{
    assert (self);
    return self->nunits;
}

const char *
gz_org_unit_name (gz_org_t *self, const char *code)
{
    assert (self);
    s_unit_t *unit = s_unit (self, code);
    return unit ? unit->name : NULL;
}

const char *
gz_org_unit_level (gz_org_t *self, const char *code)
{
    assert (self);
    s_unit_t *unit = s_unit (self, code);
    return unit ? unit->level : NULL;
}

const char *
gz_org_unit_parent (gz_org_t *self, const char *code)
{
    assert (self);
    s_unit_t *unit = s_unit (self, code);
    return unit ? unit->parent : NULL;
}

size_t
gz_org_staff_count (gz_org_t *self)
{
    assert (self);
    return self->nstaff;
}

const gz_staff_t *
gz_org_staff (gz_org_t *self, const char *id)
{
    assert (self);
    long i = s_index_find (&self->staff_index, self->staff_keys, id);
    return i < 0 ? NULL : &self->staff[i];
}

size_t
gz_org_unit_staff (gz_org_t *self, const char *unit_code, const char *role, const gz_staff_t **out,
                   size_t max)
{
    assert (self);
    s_unit_t *unit = s_unit (self, unit_code);
    if (!unit)
        return 0;
    size_t found = 0;
    for (size_t i = unit->staff_first; i < unit->staff_first + unit->staff_count; i++) {
        const gz_staff_t *s = &self->staff[i];
        if (role && strcmp (s->role, role) != 0)
            continue;
        if (out && found < max)
            out[found] = s;
        found++;
    }
    return found;
}

size_t
gz_org_paired_departments (gz_org_t *self, const char *community_code, const char **out, size_t max)
{
    assert (self);
    s_unit_t *unit = s_unit (self, community_code);
    if (!unit)
        return 0;
    for (size_t i = 0; out && i < unit->pair_count && i < max; i++)
        out[i] = self->pair_departments[unit->pair_first + i];
    return unit->pair_count;
}
