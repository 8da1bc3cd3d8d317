/*  routing_meetings: 逢四说事 meetings on routing's HTTP API. Not a public
    header; see routing_meetings.c (DESIGN) and docs/routing.md.  */
#ifndef ROUTING_MEETINGS_H_INCLUDED
#define ROUTING_MEETINGS_H_INCLUDED

#include <stdbool.h>

#include "routing.h"

#define ROUTING_MEETING_MAX_DEMANDS 100
#define ROUTING_MEETING_MAX_HOSTS 20
#define ROUTING_MEETING_MAX_KEY 100 //  characters of a client key

//  ---- routing_meetings_parse.c (pure)

//  An answer on its way out: status 0 means "no error yet".
typedef struct {
    int status;
    const char *code;
    char message[256];
} routing_meeting_answer_t;

//  A meeting as posted (strings borrowed from the JSON body).
typedef struct {
    const char *service_code, *description, *building, *address, *phone;
    json_t *attributes;      //  borrowed object of code -> string, or NULL
    char *resolved_building; //  building filed (given or the community's first)
} routing_demand_t;

typedef struct {
    const char *community, *date, *place;
    int participants;
    const char **hosts;
    size_t nhosts;
    routing_demand_t *demands;
    size_t ndemands;
    char *key; //  the caller's key or NULL
} routing_meeting_t;

//  Record the first failure only in a. Always -1.
int routing_meeting_fail (routing_meeting_answer_t *a, int status, const char *code,
                          const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));
//  A calendar date "YYYY-MM-DD" (years 2000-2100).
bool routing_meeting_date_ok (const char *s);
//  Codes, ids and keys: 1..max printable ASCII characters, no quote or
//  backslash (so they sit in a text[] literal unescaped).
bool routing_meeting_code_ok (const char *s, size_t max);
//  The hosts as a text[] literal (codes checked: no quotes). Caller frees.
char *routing_meeting_hosts (const char **hosts, size_t n);
//  The body's shape and every check that needs no database into m. 0, or
//  -1 with the answer in a. routing_meeting_clear frees what m holds.
int routing_meeting_parse (json_t *o, gz_http_req_t *req, routing_meeting_t *m,
                           routing_meeting_answer_t *a);
void routing_meeting_clear (routing_meeting_t *m);

//  ---- routing_meetings_store.c

//  Register the meeting statements on a pool connection.
void routing_meetings_prepare (gz_db_t *db, const char *schema);

//  ---- routing_meetings.c

//  Declare the meeting metrics (harmless to repeat).
void routing_meetings_describe (gz_metrics_t *metrics);

//  Answer path if it is a meeting route (/api/v1/meetings[/{id}]):
//  true when answered (*route set to the metrics label), false when the
//  path is not ours. Runs on an HTTP thread.
bool routing_meetings_handle (routing_t *ctx, gz_http_req_t *req, const char *path,
                              const char *method, const char **route);

#endif
