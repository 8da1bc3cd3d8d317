/*  notify_deliver: the channel workers. See notify.h (DESIGN).

    Each configured channel gets GZ_NOTIFY_CHANNEL_WORKERS threads, each
    with its own database connection, its own channel handle (so HTTP
    connections are reused) and its own handle for intake. A worker
    claims up to S_CLAIM due rows of its channel, sends them one by one
    and records each outcome; with nothing due it sleeps until the actor
    wakes it (after a commit) or S_IDLE_MS pass (rows due later: quiet
    hours, retries, leases run out).

    A resident's contact and status link come from intake when the row is
    sent (GET /internal/v1/contacts/{id} with GZ_NOTIFY_CONTACT_KEY), a
    volunteer's phone, name and answer link from matching (GET
    /internal/v1/offers/{id}, the same key; an offer no longer open is
    skipped); they live in this file's stack buffers for the call and are
    wiped after it.  */
#include "gz_fetch.h"
#include "gz_log.h"
#include "notify.h"
#include "notify_policy.h"
#include "notify_template.h"
#include "gongzhi/v1/notify.pb-c.h"

#include <assert.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SVC "notify"
#define S_CLAIM 16     //  rows a worker claims at once
#define S_IDLE_MS 500  //  a worker with nothing due looks again after this
#define S_DOWN_MS 1000 //  and after a database failure

//  A channel's pace (GZ_NOTIFY_CHANNEL_RATE): its workers take turns at
//  send times interval_us apart.
typedef struct {
    pthread_mutex_t lock;
    int64_t interval_us; //  0: no limit
    int64_t next_us;     //  monotonic
} s_pace_t;

typedef struct {
    struct _notify_deliver_t *owner;
    char channel[16];
    s_pace_t *pace; //  shared by the channel's workers
    pthread_t thread;
    bool started;
    gz_db_t *db;
    notify_channel_t *ch;
    CURL *peer;        //  intake's and matching's internal paths
    gz_bus_pub_t *pub; //  a writer of the notify stream on db (NULL: no stream)
} s_worker_t;

struct _notify_deliver_t {
    notify_t *ctx;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    uint64_t wakes; //  guarded by mutex
    bool stop;      //  guarded by mutex
    s_worker_t *workers;
    size_t nworkers;
    s_pace_t paces[3 * NOTIFY_MAX_CHANNELS];
    size_t npaces;
    atomic_llong sent;
};

//  Wait for the channel's next send time (no wait without a rate).
static void
s_pace (s_pace_t *p)
{
    if (!p->interval_us)
        return;
    pthread_mutex_lock (&p->lock);
    int64_t now = zclock_usecs ();
    int64_t at = p->next_us > now ? p->next_us : now;
    p->next_us = at + p->interval_us;
    pthread_mutex_unlock (&p->lock);
    if (at > now)
        zclock_sleep ((int) ((at - now + 999) / 1000));
}

//  The rate for channel in "sms=10,email=5" (per second), 0 when none.
static double
s_rate_of (const char *rates, const char *channel)
{
    size_t n = strlen (channel);
    for (const char *p = rates; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (strncmp (p, channel, n) == 0 && p[n] == '=')
            return atof (p + n + 1);
        p = strchr (p, ',');
    }
    return 0;
}

//  ---------------------------------------------------------------- contacts

typedef struct {
    char phone[64];
    char email[256];
    char status_path[256]; //  a resident's
    char link[512];        //  a volunteer's answer link
    char name[128];        //  a volunteer's name
} s_contact_t;

static void
s_copy (char *dst, size_t size, json_t *obj, const char *name)
{
    const char *v = json_string_value (json_object_get (obj, name));
    snprintf (dst, size, "%s", v ? v : "");
}

//  GET an internal path (url) of peer (intake or matching) with
//  GZ_NOTIFY_CONTACT_KEY. NOTIFY_SENT with the answer in *obj_p (the
//  caller's), NOTIFY_RETRY (unreachable, another status, not JSON) or
//  NOTIFY_REFUSED (404: *none set; or notify has no key).
static notify_outcome_t
s_ask (s_worker_t *w, const char *peer, const char *url, json_t **obj_p, bool *none, char *err,
       size_t errlen)
{
    const notify_config_t *cfg = w->owner->ctx->cfg;
    *obj_p = NULL;
    if (!cfg->contact_key || !*cfg->contact_key) {
        snprintf (err, errlen, "GZ_NOTIFY_CONTACT_KEY is not set: no contact from %s", peer);
        return NOTIFY_REFUSED;
    }
    char label[64];
    snprintf (label, sizeof label, "%s's contact", peer);
    int rc = gz_fetch_json (w->peer, label, url, cfg->contact_key, (long) cfg->chans.timeout_ms,
                            obj_p, err, errlen);
    if (rc == 0)
        return NOTIFY_SENT;
    if (rc == 1) {
        *none = true;
        return NOTIFY_REFUSED;
    }
    return NOTIFY_RETRY;
}

