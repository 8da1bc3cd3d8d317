/*  gz_http_defer: deferred requests, offloaded handlers and the watchdog
    of pool servers. See gz_http.h.

    DESIGN: Pool servers (gz_http_new_pool) run libmicrohttpd's internal epoll
    threads instead, with suspend/resume. gz_http_defer suspends the
    connection and puts the request on the deferred list; whoever answers
    first claims it (an atomic state change from DEFERRED to CLAIMED):
    the owner (gz_http_reply* / gz_http_resume on the handle), the
    watchdog thread (defer timeout) or destroy (drain over). The claimer
    resumes the connection; the access handler then runs once more,
    calls the resume function if no response is built yet, and queues
    the response. A deferred request holds two references, one for
    libmicrohttpd (dropped on completion) and one for the owner's handle
    (dropped by the owner's answer), so a handle answered by the watchdog
    stays valid until its owner lets go. In-flight counting is unchanged
    (first access to completion), so destroy still waits for deferred
    requests, and never stops the daemon with a connection suspended.  */
#include "gz_http_private.h"
#include "gz_log.h"

#include <assert.h>
#include <czmq.h>
#include <stdlib.h>
#include <time.h>

#define GZ_HTTP_WATCH_MS 100 //  watchdog period (defer timeouts)

void
gz_http_set_defer_timeout (gz_http_t *self, int timeout_ms, gz_http_handler_fn *fn, void *arg)
{
    assert (self);
    pthread_mutex_lock (&self->mutex);
    self->defer_timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
    self->timeout_fn = fn;
    self->timeout_arg = arg;
    pthread_mutex_unlock (&self->mutex);
}

//  ---- deferral

static void
s_unlink (gz_http_t *self, gz_http_req_t *req)
{
    if (req->prev)
        req->prev->next = req->next;
    else
        self->deferred = req->next;
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
}

//  Take a deferred request for answering. True if we won it.
static bool
s_claim (gz_http_req_t *req)
{
    int expected = GZ_HTTP_DEFERRED;
    return atomic_compare_exchange_strong (&req->state, &expected, GZ_HTTP_CLAIMED);
}

gz_http_req_t *
gz_http_defer (gz_http_req_t *req)
{
    assert (req);
    gz_http_t *self = req->server;
    assert (self->threads > 0); //  thread-per-connection servers cannot suspend
    assert (!req->replied);
    //  An offloaded handler's request is claimed by its worker, and its
    //  connection already suspended.
    assert (atomic_load (&req->state) == (req->in_worker ? GZ_HTTP_CLAIMED : GZ_HTTP_INLINE));
    //  The handle is a separate object, so a call on it is told apart from
    //  a resume function's call on the request itself.
    gz_http_req_t *handle = calloc (1, sizeof *handle);
    assert (handle);
    handle->server = self;
    handle->target = req;
    atomic_fetch_add (&req->refs, 1); //  the handle's
    if (req->in_worker)
        req->worker_deferred = true; //  the worker leaves it suspended
    else
        MHD_suspend_connection (req->conn);
    pthread_mutex_lock (&self->mutex);
    req->deadline_ms = self->defer_timeout_ms ? zclock_mono () + self->defer_timeout_ms : 0;
    req->next = self->deferred;
    if (req->next)
        req->next->prev = req;
    self->deferred = req;
    atomic_store (&req->state, GZ_HTTP_DEFERRED);
    pthread_mutex_unlock (&self->mutex);
    return handle;
}

//  Let go of a handle: the request it held may be freed.
static gz_http_req_t *
s_handle_take (gz_http_req_t **handle_p)
{
    gz_http_req_t *handle = *handle_p;
    *handle_p = NULL;
    gz_http_req_t *req = handle->target;
    free (handle);
    return req;
}

//  After a successful claim: off the list, hand the connection back to
//  libmicrohttpd. The request must not be touched after this by anyone
//  but libmicrohttpd's thread (and the owner's reference drop).
static void
s_wake (gz_http_req_t *req, bool unlink)
{
    gz_http_t *self = req->server;
    if (unlink) {
        pthread_mutex_lock (&self->mutex);
        s_unlink (self, req);
        pthread_mutex_unlock (&self->mutex);
    }
    MHD_resume_connection (req->conn);
}

gz_http_req_t *
gz_http_handle_claim (gz_http_req_t **handle_p)
{
    gz_http_req_t *req = s_handle_take (handle_p);
    if (!s_claim (req))
        gz_http_req_release (&req); //  the timeout handler answered it
    return req;
}

void
gz_http_handle_done (gz_http_req_t **req_p)
{
    s_wake (*req_p, true);
    gz_http_req_release (req_p);
}

int
gz_http_resume (gz_http_req_t **req_p, gz_http_resume_fn *fn, void *arg)
{
    assert (req_p);
    assert (*req_p && (*req_p)->target); //  a handle from gz_http_defer
    assert (fn);
    gz_http_req_t *req = gz_http_handle_claim (req_p);
    if (!req)
        return -1;
    req->resume_fn = fn;
    req->resume_arg = arg;
    gz_http_handle_done (&req);
    return 0;
}

//  ---- offloaded handlers

