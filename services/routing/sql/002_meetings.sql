-- 逢四说事: meetings recorded by community staff, and the demands raised in
-- them, each filed with intake as a request with channel MEETING. See
-- services/routing/routing_meetings.c (DESIGN) and docs/routing.md.
--
-- A meeting row is written before its demands are filed (status
-- 'filing') so a retry finds it and files them again with the same
-- intake idempotency keys ("meeting:<id>:<index>"), which intake answers
-- with the original request ids: never twice. It becomes 'recorded' once
-- every demand is accepted. meeting_demands holds only demands intake
-- accepted, with the request id intake returned.

CREATE SEQUENCE {schema}.meeting_seq START WITH 1001;

CREATE TABLE {schema}.meetings (
    id              text PRIMARY KEY,                    -- "M1001", "M1002", ...
    community_code  text NOT NULL,
    held_on         date NOT NULL,
    place           text NOT NULL CHECK (length(place) BETWEEN 1 AND 200),
    participants    integer NOT NULL CHECK (participants >= 0),
    hosts           text[] NOT NULL,                     -- staff ids (org.staff)
    recorded_by     text,                                -- staff id; NULL = the operator
    recorded_role   text NOT NULL CHECK (recorded_role IN ('staff', 'operator')),
    -- the caller's key (body "key" or Idempotency-Key), else "body:" + the
    -- body's SHA-256: a replay of the same meeting finds this row
    client_key      text NOT NULL,
    body_sha256     text NOT NULL,
    demands_total   integer NOT NULL CHECK (demands_total >= 0),
    status          text NOT NULL DEFAULT 'filing' CHECK (status IN ('filing', 'recorded')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (community_code, client_key)
);
CREATE INDEX meetings_community_idx ON {schema}.meetings (community_code, held_on DESC);

CREATE TABLE {schema}.meeting_demands (
    meeting_id    text NOT NULL REFERENCES {schema}.meetings (id),
    idx           integer NOT NULL CHECK (idx >= 0),     -- position in the posted demands
    request_id    text NOT NULL,                         -- intake's id (routing.requests.id)
    service_code  text NOT NULL,
    PRIMARY KEY (meeting_id, idx)
);
CREATE INDEX meeting_demands_request_idx ON {schema}.meeting_demands (request_id);
