/*  routing_server: the routing service as a CZMQ actor (the closed loop:
    分类分级、派单、时限、督办、反馈).

    Consumes RequestSubmitted from intake's stream, classifies each request
    with the rules (routing_rules.h), merges it into an open duplicate or
    assigns it to a named person with two deadlines, and then runs its
    lifecycle: worker commands over HTTP (GZ_ROUTING_HTTP_PORT) and the bus
    (WorkerCommand on a ROUTER), resident ratings and reopens, and durable
    deadline timers that warn at 80% and escalate past due. Every
    transition is one event on stream "routing" and one timeline row,
    committed together with the state change.

    Pipe commands: gz_actor's ($TERM, PORT, BUSPORT, EVENTSPORT, RELOAD,
    STATS, VERBOSE) and routing's own: CLOCK <unix-microseconds> (set the test clock, then check the
    timers; signals 0; the actor's clock, which GZ_TEST_CLOCK's
    /internal/v1/clock sets too); TOKEN <staff_id> <token> (install a staff bearer
    token; signals 0 or -1); RELOAD (re-read the rules and the org
    directory; a bad rules file is logged and the old rules stay; signals 0
    or -1); STATS (replies "consumed published fired").  */
#ifndef ROUTING_SERVER_H_INCLUDED
#define ROUTING_SERVER_H_INCLUDED

#include <czmq.h>

#include "gz_actor.h"
#include "gz_service.h"
#include <stdbool.h>

typedef struct {
    gz_actor_config_t base; //  GZ_ROUTING_* (HTTP_PORT base+1, BUS base+12, EVENTS
                            //  base+13, SCHEMA "routing", READ_CONNS, WORKERS,
                            //  WORKER_QUEUE, ANSWER_TIMEOUT_MS) and the common ones
    char *intake_schema;    //  GZ_INTAKE_SCHEMA, default "intake" (the producer's
                            //  outbox)
    char *intake_events;    //  GZ_INTAKE_EVENTS (SUB connect), default
                            //  tcp://127.0.0.1:base+11
    char *rules_path;       //  GZ_ROUTING_RULES, NULL = the embedded defaults
    char *operator_token;   //  GZ_DEMO_OPERATOR_TOKEN, NULL = none
    char *intake_bus;       //  GZ_INTAKE_BUS: where meetings file their demands
    char *intake_key;       //  GZ_ROUTING_INTAKE_KEY, else GZ_DEMO_API_KEY; NULL = none
    int intake_timeout_ms;  //  GZ_ROUTING_INTAKE_TIMEOUT_MS: wait for intake per demand
    int timer_ms;           //  GZ_ROUTING_TIMER_MS: how often timers are checked (default
                            //  200)
    char *intake_url;       //  GZ_INTAKE_URL (http://127.0.0.1:base+0): where the
                            //  workbench asks intake for a resident's phone
    char *contact_key;      //  GZ_ROUTING_CONTACT_KEY, else GZ_NOTIFY_CONTACT_KEY;
                            //  NULL = the workbench shows no phone
    bool test_clock;        //  GZ_TEST_CLOCK: serve /internal/v1/clock (tests only)
} routing_config_t;

//  Configuration from GZ_* variables. Free with routing_config_destroy.
routing_config_t *routing_config_from_env (void);
void routing_config_destroy (routing_config_t **self_p);

//  The actor. args is a routing_config_t * (borrowed until the actor
//  signals ready). Signals 0 when ready, -1 on a failed start.
void routing_server (zsock_t *pipe, void *args);

//  The service, for a binary's service table (gz_service_main).
extern const gz_service_def_t routing_service;

#endif
