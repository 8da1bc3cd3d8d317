/*  matching_instance: parses and writes the text form of a matching
    instance (format in the header). Pure: no database, no sockets; the
    whole of `gzctl match solve` but the process's stdin and stdout.

    DESIGN. Ids live in fixed 65-byte slots, one array per name space,
    with an open-addressing hash (FNV-1a, linear probing, kept at most
    half full) from id to index; 10,000 needs and 50,000 volunteers cost
    a few megabytes. Lines are parsed one at a time, so the first error
    names its line and nothing after it is read.  */
#include "matching_instance.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define S_ID_MAX 64

typedef struct {
    char id[S_ID_MAX + 1];
} s_id_t;

typedef struct {
    s_id_t *ids;
    size_t count, alloc;
    int32_t *slots; //  index + 1, 0 = empty
    size_t slot_count;
} s_names_t;

typedef struct {
    int32_t need, volunteer;
    int64_t cost;
} s_edge_t;

struct _matching_instance_t {
    s_names_t needs, volunteers;
    int64_t *cap; //  per volunteer, alongside volunteers.ids
    s_edge_t *edges;
    size_t edge_count, edge_alloc;
};

static void *
s_grow (void *p, size_t *alloc, size_t size)
{
    *alloc = *alloc ? *alloc * 2 : 256;
    p = realloc (p, *alloc * size);
    if (!p)
        abort ();
    return p;
}

static uint64_t
s_hash (const char *id)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *id; id++)
        h = (h ^ (unsigned char) *id) * 1099511628211ULL;
    return h;
}

//  The index of id in names, or -1.
static int32_t
s_names_find (const s_names_t *names, const char *id)
{
    if (names->slot_count == 0)
        return -1;
    size_t mask = names->slot_count - 1;
    for (size_t k = s_hash (id) & mask;; k = (k + 1) & mask) {
        int32_t slot = names->slots[k];
        if (slot == 0)
            return -1;
        if (strcmp (names->ids[slot - 1].id, id) == 0)
            return slot - 1;
    }
}

static void
s_names_slot (s_names_t *names, int32_t index)
{
    size_t mask = names->slot_count - 1;
    size_t k = s_hash (names->ids[index].id) & mask;
    while (names->slots[k] != 0)
        k = (k + 1) & mask;
    names->slots[k] = index + 1;
}

//  Adds id (not present) and returns its index.
static int32_t
s_names_add (s_names_t *names, const char *id)
{
    if (names->count == names->alloc)
        names->ids = s_grow (names->ids, &names->alloc, sizeof *names->ids);
    int32_t index = (int32_t) names->count++;
    strcpy (names->ids[index].id, id);
    if (2 * names->count > names->slot_count) {
        free (names->slots);
        names->slot_count = names->slot_count ? names->slot_count * 2 : 1024;
        names->slots = calloc (names->slot_count, sizeof *names->slots);
        if (!names->slots)
            abort ();
        for (int32_t k = 0; k < (int32_t) names->count; k++)
            s_names_slot (names, k);
    }
    else
        s_names_slot (names, index);
    return index;
}

static void
s_error (char *err, size_t err_size, size_t line, const char *format, ...)
{
    if (!err || err_size == 0)
        return;
    int n = snprintf (err, err_size, "line %zu: ", line);
    if (n < 0 || (size_t) n >= err_size)
        return;
    va_list args;
    va_start (args, format);
    vsnprintf (err + n, err_size - (size_t) n, format, args);
    va_end (args);
}

static bool
s_valid_id (const char *id)
{
    size_t len = strlen (id);
    if (len == 0 || len > S_ID_MAX)
        return false;
    for (const char *c = id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '.' || *c == ':' || *c == '-'))
            return false;
    return true;
}

