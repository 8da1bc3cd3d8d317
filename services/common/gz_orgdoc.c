/*  gz_orgdoc: validate an org directory document and write it to the org
    schema. See gz_orgdoc.h; the format is docs/org-format.md.

    DESIGN: a document is the parsed JSON (kept alive by a reference) plus
    arrays of typed rows whose strings point into it. gz_orgdoc_new checks
    every field of every row, then every reference between rows, and
    collects all problems instead of stopping at the first, so an operator
    fixes a file in one round. Codes are indexed with jansson objects (hash
    tables) while validating. Writing the document to the schema is
    gz_orgdoc_apply.c; gz_orgdoc_private.h holds the rows both use.  */
#include "gz_orgdoc_private.h"
#include "gz_log.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_SVC "orgdoc"
#define S_FORMAT "gongzhi-org/1"
#define S_MAX_ERRORS 100
#define S_MAX_NAME 200
#define S_MAX_ADDRESS 500
#define S_MAX_CODE 64

//  --------------------------------------------------------------------
//  Levels and roles

static const char *s_level_names[GZ_ORG_LEVELS] = {"district", "subdistrict", "community", "grid",
                                                   "department"};
static const char *s_level_labels[GZ_ORG_LEVELS] = {"区", "街道", "社区", "网格", "区直部门"};
//  The level a unit's parent must have; -1: no parent (district).
static const int s_parent_level[GZ_ORG_LEVELS] = {-1, GZ_ORG_DISTRICT, GZ_ORG_SUBDISTRICT,
                                                  GZ_ORG_COMMUNITY, GZ_ORG_DISTRICT};

static const char *s_role_names[GZ_ORG_ROLES] = {"grid_worker",
                                                 "grid_cadre",
                                                 "community_duty",
                                                 "community_secretary",
                                                 "subdistrict_coordinator",
                                                 "department_contact",
                                                 "district_leader",
                                                 "callback_operator"};
static const char *s_role_labels[GZ_ORG_ROLES] = {
    "网格员", "下沉干部", "社区值班", "社区书记", "街道协调员", "部门联络员", "区领导", "回访员"};
//  The level of the unit a role serves.
static const int s_role_level[GZ_ORG_ROLES] = {
    GZ_ORG_GRID,        GZ_ORG_GRID,       GZ_ORG_COMMUNITY, GZ_ORG_COMMUNITY,
    GZ_ORG_SUBDISTRICT, GZ_ORG_DEPARTMENT, GZ_ORG_DISTRICT,  GZ_ORG_SUBDISTRICT};

const char *
gz_org_level_name (gz_org_level_t level)
{
    assert (level >= 0 && level < GZ_ORG_LEVELS);
    return s_level_names[level];
}

const char *
gz_org_level_label (gz_org_level_t level)
{
    assert (level >= 0 && level < GZ_ORG_LEVELS);
    return s_level_labels[level];
}

const char *
gz_org_role_name (gz_org_role_t role)
{
    assert (role >= 0 && role < GZ_ORG_ROLES);
    return s_role_names[role];
}

const char *
gz_org_role_label (gz_org_role_t role)
{
    assert (role >= 0 && role < GZ_ORG_ROLES);
    return s_role_labels[role];
}

static int
s_lookup (const char *const *names, int n, const char *name)
{
    for (int i = 0; name && i < n; i++)
        if (strcmp (names[i], name) == 0)
            return i;
    return -1;
}

int
gz_orgdoc_level_of (const char *name)
{
    return s_lookup (s_level_names, GZ_ORG_LEVELS, name);
}

int
gz_orgdoc_role_of (const char *name)
{
    return s_lookup (s_role_names, GZ_ORG_ROLES, name);
}

//  --------------------------------------------------------------------
//  Error collection

typedef struct {
    char *buf;
    size_t len, cap;
    size_t count;
} s_errors_t;

