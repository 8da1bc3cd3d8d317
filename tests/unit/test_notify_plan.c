/*  Unit tests for notify_plan: the built-in defaults load, say who hears
    what as issue 9 asks, and every default template renders with a full
    set of variables (and the short ones fit one SMS); plans and template
    directories with errors are refused with file:line.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "notify_plan.h"
#include "notify_policy.h"

//  A full set of variables, with realistic lengths.
static json_t *
s_full_vars (void)
{
    return json_pack (
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, "
        "s:s, s:s, s:s, s:s, s:s}",
        "request_id", "100001", "category", "道路破损", "place", "和平里七区12号楼", "deadline",
        "12月5日 18:00", "deadline_kind", "办结", "assignee_unit", "和平里社区", "assignee_name",
        "张**", "status_link", "https://gz.example.cn/r/100001?t=Q2hhbmdlTWVQbGVhc2U", "result",
        "已修补路面", "note", "非本单位职责", "level", "街道", "score", 5, "tier", "疑难",
        "lead_unit", "区住建委", "task", "陪同老人就医", "when", "12月6日 09:00至11:00", "name",
        "郑小明", "expires", "12月5日 18:30", "offer_link",
        "https://gz.example.cn/o/1234?t=0123456789abcdef0123456789abcdef");
}

static notify_plan_t *
s_defaults (void)
{
    char err[512] = "";
    notify_plan_t *plan = notify_plan_load (NULL, err, sizeof err);
    if (!plan)
        fail_msg ("built-in plan refused: %s", err);
    return plan;
}

//  The rule for (event, audience), or NULL.
static const notify_rule_t *
s_rule (const notify_plan_t *plan, const char *event, notify_audience_t audience)
{
    const notify_rule_t *rules;
    size_t n = notify_plan_match (plan, event, &rules);
    for (size_t i = 0; i < n; i++)
        if (rules[i].audience == audience)
            return &rules[i];
    return NULL;
}

static void
test_defaults_say_who_hears_what (void **state)
{
    (void) state;
    notify_plan_t *plan = s_defaults ();
    //  Residents: routed, resolved, reopened, closed; nothing internal.
    const char *resident[] = {"routed", "resolved", "reopened", "closed"};
    for (size_t i = 0; i < 4; i++) {
        const notify_rule_t *r = s_rule (plan, resident[i], NOTIFY_RESIDENT);
        assert_non_null (r);
        assert_false (r->essential);
        assert_false (r->urgent);
    }
    const char *quiet[] = {"accepted", "verified",  "started",     "note",      "rated",
                           "merged",   "submitted", "transferred", "reassigned"};
    for (size_t i = 0; i < 9; i++)
        assert_null (s_rule (plan, quiet[i], NOTIFY_RESIDENT));
    //  Staff: new work, reopen, the warning; the next rung on escalation.
    const char *work[] = {"routed", "transferred", "returned", "reopened", "reassigned"};
    for (size_t i = 0; i < 5; i++)
        assert_non_null (s_rule (plan, work[i], NOTIFY_ASSIGNEE));
    //  A coordinator's reassign: the new assignee, as on a transfer.
    const notify_rule_t *re = s_rule (plan, "reassigned", NOTIFY_ASSIGNEE);
    assert_string_equal (re->template_name, "reassigned.assignee");
    assert_false (re->essential || re->urgent);
    const notify_rule_t *reassigned;
    assert_int_equal (notify_plan_match (plan, "reassigned", &reassigned), 1);
    const notify_rule_t *warn = s_rule (plan, "deadline_warning", NOTIFY_ASSIGNEE);
    assert_non_null (warn);
    assert_true (warn->essential && warn->urgent);
    assert_true (notify_wanted (warn, true)); //  cannot be opted out of
    const notify_rule_t *esc = s_rule (plan, "escalated", NOTIFY_NEXT_RUNG);
    assert_non_null (esc);
    assert_true (esc->essential && esc->urgent);
    assert_string_equal (esc->template_name, "escalated.next_rung");
    assert_ptr_equal (esc->template_, notify_plan_template (plan, "escalated.next_rung"));
    //  Hard requests: lead and co-handlers, only for tier hard.
    const notify_rule_t *lead = s_rule (plan, "routed", NOTIFY_LEAD);
    const notify_rule_t *co = s_rule (plan, "routed", NOTIFY_CO_HANDLER);
    assert_non_null (lead);
    assert_non_null (co);
    assert_true (notify_rule_applies (lead, 3) && notify_rule_applies (co, 3));
    assert_false (notify_rule_applies (lead, 1) || notify_rule_applies (co, 2));
    assert_false (notify_rule_applies (lead, 0));
    assert_true (notify_rule_applies (s_rule (plan, "routed", NOTIFY_ASSIGNEE), 0));
    //  Volunteers, and events nobody hears.
    assert_non_null (s_rule (plan, "offered", NOTIFY_VOLUNTEER));
    assert_non_null (s_rule (plan, "reminder", NOTIFY_VOLUNTEER));
    const notify_rule_t *rules;
    assert_int_equal (notify_plan_match (plan, "rated", &rules), 0);
    assert_null (rules);
    assert_int_equal (notify_plan_match (plan, "no_such_event", &rules), 0);
    //  Settings.
    int start, end;
    notify_plan_quiet_hours (plan, &start, &end);
    assert_int_equal (start, 22 * 60);
    assert_int_equal (end, 7 * 60);
    assert_int_equal (notify_plan_digest_window_ms (plan), 10 * 60 * 1000);
    notify_plan_destroy (&plan);
    notify_plan_destroy (&plan);
}

//  Every default template renders with a full set of variables, leaves
//  no brace behind, and (with a subject) renders its subject. The short
//  texts fit one SMS segment; docs/notify-plan.md lists the same ones.
static void
test_defaults_render_and_sms_segments (void **state)
{
    (void) state;
    notify_plan_t *plan = s_defaults ();
    json_t *vars = s_full_vars ();
    //  Two segments: the ones that carry the status or answer link.
    const char *two[] = {"routed.resident", "resolved.resident", "offered.volunteer"};
    size_t rendered = 0;
    const char *const *events = notify_plan_events ();
    for (size_t e = 0; events[e]; e++) {
        const notify_rule_t *rules;
        size_t n = notify_plan_match (plan, events[e], &rules);
        for (size_t i = 0; i < n; i++, rendered++) {
            char *body = notify_template_render (rules[i].template_, vars);
            char *subject = notify_template_render_subject (rules[i].template_, vars);
            assert_non_null (subject);
            assert_null (strchr (body, '{'));
            assert_null (strchr (subject, '{'));
            assert_non_null (strstr (body, "100001") ? body : subject);
            size_t chars;
            int segments = notify_sms_segments (body, &chars);
            int want = 1;
            for (size_t k = 0; k < sizeof two / sizeof two[0]; k++)
                if (!strcmp (rules[i].template_name, two[k]))
                    want = 2;
            if (segments != want)
                fail_msg ("%s: %zu characters, %d segments (want %d): %s", rules[i].template_name,
                          chars, segments, want, body);
            free (body);
            free (subject);
        }
    }
    assert_int_equal (rendered, 15);
    json_decref (vars);
    notify_plan_destroy (&plan);
}

//  Builds a plan from text with templates named by names (each template
//  text "{request_id}").
static notify_plan_t *
s_plan (const char *text, char *err, size_t errlen)
{
    const char *names[] = {"a", "b"};
    notify_template_t *templates[2];
    for (size_t i = 0; i < 2; i++)
        templates[i] = notify_template_parse ("{request_id}", names[i], NULL, 0);
    notify_plan_t *plan = notify_plan_parse (text, "p.plan", names, templates, 2, err, errlen);
    assert_null (templates[0]); //  taken, success or not
    return plan;
}

static void
s_plan_refused (const char *text, const char *want)
{
    char err[512] = "";
    notify_plan_t *plan = s_plan (text, err, sizeof err);
    if (plan || strcmp (err, want))
        fail_msg ("expected \"%s\", got %s \"%s\"", want, plan ? "success" : "error", err);
}

static void
test_plan_errors_name_their_line (void **state)
{
    (void) state;
    s_plan_refused ("# c\n\nrouted resident a\nroute resident a\n",
                    "p.plan:4: unknown event \"route\"");
    s_plan_refused ("routed residents a -\n",
                    "p.plan:1: unknown audience \"residents\" (resident, assignee, next_rung, "
                    "lead, co_handler, volunteer)");
    s_plan_refused ("\n\nrouted resident c\n",
                    "p.plan:3: unknown template \"c\" (no templates/c.txt)");
    s_plan_refused ("routed resident a loud\n",
                    "p.plan:1: unknown flag \"loud\" (essential, urgent, tier=...)");
    s_plan_refused ("routed lead a tier=difficult\n",
                    "p.plan:1: unknown tier \"difficult\" (local, upper, hard)");
    s_plan_refused ("routed resident a\nrouted resident b urgent\n",
                    "p.plan:2: routed resident already has a rule at line 1");
    s_plan_refused ("routed lead a tier=hard\nrouted lead b tier=upper|hard\n",
                    "p.plan:2: routed lead already has a rule at line 1");
    s_plan_refused ("routed resident\n",
                    "p.plan:1: a rule is \"<event> <audience> <template> [flags]\"");
    s_plan_refused ("routed resident a - extra\n",
                    "p.plan:1: a rule is \"<event> <audience> <template> [flags]\"");
    s_plan_refused ("set quiet_hours 22:00-22:00\n",
                    "p.plan:1: bad quiet_hours \"22:00-22:00\" (HH:MM-HH:MM or off)");
    s_plan_refused ("set digest_window 10x\n",
                    "p.plan:1: bad digest_window \"10x\" (e.g. 10m, 90s, 0)");
    s_plan_refused ("set loudness 11\n",
                    "p.plan:1: unknown setting \"loudness\" (quiet_hours, digest_window)");
    s_plan_refused ("routed resident a # 注释\n路由 resident a\n",
                    "p.plan:2: unknown event \"路由\"");

    //  A good one: comments, CRLF, tiers, settings.
    char err[512] = "";
    notify_plan_t *plan =
        s_plan ("\xEF\xBB\xBF# 计划\r\nset quiet_hours off\r\nset digest_window 90s\r\n"
                "routed lead a tier=hard # 牵头\r\nrouted lead b tier=local|upper\r\n"
                "escalated next_rung b essential,urgent\r\n",
                err, sizeof err);
    if (!plan)
        fail_msg ("refused: %s", err);
    const notify_rule_t *rules;
    assert_int_equal (notify_plan_match (plan, "routed", &rules), 2);
    assert_int_equal (rules[0].line, 4);
    assert_string_equal (rules[1].template_name, "b");
    assert_true (notify_rule_applies (&rules[1], 1) && !notify_rule_applies (&rules[1], 3));
    int start = -1, end = -1;
    notify_plan_quiet_hours (plan, &start, &end);
    assert_int_equal (start, 0);
    assert_int_equal (end, 0);
    assert_int_equal (notify_plan_digest_window_ms (plan), 90 * 1000);
    assert_null (notify_plan_template (plan, "c"));
    notify_plan_destroy (&plan);
}

static void
s_write (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

//  A plan directory on disk: loads; a broken template (even one the plan
//  does not use) or an unknown name is refused with the file's path.
static void
test_plan_directory (void **state)
{
    (void) state;
    char dir[] = "/tmp/test_notify_plan.XXXXXX";
    assert_non_null (mkdtemp (dir));
    char path[512], tdir[128], plan_path[256], want[1024], err[1024] = "";
    snprintf (tdir, sizeof tdir, "%s/templates", dir);
    assert_int_equal (mkdir (tdir, 0700), 0);
    snprintf (plan_path, sizeof plan_path, "%s/notify.plan", dir);
    s_write (plan_path, "# 测试\nclosed resident closed.resident\n");
    snprintf (path, sizeof path, "%s/closed.resident.txt", tdir);
    s_write (path, "subject: 结案\n您的诉求{request_id}已结案。\n");
    notify_plan_t *plan = notify_plan_load (dir, err, sizeof err);
    if (!plan)
        fail_msg ("refused: %s", err);
    json_t *vars = json_pack ("{s:s}", "request_id", "42");
    char *body = notify_template_render (notify_plan_template (plan, "closed.resident"), vars);
    assert_string_equal (body, "您的诉求42已结案。");
    free (body);
    json_decref (vars);
    notify_plan_destroy (&plan);

    //  An unused template with an unknown variable on line 3.
    char bad[512];
    snprintf (bad, sizeof bad, "%s/spare.txt", tdir);
    s_write (bad, "subject: 备用\n\n你好{phone}\n");
    assert_null (notify_plan_load (dir, err, sizeof err));
    snprintf (want, sizeof want, "%s:3: unknown variable {phone}", bad);
    assert_string_equal (err, want);
    assert_int_equal (unlink (bad), 0);

    //  The plan names a template that is not there.
    s_write (plan_path, "closed resident closed.resident\n\nresolved resident resolved.resident\n");
    assert_null (notify_plan_load (dir, err, sizeof err));
    snprintf (want, sizeof want,
              "%s:3: unknown template \"resolved.resident\" (no templates/resolved.resident.txt)",
              plan_path);
    assert_string_equal (err, want);

    //  No plan file at all.
    assert_int_equal (unlink (plan_path), 0);
    assert_null (notify_plan_load (dir, err, sizeof err));
    assert_non_null (strstr (err, "notify.plan: cannot open"));
    assert_int_equal (unlink (path), 0);
    assert_int_equal (rmdir (tdir), 0);
    assert_int_equal (rmdir (dir), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_defaults_say_who_hears_what),
        cmocka_unit_test (test_defaults_render_and_sms_segments),
        cmocka_unit_test (test_plan_errors_name_their_line),
        cmocka_unit_test (test_plan_directory),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
