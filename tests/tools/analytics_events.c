/*  analytics_events: the events of bench_analytics_consumer.sh and
    test_analytics_catchup.sh, written as COPY text rows of a bus outbox
    (services/common/gz_bus.c: stream, position, id, type, key, topic,
    occurred_at_us, trace_id, idempotency_key, payload), so a benchmark
    fills intake's and routing's outboxes in seconds instead of driving
    every request through the services.

      analytics_events intake|routing REQUESTS GRIDS_FILE

    GRIDS_FILE: one "grid|community|subdistrict|building" line per grid
    (the org directory the events must name). Request i (0-based, id
    "<2000000 + i>") is filed at 2026-11-01 00:00 China time + 10 s x i,
    in grid i mod grids, category and channel from i; intake's stream
    holds its RequestSubmitted. routing's stream holds six RequestUpdates
    per request, as a handled request goes: routed (tier, the grid as
    lead unit, 24 h response and 7 day resolve deadlines), accepted,
    verified (reached), started, resolved, rated (satisfied unless i mod 7
    is 0). Kind j of request i happens 10 s x 50 x j after its filing, and
    the stream is in time order, so a batch of events interleaves about
    300 requests, as a busy day would. Deterministic: every run writes the
    same rows.  */
#include "gongzhi/v1/intake.pb-c.h"
#include "gongzhi/v1/routing.pb-c.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_START_US 1793462400000000LL //  2026-11-01 00:00 +08:00
#define S_STEP_US 10000000LL          //  10 s between filings
#define S_WINDOW 50                   //  filings between a request's steps
#define S_KINDS 6

typedef struct {
    char grid[64], community[64], sub[64], building[64];
} s_grid_t;

static const char *const s_categories[] = {"property", "sanitation", "road",     "noise",
                                           "parking",  "dispute",    "greening", "water"};

static const struct {
    const char *type, *kind, *state;
} s_steps[S_KINDS] = {
    {"RequestRouted", "routed", "assigned"},     {"RequestAccepted", "accepted", "accepted"},
    {"RequestVerified", "verified", "verified"}, {"RequestStarted", "started", "in_progress"},
    {"RequestResolved", "resolved", "resolved"}, {"RequestRated", "rated", "rated"},
};

static s_grid_t *
s_grids_load (const char *path, size_t *n)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return NULL;
    size_t cap = 64;
    s_grid_t *grids = calloc (cap, sizeof *grids);
    char line[512];
    *n = 0;
    while (grids && fgets (line, sizeof line, f)) {
        if (*n == cap) {
            cap *= 2;
            grids = realloc (grids, cap * sizeof *grids);
            if (!grids)
                break;
        }
        s_grid_t *g = &grids[*n];
        if (sscanf (line, "%63[^|]|%63[^|]|%63[^|]|%63[^|\n]", g->grid, g->community, g->sub,
                    g->building) == 4)
            (*n)++;
    }
    fclose (f);
    return grids;
}

//  One outbox row; payload as COPY text's bytea (\\x and hex).
static void
s_row (const char *stream, int64_t position, const char *type, const char *key, const char *topic,
       int64_t at_us, const ProtobufCMessage *msg)
{
    static uint8_t buf[4096];
    size_t len = protobuf_c_message_get_packed_size (msg);
    if (len > sizeof buf)
        abort ();
    protobuf_c_message_pack (msg, buf);
    printf ("%s\t%lld\t%08llx-0000-4000-8000-%012llx\t%s\t%s\t%s\t%lld\t\t\t\\\\x", stream,
            (long long) position, (unsigned long long) (stream[0] == 'r'),
            (unsigned long long) position, type, key, topic, (long long) at_us);
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++)
        putchar (hex[buf[i] >> 4]), putchar (hex[buf[i] & 15]);
    putchar ('\n');
}