static void s_err (s_errors_t *errors, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_err (s_errors_t *errors, const char *fmt, ...)
{
    errors->count++;
    if (errors->count > S_MAX_ERRORS)
        return;
    va_list args;
    va_start (args, fmt);
    char *line = NULL;
    int n = vasprintf (&line, fmt, args);
    va_end (args);
    if (n < 0)
        abort (); //  out of memory
    size_t need = errors->len + (size_t) n + 2;
    if (need > errors->cap) {
        errors->cap = need * 2;
        errors->buf = realloc (errors->buf, errors->cap);
        assert (errors->buf);
    }
    memcpy (errors->buf + errors->len, line, (size_t) n);
    errors->len += (size_t) n;
    errors->buf[errors->len++] = '\n';
    errors->buf[errors->len] = 0;
    free (line);
}

//  Hand the collected text to the caller (or drop it).
static void
s_errors_finish (s_errors_t *errors, char **errors_p)
{
    if (errors->count > S_MAX_ERRORS) {
        char tail[64];
        snprintf (tail, sizeof tail, "... and %zu more errors\n", errors->count - S_MAX_ERRORS);
        size_t n = strlen (tail);
        errors->buf = realloc (errors->buf, errors->len + n + 1);
        assert (errors->buf);
        memcpy (errors->buf + errors->len, tail, n + 1);
        errors->len += n;
    }
    if (errors_p)
        *errors_p = errors->buf;
    else
        free (errors->buf);
    errors->buf = NULL;
}

void
gz_orgdoc_clean (const char *text, char *out, size_t size)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *) text; *p && n + 4 < size; p++)
        out[n++] = (*p < 0x20 || *p == 0x7f || *p == '"') ? '?' : (char) *p;
    while (n > 0 && ((unsigned char) out[n - 1] & 0xC0) == 0x80)
        n--;
    if (n > 0 && ((unsigned char) out[n - 1] & 0xC0) == 0xC0)
        n--;
    out[n] = 0;
}

//  --------------------------------------------------------------------
//  Field readers: each reports its own problems and returns NULL/-1

static bool
s_is_code (const char *s)
{
    size_t n = strlen (s);
    if (n == 0 || n > S_MAX_CODE)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    return true;
}

static bool
s_is_phone (const char *s)
{
    size_t n = strlen (s);
    if (n < 3 || n > 32)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '+' || *p == '(' || *p == ')' || *p == ' ' ||
              *p == '-'))
            return false;
    return true;
}

//  A string member: NULL when absent, null or invalid (reported).
static const char *
s_string (s_errors_t *e, json_t *obj, const char *path, const char *key, bool required,
          size_t max_chars)
{
    json_t *value = json_object_get (obj, key);
    if (!value || json_is_null (value)) {
        if (required)
            s_err (e, "%s.%s: required", path, key);
        return NULL;
    }
    if (!json_is_string (value)) {
        s_err (e, "%s.%s: must be a string", path, key);
        return NULL;
    }
    const char *s = json_string_value (value);
    if (json_string_length (value) != strlen (s)) {
        s_err (e, "%s.%s: contains a NUL character", path, key);
        return NULL;
    }
    if (required && !*s) {
        s_err (e, "%s.%s: must not be empty", path, key);
        return NULL;
    }
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            s_err (e, "%s.%s: contains a control character", path, key);
            return NULL;
        }
        if ((*p & 0xC0) != 0x80)
            chars++;
    }
    if (chars > max_chars) {
        s_err (e, "%s.%s: longer than %zu characters", path, key, max_chars);
        return NULL;
    }
    return s;
}

static const char *
s_code (s_errors_t *e, json_t *obj, const char *path, const char *key, bool required)
{
    const char *s = s_string (e, obj, path, key, required, S_MAX_CODE);
    if (s && !s_is_code (s)) {
        s_err (e, "%s.%s: not a valid code (1-%d characters of A-Z a-z 0-9 . _ -)", path, key,
               S_MAX_CODE);
        return NULL;
    }
    return s;
}

static const char *
s_phone (s_errors_t *e, json_t *obj, const char *path, const char *key)
{
    const char *s = s_string (e, obj, path, key, false, 32);
    if (s && !s_is_phone (s)) {
        s_err (e, "%s.%s: not a phone number (3-32 characters of 0-9 + - ( ) and space)", path,
               key);
        return NULL;
    }
    return s;
}

