/*  intake_commit: the group-commit engine. Submissions from HTTP threads
    (intake_submit_defer) and from the ROUTER are committed many to a
    transaction, then answered.

    DESIGN: one committer is a connection, a publisher on it, and the
    thread that uses them. The actor is one: it commits bus submissions,
    and HTTP ones too unless GZ_INTAKE_WRITERS is 2 or more. Then that many
    writer threads take HTTP submissions from the queue in turns
    (insert_turn): while one batch waits for its COMMIT, the next is
    inserted on another connection. A finisher thread answers committed
    HTTP submissions (gz_http_resume), so a committer goes on to its next
    batch at once: resuming a batch's connections took a fifth of a
    commit cycle (measured). Bus replies go out on the actor's ROUTER.  */
#include "intake.h"
#include "gz_actor.h"
#include "gz_bus.h"
#include "gz_log.h"
#include "gz_queue.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVC "intake"

//  A committed (or failed) batch on its way to the finisher.
typedef struct {
    gz_qitem_t item;
    intake_sub_t *list;
    bool ok;
} s_done_t;

typedef struct {
    intake_t *ctx;
    gz_queue_t *finished; //  NULL: answer on this thread
    gz_db_t *db;
    gz_bus_pub_t *pub;
    zsock_t *router; //  the actor's, for bus replies; NULL in writer threads
    pthread_t thread;
    bool started;
} s_writer_t;

struct _intake_engine_t {
    intake_t *ctx;
    s_writer_t actor;    //  the actor's own committer
    s_writer_t *writers; //  the writer threads'
    int nwriters;
    gz_queue_t *finished;
    pthread_t finisher;
    bool finisher_started;
};

//  ---------------------------------------------------------------- queue

//  Count a waiting HTTP submission in or out. The gauge moves by deltas,
//  so it stays exact without a lock; tests watch it to know submissions
//  are queued.
static void
s_waiting_add (intake_t *ctx, int delta)
{
    atomic_fetch_add (&ctx->inflight, delta);
    gz_metrics_add (ctx->metrics, "gz_intake_waiting", NULL, (double) delta);
}

int
intake_submit_defer (intake_t *ctx, intake_sub_t **sub_p, gz_http_req_t *req,
                     intake_answer_fn *answer)
{
    assert (sub_p && *sub_p);
    assert (answer);
    if (gz_actor_closing (ctx->actor))
        return -1;
    intake_sub_t *sub = *sub_p;
    *sub_p = NULL;
    sub->answer = answer;
    sub->ctx = ctx;
    //  Defer before queueing: the actor may finish sub at once.
    sub->http = gz_http_defer (req);
    s_waiting_add (ctx, 1);
    //  Only the first submission into an empty queue wakes the actor: it
    //  takes the whole queue (and polls without waiting while any is
    //  left). Writer threads wait on the queue itself.
    if (gz_queue_push (ctx->queue, &sub->item) && !atomic_load (&ctx->writer_threads))
        gz_actor_wake (ctx->actor);
    return 0;
}

//  Take up to max queued submissions, appending them to head/tail.
static void
s_append (intake_sub_t **head, intake_sub_t **tail, gz_qitem_t *items)
{
    while (items) {
        //  item is the first member: the pointer is the submission's.
        intake_sub_t *s = (intake_sub_t *) items;
        items = items->next;
        s->next = NULL;
        if (*tail)
            (*tail)->next = s;
        else
            *head = s;
        *tail = s;
    }
}

//  ---------------------------------------------------------------- answers

void
intake_bus_reply (zsock_t *router, gz_peer_t *peer, const Gongzhi__V1__SubmitReply *reply)
{
    gz_actor_command_reply (router, peer, "SubmitReply", reply->service_request_id, &reply->base);
}

//  Runs on an HTTP thread: render the answer of a finished submission.
static void
s_answer (gz_http_req_t *req, void *arg)
{
    intake_sub_t *sub = arg;
    sub->answer (req, sub);
    intake_sub_destroy (&sub);
}

static void
s_answer_bus (s_writer_t *self, intake_sub_t *s, bool ok)
{
    Gongzhi__V1__SubmitReply reply = GONGZHI__V1__SUBMIT_REPLY__INIT;
    char id[32] = "";
    if (ok && s->mismatch) {
        //  The key names another request: nothing was stored, and that
        //  request's id is not this command's answer.
        reply.error = GONGZHI__V1__ERROR_CODE__IDEMPOTENCY_MISMATCH;
        reply.message = "this idempotency_key was already used for a different request;"
                        " use a new key for a new request";
        reply.service_request_id = id;
        intake_bus_reply (self->router, &s->peer, &reply);
        return;
    }
    if (ok)
        snprintf (id, sizeof id, "%lld", (long long) s->id);
    reply.ok = ok;
    reply.service_request_id = id;
    reply.duplicate = s->duplicate;
    reply.error = ok ? GONGZHI__V1__ERROR_CODE__ERROR_NONE : GONGZHI__V1__ERROR_CODE__UNAVAILABLE;
    reply.message = ok ? "" : "database unavailable; retry with the same idempotency key";
    intake_bus_reply (self->router, &s->peer, &reply);
}

