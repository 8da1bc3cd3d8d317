/*  Integration test for matching_ledger against the real PostgreSQL: an
    event seen twice earns once (also from 4 threads at once), balances
    are the sums of their entries, a correction cannot overdraw, the
    ledger refuses edits and unbalanced transactions, a redemption refuses
    what the points, the stock or the item do not allow and answers a
    replayed key with its first outcome, 16 threads redeeming on their own
    connections never overdraw points or stock, the 红榜 counts by China
    month, and verify finds an injected violation.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "gz_testdb.h"
#include "gz_testfix.h"
#include "matching_ledger.h"

#define SCHEMA "matching"

static gz_testdb_t *s_tdb;
static gz_db_t *s_db;

static gz_db_t *
s_connect (void)
{
    gz_db_t *db = gz_db_new (gz_testdb_url (s_tdb), "ledger-test");
    assert_true (gz_db_ok (db));
    matching_ledger_prepare (db, SCHEMA);
    return db;
}

//  The migration as the service applies it, read from the source tree.
static int
s_setup (void **state)
{
    (void) state;
    const char *dir = getenv ("GZ_SOURCE_DIR");
    char path[1024];
    snprintf (path, sizeof path, "%s/services/matching/sql/002_points.sql", dir ? dir : ".");
    FILE *f = fopen (path, "rb");
    if (!f) {
        fprintf (stderr, "cannot read %s (set GZ_SOURCE_DIR)\n", path);
        return -1;
    }
    static char sql[65536];
    size_t n = fread (sql, 1, sizeof sql - 1, f);
    fclose (f);
    sql[n] = '\0';
    s_tdb = gz_testdb_new ("ledger");
    s_db = s_connect ();
    gz_migration_t list[] = {{"002_points.sql", sql}, {NULL, NULL}};
    return gz_db_migrate (s_db, SCHEMA, list);
}

static int
s_teardown (void **state)
{
    (void) state;
    gz_db_destroy (&s_db);
    gz_testdb_destroy (&s_tdb);
    return 0;
}

static int
s_award (const char *account, int64_t points, const char *key, int64_t *balance)
{
    assert_int_equal (gz_db_begin (s_db), 0);
    int rc = matching_ledger_award (s_db, account, "c1", points, "service", key, "测试", balance);
    assert_int_equal (rc >= 0 ? gz_db_commit (s_db) : (gz_db_rollback (s_db), 0), 0);
    return rc;
}

static int
s_redeem (const char *account, const char *item, int quantity, const char *key,
          matching_redeem_t *out)
{
    assert_int_equal (gz_db_begin (s_db), 0);
    int rc = matching_ledger_redeem (s_db, account, item, quantity, key, out);
    //  A refusal leaves the transaction usable: it commits.
    assert_int_equal (rc >= -1 && rc < 0 ? (gz_db_rollback (s_db), 0) : gz_db_commit (s_db), 0);
    return rc;
}

static long long
s_balance (const char *account)
{
    return gz_testfix_scalarf (s_db, "SELECT balance FROM matching.balances WHERE account = '%s'",
                               account);
}

static void
s_verify_clean (void)
{
    char report[4096];
    int n = matching_ledger_verify (s_db, report, sizeof report);
    if (n != 0)
        fprintf (stderr, "verify:\n%s", report);
    assert_int_equal (n, 0);
}

static void
test_award_once (void **state)
{
    (void) state;
    int64_t balance = -1;
    assert_int_equal (s_award ("volunteer:v-001", 10, "service:1", &balance), 1);
    assert_int_equal (balance, 10);
    assert_int_equal (s_award ("volunteer:v-001", 10, "service:1", &balance), 0);
    assert_int_equal (balance, 10);
    assert_int_equal (s_award ("volunteer:v-001", 5, "service:2", &balance), 1);
    assert_int_equal (balance, 15);
    assert_int_equal (s_balance ("volunteer:v-001"), 15);
    assert_int_equal (gz_testfix_scalar (s_db, "SELECT sum(amount) FROM matching.entries"
                                               " WHERE account = 'volunteer:v-001'"),
                      15);
    assert_int_equal (s_balance ("system:earn"), -15);
    assert_int_equal (gz_testfix_scalar (s_db, "SELECT count(*) FROM matching.accounts"
                                               " WHERE id = 'volunteer:v-001'"
                                               " AND community_code = 'c1'"),
                      1);

    //  Bad input changes nothing.
    assert_int_equal (s_award ("admin:x", 5, "service:3", NULL), MATCHING_LEDGER_BAD_ACCOUNT);
    assert_int_equal (s_award ("system:earn", 5, "service:3", NULL), MATCHING_LEDGER_BAD_ACCOUNT);
    assert_int_equal (s_award ("volunteer:v-001", 0, "service:3", NULL), -1);
    assert_int_equal (s_award ("volunteer:v-001", -5, "service:3", NULL), -1);
    assert_int_equal (s_award ("volunteer:v-001", 5, "redeem:k1", NULL), -1);
    assert_int_equal (
        matching_ledger_award (s_db, "volunteer:v-001", NULL, 5, "redeem", "service:3", NULL, NULL),
        -1);
    assert_int_equal (s_balance ("volunteer:v-001"), 15);

    json_t *st = matching_ledger_statement (s_db, "volunteer:v-001", 10);
    assert_non_null (st);
    assert_int_equal (json_integer_value (json_object_get (st, "balance")), 15);
    assert_int_equal (json_integer_value (json_object_get (st, "earned")), 15);
    assert_int_equal (json_integer_value (json_object_get (st, "spent")), 0);
    json_t *entries = json_object_get (st, "entries");
    assert_int_equal (json_array_size (entries), 2);
    json_t *first = json_array_get (entries, 0);
    assert_string_equal (json_string_value (json_object_get (first, "source")), "service:2");
    assert_int_equal (json_integer_value (json_object_get (first, "amount")), 5);
    assert_string_equal (json_string_value (json_object_get (first, "memo")), "测试");
    assert_non_null (strstr (json_string_value (json_object_get (first, "at")), "+08:00"));
    json_decref (st);
    st = matching_ledger_statement (s_db, "volunteer:v-001", 1);
    assert_int_equal (json_array_size (json_object_get (st, "entries")), 1);
    json_decref (st);
    st = matching_ledger_statement (s_db, "resident:nobody", 10);
    assert_int_equal (json_integer_value (json_object_get (st, "balance")), 0);
    assert_int_equal (json_array_size (json_object_get (st, "entries")), 0);
    json_decref (st);
    assert_null (matching_ledger_statement (s_db, "bad account", 10));
    s_verify_clean ();
}

static void
test_correction (void **state)
{
    (void) state;
    int64_t balance = -1;
    assert_int_equal (s_award ("resident:X", 15, "report:R-1", NULL), 1);
    //  Refused, and the caller's transaction still commits.
    assert_int_equal (gz_db_begin (s_db), 0);
    assert_int_equal (matching_ledger_correct (s_db, "resident:X", -20, "fix:1", "错记", &balance),
                      MATCHING_LEDGER_NO_POINTS);
    assert_int_equal (balance, 15);
    assert_int_equal (matching_ledger_correct (s_db, "resident:Y", -1, "fix:0", NULL, NULL),
                      MATCHING_LEDGER_NO_POINTS);
    assert_int_equal (matching_ledger_correct (s_db, "resident:X", -5, "fix:1", "错记", &balance),
                      1);
    assert_int_equal (balance, 10);
    assert_int_equal (matching_ledger_correct (s_db, "resident:X", -5, "fix:1", "错记", &balance),
                      0);
    assert_int_equal (matching_ledger_correct (s_db, "resident:X", 3, "fix:2", NULL, &balance), 1);
    assert_int_equal (balance, 13);
    assert_int_equal (gz_db_commit (s_db), 0);
    assert_int_equal (s_balance ("resident:X"), 13);
    //  The wrong entry stays; the correction is a transaction of its own.
    assert_int_equal (gz_testfix_scalar (s_db, "SELECT count(*) FROM matching.entries e"
                                               " JOIN matching.ledger_tx t ON t.id = e.tx_id"
                                               " WHERE e.account = 'resident:X'"),
                      3);
    s_verify_clean ();
}

static void
test_append_only (void **state)
{
    (void) state;
    assert_int_equal (gz_db_command (s_db, "UPDATE matching.entries SET amount = amount + 1"), -1);
    assert_string_equal (gz_db_sqlstate (s_db), "55000");
    assert_int_equal (gz_db_command (s_db, "DELETE FROM matching.entries"), -1);
    assert_int_equal (gz_db_command (s_db, "DELETE FROM matching.ledger_tx"), -1);
    assert_int_equal (gz_db_command (s_db, "UPDATE matching.ledger_tx SET memo = 'x'"), -1);
    assert_int_equal (gz_db_command (s_db, "TRUNCATE matching.entries CASCADE"), -1);
    assert_int_equal (gz_db_command (s_db, "DELETE FROM matching.redemptions"), -1);
    //  A person cannot go below zero even by hand.
    assert_int_equal (gz_db_command (s_db,
                                     "BEGIN; INSERT INTO matching.ledger_tx"
                                     " (id, reason, source_key) VALUES (9001, 'correction', 'h1');"
                                     " INSERT INTO matching.entries VALUES"
                                     " (9001, 'resident:X', -1000), (9001, 'system:earn', 1000);"
                                     " COMMIT"),
                      -1);
    gz_db_rollback (s_db);
    //  An unbalanced transaction is refused at commit.
    assert_int_equal (gz_db_command (s_db,
                                     "BEGIN; INSERT INTO matching.ledger_tx"
                                     " (id, reason, source_key) VALUES (9002, 'correction', 'h2');"
                                     " INSERT INTO matching.entries VALUES"
                                     " (9002, 'resident:X', 1); COMMIT"),
                      -1);
    gz_db_rollback (s_db);
    assert_int_equal (s_balance ("resident:X"), 13);
    s_verify_clean ();
}

static void
test_redeem_rules (void **state)
{
    (void) state;
    assert_int_equal (matching_ledger_item_put (s_db, "rice", "c1", "大米 5斤", 30, 2, true), 0);
    assert_int_equal (matching_ledger_item_put (s_db, "soap", "c1", "肥皂", 5, 10, false), 0);
    assert_int_equal (matching_ledger_item_put (s_db, "oil", "c2", "食用油", 7, 40, true), 0);
    assert_int_equal (matching_ledger_item_put (s_db, "bad", "c1", "x", 0, 1, true), -1);
    assert_int_equal (matching_ledger_item_put (s_db, "bad", "c 1", "x", 1, 1, true), -1);
    assert_int_equal (matching_ledger_item_put (s_db, "bad", "c1", "x", 1, -1, true), -1);
    matching_redeem_t out;
    assert_int_equal (s_award ("rider:R123", 20, "rider_report:R-9", NULL), 1);
    assert_int_equal (s_redeem ("rider:R123", "rice", 1, "k0", &out), MATCHING_LEDGER_NO_POINTS);
    assert_string_equal (out.item_name, "大米 5斤");
    assert_int_equal (s_award ("rider:R123", 80, "rider_report:R-10", NULL), 1);
    assert_int_equal (s_redeem ("rider:R123", "rice", 3, "k0", &out), MATCHING_LEDGER_NO_STOCK);
    assert_int_equal (s_redeem ("rider:R123", "nothing", 1, "k0", &out), MATCHING_LEDGER_NO_ITEM);
    assert_int_equal (s_redeem ("rider:R123", "soap", 1, "k0", &out), MATCHING_LEDGER_NO_ITEM);
    assert_int_equal (s_redeem ("rider:R123", "rice", 0, "k0", &out), -1);
    assert_int_equal (s_redeem ("rider:R123", "rice", 101, "k0", &out), -1);
    assert_int_equal (s_redeem ("nobody", "rice", 1, "k0", &out), MATCHING_LEDGER_BAD_ACCOUNT);
    assert_int_equal (s_balance ("rider:R123"), 100);

    assert_int_equal (s_redeem ("rider:R123", "rice", 1, "k1", &out), 1);
    int64_t id = out.redemption_id;
    assert_true (id > 0);
    assert_int_equal (out.points, 30);
    assert_int_equal (out.balance, 70);
    assert_int_equal (out.stock, 1);
    assert_string_equal (out.community, "c1");
    //  A retry answers the first outcome and moves nothing.
    assert_int_equal (s_redeem ("rider:R123", "rice", 1, "k1", &out), 0);
    assert_int_equal (out.redemption_id, id);
    assert_int_equal (out.points, 30);
    assert_int_equal (out.balance, 70);
    assert_int_equal (out.stock, 1);
    assert_string_equal (out.item_name, "大米 5斤");
    //  The key with anything else is refused.
    assert_int_equal (s_redeem ("rider:R123", "rice", 2, "k1", &out), MATCHING_LEDGER_KEY_REUSED);
    assert_int_equal (s_redeem ("rider:R124", "rice", 1, "k1", &out), MATCHING_LEDGER_KEY_REUSED);
    assert_int_equal (s_redeem ("rider:R123", "oil", 1, "k1", &out), MATCHING_LEDGER_KEY_REUSED);
    assert_int_equal (s_balance ("rider:R123"), 70);
    assert_int_equal (s_balance ("system:shop:c1"), 30);
    assert_int_equal (gz_testfix_scalar (s_db, "SELECT stock FROM matching.shop_items"
                                               " WHERE id = 'rice'"),
                      1);

    json_t *st = matching_ledger_statement (s_db, "rider:R123", 10);
    assert_int_equal (json_integer_value (json_object_get (st, "earned")), 100);
    assert_int_equal (json_integer_value (json_object_get (st, "spent")), 30);
    json_decref (st);
    json_t *items = matching_ledger_items (s_db, "c1");
    assert_int_equal (json_array_size (items), 1); // soap is inactive
    json_t *rice = json_array_get (items, 0);
    assert_string_equal (json_string_value (json_object_get (rice, "name")), "大米 5斤");
    assert_int_equal (json_integer_value (json_object_get (rice, "stock")), 1);
    assert_int_equal (json_integer_value (json_object_get (rice, "price")), 30);
    json_decref (items);
    items = matching_ledger_items (s_db, NULL);
    assert_int_equal (json_array_size (items), 2);
    json_decref (items);
    s_verify_clean ();
}

//  ---------------------------------------------------------------- 16 redeemers

typedef struct {
    int thread;
    const char *item;
    int redeemed, quantity, refused, replays_ok, errors;
} t_redeemer_t;

static void *
s_redeemer (void *arg)
{
    t_redeemer_t *self = arg;
    gz_db_t *db = s_connect ();
    unsigned seed = 7919u * (unsigned) (self->thread + 1);
    for (int i = 0; i < 30; i++) {
        char account[32], key[64];
        snprintf (account, sizeof account, "rider:c%d", rand_r (&seed) % 5);
        snprintf (key, sizeof key, "%s-t%d-%d", self->item, self->thread, i);
        int quantity = 1 + rand_r (&seed) % 3;
        matching_redeem_t out;
        int rc = -1;
        for (int attempt = 0; attempt < 5; attempt++) {
            gz_db_begin (db);
            rc = matching_ledger_redeem (db, account, self->item, quantity, key, &out);
            if (rc >= 0 && gz_db_commit (db) != 0)
                rc = -1;
            if (rc < 0)
                gz_db_rollback (db);
            if (rc != -1 || !gz_db_retryable (db))
                break;
        }
        if (rc == 1) {
            self->redeemed++;
            self->quantity += quantity;
            if (out.points != 7 * quantity || out.balance < 0 || out.stock < 0)
                self->errors++;
            //  Replay: the first outcome again, nothing moved.
            matching_redeem_t again;
            gz_db_begin (db);
            int rc2 = matching_ledger_redeem (db, account, self->item, quantity, key, &again);
            gz_db_commit (db);
            self->replays_ok += rc2 == 0 && again.redemption_id == out.redemption_id;
        }
        else if (rc == MATCHING_LEDGER_NO_POINTS || rc == MATCHING_LEDGER_NO_STOCK)
            self->refused++;
        else {
            fprintf (stderr, "redeem %s %s x%d: %d (%s %s)\n", account, key, quantity, rc,
                     gz_db_sqlstate (db), gz_db_error (db));
            self->errors++;
        }
    }
    gz_db_destroy (&db);
    return NULL;
}

//  16 threads, 30 attempts each, on item (price 7) with random accounts
//  rider:c0..c4 and quantities 1..3; then a sweep of single units until
//  every account is refused. The units redeemed into *quantity.
static void
s_redeem_race (const char *item, int *quantity)
{
    pthread_t t[16];
    t_redeemer_t r[16];
    for (int i = 0; i < 16; i++) {
        r[i] = (t_redeemer_t){.thread = i, .item = item};
        pthread_create (&t[i], NULL, s_redeemer, &r[i]);
    }
    int redeemed = 0, replays_ok = 0, errors = 0;
    *quantity = 0;
    for (int i = 0; i < 16; i++) {
        pthread_join (t[i], NULL);
        redeemed += r[i].redeemed;
        *quantity += r[i].quantity;
        replays_ok += r[i].replays_ok;
        errors += r[i].errors;
    }
    assert_int_equal (errors, 0);
    assert_int_equal (replays_ok, redeemed);
    for (int i = 0; i < 5; i++) {
        char account[32], key[64];
        snprintf (account, sizeof account, "rider:c%d", i);
        for (int k = 0;; k++) {
            matching_redeem_t out;
            snprintf (key, sizeof key, "%s-sweep-%d-%d", item, i, k);
            int rc = s_redeem (account, item, 1, key, &out);
            if (rc != 1) {
                assert_true (rc == MATCHING_LEDGER_NO_POINTS || rc == MATCHING_LEDGER_NO_STOCK);
                break;
            }
            redeemed++, (*quantity)++;
        }
    }
    assert_int_equal (gz_testfix_scalarf (s_db,
                                          "SELECT count(*) FROM matching.redemptions"
                                          " WHERE item_id = '%s'",
                                          item),
                      redeemed);
    assert_int_equal (gz_testfix_scalarf (s_db,
                                          "SELECT sum(quantity) FROM matching.redemptions"
                                          " WHERE item_id = '%s'",
                                          item),
                      *quantity);
    assert_int_equal (gz_testfix_scalarf (s_db,
                                          "SELECT count(*) FROM matching.redemptions"
                                          " WHERE item_id = '%s' AND points <> 7 * quantity",
                                          item),
                      0);
    assert_int_equal (gz_testfix_scalar (s_db, "SELECT count(*) FROM matching.balances"
                                               " WHERE account LIKE 'rider:c%' AND balance < 0"),
                      0);
    s_verify_clean ();
}

static void
test_concurrent_redeem (void **state)
{
    (void) state;
    for (int i = 0; i < 5; i++) {
        char account[32], key[32];
        snprintf (account, sizeof account, "rider:c%d", i);
        snprintf (key, sizeof key, "report:conc-%d", i);
        assert_int_equal (s_award (account, 100, key, NULL), 1);
    }
    //  The stock binds: 40 units of 7 points, 500 points. After the sweep
    //  stock or every balance is exhausted; with 500 - 7 * sold left over
    //  five accounts it must be the stock.
    int quantity = 0;
    s_redeem_race ("oil", &quantity);
    assert_int_equal (gz_testfix_scalar (s_db, "SELECT stock FROM matching.shop_items"
                                               " WHERE id = 'oil'"),
                      0);
    assert_int_equal (quantity, 40);
    assert_int_equal (gz_testfix_scalar (s_db, "SELECT sum(balance) FROM matching.balances"
                                               " WHERE account LIKE 'rider:c%'"),
                      500 - 7 * 40);
    assert_int_equal (s_balance ("system:shop:c2"), 7 * 40);

    //  The points bind: 220 points left, 1000 in stock.
    assert_int_equal (matching_ledger_item_put (s_db, "tea", "c2", "茶叶", 7, 1000, true), 0);
    s_redeem_race ("tea", &quantity);
    long long left = gz_testfix_scalar (s_db, "SELECT sum(balance) FROM matching.balances"
                                              " WHERE account LIKE 'rider:c%'");
    assert_int_equal (left + 7 * quantity, 220);
    assert_int_equal (gz_testfix_scalar (s_db, "SELECT count(*) FROM matching.balances"
                                               " WHERE account LIKE 'rider:c%' AND balance >= 7"),
                      0);
    assert_int_equal (gz_testfix_scalar (s_db, "SELECT stock FROM matching.shop_items"
                                               " WHERE id = 'tea'"),
                      1000 - quantity);
}

//  ---------------------------------------------------------------- duplicated events

typedef struct {
    int moved, errors;
} t_awarder_t;

static void *
s_awarder (void *arg)
{
    t_awarder_t *self = arg;
    gz_db_t *db = s_connect ();
    for (int i = 0; i < 200; i++) {
        char account[32], key[32];
        snprintf (account, sizeof account, "staff:d%d", i % 100 % 7);
        snprintf (key, sizeof key, "meeting:M1:%d", i % 100);
        gz_db_begin (db);
        int rc = matching_ledger_award (db, account, "c3", 3, "meeting", key, "逢四说事", NULL);
        if (rc >= 0 && gz_db_commit (db) != 0)
            rc = -1;
        if (rc < 0) {
            gz_db_rollback (db);
            self->errors++;
        }
        self->moved += rc == 1;
    }
    gz_db_destroy (&db);
    return NULL;
}

static void
test_concurrent_duplicates (void **state)
{
    (void) state;
    pthread_t t[4];
    t_awarder_t a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (t_awarder_t){0};
        pthread_create (&t[i], NULL, s_awarder, &a[i]);
    }
    int moved = 0, errors = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join (t[i], NULL);
        moved += a[i].moved;
        errors += a[i].errors;
    }
    assert_int_equal (errors, 0);
    assert_int_equal (moved, 100);
    assert_int_equal (gz_testfix_scalar (s_db, "SELECT count(*) FROM matching.ledger_tx"
                                               " WHERE source_key LIKE 'meeting:M1:%'"),
                      100);
    assert_int_equal (gz_testfix_scalar (s_db, "SELECT sum(balance) FROM matching.balances"
                                               " WHERE account LIKE 'staff:d%'"),
                      300);
    s_verify_clean ();
}

static void
test_redlist (void **state)
{
    (void) state;
    //  Back-dated by hand, balanced: 2026-01-31 16:30 UTC is 2026-02-01
    //  00:30 in China, so it counts in February.
    gz_testfix_exec (s_db, "BEGIN; INSERT INTO matching.accounts (id, kind, community_code)"
                           " VALUES ('volunteer:feb', 'person', 'c9');"
                           " INSERT INTO matching.ledger_tx (id, reason, source_key, at) VALUES"
                           " (9100, 'service', 'service:feb', '2026-01-31 16:30:00+00');"
                           " INSERT INTO matching.entries VALUES (9100, 'volunteer:feb', 50),"
                           " (9100, 'system:earn', -50); COMMIT");
    json_t *jan = matching_ledger_redlist (s_db, "2026-01", "c9", 10);
    assert_int_equal (json_array_size (jan), 0);
    json_decref (jan);
    json_t *feb = matching_ledger_redlist (s_db, "2026-02", NULL, 10);
    assert_int_equal (json_array_size (feb), 1);
    json_decref (feb);

    //  This month: staff:d0..d6 earned 3 per meeting key; c1's earners.
    char *month = gz_testfix_text (s_db, "SELECT to_char(now() AT TIME ZONE 'Asia/Shanghai',"
                                         " 'YYYY-MM')");
    json_t *list = matching_ledger_redlist (s_db, month, "c3", 3);
    assert_int_equal (json_array_size (list), 3);
    json_t *top = json_array_get (list, 0);
    assert_string_equal (json_string_value (json_object_get (top, "community")), "c3");
    assert_int_equal (json_integer_value (json_object_get (top, "rank")), 1);
    //  Keys 0..99 over 7 accounts: d0..d1 get 15 keys (45 points), the rest 14.
    assert_string_equal (json_string_value (json_object_get (top, "account")), "staff:d0");
    assert_int_equal (json_integer_value (json_object_get (top, "points")), 45);
    assert_int_equal (json_integer_value (json_object_get (json_array_get (list, 2), "rank")), 3);
    json_decref (list);
    list = matching_ledger_redlist (s_db, month, NULL, 1);
    //  One per community that earned this month: c1 (v-001, R123, X...), c3.
    size_t i;
    json_t *row;
    json_array_foreach (list, i, row)
        assert_int_equal (json_integer_value (json_object_get (row, "rank")), 1);
    assert_true (json_array_size (list) >= 2);
    json_decref (list);
    assert_null (matching_ledger_redlist (s_db, "2026-13", NULL, 10));
    assert_null (matching_ledger_redlist (s_db, "2026-1", NULL, 10));
    assert_null (matching_ledger_redlist (s_db, month, NULL, 0));
    free (month);
    s_verify_clean ();
}

//  Last: breaks the ledger on purpose.
static void
test_verify_finds_violations (void **state)
{
    (void) state;
    s_verify_clean ();
    gz_testfix_exec (s_db, "ALTER TABLE matching.entries DISABLE TRIGGER USER");
    gz_testfix_exec (s_db, "INSERT INTO matching.entries (tx_id, account, amount)"
                           " SELECT id, 'resident:X', 1 FROM matching.ledger_tx"
                           " WHERE source_key = 'service:1'");
    gz_testfix_exec (s_db, "ALTER TABLE matching.entries ENABLE TRIGGER USER");
    char report[4096];
    int n = matching_ledger_verify (s_db, report, sizeof report);
    //  The transaction sums to 1, resident:X's balance is not its sum.
    assert_int_equal (n, 2);
    assert_non_null (strstr (report, "sums to 1"));
    assert_non_null (strstr (report, "balance of resident:X is 13, its entries sum to 14"));
    //  A short report is truncated, the count is not.
    char tiny[8];
    assert_int_equal (matching_ledger_verify (s_db, tiny, sizeof tiny), 2);
    assert_int_equal (strlen (tiny), sizeof tiny - 1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_award_once),        cmocka_unit_test (test_correction),
        cmocka_unit_test (test_append_only),       cmocka_unit_test (test_redeem_rules),
        cmocka_unit_test (test_concurrent_redeem), cmocka_unit_test (test_concurrent_duplicates),
        cmocka_unit_test (test_redlist),           cmocka_unit_test (test_verify_finds_violations),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
