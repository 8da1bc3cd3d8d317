/*  matching_ledger_store: every SQL statement of the points ledger and the
    points supermarket (tables in sql/002_points.sql).

    DESIGN
    The database holds the invariants, the C code avoids tripping them:
    balances change only through the entries trigger, each transaction's
    entries are checked to sum to zero at commit (a deferred constraint
    trigger), a person's balance has a CHECK >= 0, and entries, ledger_tx
    and redemptions refuse UPDATE, DELETE and TRUNCATE. The writers check
    under row locks before they write, so a refusal never aborts the
    caller's transaction; only a real failure does.

    Lock order, the same for every writer so that concurrent ones queue
    instead of deadlocking: the person's account and balance row, the shop
    item's row, then the system account's balance row (system:earn,
    system:shop:<c>: hot rows, touched last, by the entries trigger at the
    end of one statement). A source key's unique entry only ever makes a
    twin with the same key wait. A caller moving points of several people
    in one transaction can still deadlock with another connection: it
    rolls back and retries (gz_db_retryable).  */
#include "gz_log.h"
#include "matching_ledger.h"
#include "matching_points.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVC "matching"

//  ---------------------------------------------------------------- writers

//  A new person account (and its balance row, by trigger); an existing
//  one takes the community when it is given and differs.
static const char *const s_account_sql =
    "INSERT INTO {schema}.accounts (id, kind, community_code) VALUES ($1, 'person', $2)"
    " ON CONFLICT (id) DO UPDATE SET community_code = EXCLUDED.community_code"
    " WHERE EXCLUDED.community_code <> '' AND accounts.community_code <> EXCLUDED.community_code";

//  One transaction of two entries, person first (the lock order); no row
//  when the source key was used before (or by a concurrent twin that
//  committed meanwhile: ON CONFLICT waits for it).
static const char *const s_move_sql =
    "WITH t AS (INSERT INTO {schema}.ledger_tx (reason, source_key, memo) VALUES ($1, $2, $3)"
    "  ON CONFLICT (source_key) DO NOTHING RETURNING id),"
    " e AS (INSERT INTO {schema}.entries (tx_id, account, amount)"
    "  SELECT t.id, v.account, v.amount FROM t,"
    "  (VALUES (1, $4, $5::bigint), (2, $6, -$5::bigint)) v (o, account, amount) ORDER BY v.o)"
    " SELECT id FROM t";

static const char *const s_balance_sql = "SELECT balance FROM {schema}.balances WHERE account = $1";

static const char *const s_balance_lock_sql =
    "SELECT balance FROM {schema}.balances WHERE account = $1 FOR UPDATE";

static const char *const s_key_used_sql = "SELECT 1 FROM {schema}.ledger_tx WHERE source_key = $1";

static const char *const s_item_lock_sql =
    "SELECT price, stock, name, community_code, active FROM {schema}.shop_items"
    " WHERE id = $1 FOR UPDATE";

//  The stored redemption of a key, with the item and balance as they are.
static const char *const s_redemption_sql =
    "SELECT r.id, r.account, r.item_id, r.quantity, r.points, i.name, i.community_code, i.stock,"
    "  coalesce(b.balance, 0)"
    " FROM {schema}.redemptions r JOIN {schema}.shop_items i ON i.id = r.item_id"
    " LEFT JOIN {schema}.balances b ON b.account = r.account WHERE r.key = $1";

//  Claims the key: no row when a redemption with it committed meanwhile.
static const char *const s_redeem_tx_sql =
    "INSERT INTO {schema}.ledger_tx (reason, source_key, memo) VALUES ('redeem', $1, $2)"
    " ON CONFLICT (source_key) DO NOTHING RETURNING id";