//  Parses a decimal integer in [0, max] into *value; otherwise writes why.
static int
s_number (const char *text, int64_t max, const char *what, int64_t *value, char *err,
          size_t err_size, size_t line)
{
    if (text[0] == '-') {
        s_error (err, err_size, line, "negative %s '%s'", what, text);
        return -1;
    }
    int64_t n = 0;
    for (const char *c = text; *c; c++) {
        if (*c < '0' || *c > '9') {
            s_error (err, err_size, line, "%s '%s' is not an integer", what, text);
            return -1;
        }
        n = n * 10 + (*c - '0');
        if (n > max) {
            s_error (err, err_size, line, "%s '%s' is above %lld", what, text, (long long) max);
            return -1;
        }
    }
    *value = n;
    return 0;
}

//  Looks up the id field of kind (need or volunteer), or writes why not.
static int32_t
s_lookup (const s_names_t *names, const char *kind, const char *id, char *err, size_t err_size,
          size_t line)
{
    int32_t index = s_names_find (names, id);
    if (index < 0)
        s_error (err, err_size, line, "unknown %s '%s' (declare it on an earlier line)", kind, id);
    return index;
}

//  Declares an id of kind, or writes why not. Returns its index or -1.
static int32_t
s_declare (s_names_t *names, const char *kind, const char *id, char *err, size_t err_size,
           size_t line)
{
    if (!s_valid_id (id)) {
        s_error (err, err_size, line, "bad %s id '%.80s' (1 to 64 of A-Z a-z 0-9 _ . : -)", kind,
                 id);
        return -1;
    }
    if (s_names_find (names, id) >= 0) {
        s_error (err, err_size, line, "duplicate %s '%s'", kind, id);
        return -1;
    }
    return s_names_add (names, id);
}

//  Parses one line (modified in place). Returns 0 or -1 (err written).
static int
s_line (matching_instance_t *self, char *text, size_t line, char *err, size_t err_size)
{
    char *hash = strchr (text, '#');
    if (hash)
        *hash = '\0';
    char *field[5];
    int count = 0;
    for (char *save = NULL, *tok = strtok_r (text, " \t\r\n\v\f", &save); tok;
         tok = strtok_r (NULL, " \t\r\n\v\f", &save)) {
        if (count == 5) {
            s_error (err, err_size, line, "too many fields");
            return -1;
        }
        field[count++] = tok;
    }
    if (count == 0)
        return 0;
    const char *kind = field[0];
    if (strcmp (kind, "n") == 0 && count == 2)
        return s_declare (&self->needs, "need", field[1], err, err_size, line) < 0 ? -1 : 0;
    if (strcmp (kind, "v") == 0 && count == 3) {
        int64_t cap;
        if (s_number (field[2], MATCHING_SOLVER_CAPACITY_MAX, "capacity", &cap, err, err_size,
                      line))
            return -1;
        size_t alloc = self->volunteers.alloc;
        if (s_declare (&self->volunteers, "volunteer", field[1], err, err_size, line) < 0)
            return -1;
        if (alloc != self->volunteers.alloc || !self->cap) {
            self->cap = realloc (self->cap, self->volunteers.alloc * sizeof *self->cap);
            if (!self->cap)
                abort ();
        }
        self->cap[self->volunteers.count - 1] = cap;
        return 0;
    }
    if (strcmp (kind, "e") == 0 && count == 4) {
        int32_t need = s_lookup (&self->needs, "need", field[1], err, err_size, line);
        if (need < 0)
            return -1;
        int32_t volunteer =
            s_lookup (&self->volunteers, "volunteer", field[2], err, err_size, line);
        if (volunteer < 0)
            return -1;
        int64_t cost;
        if (s_number (field[3], MATCHING_SOLVER_COST_MAX, "cost", &cost, err, err_size, line))
            return -1;
        if (self->edge_count == self->edge_alloc)
            self->edges = s_grow (self->edges, &self->edge_alloc, sizeof *self->edges);
        self->edges[self->edge_count++] = (s_edge_t){need, volunteer, cost};
        return 0;
    }
    if (strcmp (kind, "n") == 0 || strcmp (kind, "v") == 0 || strcmp (kind, "e") == 0)
        s_error (err, err_size, line, "'%s' wants %s", kind,
                 kind[0] == 'n'   ? "n NEED_ID"
                 : kind[0] == 'v' ? "v VOLUNTEER_ID CAPACITY"
                                  : "e NEED_ID VOLUNTEER_ID COST");
    else
        s_error (err, err_size, line, "unknown item '%.80s' (want n, v or e)", kind);
    return -1;
}