//  Ask intake for a resident's contact. NOTIFY_SENT (found), NOTIFY_RETRY
//  (intake unreachable) or NOTIFY_REFUSED (none: *none set; or notify has
//  no key).
static notify_outcome_t
s_contact (s_worker_t *w, const char *request_id, s_contact_t *out, bool *none, char *err,
           size_t errlen)
{
    char url[512];
    snprintf (url, sizeof url, "%s/internal/v1/contacts/%s", w->owner->ctx->cfg->intake_url,
              request_id);
    json_t *obj;
    notify_outcome_t outcome = s_ask (w, "intake", url, &obj, none, err, errlen);
    if (*none)
        snprintf (err, errlen, "the resident left no contact");
    if (outcome == NOTIFY_SENT) {
        s_copy (out->phone, sizeof out->phone, obj, "phone");
        s_copy (out->email, sizeof out->email, obj, "email");
        s_copy (out->status_path, sizeof out->status_path, obj, "status_path");
        json_decref (obj);
    }
    return outcome;
}

//  Ask matching for an offer's volunteer: phone, name, answer link, and
//  whether the offer is still open. An offer answered or expired since
//  (or one matching does not know) is *none: skipped, never a stale offer.
static notify_outcome_t
s_offer (s_worker_t *w, const notify_job_t *job, s_contact_t *out, bool *none, char *err,
         size_t errlen)
{
    const char *offer = json_string_value (json_object_get (job->vars, "offer_id"));
    if (!offer || !*offer) {
        snprintf (err, errlen, "the row names no offer");
        return NOTIFY_REFUSED;
    }
    char url[512];
    snprintf (url, sizeof url, "%s/internal/v1/offers/%s", w->owner->ctx->cfg->matching_url, offer);
    json_t *obj;
    notify_outcome_t outcome = s_ask (w, "matching", url, &obj, none, err, errlen);
    if (*none)
        snprintf (err, errlen, "matching does not know the offer");
    if (outcome != NOTIFY_SENT)
        return outcome;
    const char *state = json_string_value (json_object_get (obj, "state"));
    if (!state || strcmp (state, "offered") != 0) {
        snprintf (err, errlen, "the offer is %s: not sent", state ? state : "unknown");
        *none = true;
        outcome = NOTIFY_REFUSED;
    }
    else {
        s_copy (out->phone, sizeof out->phone, obj, "phone");
        s_copy (out->link, sizeof out->link, obj, "link");
        s_copy (out->name, sizeof out->name, obj, "name");
    }
    json_decref (obj);
    return outcome;
}

//  ---------------------------------------------------------------- one row

//  The first retry after base ms, doubling to max, each drawn from
//  [half, all] of that (jitter: retries of many rows do not land at once).
static int64_t
s_backoff_ms (int attempts, int base, int max)
{
    int64_t d = base;
    for (int i = 1; i < attempts && d < max; i++)
        d *= 2;
    if (d > max)
        d = max;
    return d / 2 + (int64_t) (random () % (d / 2 + 1));
}

static void
s_count (notify_deliver_t *d, const char *channel, const char *outcome)
{
    char labels[96];
    snprintf (labels, sizeof labels, "channel=\"%s\",outcome=\"%s\"", channel, outcome);
    gz_metrics_add (d->ctx->metrics, "gz_notify_deliveries_total", labels, 1);
}

