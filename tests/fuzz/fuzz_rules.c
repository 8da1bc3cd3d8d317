/*  fuzz_rules: libFuzzer harness for routing_rules_parse on arbitrary text
    (an operator's rules file, reloaded on SIGHUP).

    Properties: a refused file always says why ("<source>:..."), and a
    file that parses routes every category intake offers to some rule,
    whatever the description and place (routing_rules.h: never NULL for a
    category the file covers).  */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gz_category.h"
#include "routing_rules.h"

static void
s_require (int ok, const char *what)
{
    if (!ok) {
        fprintf (stderr, "fuzz_rules: property violated: %s\n", what);
        abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    //  routing_rules_parse takes a C string: the text stops at a NUL.
    char *text = malloc (size + 1);
    if (!text)
        abort ();
    memcpy (text, data, size);
    text[size] = 0;
    char err[256];
    err[0] = 0;
    routing_rules_t *rules = routing_rules_parse (text, "fuzz", err, sizeof err);
    if (!rules) {
        s_require (strncmp (err, "fuzz:", 5) == 0, "a refused file names its source");
        s_require (strlen (err) > 6, "a refused file gives a reason");
        free (text);
        return 0;
    }
    //  Descriptions and places from the input itself, so keyword and place
    //  rules get a chance to match.
    size_t half = strlen (text) / 2;
    const char *descriptions[] = {"", text, text + half, NULL};
    size_t ncats = 0;
    const gz_category_t *cats = gz_category_all (&ncats);
    for (size_t i = 0; i < ncats; i++)
        for (size_t d = 0; descriptions[d]; d++) {
            const routing_rule_t *rule =
                routing_rules_match (rules, cats[i].code, descriptions[d], text + half, NULL);
            s_require (rule != NULL, "every category is routed");
            s_require (rule->keywords && rule->co_handlers, "lists are never NULL");
            s_require (rule->respond_s > 0 && rule->resolve_s >= rule->respond_s,
                       "deadlines are sane");
        }
    for (size_t i = 0; i < routing_rules_count (rules); i++) {
        const routing_rule_t *rule = routing_rules_at (rules, i);
        s_require (rule && (rule->lead == ROUTING_LEAD_DEPARTMENT) == (rule->lead_code != NULL),
                   "a department lead has a code");
        for (size_t k = 0; rule->co_handlers[k]; k++)
            s_require (*rule->co_handlers[k] != 0, "co-handler codes are not empty");
    }
    double warn = routing_rules_warn_at (rules);
    s_require (warn > 0 && warn < 1, "warn_at is a share");
    s_require (routing_rules_merge_window_s (rules) > 0 &&
                   routing_rules_reopen_window_s (rules) > 0,
               "windows are positive");
    routing_rules_destroy (&rules);
    free (text);
    return 0;
}
