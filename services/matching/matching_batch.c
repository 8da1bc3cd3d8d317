/*  matching_batch: one batch (open needs x active volunteers -> the
    optimal offers) and offer expiry, each one transaction with its events.

    A batch: lock the open needs (SKIP LOCKED: replicas share the work),
    load the active volunteers under their weekly cap, map grid and
    community codes to small integers (a volunteer without coordinates
    stands at their grid's centre: the mean of its buildings), build the
    feasible pairs with their costs (matching_pairs.c), solve
    (matching_solver.c: the most needs matched, then the least cost),
    insert the offers with their secrets, mark the needs offered, record
    the batch and stage one MatchOffered per offer; then commit. A crash
    anywhere before the commit leaves nothing; after it, everything.  */
#include "gz_log.h"
#include "matching.h"
#include "matching_solver.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define SVC "matching"
#define S_MAX_NEEDS 20000

//  Codes to small integers, and each grid's centre.
typedef struct {
    zhashx_t *ids; //  code -> (index + 1)
    size_t count;
    zhashx_t *centre; //  grid code -> double[3] (lat sum, lon sum, n)
} s_codes_t;

static int32_t
s_intern (s_codes_t *c, const char *code)
{
    uintptr_t v = (uintptr_t) zhashx_lookup (c->ids, code);
    if (!v) {
        v = ++c->count;
        zhashx_insert (c->ids, code, (void *) v);
    }
    return (int32_t) (v - 1);
}

static void
s_centres (s_codes_t *c, gz_org_t *org)
{
    c->centre = zhashx_new ();
    zhashx_set_destructor (c->centre, (zhashx_destructor_fn *) zstr_free);
    for (size_t i = 0; org && i < gz_org_building_count (org); i++) {
        const gz_building_t *b = gz_org_building_at (org, i);
        double *d = zhashx_lookup (c->centre, b->grid_code);
        if (!d) {
            d = calloc (3, sizeof *d);
            assert (d);
            zhashx_insert (c->centre, b->grid_code, d);
        }
        d[0] += b->lat, d[1] += b->lon, d[2] += 1;
    }
}

static void
s_secret (char *out, size_t size)
{
    uint8_t raw[16];
    if (getrandom (raw, sizeof raw, 0) != (ssize_t) sizeof raw)
        abort ();
    for (size_t i = 0; i < sizeof raw && 2 * i + 2 < size; i++)
        snprintf (out + 2 * i, 3, "%02x", raw[i]);
}

//  The pairs inputs from the loaded rows; excluded and previous by index.
typedef struct {
    mt_pairs_need_t *needs;
    mt_pairs_volunteer_t *vols;
    int64_t *excluded; //  all needs' exclusions, back to back
} s_input_t;

static void
s_input (s_input_t *in, s_codes_t *codes, gz_org_t *org, matching_batch_need_t *nd, long nn,
         matching_batch_vol_t *vd, long nv)
{
    in->needs = calloc ((size_t) nn + 1, sizeof *in->needs);
    in->vols = calloc ((size_t) nv + 1, sizeof *in->vols);
    zhashx_t *vix = zhashx_new (); //  volunteer id -> index + 1
    for (long v = 0; v < nv; v++) {
        matching_batch_vol_t *d = &vd[v];
        mt_pairs_volunteer_t *p = &in->vols[v];
        const char *community = org ? gz_org_unit_parent (org, d->grid) : NULL;
        p->grid = s_intern (codes, d->grid);
        p->community = s_intern (codes, community ? community : "?");
        p->lat = d->lat, p->lon = d->lon;
        double *c = d->has_location ? NULL : zhashx_lookup (codes->centre, d->grid);
        if (c && c[2] > 0)
            p->lat = c[0] / c[2], p->lon = c[1] / c[2];
        p->skills = d->skills;
        p->windows = d->windows, p->n_windows = d->n_windows;
        p->capacity = d->capacity;
        p->recent_load = d->recent_load;
        p->rating_x10 = d->rating_x10;
        zhashx_insert (vix, d->id, (void *) (uintptr_t) (v + 1));
    }
    size_t total = 0;
    for (long i = 0; i < nn; i++)
        total += nd[i].excluded[0] ? 1 + strlen (nd[i].excluded) / 2 : 0;
    in->excluded = calloc (total + 1, sizeof *in->excluded);
    size_t used = 0;
    for (long i = 0; i < nn; i++) {
        matching_batch_need_t *d = &nd[i];
        mt_pairs_need_t *p = &in->needs[i];
        p->lat = d->lat, p->lon = d->lon;
        p->grid = s_intern (codes, d->grid);
        p->community = s_intern (codes, d->community);
        p->skill = d->skill;
        p->windows = d->windows, p->n_windows = d->n_windows;
        p->urgent = d->urgent;
        uintptr_t prev = d->previous[0] ? (uintptr_t) zhashx_lookup (vix, d->previous) : 0;
        p->previous = prev ? (int64_t) prev - 1 : -1;
        p->excluded = in->excluded + used;
        char *copy = strdup (d->excluded), *save = NULL;
        for (char *id = strtok_r (copy, ",", &save); id; id = strtok_r (NULL, ",", &save)) {
            uintptr_t x = (uintptr_t) zhashx_lookup (vix, id);
            if (x && used < total)
                in->excluded[used++] = (int64_t) x - 1, p->n_excluded++;
        }
        free (copy);
    }
    zhashx_destroy (&vix);
}

