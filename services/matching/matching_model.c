/*  matching_model: skills, weekly windows, times, volunteers and needs
    (matching_model.h). The CSV import is in matching_csv.c and shares the
    field validators here (mt_volunteer_set).  */
#include "matching_model.h"
#include "gz_text.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *name, *label;
} s_skill_t;

static const s_skill_t s_skills[] = {
    {"shopping", "买菜购物"},      {"housework", "家务"},        {"hospital_escort", "陪同就医"},
    {"companionship", "陪伴聊天"}, {"tutoring", "课业辅导"},     {"legal_aid", "法律援助"},
    {"psych_support", "心理疏导"}, {"repairs", "维修"},          {"meal_delivery", "送餐"},
    {"child_care", "儿童看护"},    {"elderly_care", "助老服务"}, {"haircut", "理发"},
};
#define S_SKILLS (sizeof s_skills / sizeof s_skills[0])
_Static_assert(S_SKILLS <= 32, "skills are bits of a uint32_t");

static const char *s_days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

//  Formats into err (when given) and returns -1.
static int
s_err (char *err, size_t err_size, const char *fmt, ...)
{
    if (err && err_size) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (err, err_size, fmt, ap);
        va_end (ap);
    }
    return -1;
}

size_t
mt_skill_count (void)
{
    return S_SKILLS;
}

int
mt_skill_from_name (const char *name)
{
    for (size_t i = 0; name && i < S_SKILLS; i++)
        if (strcmp (name, s_skills[i].name) == 0)
            return (int) i;
    return -1;
}

const char *
mt_skill_name (int skill)
{
    return skill >= 0 && (size_t) skill < S_SKILLS ? s_skills[skill].name : NULL;
}

const char *
mt_skill_label (int skill)
{
    return skill >= 0 && (size_t) skill < S_SKILLS ? s_skills[skill].label : NULL;
}

//  ---------------------------------------------------------------------
//  Windows

static const char *
s_skip_space (const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

//  Adds w to the sorted, merged set out[0..*n); -1 when it needs a slot
//  beyond max.
static int
s_window_add (mt_window_t *out, size_t max, size_t *n, mt_window_t w)
{
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        if (out[i].start <= w.end && w.start <= out[i].end) { //  overlapping or adjacent
            w.start = out[i].start < w.start ? out[i].start : w.start;
            w.end = out[i].end > w.end ? out[i].end : w.end;
        }
        else
            out[k++] = out[i];
    }
    if (k >= max)
        return -1;
    size_t at = k;
    while (at > 0 && out[at - 1].start > w.start) {
        out[at] = out[at - 1];
        at--;
    }
    out[at] = w;
    *n = k + 1;
    return 0;
}

//  A day name at p (3 letters, any case): its index, or -1.
static int
s_day (const char *p, size_t len)
{
    for (int d = 0; len == 3 && d < 7; d++)
        if (strncasecmp (p, s_days[d], 3) == 0)
            return d;
    return -1;
}

