/*  matching_points: earning rules and account names (see the header).  */
#include "matching_points.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_POINTS 1000000

static const char *const s_kinds[] = {"volunteer", "rider", "resident", "staff", "system"};

static bool
s_id_valid (const char *id, size_t len)
{
    if (len < 1 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static bool
s_kind_valid (const char *kind, size_t len)
{
    for (size_t i = 0; i < sizeof s_kinds / sizeof s_kinds[0]; i++)
        if (strlen (s_kinds[i]) == len && memcmp (s_kinds[i], kind, len) == 0)
            return true;
    return false;
}

bool
matching_points_account_valid (const char *account)
{
    if (!account)
        return false;
    const char *colon = strchr (account, ':');
    if (!colon)
        return false;
    return s_kind_valid (account, (size_t) (colon - account)) &&
           s_id_valid (colon + 1, strlen (colon + 1));
}

bool
matching_points_person_valid (const char *account)
{
    return matching_points_account_valid (account) && strncmp (account, "system:", 7) != 0;
}

int
matching_points_account (char *out, size_t size, const char *kind, const char *id)
{
    assert (out && size > 0);
    out[0] = '\0';
    if (!kind || !id || !s_kind_valid (kind, strlen (kind)) || !s_id_valid (id, strlen (id)))
        return -1;
    int n = snprintf (out, size, "%s:%s", kind, id);
    if (n < 0 || (size_t) n >= size) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

static void
s_error (char *err, size_t err_size, const char *fmt, const char *item, size_t len)
{
    if (err && err_size)
        snprintf (err, err_size, fmt, (int) len, item);
}

//  One "name=value" of len bytes (spaces around name and value allowed).
static int
s_parse_item (const char *item, size_t len, matching_points_rules_t *out, char *err,
              size_t err_size)
{
    const char *eq = memchr (item, '=', len);
    if (!eq) {
        s_error (err, err_size, "points rule \"%.*s\": expected name=value", item, len);
        return -1;
    }
    const char *name = item, *name_end = eq;
    while (name < name_end && *name == ' ')
        name++;
    while (name_end > name && name_end[-1] == ' ')
        name_end--;
    char value[32];
    const char *v = eq + 1, *v_end = item + len;
    while (v < v_end && *v == ' ')
        v++;
    while (v_end > v && v_end[-1] == ' ')
        v_end--;
    size_t vlen = (size_t) (v_end - v);
    bool digits = vlen > 0 && vlen < sizeof value;
    for (size_t i = 0; digits && i < vlen; i++)
        digits = v[i] >= '0' && v[i] <= '9';
    if (!digits) {
        s_error (err, err_size, "points rule \"%.*s\": value must be an integer >= 0", item, len);
        return -1;
    }
    memcpy (value, v, vlen);
    value[vlen] = '\0';
    errno = 0;
    long long n = strtoll (value, NULL, 10);
    if (errno || n > S_MAX_POINTS) {
        s_error (err, err_size, "points rule \"%.*s\": value above 1000000", item, len);
        return -1;
    }
    size_t nlen = (size_t) (name_end - name);
    struct {
        const char *name;
        int64_t *field;
    } fields[] = {{"report", &out->report},
                  {"rider_report", &out->rider_report},
                  {"hour", &out->hour},
                  {"meeting", &out->meeting}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strlen (fields[i].name) == nlen && memcmp (fields[i].name, name, nlen) == 0) {
            *fields[i].field = n;
            return 0;
        }
    s_error (err, err_size,
             "points rule \"%.*s\": unknown name (report, rider_report, hour, meeting)", item, len);
    return -1;
}

int
matching_points_parse (const char *text, matching_points_rules_t *out, char *err, size_t err_size)
{
    assert (out);
    *out = (matching_points_rules_t){.report = 5, .rider_report = 10, .hour = 10, .meeting = 2};
    if (err && err_size)
        err[0] = '\0';
    if (!text || !*text)
        return 0;
    matching_points_rules_t rules = *out;
    const char *p = text;
    while (true) {
        const char *comma = strchr (p, ',');
        size_t len = comma ? (size_t) (comma - p) : strlen (p);
        if (s_parse_item (p, len, &rules, err, err_size))
            return -1;
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = rules;
    return 0;
}

int64_t
matching_points_for_minutes (const matching_points_rules_t *rules, int minutes)
{
    assert (rules);
    if (minutes <= 0 || rules->hour <= 0)
        return 0;
    return rules->hour * (int64_t) minutes / 60;
}