//  One MatchOffered per offer.
static void
s_emit_offers (matching_t *ctx, matching_batch_need_t *nd, matching_batch_vol_t *vd,
               const int64_t *chosen, matching_batch_offer_t *offers, size_t n, int64_t batch_id,
               int64_t expires_us, const long *need_of)
{
    for (size_t k = 0; k < n; k++) {
        matching_batch_need_t *d = &nd[need_of[k]];
        matching_batch_vol_t *v = &vd[chosen[need_of[k]]];
        Gongzhi__V1__MatchingEvent ev = GONGZHI__V1__MATCHING_EVENT__INIT;
        ev.kind = "offered";
        ev.need_id = d->id;
        ev.offer_id = offers[k].offer_id;
        ev.volunteer_id = v->id;
        ev.volunteer_name = v->name;
        ev.skill = (char *) mt_skill_name (d->skill);
        ev.skill_label = (char *) mt_skill_label (d->skill);
        ev.building_code = d->building;
        ev.grid_code = d->grid;
        ev.community_code = d->community;
        ev.subdistrict_code = d->subdistrict;
        const gz_building_t *b = ctx->org ? gz_org_building (ctx->org, d->building) : NULL;
        ev.place = (char *) (b ? b->name : "");
        ev.urgent = d->urgent;
        ev.window_from_us = d->from_us;
        ev.window_to_us = d->to_us;
        ev.weekly = d->weekly;
        ev.expires_at_us = expires_us;
        ev.batch_id = batch_id;
        char key[32];
        snprintf (key, sizeof key, "%lld", (long long) d->id);
        matching_emit (ctx, "MatchOffered", key, &ev);
    }
}

//  Solve and write inside the open transaction. Offers made, or -1.
static int
s_solve_write (matching_t *ctx, matching_batch_need_t *nd, long nn, matching_batch_vol_t *vd,
               long nv)
{
    s_codes_t codes = {zhashx_new (), 0, NULL};
    s_centres (&codes, ctx->org);
    s_input_t in;
    s_input (&in, &codes, ctx->org, nd, nn, vd, nv);
    int64_t t0 = zclock_usecs ();
    matching_solver_t *solver = matching_solver_new ((size_t) nn, (size_t) nv);
    long pairs =
        mt_pairs_build (in.needs, (size_t) nn, in.vols, (size_t) nv, &ctx->weights, solver);
    matching_result_t res;
    memset (&res, 0, sizeof res);
    int rc = pairs < 0 ? -1 : matching_solver_solve (solver, &res);
    double solve_ms = (double) (zclock_usecs () - t0) / 1000.0;
    matching_solver_destroy (&solver);
    int made = -1;
    if (rc == 0) {
        matching_batch_offer_t *offers = calloc (res.matched + 1, sizeof *offers);
        long *need_of = calloc (res.matched + 1, sizeof *need_of);
        size_t k = 0;
        for (long i = 0; i < nn && k < res.matched; i++)
            if (res.volunteer[i] >= 0) {
                offers[k].need_id = nd[i].id;
                offers[k].volunteer_id = vd[res.volunteer[i]].id;
                offers[k].cost = mt_pairs_cost (&in.needs[i], &in.vols[res.volunteer[i]],
                                                res.volunteer[i], &ctx->weights);
                s_secret (offers[k].secret, sizeof offers[k].secret);
                need_of[k++] = i;
            }
        int64_t expires = matching_now_us (ctx) + (int64_t) ctx->cfg->offer_ttl_s * 1000000;
        int64_t batch =
            matching_store_batch_insert (ctx->db, nn, nv, pairs, (long) k, res.cost, solve_ms);
        if (batch > 0 &&
            (k == 0 || matching_store_batch_offers (ctx->db, batch, expires, offers, k) == 0)) {
            s_emit_offers (ctx, nd, vd, res.volunteer, offers, k, batch, expires, need_of);
            made = (int) k;
        }
        for (size_t i = 0; i < k; i++)
            explicit_bzero (offers[i].secret, sizeof offers[i].secret);
        free (offers);
        free (need_of);
    }
    gz_info (SVC,
             "msg=\"batch\" needs=%ld volunteers=%ld pairs=%ld matched=%zu cost=%lld solve_ms=%.1f",
             nn, nv, pairs, res.matched, (long long) res.cost, solve_ms);
    matching_result_free (&res);
    free (in.needs);
    free (in.vols);
    free (in.excluded);
    zhashx_destroy (&codes.ids);
    zhashx_destroy (&codes.centre);
    return made;
}

