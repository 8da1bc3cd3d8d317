/*  routing_rules: the classification rules file. See routing_rules.h and
    docs/routing-rules.md (the format, for operators).

    DESIGN
    A parsed rules object is immutable: the routing actor parses a new file
    on SIGHUP and swaps the pointer only when the parse succeeded, so a bad
    file never replaces good rules. The object owns one copy of the text;
    parsing cuts it into NUL-terminated tokens in place, and every string a
    rule exposes points into that copy (only the keyword and co-handler
    pointer arrays are allocated per rule). Matching is a linear scan in
    file order: a few dozen rules, each a couple of strcmp/strstr calls,
    cost far less than the database round trip that follows.

    Validation is strict on purpose. The file is written by hand, and a
    rule that silently never matches (listed after its category's
    catch-all) or a category with no catch-all (a request nobody routes)
    is worse than a refused reload with the line and the reason.  */
#include "routing_rules.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gz_category.h"
#include "gz_text.h"

#define S_MAX_FILE (1024 * 1024)
#define S_MAX_LINE 4096
#define S_MAX_CODE 64
#define S_MAX_DURATION_S (366LL * 24 * 3600)
#define S_COLUMNS 8
#define S_REASON 256 //  size of every reason buffer

struct _routing_rules_t {
    char *text;            //  owned copy; rule strings point into it
    routing_rule_t *rules; //  in file order
    size_t count;
    size_t alloc;
    int64_t merge_window_s; //  settings, with their defaults
    double warn_at;
    int64_t reopen_window_s;
};

//  Parse state that lives only while one file is read.
typedef struct {
    const gz_category_t *cats; //  gz_category_all ()
    size_t ncats;
    int *catch_line;    //  per category: line of its catch-all rule, or 0
    int any_catch_line; //  line of a category "*" catch-all, or 0
    int set_line[3];    //  line where each setting was given, or 0
} s_state_t;

static const char *s_settings[] = {"merge_window", "warn_at", "reopen_window"};

static void
s_rules_free (routing_rules_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        free ((void *) self->rules[i].keywords);
        free ((void *) self->rules[i].co_handlers);
    }
    free (self->rules);
    free (self->text);
    free (self);
}

static void
s_reason (char *reason, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (reason, S_REASON, fmt, args);
    va_end (args);
}

