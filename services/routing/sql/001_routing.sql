-- The routing schema: requests as routing sees them (one row per
-- request id from intake), their timelines, durable deadline timers and
-- staff bearer tokens. See services/routing/routing.h (DESIGN).
-- Times are microseconds since the Unix epoch (bigint, *_us), read from
-- the actor's one clock so tests can drive it.

CREATE TABLE {schema}.requests (
    id                    text PRIMARY KEY,
    service_code          text NOT NULL,
    description           text NOT NULL DEFAULT '',
    channel               text NOT NULL DEFAULT '',
    building_code         text,
    grid_code             text,
    community_code        text,
    subdistrict_code      text,
    meeting_id            text,
    media_url             text,
    resident_token_sha256 text NOT NULL DEFAULT '',
    submitted_at_us       bigint NOT NULL,
    routed_at_us          bigint NOT NULL,
    state                 text NOT NULL CHECK (state IN ('assigned', 'accepted', 'verified',
                              'in_progress', 'resolved', 'rated', 'closed', 'rejected', 'merged')),
    tier                  smallint NOT NULL CHECK (tier BETWEEN 1 AND 3),
    rule_line             integer NOT NULL DEFAULT 0,
    lead_code             text,
    level                 smallint NOT NULL DEFAULT 0,  -- 0 grid, 1 community, 2 sub-district, 3 department
    assignee_staff        text,
    assignee_name         text NOT NULL DEFAULT '',
    assignee_unit         text NOT NULL DEFAULT '',
    assignee_unit_name    text NOT NULL DEFAULT '',
    assignee_role         text NOT NULL DEFAULT '',
    merged_into           text REFERENCES {schema}.requests (id),
    followers             integer NOT NULL DEFAULT 0,
    response_s            bigint NOT NULL,
    resolve_s             bigint NOT NULL,
    response_due_us       bigint NOT NULL,
    resolve_due_us        bigint NOT NULL,
    responded_at_us       bigint,
    resolved_at_us        bigint,
    closed_at_us          bigint,
    reopen_count          integer NOT NULL DEFAULT 0,
    score                 smallint,
    satisfied             boolean,
    comment               text,
    updated_at_us         bigint NOT NULL
);
CREATE INDEX requests_open_staff_idx ON {schema}.requests (assignee_staff)
    WHERE state IN ('assigned', 'accepted', 'verified', 'in_progress');
CREATE INDEX requests_open_unit_idx ON {schema}.requests (assignee_unit)
    WHERE state IN ('assigned', 'accepted', 'verified', 'in_progress');
CREATE INDEX requests_merge_idx ON {schema}.requests (building_code, service_code, routed_at_us)
    WHERE merged_into IS NULL;

-- 疑难 (hard) requests: the departments handling them with the lead.
CREATE TABLE {schema}.co_handlers (
    request_id  text NOT NULL REFERENCES {schema}.requests (id),
    unit_code   text NOT NULL,
    unit_name   text NOT NULL DEFAULT '',
    staff_id    text,
    staff_name  text NOT NULL DEFAULT '',
    reported    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (request_id, unit_code)
);

CREATE TABLE {schema}.timeline (
    seq         bigserial PRIMARY KEY,
    request_id  text NOT NULL REFERENCES {schema}.requests (id),
    at_us       bigint NOT NULL,
    kind        text NOT NULL,
    state       text NOT NULL,
    actor_id    text,
    actor_name  text NOT NULL DEFAULT '',
    actor_role  text NOT NULL DEFAULT '',
    note        text NOT NULL DEFAULT '',
    detail      jsonb
);
CREATE INDEX timeline_request_idx ON {schema}.timeline (request_id, seq);

-- Durable deadline timers. A timer fires once: firing marks fired_at_us
-- in the same transaction as its effect and its events. Re-arming a
-- deadline deletes its unfired timers and inserts the next generation.
CREATE TABLE {schema}.timers (
    request_id  text NOT NULL REFERENCES {schema}.requests (id),
    kind        text NOT NULL CHECK (kind IN ('response_warn', 'response_due', 'resolve_warn',
                                              'resolve_due', 'close')),
    generation  integer NOT NULL,
    fire_at_us  bigint NOT NULL,
    fired_at_us bigint,
    PRIMARY KEY (request_id, kind, generation)
);
CREATE INDEX timers_due_idx ON {schema}.timers (fire_at_us) WHERE fired_at_us IS NULL;

-- Staff bearer tokens, stored as SHA-256 hex (sha256() of PostgreSQL).
CREATE TABLE {schema}.tokens (
    token_sha256 text PRIMARY KEY,
    staff_id     text,
    role         text NOT NULL CHECK (role IN ('staff', 'operator')),
    label        text NOT NULL DEFAULT '',
    CHECK ((role = 'staff') = (staff_id IS NOT NULL))
);
