/*  gz_orgdoc: an org directory document, validated, and written to the
    org schema in one transaction.

    Both ways a directory enters the database go through here, so they
    cannot drift apart: `gzctl org import FILE` reads a JSON document
    (docs/org-format.md) and `gzctl seed huaguoyuan` generates the same
    kind of JSON document (gz_orgdoc_huaguoyuan) in memory. Either is
    checked completely before anything is written; then the directory is
    replaced (delete and COPY) in one transaction, which moves
    org.generation (services reload on it, see gz_org.h) and notifies
    listeners on the channel "gz_org_changed" at commit.  */
#ifndef GZ_ORGDOC_H_INCLUDED
#define GZ_ORGDOC_H_INCLUDED

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "gz_db.h"

typedef struct _gz_orgdoc_t gz_orgdoc_t;

//  Unit levels and staff roles, in ladder order (also the stats order).
typedef enum {
    GZ_ORG_DISTRICT,
    GZ_ORG_SUBDISTRICT,
    GZ_ORG_COMMUNITY,
    GZ_ORG_GRID,
    GZ_ORG_DEPARTMENT,
    GZ_ORG_LEVELS
} gz_org_level_t;

typedef enum {
    GZ_ORG_GRID_WORKER,
    GZ_ORG_GRID_CADRE,
    GZ_ORG_COMMUNITY_DUTY,
    GZ_ORG_COMMUNITY_SECRETARY,
    GZ_ORG_SUBDISTRICT_COORDINATOR,
    GZ_ORG_DEPARTMENT_CONTACT,
    GZ_ORG_DISTRICT_LEADER,
    GZ_ORG_CALLBACK_OPERATOR, //  回访员: rates on a resident's behalf (issue 12)
    GZ_ORG_ROLES
} gz_org_role_t;

//  Counts of a directory (a document's or the database's).
typedef struct {
    size_t units[GZ_ORG_LEVELS];
    size_t buildings;
    size_t households;
    size_t staff[GZ_ORG_ROLES];
    size_t pairings;
} gz_orgstats_t;

//  Name as stored ("grid", "grid_worker") and label shown to people
//  ("网格", "网格员") of a level or role. Assert on out-of-range values.
const char *gz_org_level_name (gz_org_level_t level);
const char *gz_org_level_label (gz_org_level_t level);
const char *gz_org_role_name (gz_org_role_t role);
const char *gz_org_role_label (gz_org_role_t role);

//  Validate a JSON document and build a directory from it. root is
//  borrowed (the document keeps its own reference). On any problem returns
//  NULL and, when errors_p is not NULL, sets *errors_p to one line per
//  problem, each "json.path: what is wrong" (at most 100 lines, then a
//  count of the rest); the caller frees it.
gz_orgdoc_t *gz_orgdoc_new (json_t *root, char **errors_p);

//  The same from a file. Broken JSON, invalid UTF-8 and duplicate keys
//  are reported as "FILE:LINE:COLUMN: message".
gz_orgdoc_t *gz_orgdoc_load (const char *path, char **errors_p);

//  Free; nulls *self_p. Harmless on NULL.
void gz_orgdoc_destroy (gz_orgdoc_t **self_p);

//  Counts in the document.
void gz_orgdoc_stats (gz_orgdoc_t *self, gz_orgstats_t *stats);

//  Replace the whole directory in db (schema "org", migrated) by this
//  document, in one transaction. 0 on success; -1 on failure, logged,
//  with the database unchanged.
int gz_orgdoc_apply (gz_orgdoc_t *self, gz_db_t *db);

//  The synthetic Huaguoyuan (花果园) demo area: 1 district, 5
//  sub-districts, 38 communities, 1,300 grids, 4,000 buildings within
//  2 km of 26.5650 N 106.6900 E, 101 departments, staff and pairings.
//  Deterministic: every call returns the same document. Every generated
//  name says 示例 and every row has "synthetic": true. Caller owns the
//  result (json_decref).
json_t *gz_orgdoc_huaguoyuan (void);

//  Centre and radius of the Huaguoyuan demo area.
#define GZ_ORGDOC_HGY_LAT 26.5650
#define GZ_ORGDOC_HGY_LON 106.6900
#define GZ_ORGDOC_HGY_RADIUS_M 2000.0

//  Counts in the database's org schema. 0 ok, -1 failure (logged).
int gz_orgdoc_db_stats (gz_db_t *db, gz_orgstats_t *stats);

//  Print stats as aligned "key count label" lines (gzctl org stats).
void gz_orgstats_print (const gz_orgstats_t *stats, FILE *out);

#endif
