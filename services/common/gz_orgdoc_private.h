/*  gz_orgdoc_private: what gz_orgdoc.c (reading and validating a
    document) and gz_orgdoc_apply.c (writing it to the org schema) share:
    the document's typed rows, whose strings point into its JSON.  */
#ifndef GZ_ORGDOC_PRIVATE_H_INCLUDED
#define GZ_ORGDOC_PRIVATE_H_INCLUDED

#include "gz_orgdoc.h"

#include <stdbool.h>

typedef struct {
    const char *code;
    int level;
    const char *parent;
    const char *name;
    const char *phone;
    long sort_order;
    bool synthetic;
} gz_orgdoc_unit_t;

typedef struct {
    const char *code;
    const char *grid;
    const char *name;
    const char *address;
    double lat, lon;
    long households;
    long sort_order;
    bool synthetic;
} gz_orgdoc_building_t;

typedef struct {
    const char *id;
    const char *name;
    int role;
    const char *unit;
    const char *phone;
    bool on_duty;
    long max_open; //  -1: no cap (NULL)
    long sort_order;
    bool synthetic;
} gz_orgdoc_staff_t;

typedef struct {
    const char *department;
    const char *community;
} gz_orgdoc_pairing_t;

struct _gz_orgdoc_t {
    json_t *root;
    gz_orgdoc_unit_t *units;
    size_t nunits;
    gz_orgdoc_building_t *buildings;
    size_t nbuildings;
    gz_orgdoc_staff_t *staff;
    size_t nstaff;
    gz_orgdoc_pairing_t *pairings;
    size_t npairings;
};

//  A copy of text safe to print in one line: control characters become
//  '?', and long text is cut (on a UTF-8 boundary).
void gz_orgdoc_clean (const char *text, char *out, size_t size);

//  The level (gz_org_level_t) or role (gz_org_role_t) named name, or -1.
int gz_orgdoc_level_of (const char *name);
int gz_orgdoc_role_of (const char *name);

#endif