//  A number member in [min, max]: 0 set, 1 absent (out unchanged), -1 bad.
static int
s_number (s_errors_t *e, json_t *obj, const char *path, const char *key, bool required, double min,
          double max, double *out)
{
    json_t *value = json_object_get (obj, key);
    if (!value || json_is_null (value)) {
        if (required) {
            s_err (e, "%s.%s: required", path, key);
            return -1;
        }
        return 1;
    }
    if (!json_is_number (value)) {
        s_err (e, "%s.%s: must be a number", path, key);
        return -1;
    }
    double d = json_number_value (value);
    if (!isfinite (d) || d < min || d > max) {
        s_err (e, "%s.%s: out of range (%.10g, want %g..%g)", path, key, d, min, max);
        return -1;
    }
    *out = d;
    return 0;
}

static int
s_integer (s_errors_t *e, json_t *obj, const char *path, const char *key, long min, long max,
           long *out)
{
    json_t *value = json_object_get (obj, key);
    if (!value || json_is_null (value))
        return 1;
    if (!json_is_integer (value)) {
        s_err (e, "%s.%s: must be an integer", path, key);
        return -1;
    }
    json_int_t n = json_integer_value (value);
    if (n < min || n > max) {
        s_err (e, "%s.%s: out of range (%lld, want %ld..%ld)", path, key, (long long) n, min, max);
        return -1;
    }
    *out = (long) n;
    return 0;
}

static int
s_boolean (s_errors_t *e, json_t *obj, const char *path, const char *key, bool *out)
{
    json_t *value = json_object_get (obj, key);
    if (!value || json_is_null (value))
        return 1;
    if (!json_is_boolean (value)) {
        s_err (e, "%s.%s: must be true or false", path, key);
        return -1;
    }
    *out = json_is_true (value);
    return 0;
}

//  Reports members not in allowed (NULL-terminated): typos must not pass.
static void
s_known_fields (s_errors_t *e, json_t *obj, const char *path, const char *const *allowed)
{
    const char *key;
    json_t *value;
    json_object_foreach (obj, key, value)
    {
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp (*a, key) == 0;
        if (!known) {
            char clean[80];
            gz_orgdoc_clean (key, clean, sizeof clean);
            s_err (e, "%s: unknown field \"%s\"", path, clean);
        }
    }
}

//  Registers code at index in map; reports a duplicate. True when new.
static bool
s_register (s_errors_t *e, json_t *map, const char *code, size_t index, const char *path,
            const char *key, const char *section)
{
    json_t *seen = json_object_get (map, code);
    if (seen) {
        s_err (e, "%s.%s: duplicate \"%s\" (first at %s[%lld])", path, key, code, section,
               (long long) json_integer_value (seen));
        return false;
    }
    json_object_set_new (map, code, json_integer ((json_int_t) index));
    return true;
}

//  The index registered for code, or -1.
static long
s_find (json_t *map, const char *code)
{
    json_t *seen = code ? json_object_get (map, code) : NULL;
    return seen ? (long) json_integer_value (seen) : -1;
}

//  --------------------------------------------------------------------
//  Validation

static json_t *
s_section (s_errors_t *e, json_t *root, const char *key, bool required)
{
    json_t *list = json_object_get (root, key);
    if (!list || json_is_null (list)) {
        if (required)
            s_err (e, "%s: required (an array)", key);
        return NULL;
    }
    if (!json_is_array (list)) {
        s_err (e, "%s: must be an array", key);
        return NULL;
    }
    return list;
}

