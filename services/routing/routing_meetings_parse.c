/*  routing_meetings_parse: the body of POST /api/v1/meetings, checked
    for everything that needs no database (shape, lengths, dates, codes,
    categories and their attributes, phones), with the first failure kept
    as the answer. Pure: no SQL, no I/O. See routing_meetings.c.  */
#include "gz_category.h"
#include "gz_text.h"
#include "routing_meetings.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_PLACE 200
#define S_MAX_PARTICIPANTS 1000000

//  Record the first failure only. Always -1.
int
routing_meeting_fail (routing_meeting_answer_t *a, int status, const char *code, const char *fmt,
                      ...)
{
    if (a->status)
        return -1;
    a->status = status;
    a->code = code;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (a->message, sizeof a->message, fmt, ap);
    va_end (ap);
    return -1;
}

//  Text that is UTF-8 with 1..max characters once ASCII blanks are trimmed.
static bool
s_text (const char *s, size_t max)
{
    if (!s || !gz_utf8_valid (s, strlen (s)))
        return false;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen (s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    size_t chars = gz_utf8_chars (s, n);
    return chars >= 1 && chars <= max;
}

//  A calendar date "YYYY-MM-DD" (years 2000-2100).
bool
routing_meeting_date_ok (const char *s)
{
    if (!s || strlen (s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int y = atoi (s), m = atoi (s + 5), d = atoi (s + 8);
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 2000 || y > 2100 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
}

//  Codes, ids and keys: 1..max printable ASCII characters, no quote or
//  backslash (so they sit in a text[] literal unescaped).
bool
routing_meeting_code_ok (const char *s, size_t max)
{
    size_t n = s ? strlen (s) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || s[i] == '"' || s[i] == '\\')
            return false;
    return true;
}

//  The hosts as a text[] literal. Caller frees.
char *
routing_meeting_hosts (const char **hosts, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += strlen (hosts[i]) + 3;
    char *arr = malloc (cap), *o = arr;
    assert (arr);
    *o++ = '{';
    for (size_t i = 0; i < n; i++)
        o += sprintf (o, "%s\"%s\"", i ? "," : "", hosts[i]);
    *o++ = '}';
    *o = 0;
    return arr;
}

void
routing_meeting_clear (routing_meeting_t *m)
{
    for (size_t i = 0; m->demands && i < m->ndemands; i++)
        free (m->demands[i].resolved_building);
    free (m->demands);
    free (m->hosts);
    free (m->key);
    memset (m, 0, sizeof *m);
}

//  A string member, NULL when absent/null; -1 via a when not a string.
static int
s_string (json_t *o, const char *name, const char **out, routing_meeting_answer_t *a,
          const char *where)
{
    *out = NULL;
    json_t *v = json_object_get (o, name);
    if (!v || json_is_null (v))
        return 0;
    if (!json_is_string (v))
        return routing_meeting_fail (a, 400, "bad_request", "%s%s must be a string", where, name);
    *out = json_string_value (v);
    if (**out == 0)
        *out = NULL;
    return 0;
}

//  Check an attribute set against the category, like intake does, so a
//  demand intake would refuse is refused here before anything is filed.
static int
s_check_attributes (const gz_category_t *cat, json_t *attrs, size_t i, routing_meeting_answer_t *a)
{
    const char *code;
    json_t *v;
    json_object_foreach (attrs, code, v)
    {
        if (!json_is_string (v))
            return routing_meeting_fail (a, 400, "bad_request",
                                         "demands[%zu].attributes.%.64s must be a string", i, code);
        const gz_attr_t *at = cat->attrs;
        while (at && at->code && strcmp (at->code, code) != 0)
            at++;
        if (!at || !at->code)
            return routing_meeting_fail (
                a, 422, "unprocessable",
                "demands[%zu].attributes.%.64s is not an attribute of service %s", i, code,
                cat->code);
        const char *s = json_string_value (v);
        if (strcmp (at->datatype, "singlevaluelist") == 0) {
            const gz_attr_value_t *val = at->values;
            while (val && val->key && strcmp (val->key, s) != 0)
                val++;
            if (!val || !val->key)
                return routing_meeting_fail (a, 422, "unprocessable",
                                             "demands[%zu].attributes.%s has no value '%.32s'", i,
                                             at->code, s);
        }
        else if (strcmp (at->datatype, "number") == 0) {
            char *end = NULL;
            errno = 0;
            strtod (s, &end);
            if (!*s || errno || !end || *end)
                return routing_meeting_fail (a, 422, "unprocessable",
                                             "demands[%zu].attributes.%s must be a number", i,
                                             at->code);
        }
        else if (!gz_utf8_valid (s, strlen (s)) || gz_utf8_chars (s, strlen (s)) > 200)
            return routing_meeting_fail (a, 400, "bad_request",
                                         "demands[%zu].attributes.%s is not UTF-8 or too long", i,
                                         at->code);
    }
    for (const gz_attr_t *at = cat->attrs; at && at->code; at++) {
        json_t *v = attrs ? json_object_get (attrs, at->code) : NULL;
        if (at->required && (!json_is_string (v) || !*json_string_value (v)))
            return routing_meeting_fail (a, 422, "unprocessable",
                                         "demands[%zu].attributes.%s is required for service %s", i,
                                         at->code, cat->code);
    }
    return 0;
}

//  The body's shape and every check that needs no database. 0 or -1 (a).
int
routing_meeting_parse (json_t *o, gz_http_req_t *req, routing_meeting_t *m,
                       routing_meeting_answer_t *a)
{
    if (s_string (o, "community", &m->community, a, "") || s_string (o, "date", &m->date, a, "") ||
        s_string (o, "place", &m->place, a, ""))
        return -1;
    if (!m->community || !routing_meeting_code_ok (m->community, 64))
        return routing_meeting_fail (a, 400, "bad_request",
                                     "community (a community code) is required");
    if (!routing_meeting_date_ok (m->date))
        return routing_meeting_fail (a, 400, "bad_request",
                                     "date must be a calendar date YYYY-MM-DD");
    if (!s_text (m->place, S_MAX_PLACE))
        return routing_meeting_fail (
            a, 400, "bad_request", "place is required (UTF-8, at most %d characters)", S_MAX_PLACE);
    json_t *p = json_object_get (o, "participants");
    if (!json_is_integer (p) || json_integer_value (p) < 0 ||
        json_integer_value (p) > S_MAX_PARTICIPANTS)
        return routing_meeting_fail (a, 400, "bad_request",
                                     "participants must be an integer from 0 to %d",
                                     S_MAX_PARTICIPANTS);
    m->participants = (int) json_integer_value (p);

    json_t *hosts = json_object_get (o, "hosts");
    if (!json_is_array (hosts) || json_array_size (hosts) == 0 ||
        json_array_size (hosts) > ROUTING_MEETING_MAX_HOSTS)
        return routing_meeting_fail (
            a, 400, "bad_request", "hosts must be a list of 1 to %d staff ids (the hosting cadres)",
            ROUTING_MEETING_MAX_HOSTS);
    m->nhosts = json_array_size (hosts);
    m->hosts = calloc (m->nhosts, sizeof *m->hosts);
    assert (m->hosts);
    for (size_t i = 0; i < m->nhosts; i++) {
        json_t *h = json_array_get (hosts, i);
        if (!json_is_string (h) || !routing_meeting_code_ok (json_string_value (h), 64))
            return routing_meeting_fail (a, 400, "bad_request", "hosts[%zu] must be a staff id", i);
        m->hosts[i] = json_string_value (h);
        for (size_t j = 0; j < i; j++)
            if (strcmp (m->hosts[j], m->hosts[i]) == 0)
                return routing_meeting_fail (a, 400, "bad_request", "hosts[%zu] repeats %s", i,
                                             m->hosts[i]);
    }

    //  The key: body "key" or the Idempotency-Key header (they must agree).
    const char *key = NULL;
    if (s_string (o, "key", &key, a, ""))
        return -1;
    const char *hkey = gz_http_header (req, "Idempotency-Key");
    if (hkey && !*hkey)
        hkey = NULL;
    if (key && hkey && strcmp (key, hkey) != 0)
        return routing_meeting_fail (a, 400, "bad_request",
                                     "key and the Idempotency-Key header differ");
    if (!key)
        key = hkey;
    if (key && !routing_meeting_code_ok (key, ROUTING_MEETING_MAX_KEY))
        return routing_meeting_fail (a, 400, "bad_request",
                                     "key must be 1 to %d printable ASCII characters",
                                     ROUTING_MEETING_MAX_KEY);
    m->key = key ? strdup (key) : NULL;

    json_t *demands = json_object_get (o, "demands");
    if (demands && !json_is_null (demands) && !json_is_array (demands))
        return routing_meeting_fail (a, 400, "bad_request", "demands must be a list");
    if (json_array_size (demands) > ROUTING_MEETING_MAX_DEMANDS)
        return routing_meeting_fail (a, 400, "bad_request", "at most %d demands per meeting",
                                     ROUTING_MEETING_MAX_DEMANDS);
    m->ndemands = json_array_size (demands);
    m->demands = calloc (m->ndemands + 1, sizeof *m->demands);
    assert (m->demands);
    for (size_t i = 0; i < m->ndemands; i++) {
        json_t *d = json_array_get (demands, i);
        routing_demand_t *dm = &m->demands[i];
        char where[32];
        snprintf (where, sizeof where, "demands[%zu].", i);
        if (!json_is_object (d))
            return routing_meeting_fail (a, 400, "bad_request", "demands[%zu] must be an object",
                                         i);
        if (s_string (d, "service_code", &dm->service_code, a, where) ||
            s_string (d, "description", &dm->description, a, where) ||
            s_string (d, "building", &dm->building, a, where) ||
            s_string (d, "address", &dm->address, a, where) ||
            s_string (d, "phone", &dm->phone, a, where))
            return -1;
        if (!dm->service_code)
            return routing_meeting_fail (a, 400, "bad_request",
                                         "demands[%zu].service_code is required", i);
        const gz_category_t *cat = gz_category_find (dm->service_code);
        if (!cat)
            return routing_meeting_fail (a, 422, "unprocessable",
                                         "demands[%zu].service_code is not a known service", i);
        if (!s_text (dm->description, 4000))
            return routing_meeting_fail (
                a, 400, "bad_request",
                "demands[%zu].description is required (UTF-8, at most 4000 "
                "characters)",
                i);
        if (dm->building && !routing_meeting_code_ok (dm->building, 64))
            return routing_meeting_fail (a, 400, "bad_request",
                                         "demands[%zu].building is not a building code", i);
        if (dm->address && !s_text (dm->address, 500))
            return routing_meeting_fail (
                a, 400, "bad_request",
                "demands[%zu].address is not UTF-8 or longer than 500 characters", i);
        if (dm->phone && !gz_phone_valid (dm->phone))
            return routing_meeting_fail (a, 400, "bad_request",
                                         "demands[%zu].phone is not a valid phone number", i);
        json_t *attrs = json_object_get (d, "attributes");
        if (attrs && !json_is_null (attrs) && !json_is_object (attrs))
            return routing_meeting_fail (a, 400, "bad_request",
                                         "demands[%zu].attributes must be an object", i);
        dm->attributes = json_is_object (attrs) ? attrs : NULL;
        if (s_check_attributes (cat, dm->attributes, i, a))
            return -1;
    }
    return 0;
}

//  Checks against the org directory. 0, or -1 with a (422, 403, 503).