//  Hand results back: resume deferred HTTP requests (rendered on HTTP
//  threads), answer bus peers.
static void
s_finish (s_writer_t *self, intake_sub_t *list, bool ok)
{
    intake_sub_t *deferred = NULL;
    int ndeferred = 0;
    while (list) {
        intake_sub_t *s = list;
        list = s->next;
        s->next = NULL;
        char labels[96];
        snprintf (labels, sizeof labels, "channel=\"%s\",outcome=\"%s\"",
                  intake_channel_label (s->channel),
                  !ok            ? "unavailable"
                  : s->mismatch  ? "mismatch"
                  : s->duplicate ? "duplicate"
                                 : "accepted");
        gz_metrics_add (self->ctx->metrics, "gz_intake_submissions_total", labels, 1);
        if (s->peer.from) {
            s_answer_bus (self, s, ok);
            intake_sub_destroy (&s);
        }
        else if (s->http) {
            s->state = ok ? SUB_DONE : SUB_FAILED;
            s->next = deferred;
            deferred = s;
            ndeferred++;
        }
        else
            intake_sub_destroy (&s); //  its HTTP request was already answered
    }
    while (deferred) {
        intake_sub_t *s = deferred;
        deferred = s->next;
        s->next = NULL;
        //  -1: gz_http already answered it 503 (deferred too long).
        if (gz_http_resume (&s->http, s_answer, s) != 0)
            intake_sub_destroy (&s);
    }
    if (ndeferred)
        s_waiting_add (self->ctx, -ndeferred);
}

//  Finish list on the finisher thread when it holds only HTTP
//  submissions (bus replies go out on the actor's ROUTER), else here.
static void
s_finish_later (s_writer_t *self, intake_sub_t *list, bool ok)
{
    bool http_only = self->finished != NULL;
    for (intake_sub_t *s = list; s && http_only; s = s->next)
        http_only = s->peer.from == NULL;
    if (!http_only) {
        s_finish (self, list, ok);
        return;
    }
    s_done_t *done = calloc (1, sizeof *done);
    assert (done);
    done->list = list;
    done->ok = ok;
    gz_queue_push (self->finished, &done->item);
}

static void *
s_finisher_run (void *arg)
{
    intake_engine_t *engine = arg;
    s_writer_t w = {.ctx = engine->ctx}; //  metrics only; no router
    gz_qitem_t *items;
    while ((items = gz_queue_wait_take (engine->finished, 64))) {
        while (items) {
            s_done_t *done = (s_done_t *) items;
            items = items->next;
            s_finish (&w, done->list, done->ok);
            free (done);
        }
    }
    return NULL;
}

//  ---------------------------------------------------------------- commit

//  Commit a list of submissions in one transaction. On a failure that is
//  not the connection's, each submission is retried alone so one bad
//  apple cannot sink the rest.
//  turn, when not NULL, is the insert turn the caller holds: it is let go
//  once the batch is inserted (or has failed), before the COMMIT.
static void
s_commit (s_writer_t *self, intake_sub_t *list, pthread_mutex_t *turn)
{
    if (!list) {
        if (turn)
            pthread_mutex_unlock (turn);
        return;
    }
    int rc = -1;
    for (int attempt = 0; attempt < 3 && rc; attempt++) {
        if (gz_db_ensure (self->db))
            break;
        //  Two round trips: BEGIN goes out with the insert, and COMMIT
        //  with the outbox write.
        rc = gz_db_begin (self->db);
        if (rc == 0)
            rc = intake_store_insert (self->db, self->pub, list);
        if (turn) {
            pthread_mutex_unlock (turn);
            turn = NULL;
        }
        if (rc == 0)
            rc = gz_bus_pub_write_commit (self->pub);
        if (rc) {
            gz_metrics_add (self->ctx->metrics, "gz_db_errors_total", NULL, 1);
            gz_warn (SVC, "msg=\"commit failed\" sqlstate=%s error=\"%s\"",
                     gz_db_sqlstate (self->db), gz_db_error (self->db));
            gz_db_rollback (self->db);
            gz_bus_pub_aborted (self->pub);
            if (!gz_db_retryable (self->db))
                break;
        }
    }
    if (turn)
        pthread_mutex_unlock (turn); //  the database was down
    if (rc == 0) {
        gz_bus_pub_committed (self->pub);
        gz_metrics_add (self->ctx->metrics, "gz_intake_commits_total", NULL, 1);
        s_finish_later (self, list, true);
        return;
    }
    if (list->next && gz_db_ok (self->db)) {
        //  Split: commit each alone.
        while (list) {
            intake_sub_t *next = list->next;
            list->next = NULL;
            s_commit (self, list, NULL);
            list = next;
        }
        return;
    }
    s_finish (self, list, false);
}

