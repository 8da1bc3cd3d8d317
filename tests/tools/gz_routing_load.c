/*  gz_routing_load: submit a known set of requests to a real intake over
    its bus, for the routing kill -9 and replica tests
    (tests/integration/test_routing_kill9.sh, test_routing_replicas.sh).

      gz_routing_load URL ENDPOINT API_KEY TOTAL RATE PREFIX

    Sends TOTAL SubmitRequest commands (idempotency keys PREFIX-0 ..
    PREFIX-<TOTAL-1>) to intake's ROUTER at ENDPOINT, paced at RATE per
    second, on one DEALER, reading replies as they come. Request i goes to
    building i mod B (B buildings of the seeded directory, read from URL)
    in a category that varies with i, so (building, category) pairs do not
    repeat, except on purpose: every 25th request from 1,000 on (i mod 25
    = 7) repeats the building and category of request i - 501, and is
    merged by routing into it. Every 10th request mentions a gas smell (疑难,
    departments lead), every 10th + 1 spans communities (上级); the rest
    take their category's catch-all.

    Replies are not matched to requests (intake answers with the new id);
    once all are sent and answered (or 30 s pass), the keys intake does not
    hold are looked up in URL and sent again with the same keys, until
    intake holds all TOTAL (at most 10 rounds). Prints counts and exits 0
    when intake holds every key, 1 otherwise, 2 on bad usage.  */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gz_category.h"
#include "gz_codec.h"
#include "gz_db.h"

#define DUP_EVERY 25
#define DUP_PHASE 7
#define DUP_FROM 1000
#define DUP_BACK 501

typedef struct {
    char **buildings;
    size_t nbuildings;
    const gz_category_t *cats;
    size_t ncats;
    const char *api_key, *prefix;
    zsock_t *dealer;
    long replies, ok, duplicate, errors;
} load_t;

//  The building and category of request i (following a duplicate back).
static void
s_pair (const load_t *self, long i, size_t *b, size_t *c)
{
    while (i >= DUP_FROM && i % DUP_EVERY == DUP_PHASE)
        i -= DUP_BACK;
    *b = (size_t) i % self->nbuildings;
    *c = ((size_t) i + (size_t) i / self->nbuildings) % self->ncats;
}

static void
s_send (load_t *self, long i)
{
    size_t b, c;
    s_pair (self, i, &b, &c);
    const gz_category_t *cat = &self->cats[c];
    char desc[128], key[96];
    if (i % 10 == 0)
        snprintf (desc, sizeof desc, "楼里有燃气味，请尽快处理（%ld）", i);
    else if (i % 10 == 1)
        snprintf (desc, sizeof desc, "跨社区的问题，需要街道协调（%ld）", i);
    else
        snprintf (desc, sizeof desc, "%s方面的问题，请处理（%ld）", cat->name, i);
    snprintf (key, sizeof key, "%s-%ld", self->prefix, i);
    Gongzhi__V1__Location loc = GONGZHI__V1__LOCATION__INIT;
    loc.building_code = self->buildings[b];
    Gongzhi__V1__SubmitRequest req = GONGZHI__V1__SUBMIT_REQUEST__INIT;
    req.service_code = (char *) cat->code;
    req.description = desc;
    req.location = &loc;
    req.external_id = key;
    //  Required attributes take their first value.
    Gongzhi__V1__Attribute attrs[8], *attrp[8];
    size_t n = 0;
    for (const gz_attr_t *a = cat->attrs; a && a->code && n < 8; a++) {
        if (!a->required)
            continue;
        gongzhi__v1__attribute__init (&attrs[n]);
        attrs[n].code = (char *) a->code;
        attrs[n].value = (char *) (a->values ? a->values[0].key : "1");
        attrp[n] = &attrs[n];
        n++;
    }
    req.attributes = attrp;
    req.n_attributes = n;
    zframe_t *frame =
        gz_codec_envelope_frame ("SubmitRequest", NULL, key, self->api_key, &req.base);
    zframe_send (&frame, self->dealer, 0);
}

//  Read the replies waiting, at most until timeout_ms passes.
static void
s_replies (load_t *self, int timeout_ms)
{
    zmq_pollitem_t item = {zsock_resolve (self->dealer), 0, ZMQ_POLLIN, 0};
    while (zmq_poll (&item, 1, timeout_ms) > 0) {
        zframe_t *frame = zframe_recv (self->dealer);
        if (!frame)
            break;
        gz_envelope_t *env = gz_codec_envelope_decode (zframe_data (frame), zframe_size (frame));
        zframe_destroy (&frame);
        Gongzhi__V1__SubmitReply *reply =
            env ? gongzhi__v1__submit_reply__unpack (NULL, env->payload.len, env->payload.data)
                : NULL;
        self->replies++;
        if (reply && reply->ok && reply->duplicate)
            self->duplicate++;
        else if (reply && reply->ok)
            self->ok++;
        else {
            if (self->errors < 10)
                fprintf (stderr, "load: error reply %d: %s\n", reply ? (int) reply->error : -1,
                         reply && reply->message ? reply->message : "(undecodable)");
            self->errors++;
        }
        if (reply)
            gongzhi__v1__submit_reply__free_unpacked (reply, NULL);
        gz_codec_envelope_free (&env);
        timeout_ms = 0;
    }
}