//  Entries (person first), stock and the redemption row in one statement.
static const char *const s_redeem_sql =
    "WITH e AS (INSERT INTO {schema}.entries (tx_id, account, amount)"
    "  SELECT $1::bigint, v.account, v.amount FROM"
    "  (VALUES (1, $2, -$5::bigint), (2, $6, $5::bigint)) v (o, account, amount) ORDER BY v.o),"
    " s AS (UPDATE {schema}.shop_items SET stock = stock - $4::int WHERE id = $3 RETURNING stock),"
    " r AS (INSERT INTO {schema}.redemptions (tx_id, account, item_id, quantity, points, key)"
    "  VALUES ($1::bigint, $2, $3, $4::int, $5::bigint, $7) RETURNING id)"
    " SELECT r.id, s.stock FROM r, s";

static const char *const s_item_put_sql =
    "WITH a AS (INSERT INTO {schema}.accounts (id, kind, community_code)"
    "  VALUES ('system:shop:' || $2, 'system', $2) ON CONFLICT (id) DO NOTHING)"
    " INSERT INTO {schema}.shop_items (id, community_code, name, price, stock, active)"
    " VALUES ($1, $2, $3, $4::bigint, $5::int, $6::boolean)"
    " ON CONFLICT (id) DO UPDATE SET community_code = EXCLUDED.community_code,"
    "  name = EXCLUDED.name, price = EXCLUDED.price, stock = EXCLUDED.stock,"
    "  active = EXCLUDED.active";

//  ---------------------------------------------------------------- readers

#define S_AT "to_char(t.at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"

static const char *const s_statement_sql =
    "SELECT json_build_object('account', $1::text,"
    "  'balance', coalesce((SELECT balance FROM {schema}.balances WHERE account = $1), 0),"
    "  'earned', coalesce((SELECT sum(e.amount) FROM {schema}.entries e"
    "   JOIN {schema}.ledger_tx t ON t.id = e.tx_id"
    "   WHERE e.account = $1 AND t.reason <> 'redeem'), 0),"
    "  'spent', coalesce((SELECT -sum(e.amount) FROM {schema}.entries e"
    "   JOIN {schema}.ledger_tx t ON t.id = e.tx_id"
    "   WHERE e.account = $1 AND t.reason = 'redeem'), 0),"
    "  'entries', coalesce((SELECT json_agg(json_build_object('tx', x.id, 'amount', x.amount,"
    "   'reason', x.reason, 'source', x.source_key, 'memo', x.memo, 'at', x.at) ORDER BY x.id DESC)"
    "   FROM (SELECT t.id, e.amount, t.reason, t.source_key, t.memo, " S_AT " AS at"
    "    FROM {schema}.entries e JOIN {schema}.ledger_tx t ON t.id = e.tx_id"
    "    WHERE e.account = $1 ORDER BY e.tx_id DESC LIMIT $2::int) x), '[]'))::text";

static const char *const s_items_sql =
    "SELECT coalesce(json_agg(json_build_object('id', id, 'community', community_code,"
    "  'name', name, 'price', price, 'stock', stock) ORDER BY community_code, id), '[]')::text"
    " FROM {schema}.shop_items WHERE active AND ($1::text IS NULL OR community_code = $1)";

//  The month's bounds in China time; earned = the non-redeem entries.
static const char *const s_redlist_sql =
    "SELECT coalesce(json_agg(json_build_object('community', community, 'account', account,"
    "  'points', points, 'rank', rank) ORDER BY community, rank), '[]')::text"
    " FROM (SELECT a.community_code AS community, e.account, sum(e.amount) AS points,"
    "  row_number() OVER (PARTITION BY a.community_code ORDER BY sum(e.amount) DESC, e.account)"
    "   AS rank"
    "  FROM {schema}.entries e JOIN {schema}.ledger_tx t ON t.id = e.tx_id"
    "  JOIN {schema}.accounts a ON a.id = e.account"
    "  WHERE a.kind = 'person' AND t.reason <> 'redeem'"
    "  AND t.at >= ($1 || '-01')::timestamp AT TIME ZONE 'Asia/Shanghai'"
    "  AND t.at < (($1 || '-01')::timestamp + interval '1 month') AT TIME ZONE 'Asia/Shanghai'"
    "  AND ($2::text IS NULL OR a.community_code = $2)"
    "  GROUP BY a.community_code, e.account HAVING sum(e.amount) > 0) x"
    " WHERE rank <= $3::int";

