/*  matching_model: the matching service's pure data model (issue 10): the
    skills table, weekly availability windows, times, volunteers and needs
    from JSON, and the CSV import of volunteers (docs/matching.md,
    "Registry: skills, availability and the CSV import").

    No database, no HTTP, no globals but constant tables: every function is
    safe from any thread. Field validation is written once (matching_model.c,
    mt_volunteer_set) and shared by the JSON and the CSV forms, so both say
    the same thing about the same bad value: "field: reason".  */
#ifndef MATCHING_MODEL_H_INCLUDED
#define MATCHING_MODEL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define MT_ID_MAX 64 /* ids: 1..64 bytes of [A-Za-z0-9._-] */
#define MT_WINDOWS_MAX 28
#define MT_MINUTES_PER_WEEK 10080
#define MT_CSV_MAX_ROWS 100000                      /* rows after the header */
#define MT_CSV_MAX_ERRORS 1000                      /* error lines before "... N more errors" */
#define MT_NEED_MAX_US (31LL * 24 * 3600 * 1000000) /* a one-off need's longest window */

//  ---------------------------------------------------------------------
//  Skills: a fixed table, index = bit in a uint32_t mask (at most 32).
//  shopping 买菜购物, housework 家务, hospital_escort 陪同就医,
//  companionship 陪伴聊天, tutoring 课业辅导, legal_aid 法律援助,
//  psych_support 心理疏导, repairs 维修, meal_delivery 送餐,
//  child_care 儿童看护, elderly_care 助老服务, haircut 理发.
//  New skills are appended, never reordered: the index is stored.

//  Number of skills in the table.
size_t mt_skill_count (void);
//  The index of the skill named name (exact, lower case), or -1 (also on NULL).
int mt_skill_from_name (const char *name);
//  The skill's name, or NULL when skill is out of range. Static.
const char *mt_skill_name (int skill);
//  The skill's Chinese label, or NULL when out of range. Static.
const char *mt_skill_label (int skill);

//  ---------------------------------------------------------------------
//  Weekly windows: [start, end) minutes of the week in China time (UTC+8),
//  Monday 00:00 = 0, 0 <= start < end <= 10080. A set of windows is kept
//  sorted with overlapping and adjacent windows merged; a period across
//  Sunday 24:00 is two windows (one ending at 10080, one starting at 0).
typedef struct {
    int32_t start, end;
} mt_window_t;

//  Parses "mon-fri 09:00-12:00; sat 14:00-18:00; sun 00:00-24:00": items
//  separated by ';', each a day spec and a time range. Days mon tue wed thu
//  fri sat sun (any case); a day spec is a day, a range "mon-fri" (one that
//  wraps, "fri-mon", runs through Sunday) or a comma list of those
//  ("mon,wed-thu"). Times HH:MM, 00:00..23:59, an end may be 24:00; the end
//  must be after the start (a night shift is two items). Each day gives one
//  window. Stores at most max windows in out (sorted, merged), their count
//  in *n. Returns 0, or -1 with "availability: what is wrong" in err
//  (err_size bytes at most; err may be NULL): an empty text, a bad day, a
//  bad time, end <= start, more than max windows after merging.
int mt_windows_parse (const char *text, mt_window_t *out, size_t max, size_t *n, char *err,
                      size_t err_size);

//  The canonical text of a window set (as mt_windows_parse makes it): one
//  "ddd HH:MM-HH:MM" per window and day ("; " separated; a window across
//  midnight is split at each day's end), so parsing it gives w back.
//  "" for n = 0. The caller frees the string.
char *mt_windows_format (const mt_window_t *w, size_t n);

//  True when some window of a overlaps (shares at least one minute with)
//  some window of b. Both sets sorted and merged, as parsed.
bool mt_windows_overlap (const mt_window_t *a, size_t na, const mt_window_t *b, size_t nb);

//  The absolute period [from_us, to_us) (unix microseconds) as weekly
//  windows in China time, widened to whole minutes: one window, two when it
//  wraps past Sunday 24:00 (sorted: the Monday part first), the whole week
//  when it lasts a week or longer. Returns how many (0..2); 0 when to <= from.
size_t mt_windows_from_period (int64_t from_us, int64_t to_us, mt_window_t out[2]);

//  Parses an RFC 3339 time with a zone: "2026-12-05T09:00:00+08:00",
//  "2026-12-05T09:00+08:00", "2026-12-05T01:00:00Z" (seconds optional, no
//  fractions, the offset required). Returns 0 with unix microseconds in
//  *us, or -1 (a bad format, a date that does not exist, NULL).
int mt_time_parse (const char *text, int64_t *us);

//  ---------------------------------------------------------------------
//  Volunteers.
typedef struct {
    char id[MT_ID_MAX + 1];
    char name[601];                      /* 1..100 characters (UTF-8) */
    uint32_t skills;                     /* at least one */
    bool social_worker;                  /* verified 专业社工 */
    char grid[MT_ID_MAX + 1];            /* home grid code */
    bool has_location;                   /* lat, lon given (both or neither) */
    double lat, lon;                     /* -90..90, -180..180 */
    mt_window_t windows[MT_WINDOWS_MAX]; /* at least one */
    size_t n_windows;
    int32_t max_per_week; /* 1..50, default 3 */
    bool active;          /* state "active" (default) or "paused" */
    char phone[33];       /* "" when none; gz_phone_valid, <= 32 bytes */
    uint32_t line;        /* the CSV line the record starts on (0: not from CSV) */
} mt_volunteer_t;

