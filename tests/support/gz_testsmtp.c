/*  gz_testsmtp: an SMTP sink for tests. See gz_testsmtp.h.  */
#include "gz_testsmtp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_MAX 64

typedef struct {
    char *data, *from, *rcpt;
} s_msg_t;

struct _gz_testsmtp_t {
    int listen_fd, port;
    bool refuse_rcpt;
    atomic_bool stop;
    atomic_size_t sessions;
    pthread_t thread;
    pthread_mutex_t lock;
    s_msg_t msgs[S_MAX];
    size_t count;
};

#define S_TICK_MS 100  //  the socket's receive timeout: how often stop is seen
#define S_IDLE_MS 5000 //  a client silent this long is dropped

//  Read one line (CRLF stripped) into buf; -1 on EOF, error, a client
//  idle for S_IDLE_MS, or the sink stopping (so a client that keeps its
//  connection open, as libcurl does to reuse it, does not hold destroy).
static int
s_line (gz_testsmtp_t *self, int fd, char *buf, size_t size)
{
    size_t n = 0;
    int idle_ms = 0;
    while (n + 1 < size) {
        char c;
        ssize_t got = recv (fd, &c, 1, 0);
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !atomic_load (&self->stop) &&
            (idle_ms += S_TICK_MS) < S_IDLE_MS)
            continue;
        if (got != 1)
            return -1;
        idle_ms = 0;
        if (c == '\n')
            break;
        buf[n++] = c;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = 0;
    return (int) n;
}

static void
s_say (int fd, const char *text)
{
    if (send (fd, text, strlen (text), MSG_NOSIGNAL) < 0)
        return;
}

//  The value between '<' and '>' (or after ':'), copied.
static char *
s_addr (const char *line)
{
    const char *lt = strchr (line, '<'), *gt = lt ? strchr (lt, '>') : NULL;
    if (lt && gt)
        return strndup (lt + 1, (size_t) (gt - lt - 1));
    const char *colon = strchr (line, ':');
    return strdup (colon ? colon + 1 : "");
}

static void
s_session (gz_testsmtp_t *self, int fd)
{
    char line[2048];
    char *from = NULL, *rcpt = NULL;
    s_say (fd, "220 gz_testsmtp ready\r\n");
    while (s_line (self, fd, line, sizeof line) >= 0) {
        if (strncasecmp (line, "EHLO", 4) == 0)
            s_say (fd, "250-gz_testsmtp\r\n250 8BITMIME\r\n");
        else if (strncasecmp (line, "HELO", 4) == 0 || strncasecmp (line, "NOOP", 4) == 0)
            s_say (fd, "250 OK\r\n");
        else if (strncasecmp (line, "MAIL FROM", 9) == 0) {
            free (from);
            from = s_addr (line);
            s_say (fd, "250 OK\r\n");
        }
        else if (strncasecmp (line, "RCPT TO", 7) == 0) {
            if (self->refuse_rcpt)
                s_say (fd, "550 no such user\r\n");
            else {
                free (rcpt);
                rcpt = s_addr (line);
                s_say (fd, "250 OK\r\n");
            }
        }
        else if (strncasecmp (line, "DATA", 4) == 0) {
            s_say (fd, "354 go ahead\r\n");
            size_t cap = 4096, len = 0;
            char *data = malloc (cap);
            data[0] = 0;
            int n;
            while ((n = s_line (self, fd, line, sizeof line)) >= 0 && strcmp (line, ".") != 0) {
                const char *l = line[0] == '.' ? line + 1 : line; //  dot-unstuffing
                size_t need = len + strlen (l) + 3;
                if (need > cap) {
                    cap = need * 2;
                    data = realloc (data, cap);
                }
                len += (size_t) sprintf (data + len, "%s\r\n", l);
            }
            pthread_mutex_lock (&self->lock);
            if (self->count < S_MAX) {
                self->msgs[self->count++] =
                    (s_msg_t){data, strdup (from ? from : ""), strdup (rcpt ? rcpt : "")};
                data = NULL;
            }
            pthread_mutex_unlock (&self->lock);
            free (data);
            s_say (fd, "250 OK queued\r\n");
        }
        else if (strncasecmp (line, "RSET", 4) == 0)
            s_say (fd, "250 OK\r\n");
        else if (strncasecmp (line, "QUIT", 4) == 0) {
            s_say (fd, "221 bye\r\n");
            break;
        }
        else
            s_say (fd, "502 not implemented\r\n");
    }
    free (from);
    free (rcpt);
}

static void *
s_run (void *arg)
{
    gz_testsmtp_t *self = arg;
    while (!atomic_load (&self->stop)) {
        struct pollfd p = {self->listen_fd, POLLIN, 0};
        if (poll (&p, 1, 100) <= 0)
            continue;
        int fd = accept (self->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add (&self->sessions, 1);
        struct timeval tv = {0, S_TICK_MS * 1000};
        setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        s_session (self, fd);
        close (fd);
    }
    return NULL;
}

gz_testsmtp_t *
gz_testsmtp_new (bool refuse_rcpt)
{
    gz_testsmtp_t *self = calloc (1, sizeof *self);
    self->refuse_rcpt = refuse_rcpt;
    pthread_mutex_init (&self->lock, NULL);
    self->listen_fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    inet_pton (AF_INET, "127.0.0.1", &sin.sin_addr);
    socklen_t len = sizeof sin;
    if (self->listen_fd < 0 || bind (self->listen_fd, (struct sockaddr *) &sin, sizeof sin) ||
        listen (self->listen_fd, 16) ||
        getsockname (self->listen_fd, (struct sockaddr *) &sin, &len) ||
        pthread_create (&self->thread, NULL, s_run, self)) {
        if (self->listen_fd >= 0)
            close (self->listen_fd);
        free (self);
        return NULL;
    }
    self->port = ntohs (sin.sin_port);
    return self;
}

void
gz_testsmtp_destroy (gz_testsmtp_t **self_p)
{
    gz_testsmtp_t *self = *self_p;
    if (!self)
        return;
    atomic_store (&self->stop, true);
    pthread_join (self->thread, NULL);
    close (self->listen_fd);
    for (size_t i = 0; i < self->count; i++) {
        free (self->msgs[i].data);
        free (self->msgs[i].from);
        free (self->msgs[i].rcpt);
    }
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

int
gz_testsmtp_port (gz_testsmtp_t *self)
{
    return self->port;
}

size_t
gz_testsmtp_sessions (gz_testsmtp_t *self)
{
    return atomic_load (&self->sessions);
}

size_t
gz_testsmtp_count (gz_testsmtp_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = self->count;
    pthread_mutex_unlock (&self->lock);
    return n;
}

static const char *
s_field (gz_testsmtp_t *self, size_t i, int which)
{
    pthread_mutex_lock (&self->lock);
    const char *v = NULL;
    if (i < self->count)
        v = which == 0 ? self->msgs[i].data : which == 1 ? self->msgs[i].from : self->msgs[i].rcpt;
    pthread_mutex_unlock (&self->lock);
    return v;
}

const char *
gz_testsmtp_data (gz_testsmtp_t *self, size_t i)
{
    return s_field (self, i, 0);
}

const char *
gz_testsmtp_from (gz_testsmtp_t *self, size_t i)
{
    return s_field (self, i, 1);
}

const char *
gz_testsmtp_rcpt (gz_testsmtp_t *self, size_t i)
{
    return s_field (self, i, 2);
}