static const char *const s_verify_sql =
    "SELECT 'transaction ' || tx_id || ' sums to ' || sum(amount) FROM {schema}.entries"
    "  GROUP BY tx_id HAVING sum(amount) <> 0"
    " UNION ALL SELECT 'transaction ' || t.id || ' has no entries' FROM {schema}.ledger_tx t"
    "  WHERE NOT EXISTS (SELECT 1 FROM {schema}.entries e WHERE e.tx_id = t.id)"
    " UNION ALL SELECT 'balance of ' || a.id || ' is ' || coalesce(b.balance::text, 'missing')"
    "  || ', its entries sum to ' || coalesce(s.total, 0)"
    "  FROM {schema}.accounts a LEFT JOIN {schema}.balances b ON b.account = a.id"
    "  LEFT JOIN (SELECT account, sum(amount) AS total FROM {schema}.entries GROUP BY account) s"
    "   ON s.account = a.id"
    "  WHERE b.balance IS DISTINCT FROM coalesce(s.total, 0)"
    " UNION ALL SELECT 'person ' || b.account || ' has balance ' || b.balance || ' below zero'"
    "  FROM {schema}.balances b JOIN {schema}.accounts a ON a.id = b.account"
    "  WHERE a.kind = 'person' AND b.balance < 0"
    " UNION ALL SELECT 'redemption ' || r.id || ' of ' || r.points || ' points took '"
    "  || coalesce((-e.amount)::text, 'nothing') || ' from ' || r.account"
    "  FROM {schema}.redemptions r LEFT JOIN {schema}.entries e"
    "   ON e.tx_id = r.tx_id AND e.account = r.account"
    "  WHERE e.amount IS DISTINCT FROM -r.points"
    " ORDER BY 1";

void
matching_ledger_prepare (gz_db_t *db, const char *schema)
{
    assert (db && schema);
    struct {
        const char *name, *sql;
    } list[] = {
        {"ml_account", s_account_sql},       {"ml_move", s_move_sql},
        {"ml_balance", s_balance_sql},       {"ml_balance_lock", s_balance_lock_sql},
        {"ml_key_used", s_key_used_sql},     {"ml_item_lock", s_item_lock_sql},
        {"ml_redemption", s_redemption_sql}, {"ml_redeem_tx", s_redeem_tx_sql},
        {"ml_redeem", s_redeem_sql},         {"ml_item_put", s_item_put_sql},
        {"ml_statement", s_statement_sql},   {"ml_items", s_items_sql},
        {"ml_redlist", s_redlist_sql},       {"ml_verify", s_verify_sql},
    };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
        gz_db_prepare_schema (db, list[i].name, list[i].sql, schema);
}

//  Run a statement; the number of rows it returned (first value of its
//  first row into first, when given and there is one), -1 on failure.
static int
s_query (gz_db_t *db, const char *name, int n, const char *const *values, int64_t *first)
{
    PGresult *r = gz_db_exec (db, name, n, values);
    if (!r) {
        gz_warn (SVC, "msg=\"ledger statement failed\" statement=%s sqlstate=%s error=\"%s\"", name,
                 gz_db_sqlstate (db), gz_db_error (db));
        return -1;
    }
    int rows = PQntuples (r);
    if (first && rows > 0 && PQnfields (r) > 0)
        *first = strtoll (PQgetvalue (r, 0, 0), NULL, 10);
    PQclear (r);
    return rows;
}

static int
s_balance (gz_db_t *db, const char *account, int64_t *balance)
{
    if (!balance)
        return 0;
    *balance = 0;
    const char *v[] = {account};
    return s_query (db, "ml_balance", 1, v, balance) < 0 ? -1 : 0;
}

static bool
s_text_valid (const char *s, size_t max)
{
    return s && *s && strlen (s) <= max;
}

//  A source key of award or correct: "redeem:" is the redemptions' own.
static bool
s_source_valid (const char *key)
{
    return s_text_valid (key, 200) && strncmp (key, "redeem:", 7) != 0;
}