//  "HH:MM" in p[0..len): minutes 0..1440, or -1.
static int
s_clock (const char *p, size_t len)
{
    if (len != 5 || p[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && !isdigit ((unsigned char) p[i]))
            return -1;
    int h = (p[0] - '0') * 10 + (p[1] - '0'), m = (p[3] - '0') * 10 + (p[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return -1;
    return h * 60 + m;
}

//  Parses the day spec p[0..len) into a 7-bit mask; -1 with err on a bad day.
static int
s_day_spec (const char *p, size_t len, unsigned *mask, char *err, size_t err_size)
{
    const char *end = p + len;
    while (p < end) {
        const char *comma = memchr (p, ',', (size_t) (end - p));
        const char *part_end = comma ? comma : end;
        const char *dash = memchr (p, '-', (size_t) (part_end - p));
        const char *a_end = dash ? dash : part_end;
        const char *a0 = s_skip_space (p, a_end);
        while (a_end > a0 && (a_end[-1] == ' ' || a_end[-1] == '\t'))
            a_end--;
        int a = s_day (a0, (size_t) (a_end - a0)), b = a;
        if (a >= 0 && dash) {
            const char *b0 = s_skip_space (dash + 1, part_end), *b_end = part_end;
            while (b_end > b0 && (b_end[-1] == ' ' || b_end[-1] == '\t'))
                b_end--;
            b = s_day (b0, (size_t) (b_end - b0));
        }
        if (a < 0 || b < 0)
            return s_err (err, err_size,
                          "availability: bad day '%.*s' (days: mon tue wed thu fri sat sun)",
                          (int) (part_end - p), p);
        for (int d = a;; d = (d + 1) % 7) {
            *mask |= 1u << d;
            if (d == b)
                break;
        }
        p = comma ? comma + 1 : end;
        if (comma && p == end)
            return s_err (err, err_size, "availability: a day list ends with ','");
    }
    return 0;
}

//  One item "DAYS HH:MM-HH:MM" in p[0..len), added to out.
static int
s_window_item (const char *p, size_t len, mt_window_t *out, size_t max, size_t *n, char *err,
               size_t err_size)
{
    const char *end = p + len;
    //  The time range is the last word; the day spec is what comes before.
    const char *t = end;
    while (t > p && t[-1] != ' ' && t[-1] != '\t')
        t--;
    if (t == p)
        return s_err (err, err_size,
                      "availability: '%.*s' is not 'DAYS HH:MM-HH:MM' (e.g. 'mon-fri 09:00-12:00')",
                      (int) len, p);
    const char *dash = memchr (t, '-', (size_t) (end - t));
    if (!dash)
        return s_err (err, err_size, "availability: bad time range '%.*s' (expected HH:MM-HH:MM)",
                      (int) (end - t), t);
    int from = s_clock (t, (size_t) (dash - t)), to = s_clock (dash + 1, (size_t) (end - dash - 1));
    if (from < 0 || from == 1440)
        return s_err (err, err_size, "availability: bad time '%.*s'", (int) (dash - t), t);
    if (to < 0)
        return s_err (err, err_size, "availability: bad time '%.*s'", (int) (end - dash - 1),
                      dash + 1);
    if (to <= from)
        return s_err (err, err_size,
                      "availability: the end is not after the start in '%.*s' (split a night "
                      "into two items)",
                      (int) (end - t), t);
    const char *days_end = t;
    while (days_end > p && (days_end[-1] == ' ' || days_end[-1] == '\t'))
        days_end--;
    unsigned mask = 0;
    if (s_day_spec (p, (size_t) (days_end - p), &mask, err, err_size))
        return -1;
    for (int d = 0; d < 7; d++) {
        if (!(mask & (1u << d)))
            continue;
        mt_window_t w = {d * 1440 + from, d * 1440 + to};
        if (s_window_add (out, max, n, w))
            return s_err (err, err_size, "availability: more than %zu windows", max);
    }
    return 0;
}

int
mt_windows_parse (const char *text, mt_window_t *out, size_t max, size_t *n, char *err,
                  size_t err_size)
{
    assert (out && n);
    *n = 0;
    if (!text)
        return s_err (err, err_size, "availability: missing");
    const char *p = text, *end = text + strlen (text);
    while (p < end) {
        const char *semi = memchr (p, ';', (size_t) (end - p));
        const char *item_end = semi ? semi : end;
        const char *a = s_skip_space (p, item_end), *b = item_end;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\n' || b[-1] == '\r'))
            b--;
        while (a < b && (*a == '\n' || *a == '\r' || *a == ' ' || *a == '\t'))
            a++;
        if (a < b && s_window_item (a, (size_t) (b - a), out, max, n, err, err_size))
            return -1;
        p = semi ? semi + 1 : end;
    }
    if (*n == 0)
        return s_err (err, err_size, "availability: no window given (e.g. 'mon-fri 09:00-12:00')");
    return 0;
}

char *
mt_windows_format (const mt_window_t *w, size_t n)
{
    //  At most 7 day pieces a window, each "ddd HH:MM-HH:MM; " (17 bytes).
    size_t cap = n * 7 * 17 + 1;
    char *s = malloc (cap);
    assert (s);
    size_t len = 0;
    s[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int32_t a = w[i].start;
        while (a < w[i].end) {
            int32_t day = a / 1440, day_end = (day + 1) * 1440;
            int32_t b = w[i].end < day_end ? w[i].end : day_end;
            int32_t sa = a - day * 1440, sb = b - day * 1440;
            len +=
                (size_t) snprintf (s + len, cap - len, "%s%s %02d:%02d-%02d:%02d", len ? "; " : "",
                                   s_days[day % 7], sa / 60, sa % 60, sb / 60, sb % 60);
            a = b;
        }
    }
    return s;
}

bool
mt_windows_overlap (const mt_window_t *a, size_t na, const mt_window_t *b, size_t nb)
{
    size_t i = 0, j = 0;
    while (i < na && j < nb) {
        if (a[i].start < b[j].end && b[j].start < a[i].end)
            return true;
        if (a[i].end <= b[j].end)
            i++;
        else
            j++;
    }
    return false;
}

static int64_t
s_floor_div (int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

size_t
mt_windows_from_period (int64_t from_us, int64_t to_us, mt_window_t out[2])
{
    if (to_us <= from_us)
        return 0;
    const int64_t minute = 60 * 1000000LL;
    int64_t m0 = s_floor_div (from_us, minute);
    int64_t m1 = -s_floor_div (-to_us, minute); //  ceiling
    if (m1 - m0 >= MT_MINUTES_PER_WEEK) {
        out[0] = (mt_window_t){0, MT_MINUTES_PER_WEEK};
        return 1;
    }
    //  1970-01-01 00:00 China time was a Thursday: 3 days into the week.
    int64_t local = m0 + 8 * 60 + 3 * 1440;
    int32_t start =
        (int32_t) (local - s_floor_div (local, MT_MINUTES_PER_WEEK) * MT_MINUTES_PER_WEEK);
    int32_t end = start + (int32_t) (m1 - m0);
    if (end <= MT_MINUTES_PER_WEEK) {
        out[0] = (mt_window_t){start, end};
        return 1;
    }
    out[0] = (mt_window_t){0, end - MT_MINUTES_PER_WEEK};
    out[1] = (mt_window_t){start, MT_MINUTES_PER_WEEK};
    return 2;
}

//  Reads exactly `digits` digits at *p into *v; advances *p.
static bool
s_digits (const char **p, int digits, int *v)
{
    *v = 0;
    for (int i = 0; i < digits; i++, (*p)++) {
        if (!isdigit ((unsigned char) **p))
            return false;
        *v = *v * 10 + (**p - '0');
    }
    return true;
}

//  Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
//  days_from_civil).
static int64_t
s_days_from_civil (int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = s_floor_div (y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int
mt_time_parse (const char *text, int64_t *us)
{
    assert (us);
    if (!text)
        return -1;
    const char *p = text;
    int y, mo, d, h, mi, s = 0;
    if (!s_digits (&p, 4, &y) || *p++ != '-' || !s_digits (&p, 2, &mo) || *p++ != '-' ||
        !s_digits (&p, 2, &d) || *p++ != 'T' || !s_digits (&p, 2, &h) || *p++ != ':' ||
        !s_digits (&p, 2, &mi))
        return -1;
    if (*p == ':' && (p++, !s_digits (&p, 2, &s)))
        return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || s > 59)
        return -1;
    int offset = 0; //  minutes east of UTC
    if (*p == 'Z')
        p++;
    else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (!s_digits (&p, 2, &oh) || *p++ != ':' || !s_digits (&p, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset = sign * (oh * 60 + om);
    }
    else
        return -1;
    if (*p)
        return -1;
    int64_t secs = s_days_from_civil (y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset * 60;
    *us = secs * 1000000;
    return 0;
}

//  ---------------------------------------------------------------------
//  Fields shared by JSON and CSV

//  An id: 1..64 bytes of [A-Za-z0-9._-].
static int
s_set_id (char *dst, const char *field, const char *text, char *err, size_t err_size)
{
    size_t len = strlen (text);
    if (len == 0)
        return s_err (err, err_size, "%s: required", field);
    if (len > MT_ID_MAX)
        return s_err (err, err_size, "%s: longer than %d bytes", field, MT_ID_MAX);
    for (size_t i = 0; i < len; i++)
        if (!isalnum ((unsigned char) text[i]) && !strchr ("._-", text[i]))
            return s_err (err, err_size, "%s: only letters, digits, '.', '_' and '-' allowed",
                          field);
    memcpy (dst, text, len + 1);
    return 0;
}

//  A text of min..max characters into dst (dst_size bytes); not blank when min > 0.
static int
s_set_text (char *dst, size_t dst_size, const char *field, const char *text, size_t min, size_t max,
            char *err, size_t err_size)
{
    size_t len = strlen (text);
    if (!gz_utf8_valid (text, len))
        return s_err (err, err_size, "%s: not valid UTF-8 text (or holds a control character)",
                      field);
    size_t chars = gz_utf8_chars (text, len);
    bool blank = strspn (text, " \t\r\n") == len;
    if (min > 0 && (chars == 0 || blank))
        return s_err (err, err_size, "%s: required", field);
    if (chars > max || len >= dst_size)
        return s_err (err, err_size, "%s: longer than %zu characters", field, max);
    memcpy (dst, text, len + 1);
    return 0;
}

static int
s_set_phone (char *dst, const char *field, const char *text, char *err, size_t err_size)
{
    if (!*text) {
        dst[0] = '\0';
        return 0;
    }
    if (strlen (text) > 32 || !gz_phone_valid (text))
        return s_err (err, err_size, "%s: not a phone number (digits, '+', '-', spaces)", field);
    strcpy (dst, text);
    return 0;
}

//  Adds the skills in text ("shopping;housework" or "shopping|housework").
static int
s_add_skills (uint32_t *mask, const char *text, char *err, size_t err_size)
{
    const char *p = text;
    while (*p) {
        size_t n = strcspn (p, ";|");
        const char *a = p, *b = p + n;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a) {
            char name[64];
            int skill = -1;
            if ((size_t) (b - a) < sizeof name) {
                memcpy (name, a, (size_t) (b - a));
                name[b - a] = '\0';
                skill = mt_skill_from_name (name);
            }
            if (skill < 0)
                return s_err (err, err_size, "skills: unknown skill '%.*s'",
                              (int) (b - a > 64 ? 64 : b - a), a);
            *mask |= 1u << skill;
        }
        p += n;
        if (*p)
            p++;
    }
    return 0;
}

static int
s_set_coord (double *dst, const char *field, double v, double limit, char *err, size_t err_size)
{
    if (!isfinite (v) || v < -limit || v > limit)
        return s_err (err, err_size, "%s: must be a number from %g to %g", field, -limit, limit);
    *dst = v;
    return 0;
}

static int
s_set_max (int32_t *dst, long long v, char *err, size_t err_size)
{
    if (v < 1 || v > 50)
        return s_err (err, err_size, "max_per_week: must be an integer from 1 to 50");
    *dst = (int32_t) v;
    return 0;
}

static int
s_set_state (bool *active, const char *text, char *err, size_t err_size)
{
    if (strcmp (text, "active") == 0 || !*text)
        *active = true;
    else if (strcmp (text, "paused") == 0)
        *active = false;
    else
        return s_err (err, err_size, "state: must be 'active' or 'paused'");
    return 0;
}

static int
s_set_availability (mt_volunteer_t *v, const char *text, char *err, size_t err_size)
{
    return mt_windows_parse (text, v->windows, MT_WINDOWS_MAX, &v->n_windows, err, err_size);
}

void
mt_volunteer_init (mt_volunteer_t *v)
{
    assert (v);
    memset (v, 0, sizeof *v);
    v->max_per_week = 3;
    v->active = true;
}

//  A decimal number (the whole text), for the text forms of lat, lon.
static int
s_number (const char *field, const char *text, double *v, char *err, size_t err_size)
{
    char *end;
    errno = 0;
    *v = strtod (text, &end);
    if (errno || end == text || *end)
        return s_err (err, err_size, "%s: not a number", field);
    return 0;
}

int
mt_volunteer_set (mt_volunteer_t *v, const char *field, const char *text, char *err,
                  size_t err_size)
{
    assert (v && field && text);
    if (!gz_utf8_valid (text, strlen (text)))
        return s_err (err, err_size, "%s: not valid UTF-8 text (or holds a control character)",
                      field);
    if (strcmp (field, "id") == 0)
        return s_set_id (v->id, "id", text, err, err_size);
    if (strcmp (field, "grid") == 0)
        return s_set_id (v->grid, "grid", text, err, err_size);
    if (strcmp (field, "name") == 0)
        return s_set_text (v->name, sizeof v->name, "name", text, 1, 100, err, err_size);
    if (strcmp (field, "phone") == 0)
        return s_set_phone (v->phone, "phone", text, err, err_size);
    if (strcmp (field, "state") == 0)
        return s_set_state (&v->active, text, err, err_size);
    if (strcmp (field, "availability") == 0)
        return s_set_availability (v, text, err, err_size);
    if (strcmp (field, "skills") == 0) {
        v->skills = 0;
        if (s_add_skills (&v->skills, text, err, err_size))
            return -1;
        return v->skills ? 0 : s_err (err, err_size, "skills: at least one skill required");
    }
    if (strcmp (field, "social_worker") == 0) {
        if (!*text || !strcmp (text, "false") || !strcmp (text, "0") || !strcmp (text, "否"))
            v->social_worker = false;
        else if (!strcmp (text, "true") || !strcmp (text, "1") || !strcmp (text, "是"))
            v->social_worker = true;
        else
            return s_err (err, err_size, "social_worker: must be true/false/1/0/是/否");
        return 0;
    }
    if (strcmp (field, "lat") == 0 || strcmp (field, "lon") == 0) {
        bool lat = field[1] == 'a';
        double d;
        if (!*text)
            return 0;
        if (s_number (field, text, &d, err, err_size))
            return -1;
        return s_set_coord (lat ? &v->lat : &v->lon, field, d, lat ? 90 : 180, err, err_size);
    }
    if (strcmp (field, "max_per_week") == 0) {
        if (!*text) {
            v->max_per_week = 3;
            return 0;
        }
        char *end;
        errno = 0;
        long long n = strtoll (text, &end, 10);
        if (errno || end == text || *end)
            return s_err (err, err_size, "max_per_week: must be an integer from 1 to 50");
        return s_set_max (&v->max_per_week, n, err, err_size);
    }
    return s_err (err, err_size, "%s: unknown field", field);
}

//  The volunteer's fields: CSV columns and JSON keys, in this order.
typedef enum { T_STRING, T_SKILLS, T_BOOL, T_NUMBER, T_INTEGER, T_AVAILABILITY } s_type_t;
static const struct {
    const char *name;
    s_type_t type;
    bool required;
} s_fields[] = {
    {"id", T_STRING, true},
    {"name", T_STRING, true},
    {"skills", T_SKILLS, true},
    {"social_worker", T_BOOL, false},
    {"grid", T_STRING, true},
    {"lat", T_NUMBER, false},
    {"lon", T_NUMBER, false},
    {"availability", T_AVAILABILITY, true},
    {"max_per_week", T_INTEGER, false},
    {"state", T_STRING, false},
    {"phone", T_STRING, false},
};
#define S_FIELDS (sizeof s_fields / sizeof s_fields[0])
enum { S_F_LAT = 5, S_F_LON = 6 };

size_t
mt_volunteer_field_count (void)
{
    return S_FIELDS;
}

int
mt_volunteer_field (const char *name)
{
    for (size_t i = 0; name && i < S_FIELDS; i++)
        if (strcmp (name, s_fields[i].name) == 0)
            return (int) i;
    return -1;
}

const char *
mt_volunteer_field_name (size_t field)
{
    return field < S_FIELDS ? s_fields[field].name : NULL;
}

bool
mt_volunteer_field_required (size_t field)
{
    return field < S_FIELDS && s_fields[field].required;
}

int
mt_volunteer_complete (mt_volunteer_t *v, uint32_t given, char *err, size_t err_size)
{
    for (size_t i = 0; i < S_FIELDS; i++)
        if (s_fields[i].required && !(given & (1u << i)))
            return s_err (err, err_size, "%s: required", s_fields[i].name);
    bool lat = given & (1u << S_F_LAT), lon = given & (1u << S_F_LON);
    if (lat != lon)
        return s_err (err, err_size, "%s: lat and lon go together", lat ? "lon" : "lat");
    v->has_location = lat && lon;
    if (!v->has_location)
        v->lat = v->lon = 0;
    return 0;
}

//  ---------------------------------------------------------------------
//  JSON

//  The string value of a JSON string (NUL-free), or NULL.
static const char *
s_json_text (const json_t *value)
{
    if (!json_is_string (value))
        return NULL;
    const char *s = json_string_value (value);
    return strlen (s) == json_string_length (value) ? s : NULL;
}

//  Joins the strings of a JSON array with sep; NULL when an item is not a
//  string. The caller frees.
static char *
s_json_join (const json_t *array, const char *sep)
{
    size_t cap = 1, i;
    json_t *item;
    json_array_foreach (array, i, item)
    {
        if (!s_json_text (item))
            return NULL;
        cap += json_string_length (item) + strlen (sep);
    }
    char *s = malloc (cap);
    assert (s);
    s[0] = '\0';
    json_array_foreach (array, i, item)
    {
        if (i)
            strcat (s, sep);
        strcat (s, json_string_value (item));
    }
    return s;
}

//  The text form of the JSON value of field i (for mt_volunteer_set), into
//  buf or malloc'd (*owned); NULL with err on a wrong type.
static const char *
s_json_field_text (size_t i, const json_t *value, char *buf, size_t buf_size, char **owned,
                   char *err, size_t err_size)
{
    const char *name = s_fields[i].name;
    switch (s_fields[i].type) {
        case T_STRING:
            if (s_json_text (value))
                return json_string_value (value);
            s_err (err, err_size, "%s: must be a string", name);
            return NULL;
        case T_AVAILABILITY:
            if (s_json_text (value))
                return json_string_value (value);
            if (json_is_array (value) && (*owned = s_json_join (value, "; ")))
                return *owned;
            s_err (err, err_size, "%s: must be a string or an array of strings", name);
            return NULL;
        case T_SKILLS:
            if (json_is_array (value) && (*owned = s_json_join (value, ";")))
                return *owned;
            s_err (err, err_size, "%s: must be an array of skill names", name);
            return NULL;
        case T_BOOL:
            if (json_is_boolean (value))
                return json_is_true (value) ? "true" : "false";
            s_err (err, err_size, "%s: must be true or false", name);
            return NULL;
        case T_NUMBER:
            if (json_is_number (value)) {
                snprintf (buf, buf_size, "%.17g", json_number_value (value));
                return buf;
            }
            s_err (err, err_size, "%s: must be a number", name);
            return NULL;
        case T_INTEGER:
            if (json_is_integer (value)) {
                snprintf (buf, buf_size, "%lld", (long long) json_integer_value (value));
                return buf;
            }
            s_err (err, err_size, "%s: must be an integer", name);
            return NULL;
    }
    return NULL;
}

int
mt_volunteer_from_json (const json_t *obj, mt_volunteer_t *out, char *err, size_t err_size)
{
    assert (out);
    mt_volunteer_init (out);
    if (!json_is_object (obj))
        return s_err (err, err_size, "body: must be a JSON object");
    uint32_t given = 0;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) obj, key, value)
    {
        int i = mt_volunteer_field (key);
        if (i < 0)
            return s_err (err, err_size, "%.64s: unknown field", key);
        if (json_is_null (value) && !s_fields[i].required)
            continue;
        char buf[64], *owned = NULL;
        const char *text =
            s_json_field_text ((size_t) i, value, buf, sizeof buf, &owned, err, err_size);
        int rc = text ? mt_volunteer_set (out, key, text, err, err_size) : -1;
        free (owned);
        if (rc)
            return -1;
        given |= 1u << i;
    }
    return mt_volunteer_complete (out, given, err, err_size);
}

json_t *
mt_volunteer_to_json (const mt_volunteer_t *v)
{
    assert (v);
    json_t *skills = json_array (), *labels = json_array ();
    for (size_t i = 0; i < S_SKILLS; i++)
        if (v->skills & (1u << i)) {
            json_array_append_new (skills, json_string (s_skills[i].name));
            json_array_append_new (labels, json_string (s_skills[i].label));
        }
    char *availability = mt_windows_format (v->windows, v->n_windows);
    json_t *o =
        json_pack ("{s:s, s:s, s:o, s:o, s:b, s:s, s:s, s:i, s:s}", "id", v->id, "name", v->name,
                   "skills", skills, "skill_labels", labels, "social_worker", v->social_worker,
                   "grid", v->grid, "availability", availability, "max_per_week",
                   (int) v->max_per_week, "state", v->active ? "active" : "paused");
    assert (o);
    free (availability);
    if (v->has_location) {
        json_object_set_new (o, "lat", json_real (v->lat));
        json_object_set_new (o, "lon", json_real (v->lon));
    }
    if (v->phone[0]) {
        char *masked = gz_phone_mask (v->phone);
        json_object_set_new (o, "phone_masked", json_string (masked));
        free (masked);
    }
    return o;
}

//  The need's "window": {"from": TIME, "to": TIME}.
static int
s_need_window (mt_need_t *need, const json_t *window, char *err, size_t err_size)
{
    if (!json_is_object (window))
        return s_err (err, err_size, "window: must be an object {\"from\": TIME, \"to\": TIME}");
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) window, key, value)
    {
        if (strcmp (key, "from") && strcmp (key, "to"))
            return s_err (err, err_size, "window.%.64s: unknown field", key);
    }
    const char *names[2] = {"from", "to"};
    int64_t *dst[2] = {&need->from_us, &need->to_us};
    for (int i = 0; i < 2; i++) {
        const json_t *t = json_object_get (window, names[i]);
        if (!t)
            return s_err (err, err_size, "window.%s: required", names[i]);
        if (!s_json_text (t) || mt_time_parse (json_string_value (t), dst[i]))
            return s_err (err, err_size,
                          "window.%s: must be a time like \"2026-12-05T09:00:00+08:00\"", names[i]);
    }
    if (need->to_us <= need->from_us)
        return s_err (err, err_size, "window.to: must be after window.from");
    if (need->to_us - need->from_us > MT_NEED_MAX_US)
        return s_err (err, err_size, "window: longer than 31 days");
    mt_window_t w[2];
    size_t n = mt_windows_from_period (need->from_us, need->to_us, w);
    need->n_windows = 0;
    for (size_t i = 0; i < n; i++)
        s_window_add (need->windows, MT_WINDOWS_MAX, &need->n_windows, w[i]);
    return 0;
}

static int
s_need_weekly (mt_need_t *need, const json_t *weekly, char *err, size_t err_size)
{
    if (!s_json_text (weekly))
        return s_err (err, err_size, "weekly: must be a string like \"sat 09:00-11:00\"");
    char why[256];
    if (mt_windows_parse (json_string_value (weekly), need->windows, MT_WINDOWS_MAX,
                          &need->n_windows, why, sizeof why)) {
        const char *prefix = "availability: ";
        const char *reason = strncmp (why, prefix, strlen (prefix)) ? why : why + strlen (prefix);
        return s_err (err, err_size, "weekly: %s", reason);
    }
    need->recurring = true;
    return 0;
}

//  One key of a need; -1 with err.
static int
s_need_key (mt_need_t *need, const char *key, const json_t *value, char *err, size_t err_size)
{
    if (!strcmp (key, "window"))
        return s_need_window (need, value, err, err_size);
    if (!strcmp (key, "weekly"))
        return s_need_weekly (need, value, err, err_size);
    const char *text = s_json_text (value);
    if (!text)
        return s_err (err, err_size, "%s: must be a string", key);
    if (!gz_utf8_valid (text, strlen (text)))
        return s_err (err, err_size, "%s: not valid UTF-8 text (or holds a control character)",
                      key);
    if (!strcmp (key, "building"))
        return s_set_id (need->building, key, text, err, err_size);
    if (!strcmp (key, "contact_name"))
        return s_set_text (need->contact_name, sizeof need->contact_name, key, text, 1, 100, err,
                           err_size);
    if (!strcmp (key, "phone"))
        return s_set_phone (need->phone, key, text, err, err_size);
    if (!strcmp (key, "note"))
        return s_set_text (need->note, sizeof need->note, key, text, 0, 500, err, err_size);
    if (!strcmp (key, "skill")) {
        need->skill = mt_skill_from_name (text);
        return need->skill < 0 ? s_err (err, err_size, "skill: unknown skill '%.64s'", text) : 0;
    }
    assert (!strcmp (key, "urgency"));
    if (strcmp (text, "normal") && strcmp (text, "urgent"))
        return s_err (err, err_size, "urgency: must be 'normal' or 'urgent'");
    need->urgent = !strcmp (text, "urgent");
    return 0;
}

int
mt_need_from_json (const json_t *obj, mt_need_t *out, char *err, size_t err_size)
{
    assert (out);
    memset (out, 0, sizeof *out);
    out->skill = -1;
    if (!json_is_object (obj))
        return s_err (err, err_size, "body: must be a JSON object");
    static const char *keys[] = {"building", "contact_name", "phone",  "skill",
                                 "urgency",  "window",       "weekly", "note"};
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) obj, key, value)
    {
        size_t k = 0;
        while (k < 8 && strcmp (key, keys[k]))
            k++;
        if (k == 8)
            return s_err (err, err_size, "%.64s: unknown field", key);
        bool optional = !strcmp (key, "phone") || !strcmp (key, "note") || !strcmp (key, "urgency");
        if (optional && json_is_null (value))
            continue;
        if (s_need_key (out, key, value, err, err_size))
            return -1;
    }
    static const char *required[] = {"building", "contact_name", "skill"};
    for (size_t i = 0; i < 3; i++)
        if (!json_object_get (obj, required[i]))
            return s_err (err, err_size, "%s: required", required[i]);
    bool window = json_object_get (obj, "window"), weekly = json_object_get (obj, "weekly");
    if (window == weekly)
        return s_err (err, err_size, "window: exactly one of window and weekly is required");
    return 0;
}