static void *
s_worker (void *arg)
{
    gz_http_t *self = arg;
    pthread_mutex_lock (&self->jobs_mutex);
    while (true) {
        while (!self->jobs_head && !self->jobs_stop)
            pthread_cond_wait (&self->jobs_ready, &self->jobs_mutex);
        gz_http_job_t *job = self->jobs_head;
        if (!job)
            break; //  stopping, nothing left
        self->jobs_head = job->next;
        if (!self->jobs_head)
            self->jobs_tail = NULL;
        self->jobs_queued--;
        pthread_mutex_unlock (&self->jobs_mutex);
        //  The connection is suspended: nobody else touches the request,
        //  so the handler sees it as on an HTTP thread and replies; the
        //  resumed connection then queues that reply (s_resumed).
        gz_http_req_t *req = job->req;
        req->in_worker = true;
        job->fn (req, job->arg);
        free (job);
        //  A handler that deferred the request: whoever answers the handle
        //  resumes the connection. Only this thread wrote the flag.
        if (!req->worker_deferred)
            MHD_resume_connection (req->conn);
        gz_http_req_release (&req);
        pthread_mutex_lock (&self->jobs_mutex);
    }
    pthread_mutex_unlock (&self->jobs_mutex);
    return NULL;
}

void
gz_http_set_workers (gz_http_t *self, int workers, size_t max_queued)
{
    assert (self && self->threads > 0 && !self->workers && workers > 0);
    self->workers = calloc ((size_t) workers, sizeof *self->workers);
    assert (self->workers);
    self->jobs_max = max_queued;
    for (int i = 0; i < workers; i++) {
        if (pthread_create (&self->workers[i], NULL, s_worker, self) != 0) {
            gz_error ("http", "msg=\"cannot start a worker thread\"");
            break;
        }
        self->nworkers++;
    }
}

int
gz_http_offload (gz_http_req_t *req, gz_http_handler_fn *fn, void *arg)
{
    assert (req && fn && !req->target);
    gz_http_t *self = req->server;
    assert (!req->replied && atomic_load (&req->state) == GZ_HTTP_INLINE);
    gz_http_job_t *job = calloc (1, sizeof *job);
    assert (job);
    pthread_mutex_lock (&self->jobs_mutex);
    bool room = self->nworkers > 0 && !self->jobs_stop && self->jobs_queued < self->jobs_max;
    if (room) {
        job->req = req;
        job->fn = fn;
        job->arg = arg;
        atomic_fetch_add (&req->refs, 1); //  the job's
        //  Claimed from the start: the watchdog and destroy's expiry leave
        //  it alone; the worker answers it.
        atomic_store (&req->state, GZ_HTTP_CLAIMED);
        MHD_suspend_connection (req->conn);
        if (self->jobs_tail)
            self->jobs_tail->next = job;
        else
            self->jobs_head = job;
        self->jobs_tail = job;
        self->jobs_queued++;
        pthread_cond_signal (&self->jobs_ready);
    }
    pthread_mutex_unlock (&self->jobs_mutex);
    if (!room)
        free (job);
    return room ? 0 : -1;
}

//  Let the workers finish the queue, then join them.
void
gz_http_workers_stop (gz_http_t *self)
{
    if (!self->workers)
        return;
    pthread_mutex_lock (&self->jobs_mutex);
    self->jobs_stop = true;
    pthread_cond_broadcast (&self->jobs_ready);
    pthread_mutex_unlock (&self->jobs_mutex);
    for (int i = 0; i < self->nworkers; i++)
        pthread_join (self->workers[i], NULL);
    free (self->workers);
    self->workers = NULL;
    self->nworkers = 0;
}

static void
s_timeout_default (gz_http_req_t *req, void *arg)
{
    (void) arg;
    gz_http_reply_error (req, 503, "unavailable", "timed out; retry later");
}

static void
s_timeout_resume (gz_http_req_t *req, void *arg)
{
    gz_http_t *self = arg;
    gz_http_handler_fn *fn = self->timeout_fn ? self->timeout_fn : s_timeout_default;
    fn (req, self->timeout_arg);
}

//  Claim every deferred request that is due (all when every is set) and
//  answer it with the timeout handler. Returns how many.
size_t
gz_http_expire (gz_http_t *self, bool every)
{
    int64_t now = zclock_mono ();
    gz_http_req_t *due = NULL;
    size_t n = 0;
    pthread_mutex_lock (&self->mutex);
    gz_http_req_t *req = self->deferred;
    while (req) {
        gz_http_req_t *next = req->next;
        if ((every || (req->deadline_ms && now >= req->deadline_ms)) && s_claim (req)) {
            s_unlink (self, req);
            req->next = due;
            due = req;
            n++;
        }
        req = next;
    }
    pthread_mutex_unlock (&self->mutex);
    while (due) {
        req = due;
        due = req->next;
        req->next = NULL;
        req->resume_fn = s_timeout_resume;
        req->resume_arg = self;
        if (every)
            gz_warn ("http", "msg=\"deferred request unanswered at stop\" status=timeout");
        s_wake (req, false);
    }
    return n;
}

void *
gz_http_watchdog (void *arg)
{
    gz_http_t *self = arg;
    pthread_mutex_lock (&self->mutex);
    while (!self->stopping) {
        struct timespec ts;
        clock_gettime (CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += GZ_HTTP_WATCH_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait (&self->watch, &self->mutex, &ts);
        if (self->stopping)
            continue;
        bool expire = self->deferred && self->defer_timeout_ms;
        pthread_mutex_unlock (&self->mutex);
        gz_http_guard_sweep (self);
        if (expire)
            gz_http_expire (self, false);
        pthread_mutex_lock (&self->mutex);
    }
    pthread_mutex_unlock (&self->mutex);
    return NULL;
}