//  The shared part of award and correct: account made, the transaction
//  moved from system:earn. 1 moved, 0 key used, -1 failure.
static int
s_move (gz_db_t *db, const char *account, const char *community, int64_t amount, const char *reason,
        const char *source_key, const char *memo)
{
    const char *a[] = {account, community ? community : ""};
    if (s_query (db, "ml_account", 2, a, NULL) < 0)
        return -1;
    char amount_s[32];
    snprintf (amount_s, sizeof amount_s, "%" PRId64, amount);
    const char *v[] = {reason, source_key, memo ? memo : "", account, amount_s, "system:earn"};
    return s_query (db, "ml_move", 6, v, NULL);
}

int
matching_ledger_award (gz_db_t *db, const char *account, const char *community, int64_t points,
                       const char *reason, const char *source_key, const char *memo,
                       int64_t *balance)
{
    assert (db);
    if (balance)
        *balance = 0;
    if (!matching_points_person_valid (account))
        return MATCHING_LEDGER_BAD_ACCOUNT;
    static const char *const reasons[] = {"service", "report", "rider_report", "meeting"};
    bool known = false;
    for (size_t i = 0; reason && i < sizeof reasons / sizeof reasons[0]; i++)
        known = known || strcmp (reason, reasons[i]) == 0;
    if (!known || points <= 0 || !s_source_valid (source_key) ||
        (community && strlen (community) > 64))
        return -1;
    int rc = s_move (db, account, community, points, reason, source_key, memo);
    if (rc < 0 || s_balance (db, account, balance))
        return -1;
    return rc;
}

int
matching_ledger_correct (gz_db_t *db, const char *account, int64_t amount, const char *source_key,
                         const char *memo, int64_t *balance)
{
    assert (db);
    if (balance)
        *balance = 0;
    if (!matching_points_person_valid (account))
        return MATCHING_LEDGER_BAD_ACCOUNT;
    if (amount == 0 || amount == INT64_MIN || !s_source_valid (source_key))
        return -1;
    const char *k[] = {source_key};
    int used = s_query (db, "ml_key_used", 1, k, NULL);
    if (used < 0)
        return -1;
    if (used > 0)
        return s_balance (db, account, balance) ? -1 : 0;
    //  Made first, so that there is a balance row to lock.
    const char *a[] = {account, ""};
    if (s_query (db, "ml_account", 2, a, NULL) < 0)
        return -1;
    int64_t now = 0;
    const char *v[] = {account};
    if (s_query (db, "ml_balance_lock", 1, v, &now) != 1)
        return -1;
    if (balance)
        *balance = now;
    if (now + amount < 0)
        return MATCHING_LEDGER_NO_POINTS;
    int rc = s_move (db, account, NULL, amount, "correction", source_key, memo);
    if (rc < 0 || s_balance (db, account, balance))
        return -1;
    return rc;
}

//  The stored redemption of key into out: 0 it matches the request, -5
//  it is another's, 1 none.
static int
s_redemption (gz_db_t *db, const char *key, const char *account, const char *item_id, int quantity,
              matching_redeem_t *out)
{
    const char *v[] = {key};
    PGresult *r = gz_db_exec (db, "ml_redemption", 1, v);
    if (!r)
        return -1;
    int rc = 1;
    if (PQntuples (r) == 1) {
        rc = strcmp (PQgetvalue (r, 0, 1), account) == 0 &&
                     strcmp (PQgetvalue (r, 0, 2), item_id) == 0 &&
                     atoi (PQgetvalue (r, 0, 3)) == quantity
                 ? 0
                 : MATCHING_LEDGER_KEY_REUSED;
        if (rc == 0) {
            out->redemption_id = strtoll (PQgetvalue (r, 0, 0), NULL, 10);
            out->points = strtoll (PQgetvalue (r, 0, 4), NULL, 10);
            snprintf (out->item_name, sizeof out->item_name, "%s", PQgetvalue (r, 0, 5));
            snprintf (out->community, sizeof out->community, "%s", PQgetvalue (r, 0, 6));
            out->stock = (int32_t) atoi (PQgetvalue (r, 0, 7));
            out->balance = strtoll (PQgetvalue (r, 0, 8), NULL, 10);
        }
    }
    PQclear (r);
    return rc;
}