int
matching_batch_run (matching_t *ctx)
{
    int64_t t0 = zclock_usecs ();
    ctx->last_batch_us = gz_now_us ();
    ctx->dirty = false;
    if (gz_db_ensure (ctx->db) || gz_db_begin (ctx->db)) {
        ctx->dirty = true;
        return -1;
    }
    matching_batch_need_t *nd = NULL;
    matching_batch_vol_t *vd = NULL;
    long nn = matching_store_batch_needs (ctx->db, S_MAX_NEEDS, &nd);
    long nv = nn > 0 ? matching_store_batch_volunteers (ctx->db, matching_now_us (ctx), &vd) : 0;
    int made = nn < 0 || nv < 0 ? -1 : 0;
    if (nn > 0 && nv > 0)
        made = s_solve_write (ctx, nd, nn, vd, nv);
    if (made > 0 && gz_bus_pub_write (ctx->pub) == 0 && gz_db_commit (ctx->db) == 0) {
        gz_bus_pub_committed (ctx->pub);
        gz_metrics_add (ctx->metrics, "gz_matching_batches_total", NULL, 1);
        gz_metrics_add (ctx->metrics, "gz_matching_offers_total", "outcome=\"offered\"", made);
    }
    else {
        //  Nothing to offer (a batch row alone is not worth keeping), or
        //  a failure: nothing of it stays.
        gz_db_rollback (ctx->db);
        gz_bus_pub_aborted (ctx->pub);
        if (made > 0 || made < 0) {
            made = -1;
            ctx->dirty = true;
            gz_metrics_add (ctx->metrics, "gz_db_errors_total", NULL, 1);
            gz_warn (SVC, "msg=\"batch failed\" sqlstate=%s error=\"%s\"", gz_db_sqlstate (ctx->db),
                     gz_db_error (ctx->db));
        }
    }
    matching_store_batch_needs_free (nd, nn);
    free (vd);
    gz_metrics_set (ctx->metrics, "gz_matching_batch_seconds", NULL,
                    (double) (zclock_usecs () - t0) / 1e6);
    return made;
}

int
matching_expire_due (matching_t *ctx)
{
    matching_row_t rows[500];
    if (gz_db_ensure (ctx->db) || gz_db_begin (ctx->db))
        return -1;
    int n = matching_store_expire (ctx->db, matching_now_us (ctx), rows, 500);
    for (int i = 0; i < n; i++) {
        Gongzhi__V1__MatchingEvent ev = GONGZHI__V1__MATCHING_EVENT__INIT;
        ev.kind = "expired";
        ev.need_id = rows[i].need_id;
        ev.offer_id = rows[i].offer_id;
        ev.volunteer_id = rows[i].volunteer_id;
        ev.skill = (char *) mt_skill_name (rows[i].skill);
        ev.building_code = rows[i].building;
        ev.grid_code = rows[i].grid;
        ev.community_code = rows[i].community;
        ev.subdistrict_code = rows[i].subdistrict;
        ev.urgent = rows[i].urgent;
        char key[32];
        snprintf (key, sizeof key, "%lld", (long long) rows[i].need_id);
        matching_emit (ctx, "MatchExpired", key, &ev);
    }
    if (n > 0 && gz_bus_pub_write (ctx->pub) == 0 && gz_db_commit (ctx->db) == 0) {
        gz_bus_pub_committed (ctx->pub);
        gz_metrics_add (ctx->metrics, "gz_matching_offers_total", "outcome=\"expired\"", n);
        ctx->dirty = true;
        return n;
    }
    gz_db_rollback (ctx->db);
    gz_bus_pub_aborted (ctx->pub);
    return n == 0 ? 0 : -1;
}
