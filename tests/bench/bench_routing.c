/*  bench_routing: submit -> routed latency through a real intake and a
    real routing service, for tests/bench/bench_routing.sh (not a test).

      bench_routing INTAKE_BUS INTAKE_EVENTS ROUTING_EVENTS API_KEY URL
                    RATE SECONDS PREFIX

    Sends RATE SubmitRequest commands per second for SECONDS on one DEALER
    to intake's ROUTER (INTAKE_BUS), request i scheduled at start + i /
    RATE, with idempotency key and external id PREFIX-i. It subscribes to
    intake's events (RequestSubmitted: request id -> external id, so ->
    i) and to routing's (RequestRouted or RequestMerged: the request id),
    and takes as latency the time from request i's scheduled send to the
    arrival of its RequestRouted/RequestMerged event on routing's PUB. The
    schedule, not the actual send, starts the clock, so a generator that
    falls behind counts against the result (no coordinated omission).

    Buildings and categories vary with i (buildings read from URL), the
    description is a plain one (each category's catch-all rule).

    Prints one line:
      RESULT rate=R seconds=S sent=N routed=M merged=K unrouted=U
             p50_ms= p90_ms= p99_ms= max_ms= achieved=A/s lag_ms=G
    unrouted counts requests whose event did not arrive within 15 s after the
    last send; lag_ms is how far the sender fell behind its schedule at
    worst. Exit 0, or 2 on bad usage, 1 when setup fails.  */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gz_category.h"
#include "gz_codec.h"
#include "gz_db.h"

typedef struct {
    int64_t *scheduled_us; //  per i
    int64_t *routed_us;    //  per i: event arrival, 0 = not yet
    zhashx_t *early;       //  request id -> early_t (routed before its id was known)
    zhashx_t *index_of;    //  request id -> i + 1
    long total, routed, merged, replies, errors;
    const char *prefix;
    size_t plen;
} bench_t;

typedef struct {
    int64_t at;
    bool merged;
} early_t;

static int64_t
s_us (void)
{
    return zclock_usecs ();
}

static void
s_record (bench_t *self, long i, int64_t at)
{
    if (i < 0 || i >= self->total || self->routed_us[i])
        return;
    self->routed_us[i] = at;
    self->routed++;
}

//  A RequestSubmitted from intake: learn which i the request id is.
static void
s_on_intake (bench_t *self, zsock_t *sub)
{
    zmsg_t *msg = zmsg_recv (sub);
    if (!msg)
        return;
    zframe_t *body = zmsg_last (msg);
    gz_envelope_t *env =
        body ? gz_codec_envelope_decode (zframe_data (body), zframe_size (body)) : NULL;
    if (env && env->type && strcmp (env->type, "RequestSubmitted") == 0) {
        Gongzhi__V1__RequestSubmitted *ev =
            gongzhi__v1__request_submitted__unpack (NULL, env->payload.len, env->payload.data);
        if (ev && ev->external_id && strncmp (ev->external_id, self->prefix, self->plen) == 0 &&
            ev->external_id[self->plen] == '-' && ev->request_id) {
            long i = atol (ev->external_id + self->plen + 1);
            if (i >= 0 && i < self->total && !zhashx_lookup (self->index_of, ev->request_id)) {
                zhashx_insert (self->index_of, ev->request_id, (void *) (intptr_t) (i + 1));
                early_t *early = zhashx_lookup (self->early, ev->request_id);
                if (early) {
                    if (!self->routed_us[i] && early->merged)
                        self->merged++;
                    s_record (self, i, early->at);
                    zhashx_delete (self->early, ev->request_id);
                }
            }
        }
        if (ev)
            gongzhi__v1__request_submitted__free_unpacked (ev, NULL);
    }
    gz_codec_envelope_free (&env);
    zmsg_destroy (&msg);
}

