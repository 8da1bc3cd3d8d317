/*  routing_pages_coord: the coordinator's page of the workbench
    (GET /w/coord, docs/workbench.md). A sub-district coordinator or a
    community's duty or secretary role sees the open and overdue work of
    every unit under them, counted by unit and by person, then listed
    most urgent first with the time left, and can reassign each request
    to another person of those units. The 改派 form posts to
    /w/r/{id}/reassign like every action form (routing_pages.c): the same
    routing_cmd_t as POST /api/v1/requests/{id}/reassign, applied by the
    actor, which authorizes it (routing_commands.c); this page only
    reads (routing_store_coord.c) and renders.  */
#include "gz_text.h"
#include "routing_pages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
s_str (json_t *o, const char *key)
{
    const char *s = json_string_value (json_object_get (o, key));
    return s ? s : "";
}

//  Count it under key in groups ({key: {name, open, late}}), in the
//  order keys first appear.
static void
s_count (json_t *groups, const char *key, const char *name, bool late)
{
    json_t *g = json_object_get (groups, key);
    if (!g) {
        g = json_pack ("{s:s,s:i,s:i}", "name", name, "open", 0, "late", 0);
        json_object_set_new (groups, key, g);
    }
    json_object_set_new (g, "open",
                         json_integer (json_integer_value (json_object_get (g, "open")) + 1));
    if (late)
        json_object_set_new (g, "late",
                             json_integer (json_integer_value (json_object_get (g, "late")) + 1));
}

//  One list of counts (按单位 or 按人员): prefix names the rows' ids.
static void
s_groups (routing_page_t *p, const char *title, const char *prefix, json_t *groups)
{
    routing_page_put (
        p,
        "<div class=\"card\"><b>%s</b><table style=\"width:100%%;border-collapse:collapse\">"
        "<tr class=\"muted\"><td></td><td style=\"width:3.5em\">在办</td>"
        "<td style=\"width:3.5em\">已超时</td></tr>",
        title);
    const char *key;
    json_t *g;
    json_object_foreach (groups, key, g)
    {
        long late = (long) json_integer_value (json_object_get (g, "late"));
        routing_page_put (p, "<tr id=\"");
        routing_page_text (p, prefix);
        routing_page_text (p, key);
        routing_page_put (p, "\"><td>");
        routing_page_text (p, s_str (g, "name"));
        routing_page_put (
            p, "</td><td class=\"n-open\">%ld</td><td class=\"n-late%s\">%ld</td></tr>",
            (long) json_integer_value (json_object_get (g, "open")), late ? " late" : "", late);
    }
    routing_page_put (p, "</table></div>");
}

void
routing_page_reassign_form (routing_page_t *p, const routing_viewer_t *v, const char *id,
                            bool suggest)
{
    routing_page_put (p, "<details class=\"card\"><summary>改派</summary>"
                         "<form method=\"post\" action=\"/w/r/");
    routing_page_text (p, id);
    routing_page_put (
        p,
        "/reassign\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">"
        "<label>改派给（工号）</label><input name=\"to_staff\" required maxlength=\"80\"%s "
        "placeholder=\"辖区内人员的工号\">",
        v->csrf, suggest ? " list=\"people\"" : "");
    routing_page_put (
        p, "<label>原因 <small>（选填）</small></label>"
           "<textarea name=\"text\" maxlength=\"4000\"></textarea>"
           "<p class=\"muted\">只能改派给您所辖单位的人员；改派后由新承办人重新签收。</p>"
           "<button type=\"submit\">改派</button></form></details>");
}

//  The people of the area once, as the suggestions of every 改派 box
//  (a datalist: no script, one copy however many requests).
static void
s_people (routing_page_t *p, json_t *people)
{
    routing_page_put (p, "<datalist id=\"people\">");
    size_t i;
    json_t *s;
    json_array_foreach (people, i, s)
    {
        routing_page_put (p, "<option value=\"");
        routing_page_text (p, s_str (s, "staff_id"));
        routing_page_put (p, "\">");
        routing_page_text (p, s_str (s, "name"));
        routing_page_put (p, "（");
        routing_page_text (p, s_str (s, "unit_name"));
        routing_page_put (p, "）</option>");
    }
    routing_page_put (p, "</datalist>");
}

