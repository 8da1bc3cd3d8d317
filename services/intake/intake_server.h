/*  intake_server: the intake service as a CZMQ actor.

    Takes requests (诉求) in three ways - Open311 GeoReport v2 over HTTP,
    the 码上办 QR phone page, and SubmitRequest commands on a ROUTER
    socket - validates them, commits them to PostgreSQL in shared
    transactions (group commit: concurrent submissions share one commit),
    then announces each as a RequestSubmitted event on the durable bus.

    Pipe commands: gz_actor's ($TERM drains and stops, PORT, BUSPORT,
    EVENTSPORT, RELOAD, STATS, VERBOSE).  */
#ifndef INTAKE_SERVER_H_INCLUDED
#define INTAKE_SERVER_H_INCLUDED

#include <czmq.h>

#include "gz_actor.h"
#include "gz_service.h"
#include "intake_photo.h"
#include <stdbool.h>

typedef struct {
    gz_actor_config_t base; //  GZ_INTAKE_* (HTTP_PORT base+0, BUS base+10, EVENTS
                            //  base+11, SCHEMA "intake", READ_CONNS, WORKERS,
                            //  WORKER_QUEUE, ANSWER_TIMEOUT_MS) and the common ones
    char *public_url;       //  GZ_PUBLIC_URL, for links in pages; default http://127.0.0.1:port
    char *api_keys;         //  GZ_API_KEYS "name=key,name=key" plus GZ_DEMO_API_KEY as "demo"
    double rate;            //  GZ_INTAKE_RATE submissions/s per client (default 50; 0 = off)
    double burst;           //  GZ_INTAKE_BURST (default 200)
    double area_radius_m;   //  GZ_AREA_RADIUS_M: a lat/long farther than this from
                            //  every building is outside the served area (default 1000)
    int max_batch;          //  GZ_INTAKE_MAX_BATCH (default 512)
    int writers;            //  GZ_INTAKE_WRITERS (default 1): committing connections
    char *routing_events;   //  GZ_ROUTING_EVENTS (connect), default tcp://127.0.0.1:base+13
    char *routing_url;    //  GZ_ROUTING_URL, default http://127.0.0.1:base+1 (resident rate/reopen)
    char *routing_schema; //  GZ_ROUTING_SCHEMA, default "routing": whose outbox to follow
    char *contact_key;    //  GZ_NOTIFY_CONTACT_KEY: notify's key to a resident's contact
                          //  (GET /internal/v1/contacts/{id}); NULL: that path is closed
    intake_photo_limits_t photo; //  GZ_INTAKE_PHOTO_MAX_BYTES, _MAX_PIXELS (one photo)
    size_t photo_max_request;    //  GZ_INTAKE_PHOTO_MAX_REQUEST_BYTES: a whole upload
                                 //  (default 32 MiB); 0 in either: the defaults
} intake_config_t;

//  Configuration from GZ_* variables. Free with intake_config_destroy.
intake_config_t *intake_config_from_env (void);
void intake_config_destroy (intake_config_t **self_p);

//  The actor. args is an intake_config_t * (borrowed until the actor
//  signals ready). Signals 0 when ready, -1 on a failed start.
void intake_server (zsock_t *pipe, void *args);

//  The service, for a binary's service table (gz_service_main).
extern const gz_service_def_t intake_service;

#endif
