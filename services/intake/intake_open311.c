/*  intake_open311: Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2)
    under /open311/v2/: discovery, services, service definitions, requests
    (POST and GET with the spec's filters) and requests/{id}, each in
    .json and .xml with the spec's element names.

    Answers are built once as jansson trees and rendered either as JSON or
    as XML by one converter, so the two formats cannot drift apart.
    Datetimes are ISO 8601 in China Standard Time (+08:00, no DST). The
    reads come from intake_store.c, already as trees.  */
#include "intake.h"
#include "gz_config.h"
#include "gz_log.h"
#include "gz_text.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FMT_JSON = INTAKE_FORMAT_JSON, FMT_XML = INTAKE_FORMAT_XML };

#define OPEN311_CHANGESET "2026-11-29T00:00:00+08:00"

//  ---------------------------------------------------------------- render

static const char *
s_child_name (const char *array_name)
{
    static const char *map[][2] = {
        {"attributes", "attribute"}, {"values", "value"},
        {"endpoints", "endpoint"},   {"formats", "format"},
        {"services", "service"},     {"service_requests", "request"},
        {"errors", "error"},         {"service_requests_updates", "request_update"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp (map[i][0], array_name) == 0)
            return map[i][1];
    return "item";
}

static void
s_xml_value (zchunk_t *out, const char *name, json_t *v)
{
    zchunk_extend (out, "<", 1);
    zchunk_extend (out, name, strlen (name));
    zchunk_extend (out, ">", 1);
    if (json_is_object (v)) {
        const char *k;
        json_t *c;
        json_object_foreach (v, k, c) s_xml_value (out, k, c);
    }
    else if (json_is_array (v)) {
        size_t i;
        json_t *c;
        const char *child = s_child_name (name);
        json_array_foreach (v, i, c) s_xml_value (out, child, c);
    }
    else if (json_is_string (v)) {
        char *esc = gz_xml_escape (json_string_value (v));
        zchunk_extend (out, esc, strlen (esc));
        free (esc);
    }
    else if (json_is_true (v) || json_is_false (v))
        zchunk_extend (out, json_is_true (v) ? "true" : "false", json_is_true (v) ? 4 : 5);
    else if (json_is_integer (v)) {
        char buf[32];
        int n = snprintf (buf, sizeof buf, "%lld", (long long) json_integer_value (v));
        zchunk_extend (out, buf, (size_t) n);
    }
    else if (json_is_real (v)) {
        char buf[40];
        int n = snprintf (buf, sizeof buf, "%.7f", json_real_value (v));
        zchunk_extend (out, buf, (size_t) n);
    }
    zchunk_extend (out, "</", 2);
    zchunk_extend (out, name, strlen (name));
    zchunk_extend (out, ">", 1);
}

//  Reply with tree (taken) as JSON or as XML under root.
static void
s_reply (gz_http_req_t *req, int status, int fmt, const char *root, json_t *tree)
{
    if (fmt == FMT_XML) {
        zchunk_t *out = zchunk_new (NULL, 4096);
        const char *head = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";
        zchunk_extend (out, head, strlen (head));
        s_xml_value (out, root, tree);
        gz_http_reply (req, status, "text/xml; charset=utf-8", (char *) zchunk_data (out),
                       zchunk_size (out));
        zchunk_destroy (&out);
    }
    else {
        char *text = json_dumps (tree, JSON_COMPACT | JSON_REAL_PRECISION (10));
        gz_http_reply (req, status, "application/json; charset=utf-8", text, strlen (text));
        free (text);
    }
    json_decref (tree);
}

static void
s_error (gz_http_req_t *req, int status, int fmt, const char *description)
{
    json_t *errs = json_pack ("[{s:i,s:s}]", "code", status, "description", description);
    s_reply (req, status, fmt, "errors", errs);
}

//  ---------------------------------------------------------------- services

static json_t *
s_services (void)
{
    size_t n;
    const gz_category_t *all = gz_category_all (&n);
    json_t *list = json_array ();
    for (size_t i = 0; i < n; i++)
        json_array_append_new (
            list, json_pack ("{s:s,s:s,s:s,s:b,s:s,s:s,s:s}", "service_code", all[i].code,
                             "service_name", all[i].name, "description", all[i].description,
                             "metadata", gz_category_attr_count (&all[i]) > 0, "type", "realtime",
                             "keywords", all[i].keywords, "group", all[i].group));
    return list;
}

static json_t *
s_definition (const gz_category_t *cat)
{
    json_t *attrs = json_array ();
    int order = 1;
    for (const gz_attr_t *a = cat->attrs; a && a->code; a++, order++) {
        json_t *vals = json_array ();
        for (const gz_attr_value_t *v = a->values; v && v->key; v++)
            json_array_append_new (vals, json_pack ("{s:s,s:s}", "key", v->key, "name", v->name));
        json_array_append_new (attrs,
                               json_pack ("{s:b,s:s,s:s,s:b,s:n,s:i,s:s,s:o}", "variable", 1,
                                          "code", a->code, "datatype", a->datatype, "required",
                                          a->required, "datatype_description", "order", order,
                                          "description", a->description, "values", vals));
    }
    return json_pack ("{s:s,s:o}", "service_code", cat->code, "attributes", attrs);
}

static json_t *
s_discovery (intake_t *ctx)
{
    char url[512];
    snprintf (url, sizeof url, "%s/open311/v2", ctx->cfg->public_url);
    return json_pack ("{s:s,s:s,s:s,s:[{s:s,s:s,s:s,s:s,s:[s,s]}]}", "changeset", OPEN311_CHANGESET,
                      "contact", "gongzhi platform operators", "key_service",
                      "Ask the platform operator for an api_key", "endpoints", "specification",
                      "http://wiki.open311.org/GeoReport_v2", "url", url, "changeset",
                      OPEN311_CHANGESET, "type", "production", "formats", "text/xml",
                      "application/json");
}

//  ---------------------------------------------------------------- POST requests

static int
s_status_for (int error)
{
    switch (error) {
        case GONGZHI__V1__ERROR_CODE__OUT_OF_AREA:
            return 422;
        case GONGZHI__V1__ERROR_CODE__TOO_LARGE:
            return 413;
        case GONGZHI__V1__ERROR_CODE__UNAUTHORIZED:
            return 403;
        default:
            return 400;
    }
}

//  Runs on an HTTP thread once the actor has finished sub.
static void
s_post_answer (gz_http_req_t *req, intake_sub_t *sub)
{
    if (sub->state != SUB_DONE)
        s_error (req, 503, sub->format,
                 "temporarily unavailable; retry with the same Idempotency-Key");
    else if (sub->mismatch)
        //  As the IETF Idempotency-Key draft answers a key reused with
        //  another payload; nothing was stored.
        s_error (req, 422, sub->format,
                 "this Idempotency-Key was already used for a different request;"
                 " use a new key for a new request");
    else {
        char id[32];
        snprintf (id, sizeof id, "%lld", (long long) sub->id);
        json_t *out = json_pack ("[{s:s,s:s,s:n}]", "service_request_id", id, "service_notice",
                                 "诉求已受理，网格员将尽快与您电话核实。", "account_id");
        s_reply (req, sub->duplicate ? 200 : 201, sub->format, "service_requests", out);
    }
    intake_http_observe (sub->ctx, "open311", sub->http_start_us);
}

//  True when req was deferred (the submission is queued).
static bool
s_post_request (intake_t *ctx, gz_http_req_t *req, int fmt)
{
    int64_t start = zclock_usecs ();
    if (gz_http_too_large (req)) {
        s_error (req, 413, fmt, "request body is larger than 64 KiB");
        gz_metrics_add (ctx->metrics, "gz_intake_submissions_total",
                        "channel=\"open311\",outcome=\"rejected\"", 1);
        return false;
    }
    if (!gz_http_form_parse (req)) {
        s_error (req, 400, fmt, "body must be application/x-www-form-urlencoded");
        gz_metrics_add (ctx->metrics, "gz_intake_submissions_total",
                        "channel=\"open311\",outcome=\"rejected\"", 1);
        return false;
    }
    const char *key = gz_http_form (req, "api_key");
    if (!key)
        key = gz_http_query (req, "api_key");
    const char *keyname = intake_api_key_name (ctx, key);
    if (!keyname) {
        s_error (req, 403, fmt, key ? "api_key is not valid" : "api_key is required");
        gz_metrics_add (ctx->metrics, "gz_intake_submissions_total",
                        "channel=\"open311\",outcome=\"rejected\"", 1);
        return false;
    }
    char client[160];
    snprintf (client, sizeof client, "apikey:%s", keyname);
    if (intake_rate_limited (ctx, req, client, fmt))
        return false;

    //  attribute[code]=value fields
    size_t nf = gz_http_form_count (req), na = 0;
    const char **codes = calloc (nf + 1, sizeof *codes);
    const char **vals = calloc (nf + 1, sizeof *vals);
    char **owned = calloc (nf + 1, sizeof *owned);
    for (size_t i = 0; i < nf; i++) {
        const char *name = gz_http_form_name (req, i);
        size_t len = strlen (name);
        if (strncmp (name, "attribute[", 10) == 0 && len > 11 && name[len - 1] == ']') {
            owned[na] = strndup (name + 10, len - 11);
            codes[na] = owned[na];
            vals[na] = gz_http_form_value (req, i);
            na++;
        }
    }
    intake_raw_t raw = {0};
    raw.channel = GONGZHI__V1__CHANNEL__OPEN311;
    raw.service_code = gz_http_form (req, "service_code");
    raw.description = gz_http_form (req, "description");
    raw.lat_s = gz_http_form (req, "lat");
    raw.long_s = gz_http_form (req, "long");
    raw.address_id = gz_http_form (req, "address_id");
    raw.address_string = gz_http_form (req, "address_string");
    raw.phone = gz_http_form (req, "phone");
    raw.email = gz_http_form (req, "email");
    raw.media_url = gz_http_form (req, "media_url");
    raw.reporter_id = gz_http_form (req, "reporter_id"); //  an extension (issue 10)
    //  Built whole (never cut mid-character): validation then says a
    //  name that is too long is too long.
    char *name = NULL;
    const char *first = gz_http_form (req, "first_name"), *last = gz_http_form (req, "last_name");
    if (first || last) {
        size_t n = (last ? strlen (last) : 0) + (first ? strlen (first) : 0) + 2;
        name = malloc (n);
        assert (name);
        snprintf (name, n, "%s%s%s", last ? last : "", last && first ? " " : "",
                  first ? first : "");
        raw.name = name;
    }
    raw.client_id = client;
    raw.idempotency_key = gz_http_header (req, "Idempotency-Key");
    raw.attr_codes = codes;
    raw.attr_values = vals;
    raw.nattrs = na;
    intake_err_t err;
    intake_sub_t *sub = intake_sub_new (ctx, &raw, &err);
    free (name);
    for (size_t i = 0; i < na; i++)
        free (owned[i]);
    free (owned);
    free (codes);
    free (vals);
    if (!sub) {
        gz_metrics_add (ctx->metrics, "gz_intake_submissions_total",
                        "channel=\"open311\",outcome=\"rejected\"", 1);
        s_error (req, s_status_for (err.error), fmt, err.message);
        return false;
    }
    sub->format = fmt;
    sub->http_start_us = start;
    if (intake_submit_defer (ctx, &sub, req, s_post_answer) == 0)
        return true;
    s_error (req, 503, fmt, "temporarily unavailable; retry with the same Idempotency-Key");
    intake_sub_destroy (&sub);
    return false;
}

//  ---------------------------------------------------------------- GET requests

//  A comma list's elements (leading spaces dropped, empty ones skipped),
//  NULL-terminated; the caller frees with s_list_destroy. With
//  digits_only, NULL when an element is not 1 to 18 digits.
static char **
s_list_new (const char *list, bool digits_only)
{
    size_t cap = 1, n = 0;
    for (const char *p = list; *p; p++)
        cap += *p == ',';
    char **items = calloc (cap + 1, sizeof *items);
    char *copy = strdup (list);
    assert (items && copy);
    char *save = NULL;
    bool ok = true;
    for (char *tok = strtok_r (copy, ",", &save); tok && ok; tok = strtok_r (NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t len = strlen (tok);
        for (size_t i = 0; digits_only && i < len && ok; i++)
            ok = isdigit ((unsigned char) tok[i]);
        ok = ok && (!digits_only || (len > 0 && len < 19));
        if (ok)
            items[n++] = strdup (tok);
    }
    free (copy);
    if (!ok) {
        for (size_t i = 0; i < n; i++)
            free (items[i]);
        free (items);
        items = NULL;
    }
    return items;
}

static void
s_list_destroy (char ***items_p)
{
    char **items = *items_p;
    for (size_t i = 0; items && items[i]; i++)
        free (items[i]);
    free (items);
    *items_p = NULL;
}

//  Open311's statuses: open, closed, or both once each.
static bool
s_statuses_valid (char **items)
{
    if (items[0] && !items[1])
        return strcmp (items[0], "open") == 0 || strcmp (items[0], "closed") == 0;
    if (items[0] && items[1] && !items[2])
        return (strcmp (items[0], "open") == 0 && strcmp (items[1], "closed") == 0) ||
               (strcmp (items[0], "closed") == 0 && strcmp (items[1], "open") == 0);
    return false;
}

//  The filters of GET requests; NULL when they are fine, else the name of
//  the last one that is not. *lists gets the lists q borrows (ids, service
//  codes, statuses), for the caller to destroy.
static const char *
s_request_query (gz_http_req_t *req, const char *ids, intake_request_query_t *q, char **lists[3])
{
    const char *bad = NULL, *v;
    q->limit = (long) gz_config_int ("GZ_OPEN311_MAX_RESULTS", 1000, 1, 100000);
    if (ids && *ids) {
        lists[0] = s_list_new (ids, true);
        q->ids = (const char *const *) lists[0];
        return lists[0] ? NULL : "service_request_id";
    }
    if ((v = gz_http_query (req, "service_code")) && *v) {
        if (!gz_utf8_valid (v, strlen (v)))
            bad = "service_code";
        else
            lists[1] = s_list_new (v, false);
    }
    q->service_codes = (const char *const *) lists[1];
    q->start_date = gz_http_query (req, "start_date");
    q->end_date = gz_http_query (req, "end_date");
    if ((v = gz_http_query (req, "status")) && *v) {
        lists[2] = s_list_new (v, false);
        if (!s_statuses_valid (lists[2]))
            bad = "status";
    }
    q->statuses = (const char *const *) lists[2];
    if (q->start_date && (!*q->start_date || strlen (q->start_date) > 64))
        bad = "start_date";
    if (q->end_date && (!*q->end_date || strlen (q->end_date) > 64))
        bad = "end_date";
    return bad;
}

static void
s_get_requests (intake_t *ctx, gz_http_req_t *req, int fmt, const char *single_id)
{
    const char *ids = single_id ? single_id : gz_http_query (req, "service_request_id");
    intake_request_query_t q = {0};
    char **lists[3] = {NULL, NULL, NULL};
    const char *bad = s_request_query (req, ids, &q, lists);
    json_t *list = NULL;
    int rc = bad ? 0 : intake_store_find_requests (ctx, &q, &list);
    for (int i = 0; i < 3; i++)
        s_list_destroy (&lists[i]);
    if (bad) {
        char msg[128];
        snprintf (msg, sizeof msg, "%s is not valid", bad);
        s_error (req, 400, fmt, msg);
    }
    else if (rc == -2)
        s_error (req, 400, fmt, "start_date/end_date must be ISO 8601 datetimes");
    else if (rc < 0) {
        gz_metrics_add (ctx->metrics, "gz_db_errors_total", NULL, 1);
        s_error (req, 503, fmt, "temporarily unavailable");
    }
    else if (single_id && json_array_size (list) == 0) {
        json_decref (list);
        s_error (req, 404, fmt, "service_request_id not found");
    }
    else
        s_reply (req, 200, fmt, "service_requests", list);
}

//  mySociety's extension (FixMyStreet): GET servicerequestupdates with
//  start_date/end_date; JSON {"service_request_updates": [...]}, XML
//  <service_requests_updates><request_update>...
static void
s_get_updates (intake_t *ctx, gz_http_req_t *req, int fmt)
{
    const char *start = gz_http_query (req, "start_date"), *end = gz_http_query (req, "end_date");
    if ((start && (!*start || strlen (start) > 64)) || (end && (!*end || strlen (end) > 64))) {
        s_error (req, 400, fmt, "start_date/end_date must be ISO 8601 datetimes");
        return;
    }
    long limit = (long) gz_config_int ("GZ_OPEN311_MAX_RESULTS", 1000, 1, 100000);
    json_t *list = NULL;
    int rc = intake_store_find_updates (ctx, start, end, limit, &list);
    if (rc == -2)
        s_error (req, 400, fmt, "start_date/end_date must be ISO 8601 datetimes");
    else if (rc < 0)
        s_error (req, 503, fmt, "temporarily unavailable");
    else if (fmt == FMT_XML)
        s_reply (req, 200, fmt, "service_requests_updates", list);
    else
        s_reply (req, 200, fmt, "", json_pack ("{s:o}", "service_request_updates", list));
}

//  ---------------------------------------------------------------- dispatch

//  Split "name.json" / "name.xml": returns the format, or -1; *stem_len
//  gets the length of name.
static int
s_format (const char *rest, size_t *stem_len)
{
    size_t n = strlen (rest);
    if (n > 5 && strcmp (rest + n - 5, ".json") == 0) {
        *stem_len = n - 5;
        return FMT_JSON;
    }
    if (n > 4 && strcmp (rest + n - 4, ".xml") == 0) {
        *stem_len = n - 4;
        return FMT_XML;
    }
    return -1;
}

void
intake_open311_unavailable (gz_http_req_t *req, const char *rest)
{
    size_t stem = 0;
    int fmt = s_format (rest, &stem);
    s_error (req, 503, fmt == FMT_XML ? FMT_XML : FMT_JSON,
             "temporarily unavailable; retry with the same Idempotency-Key");
}

bool
intake_open311 (intake_t *ctx, gz_http_req_t *req, const char *rest)
{
    size_t stem = 0;
    int fmt = s_format (rest, &stem);
    if (fmt < 0) {
        s_error (req, 404, FMT_JSON, "unknown resource: add .json or .xml");
        return false;
    }
    bool deferred = false;
    char *name = strndup (rest, stem);
    const char *method = gz_http_method (req);
    bool get = strcmp (method, "GET") == 0 || strcmp (method, "HEAD") == 0;
    bool post = strcmp (method, "POST") == 0;
    if (strcmp (name, "discovery") == 0 && get)
        s_reply (req, 200, fmt, "discovery", s_discovery (ctx));
    else if (strcmp (name, "services") == 0 && get)
        s_reply (req, 200, fmt, "services", s_services ());
    else if (strncmp (name, "services/", 9) == 0 && get) {
        const gz_category_t *cat = gz_category_find (name + 9);
        if (cat)
            s_reply (req, 200, fmt, "service_definition", s_definition (cat));
        else
            s_error (req, 404, fmt, "service_code not found");
    }
    else if (strcmp (name, "servicerequestupdates") == 0 && get)
        s_get_updates (ctx, req, fmt);
    else if (strcmp (name, "requests") == 0 && post)
        deferred = s_post_request (ctx, req, fmt);
    else if (strcmp (name, "requests") == 0 && get)
        s_get_requests (ctx, req, fmt, NULL);
    else if (strncmp (name, "requests/", 9) == 0 && get) {
        const char *id = name + 9;
        bool digits = *id && strlen (id) < 19;
        for (const char *p = id; *p && digits; p++)
            digits = isdigit ((unsigned char) *p);
        if (digits)
            s_get_requests (ctx, req, fmt, id);
        else
            s_error (req, 404, fmt, "service_request_id not found");
    }
    else if (strcmp (name, "discovery") == 0 || strcmp (name, "services") == 0 ||
             strncmp (name, "services/", 9) == 0 || strncmp (name, "requests", 8) == 0) {
        gz_http_set_header (req, "Allow", strcmp (name, "requests") == 0 ? "GET, POST" : "GET");
        s_error (req, 405, fmt, "method not allowed");
    }
    else
        s_error (req, 404, fmt, "unknown resource");
    free (name);
    return deferred;
}
