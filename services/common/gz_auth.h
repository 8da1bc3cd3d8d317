/*  gz_auth: who a bearer token belongs to. Tokens live in a service's
    schema as <schema>.tokens (token_sha256, staff_id, role, label): the
    SHA-256 hex of the token, never the token itself, with role "staff"
    (staff_id set) or "operator", and expires_at: an expired token is
    unknown (90 days by default; gzctl token issue --days N). gz_auth hashes in PostgreSQL, so the
    token is compared only as a digest, and joins the staff member's unit
    from the org directory (org.staff, org.units).

    One statement per connection: gz_auth_prepare registers it on a
    gz_db_t for one schema (prepared lazily, again after reconnects);
    gz_auth_caller runs it. Any thread that owns its gz_db_t may call
    both.  */
#ifndef GZ_AUTH_H_INCLUDED
#define GZ_AUTH_H_INCLUDED

#include <stdbool.h>

#include "gz_db.h"

//  The owner of a token. Strings are "" when absent.
typedef struct {
    char role[16];        //  "staff" or "operator"
    char staff_id[80];    //  the staff member ("" for an operator)
    char label[128];      //  free text given when the token was issued
    bool in_org;          //  staff_id is a member of org.staff
    char unit_code[80];   //  the member's unit (in_org only)
    char unit_level[16];  //  its level: grid, community, subdistrict, ...
    char unit_parent[80]; //  its parent unit ("" at the top)
} gz_caller_t;

//  Register the lookup and install statements for tokens in schema on
//  db. Returns 0; asserts when db already has them for another schema.
int gz_auth_prepare (gz_db_t *db, const char *schema);

//  Look token up (gz_auth_prepare first). 0 found (*out filled), 1
//  unknown or revoked (*out cleared), -1 database failure (logged by
//  gz_db; *out cleared).
int gz_auth_caller (gz_db_t *db, const char *token, gz_caller_t *out);

//  Store token for a staff member (role "staff" with staff_id) or an
//  operator (role "operator", staff_id NULL), replacing what the token
//  meant before; it expires after the table's default (90 days). label
//  may be NULL. 0 ok, -1 failure.
int gz_auth_install (gz_db_t *db, const char *token, const char *staff_id, const char *role,
                     const char *label);

//  Compare a secret presented by a client (a status-link secret, an API
//  key) with the one expected, in time that depends only on their
//  lengths, not on where they first differ. NULL never matches.
bool gz_auth_secret_equal (const char *given, const char *expected);

#endif