static void
s_read_units (gz_orgdoc_t *self, s_errors_t *e, json_t *list, json_t *map)
{
    static const char *const fields[] = {"code",  "level",      "parent",    "name",
                                         "phone", "sort_order", "synthetic", NULL};
    self->nunits = list ? json_array_size (list) : 0;
    self->units = calloc (self->nunits + 1, sizeof *self->units);
    assert (self->units);
    for (size_t i = 0; i < self->nunits; i++) {
        char path[48];
        snprintf (path, sizeof path, "units[%zu]", i);
        json_t *obj = json_array_get (list, i);
        gz_orgdoc_unit_t *u = &self->units[i];
        u->level = -1;
        if (!json_is_object (obj)) {
            s_err (e, "%s: must be an object", path);
            continue;
        }
        s_known_fields (e, obj, path, fields);
        u->code = s_code (e, obj, path, "code", true);
        const char *level = s_string (e, obj, path, "level", true, 32);
        u->level = gz_orgdoc_level_of (level);
        if (level && u->level < 0)
            s_err (e,
                   "%s.level: unknown level (want district, subdistrict, community, grid or "
                   "department)",
                   path);
        u->name = s_string (e, obj, path, "name", true, S_MAX_NAME);
        u->phone = s_phone (e, obj, path, "phone");
        s_integer (e, obj, path, "sort_order", -1000000000L, 1000000000L, &u->sort_order);
        s_boolean (e, obj, path, "synthetic", &u->synthetic);
        //  parent: checked once every code is known
        json_t *parent = json_object_get (obj, "parent");
        if (parent && !json_is_null (parent))
            u->parent = s_code (e, obj, path, "parent", false);
        if (u->code)
            s_register (e, map, u->code, i, path, "code", "units");
    }
    size_t districts = 0;
    for (size_t i = 0; i < self->nunits; i++) {
        gz_orgdoc_unit_t *u = &self->units[i];
        if (u->level < 0)
            continue;
        char path[48];
        snprintf (path, sizeof path, "units[%zu]", i);
        int want = s_parent_level[u->level];
        json_t *parent = json_object_get (json_array_get (list, i), "parent");
        bool has_parent = parent && !json_is_null (parent);
        if (u->level == GZ_ORG_DISTRICT)
            districts++;
        if (want < 0) {
            if (has_parent)
                s_err (e, "%s.parent: a district has no parent", path);
            continue;
        }
        if (!has_parent) {
            s_err (e, "%s.parent: required for a %s (the code of its %s)", path,
                   s_level_names[u->level], s_level_names[want]);
            continue;
        }
        if (!u->parent)
            continue; //  reported by s_code
        long p = s_find (map, u->parent);
        if (p < 0)
            s_err (e, "%s.parent: unknown unit \"%s\"", path, u->parent);
        else if (self->units[p].level >= 0 && self->units[p].level != want)
            s_err (e, "%s.parent: \"%s\" is a %s; the parent of a %s must be a %s", path, u->parent,
                   s_level_names[self->units[p].level], s_level_names[u->level],
                   s_level_names[want]);
    }
    if (list && districts == 0)
        s_err (e, "units: no district (a directory needs at least one unit of level district)");
}

//  Reports unless code names a unit of the wanted level.
static void
s_check_ref (gz_orgdoc_t *self, s_errors_t *e, json_t *map, const char *path, const char *key,
             const char *code, int want)
{
    if (!code)
        return;
    long i = s_find (map, code);
    if (i < 0)
        s_err (e, "%s.%s: unknown unit \"%s\"", path, key, code);
    else if (self->units[i].level >= 0 && self->units[i].level != want)
        s_err (e, "%s.%s: \"%s\" is a %s, not a %s", path, key, code,
               s_level_names[self->units[i].level], s_level_names[want]);
}

static void
s_read_buildings (gz_orgdoc_t *self, s_errors_t *e, json_t *list, json_t *units)
{
    static const char *const fields[] = {"code", "grid",       "name",       "address",   "lat",
                                         "lon",  "households", "sort_order", "synthetic", NULL};
    json_t *map = json_object ();
    self->nbuildings = list ? json_array_size (list) : 0;
    self->buildings = calloc (self->nbuildings + 1, sizeof *self->buildings);
    assert (self->buildings);
    for (size_t i = 0; i < self->nbuildings; i++) {
        char path[48];
        snprintf (path, sizeof path, "buildings[%zu]", i);
        json_t *obj = json_array_get (list, i);
        gz_orgdoc_building_t *b = &self->buildings[i];
        if (!json_is_object (obj)) {
            s_err (e, "%s: must be an object", path);
            continue;
        }
        s_known_fields (e, obj, path, fields);
        b->code = s_code (e, obj, path, "code", true);
        b->grid = s_code (e, obj, path, "grid", true);
        b->name = s_string (e, obj, path, "name", true, S_MAX_NAME);
        b->address = s_string (e, obj, path, "address", false, S_MAX_ADDRESS);
        s_number (e, obj, path, "lat", true, -90, 90, &b->lat);
        s_number (e, obj, path, "lon", true, -180, 180, &b->lon);
        s_integer (e, obj, path, "households", 0, 1000000, &b->households);
        s_integer (e, obj, path, "sort_order", -1000000000L, 1000000000L, &b->sort_order);
        s_boolean (e, obj, path, "synthetic", &b->synthetic);
        if (b->code)
            s_register (e, map, b->code, i, path, "code", "buildings");
        s_check_ref (self, e, units, path, "grid", b->grid, GZ_ORG_GRID);
    }
    json_decref (map);
}