//  A writer thread: commit what HTTP threads queue until the queue is
//  stopped (and empty).
static void *
s_writer_run (void *arg)
{
    s_writer_t *self = arg;
    intake_t *ctx = self->ctx;
    size_t max = (size_t) ctx->cfg->max_batch;
    while (true) {
        //  Wait for the turn, then for work: submissions pile up while
        //  the other writer inserts, so batches stay large.
        pthread_mutex_lock (&ctx->insert_turn);
        gz_qitem_t *items = gz_queue_wait_take (ctx->queue, max);
        if (!items) {
            pthread_mutex_unlock (&ctx->insert_turn);
            break;
        }
        intake_sub_t *head = NULL, *tail = NULL;
        s_append (&head, &tail, items);
        s_commit (self, head, &ctx->insert_turn);
    }
    return NULL;
}

//  ---------------------------------------------------------------- engine

//  Start the writer threads, each on its own connection (connected, like
//  the actor's, lazily: a database that is down now is retried).
static void
s_writers_start (intake_engine_t *self, int n)
{
    intake_t *ctx = self->ctx;
    self->writers = calloc ((size_t) n, sizeof *self->writers);
    assert (self->writers);
    for (int i = 0; i < n; i++) {
        //  Built in place: the thread keeps this address.
        s_writer_t *w = &self->writers[self->nwriters];
        *w = (s_writer_t){.ctx = ctx, .finished = self->finished};
        w->db = gz_db_new (ctx->cfg->base.database_url, SVC);
        w->pub = gz_bus_pub_new_writer (self->actor.pub, w->db);
        intake_store_prepare (w->db, ctx->cfg->base.schema);
        w->started = pthread_create (&w->thread, NULL, s_writer_run, w) == 0;
        if (!w->started) {
            //  Without any, the actor commits HTTP submissions itself.
            gz_error (SVC, "msg=\"cannot start a writer thread\"");
            gz_bus_pub_destroy (&w->pub);
            gz_db_destroy (&w->db);
            continue;
        }
        self->nwriters++;
    }
    atomic_store (&ctx->writer_threads, self->nwriters > 0);
}

intake_engine_t *
intake_engine_new (intake_t *ctx, gz_db_t *db, gz_bus_pub_t *pub, zsock_t *router)
{
    intake_engine_t *self = calloc (1, sizeof *self);
    assert (self);
    self->ctx = ctx;
    self->finished = gz_queue_new ();
    self->actor = (s_writer_t){.ctx = ctx, .db = db, .pub = pub, .router = router};
    intake_store_prepare (db, ctx->cfg->base.schema);
    self->finisher_started = pthread_create (&self->finisher, NULL, s_finisher_run, self) == 0;
    if (self->finisher_started)
        self->actor.finished = self->finished;
    //  One writer: the actor commits HTTP submissions with the bus's.
    if (ctx->cfg->writers >= 2)
        s_writers_start (self, ctx->cfg->writers);
    return self;
}

void
intake_engine_destroy (intake_engine_t **self_p)
{
    intake_engine_t *self = *self_p;
    if (!self)
        return;
    //  Writer threads finish the queue, then stop.
    gz_queue_stop (self->ctx->queue);
    for (int i = 0; i < self->nwriters; i++) {
        s_writer_t *w = &self->writers[i];
        if (w->started)
            pthread_join (w->thread, NULL);
        gz_bus_pub_destroy (&w->pub);
        gz_db_destroy (&w->db);
    }
    free (self->writers);
    //  Anything still queued (the actor commits it when alone).
    intake_engine_cycle (self, NULL);
    //  Then the finisher, once it has answered everything handed to it.
    gz_queue_stop (self->finished);
    if (self->finisher_started)
        pthread_join (self->finisher, NULL);
    gz_queue_destroy (&self->finished);
    free (self);
    *self_p = NULL;
}

void
intake_engine_cycle (intake_engine_t *self, intake_sub_t *bus_list)
{
    intake_sub_t *head = bus_list, *tail = bus_list;
    while (tail && tail->next)
        tail = tail->next;
    //  With writer threads, HTTP submissions are theirs.
    if (self->nwriters == 0) {
        size_t n = 0;
        for (intake_sub_t *s = head; s; s = s->next)
            n++;
        size_t max = (size_t) self->ctx->cfg->max_batch;
        if (n < max)
            s_append (&head, &tail, gz_queue_take (self->ctx->queue, max - n));
    }
    s_commit (&self->actor, head, NULL);
}

bool
intake_engine_pending (intake_engine_t *self)
{
    return self->nwriters == 0 && !gz_queue_empty (self->ctx->queue);
}
