/*  routing_meetings: 逢四说事 meetings on routing's HTTP API. Not a public
    header; see routing_meetings.c (DESIGN) and docs/routing.md.  */
#ifndef ROUTING_MEETINGS_H_INCLUDED
#define ROUTING_MEETINGS_H_INCLUDED

#include <stdbool.h>

#include "routing.h"

#define ROUTING_MEETING_MAX_DEMANDS 100
#define ROUTING_MEETING_MAX_HOSTS 20

//  Register the meeting statements on a pool connection.
void routing_meetings_prepare (gz_db_t *db, const char *schema);

//  Declare the meeting metrics (harmless to repeat).
void routing_meetings_describe (gz_metrics_t *metrics);

//  Answer path if it is a meeting route (/api/v1/meetings[/{id}]):
//  true when answered (*route set to the metrics label), false when the
//  path is not ours. Runs on an HTTP thread.
bool routing_meetings_handle (routing_t *ctx, gz_http_req_t *req, const char *path,
                              const char *method, const char **route);

#endif
