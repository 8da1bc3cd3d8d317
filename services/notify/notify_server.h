/*  notify_server: the notify service as a CZMQ actor (结果反馈: everyone
    hears what concerns them, once).

    Follows intake's stream (what it learns of each request: category,
    place, whether the resident left a contact), routing's (every
    transition) and matching's (offers to volunteers), and for each event asks the plan
   (notify_plan.h) who must hear it: the resident, the assignee, the next rung of an escalation, a
   hard request's lead and co-handlers, the volunteer offered a task. Each (event, recipient,
    channel) becomes one delivery row, committed with the consumer's
    cursor before any attempt; per-channel workers (notify_deliver.c)
    send them with retries and backoff, then dead-letter them. Residents'
    contacts stay in intake: a worker asks intake for one when it sends
    (GET /internal/v1/contacts/{id}, GZ_NOTIFY_CONTACT_KEY) and keeps it
    only for the call; a volunteer's phone and answer link likewise come
    from matching (GET /internal/v1/offers/{id}, the same key).

    Pipe commands: gz_actor's ($TERM, PORT, RELOAD, STATS, VERBOSE) and
    notify's own: CLOCK <unix-microseconds> (the test clock for quiet
    hours; 0 = the real one; signals 0).  */
#ifndef NOTIFY_SERVER_H_INCLUDED
#define NOTIFY_SERVER_H_INCLUDED

#include <czmq.h>

#include "gz_actor.h"
#include "gz_service.h"
#include "notify_channel.h"

typedef struct {
    gz_actor_config_t base;         //  GZ_NOTIFY_* (HTTP_PORT base+3, SCHEMA "notify",
                                    //  READ_CONNS, WORKERS, WORKER_QUEUE) and the common ones
    char *intake_schema;            //  GZ_INTAKE_SCHEMA ("intake"): the outbox followed
    char *intake_events;            //  GZ_INTAKE_EVENTS: its PUB
    char *routing_schema;           //  GZ_ROUTING_SCHEMA ("routing"): outbox and tokens
    char *routing_events;           //  GZ_ROUTING_EVENTS
    char *matching_schema;          //  GZ_MATCHING_SCHEMA ("matching"): offers
    char *matching_events;          //  GZ_MATCHING_EVENTS
    char *intake_url;               //  GZ_INTAKE_URL (http://127.0.0.1:base+0)
    char *matching_url;             //  GZ_MATCHING_URL (http://127.0.0.1:base+2)
    char *contact_key;              //  GZ_NOTIFY_CONTACT_KEY; NULL: residents and
                                    //  volunteers get no message
    char *public_url;               //  GZ_PUBLIC_URL: the status link's base
    char *plan_dir;                 //  GZ_NOTIFY_PLAN; NULL: the built-in plan
    char *quiet_hours;              //  GZ_NOTIFY_QUIET_HOURS (NULL: the plan's, 22:00-07:00)
    char *resident_channels;        //  GZ_NOTIFY_RESIDENT_CHANNELS ("webhook,sms,email,log")
    char *staff_channels;           //  GZ_NOTIFY_STAFF_CHANNELS ("webhook,wechat,sms,email,log")
    char *volunteer_channels;       //  GZ_NOTIFY_VOLUNTEER_CHANNELS (the residents' list)
    notify_channels_config_t chans; //  GZ_NOTIFY_WEBHOOK_*, _SMS_*, _SMTP_*, _WECHAT_*
    int channel_workers;            //  GZ_NOTIFY_CHANNEL_WORKERS (4 per channel)
    int max_attempts;               //  GZ_NOTIFY_MAX_ATTEMPTS (8): then dead
    int backoff_ms;                 //  GZ_NOTIFY_BACKOFF_MS (1000): first retry, doubling
    int backoff_max_ms;             //  GZ_NOTIFY_BACKOFF_MAX_MS (600000)
    int digest_window_ms;           //  GZ_NOTIFY_DIGEST_WINDOW_MS (-1: the plan's, 10 min)
    int recipient_per_hour;         //  GZ_NOTIFY_RECIPIENT_PER_HOUR (20; 0: no limit)
    char *channel_rates;            //  GZ_NOTIFY_CHANNEL_RATE ("sms=10,email=5" per second; "")
} notify_config_t;

//  Configuration from GZ_* variables. Free with notify_config_destroy.
notify_config_t *notify_config_from_env (void);
void notify_config_destroy (notify_config_t **self_p);

//  The actor. args is a notify_config_t * (borrowed until the actor
//  signals ready). Signals 0 when ready, -1 on a failed start.
void notify_server (zsock_t *pipe, void *args);

//  The service, for a binary's service table (gz_service_main).
extern const gz_service_def_t notify_service;

#endif
