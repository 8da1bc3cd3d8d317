/*  gz_http_proxies: the client's address of a request. See gz_http.h.

    The peer address, unless the peer is one of GZ_TRUSTED_PROXIES: then
    the client is the nearest untrusted X-Forwarded-For address.  */
#include "gz_http_private.h"
#include "gz_log.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

//  ---- trusted proxies

//  Parse an address ("10.1.2.3", "fd00::1"; an IPv4-mapped IPv6 address
//  counts as IPv4) into *out with a full-length prefix. 0 ok, -1 not one.
static int
s_addr_parse (const char *text, gz_http_net_t *out)
{
    memset (out, 0, sizeof *out);
    if (inet_pton (AF_INET, text, out->addr) == 1) {
        out->family = AF_INET;
        out->bits = 32;
        return 0;
    }
    struct in6_addr a6;
    if (inet_pton (AF_INET6, text, &a6) != 1)
        return -1;
    if (IN6_IS_ADDR_V4MAPPED (&a6)) {
        out->family = AF_INET;
        memcpy (out->addr, &a6.s6_addr[12], 4);
        out->bits = 32;
    }
    else {
        out->family = AF_INET6;
        memcpy (out->addr, a6.s6_addr, 16);
        out->bits = 128;
    }
    return 0;
}

//  Parse "addr" or "addr/bits". 0 ok, -1 malformed.
static int
s_net_parse (const char *text, gz_http_net_t *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (strlen (text) >= sizeof buf)
        return -1;
    snprintf (buf, sizeof buf, "%s", text);
    char *slash = strchr (buf, '/');
    long bits = -1;
    if (slash) {
        *slash = 0;
        char *end;
        bits = strtol (slash + 1, &end, 10);
        if (slash[1] == 0 || *end || bits < 0)
            return -1;
    }
    if (s_addr_parse (buf, out))
        return -1;
    if (bits >= 0) {
        if (bits > out->bits)
            return -1;
        out->bits = (int) bits;
    }
    return 0;
}

static bool
s_net_contains (const gz_http_net_t *net, const gz_http_net_t *addr)
{
    if (net->family != addr->family)
        return false;
    int full = net->bits / 8, rest = net->bits % 8;
    if (memcmp (net->addr, addr->addr, (size_t) full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t) (0xff << (8 - rest));
    return (net->addr[full] & mask) == (addr->addr[full] & mask);
}

static bool
s_trusted (gz_http_t *self, const gz_http_net_t *addr)
{
    for (size_t i = 0; i < self->nproxies; i++)
        if (s_net_contains (&self->proxies[i], addr))
            return true;
    return false;
}

bool
gz_http_trusted_text (gz_http_t *self, const char *addr)
{
    gz_http_net_t a;
    return self->nproxies > 0 && s_addr_parse (addr, &a) == 0 && s_trusted (self, &a);
}

int
gz_http_set_trusted_proxies (gz_http_t *self, const char *list)
{
    free (self->proxies);
    self->proxies = NULL;
    self->nproxies = 0;
    char *copy = strdup (list ? list : "");
    assert (copy);
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r (copy, ", ", &save); tok; tok = strtok_r (NULL, ", ", &save)) {
        gz_http_net_t net;
        if (s_net_parse (tok, &net)) {
            gz_error ("http", "msg=\"GZ_TRUSTED_PROXIES: not an address or network\" entry=\"%s\"",
                      tok);
            rc = -1;
            break;
        }
        gz_http_net_t *grown = realloc (self->proxies, (self->nproxies + 1) * sizeof *grown);
        assert (grown);
        self->proxies = grown;
        self->proxies[self->nproxies++] = net;
    }
    free (copy);
    if (rc) {
        free (self->proxies);
        self->proxies = NULL;
        self->nproxies = 0;
    }
    return rc;
}

//  The client behind trusted proxies: walk X-Forwarded-For from the right
//  (the hop nearest us) past every trusted address; the first one that is
//  not trusted is the client. A malformed entry ends the walk at the last
//  trusted hop read (the request then counts as that proxy's), so nothing
//  left of it can pass for the client.
static void
s_forwarded_client (gz_http_req_t *req)
{
    const char *xff = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "X-Forwarded-For");
    if (!xff || strlen (xff) > 4096)
        return;
    char *copy = strdup (xff);
    assert (copy);
    char *p = copy + strlen (copy);
    while (p > copy) {
        char *comma = p;
        while (comma > copy && comma[-1] != ',')
            comma--;
        char *start = comma, *end = p;
        while (start < end && (*start == ' ' || *start == '\t'))
            start++;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        *end = 0;
        gz_http_net_t a;
        if (s_addr_parse (start, &a))
            break;
        inet_ntop (a.family, a.addr, req->client_ip, sizeof req->client_ip);
        if (!s_trusted (req->server, &a))
            break;
        p = comma > copy ? comma - 1 : copy;
    }
    free (copy);
}

//  The connection's peer address.
static void
s_client_peer (gz_http_req_t *req)
{
    snprintf (req->client_ip, sizeof req->client_ip, "unknown");
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info (req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr)
        return;
    const struct sockaddr *sa = info->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;
        inet_ntop (AF_INET, &sin->sin_addr, req->client_ip, sizeof req->client_ip);
    }
    else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;
        //  An IPv4 client on a dual-stack socket: show it as IPv4, so the
        //  same client has one spelling (rate limits, logs).
        if (IN6_IS_ADDR_V4MAPPED (&sin6->sin6_addr))
            inet_ntop (AF_INET, &sin6->sin6_addr.s6_addr[12], req->client_ip,
                       sizeof req->client_ip);
        else
            inet_ntop (AF_INET6, &sin6->sin6_addr, req->client_ip, sizeof req->client_ip);
    }
}

void
gz_http_client_ip_fill (gz_http_req_t *req)
{
    s_client_peer (req);
    gz_http_net_t peer;
    req->via_proxy = req->server->nproxies > 0 && s_addr_parse (req->client_ip, &peer) == 0 &&
                     s_trusted (req->server, &peer);
    if (req->via_proxy)
        s_forwarded_client (req);
}

bool
gz_http_https (gz_http_req_t *req)
{
    if (!req->via_proxy)
        return false;
    const char *proto =
        MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "X-Forwarded-Proto");
    return proto && strcasecmp (proto, "https") == 0;
}

//  The host[:port] of an absolute URL ("https://a.example:8443/x" ->
//  "a.example:8443"), into out. false when it has none.
static bool
s_url_authority (const char *url, char *out, size_t size)
{
    const char *p = strstr (url, "://");
    if (!p)
        return false;
    p += 3;
    size_t n = strcspn (p, "/?#");
    const char *at = memchr (p, '@', n); //  userinfo is not the host
    if (at) {
        n -= (size_t) (at + 1 - p);
        p = at + 1;
    }
    if (n == 0 || n >= size)
        return false;
    memcpy (out, p, n);
    out[n] = 0;
    return true;
}

bool
gz_http_same_origin (gz_http_req_t *req)
{
    const char *origin = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "Origin");
    const char *named =
        origin ? origin : MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "Referer");
    if (!named)
        return true;
    char authority[256];
    if (!s_url_authority (named, authority, sizeof authority))
        return false; //  "null", or not a URL
    const char *host = NULL;
    if (req->via_proxy)
        host = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "X-Forwarded-Host");
    if (!host)
        host = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "Host");
    return host && strcasecmp (host, authority) == 0;
}
