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

#endif
