/*  gz_http_guard: what one client may hold. See gz_http.h (gz_http_limits_t).

    libmicrohttpd's own idle timeout restarts with every byte, so a client
    that sends a header line every few seconds (slowloris) keeps its
    connection for ever, and its only connection limit is global: one
    address could take every slot. The guard adds what it lacks:

    - Every connection is on a list from libmicrohttpd's STARTED to its
      CLOSED notification, with the phase of its current request (reading
      the header, reading the body, being answered) and since when.
    - Per address: a connection beyond max_per_address from one address is
      shut down as it starts (counted in gz_http_refused_total). An IPv6
      address counts by its /64, which one subscriber usually holds whole;
      trusted proxies are exempt (many clients share them).
    - Deadlines: the watchdog thread sweeps the list every 250 ms and shuts
      down a connection still reading a header header_timeout_s after it
      started (or after its previous answer, on keep-alive), or still
      reading a body body_timeout_s after its header (counted in
      gz_http_cut_total). shutdown(2), not close: libmicrohttpd sees the
      end of the stream and closes the connection on its own thread.
      The list's mutex is held across the shutdown and taken by CLOSED,
      which libmicrohttpd calls before it closes the descriptor, so a
      descriptor number reused by a newer connection is never shut down.  */
#include "gz_http_private.h"
#include "gz_log.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define GZ_HTTP_SWEEP_MS 250
#define GZ_HTTP_GUARD_LOG_MS 10000 //  at most one line per kind per 10 s
#define GZ_HTTP_FD_RESERVE 512     //  descriptors kept for the database, the bus, files
#define GZ_HTTP_FD_SHARERS 5       //  servers one process may host (the five services)
#define GZ_HTTP_FD_CAP 65536       //  the soft limit is raised to the hard one, at most this

gz_http_limits_t
gz_http_limits_default (void)
{
    return (gz_http_limits_t){.max_connections = 0,
                              .max_per_address = 64,
                              .header_timeout_s = 10,
                              .body_timeout_s = 60,
                              .idle_timeout_s = 30};
}

static int s_fd_budget;

static void
s_fd_budget_once (void)
{
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) != 0) {
        s_fd_budget = 64;
        return;
    }
    rlim_t want =
        rl.rlim_max == RLIM_INFINITY || rl.rlim_max > GZ_HTTP_FD_CAP ? GZ_HTTP_FD_CAP : rl.rlim_max;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        struct rlimit raised = {want, rl.rlim_max};
        if (setrlimit (RLIMIT_NOFILE, &raised) == 0)
            rl.rlim_cur = want;
    }
    long fds = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > GZ_HTTP_FD_CAP ? GZ_HTTP_FD_CAP
                                                                            : (long) rl.rlim_cur;
    long budget = (fds - GZ_HTTP_FD_RESERVE) / GZ_HTTP_FD_SHARERS;
    s_fd_budget = budget < 64 ? 64 : (int) budget;
}

int
gz_http_fd_budget (void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once (&once, s_fd_budget_once);
    return s_fd_budget;
}

void
gz_http_guard_init (gz_http_t *self, const gz_http_limits_t *limits)
{
    self->limits = limits ? *limits : gz_http_limits_default ();
    if (self->limits.max_connections <= 0)
        self->limits.max_connections = gz_http_fd_budget ();
    pthread_mutex_init (&self->guard_mutex, NULL);
    self->per_address = zhashx_new ();
    atomic_init (&self->refused, 0);
    atomic_init (&self->cut, 0);
}

void
gz_http_guard_fini (gz_http_t *self)
{
    //  libmicrohttpd has stopped: every connection was CLOSED.
    zhashx_destroy (&self->per_address);
    pthread_mutex_destroy (&self->guard_mutex);
}

//  The address a connection counts under, and whether it is a trusted
//  proxy (then it takes no per-address slot).
static void
s_key (gz_http_t *self, const struct sockaddr *sa, char *key, size_t size, bool *trusted)
{
    char text[INET6_ADDRSTRLEN] = "unknown";
    snprintf (key, size, "unknown");
    *trusted = false;
    if (!sa)
        return;
    if (sa->sa_family == AF_INET) {
        inet_ntop (AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, text, sizeof text);
        snprintf (key, size, "%s", text);
    }
    else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *) sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED (a6)) {
            inet_ntop (AF_INET, &a6->s6_addr[12], text, sizeof text);
            snprintf (key, size, "%s", text);
        }
        else {
            inet_ntop (AF_INET6, a6, text, sizeof text);
            struct in6_addr net = *a6;
            memset (&net.s6_addr[8], 0, 8);
            char prefix[INET6_ADDRSTRLEN];
            inet_ntop (AF_INET6, &net, prefix, sizeof prefix);
            snprintf (key, size, "%s/64", prefix);
        }
    }
    *trusted = gz_http_trusted_text (self, text);
}