//  Lock the item's row; its price and stock into *price, out->stock, its
//  name and community into out. 0 ok, -4 unknown or inactive, -1 failure.
static int
s_item_lock (gz_db_t *db, const char *item_id, int64_t *price, matching_redeem_t *out)
{
    const char *v[] = {item_id};
    PGresult *r = gz_db_exec (db, "ml_item_lock", 1, v);
    if (!r)
        return -1;
    int rc = MATCHING_LEDGER_NO_ITEM;
    if (PQntuples (r) == 1 && PQgetvalue (r, 0, 4)[0] == 't') {
        *price = strtoll (PQgetvalue (r, 0, 0), NULL, 10);
        out->stock = (int32_t) atoi (PQgetvalue (r, 0, 1));
        snprintf (out->item_name, sizeof out->item_name, "%s", PQgetvalue (r, 0, 2));
        snprintf (out->community, sizeof out->community, "%s", PQgetvalue (r, 0, 3));
        rc = 0;
    }
    PQclear (r);
    return rc;
}

//  Write the redemption (the checks passed, the rows are locked).
static int
s_redeem_write (gz_db_t *db, const char *account, const char *item_id, int quantity,
                const char *key, matching_redeem_t *out)
{
    char source[256], memo[320], shop[96];
    snprintf (source, sizeof source, "redeem:%s", key);
    snprintf (memo, sizeof memo, "%s x%d", out->item_name, quantity);
    snprintf (shop, sizeof shop, "system:shop:%s", out->community);
    const char *t[] = {source, memo};
    PGresult *r = gz_db_exec (db, "ml_redeem_tx", 2, t);
    if (!r)
        return -1;
    bool claimed = PQntuples (r) == 1;
    char tx[32] = "";
    if (claimed)
        snprintf (tx, sizeof tx, "%s", PQgetvalue (r, 0, 0));
    PQclear (r);
    if (!claimed) {
        //  A twin with this key committed while we waited for the locks.
        int rc = s_redemption (db, key, account, item_id, quantity, out);
        return rc == 1 ? -1 : rc;
    }
    char qty[16], points[32];
    snprintf (qty, sizeof qty, "%d", quantity);
    snprintf (points, sizeof points, "%" PRId64, out->points);
    const char *v[] = {tx, account, item_id, qty, points, shop, key};
    r = gz_db_exec (db, "ml_redeem", 7, v);
    if (!r)
        return -1;
    int rc = -1;
    if (PQntuples (r) == 1) {
        out->redemption_id = strtoll (PQgetvalue (r, 0, 0), NULL, 10);
        out->stock = (int32_t) atoi (PQgetvalue (r, 0, 1));
        out->balance -= out->points;
        rc = 1;
    }
    PQclear (r);
    return rc;
}

int
matching_ledger_redeem (gz_db_t *db, const char *account, const char *item_id, int quantity,
                        const char *key, matching_redeem_t *out)
{
    assert (db && out);
    memset (out, 0, sizeof *out);
    if (!matching_points_person_valid (account))
        return MATCHING_LEDGER_BAD_ACCOUNT;
    if (!s_text_valid (item_id, 64) || quantity < 1 || quantity > 100 || !s_text_valid (key, 200))
        return -1;
    int rc = s_redemption (db, key, account, item_id, quantity, out);
    if (rc <= 0)
        return rc;
    //  Account first, then item: the lock order of every writer.
    const char *v[] = {account};
    int64_t balance = 0;
    if (s_query (db, "ml_balance_lock", 1, v, &balance) < 0)
        return -1;
    int64_t price = 0;
    rc = s_item_lock (db, item_id, &price, out);
    if (rc)
        return rc;
    out->balance = balance;
    out->points = price * quantity;
    if (balance < out->points)
        return MATCHING_LEDGER_NO_POINTS;
    if (out->stock < quantity)
        return MATCHING_LEDGER_NO_STOCK;
    return s_redeem_write (db, account, item_id, quantity, key, out);
}

