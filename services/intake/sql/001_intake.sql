-- intake: every accepted request (诉求), its private contact details, and
-- its public timeline. {schema} is intake's schema (default "intake").

CREATE TABLE {schema}.requests (
    id                bigint GENERATED ALWAYS AS IDENTITY (START WITH 100001) PRIMARY KEY,
    channel           text NOT NULL CHECK (channel IN
                          ('QR', 'OPEN311', 'BUS', 'MEETING', 'RIDER', 'PATROL', 'HOTLINE')),
    service_code      text NOT NULL,
    description       text NOT NULL CHECK (length(description) BETWEEN 1 AND 4000),
    building_code     text,
    grid_code         text,
    community_code    text,
    subdistrict_code  text,
    lat               double precision,
    lon               double precision,
    address           text,
    media_url         text,
    attributes        jsonb NOT NULL DEFAULT '{}',
    meeting_id        text,
    external_id       text,
    -- who submitted: "apikey:<name>", "ip:<addr>" (never a phone number)
    client_id         text NOT NULL,
    idempotency_key   text,
    -- the resident's status-link secret (/r/{id}?t=...)
    secret            text NOT NULL,
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    status_notes      text,
    agency_responsible text,
    expected_at       timestamptz,
    submitted_at      timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, idempotency_key)
);
CREATE INDEX requests_submitted_at ON {schema}.requests (submitted_at);
CREATE INDEX requests_service_code ON {schema}.requests (service_code, submitted_at);

-- Personal data stays here and nowhere else: never in events, logs or
-- public responses.
CREATE TABLE {schema}.contacts (
    request_id  bigint PRIMARY KEY REFERENCES {schema}.requests (id),
    phone       text,
    name        text,
    email       text
);

CREATE TABLE {schema}.timeline (
    request_id  bigint NOT NULL REFERENCES {schema}.requests (id),
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL,
    note        text
);
CREATE INDEX timeline_request ON {schema}.timeline (request_id, at);