//  Grow text into a digest: "您有N条新消息：" and each message, numbered,
//  the carrier's first and then its group's ([template, vars] pairs); the
//  subject says how many. Under the shared lock (the plan's templates).
static void
s_digest (const notify_plan_t *plan, json_t *group, char **text_p, char **subject_p)
{
    size_t n = json_array_size (group) + 1;
    size_t cap = strlen (*text_p) + 128, len = 0;
    char *out = malloc (cap);
    assert (out);
    len += (size_t) snprintf (out, cap, "您有%zu条新消息：\n1. %s", n, *text_p);
    size_t i;
    json_t *pair;
    json_array_foreach (group, i, pair)
    {
        const char *name = json_string_value (json_array_get (pair, 0));
        const notify_template_t *t = name ? notify_plan_template (plan, name) : NULL;
        char *member = t ? notify_template_render (t, json_array_get (pair, 1)) : NULL;
        const char *shown = member ? member : name ? name : "";
        size_t need = len + strlen (shown) + 32;
        if (need > cap) {
            cap = need * 2;
            out = realloc (out, cap);
            assert (out);
        }
        len += (size_t) snprintf (out + len, cap - len, "\n%zu. %s", i + 2, shown);
        free (member);
    }
    free (*text_p);
    *text_p = out;
    free (*subject_p);
    char subject[64];
    snprintf (subject, sizeof subject, "您有%zu条新消息", n);
    *subject_p = strdup (subject);
}

//  Render and send one row; the outcome in *state and err.
static notify_outcome_t
s_send (s_worker_t *w, notify_job_t *job, bool *none, char *err, size_t errlen)
{
    notify_t *ctx = w->owner->ctx;
    bool resident = strncmp (job->recipient, "resident:", 9) == 0;
    bool volunteer = strncmp (job->recipient, "volunteer:", 10) == 0;
    s_contact_t contact;
    memset (&contact, 0, sizeof contact);
    char staff_phone[64] = "";
    if (resident || volunteer) {
        notify_outcome_t got = resident
                                   ? s_contact (w, job->request_id, &contact, none, err, errlen)
                                   : s_offer (w, job, &contact, none, err, errlen);
        if (got != NOTIFY_SENT)
            return got;
    }
    char link[600] = "";
    if (*contact.status_path)
        snprintf (link, sizeof link, "%s%s", ctx->cfg->public_url, contact.status_path);
    else
        snprintf (link, sizeof link, "%s", contact.link);
    //  The log channel shows the link without its secret.
    char *secret = strcmp (w->channel, "log") == 0 ? strstr (link, "?t=") : NULL;
    if (secret)
        snprintf (secret, sizeof link - (size_t) (secret - link), "?t=…");
    json_object_set_new (job->vars, "status_link", json_string (resident ? link : ""));
    if (volunteer) {
        json_object_set_new (job->vars, "offer_link", json_string (link));
        json_object_set_new (job->vars, "name", json_string (contact.name));
    }
    //  A digest row carries its group: the messages that waited with it.
    json_t *group = job->digest ? notify_store_group (w->db, job, w->channel) : NULL;
    if (job->digest && !group) {
        snprintf (err, errlen, "could not read the digest's group");
        return NOTIFY_RETRY;
    }
    pthread_rwlock_rdlock (&ctx->shared.lock);
    if (!resident && !volunteer) {
        const gz_staff_t *st = gz_org_staff (ctx->shared.org, job->recipient + strlen ("staff:"));
        if (st && st->phone)
            snprintf (staff_phone, sizeof staff_phone, "%s", st->phone);
    }
    const notify_template_t *t = notify_plan_template (ctx->shared.plan, job->tmpl);
    char *text = t ? notify_template_render (t, job->vars) : NULL;
    char *subject = t ? notify_template_render_subject (t, job->vars) : NULL;
    if (text && group && json_array_size (group) > 0)
        s_digest (ctx->shared.plan, group, &text, &subject);
    pthread_rwlock_unlock (&ctx->shared.lock);
    json_decref (group);
    notify_outcome_t outcome = NOTIFY_REFUSED;
    if (!text)
        snprintf (err, errlen, "the plan has no template %s", job->tmpl);
    else {
        notify_msg_t msg = {.key = job->key,
                            .event = job->event,
                            .template_name = job->tmpl,
                            .request_id = job->request_id,
                            .recipient = job->recipient,
                            .phone = resident || volunteer ? contact.phone : staff_phone,
                            .email = resident ? contact.email : NULL,
                            .openid = NULL,
                            .subject = subject,
                            .text = text,
                            .params = job->vars,
                            .link = *link ? link : NULL};
        if (msg.phone && !*msg.phone)
            msg.phone = NULL;
        if (msg.email && !*msg.email)
            msg.email = NULL;
        outcome = notify_channel_send (w->ch, &msg, err, errlen);
    }
    free (text);
    free (subject);
    explicit_bzero (&contact, sizeof contact);
    explicit_bzero (link, sizeof link);
    return outcome;
}

