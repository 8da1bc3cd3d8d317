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

//  A page being written (routing_page_begin ... routing_page_send).
typedef struct {
    zchunk_t *buf;
} routing_page_t;

//  ---- routing_pages_render.c (HTML only: no SQL, no state)
//  The pieces of every page, for the page files of their own
//  (routing_pages_callback.c): the head, title bar and nav bar; text as
//  is (fmt: only constants and numbers); text escaped; the footer and the
//  answer (the buffer is freed). The Chinese name of a state and of a
//  category code.
void routing_page_begin (routing_page_t *p, const char *title, const routing_viewer_t *v);
void routing_page_put (routing_page_t *p, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
void routing_page_text (routing_page_t *p, const char *s);
void routing_page_send (gz_http_req_t *req, int status, routing_page_t *p);
const char *routing_page_state_zh (const char *state);
const char *routing_page_category_zh (const char *code);
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

//  ---- routing_pages.c (for the page files of their own)
//  The signed-in viewer of req: 1, 0 nobody (answered: 303 to sign-in),
//  -1 failure (answered: 503).
int routing_page_viewer (gz_db_t *db, gz_http_req_t *req, routing_viewer_t *v);
//  The session id of req's cookie into out; false when none.
bool routing_page_session (gz_http_req_t *req, char out[65]);
//  The form's csrf field is session's.
bool routing_page_csrf_ok (gz_http_req_t *req, const char *session);
//  A 303 to location.
void routing_page_redirect (gz_http_req_t *req, const char *location);
//  A request id as the pages accept it (1-32 letters, digits, '-').
bool routing_page_id_ok (const char *s, size_t n);

//  ---- routing_pages_callback.c (回访, and the resident's phone)
//  GET /w/callback (blocking) and POST /w/callback/{id} (deferred: the
//  rate action, as the JSON API's).
bool routing_callback_route (void *state, gz_http_req_t *req, const char *rest);
bool routing_callback_rate_route (void *state, gz_http_req_t *req, const char *rest);
//  Answer an applied rate command of the 回访 form: a 303 to /w/callback
//  saying what happened. Takes cmd.
void routing_callback_answer (gz_http_req_t *req, routing_cmd_t *cmd);
//  The request page's phone: when v may see it (the request is assigned
//  to her or her unit), ask intake for the number, log the view in the
//  request's timeline and set view's "resident_phone"; otherwise, or
//  when intake cannot say, "resident_phone_note" (Chinese).
void routing_page_phone (routing_t *ctx, const routing_viewer_t *v, json_t *view);
//  The phone's HTML from those members: a tel: link (id "phone") or the
//  note.
void routing_page_phone_link (routing_page_t *p, json_t *view);

//  ---- routing_store_callback.c (the SQL of the 回访 page)
void routing_callback_prepare (gz_db_t *db, const char *schema);
//  The resolved requests of subdistrict, oldest resolution first (at
//  most 50): a JSON array (id, category, building_code, description,
//  resolved_at_us, assignee_name, assignee_unit_name, result), the
//  caller's; NULL on failure.
json_t *routing_store_callback_list (gz_db_t *db, const char *subdistrict);
//  Log that staff (id, name, role) saw the resident's phone of request
//  id at at_us (a timeline row of kind contact_viewed, state unchanged;
//  note says where). 0 ok, -1 failure.
int routing_store_contact_viewed (gz_db_t *db, const char *id, const routing_viewer_t *v,
                                  int64_t at_us, const char *note);

//  ---- routing_pages_photos.c (处置 photos: upload through intake, serving)
//  The multipart limits of routing's HTTP server (set in start).
gz_http_multipart_t routing_photos_limits (void);
//  Send req's photos to intake on a worker, put their names in the
//  command and defer it to the actor (or answer a refusal). Takes *cmd_p
//  on 0; -1 no worker free (*cmd_p still the caller's).
int routing_photos_offload (routing_t *ctx, routing_cmd_t **cmd_p, gz_http_req_t *req);
//  Ask intake for the filing's photos of request view: view's
//  "filing_photos" (an array, empty when intake cannot say).
void routing_page_photos (routing_t *ctx, json_t *view);
//  Thumbnails (photos: an array of SHA-256 names) of request id, each
//  linking to the photo, through /w/media; html_id may be NULL.
void routing_page_thumbs (routing_page_t *p, const char *id, json_t *photos, const char *html_id);
//  GET /w/media/{sha256}[/thumb]?r={id} (rest: after "/w/media/").
void routing_page_media (routing_t *ctx, gz_http_req_t *req, const char *rest);

//  "还剩 …" or, past due_iso, "已超时 …" in red ("" without a due).
void routing_page_time_left (routing_page_t *p, const char *due_iso, int64_t now_us);
//  Whether due_iso (routing_iso8601's) is before now_us.
bool routing_page_overdue (const char *due_iso, int64_t now_us);

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
