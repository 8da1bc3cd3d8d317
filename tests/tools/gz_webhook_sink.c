/*  gz_webhook_sink: a webhook receiver for notify's tests
    (tests/integration/test_notify*.sh): a real HTTP server that takes
    notify's POSTs and writes one line per delivery it accepts.

      gz_webhook_sink PORT OUTFILE [CONTROLFILE]

    Listens on 127.0.0.1:PORT.
    OUTFILE "-" records nothing (benchmarks). For each POST: when CONTROLFILE exists and
    holds a status code (e.g. 500, 400), answers with it and records
    nothing; "hang" sleeps 30 s instead. Otherwise answers 200 and appends
    "<Idempotency-Key>\t<event>\t<recipient>\t<template>\t<link>\t<text>"
    to OUTFILE (text with tabs and newlines as spaces). Runs until SIGTERM
    or SIGINT. Prints "listening <port>" once ready.  */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gz_http.h"

static volatile sig_atomic_t s_stop;
static const char *s_out, *s_control;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

static void
s_on_signal (int sig)
{
    (void) sig;
    s_stop = 1;
}

static const char *
s_str (json_t *body, const char *name)
{
    const char *v = json_string_value (json_object_get (body, name));
    return v ? v : "";
}

static void
s_handler (gz_http_req_t *req, void *arg)
{
    (void) arg;
    char control[32] = "";
    FILE *c = s_control ? fopen (s_control, "r") : NULL;
    if (c) {
        if (!fgets (control, sizeof control, c))
            control[0] = 0;
        fclose (c);
        control[strcspn (control, "\r\n")] = 0;
    }
    if (strcmp (control, "hang") == 0) {
        sleep (30);
        gz_http_reply (req, 200, "text/plain", "late", 4);
        return;
    }
    if (atoi (control) >= 400) {
        gz_http_reply (req, atoi (control), "text/plain", "told to fail", 12);
        return;
    }
    size_t len = 0;
    const char *text = gz_http_body (req, &len);
    json_t *body = text ? json_loadb (text, len, 0, NULL) : NULL;
    const char *key = gz_http_header (req, "Idempotency-Key");
    if (!body || !key) {
        json_decref (body);
        gz_http_reply (req, 400, "text/plain", "not a notification", 18);
        return;
    }
    char *flat = strdup (s_str (body, "text"));
    for (char *p = flat; *p; p++)
        if (*p == '\t' || *p == '\n' || *p == '\r')
            *p = ' ';
    pthread_mutex_lock (&s_lock);
    FILE *out = strcmp (s_out, "-") ? fopen (s_out, "a") : NULL;
    if (out) {
        fprintf (out, "%s\t%s\t%s\t%s\t%s\t%s\n", key, s_str (body, "event"),
                 s_str (body, "recipient"), s_str (body, "template"), s_str (body, "link"), flat);
        fclose (out);
    }
    pthread_mutex_unlock (&s_lock);
    free (flat);
    json_decref (body);
    gz_http_reply (req, 200, "application/json", "{\"ok\":true}", 11);
}

int
main (int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf (stderr, "usage: gz_webhook_sink PORT OUTFILE [CONTROLFILE]\n");
        return 2;
    }
    s_out = argv[2];
    s_control = argc == 4 ? argv[3] : NULL;
    signal (SIGTERM, s_on_signal);
    signal (SIGINT, s_on_signal);
    gz_http_t *server = gz_http_new ("127.0.0.1", atoi (argv[1]), 1 << 20, s_handler, NULL);
    if (!server)
        return 1;
    printf ("listening %d\n", gz_http_port (server));
    fflush (stdout);
    while (!s_stop)
        usleep (50000);
    gz_http_set_drain_ms (server, 1000);
    gz_http_destroy (&server);
    return 0;
}
