/*  analytics_server: the analytics service as a CZMQ actor (the three
    rates, rankings, hot spots; docs/analytics.md).

    Follows intake's and routing's streams into one fact per request and
    daily rollups per node of the ladder, each batch written with a few
    multi-row statements in the transaction that stores the cursor
    (exactly once). Serves the numbers over HTTP on base+4.

    Pipe commands: gz_actor's ($TERM, PORT, RELOAD, STATS, VERBOSE) and
    CLOCK <unix-microseconds> (the test clock for "deadline passed"; 0 =
    the real one; signals 0).  */
#ifndef ANALYTICS_SERVER_H_INCLUDED
#define ANALYTICS_SERVER_H_INCLUDED

#include <czmq.h>

#include "gz_actor.h"
#include "gz_service.h"

typedef struct {
    gz_actor_config_t base; //  GZ_ANALYTICS_* (HTTP base+4, SCHEMA "analytics") and the common ones
    char *intake_schema;    //  GZ_INTAKE_SCHEMA ("intake"): the outbox followed
    char *intake_events;    //  GZ_INTAKE_EVENTS
    char *routing_schema;   //  GZ_ROUTING_SCHEMA ("routing"): its outbox and the tokens
    char *routing_events;   //  GZ_ROUTING_EVENTS
    char *matching_schema;  //  GZ_MATCHING_SCHEMA ("matching"): its outbox
    char *matching_events;  //  GZ_MATCHING_EVENTS
    char *notify_schema;    //  GZ_NOTIFY_SCHEMA ("notify"): its outbox
    char *notify_events;    //  GZ_NOTIFY_EVENTS
    int min_sample;         //  GZ_ANALYTICS_MIN_SAMPLE (20): fewer cohort requests: not ranked
    int hotspot_min;        //  GZ_ANALYTICS_HOTSPOT_MIN (3): requests that make a hot spot
    int hotspot_days;       //  GZ_ANALYTICS_HOTSPOT_DAYS (30): in this many days
} analytics_config_t;

//  Configuration from GZ_* variables. Free with analytics_config_destroy.
analytics_config_t *analytics_config_from_env (void);
void analytics_config_destroy (analytics_config_t **self_p);

//  The actor. args is an analytics_config_t * (borrowed until ready).
void analytics_server (zsock_t *pipe, void *args);

//  The service, for a binary's service table (gz_service_main).
extern const gz_service_def_t analytics_service;

#endif