//  One request of the list: number, category, state, assignee, time left,
//  and its 改派 form.
static void
s_item (routing_page_t *p, const routing_viewer_t *v, json_t *it, int64_t now_us)
{
    const char *id = s_str (it, "id");
    json_t *as = json_object_get (it, "assignee");
    routing_page_put (p, "<li class=\"card\" id=\"r-");
    routing_page_text (p, id);
    routing_page_put (p, "\"><a href=\"/w/r/");
    routing_page_text (p, id);
    routing_page_put (p, "\"><span class=\"num\">");
    routing_page_text (p, id);
    routing_page_put (p, "</span> <b>%s</b> · %s</a><br><span class=\"muted\">承办：",
                      routing_page_category_zh (s_str (it, "category")),
                      routing_page_state_zh (s_str (it, "state")));
    routing_page_text (p, *s_str (as, "name") ? s_str (as, "name") : "（未指定人员）");
    routing_page_put (p, "（");
    routing_page_text (p, s_str (as, "unit_name"));
    routing_page_put (p, "） 地点：");
    routing_page_text (p, *s_str (it, "building_code") ? s_str (it, "building_code") : "未填楼栋");
    routing_page_put (p, "</span><br>");
    routing_page_time_left (p, s_str (it, "next_due"), now_us);
    routing_page_reassign_form (p, v, id, true);
    routing_page_put (p, "</li>");
}

static void
s_render (gz_http_req_t *req, const routing_viewer_t *v, json_t *items, json_t *people,
          int64_t now_us)
{
    json_t *units = json_object (), *persons = json_object ();
    size_t i, late = 0;
    json_t *it;
    json_array_foreach (items, i, it)
    {
        json_t *as = json_object_get (it, "assignee");
        bool overdue = routing_page_overdue (s_str (it, "next_due"), now_us);
        late += overdue;
        s_count (units, s_str (as, "unit_code"), s_str (as, "unit_name"), overdue);
        const char *who = *s_str (as, "staff_id") ? s_str (as, "staff_id") : "";
        char name[256];
        snprintf (name, sizeof name, "%s（%s）", *who ? s_str (as, "name") : "未指定人员",
                  s_str (as, "unit_name"));
        s_count (persons, *who ? who : s_str (as, "unit_code"), name, overdue);
    }
    routing_page_t p;
    routing_page_begin (&p, "协调", v);
    routing_page_put (&p,
                      "<div class=\"counts card\"><div><b id=\"open\">%zu</b>在办</div>"
                      "<div><b id=\"late\" class=\"%s\">%zu</b>已超时</div></div>",
                      json_array_size (items), late ? "late" : "", late);
    if (json_array_size (items) == 0)
        routing_page_put (&p, "<div class=\"card\">辖区内目前没有在办诉求。</div>");
    else {
        s_groups (&p, "按单位", "u-", units);
        s_groups (&p, "按人员", "p-", persons);
    }
    routing_page_put (&p, "<ul class=\"q\">");
    json_array_foreach (items, i, it)
    {
        s_item (&p, v, it, now_us);
    }
    routing_page_put (&p, "</ul>");
    s_people (&p, people);
    routing_page_send (req, 200, &p);
    json_decref (units);
    json_decref (persons);
}

void
routing_page_coord (routing_t *ctx, gz_http_req_t *req)
{
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    routing_viewer_t v;
    int rc = routing_page_viewer (db, req, &v);
    bool coord = rc == 1 && routing_coordinator_role (v.caller.role);
    json_t *items = coord ? routing_coord_open (db, v.caller.unit) : NULL;
    json_t *people = items ? routing_coord_people (db, v.caller.unit) : NULL;
    gz_dbpool_put (ctx->pool, db);
    if (rc == 1 && !coord)
        routing_page_notice (req, 403, &v, "无权查看", "协调页面仅供街道、社区的协调人员使用。");
    else if (rc == 1 && (!items || !people))
        routing_page_notice (req, 503, NULL, "系统繁忙", "系统繁忙，请稍后再试。");
    else if (rc == 1)
        s_render (req, &v, items, people, gz_actor_now_us (ctx->actor));
    json_decref (items);
    json_decref (people);
}

//  ---------------------------------------------------------------- messages

const char *
routing_page_coord_message (const char *code, bool *ok)
{
    static const char *const msgs[][2] = {
        {"ok-reassign", "已改派，等待新承办人签收。"},
        {"reassign-outside", "操作未完成：只能改派给您所辖单位（本街道或社区及其下属网格）的人员，"
                             "这位人员不在您的辖区。"},
        {"reassign-forbidden", "操作未完成：只有街道、社区的协调人员可以改派其辖区内的诉求。"},
        {"reassign-unprocessable", "操作未完成：人员不存在，或这件诉求已由此人承办。"},
    };
    for (size_t i = 0; code && i < sizeof msgs / sizeof msgs[0]; i++)
        if (strcmp (msgs[i][0], code) == 0) {
            *ok = strncmp (code, "ok-", 3) == 0;
            return msgs[i][1];
        }
    return NULL;
}

const char *
routing_page_coord_code (const routing_cmd_t *cmd)
{
    if (!cmd->action || strcmp (cmd->action, "reassign") != 0)
        return NULL;
    if (strcmp (cmd->error, "outside_area") == 0)
        return "reassign-outside";
    if (cmd->status == 403)
        return "reassign-forbidden";
    if (cmd->status == 422)
        return "reassign-unprocessable";
    return NULL;
}
