/*  matching_ledger: the points ledger (积分) and the points supermarket
    (积分超市) on PostgreSQL (tables in sql/002_points.sql).

    Double-entry and append-only: every movement is one ledger transaction
    whose entries sum to zero; balances follow the entries (a trigger, in
    the same transaction); a person's balance never goes below zero.

    Writers (award, correct, redeem, item_put) run INSIDE the caller's
    open transaction on its connection and never begin, commit or roll
    back themselves. A duplicate (0) or a refusal (-2 .. -6) writes
    nothing and leaves the transaction usable; -1 after a statement failed
    means the caller must roll back (gz_db_retryable() says whether to retry:
    a deadlock is possible when one transaction of the caller moves points
    of several people while others redeem).

    Readers (statement, items, redlist, verify) need no transaction.

    Accounts: "volunteer:<id>", "rider:<id>", "resident:<id>",
    "staff:<id>" (persons) and "system:earn", "system:shop:<community>";
    <id> is 1..64 of [A-Za-z0-9._:-] (matching_points_account). A function
    given anything else returns MATCHING_LEDGER_BAD_ACCOUNT (-6).  */
#ifndef MATCHING_LEDGER_H_INCLUDED
#define MATCHING_LEDGER_H_INCLUDED

#include "gz_db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MATCHING_LEDGER_NO_POINTS (-2)
#define MATCHING_LEDGER_NO_STOCK (-3)
#define MATCHING_LEDGER_NO_ITEM (-4)
#define MATCHING_LEDGER_KEY_REUSED (-5)
#define MATCHING_LEDGER_BAD_ACCOUNT (-6)

//  Register the statements on db (once per connection; gz_db prepares them
//  again after a reconnect).
void matching_ledger_prepare (gz_db_t *db, const char *schema);

//  Earn: points (> 0) from system:earn to the person account (made if
//  missing; its community recorded when community is non-empty) as one
//  ledger transaction of reason (service, report, rider_report, meeting)
//  and source_key (e.g. "service:12", "report:R-2026-000123",
//  "meeting:M1001:staff-3"; 1..200 bytes, not "redeem:...", which is the
//  redemptions' own). Returns 1 moved, 0 when source_key was
//  already used (nothing changes: an event seen twice earns once; a
//  concurrent twin waits for the first and then answers 0), -6 bad
//  account, -1 bad arguments or failure. *balance (may be NULL) = the
//  account's balance after (or now).
int matching_ledger_award (gz_db_t *db, const char *account, const char *community, int64_t points,
                           const char *reason, const char *source_key, const char *memo,
                           int64_t *balance);

//  A correction: a new transaction (reason "correction") moving amount
//  (either sign, not 0) to account from system:earn. Returns 1 moved, 0
//  source_key already used, -2 refused because the balance would go below
//  zero, -6 bad account, -1 failure. *balance (may be NULL) as for award.
int matching_ledger_correct (gz_db_t *db, const char *account, int64_t amount,
                             const char *source_key, const char *memo, int64_t *balance);

typedef struct {
    int64_t redemption_id, points, balance;
    int32_t stock;
    char item_name[256];
    char community[72];
} matching_redeem_t;

//  Redeem quantity (1..100) of item_id for the person account: price *
//  quantity points from account to system:shop:<item's community>, stock
//  -= quantity, one redemption row, in the caller's transaction. Locks
//  the account's balance row, then the item's row (FOR UPDATE, always in
//  that order) so concurrent redemptions never overdraw either. key (the
//  client's idempotency key, required) makes a retry answer the first
//  success: 0 with out filled from the stored redemption (balance and
//  stock as they are now). A refusal is not stored: a retry decides
//  again. Returns 1 redeemed, 0 duplicate, -2 not enough points, -3 not
//  enough stock, -4 unknown or inactive item, -5 key used for another
//  account, item or quantity, -6 bad account, -1 bad arguments or failure.
//  out (required) is zeroed, then filled on 1 and 0 (item name and
//  community also on -2 and -3).
int matching_ledger_redeem (gz_db_t *db, const char *account, const char *item_id, int quantity,
                            const char *key, matching_redeem_t *out);

//  Insert or update a shop item (demo data, operators); makes the shop's
//  account system:shop:<community>. id and community: 1..64 of
//  [A-Za-z0-9._-]; name 1..200 bytes; price > 0; stock >= 0. 0 ok, -1 bad
//  arguments or failure.
int matching_ledger_item_put (gz_db_t *db, const char *id, const char *community, const char *name,
                              int64_t price, int32_t stock, bool active);

//  {"account", "balance", "earned", "spent", "entries": [{"tx", "amount",
//  "reason", "source", "memo", "at"}...]}: the account's entries newest
//  first, at most limit (1..1000). earned: the sum of its non-redeem
//  entries (corrections included), spent: the points it redeemed; balance
//  = earned - spent. An account with no entries yet has balance 0. "at"
//  is ISO 8601 in China time. NULL on a bad account or failure; caller
//  json_decref()s.
json_t *matching_ledger_statement (gz_db_t *db, const char *account, int limit);

//  The active items of community (all communities when NULL), by
//  community and id: [{"id", "community", "name", "price", "stock"}].
//  NULL on failure; caller json_decref()s.
json_t *matching_ledger_items (gz_db_t *db, const char *community);

//  The monthly red list (红榜): per community (or only community when not
//  NULL), its top limit (1..100) persons by points earned (non-redeem
//  entries, corrections included; only totals > 0) in month "YYYY-MM",
//  China time. [{"community", "account", "points", "rank"}] by community
//  and rank; rank 1.. per community, ties broken by account. NULL on a bad
//  month or failure; caller json_decref()s.
json_t *matching_ledger_redlist (gz_db_t *db, const char *month, const char *community, int limit);

//  Check the invariants from the tables: every transaction has entries
//  summing to zero, every balance equals the sum of its account's
//  entries, no person's balance below zero, every redemption's points are
//  what its transaction took from its account. Returns the number of
//  violations, each written as one line into report (may be NULL;
//  truncated to report_size), or -1 on failure.
int matching_ledger_verify (gz_db_t *db, char *report, size_t report_size);

#endif