//  A RequestRouted or RequestMerged from routing.
static void
s_on_routing (bench_t *self, zsock_t *sub)
{
    int64_t now = s_us ();
    zmsg_t *msg = zmsg_recv (sub);
    if (!msg)
        return;
    zframe_t *body = zmsg_last (msg);
    gz_envelope_t *env =
        body ? gz_codec_envelope_decode (zframe_data (body), zframe_size (body)) : NULL;
    bool routed = env && env->type && strcmp (env->type, "RequestRouted") == 0;
    bool merged = env && env->type && strcmp (env->type, "RequestMerged") == 0;
    if ((routed || merged) && env->key) {
        intptr_t i1 = (intptr_t) zhashx_lookup (self->index_of, env->key);
        if (i1) {
            if (!self->routed_us[i1 - 1] && merged)
                self->merged++;
            s_record (self, (long) i1 - 1, now);
        }
        else if (!zhashx_lookup (self->early, env->key)) {
            early_t *early = malloc (sizeof *early);
            assert (early);
            early->at = now;
            early->merged = merged;
            zhashx_insert (self->early, env->key, early);
        }
    }
    gz_codec_envelope_free (&env);
    zmsg_destroy (&msg);
}

static void
s_on_reply (bench_t *self, zsock_t *dealer)
{
    zframe_t *frame = zframe_recv (dealer);
    if (!frame)
        return;
    gz_envelope_t *env = gz_codec_envelope_decode (zframe_data (frame), zframe_size (frame));
    zframe_destroy (&frame);
    Gongzhi__V1__SubmitReply *reply =
        env ? gongzhi__v1__submit_reply__unpack (NULL, env->payload.len, env->payload.data) : NULL;
    self->replies++;
    if (!reply || !reply->ok) {
        if (self->errors < 5)
            fprintf (stderr, "bench: error reply: %s\n",
                     reply && reply->message ? reply->message : "(undecodable)");
        self->errors++;
    }
    if (reply)
        gongzhi__v1__submit_reply__free_unpacked (reply, NULL);
    gz_codec_envelope_free (&env);
}

