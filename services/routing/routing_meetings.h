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
//  Each of these runs on a pool connection db with those statements.
//  Whether community is a community: 1 yes, 0 no, -1 failure.
int routing_meetings_community_known (gz_db_t *db, const char *community);
//  The first host of the text[] literal hosts that is not a staff
//  member: 1 found (copied into host[len]), 0 none, -1 failure.
int routing_meetings_unknown_host (gz_db_t *db, const char *hosts, char *host, size_t len);
//  The community of building (its grid's parent; "" when none): 1 a
//  building (*parent the caller's to free), 0 not one (*parent NULL), -1
//  failure.
int routing_meetings_building_parent (gz_db_t *db, const char *building, char **parent);
//  Community's first building: 1 found (*building the caller's to free),
//  0 none (*building NULL), -1 failure.
int routing_meetings_first_building (gz_db_t *db, const char *community, char **building);
//  The hex SHA-256 of text into sha. 0 ok, -1 failure.
int routing_meetings_sha (gz_db_t *db, const char *text, char sha[80]);
//  Insert the meeting row with rm_claim's 10 parameters v: 1 inserted
//  (its id into id), 0 its key exists already, -1 failure.
int routing_meetings_claim (gz_db_t *db, const char *const *v, char id[32]);
//  The meeting of community with key: 1 found (id set; *same when its
//  body's SHA-256 is sha; *recorded when its status is recorded), 0 none,
//  -1 failure.
int routing_meetings_by_key (gz_db_t *db, const char *community, const char *key, const char *sha,
                             char id[32], bool *same, bool *recorded);
//  In one transaction: the first accepted demands of m as filed under
//  request ids ids, then meeting id recorded when all are in (or removed
//  when nothing_filed). 0 committed, -1 failure (rolled back).
int routing_meetings_record (gz_db_t *db, const routing_meeting_t *m, const char *id, char **ids,
                             size_t accepted, bool nothing_filed);
//  The recorded request id of each demand index below n of meeting id
//  into ids[index] when still NULL (the caller frees them). 0 ok, -1
//  failure.
int routing_meetings_demand_ids (gz_db_t *db, const char *id, char **ids, size_t n);
//  Meeting id with its demands and their state, as GET answers it: 1
//  found (*out the caller's), 0 none, -1 failure (*out NULL unless 1).
int routing_meetings_view (gz_db_t *db, const char *id, json_t **out);
//  The meetings of community (NULL: all) held from..to (NULL: open), as
//  GET /api/v1/meetings lists them: a JSON array, the caller's; NULL on
//  failure.
json_t *routing_meetings_list (gz_db_t *db, const char *community, const char *from,
                               const char *to);

//  ---- routing_meetings.c

//  Declare the meeting metrics (harmless to repeat).
void routing_meetings_describe (gz_metrics_t *metrics);

//  Answer path if it is a meeting route (/api/v1/meetings[/{id}]):
//  true when answered (*route set to the metrics label), false when the
//  path is not ours. Runs on an HTTP thread.
bool routing_meetings_handle (routing_t *ctx, gz_http_req_t *req, const char *path,
                              const char *method, const char **route);

#endif