//  Fills v with the defaults: everything empty, max_per_week 3, active.
void mt_volunteer_init (mt_volunteer_t *v);

//  Sets one field of v from its text form, the one validator of that field
//  for JSON and CSV: field is a CSV column name (id name skills
//  social_worker grid lat lon availability max_per_week state phone); text
//  as in a CSV cell (skills separated by ';' or '|'; social_worker
//  true/false/1/0/是/否; lat, lon, max_per_week as decimal numbers). ""
//  for an optional field leaves its default (lat, lon: not given); for a
//  required one it is an error. Returns 0, or -1 with "field: reason" in
//  err. Does not check that lat and lon come together (mt_volunteer_from_json
//  and the CSV import do).
int mt_volunteer_set (mt_volunteer_t *v, const char *field, const char *text, char *err,
                      size_t err_size);

//  The volunteer's fields (CSV columns, JSON keys), numbered 0..count-1 in
//  the order above: how many, the number of the one named name (or -1),
//  its name (NULL out of range), whether it is required.
size_t mt_volunteer_field_count (void);
int mt_volunteer_field (const char *name);
const char *mt_volunteer_field_name (size_t field);
bool mt_volunteer_field_required (size_t field);

//  Finishes a volunteer whose fields were set (bit i of given: field i was
//  given a value): checks every required field was given and lat and lon
//  come together, and sets has_location. Returns 0, or -1 with "field:
//  reason" in err.
int mt_volunteer_complete (mt_volunteer_t *v, uint32_t given, char *err, size_t err_size);

//  From a JSON object {"id", "name", "skills": ["shopping", ...],
//  "social_worker": bool, "grid", "lat", "lon" (numbers), "availability":
//  "mon-fri 09:00-12:00; ..." or an array of such strings, "max_per_week"
//  (integer), "state": "active"|"paused", "phone"}. Required: id, name,
//  skills, grid, availability; an optional key may be null (not given).
//  Returns 0, or -1 with "field: reason" in err: an unknown key, a wrong
//  type, a missing required field, invalid UTF-8, a value out of range.
int mt_volunteer_from_json (const json_t *obj, mt_volunteer_t *out, char *err, size_t err_size);

//  To a new JSON object (the caller's reference): the keys above, skills as
//  names with "skill_labels" (Chinese) beside them, availability as the
//  canonical text, state as text, lat/lon only when given, and the phone
//  only masked, as "phone_masked" (gz_phone_mask), only when there is one.
json_t *mt_volunteer_to_json (const mt_volunteer_t *v);

//  ---------------------------------------------------------------------
//  Needs.
typedef struct {
    char building[MT_ID_MAX + 1]; /* the household's building code */
    char contact_name[601];       /* 1..100 characters */
    char phone[33];               /* optional, "" when none */
    int skill;                    /* index in the skills table */
    bool urgent;                  /* "urgency": "normal" (default) | "urgent" */
    bool recurring;               /* "weekly" given: the windows come from it */
    int64_t from_us, to_us;       /* one-off "window": to > from, <= 31 days; 0 when recurring */
    mt_window_t windows[MT_WINDOWS_MAX]; /* the weekly form of the need's time */
    size_t n_windows;
    char note[2001]; /* optional, at most 500 characters */
} mt_need_t;

//  From a JSON object {"building", "contact_name", "phone", "skill" (a
//  name), "urgency", "window": {"from": TIME, "to": TIME} | "weekly":
//  "sat 09:00-11:00", "note"}: building, contact_name, skill and exactly one
//  of window / weekly required. Returns 0, or -1 with "field: reason" in err
//  (as mt_volunteer_from_json; window errors name "window.from" ...).
int mt_need_from_json (const json_t *obj, mt_need_t *out, char *err, size_t err_size);

//  ---------------------------------------------------------------------
//  CSV import of volunteers (gzctl volunteers import FILE.csv).
typedef struct {
    char **lines;
    size_t n;
} mt_csv_errors_t;

//  Parses text[0..len) as RFC 4180 CSV: comma separated, double quotes
//  with "" escapes, quoted fields may hold commas and newlines, CRLF or LF,
//  a UTF-8 BOM skipped, blank lines skipped, spaces around a cell trimmed.
//  Line 1 is a header of column names (mt_volunteer_set's, any order;
//  required id, name, skills, grid, availability); every later record is a
//  volunteer. Every invalid row is reported, each bad field once: "line N:
//  field: reason", N the physical line the record starts on; also duplicate
//  ids, a wrong number of fields, invalid UTF-8, unknown / duplicated /
//  missing columns (line 1), an empty file or one with no rows, more than
//  MT_CSV_MAX_ROWS rows. At most MT_CSV_MAX_ERRORS lines, then "... N more
//  errors". Returns the number of errors; 0: *out holds the *n volunteers
//  (malloc'd, the caller frees; NULL when none). Otherwise *out is NULL,
//  *n 0, and errors holds the lines (free with mt_csv_errors_free).
size_t mt_csv_volunteers_parse (const char *text, size_t len, mt_volunteer_t **out, size_t *n,
                                mt_csv_errors_t *errors);

//  Frees the lines and empties errors; harmless on an empty one.
void mt_csv_errors_free (mt_csv_errors_t *errors);

#endif
