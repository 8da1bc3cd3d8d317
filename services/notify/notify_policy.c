/*  notify_policy: quiet hours, digest, opt-out, masks and Chinese
    spellings. See notify_policy.h. Pure functions: the clock is always an
    argument, so tests drive time by passing it.  */
#include "notify_policy.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gz_text.h"

#define S_MIN_US (60LL * 1000000)
#define S_DAY_US (24LL * 60 * S_MIN_US)

//  "HH:MM" at s (exactly five bytes): minutes, or -1.
static int
s_hhmm (const char *s)
{
    for (int i = 0; i < 5; i++)
        if (i == 2 ? s[i] != ':' : (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    return h < 24 && m < 60 ? h * 60 + m : -1;
}

int
notify_quiet_parse (const char *text, int *start_min_p, int *end_min_p)
{
    assert (start_min_p && end_min_p);
    if (!text)
        return -1;
    if (!strcmp (text, "off")) {
        *start_min_p = *end_min_p = 0;
        return 0;
    }
    if (strlen (text) != 11 || text[5] != '-')
        return -1;
    int start = s_hhmm (text), end = s_hhmm (text + 6);
    if (start < 0 || end < 0 || start == end)
        return -1;
    *start_min_p = start;
    *end_min_p = end;
    return 0;
}

//  Microseconds since China-time midnight of the day holding now_us.
static int64_t
s_china_day_us (int64_t now_us)
{
    int64_t r = (now_us + NOTIFY_CHINA_OFFSET_US) % S_DAY_US;
    return r < 0 ? r + S_DAY_US : r;
}

int64_t
notify_quiet_release_us (int64_t now_us, int start_min, int end_min)
{
    assert (start_min >= 0 && start_min < 24 * 60);
    assert (end_min >= 0 && end_min < 24 * 60);
    if (start_min == end_min)
        return now_us;
    int64_t t = s_china_day_us (now_us);
    int64_t s = start_min * S_MIN_US, e = end_min * S_MIN_US;
    if (s < e) //  within one day, e.g. 12:00-14:00
        return t >= s && t < e ? now_us + (e - t) : now_us;
    if (t >= s) //  wraps midnight, and we are before it
        return now_us + (S_DAY_US - t) + e;
    if (t < e) //  wraps midnight, and we are after it
        return now_us + (e - t);
    return now_us;
}

bool
notify_bypass_quiet (const notify_rule_t *rule, bool request_urgent)
{
    assert (rule);
    return rule->urgent || (request_urgent && (notify_audience_staff (rule->audience) ||
                                               rule->audience == NOTIFY_VOLUNTEER));
}

bool
notify_wanted (const notify_rule_t *rule, bool opted_out)
{
    assert (rule);
    return rule->essential || !opted_out;
}

bool
notify_digest_due (int64_t first_us, int64_t now_us, int window_ms)
{
    return now_us >= notify_digest_release_us (first_us, window_ms);
}

int64_t
notify_digest_release_us (int64_t first_us, int window_ms)
{
    return window_ms > 0 ? first_us + (int64_t) window_ms * 1000 : first_us;
}

static char *
s_strdup (const char *s)
{
    char *copy = strdup (s);
    if (!copy)
        abort ();
    return copy;
}

char *
notify_mask_phone (const char *phone)
{
    return gz_phone_mask (phone);
}

//  Length in bytes of the UTF-8 sequence that starts with byte c.
static size_t
s_utf8_len (unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

char *
notify_mask_name (const char *name)
{
    if (!name || !*name || !gz_utf8_valid (name, strlen (name)))
        return s_strdup ("*");
    size_t len = strlen (name);
    size_t first = s_utf8_len ((unsigned char) name[0]);
    size_t rest = gz_utf8_chars (name, len) - 1;
    if (rest == 0)
        return s_strdup ("*");
    char *out = malloc (first + rest + 1);
    if (!out)
        abort ();
    memcpy (out, name, first);
    memset (out + first, '*', rest);
    out[first + rest] = '\0';
    return out;
}

char *
notify_mask_email (const char *email)
{
    const char *at = email ? strrchr (email, '@') : NULL;
    if (!at || at == email || !gz_utf8_valid (email, strlen (email)))
        return s_strdup ("***");
    size_t first = s_utf8_len ((unsigned char) email[0]);
    if (email + first > at)
        return s_strdup ("***");
    size_t domain = strlen (at);
    char *out = malloc (first + 3 + domain + 1);
    if (!out)
        abort ();
    memcpy (out, email, first);
    memcpy (out + first, "***", 3);
    memcpy (out + first + 3, at, domain + 1);
    return out;
}

char *
notify_china_time (int64_t us, char *buf, size_t size)
{
    assert (buf && size > 0);
    //  Days since the epoch in China time, then the civil date (Howard
    //  Hinnant's days_from_civil inverse), so no TZ or locale is read.
    int64_t local = us + NOTIFY_CHINA_OFFSET_US;
    int64_t days = local / S_DAY_US - (local % S_DAY_US < 0);
    int64_t day_us = s_china_day_us (us);
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int) (doy - (153 * mp + 2) / 5 + 1);
    int m = (int) (mp < 10 ? mp + 3 : mp - 9);
    int minute = (int) (day_us / S_MIN_US);
    snprintf (buf, size, "%d月%d日 %02d:%02d", m, d, minute / 60, minute % 60);
    return buf;
}

//  A weekly text in Chinese (notify_task_time): days, ranges, lists.
static void
s_weekly_text (const char *weekly, char *buf, size_t size)
{
    static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    static const char *const names[] = {"周一", "周二", "周三", "周四", "周五", "周六", "周日"};
    size_t len = (size_t) snprintf (buf, size, "每");
    bool after_day = false;
    for (const char *p = weekly; *p && len < size;) {
        const char *add = NULL;
        char one[2] = {*p, 0};
        size_t step = 1;
        for (size_t d = 0; d < 7 && !add; d++)
            if (strncasecmp (p, days[d], 3) == 0) {
                add = names[d];
                step = 3;
            }
        if (!add && *p == '-' && after_day)
            add = "至";
        else if (!add && *p == ',')
            add = "、";
        else if (!add && *p == ';') {
            add = "；";
            while (p[step] == ' ')
                step++;
        }
        after_day = add && step == 3;
        const char *piece = add ? add : one;
        if (strlen (piece) >= size - len)
            break; //  truncated at a whole character, never inside one
        len += (size_t) snprintf (buf + len, size - len, "%s", piece);
        p += step;
    }
}

char *
notify_task_time (int64_t from_us, int64_t to_us, const char *weekly, char *buf, size_t size)
{
    assert (buf && size > 0);
    char from[32], to[32];
    if (from_us > 0) {
        notify_china_time (from_us, from, sizeof from);
        to[0] = 0;
        if (to_us > from_us)
            notify_china_time (to_us, to, sizeof to);
        //  The end's date only when it is another day.
        const char *sp = strchr (to, ' ');
        bool same_day = sp && strncmp (from, to, (size_t) (sp - to + 1)) == 0;
        snprintf (buf, size, "%s%s%s", from, *to ? "至" : "", same_day ? sp + 1 : to);
    }
    else if (weekly && *weekly)
        s_weekly_text (weekly, buf, size);
    else
        snprintf (buf, size, "时间详见链接");
    return buf;
}

const char *
notify_tier_text (int tier)
{
    static const char *const names[] = {"", "本级", "上级", "疑难"};
    return tier >= 1 && tier <= 3 ? names[tier] : "";
}

const char *
notify_level_text (int level)
{
    static const char *const names[] = {"网格", "社区", "街道", "区级部门"};
    return level >= 0 && level <= 3 ? names[level] : "";
}
