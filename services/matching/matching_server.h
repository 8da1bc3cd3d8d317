/*  matching_server: the matching service as a CZMQ actor (专业社工 +
    志愿服务, 积分超市; docs/matching.md).

    Keeps the registry of volunteers and social workers and the needs of
    households; every GZ_MATCHING_BATCH_MS (and on demand) matches the open
    needs to volunteers optimally (matching_pairs.h builds the feasible
    pairs and their costs, matching_solver.h solves them) and sends each
    chosen volunteer an offer (an event notify delivers). Offers are
    accepted or declined over HTTP or the bus; one unanswered for
    GZ_MATCHING_OFFER_TTL_S is a decline. Accepted offers become service
    records (check-in, check-out, confirmation and rating), and confirmed
    hours earn points in a double-entry ledger that the points supermarket
    spends (matching_ledger_store.c).

    Follows intake's stream (who reported what, on which channel) and
    routing's (routed requests of the need categories become needs; a
    report rated satisfied earns its reporter points).

    Pipe commands: gz_actor's ($TERM, PORT, BUSPORT, EVENTSPORT, RELOAD,
    STATS, VERBOSE) and matching's own: CLOCK <unix-microseconds> (the test
    clock for offer expiry; 0 = the real one), MATCH (run a batch now;
    signals the number of offers made, or -1).  */
#ifndef MATCHING_SERVER_H_INCLUDED
#define MATCHING_SERVER_H_INCLUDED

#include <czmq.h>

#include "gz_actor.h"
#include "gz_service.h"
#include "matching_pairs.h"

typedef struct {
    gz_actor_config_t base; //  GZ_MATCHING_* (HTTP base+2, bus base+14, events base+15,
                            //  SCHEMA "matching") and the common ones
    char *intake_schema;    //  GZ_INTAKE_SCHEMA ("intake"): the outbox followed
    char *intake_events;    //  GZ_INTAKE_EVENTS
    char *routing_schema;   //  GZ_ROUTING_SCHEMA ("routing"): its outbox and the tokens
    char *routing_events;   //  GZ_ROUTING_EVENTS
    int batch_ms;           //  GZ_MATCHING_BATCH_MS (3000; 0: only on demand)
    int offer_ttl_s;        //  GZ_MATCHING_OFFER_TTL_S (1800)
    char *need_categories;  //  GZ_MATCHING_NEED_CATEGORIES ("elderly_care=elderly_care"):
                            //  category=skill pairs; routed requests of them make needs
    char *weights;          //  GZ_MATCHING_WEIGHTS ("": the defaults; "per_km=100,...")
    char *points;           //  GZ_MATCHING_POINTS ("report=5,rider_report=10,hour=10,meeting=2")
    char *contact_key;      //  GZ_NOTIFY_CONTACT_KEY: notify's key for the internal path
    char *public_url;       //  GZ_MATCHING_PUBLIC_URL: the offer links' base
} matching_config_t;

//  Configuration from GZ_* variables. Free with matching_config_destroy.
matching_config_t *matching_config_from_env (void);
void matching_config_destroy (matching_config_t **self_p);

//  The actor. args is a matching_config_t * (borrowed until the actor
//  signals ready). Signals 0 when ready, 1 on a failed start.
void matching_server (zsock_t *pipe, void *args);

//  The service, for a binary's service table (gz_service_main).
extern const gz_service_def_t matching_service;

#endif
