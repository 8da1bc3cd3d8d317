/*  matching_ops_points: the ops that move points (docs/matching.md,
    "Points and the supermarket"): a redemption at the supermarket, an
    item stocked, a meeting's attendance; and matching_award, the one way
    points are earned (a confirmed service, a satisfied report, a
    meeting), each once per source key with its PointsAwarded event.  */
#include "gz_log.h"
#include "matching.h"

#include <stdio.h>
#include <string.h>

int
matching_award (matching_t *ctx, gz_db_t *db, const matching_award_t *a, int64_t *balance)
{
    int64_t after = 0;
    int moved = matching_ledger_award (db, a->account, a->community, a->points, a->reason,
                                       a->source, a->memo, &after);
    if (balance)
        *balance = after;
    if (moved < 0)
        return -1;
    if (moved == 1) {
        Gongzhi__V1__MatchingEvent ev = GONGZHI__V1__MATCHING_EVENT__INIT;
        ev.kind = "points_awarded";
        ev.account = (char *) a->account;
        ev.points = a->points;
        ev.balance = after;
        ev.reason = (char *) a->reason;
        ev.source_key = (char *) a->source;
        ev.service_id = a->service_id;
        ev.volunteer_id = (char *) (a->volunteer_id ? a->volunteer_id : "");
        ev.request_id = (char *) (a->request_id ? a->request_id : "");
        ev.community_code = (char *) (a->community ? a->community : "");
        matching_emit (ctx, "PointsAwarded", a->account, &ev);
        gz_metrics_add (ctx->metrics, "gz_matching_points_total", "reason=\"earned\"",
                        (double) a->points);
    }
    return moved;
}

int
matching_op_redeem (matching_t *ctx, matching_op_t *op)
{
    matching_redeem_t r;
    memset (&r, 0, sizeof r);
    int rc = matching_ledger_redeem (ctx->db, op->account, op->item_id, op->quantity, op->key, &r);
    switch (rc) {
        case -2:
            return matching_op_fail (op, 409, "insufficient_points", "not enough points");
        case -3:
            return matching_op_fail (op, 409, "out_of_stock", "not enough stock");
        case -4:
            return matching_op_fail (op, 404, "not_found", "no item %s", op->item_id);
        case -5:
            return matching_op_fail (op, 422, "idempotency_mismatch",
                                     "the key was used for another redemption");
        case -6:
            return matching_op_fail (op, 400, "bad_request", "bad account");
        case 0:
        case 1:
            break;
        default:
            return -1;
    }
    if (rc == 1) {
        Gongzhi__V1__MatchingEvent ev = GONGZHI__V1__MATCHING_EVENT__INIT;
        ev.kind = "points_redeemed";
        ev.account = op->account;
        ev.points = r.points;
        ev.balance = r.balance;
        ev.reason = "redeem";
        ev.item_id = op->item_id;
        ev.quantity = op->quantity;
        ev.community_code = r.community;
        matching_emit (ctx, "PointsRedeemed", op->account, &ev);
    }
    op->status = rc == 1 ? 201 : 200;
    op->reply =
        json_pack ("{s:I,s:s,s:s,s:s,s:i,s:I,s:I,s:i,s:b}", "redemption",
                   (json_int_t) r.redemption_id, "account", op->account, "item", op->item_id,
                   "name", r.item_name, "quantity", op->quantity, "points", (json_int_t) r.points,
                   "balance", (json_int_t) r.balance, "stock", r.stock, "duplicate", rc == 0);
    return 0;
}

//  A shop item, created or updated (operators).
int
matching_op_item (matching_t *ctx, matching_op_t *op)
{
    if (!ctx->org || !gz_org_unit_level (ctx->org, op->community) ||
        strcmp (gz_org_unit_level (ctx->org, op->community), "community") != 0)
        return matching_op_fail (op, 422, "bad_field", "community: no community %s", op->community);
    int rc = matching_ledger_item_put (ctx->db, op->item_id, op->community, op->comment, op->price,
                                       op->stock, op->active);
    if (rc < 0)
        return -1;
    op->status = 200;
    op->reply = json_pack ("{s:s,s:s,s:s,s:I,s:i,s:b}", "id", op->item_id, "community",
                           op->community, "name", op->comment, "price", (json_int_t) op->price,
                           "stock", op->stock, "active", op->active);
    return 0;
}

//  A 逢四说事 meeting's attendance, recorded by staff: each account present
//  earns the meeting rule's points once (meeting:<id>:<account>). The
//  meeting must be one routing recorded, and no more people than it
//  counted.
int
matching_op_meeting (matching_t *ctx, matching_op_t *op)
{
    char community[72] = "";
    int participants = matching_store_meeting (ctx->db, op->item_id, community, sizeof community);
    if (participants == -2)
        return -1;
    if (participants < 0)
        return matching_op_fail (op, 404, "not_found", "no meeting %s", op->item_id);
    if ((int) op->n_accounts > participants)
        return matching_op_fail (op, 422, "bad_field",
                                 "accounts: %zu people, the meeting counted %d", op->n_accounts,
                                 participants);
    json_t *awarded = json_array ();
    op->reply = json_pack ("{s:s,s:o}", "meeting", op->item_id, "awarded", awarded);
    for (size_t i = 0; i < op->n_accounts; i++) {
        char source[200];
        snprintf (source, sizeof source, "meeting:%s:%s", op->item_id, op->accounts[i]);
        matching_award_t a = {.account = op->accounts[i],
                              .community = community,
                              .points = ctx->points.meeting,
                              .reason = "meeting",
                              .source = source,
                              .memo = "参加逢四说事"};
        int64_t balance = 0;
        int moved = ctx->points.meeting > 0 ? matching_award (ctx, ctx->db, &a, &balance) : 0;
        if (moved < 0)
            return -1;
        json_array_append_new (awarded,
                               json_pack ("{s:s,s:I,s:I}", "account", op->accounts[i], "points",
                                          (json_int_t) (moved == 1 ? ctx->points.meeting : 0),
                                          "balance", (json_int_t) balance));
    }
    op->status = 200;
    return 0;
}