static int
s_deliver (s_worker_t *w, notify_job_t *job)
{
    const notify_config_t *cfg = w->owner->ctx->cfg;
    char err[256] = "";
    bool none = false;
    s_pace (w->pace);
    notify_outcome_t outcome = s_send (w, job, &none, err, sizeof err);
    notify_row_state_t state = NOTIFY_ROW_SENT;
    int64_t retry_ms = 0;
    if (none) {
        state = NOTIFY_ROW_SKIPPED;
        s_count (w->owner, w->channel, "skipped");
    }
    else if (outcome == NOTIFY_SENT) {
        atomic_fetch_add (&w->owner->sent, 1);
        s_count (w->owner, w->channel, "sent");
    }
    else if (outcome == NOTIFY_RETRY && job->attempts < cfg->max_attempts) {
        state = NOTIFY_ROW_FAILED;
        retry_ms = s_backoff_ms (job->attempts, cfg->backoff_ms, cfg->backoff_max_ms);
        s_count (w->owner, w->channel, "retry");
    }
    else {
        state = NOTIFY_ROW_DEAD;
        s_count (w->owner, w->channel, "dead");
        gz_warn (SVC, "msg=\"delivery dead\" key=\"%s\" attempts=%d error=\"%s\"", job->key,
                 job->attempts, err);
    }
    return notify_store_done (w->db, w->pub, job->id, state, retry_ms, err);
}

void
notify_deliver_stage (gz_bus_pub_t *pub, const notify_ended_t *e)
{
    Gongzhi__V1__NotifyEvent ev = GONGZHI__V1__NOTIFY_EVENT__INIT;
    ev.delivery_id = e->id;
    ev.kind = (char *) e->state;
    ev.channel = (char *) e->channel;
    ev.recipient_kind = (char *) e->recipient_kind;
    ev.event = (char *) e->event;
    ev.request_id = (char *) e->request_id;
    ev.grid_code = (char *) e->nodes[0];
    ev.community_code = (char *) e->nodes[1];
    ev.subdistrict_code = (char *) e->nodes[2];
    ev.attempts = e->attempts;
    ev.at_us = e->at_us;
    const char *type = strcmp (e->state, "sent") == 0   ? "DeliverySent"
                       : strcmp (e->state, "dead") == 0 ? "DeliveryDead"
                                                        : "DeliverySkipped";
    char key[24];
    snprintf (key, sizeof key, "%lld", (long long) e->id);
    gz_bus_pub_stage_msg (pub, type, key, NULL, &ev.base);
}

//  ---------------------------------------------------------------- workers

//  Sleep until woken (or ms pass); false once stopping.
static bool
s_wait (notify_deliver_t *d, uint64_t *seen, int ms)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long) (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock (&d->mutex);
    while (!d->stop && d->wakes == *seen)
        if (pthread_cond_timedwait (&d->wake, &d->mutex, &ts) != 0)
            break;
    *seen = d->wakes;
    bool go = !d->stop;
    pthread_mutex_unlock (&d->mutex);
    return go;
}

static bool
s_stopping (notify_deliver_t *d)
{
    pthread_mutex_lock (&d->mutex);
    bool stop = d->stop;
    pthread_mutex_unlock (&d->mutex);
    return stop;
}

static void *
s_worker (void *arg)
{
    s_worker_t *w = arg;
    notify_deliver_t *d = w->owner;
    uint64_t seen = 0;
    notify_job_t jobs[S_CLAIM];
    memset (jobs, 0, sizeof jobs);
    //  A paced channel claims no more than it sends in a quarter of the
    //  lease, so a claim never outlives its lease.
    int claim = S_CLAIM;
    if (w->pace->interval_us) {
        int64_t fit = (int64_t) NOTIFY_LEASE_S * 1000000 / 4 / w->pace->interval_us;
        claim = fit < 1 ? 1 : fit < S_CLAIM ? (int) fit : S_CLAIM;
    }
    while (!s_stopping (d)) {
        int n =
            gz_db_ensure (w->db) == 0 ? notify_store_claim (w->db, w->channel, jobs, claim) : -1;
        for (int i = 0; i < n; i++) {
            //  A failure to record leaves the row leased: it is sent again
            //  (same key) once the lease runs out.
            if (s_deliver (w, &jobs[i]) != 0)
                gz_warn (SVC, "msg=\"could not record a delivery\" key=\"%s\"", jobs[i].key);
            notify_job_clear (&jobs[i]);
        }
        if (n == claim)
            continue;
        if (!s_wait (d, &seen, n < 0 ? S_DOWN_MS : S_IDLE_MS))
            break;
    }
    return NULL;
}