static matching_instance_t *
s_new (void)
{
    matching_instance_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    return self;
}

matching_instance_t *
matching_instance_read (FILE *file, char *err, size_t err_size)
{
    assert (file);
    matching_instance_t *self = s_new ();
    char *text = NULL;
    size_t alloc = 0, line = 0;
    int rc = 0;
    ssize_t len;
    while (rc == 0 && (len = getline (&text, &alloc, file)) >= 0) {
        line++;
        if (strlen (text) != (size_t) len) { //  a NUL byte inside the line
            s_error (err, err_size, line, "NUL byte");
            rc = -1;
        }
        else
            rc = s_line (self, text, line, err, err_size);
    }
    if (rc == 0 && ferror (file)) {
        s_error (err, err_size, line + 1, "read error: %s", strerror (errno));
        rc = -1;
    }
    free (text);
    if (rc)
        matching_instance_destroy (&self);
    return self;
}

matching_instance_t *
matching_instance_parse (const char *text, char *err, size_t err_size)
{
    assert (text);
    matching_instance_t *self = s_new ();
    char *copy = strdup (text);
    if (!copy)
        abort ();
    size_t line = 0;
    int rc = 0;
    for (char *start = copy; rc == 0 && *start;) {
        char *end = strchr (start, '\n');
        if (end)
            *end = '\0';
        rc = s_line (self, start, ++line, err, err_size);
        start = end ? end + 1 : start + strlen (start);
    }
    free (copy);
    if (rc)
        matching_instance_destroy (&self);
    return self;
}

void
matching_instance_destroy (matching_instance_t **self_p)
{
    assert (self_p);
    matching_instance_t *self = *self_p;
    if (!self)
        return;
    free (self->needs.ids), free (self->needs.slots);
    free (self->volunteers.ids), free (self->volunteers.slots);
    free (self->cap);
    free (self->edges);
    free (self);
    *self_p = NULL;
}

size_t
matching_instance_needs (const matching_instance_t *self)
{
    return self->needs.count;
}

size_t
matching_instance_volunteers (const matching_instance_t *self)
{
    return self->volunteers.count;
}

size_t
matching_instance_edges (const matching_instance_t *self)
{
    return self->edge_count;
}

const char *
matching_instance_need_id (const matching_instance_t *self, size_t i)
{
    assert (i < self->needs.count);
    return self->needs.ids[i].id;
}

const char *
matching_instance_volunteer_id (const matching_instance_t *self, size_t v)
{
    assert (v < self->volunteers.count);
    return self->volunteers.ids[v].id;
}

matching_solver_t *
matching_instance_solver (const matching_instance_t *self)
{
    matching_solver_t *solver = matching_solver_new (self->needs.count, self->volunteers.count);
    for (size_t v = 0; v < self->volunteers.count; v++) {
        int rc = matching_solver_capacity (solver, v, self->cap[v]);
        assert (rc == 0); //  checked by the parser
        (void) rc;
    }
    for (size_t k = 0; k < self->edge_count; k++) {
        const s_edge_t *e = &self->edges[k];
        int rc = matching_solver_edge (solver, (size_t) e->need, (size_t) e->volunteer, e->cost);
        assert (rc == 0);
        (void) rc;
    }
    return solver;
}

int
matching_instance_write (const matching_instance_t *self, const matching_result_t *result,
                         FILE *out)
{
    assert (result->needs == self->needs.count);
    for (size_t i = 0; i < result->needs; i++)
        if (result->volunteer[i] >= 0)
            fprintf (out, "m %s %s\n", self->needs.ids[i].id,
                     self->volunteers.ids[result->volunteer[i]].id);
    fprintf (out, "matched %zu cost %lld\n", result->matched, (long long) result->cost);
    return fflush (out) == 0 && !ferror (out) ? 0 : -1;
}