static void
s_read_staff (gz_orgdoc_t *self, s_errors_t *e, json_t *list, json_t *units)
{
    static const char *const fields[] = {"id",      "name",     "role",       "unit",      "phone",
                                         "on_duty", "max_open", "sort_order", "synthetic", NULL};
    json_t *map = json_object ();
    self->nstaff = list ? json_array_size (list) : 0;
    self->staff = calloc (self->nstaff + 1, sizeof *self->staff);
    assert (self->staff);
    for (size_t i = 0; i < self->nstaff; i++) {
        char path[48];
        snprintf (path, sizeof path, "staff[%zu]", i);
        json_t *obj = json_array_get (list, i);
        gz_orgdoc_staff_t *s = &self->staff[i];
        s->on_duty = true;
        s->max_open = -1;
        if (!json_is_object (obj)) {
            s_err (e, "%s: must be an object", path);
            continue;
        }
        s_known_fields (e, obj, path, fields);
        s->id = s_code (e, obj, path, "id", true);
        s->name = s_string (e, obj, path, "name", true, S_MAX_NAME);
        const char *role = s_string (e, obj, path, "role", true, 32);
        s->role = gz_orgdoc_role_of (role);
        if (role && s->role < 0)
            s_err (e,
                   "%s.role: unknown role (want grid_worker, grid_cadre, community_duty, "
                   "community_secretary, subdistrict_coordinator, department_contact, "
                   "district_leader or callback_operator)",
                   path);
        s->unit = s_code (e, obj, path, "unit", true);
        s->phone = s_phone (e, obj, path, "phone");
        s_boolean (e, obj, path, "on_duty", &s->on_duty);
        s_integer (e, obj, path, "max_open", 0, 1000000, &s->max_open);
        s_integer (e, obj, path, "sort_order", -1000000000L, 1000000000L, &s->sort_order);
        s_boolean (e, obj, path, "synthetic", &s->synthetic);
        if (s->id)
            s_register (e, map, s->id, i, path, "id", "staff");
        if (s->role >= 0)
            s_check_ref (self, e, units, path, "unit", s->unit, s_role_level[s->role]);
    }
    json_decref (map);
}

static void
s_read_pairings (gz_orgdoc_t *self, s_errors_t *e, json_t *list, json_t *units)
{
    static const char *const fields[] = {"department", "community", NULL};
    json_t *map = json_object ();
    self->npairings = list ? json_array_size (list) : 0;
    self->pairings = calloc (self->npairings + 1, sizeof *self->pairings);
    assert (self->pairings);
    for (size_t i = 0; i < self->npairings; i++) {
        char path[48];
        snprintf (path, sizeof path, "pairings[%zu]", i);
        json_t *obj = json_array_get (list, i);
        gz_orgdoc_pairing_t *p = &self->pairings[i];
        if (!json_is_object (obj)) {
            s_err (e, "%s: must be an object", path);
            continue;
        }
        s_known_fields (e, obj, path, fields);
        p->department = s_code (e, obj, path, "department", true);
        p->community = s_code (e, obj, path, "community", true);
        s_check_ref (self, e, units, path, "department", p->department, GZ_ORG_DEPARTMENT);
        s_check_ref (self, e, units, path, "community", p->community, GZ_ORG_COMMUNITY);
        if (p->department && p->community) {
            char key[2 * S_MAX_CODE + 2];
            snprintf (key, sizeof key, "%s|%s", p->department, p->community);
            json_t *seen = json_object_get (map, key);
            if (seen)
                s_err (e, "%s: duplicate pairing (first at pairings[%lld])", path,
                       (long long) json_integer_value (seen));
            else
                json_object_set_new (map, key, json_integer ((json_int_t) i));
        }
    }
    json_decref (map);
}