//  Take one of the address's slots: false when they are all taken.
static bool
s_slot_take (gz_http_t *self, const char *key)
{
    intptr_t n = (intptr_t) zhashx_lookup (self->per_address, key);
    if (self->limits.max_per_address > 0 && n >= self->limits.max_per_address)
        return false;
    zhashx_update (self->per_address, key, (void *) (n + 1));
    return true;
}

static void
s_slot_give (gz_http_t *self, const char *key)
{
    intptr_t n = (intptr_t) zhashx_lookup (self->per_address, key);
    if (n <= 1)
        zhashx_delete (self->per_address, key);
    else
        zhashx_update (self->per_address, key, (void *) (n - 1));
}

static void
s_started (gz_http_t *self, struct MHD_Connection *conn, void **socket_context)
{
    gz_http_conn_t *c = calloc (1, sizeof *c);
    if (!c)
        return;
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *addr =
        MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    c->fd = fd ? fd->connect_fd : -1;
    c->since_ms = zclock_mono ();
    bool trusted;
    s_key (self, addr ? addr->client_addr : NULL, c->key, sizeof c->key, &trusted);
    bool refused = false;
    pthread_mutex_lock (&self->guard_mutex);
    if (trusted)
        ;
    else if (s_slot_take (self, c->key))
        c->counted = true;
    else
        refused = true;
    size_t refused_before = 0;
    bool log = false;
    if (refused) {
        c->phase = GZ_HTTP_CONN_CUT;
        refused_before = atomic_fetch_add (&self->refused, 1);
        //  One line per interval, not one per connection.
        log = c->since_ms - self->refused_logged_ms >= GZ_HTTP_GUARD_LOG_MS;
        if (log)
            self->refused_logged_ms = c->since_ms;
        if (c->fd >= 0)
            shutdown (c->fd, SHUT_RDWR);
    }
    c->next = self->conns;
    if (self->conns)
        self->conns->prev = c;
    self->conns = c;
    pthread_mutex_unlock (&self->guard_mutex);
    *socket_context = c;
    if (log)
        gz_warn ("http",
                 "msg=\"connection refused: too many from one address\" addr=\"%s\" limit=%d "
                 "refused_total=%zu",
                 c->key, self->limits.max_per_address, refused_before + 1);
}

static void
s_closed (gz_http_t *self, void **socket_context)
{
    gz_http_conn_t *c = *socket_context;
    if (!c)
        return;
    pthread_mutex_lock (&self->guard_mutex);
    if (c->prev)
        c->prev->next = c->next;
    else
        self->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->counted)
        s_slot_give (self, c->key);
    pthread_mutex_unlock (&self->guard_mutex);
    free (c);
    *socket_context = NULL;
}

void
gz_http_guard_notify (void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    gz_http_t *self = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        s_started (self, conn, socket_context);
    else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
        s_closed (self, socket_context);
}

void
gz_http_guard_phase (gz_http_t *self, struct MHD_Connection *conn, int phase)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info (conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    gz_http_conn_t *c = info ? info->socket_context : NULL;
    if (!c)
        return;
    pthread_mutex_lock (&self->guard_mutex);
    if (c->phase != GZ_HTTP_CONN_CUT) {
        c->phase = phase;
        c->since_ms = zclock_mono ();
    }
    pthread_mutex_unlock (&self->guard_mutex);
}

void
gz_http_guard_sweep (gz_http_t *self)
{
    int64_t now = zclock_mono ();
    if (now < self->next_sweep_ms)
        return;
    self->next_sweep_ms = now + GZ_HTTP_SWEEP_MS;
    int64_t header_ms = (int64_t) self->limits.header_timeout_s * 1000;
    int64_t body_ms = (int64_t) self->limits.body_timeout_s * 1000;
    size_t cut = 0, before = atomic_load (&self->cut);
    pthread_mutex_lock (&self->guard_mutex);
    for (gz_http_conn_t *c = self->conns; c; c = c->next) {
        int64_t limit = c->phase == GZ_HTTP_CONN_HEADER ? header_ms
                        : c->phase == GZ_HTTP_CONN_BODY ? body_ms
                                                        : 0;
        if (limit > 0 && now - c->since_ms > limit) {
            c->phase = GZ_HTTP_CONN_CUT;
            //  Counted before the client can see the connection end.
            atomic_fetch_add (&self->cut, 1);
            if (c->fd >= 0)
                shutdown (c->fd, SHUT_RDWR);
            cut++;
        }
    }
    pthread_mutex_unlock (&self->guard_mutex);
    //  One line per interval, not one per connection.
    if (cut > 0 && now - self->cut_logged_ms >= GZ_HTTP_GUARD_LOG_MS) {
        self->cut_logged_ms = now;
        gz_info ("http",
                 "msg=\"connections cut: request not read within its deadline\" "
                 "cut=%zu cut_total=%zu",
                 cut, before + cut);
    }
}

size_t
gz_http_refused_total (gz_http_t *self)
{
    return atomic_load (&self->refused);
}

size_t
gz_http_cut_total (gz_http_t *self)
{
    return atomic_load (&self->cut);
}