//  Unit codes and department codes: ASCII letters, digits, '-', '_', '.'.
static bool
s_code_valid (const char *s)
{
    size_t n = strlen (s);
    if (n == 0 || n > S_MAX_CODE)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

//  "30m", "2h", "3d", "1w" (also "45s") to seconds. 0 or -1 (bad text,
//  zero, or longer than a year).
static int
s_duration (const char *s, int64_t *out)
{
    int64_t n = 0;
    size_t digits = 0;
    while (s[digits] >= '0' && s[digits] <= '9') {
        if (digits == 9)
            return -1;
        n = n * 10 + (s[digits] - '0');
        digits++;
    }
    if (digits == 0 || s[digits] == '\0' || s[digits + 1] != '\0')
        return -1;
    int64_t unit;
    switch (s[digits]) {
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        case 'w':
            unit = 7 * 86400;
            break;
        default:
            return -1;
    }
    if (n == 0 || n * unit > S_MAX_DURATION_S)
        return -1;
    *out = n * unit;
    return 0;
}

//  Splits s at each sep into a NULL-terminated array (in place). Empty
//  pieces are refused: 0 or -1 with reason filled.
static int
s_split (char *s, char sep, const char *what, const char ***out, char *reason)
{
    size_t n = 1;
    for (const char *p = s; *p; p++)
        if (*p == sep)
            n++;
    const char **list = calloc (n + 1, sizeof *list);
    if (!list)
        abort ();
    size_t i = 0;
    char *piece = s;
    while (true) {
        char *end = strchr (piece, sep);
        if (end)
            *end = '\0';
        if (*piece == '\0') {
            s_reason (reason, "empty %s (two '%c' in a row, or one at an end)", what, sep);
            free (list);
            return -1;
        }
        list[i++] = piece;
        if (!end)
            break;
        piece = end + 1;
    }
    *out = list;
    return 0;
}

static int
s_tier (const char *s, routing_tier_t *tier)
{
    if (!strcmp (s, "local") || !strcmp (s, "本级"))
        *tier = ROUTING_TIER_LOCAL;
    else if (!strcmp (s, "upper") || !strcmp (s, "上级"))
        *tier = ROUTING_TIER_UPPER;
    else if (!strcmp (s, "hard") || !strcmp (s, "疑难"))
        *tier = ROUTING_TIER_HARD;
    else
        return -1;
    return 0;
}

//  "dept:<code>" to the code (pointing into s), or NULL.
static const char *
s_dept_code (const char *s)
{
    if (strncmp (s, "dept:", 5) != 0 || !s_code_valid (s + 5))
        return NULL;
    return s + 5;
}

static int
s_parse_setting (routing_rules_t *self, s_state_t *state, char **tok, size_t ntok, int lineno,
                 char *reason)
{
    if (ntok != 3) {
        s_reason (reason, "a setting is 'set <name> <value>', got %zu words", ntok);
        return -1;
    }
    size_t which = 0;
    while (which < 3 && strcmp (tok[1], s_settings[which]) != 0)
        which++;
    if (which == 3) {
        s_reason (reason, "unknown setting '%s' (known: merge_window, warn_at, reopen_window)",
                  tok[1]);
        return -1;
    }
    if (state->set_line[which]) {
        s_reason (reason, "setting %s given twice (first at line %d)", tok[1],
                  state->set_line[which]);
        return -1;
    }
    state->set_line[which] = lineno;
    if (which == 1) {
        //  "80%" or "0.8": a fraction strictly between 0 and 1.
        char *end = NULL;
        errno = 0;
        double v = strtod (tok[2], &end);
        bool percent = end && *end == '%';
        if (percent) {
            end++;
            v /= 100.0;
        }
        if (errno || end == tok[2] || *end || !(v > 0.0 && v < 1.0) ||
            (tok[2][0] < '0' || tok[2][0] > '9')) {
            s_reason (reason, "warn_at '%s' is not a share of the deadline such as 80%% or 0.8",
                      tok[2]);
            return -1;
        }
        self->warn_at = v;
        return 0;
    }
    int64_t secs;
    if (s_duration (tok[2], &secs) != 0) {
        s_reason (reason, "%s '%s' is not a duration such as 30m, 2h, 3d or 1w", tok[1], tok[2]);
        return -1;
    }
    if (which == 0)
        self->merge_window_s = secs;
    else
        self->reopen_window_s = secs;
    return 0;
}

//  The columns of a rule line but its lists (keywords, co-handlers) into
//  rule, and the index of its category in state->cats (ncats for "*").
//  0, or -1 with reason.
static int
s_rule_columns (const s_state_t *state, char **tok, routing_rule_t *rule, size_t *cat_index,
                char *reason)
{
    //  Category: a code intake offers, or "*".
    *cat_index = state->ncats;
    if (strcmp (tok[0], "*") != 0) {
        for (*cat_index = 0; *cat_index < state->ncats; (*cat_index)++)
            if (!strcmp (state->cats[*cat_index].code, tok[0]))
                break;
        if (*cat_index == state->ncats) {
            s_reason (reason, "unknown category '%s' (see services/common/gz_category.c)", tok[0]);
            return -1;
        }
    }
    if (strcmp (tok[1], "*") != 0 && strchr (tok[1], '*')) {
        s_reason (reason, "keywords '%s': '*' must stand alone (it means any description)", tok[1]);
        return -1;
    }
    if (strcmp (tok[2], "*") != 0 && !s_code_valid (tok[2])) {
        s_reason (reason, "place '%s' is neither '*' nor a unit code", tok[2]);
        return -1;
    }
    if (s_tier (tok[3], &rule->tier) != 0) {
        s_reason (reason, "unknown tier '%s' (local|upper|hard, or 本级|上级|疑难)", tok[3]);
        return -1;
    }
    if (!strcmp (tok[4], "grid"))
        rule->lead = ROUTING_LEAD_GRID;
    else if (!strcmp (tok[4], "community"))
        rule->lead = ROUTING_LEAD_COMMUNITY;
    else if (!strcmp (tok[4], "subdistrict"))
        rule->lead = ROUTING_LEAD_SUBDISTRICT;
    else if ((rule->lead_code = s_dept_code (tok[4])))
        rule->lead = ROUTING_LEAD_DEPARTMENT;
    else {
        s_reason (reason, "unknown lead '%s' (grid|community|subdistrict|dept:<code>)", tok[4]);
        return -1;
    }
    //  The tier decides who may lead (issue: 本级 grid or community,
    //  上级 the sub-district, 疑难 a lead department).
    if (rule->tier == ROUTING_TIER_LOCAL && rule->lead != ROUTING_LEAD_GRID &&
        rule->lead != ROUTING_LEAD_COMMUNITY) {
        s_reason (reason, "tier local is led by grid or community, not '%s'", tok[4]);
        return -1;
    }
    if (rule->tier == ROUTING_TIER_UPPER && rule->lead != ROUTING_LEAD_SUBDISTRICT) {
        s_reason (reason, "tier upper is led by subdistrict, not '%s'", tok[4]);
        return -1;
    }
    if (rule->tier == ROUTING_TIER_HARD && rule->lead != ROUTING_LEAD_DEPARTMENT) {
        s_reason (reason, "tier hard is led by a department (dept:<code>), not '%s'", tok[4]);
        return -1;
    }
    if (strcmp (tok[5], "-") != 0 && rule->tier != ROUTING_TIER_HARD) {
        s_reason (reason, "co-handlers '%s' are only for tier hard (use '-')", tok[5]);
        return -1;
    }
    if (s_duration (tok[6], &rule->respond_s) != 0) {
        s_reason (reason, "respond '%s' is not a duration such as 30m, 2h, 3d or 1w", tok[6]);
        return -1;
    }
    if (s_duration (tok[7], &rule->resolve_s) != 0) {
        s_reason (reason, "resolve '%s' is not a duration such as 30m, 2h, 3d or 1w", tok[7]);
        return -1;
    }
    if (rule->resolve_s < rule->respond_s) {
        s_reason (reason, "resolve deadline %s is shorter than respond deadline %s", tok[7],
                  tok[6]);
        return -1;
    }
    return 0;
}

static int
s_parse_rule (routing_rules_t *self, s_state_t *state, char **tok, size_t ntok, int lineno,
              char *reason)
{
    if (ntok != S_COLUMNS) {
        s_reason (reason,
                  "expected 8 columns (category keywords place tier lead "
                  "co_handlers respond "
                  "resolve), got %zu",
                  ntok);
        return -1;
    }
    routing_rule_t rule = {.line = lineno, .category = tok[0], .place = tok[2]};
    size_t cat_index;
    if (s_rule_columns (state, tok, &rule, &cat_index, reason) != 0)
        return -1;
    bool any_keyword = !strcmp (tok[1], "*");
    //  A rule after a catch-all that already takes its requests is dead:
    //  almost always a keyword rule placed below its catch-all by mistake.
    bool catch_all = any_keyword && !strcmp (rule.place, "*");
    int shadow = state->any_catch_line;
    if (!shadow && cat_index < state->ncats)
        shadow = state->catch_line[cat_index];
    if (shadow) {
        s_reason (reason,
                  "rule never matches: the catch-all at line %d takes every %s request "
                  "first (put specific rules above catch-alls)",
                  shadow, tok[0]);
        return -1;
    }

    //  Lists last: they allocate, so every check that can fail comes first
    //  except the list checks themselves, which clean up after themselves.
    const char **keywords = NULL;
    const char **co = NULL;
    if (any_keyword) {
        keywords = calloc (1, sizeof *keywords);
        if (!keywords)
            abort ();
    }
    else if (s_split (tok[1], '|', "keyword", &keywords, reason) != 0)
        return -1;
    if (!strcmp (tok[5], "-")) {
        co = calloc (1, sizeof *co);
        if (!co)
            abort ();
    }
    else if (s_split (tok[5], ',', "co-handler", &co, reason) != 0) {
        free (keywords);
        return -1;
    }
    for (size_t i = 0; co[i]; i++) {
        const char *code = s_dept_code (co[i]);
        const char *bad = NULL;
        if (!code)
            bad = "is not dept:<code>";
        else if (rule.lead_code && !strcmp (code, rule.lead_code))
            bad = "is already the lead";
        for (size_t j = 0; !bad && j < i; j++)
            if (!strcmp (co[j], code))
                bad = "is listed twice";
        if (bad) {
            s_reason (reason, "co-handler '%s' %s", co[i], bad);
            free (keywords);
            free (co);
            return -1;
        }
        co[i] = code;
    }
    rule.keywords = keywords;
    rule.co_handlers = co;

    if (catch_all) {
        if (cat_index < state->ncats)
            state->catch_line[cat_index] = lineno;
        else
            state->any_catch_line = lineno;
    }
    if (self->count == self->alloc) {
        self->alloc = self->alloc ? self->alloc * 2 : 32;
        self->rules = realloc (self->rules, self->alloc * sizeof *self->rules);
        if (!self->rules)
            abort ();
    }
    self->rules[self->count++] = rule;
    return 0;
}

//  One line (NUL-terminated, newline removed). 0 or -1 with reason.
static int
s_parse_line (routing_rules_t *self, s_state_t *state, char *line, size_t len, int lineno,
              char *reason)
{
    if (len > S_MAX_LINE) {
        s_reason (reason, "line longer than %d bytes", S_MAX_LINE);
        return -1;
    }
    if (!gz_utf8_valid (line, len)) {
        s_reason (reason, "invalid UTF-8 or a control character");
        return -1;
    }
    //  Whitespace-separated words; a word starting with '#' ends the line.
    char *tok[S_COLUMNS + 1];
    size_t ntok = 0;
    char *p = line;
    while (true) {
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (*p == '\0' || *p == '#')
            break;
        if (ntok == S_COLUMNS + 1) {
            ntok++; //  too many; the count in the message is "more than"
            break;
        }
        tok[ntok++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\r')
            p++;
        if (*p)
            *p++ = '\0';
    }
    if (ntok == 0)
        return 0;
    if (ntok > S_COLUMNS + 1) {
        s_reason (reason, "expected 8 columns (category keywords place tier lead co_handlers "
                          "respond resolve), got more than 9");
        return -1;
    }
    if (!strcmp (tok[0], "set"))
        return s_parse_setting (self, state, tok, ntok, lineno, reason);
    return s_parse_rule (self, state, tok, ntok, lineno, reason);
}

static void
s_fail (char *err, size_t errlen, const char *source, int lineno, const char *reason)
{
    if (!err || errlen == 0)
        return;
    if (lineno > 0)
        snprintf (err, errlen, "%s:%d: %s", source, lineno, reason);
    else
        snprintf (err, errlen, "%s: %s", source, reason);
}

//  text[0..len) may hold NUL bytes (from a file); they fail the UTF-8 check.
static routing_rules_t *
s_parse (const char *text, size_t len, const char *source, char *err, size_t errlen)
{
    if (len > S_MAX_FILE) {
        s_fail (err, errlen, source, 0, "larger than 1 MiB");
        return NULL;
    }
    routing_rules_t *self = calloc (1, sizeof *self);
    s_state_t state = {0};
    if (!self)
        abort ();
    self->merge_window_s = 24 * 3600;
    self->warn_at = 0.8;
    self->reopen_window_s = 7 * 24 * 3600;
    self->text = malloc (len + 1);
    if (!self->text)
        abort ();
    memcpy (self->text, text, len);
    self->text[len] = '\0';
    state.cats = gz_category_all (&state.ncats);
    state.catch_line = calloc (state.ncats, sizeof *state.catch_line);
    if (!state.catch_line)
        abort ();

    char reason[S_REASON];
    int lineno = 0;
    char *line = self->text;
    char *end = self->text + len;
    //  A UTF-8 byte order mark, which some editors write, is not content.
    if (len >= 3 && !memcmp (line, "\xEF\xBB\xBF", 3))
        line += 3;
    int rc = 0;
    while (line < end && rc == 0) {
        char *nl = memchr (line, '\n', (size_t) (end - line));
        char *stop = nl ? nl : end;
        *stop = '\0';
        lineno++;
        rc = s_parse_line (self, &state, line, (size_t) (stop - line), lineno, reason);
        line = stop + 1;
    }
    //  Every category intake offers must reach some rule; a catch-all of
    //  its own or a "*" catch-all guarantees that.
    for (size_t i = 0; rc == 0 && i < state.ncats && !state.any_catch_line; i++)
        if (!state.catch_line[i]) {
            s_reason (reason,
                      "category %s (%s) has no catch-all rule (keywords '*', place "
                      "'*'), so "
                      "some of its requests would match nothing",
                      state.cats[i].code, state.cats[i].name);
            lineno = lineno > 0 ? lineno : 1;
            rc = -1;
        }
    free (state.catch_line);
    if (rc == 0)
        return self;
    s_fail (err, errlen, source, lineno, reason);
    s_rules_free (self);
    return NULL;
}

routing_rules_t *
routing_rules_parse (const char *text, const char *source, char *err, size_t errlen)
{
    assert (text);
    assert (source);
    return s_parse (text, strlen (text), source, err, errlen);
}

routing_rules_t *
routing_rules_load (const char *path, char *err, size_t errlen)
{
    assert (path);
    FILE *file = fopen (path, "rb");
    if (!file) {
        char reason[S_REASON];
        s_reason (reason, "cannot open: %s", strerror (errno));
        s_fail (err, errlen, path, 0, reason);
        return NULL;
    }
    //  Read one byte past the limit so an oversized file is told apart.
    char *buf = malloc (S_MAX_FILE + 1);
    if (!buf)
        abort ();
    size_t len = fread (buf, 1, S_MAX_FILE + 1, file);
    bool failed = ferror (file);
    fclose (file);
    routing_rules_t *self = NULL;
    if (failed)
        s_fail (err, errlen, path, 0, "read error");
    else
        self = s_parse (buf, len, path, err, errlen);
    free (buf);
    return self;
}

void
routing_rules_destroy (routing_rules_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        s_rules_free (*self_p);
        *self_p = NULL;
    }
}

const routing_rule_t *
routing_rules_match (const routing_rules_t *self, const char *category, const char *description,
                     const char *subdistrict, const char *community)
{
    assert (self);
    //  Everything but self comes from a request: NULL means "not known".
    if (!category)
        category = "";
    if (!description)
        description = "";
    for (size_t i = 0; i < self->count; i++) {
        const routing_rule_t *rule = &self->rules[i];
        if (strcmp (rule->category, "*") != 0 && strcmp (rule->category, category) != 0)
            continue;
        if (strcmp (rule->place, "*") != 0 &&
            !(subdistrict && !strcmp (rule->place, subdistrict)) &&
            !(community && !strcmp (rule->place, community)))
            continue;
        if (!rule->keywords[0])
            return rule;
        for (size_t k = 0; rule->keywords[k]; k++)
            if (strstr (description, rule->keywords[k]))
                return rule;
    }
    return NULL;
}

const routing_rule_t *
routing_rules_at (const routing_rules_t *self, size_t index)
{
    assert (self);
    return index < self->count ? &self->rules[index] : NULL;
}

size_t
routing_rules_count (const routing_rules_t *self)
{
    assert (self);
    return self->count;
}

int64_t
routing_rules_merge_window_s (const routing_rules_t *self)
{
    assert (self);
    return self->merge_window_s;
}

double
routing_rules_warn_at (const routing_rules_t *self)
{
    assert (self);
    return self->warn_at;
}

int64_t
routing_rules_reopen_window_s (const routing_rules_t *self)
{
    assert (self);
    return self->reopen_window_s;
}

const char *
routing_rules_tier_name (routing_tier_t tier)
{
    switch (tier) {
        case ROUTING_TIER_LOCAL:
            return "local";
        case ROUTING_TIER_UPPER:
            return "upper";
        case ROUTING_TIER_HARD:
            return "hard";
    }
    return "unknown";
}

const char *
routing_rules_lead_name (routing_lead_t lead)
{
    switch (lead) {
        case ROUTING_LEAD_GRID:
            return "grid";
        case ROUTING_LEAD_COMMUNITY:
            return "community";
        case ROUTING_LEAD_SUBDISTRICT:
            return "subdistrict";
        case ROUTING_LEAD_DEPARTMENT:
            return "dept";
    }
    return "unknown";
}