gz_orgdoc_t *
gz_orgdoc_new (json_t *root, char **errors_p)
{
    if (errors_p)
        *errors_p = NULL;
    s_errors_t errors = {0};
    gz_orgdoc_t *self = calloc (1, sizeof *self);
    assert (self);
    self->root = json_incref (root);
    if (!json_is_object (root))
        s_err (&errors, "(document): must be a JSON object with units, buildings, staff, "
                        "pairings");
    else {
        static const char *const fields[] = {"format", "units",    "buildings",
                                             "staff",  "pairings", NULL};
        s_known_fields (&errors, root, "(document)", fields);
        const char *format = s_string (&errors, root, "(document)", "format", false, 64);
        if (format && strcmp (format, S_FORMAT) != 0)
            s_err (&errors, "format: unsupported (want \"%s\")", S_FORMAT);
        json_t *units = json_object ();
        s_read_units (self, &errors, s_section (&errors, root, "units", true), units);
        s_read_buildings (self, &errors, s_section (&errors, root, "buildings", false), units);
        s_read_staff (self, &errors, s_section (&errors, root, "staff", false), units);
        s_read_pairings (self, &errors, s_section (&errors, root, "pairings", false), units);
        json_decref (units);
    }
    if (errors.count) {
        gz_orgdoc_destroy (&self);
        s_errors_finish (&errors, errors_p);
        return NULL;
    }
    free (errors.buf);
    return self;
}

gz_orgdoc_t *
gz_orgdoc_load (const char *path, char **errors_p)
{
    assert (path);
    json_error_t error;
    //  Duplicate keys are rejected: in a directory they are always a slip.
    json_t *root = json_load_file (path, JSON_REJECT_DUPLICATES, &error);
    if (!root) {
        if (errors_p) {
            //  jansson says "unable to decode byte 0xff": name the cause.
            const char *hint = strstr (error.text, "decode byte") ? " (not valid UTF-8)" : "";
            if (asprintf (errors_p, "%s:%d:%d: %s%s\n", path, error.line, error.column, error.text,
                          hint) < 0)
                abort (); //  out of memory
        }
        return NULL;
    }
    gz_orgdoc_t *self = gz_orgdoc_new (root, errors_p);
    json_decref (root);
    return self;
}

void
gz_orgdoc_destroy (gz_orgdoc_t **self_p)
{
    assert (self_p);
    gz_orgdoc_t *self = *self_p;
    if (!self)
        return;
    free (self->units);
    free (self->buildings);
    free (self->staff);
    free (self->pairings);
    json_decref (self->root);
    free (self);
    *self_p = NULL;
}

void
gz_orgdoc_stats (gz_orgdoc_t *self, gz_orgstats_t *stats)
{
    assert (self && stats);
    memset (stats, 0, sizeof *stats);
    for (size_t i = 0; i < self->nunits; i++)
        stats->units[self->units[i].level]++;
    stats->buildings = self->nbuildings;
    for (size_t i = 0; i < self->nbuildings; i++)
        stats->households += (size_t) self->buildings[i].households;
    for (size_t i = 0; i < self->nstaff; i++)
        stats->staff[self->staff[i].role]++;
    stats->pairings = self->npairings;
}

void
gz_orgstats_print (const gz_orgstats_t *stats, FILE *out)
{
    assert (stats && out);
    char key[64];
    for (int i = 0; i < GZ_ORG_LEVELS; i++) {
        snprintf (key, sizeof key, "units.%s", s_level_names[i]);
        fprintf (out, "%-32s %8zu  %s\n", key, stats->units[i], s_level_labels[i]);
    }
    fprintf (out, "%-32s %8zu  %s\n", "buildings", stats->buildings, "楼栋");
    fprintf (out, "%-32s %8zu  %s\n", "households", stats->households, "户");
    size_t total = 0;
    for (int i = 0; i < GZ_ORG_ROLES; i++) {
        snprintf (key, sizeof key, "staff.%s", s_role_names[i]);
        fprintf (out, "%-32s %8zu  %s\n", key, stats->staff[i], s_role_labels[i]);
        total += stats->staff[i];
    }
    fprintf (out, "%-32s %8zu  %s\n", "staff.total", total, "人员合计");
    fprintf (out, "%-32s %8zu  %s\n", "pairings", stats->pairings, "结对");
}