//  The channel names of the default orders that are configured, once.
static size_t
s_channels (notify_t *ctx, const char **names, size_t max)
{
    size_t n = 0;
    char *const *orders[] = {ctx->staff_order, ctx->resident_order, ctx->volunteer_order};
    for (size_t o = 0; o < 3; o++)
        for (size_t i = 0; orders[o][i]; i++) {
            const char *c = orders[o][i];
            bool seen = false;
            for (size_t k = 0; k < n; k++)
                seen = seen || strcmp (names[k], c) == 0;
            if (!seen && n < max && notify_channel_configured (&ctx->cfg->chans, c))
                names[n++] = c;
        }
    return n;
}

notify_deliver_t *
notify_deliver_start (notify_t *ctx)
{
    notify_deliver_t *d = calloc (1, sizeof *d);
    assert (d);
    d->ctx = ctx;
    pthread_mutex_init (&d->mutex, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&d->wake, &attr);
    pthread_condattr_destroy (&attr);
    const char *names[3 * NOTIFY_MAX_CHANNELS];
    size_t nch = s_channels (ctx, names, 3 * NOTIFY_MAX_CHANNELS);
    int per = ctx->cfg->channel_workers;
    d->workers = calloc (nch * (size_t) per + 1, sizeof *d->workers);
    assert (d->workers);
    for (size_t c = 0; c < nch; c++) {
        s_pace_t *pace = &d->paces[d->npaces++];
        pthread_mutex_init (&pace->lock, NULL);
        double rate = s_rate_of (ctx->cfg->channel_rates, names[c]);
        pace->interval_us = rate > 0 ? (int64_t) (1e6 / rate) : 0;
        for (int i = 0; i < per; i++) {
            s_worker_t *w = &d->workers[d->nworkers++];
            w->owner = d;
            w->pace = pace;
            snprintf (w->channel, sizeof w->channel, "%s", names[c]);
            w->db = gz_db_new (ctx->cfg->base.database_url, "notify-worker");
            notify_store_prepare_worker (w->db, ctx->cfg->base.schema);
            gz_bus_pub_t *pub = gz_actor_pub (ctx->actor);
            w->pub = pub ? gz_bus_pub_new_writer (pub, w->db) : NULL;
            w->ch = notify_channel_new (&ctx->cfg->chans, names[c]);
            w->peer = curl_easy_init ();
            if (!w->ch || !w->peer || pthread_create (&w->thread, NULL, s_worker, w) != 0) {
                gz_error (SVC, "msg=\"cannot start a channel worker\" channel=%s", names[c]);
                notify_deliver_stop (&d);
                return NULL;
            }
            w->started = true;
        }
    }
    gz_info (SVC, "msg=\"channel workers started\" channels=%zu workers=%zu", nch, d->nworkers);
    return d;
}

void
notify_deliver_wake (notify_deliver_t *self)
{
    pthread_mutex_lock (&self->mutex);
    self->wakes++;
    pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->mutex);
}

int64_t
notify_deliver_sent (notify_deliver_t *self)
{
    return self ? atomic_load (&self->sent) : 0;
}

void
notify_deliver_stop (notify_deliver_t **self_p)
{
    notify_deliver_t *d = *self_p;
    if (!d)
        return;
    pthread_mutex_lock (&d->mutex);
    d->stop = true;
    pthread_cond_broadcast (&d->wake);
    pthread_mutex_unlock (&d->mutex);
    for (size_t i = 0; i < d->nworkers; i++) {
        s_worker_t *w = &d->workers[i];
        if (w->started)
            pthread_join (w->thread, NULL);
        notify_channel_destroy (&w->ch);
        if (w->peer)
            curl_easy_cleanup (w->peer);
        gz_bus_pub_destroy (&w->pub);
        gz_db_destroy (&w->db);
    }
    free (d->workers);
    for (size_t i = 0; i < d->npaces; i++)
        pthread_mutex_destroy (&d->paces[i].lock);
    pthread_cond_destroy (&d->wake);
    pthread_mutex_destroy (&d->mutex);
    free (d);
    *self_p = NULL;
}
