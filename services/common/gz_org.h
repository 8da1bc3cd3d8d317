/*  gz_org: the org directory (schema "org"), read by every service.

    The ladder: district > sub-district > community > grid > building,
    plus district departments (paired with communities) and staff at each
    level. gz_org_load reads it into memory (a Huaguoyuan-sized area is a
    few thousand rows) so lookups on hot paths cost no database trip.
    Refresh by loading again and swapping: every change to the directory
    moves org.generation in its transaction (triggers, migration 002), so
    a service compares gz_org_generation_now with its copy's
    gz_org_generation on its tick. A loaded gz_org_t is immutable:
    threads may share it.

    Tables (migrations in services/common/sql/org/, schema "org"):
      units(code PK, level, parent_code, name, synthetic)
          level: district | subdistrict | community | grid | department
      buildings(code PK, grid_code, name, address, lat, lon, households,
                synthetic)
      staff(id PK, name, role, unit_code, phone, on_duty, max_open,
            synthetic)
          role: grid_worker | grid_cadre | community_duty |
                community_secretary | subdistrict_coordinator |
                department_contact | district_leader |
                callback_operator
          (grid_cadre: a cadre sent down into a grid, 下沉干部; the grid
          worker, 网格员, is grid_worker)
      pairings(department_code, community_code)   -- 结对
    Import format: docs/org-format.md (gzctl org import FILE).  */
#ifndef GZ_ORG_H_INCLUDED
#define GZ_ORG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gz_db.h"

typedef struct _gz_org_t gz_org_t;

//  A building with its place in the ladder. All strings owned by gz_org.
typedef struct {
    const char *code; //  QR code value, e.g. "B0001"
    const char *name; //  e.g. "示例小区1 1栋"
    const char *address;
    const char *grid_code;
    const char *community_code;
    const char *subdistrict_code;
    const char *district_code;
    double lat, lon;
} gz_building_t;

//  The org schema's migrations (for gz_db_migrate (db, "org", ...)).
extern const gz_migration_t gz_org_migrations[];

//  Load the whole directory. NULL on database failure (logged).
gz_org_t *gz_org_load (gz_db_t *db);
void gz_org_destroy (gz_org_t **self_p);

//  The directory's generation this copy was loaded at (org.generation:
//  every change to the directory moves it, in the changing transaction).
int64_t gz_org_generation (gz_org_t *self);

//  The directory's generation in the database now (one read of one row),
//  or -1 on database failure. Differs from a copy's gz_org_generation when
//  the directory changed since that copy was loaded.
int64_t gz_org_generation_now (gz_db_t *db);

size_t gz_org_building_count (gz_org_t *self);

//  The building with this code, or NULL.
const gz_building_t *gz_org_building (gz_org_t *self, const char *code);

//  The building nearest to lat/lon if one lies within max_m metres, else
//  NULL. *dist_m (when not NULL) gets the distance.
const gz_building_t *gz_org_nearest (gz_org_t *self, double lat, double lon, double max_m,
                                     double *dist_m);

//  Name of a unit by code, or NULL.
const char *gz_org_unit_name (gz_org_t *self, const char *code);

//  Distance in metres between two WGS84 points (haversine).
double gz_geo_distance_m (double lat1, double lon1, double lat2, double lon2);

//  ---------------------------------------------------------------------
//  Additions beyond the first contract: ladder walking, staff, pairings.

//  A staff member. All strings owned by gz_org.
typedef struct {
    const char *id;
    const char *name;
    const char *role;      //  see the role list above
    const char *unit_code; //  the unit they serve
    const char *phone;     //  may be NULL
    bool on_duty;
    int max_open; //  most open requests at once; -1 = no cap
} gz_staff_t;

//  The i-th building (0 <= i < gz_org_building_count), in code order, or
//  NULL past the end. For iteration.
const gz_building_t *gz_org_building_at (gz_org_t *self, size_t index);

size_t gz_org_unit_count (gz_org_t *self);

//  Level ("district", "subdistrict", "community", "grid", "department")
//  and parent code of a unit, or NULL (unknown unit; district's parent).
const char *gz_org_unit_level (gz_org_t *self, const char *code);
const char *gz_org_unit_parent (gz_org_t *self, const char *code);

size_t gz_org_staff_count (gz_org_t *self);

//  The staff member with this id, or NULL.
const gz_staff_t *gz_org_staff (gz_org_t *self, const char *id);

//  Staff serving unit_code with role (NULL: any role), on duty first,
//  then by sort order and id. Fills out[0 .. max-1] and returns how many
//  there are in all (may exceed max; call with max 0 to count).
size_t gz_org_unit_staff (gz_org_t *self, const char *unit_code, const char *role,
                          const gz_staff_t **out, size_t max);

//  Departments paired (结对) with a community, by department code. Same
//  out/max/return convention as gz_org_unit_staff.
size_t gz_org_paired_departments (gz_org_t *self, const char *community_code, const char **out,
                                  size_t max);

#endif