static int
s_cmp (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

static void
s_free_early (void **item)
{
    free (*item);
    *item = NULL;
}

int
main (int argc, char *argv[])
{
    if (argc != 9) {
        fprintf (stderr, "usage: bench_routing INTAKE_BUS INTAKE_EVENTS ROUTING_EVENTS API_KEY URL"
                         " RATE SECONDS PREFIX\n");
        return 2;
    }
    long rate = atol (argv[6]), seconds = atol (argv[7]);
    if (rate <= 0 || seconds <= 0)
        return 2;
    bench_t self = {0};
    self.total = rate * seconds;
    self.prefix = argv[8];
    self.plen = strlen (self.prefix);
    self.scheduled_us = calloc ((size_t) self.total, sizeof (int64_t));
    self.routed_us = calloc ((size_t) self.total, sizeof (int64_t));
    assert (self.scheduled_us && self.routed_us);
    self.early = zhashx_new ();
    zhashx_set_destructor (self.early, s_free_early);
    self.index_of = zhashx_new ();

    gz_db_t *db = gz_db_new (argv[5], "bench-routing");
    gz_db_prepare (db, "bench_buildings", "SELECT code FROM org.buildings ORDER BY code");
    PGresult *r = gz_db_ensure (db) == 0 ? gz_db_exec (db, "bench_buildings", 0, NULL) : NULL;
    if (!r || PQntuples (r) == 0) {
        fprintf (stderr, "bench: cannot read the buildings\n");
        return 1;
    }
    size_t nb = (size_t) PQntuples (r), ncats = 0;
    const gz_category_t *cats = gz_category_all (&ncats);

    zsock_t *dealer = zsock_new_dealer (argv[1]);
    zsock_t *isub = zsock_new_sub (argv[2], "RequestSubmitted/");
    zsock_t *rsub = zsock_new_sub (argv[3], "RequestRouted/");
    assert (dealer && isub && rsub);
    zsock_set_subscribe (rsub, "RequestMerged/");
    zsock_set_sndhwm (dealer, 0);
    zsock_set_rcvhwm (isub, 0);
    zsock_set_rcvhwm (rsub, 0);
    zclock_sleep (500); //  let the subscriptions reach the publishers

    zmq_pollitem_t items[3] = {{zsock_resolve (dealer), 0, ZMQ_POLLIN, 0},
                               {zsock_resolve (isub), 0, ZMQ_POLLIN, 0},
                               {zsock_resolve (rsub), 0, ZMQ_POLLIN, 0}};
    int64_t start = s_us () + 10000, lag = 0, last_due = 0;
    long next = 0;
    int64_t stop = 0;
    while (!zsys_interrupted) {
        int64_t now = s_us ();
        //  Send everything due now (the schedule, not the loop, sets the pace).
        while (next < self.total) {
            int64_t due = start + (int64_t) ((double) next * 1e6 / (double) rate);
            if (due > now)
                break;
            if (now - due > lag)
                lag = now - due;
            self.scheduled_us[next] = due;
            size_t b = (size_t) next % nb;
            const gz_category_t *cat = &cats[((size_t) next + (size_t) next / nb) % ncats];
            char key[64], desc[96];
            snprintf (key, sizeof key, "%s-%ld", self.prefix, next);
            snprintf (desc, sizeof desc, "%s方面的问题，请处理", cat->name);
            Gongzhi__V1__Location loc = GONGZHI__V1__LOCATION__INIT;
            loc.building_code = PQgetvalue (r, (int) b, 0);
            Gongzhi__V1__SubmitRequest req = GONGZHI__V1__SUBMIT_REQUEST__INIT;
            req.service_code = (char *) cat->code;
            req.description = desc;
            req.location = &loc;
            req.external_id = key;
            Gongzhi__V1__Attribute attr = GONGZHI__V1__ATTRIBUTE__INIT, *attrp = &attr;
            for (const gz_attr_t *a = cat->attrs; a && a->code; a++)
                if (a->required) {
                    attr.code = (char *) a->code;
                    attr.value = (char *) (a->values ? a->values[0].key : "1");
                    req.attributes = &attrp;
                    req.n_attributes = 1;
                }
            zframe_t *frame =
                gz_codec_envelope_frame ("SubmitRequest", NULL, key, argv[4], &req.base);
            zframe_send (&frame, dealer, 0);
            next++;
            last_due = due;
        }
        if (next == self.total && !stop)
            stop = now + 15000000;
        if (stop && (self.routed == self.total || now > stop))
            break;
        int64_t wait_us = next < self.total
                              ? start + (int64_t) ((double) next * 1e6 / (double) rate) - now
                              : 100000;
        //  Rounded up: zmq_poll counts whole milliseconds, and a timeout of
        //  0 for the last fraction of one would spin the generator on a core
        //  the services need. A send up to 1 ms late counts against us
        //  (latency starts at the schedule).
        long timeout = wait_us > 0 ? (long) ((wait_us + 999) / 1000) : 0;
        if (zmq_poll (items, 3, timeout) < 0)
            break;
        //  Drain without starving the sender: a bounded number each.
        for (int n = 0; n < 256 && (zsock_events (dealer) & ZMQ_POLLIN); n++)
            s_on_reply (&self, dealer);
        for (int n = 0; n < 256 && (zsock_events (isub) & ZMQ_POLLIN); n++)
            s_on_intake (&self, isub);
        for (int n = 0; n < 256 && (zsock_events (rsub) & ZMQ_POLLIN); n++)
            s_on_routing (&self, rsub);
    }
    int64_t *lat = malloc ((size_t) self.total * sizeof *lat);
    assert (lat);
    long n = 0;
    for (long i = 0; i < self.total; i++)
        if (self.routed_us[i])
            lat[n++] = self.routed_us[i] - self.scheduled_us[i];
    qsort (lat, (size_t) n, sizeof *lat, s_cmp);
    double secs = (double) (last_due - start) / 1e6;
    printf ("RESULT rate=%ld seconds=%ld sent=%ld routed=%ld merged=%ld unrouted=%ld errors=%ld "
            "p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f achieved=%.0f/s lag_ms=%.1f\n",
            rate, seconds, next, self.routed, self.merged, self.total - self.routed, self.errors,
            n ? (double) lat[n / 2] / 1000.0 : -1, n ? (double) lat[n * 90 / 100] / 1000.0 : -1,
            n ? (double) lat[n * 99 / 100] / 1000.0 : -1, n ? (double) lat[n - 1] / 1000.0 : -1,
            secs > 0 ? (double) next / secs : 0, (double) lag / 1000.0);
    free (lat);
    PQclear (r);
    zsock_destroy (&dealer);
    zsock_destroy (&isub);
    zsock_destroy (&rsub);
    zhashx_destroy (&self.early);
    zhashx_destroy (&self.index_of);
    free (self.scheduled_us);
    free (self.routed_us);
    gz_db_destroy (&db);
    return 0;
}