//  1..64 of [A-Za-z0-9._-]: item ids and community codes.
static bool
s_code_valid (const char *s)
{
    size_t n = s ? strlen (s) : 0;
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int
matching_ledger_item_put (gz_db_t *db, const char *id, const char *community, const char *name,
                          int64_t price, int32_t stock, bool active)
{
    assert (db);
    //  A price cap keeps price * 100 far from overflowing.
    if (!s_code_valid (id) || !s_code_valid (community) || !s_text_valid (name, 200) ||
        price <= 0 || price > INT64_C (1000000000000) || stock < 0)
        return -1;
    char price_s[32], stock_s[16];
    snprintf (price_s, sizeof price_s, "%" PRId64, price);
    snprintf (stock_s, sizeof stock_s, "%" PRId32, stock);
    const char *v[] = {id, community, name, price_s, stock_s, active ? "true" : "false"};
    return s_query (db, "ml_item_put", 6, v, NULL) < 0 ? -1 : 0;
}

//  ---------------------------------------------------------------- readers

//  The one text value a JSON-building statement returns, parsed.
static json_t *
s_json (gz_db_t *db, const char *name, int n, const char *const *values)
{
    PGresult *r = gz_db_exec (db, name, n, values);
    if (!r) {
        gz_warn (SVC, "msg=\"ledger read failed\" statement=%s sqlstate=%s error=\"%s\"", name,
                 gz_db_sqlstate (db), gz_db_error (db));
        return NULL;
    }
    json_t *json = NULL;
    if (PQntuples (r) == 1)
        json = json_loads (PQgetvalue (r, 0, 0), JSON_DECODE_ANY, NULL);
    PQclear (r);
    return json;
}

json_t *
matching_ledger_statement (gz_db_t *db, const char *account, int limit)
{
    assert (db);
    if (!matching_points_account_valid (account) || limit < 1 || limit > 1000)
        return NULL;
    char limit_s[16];
    snprintf (limit_s, sizeof limit_s, "%d", limit);
    const char *v[] = {account, limit_s};
    return s_json (db, "ml_statement", 2, v);
}

json_t *
matching_ledger_items (gz_db_t *db, const char *community)
{
    assert (db);
    const char *v[] = {community};
    return s_json (db, "ml_items", 1, v);
}

json_t *
matching_ledger_redlist (gz_db_t *db, const char *month, const char *community, int limit)
{
    assert (db);
    bool ok = month && strlen (month) == 7 && month[4] == '-' && limit >= 1 && limit <= 100;
    for (int i = 0; ok && i < 7; i++)
        ok = i == 4 || (month[i] >= '0' && month[i] <= '9');
    int m = ok ? atoi (month + 5) : 0;
    if (!ok || m < 1 || m > 12 || atoi (month) < 2000)
        return NULL;
    char limit_s[16];
    snprintf (limit_s, sizeof limit_s, "%d", limit);
    const char *v[] = {month, community, limit_s};
    return s_json (db, "ml_redlist", 3, v);
}

int
matching_ledger_verify (gz_db_t *db, char *report, size_t report_size)
{
    assert (db);
    if (report && report_size)
        report[0] = '\0';
    PGresult *r = gz_db_exec (db, "ml_verify", 0, NULL);
    if (!r) {
        gz_warn (SVC, "msg=\"ledger verify failed\" sqlstate=%s error=\"%s\"", gz_db_sqlstate (db),
                 gz_db_error (db));
        return -1;
    }
    int n = PQntuples (r);
    size_t used = 0;
    for (int i = 0; report && i < n && used + 1 < report_size; i++) {
        int w = snprintf (report + used, report_size - used, "%s\n", PQgetvalue (r, i, 0));
        used = w < 0 ? report_size : used + (size_t) w;
    }
    PQclear (r);
    return n;
}
