/*  gz_slowloris: one hostile client holding HTTP connections, for the
    connection-limit test (tests/integration/test_slowloris.sh).

      gz_slowloris SRC PORT COUNT SECONDS MODE

    Keeps COUNT connections from address SRC to 127.0.0.1:PORT open for
    SECONDS. MODE "slow": each sends "GET /q/HGY-B0001 HTTP/1.1" and then
    one more header line every second, never the end of the header (the
    classic slowloris); "idle": each sends nothing at all. A connection the
    server ends is opened again at once, as an attacker would. Prints one
    line: opened=N ended_by_server=M open_at_end=K. Exit 0, or 2 on usage
    or when it cannot open a single connection.  */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  A non-blocking connection from src to 127.0.0.1:port, or -1.
static int
s_open (const char *src, int port, bool slow)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    inet_pton (AF_INET, src, &sin.sin_addr);
    if (bind (fd, (struct sockaddr *) &sin, sizeof sin) != 0) {
        close (fd);
        return -1;
    }
    sin.sin_port = htons ((uint16_t) port);
    inet_pton (AF_INET, "127.0.0.1", &sin.sin_addr);
    if (connect (fd, (struct sockaddr *) &sin, sizeof sin) != 0) {
        close (fd);
        return -1;
    }
    fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK);
    if (slow) {
        const char *start = "GET /q/HGY-B0001 HTTP/1.1\r\nHost: gongzhi\r\n";
        if (send (fd, start, strlen (start), MSG_NOSIGNAL) < 0) {
            close (fd);
            return -1;
        }
    }
    return fd;
}

//  True when the server ended the connection (EOF or an error).
static bool
s_ended (int fd)
{
    char buf[256];
    for (;;) {
        ssize_t n = recv (fd, buf, sizeof buf, 0);
        if (n == 0)
            return true;
        if (n < 0)
            return errno != EAGAIN && errno != EWOULDBLOCK;
    }
}

int
main (int argc, char **argv)
{
    if (argc != 6 || (strcmp (argv[5], "slow") && strcmp (argv[5], "idle"))) {
        fprintf (stderr, "usage: gz_slowloris SRC PORT COUNT SECONDS slow|idle\n");
        return 2;
    }
    const char *src = argv[1];
    int port = atoi (argv[2]), count = atoi (argv[3]), seconds = atoi (argv[4]);
    bool slow = strcmp (argv[5], "slow") == 0;
    struct rlimit rl;
    getrlimit (RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit (RLIMIT_NOFILE, &rl);
    int *fds = calloc ((size_t) count, sizeof *fds);
    struct pollfd *pfds = calloc ((size_t) count, sizeof *pfds);
    if (!fds || !pfds || count <= 0)
        return 2;
    long opened = 0, ended = 0;
    for (int i = 0; i < count; i++)
        if ((fds[i] = s_open (src, port, slow)) >= 0)
            opened++;
    if (opened == 0) {
        fprintf (stderr, "gz_slowloris: cannot connect from %s to port %d\n", src, port);
        return 2;
    }
    int64_t end = s_now_ms () + (int64_t) seconds * 1000, next_line = s_now_ms () + 1000;
    while (s_now_ms () < end) {
        for (int i = 0; i < count; i++)
            pfds[i] = (struct pollfd){fds[i], POLLIN, 0};
        poll (pfds, (nfds_t) count, 100);
        bool line = slow && s_now_ms () >= next_line;
        if (line)
            next_line += 1000;
        for (int i = 0; i < count; i++) {
            bool gone = fds[i] < 0 ||
                        ((pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) && s_ended (fds[i]));
            if (!gone && line && send (fds[i], "X-a: b\r\n", 8, MSG_NOSIGNAL) < 0)
                gone = true;
            if (!gone)
                continue;
            if (fds[i] >= 0) {
                close (fds[i]);
                ended++;
            }
            if ((fds[i] = s_open (src, port, slow)) >= 0)
                opened++;
        }
    }
    int open_at_end = 0;
    for (int i = 0; i < count; i++)
        if (fds[i] >= 0 && !s_ended (fds[i]))
            open_at_end++;
    printf ("opened=%ld ended_by_server=%ld open_at_end=%d\n", opened, ended, open_at_end);
    for (int i = 0; i < count; i++)
        if (fds[i] >= 0)
            close (fds[i]);
    free (fds);
    free (pfds);
    return 0;
}