//  The buildings of the directory, in code order. -1 on failure.
static int
s_buildings (load_t *self, gz_db_t *db)
{
    gz_db_prepare (db, "load_buildings", "SELECT code FROM org.buildings ORDER BY code");
    PGresult *r = gz_db_exec (db, "load_buildings", 0, NULL);
    if (!r || PQntuples (r) == 0) {
        if (r)
            PQclear (r);
        return -1;
    }
    self->nbuildings = (size_t) PQntuples (r);
    self->buildings = calloc (self->nbuildings, sizeof *self->buildings);
    assert (self->buildings);
    for (size_t i = 0; i < self->nbuildings; i++)
        self->buildings[i] = strdup (PQgetvalue (r, (int) i, 0));
    PQclear (r);
    return 0;
}

//  Mark in held[] the requests intake holds. Returns how many, -1.
static long
s_held (load_t *self, gz_db_t *db, long total, bool *held)
{
    gz_db_prepare (db, "load_held",
                   "SELECT substr(idempotency_key, length($1) + 2)::bigint FROM intake.requests"
                   " WHERE idempotency_key LIKE $1 || '-%'");
    const char *v[1] = {self->prefix};
    PGresult *r = gz_db_exec (db, "load_held", 1, v);
    if (!r)
        return -1;
    memset (held, 0, (size_t) total * sizeof *held);
    long n = 0;
    for (int i = 0; i < PQntuples (r); i++) {
        long k = atol (PQgetvalue (r, i, 0));
        if (k >= 0 && k < total && !held[k]) {
            held[k] = true;
            n++;
        }
    }
    PQclear (r);
    return n;
}

int
main (int argc, char *argv[])
{
    if (argc != 7) {
        fprintf (stderr, "usage: gz_routing_load URL ENDPOINT API_KEY TOTAL RATE PREFIX\n");
        return 2;
    }
    long total = atol (argv[4]), rate = atol (argv[5]);
    if (total <= 0 || rate <= 0) {
        fprintf (stderr, "load: TOTAL and RATE must be positive\n");
        return 2;
    }
    load_t self = {0};
    self.api_key = argv[3];
    self.prefix = argv[6];
    self.cats = gz_category_all (&self.ncats);
    gz_db_t *db = gz_db_new (argv[1], "routing-load");
    if (gz_db_ensure (db) || s_buildings (&self, db)) {
        fprintf (stderr, "load: cannot read the buildings: %s\n", gz_db_error (db));
        gz_db_destroy (&db);
        return 1;
    }
    self.dealer = zsock_new_dealer (argv[2]);
    assert (self.dealer);
    zsock_set_sndhwm (self.dealer, 0);
    int64_t start = zclock_mono ();
    for (long i = 0; i < total && !zsys_interrupted; i++) {
        //  Paced: request i leaves at start + i / rate.
        int64_t due = start + i * 1000 / rate;
        int64_t now = zclock_mono ();
        s_replies (&self, due > now ? (int) (due - now) : 0);
        while (zclock_mono () < due)
            s_replies (&self, (int) (due - zclock_mono ()));
        s_send (&self, i);
        if (i > 0 && i % 1000 == 0) {
            printf ("load: %ld sent, %ld answered\n", i, self.replies);
            fflush (stdout);
        }
    }
    int64_t until = zclock_mono () + 30000;
    while (self.replies < total && zclock_mono () < until && !zsys_interrupted)
        s_replies (&self, 200);
    double secs = (double) (zclock_mono () - start) / 1000.0;
    printf ("load: sent %ld in %.1fs (%.0f/s): ok %ld, duplicate %ld, errors %ld, unanswered %ld\n",
            total, secs, (double) total / secs, self.ok, self.duplicate, self.errors,
            total - self.replies);
    bool *held = calloc ((size_t) total, sizeof *held);
    assert (held);
    long have = -1, resent = 0;
    for (int round = 0; round < 10 && !zsys_interrupted; round++) {
        have = s_held (&self, db, total, held);
        if (have < 0 || have == total)
            break;
        for (long i = 0; i < total; i++)
            if (!held[i]) {
                s_send (&self, i);
                resent++;
            }
        int64_t wait_until = zclock_mono () + 10000;
        while (self.replies < total + resent && zclock_mono () < wait_until)
            s_replies (&self, 200);
    }
    printf ("load: intake holds %ld of %ld (%ld sent again)\n", have, total, resent);
    free (held);
    for (size_t i = 0; i < self.nbuildings; i++)
        free (self.buildings[i]);
    free (self.buildings);
    zsock_destroy (&self.dealer);
    gz_db_destroy (&db);
    return have == total ? 0 : 1;
}
