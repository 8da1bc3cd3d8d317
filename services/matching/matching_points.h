/*  matching_points: the earning rules of the points ledger (积分), pure C.

    How many points an event earns (GZ_MATCHING_POINTS, e.g.
    "report=5,rider_report=10,hour=10,meeting=2") and the names of the
    ledger's accounts ("volunteer:v-001", "rider:R123", ...). No database:
    matching_ledger_store.c does the moving.  */
#ifndef MATCHING_POINTS_H_INCLUDED
#define MATCHING_POINTS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Points per resolved report rated satisfied (a resident's, a rider's),
//  per confirmed service hour, per meeting attended (逢四说事).
typedef struct {
    int64_t report, rider_report, hour, meeting;
} matching_points_rules_t;

//  The defaults: report=5, rider_report=10, hour=10, meeting=2.
#define MATCHING_POINTS_DEFAULTS "report=5,rider_report=10,hour=10,meeting=2"

//  Parse "name=value,..." into out, starting from the defaults (a name not
//  given keeps its default; NULL or "" is all defaults). Values are
//  integers 0..1000000. 0 ok; -1 with a message in err (may be NULL) on an
//  unknown name, a missing '=', or a negative or non-integer value.
int matching_points_parse (const char *text, matching_points_rules_t *out, char *err,
                           size_t err_size);

//  Points for minutes of confirmed service: hour * minutes / 60, rounded
//  down; 0 for minutes <= 0.
int64_t matching_points_for_minutes (const matching_points_rules_t *rules, int minutes);

//  Write the account "kind:id" into out. kind is volunteer, rider,
//  resident, staff or system; id is 1..64 of [A-Za-z0-9._:-]. 0 ok, -1
//  when kind or id is invalid or out is too small.
int matching_points_account (char *out, size_t size, const char *kind, const char *id);

//  True if account is a valid account name (any kind).
bool matching_points_account_valid (const char *account);

//  True if account is a valid person's account (not system:).
bool matching_points_person_valid (const char *account);

#endif