static void
s_intake (const s_grid_t *grids, size_t ngrids, int64_t requests)
{
    for (int64_t i = 0; i < requests; i++) {
        const s_grid_t *g = &grids[i % (int64_t) ngrids];
        char id[32], topic[256];
        snprintf (id, sizeof id, "%lld", (long long) (2000000 + i));
        snprintf (topic, sizeof topic, "RequestSubmitted/%s/%s", g->sub, g->community);
        Gongzhi__V1__RequestSubmitted ev = GONGZHI__V1__REQUEST_SUBMITTED__INIT;
        ev.request_id = id;
        ev.service_code = (char *) s_categories[i % 8];
        ev.description = "楼道灯坏了，晚上看不见路";
        ev.channel = (Gongzhi__V1__Channel) (1 + i % 7);
        ev.building_code = (char *) g->building;
        ev.grid_code = (char *) g->grid;
        ev.community_code = (char *) g->community;
        ev.subdistrict_code = (char *) g->sub;
        ev.submitted_at_us = S_START_US + i * S_STEP_US;
        s_row ("intake", i + 1, "RequestSubmitted", id, topic, ev.submitted_at_us, &ev.base);
    }
}

static void
s_routing (const s_grid_t *grids, size_t ngrids, int64_t requests)
{
    int64_t position = 0;
    for (int64_t slot = 0; slot < requests + (S_KINDS - 1) * S_WINDOW; slot++)
        for (int j = 0; j < S_KINDS; j++) {
            int64_t i = slot - (int64_t) j * S_WINDOW;
            if (i < 0 || i >= requests)
                continue;
            const s_grid_t *g = &grids[i % (int64_t) ngrids];
            int64_t filed = S_START_US + i * S_STEP_US;
            char id[32], topic[256];
            snprintf (id, sizeof id, "%lld", (long long) (2000000 + i));
            snprintf (topic, sizeof topic, "%s/%s/%s", s_steps[j].type, g->sub, g->community);
            Gongzhi__V1__Assignee who = GONGZHI__V1__ASSIGNEE__INIT;
            who.staff_id = "S-bench";
            who.unit_code = (char *) g->grid;
            Gongzhi__V1__RequestUpdate u = GONGZHI__V1__REQUEST_UPDATE__INIT;
            u.request_id = id;
            u.kind = (char *) s_steps[j].kind;
            u.state = (char *) s_steps[j].state;
            u.tier = GONGZHI__V1__TIER__LOCAL;
            u.assignee = &who;
            u.response_due_us = filed + 24 * 3600 * 1000000LL;
            u.resolve_due_us = filed + 7 * 24 * 3600 * 1000000LL;
            u.at_us = filed + (int64_t) j * S_WINDOW * S_STEP_US;
            u.service_code = (char *) s_categories[i % 8];
            u.grid_code = (char *) g->grid;
            u.community_code = (char *) g->community;
            u.subdistrict_code = (char *) g->sub;
            if (j == 2)
                u.outcome = "reached";
            if (j == 5) {
                u.score = i % 7 ? 5 : 2;
                u.satisfied = i % 7 != 0;
            }
            s_row ("routing", ++position, s_steps[j].type, id, topic, u.at_us, &u.base);
        }
}

int
main (int argc, char **argv)
{
    if (argc != 4 || (strcmp (argv[1], "intake") != 0 && strcmp (argv[1], "routing") != 0)) {
        fprintf (stderr, "usage: analytics_events intake|routing REQUESTS GRIDS_FILE\n");
        return 2;
    }
    int64_t requests = atoll (argv[2]);
    size_t ngrids = 0;
    s_grid_t *grids = s_grids_load (argv[3], &ngrids);
    if (!grids || ngrids == 0 || requests <= 0) {
        fprintf (stderr, "analytics_events: no grids in %s, or no requests\n", argv[3]);
        free (grids);
        return 1;
    }
    if (strcmp (argv[1], "intake") == 0)
        s_intake (grids, ngrids, requests);
    else
        s_routing (grids, ngrids, requests);
    free (grids);
    return 0;
}
