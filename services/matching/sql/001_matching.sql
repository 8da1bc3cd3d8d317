-- matching: volunteers, needs, offers and service records (issue 10,
-- docs/matching.md). The points ledger and the shop are 002.

-- A volunteer or a verified social worker (专业社工). The phone is not
-- here: volunteer_contacts is the one table that holds it.
CREATE TABLE {schema}.volunteers (
    id              text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._-]{1,64}$'),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    skills          integer NOT NULL CHECK (skills <> 0),      -- bitmask, matching_model.h
    social_worker   boolean NOT NULL DEFAULT false,
    grid_code       text NOT NULL,
    lat             double precision CHECK (lat BETWEEN -90 AND 90),
    lon             double precision CHECK (lon BETWEEN -180 AND 180),
    availability    text NOT NULL,                              -- canonical weekly windows
    windows         int4range[] NOT NULL,                       -- minutes of the week
    max_per_week    integer NOT NULL DEFAULT 3 CHECK (max_per_week BETWEEN 1 AND 50),
    active          boolean NOT NULL DEFAULT true,
    phone_masked    text NOT NULL DEFAULT '',
    created_by      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX volunteers_grid_idx ON {schema}.volunteers (grid_code);

CREATE TABLE {schema}.volunteer_contacts (
    volunteer_id    text PRIMARY KEY REFERENCES {schema}.volunteers (id),
    phone           text NOT NULL
);

-- A household's need. state: open (waiting for a batch), offered (an offer
-- is out), matched (accepted), done, cancelled.
CREATE TABLE {schema}.needs (
    id              bigserial PRIMARY KEY,
    building_code   text NOT NULL,
    grid_code       text NOT NULL,
    community_code  text NOT NULL,
    subdistrict_code text NOT NULL DEFAULT '',
    lat             double precision NOT NULL,
    lon             double precision NOT NULL,
    household       text NOT NULL,          -- building + contact: continuity's key
    contact_name    text NOT NULL,
    phone_masked    text NOT NULL DEFAULT '',
    skill           integer NOT NULL CHECK (skill >= 0 AND skill < 32),
    urgent          boolean NOT NULL DEFAULT false,
    recurring       boolean NOT NULL DEFAULT false,
    window_from     timestamptz,
    window_to       timestamptz,
    weekly          text NOT NULL DEFAULT '',
    windows         int4range[] NOT NULL,
    note            text NOT NULL DEFAULT '',
    state           text NOT NULL DEFAULT 'open'
                    CHECK (state IN ('open', 'offered', 'matched', 'done', 'cancelled')),
    source          text NOT NULL DEFAULT 'api',   -- 'api' or 'request:<id>'
    created_by      text NOT NULL DEFAULT '',
    previous_volunteer text,                        -- who served it last (continuity)
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (recurring OR (window_from IS NOT NULL AND window_to > window_from))
);
CREATE INDEX needs_open_idx ON {schema}.needs (id) WHERE state = 'open';
CREATE INDEX needs_household_idx ON {schema}.needs (household);
-- A need made from a routed request is made once.
CREATE UNIQUE INDEX needs_source_idx ON {schema}.needs (source) WHERE source <> 'api';

CREATE TABLE {schema}.need_contacts (
    need_id         bigint PRIMARY KEY REFERENCES {schema}.needs (id),
    phone           text NOT NULL
);

CREATE TABLE {schema}.batches (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    needs           integer NOT NULL,
    volunteers      integer NOT NULL,
    pairs           bigint NOT NULL,
    matched         integer NOT NULL,
    cost            bigint NOT NULL,
    solve_ms        double precision NOT NULL
);

-- An offer to one volunteer. state: offered, accepted, declined, expired,
-- cancelled. At most one offer of a need is out at a time.
CREATE TABLE {schema}.offers (
    id              bigserial PRIMARY KEY,
    need_id         bigint NOT NULL REFERENCES {schema}.needs (id),
    volunteer_id    text NOT NULL REFERENCES {schema}.volunteers (id),
    batch_id        bigint REFERENCES {schema}.batches (id),
    cost            bigint NOT NULL DEFAULT 0,
    state           text NOT NULL DEFAULT 'offered'
                    CHECK (state IN ('offered', 'accepted', 'declined', 'expired', 'cancelled')),
    expires_at      timestamptz NOT NULL,
    answered_at     timestamptz,
    answered_by     text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX offers_one_out_idx ON {schema}.offers (need_id) WHERE state = 'offered';
CREATE INDEX offers_volunteer_idx ON {schema}.offers (volunteer_id, created_at);
CREATE INDEX offers_due_idx ON {schema}.offers (expires_at) WHERE state = 'offered';

-- The secret in an offer's answer link (/o/<id>?t=...): the one table that
-- holds it; notify reads it through the keyed internal path.
CREATE TABLE {schema}.offer_secrets (
    offer_id        bigint PRIMARY KEY REFERENCES {schema}.offers (id),
    secret          text NOT NULL
);

-- A service record, made when an offer is accepted. state: scheduled,
-- in_progress (checked in), completed (checked out), confirmed.
CREATE TABLE {schema}.services (
    id              bigserial PRIMARY KEY,
    offer_id        bigint NOT NULL UNIQUE REFERENCES {schema}.offers (id),
    need_id         bigint NOT NULL REFERENCES {schema}.needs (id),
    volunteer_id    text NOT NULL REFERENCES {schema}.volunteers (id),
    state           text NOT NULL DEFAULT 'scheduled'
                    CHECK (state IN ('scheduled', 'in_progress', 'completed', 'confirmed')),
    checkin_at      timestamptz,
    checkout_at     timestamptz,
    minutes         integer CHECK (minutes >= 0),
    rating          integer CHECK (rating BETWEEN 1 AND 5),
    comment         text NOT NULL DEFAULT '',
    confirmed_by    text NOT NULL DEFAULT '',
    confirmed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX services_volunteer_idx ON {schema}.services (volunteer_id);

-- What matching learns of each request from intake's stream: kept only for
-- requests that may matter here (a category that makes needs, or a
-- reporter who may earn points for it).
CREATE TABLE {schema}.requests (
    request_id      text PRIMARY KEY,
    service_code    text NOT NULL,
    building_code   text NOT NULL DEFAULT '',
    community_code  text NOT NULL DEFAULT '',
    channel         integer NOT NULL DEFAULT 0,
    reporter        text NOT NULL DEFAULT '',   -- "rider:<id>" / "resident:<id>" or ''
    description     text NOT NULL DEFAULT ''
);
