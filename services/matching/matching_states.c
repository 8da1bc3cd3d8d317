/*  matching_states: the transition tables (matching_states.h).  */
#include "matching_states.h"

#include <stddef.h>
#include <string.h>

typedef struct {
    const char *from;
    const char *action;
    const char *to;
} s_row_t;

static const s_row_t s_need[] = {
    {"open", "offer", "offered"},
    {"offered", "accept", "matched"},
    {"offered", "decline", "open"},
    {"offered", "expire", "open"},
    {"matched", "complete", "done"},
    {"matched", "repeat", "open"},
    {"open", "cancel", "cancelled"},
    {"offered", "cancel", "cancelled"},
    {NULL, NULL, NULL},
};

static const s_row_t s_offer[] = {
    {"offered", "accept", "accepted"},
    {"offered", "decline", "declined"},
    {"offered", "expire", "expired"},
    {"offered", "cancel", "cancelled"},
    {NULL, NULL, NULL},
};

static const s_row_t s_service[] = {
    {"scheduled", "checkin", "in_progress"},
    {"in_progress", "checkout", "completed"},
    {"scheduled", "checkout", "completed"},
    {"completed", "confirm", "confirmed"},
    {NULL, NULL, NULL},
};

const char *
mt_state_next (mt_machine_t machine, const char *state, const char *action)
{
    const s_row_t *t = machine == MT_NEED ? s_need : machine == MT_OFFER ? s_offer : s_service;
    if (!state || !action)
        return NULL;
    for (; t->from; t++)
        if (strcmp (t->from, state) == 0 && strcmp (t->action, action) == 0)
            return t->to;
    return NULL;
}
