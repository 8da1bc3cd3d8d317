-- analytics: one fact per request and the rollups the rates come from
-- (issue 11, docs/analytics.md). Written only by the consumer, in the
-- transaction that stores its cursor: exactly once.

-- A request as analytics_fact.h describes it. day: the China-time date it
-- was filed (the cohort's day).
CREATE TABLE {schema}.facts (
    request_id      text PRIMARY KEY,
    category        text NOT NULL DEFAULT '',
    channel         integer NOT NULL DEFAULT 0,
    tier            integer NOT NULL DEFAULT 0,
    building        text NOT NULL DEFAULT '',
    grid            text NOT NULL DEFAULT '',
    community       text NOT NULL DEFAULT '',
    subdistrict     text NOT NULL DEFAULT '',
    district        text NOT NULL DEFAULT '',
    department      text NOT NULL DEFAULT '',
    submitted_us    bigint NOT NULL DEFAULT 0,
    day             date,
    response_due_us bigint NOT NULL DEFAULT 0,
    resolve_due_us  bigint NOT NULL DEFAULT 0,
    reached_us      bigint NOT NULL DEFAULT 0,
    resolved_us     bigint NOT NULL DEFAULT 0,
    resolved        boolean NOT NULL DEFAULT false,
    merged          boolean NOT NULL DEFAULT false,
    invalid         boolean NOT NULL DEFAULT false,
    satisfied       smallint NOT NULL DEFAULT -1,
    reopens         integer NOT NULL DEFAULT 0,
    escalations     integer NOT NULL DEFAULT 0
);
-- The response rate's denominator counts requests not reached whose
-- deadline has passed. For days older than ANALYTICS_RESPONSE_MAX_DAYS
-- the rollup knows (requests - reached); the recent days' are found here,
-- by day, with what the count compares (the deadline, the nodes), so it
-- reads the index alone.
CREATE INDEX facts_unreached_day_idx ON {schema}.facts (day)
    INCLUDE (response_due_us, grid, community, subdistrict, district, department)
    WHERE reached_us = 0 AND NOT merged AND NOT invalid AND submitted_us > 0;
CREATE INDEX facts_building_idx ON {schema}.facts (building, day);

-- What the day's requests count for at one node of the ladder (grid,
-- community, sub-district, district) or a lead department: sums of
-- analytics_counts_t. Histograms: requests by hours to first contact and
-- to resolution (analytics_fact.c's buckets).
CREATE TABLE {schema}.rollup (
    node              text NOT NULL,
    day               date NOT NULL,
    requests          bigint NOT NULL DEFAULT 0,
    reached           bigint NOT NULL DEFAULT 0,
    reached_on_time   bigint NOT NULL DEFAULT 0,
    resolved          bigint NOT NULL DEFAULT 0,
    resolved_on_time  bigint NOT NULL DEFAULT 0,
    rated             bigint NOT NULL DEFAULT 0,
    satisfied         bigint NOT NULL DEFAULT 0,
    escalated         bigint NOT NULL DEFAULT 0,
    reopened          bigint NOT NULL DEFAULT 0,
    merged            bigint NOT NULL DEFAULT 0,
    invalid           bigint NOT NULL DEFAULT 0,
    disputes          bigint NOT NULL DEFAULT 0,
    disputes_resolved bigint NOT NULL DEFAULT 0,
    contact_hist      bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[16]),
    resolve_hist      bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[16]),
    PRIMARY KEY (node, day)
);

-- Volumes of the day's cohort at a node by category, tier and channel.
CREATE TABLE {schema}.volumes (
    node    text NOT NULL,
    day     date NOT NULL,
    dim     text NOT NULL CHECK (dim IN ('category', 'tier', 'channel')),
    value   text NOT NULL,
    n       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (node, day, dim, value)
);

-- Adds b to a element by element (the histograms' delta).
CREATE FUNCTION {schema}.array_add (a bigint[], b bigint[]) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE AS
    'SELECT array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i)
       FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i)';
