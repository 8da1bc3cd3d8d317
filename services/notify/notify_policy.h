/*  notify_policy: the small decisions of the notify service, as pure
    functions with the clock passed in: quiet hours (China time, UTC+8, no
    daylight saving), digest windows, opt-out, masking of contacts for
    logs and stored rows, and the Chinese spellings a template shows
    (times, tiers, escalation levels). No state; safe from any thread.  */
#ifndef NOTIFY_POLICY_H_INCLUDED
#define NOTIFY_POLICY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notify_plan.h"

//  China Standard Time offset from UTC, microseconds.
#define NOTIFY_CHINA_OFFSET_US (8LL * 3600 * 1000000)

//  Parse "HH:MM-HH:MM" (00:00..23:59 each; "22:00-07:00" wraps midnight)
//  into minutes after China-time midnight. "off" gives start == end == 0
//  (no quiet hours). Refused (-1, outputs untouched): anything else,
//  including equal times ("22:00-22:00": say "off"). 0 on success.
int notify_quiet_parse (const char *text, int *start_min_p, int *end_min_p);

//  When a message that must respect quiet hours may go: now_us when the
//  China-time clock at now_us is outside [start, end), else the end of
//  the window (the next end_min o'clock, China time). The window includes
//  its start and excludes its end: with 22:00-07:00, 21:59:59 and 07:00
//  go now; 22:00 and 06:59:59 wait for 07:00. start == end: never quiet.
//  Times are microseconds since the Unix epoch.
int64_t notify_quiet_release_us (int64_t now_us, int start_min, int end_min);

//  True when a message of this rule ignores quiet hours: the rule is
//  flagged urgent, or the request (or a volunteer's offer) is urgent and
//  the audience is staff or the volunteer (residents' messages always
//  wait for the morning).
bool notify_bypass_quiet (const notify_rule_t *rule, bool request_urgent);

//  True when the recipient should get a message of this rule: essential
//  rules (deadline warnings, escalations) reach even those who opted out.
bool notify_wanted (const notify_rule_t *rule, bool opted_out);

//  Digest: updates to one staff member are collected from the first
//  (first_us) for window_ms, then sent as one message. True once the
//  window has passed (window_ms <= 0: at once).
bool notify_digest_due (int64_t first_us, int64_t now_us, int window_ms);

//  When a digest opened at first_us is due.
int64_t notify_digest_release_us (int64_t first_us, int window_ms);

//  Masks for logs and stored rows; each returns a new string (caller
//  frees), never NULL.
//  Phone: first 3 and last 4 digits, "13800001234" -> "138****1234"
//  (gz_phone_mask: formatting and +86 dropped; short or NULL -> "****").
char *notify_mask_phone (const char *phone);

//  Name: the first character (code point) and one '*' per other one,
//  "张小明" -> "张**", "李四" -> "李*"; a one-character name becomes "*";
//  NULL, "" or invalid UTF-8 becomes "*".
char *notify_mask_name (const char *name);

//  E-mail: first character of the local part, "***", and the domain:
//  "zhangsan@example.com" -> "z***@example.com"; without a local part or
//  '@' (or NULL): "***".
char *notify_mask_email (const char *email);

//  A time as residents read it, China time: "12月5日 18:00". Writes into
//  buf (24 bytes suffice); returns buf.
char *notify_china_time (int64_t us, char *buf, size_t size);

//  When a volunteer's task is, as they read it, China time: a one-off
//  window "12月6日 09:00至11:00" (the end's date only when it is another
//  day; from_us alone: "12月6日 09:00"); else a weekly text in matching's
//  syntax in Chinese, "mon-fri 09:00-12:00; sat 14:00-18:00" ->
//  "每周一至周五 09:00-12:00；周六 14:00-18:00"; else "时间详见链接". Writes
//  into buf (truncated to size); returns buf.
char *notify_task_time (int64_t from_us, int64_t to_us, const char *weekly, char *buf, size_t size);

//  Tier (1 local, 2 upper, 3 hard): "本级", "上级", "疑难"; "" otherwise.
const char *notify_tier_text (int tier);

//  Escalation level (0 grid ... 3 department): "网格", "社区", "街道",
//  "区级部门"; "" otherwise.
const char *notify_level_text (int level);

#endif
