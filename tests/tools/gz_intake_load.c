/*  gz_intake_load: Open311 POSTs with idempotency keys from many clients at
    once, each sent again with its key until it is answered, for the intake
    kill -9 test (tests/integration/test_intake_kill9.sh).

      gz_intake_load BASE_URL API_KEY CLIENTS STOPFILE OUTFILE [PREFIX]

    Each of CLIENTS clients files keys PREFIX-<client>-0, PREFIX-<client>-1,
    ... (PREFIX k9 unless given)
    one after another on libcurl's multi interface. A request that gets no
    answer (connection refused or cut, time out) or a 503 is sent again with
    the same key after 20 ms; a 201 or 200 is written to OUTFILE as
    "key,status,id" (appended) and the client goes on to its next key. Once STOPFILE
    exists no new key is started; the program exits 0 when every started
    key is answered, 1 if that takes more than 60 s or an answer is neither
    201, 200 nor 503, 2 on bad usage.  */
#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *s_prefix = "k9";

typedef struct {
    int client;
    long seq;
    char key[48];
    char body[512];
    char *reply;
    size_t len;
    CURL *easy;
    struct curl_slist *headers;
    double retry_at; //  0: in flight or idle
    bool busy;
} s_client_t;

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static size_t
s_collect (char *data, size_t size, size_t n, void *arg)
{
    s_client_t *c = arg;
    char *grown = realloc (c->reply, c->len + size * n + 1);
    if (!grown)
        return 0;
    c->reply = grown;
    memcpy (c->reply + c->len, data, size * n);
    c->len += size * n;
    c->reply[c->len] = 0;
    return size * n;
}

//  (Re)send c's current key.
static void
s_send (CURLM *multi, s_client_t *c, const char *url)
{
    free (c->reply);
    c->reply = NULL;
    c->len = 0;
    curl_easy_reset (c->easy);
    curl_easy_setopt (c->easy, CURLOPT_URL, url);
    curl_easy_setopt (c->easy, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt (c->easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt (c->easy, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt (c->easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt (c->easy, CURLOPT_PRIVATE, c);
    curl_easy_setopt (c->easy, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt (c->easy, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_multi_add_handle (multi, c->easy);
    c->busy = true;
    c->retry_at = 0;
}

//  Start c's next key.
static void
s_next (CURLM *multi, s_client_t *c, const char *url, const char *api_key)
{
    snprintf (c->key, sizeof c->key, "%s-%d-%ld", s_prefix, c->client, c->seq);
    snprintf (c->body, sizeof c->body,
              "api_key=%s&service_code=property&address_id=HGY-B%04ld"
              "&description=%%E6%%A5%%BC%%E9%%81%%93%%E7%%81%%AF%%20%s",
              api_key, c->seq % 4000 + 1, c->key);
    curl_slist_free_all (c->headers);
    char header[96];
    snprintf (header, sizeof header, "Idempotency-Key: %s", c->key);
    c->headers = curl_slist_append (NULL, header);
    c->seq++;
    s_send (multi, c, url);
}

int
main (int argc, char **argv)
{
    if (argc != 6 && argc != 7) {
        fprintf (stderr,
                 "usage: gz_intake_load BASE_URL API_KEY CLIENTS STOPFILE OUTFILE [PREFIX]\n");
        return 2;
    }
    if (argc == 7 && strlen (argv[6]) <= 16)
        s_prefix = argv[6];
    char url[256];
    snprintf (url, sizeof url, "%s/open311/v2/requests.json", argv[1]);
    const char *api_key = argv[2], *stopfile = argv[4];
    int nclients = atoi (argv[3]);
    FILE *out = fopen (argv[5], "a");
    if (nclients < 1 || nclients > 1000 || !out) {
        fprintf (stderr, "gz_intake_load: bad CLIENTS or OUTFILE\n");
        return 2;
    }
    curl_global_init (CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init ();
    s_client_t *clients = calloc ((size_t) nclients, sizeof *clients);
    if (!clients)
        return 1;
    for (int i = 0; i < nclients; i++) {
        clients[i].client = i;
        clients[i].easy = curl_easy_init ();
        s_next (multi, &clients[i], url, api_key);
    }
    long answered = 0, retries = 0;
    int rc = 0;
    double stop_at = 0;
    while (true) {
        if (!stop_at && access (stopfile, F_OK) == 0)
            stop_at = s_now ();
        int running = 0;
        curl_multi_perform (multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read (multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            s_client_t *c;
            curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **) &c);
            long status = 0;
            if (msg->data.result == CURLE_OK)
                curl_easy_getinfo (c->easy, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle (multi, c->easy);
            c->busy = false;
            if (status == 201 || status == 200) {
                json_t *j = json_loads (c->reply ? c->reply : "", 0, NULL);
                const char *id = json_string_value (
                    json_object_get (json_array_get (j, 0), "service_request_id"));
                fprintf (out, "%s,%ld,%s\n", c->key, status, id ? id : "");
                json_decref (j);
                answered++;
                if (!stop_at)
                    s_next (multi, c, url, api_key);
            }
            else if (status == 0 || status == 503) {
                retries++;
                c->retry_at = s_now () + 0.02;
            }
            else {
                fprintf (stderr, "gz_intake_load: %s answered %ld: %s\n", c->key, status,
                         c->reply ? c->reply : "");
                rc = 1;
            }
        }
        double now = s_now ();
        bool pending = false;
        for (int i = 0; i < nclients; i++) {
            s_client_t *c = &clients[i];
            if (c->retry_at > 0 && now >= c->retry_at)
                s_send (multi, c, url);
            pending = pending || c->busy || c->retry_at > 0;
        }
        if (stop_at && !pending)
            break;
        if (stop_at && now - stop_at > 60) {
            fprintf (stderr, "gz_intake_load: keys still unanswered 60 s after the stop\n");
            rc = 1;
            break;
        }
        curl_multi_poll (multi, NULL, 0, 10, NULL);
    }
    fprintf (stderr, "gz_intake_load: %ld answered, %ld resends\n", answered, retries);
    for (int i = 0; i < nclients; i++) {
        if (clients[i].busy)
            curl_multi_remove_handle (multi, clients[i].easy);
        curl_easy_cleanup (clients[i].easy);
        curl_slist_free_all (clients[i].headers);
        free (clients[i].reply);
    }
    free (clients);
    curl_multi_cleanup (multi);
    curl_global_cleanup ();
    fclose (out);
    return rc;
}
