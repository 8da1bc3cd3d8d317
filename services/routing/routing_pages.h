/*  routing_pages: what the workbench's handlers (routing_pages.c) and its
    HTML (routing_pages_render.c) share. Not a public header.  */
#ifndef ROUTING_PAGES_H_INCLUDED
#define ROUTING_PAGES_H_INCLUDED

#include "routing.h"

//  Who is looking at a page: the session's staff member, her name, and
//  the CSRF token every form of hers carries.
typedef struct {
    routing_caller_t caller;
    char name[80];
    char csrf[65];
} routing_viewer_t;

//  A page being written (routing_pages_render.c's buffer).
typedef struct {
    zchunk_t *buf;
} routing_page_t;

//  ---- routing_pages.c
//  The signed-in viewer of req (its session cookie), looked up on db: 1,
//  0 nobody (answered: a 303 to the sign-in page), -1 failure (answered
//  503).
int routing_pages_viewer (gz_db_t *db, gz_http_req_t *req, routing_viewer_t *v);

//  ---- routing_pages_render.c (HTML only: no SQL, no state)
//  A message (?m= of a page, after an action) in Chinese; ok says
//  whether it reports a success. NULL for an unknown code.
const char *routing_page_message (const char *code, bool *ok);
//  The sign-in page: the confirm button for a link's code (code not
//  NULL), and the token form; error shown on top when not NULL.
void routing_page_login (gz_http_req_t *req, int status, const char *code, const char *error);
//  A page with a title and one message (403, 404, 503 ...); v NULL when
//  nobody is signed in (no nav bar).
void routing_page_notice (gz_http_req_t *req, int status, const routing_viewer_t *v,
                          const char *title, const char *message);
//  待办: items is routing_store_queue's array (borrowed); now_us the
//  clock the time left is counted on.
void routing_page_queue (gz_http_req_t *req, const routing_viewer_t *v, json_t *items,
                         int64_t now_us);
//  One request (view: routing_store_view's object, borrowed) with the
//  forms of the actions its state allows; message (?m=) on top.
void routing_page_request (gz_http_req_t *req, const routing_viewer_t *v, json_t *view,
                           const char *message_code, int64_t now_us);

//  The pieces of a page, for the pages in other files (the coordinator's):
//  begin (head, title bar, nav bar for v), put (raw HTML), text (escaped),
//  send (footer, then the answer; frees the buffer).
void routing_page_begin (routing_page_t *p, const char *title, const routing_viewer_t *v);
void routing_page_put (routing_page_t *p, const char *html);
void routing_page_text (routing_page_t *p, const char *s);
void routing_page_send (gz_http_req_t *req, int status, routing_page_t *p);
//  "还剩 …" or, past due_iso, "已超时 …" in red ("" without a due).
void routing_page_time_left (routing_page_t *p, const char *due_iso, int64_t now_us);
//  Whether due_iso (routing_iso8601's) is before now_us.
bool routing_page_overdue (const char *due_iso, int64_t now_us);
//  A request's state and a category code in Chinese.
const char *routing_page_state_zh (const char *state);
const char *routing_page_category_zh (const char *code);

//  ---- routing_pages_coord.c (the coordinator page, /w/coord)
//  GET /w/coord: the open and overdue work of the viewer's area, by unit
//  and by person, with a reassign form per request; a 403 page for
//  anyone but a coordinator (routing_coordinator_role).
void routing_page_coord (routing_t *ctx, gz_http_req_t *req);
//  The 改派 form of request id (a staff id box; suggest: offering the
//  page's datalist "people").
void routing_page_reassign_form (routing_page_t *p, const routing_viewer_t *v, const char *id,
                                 bool suggest);
//  The ?m= messages of reassign (routing_page_message's fallback): NULL
//  for an unknown code; *ok whether it reports a success.
const char *routing_page_coord_message (const char *code, bool *ok);
//  The ?m= code of a reassign's refusal the generic codes do not say
//  well (outside the area; not a coordinator), or NULL.
const char *routing_page_coord_code (const routing_cmd_t *cmd);

#endif
