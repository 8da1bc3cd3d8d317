-- notify: who must hear what, and whether they have.
--
-- What notify knows of a request: enough to decide who hears what. Never
-- the resident's contact: that stays in intake.contacts, and a delivery
-- asks intake for it when it is sent (README, "Notify").
CREATE TABLE {schema}.requests (
    request_id   text PRIMARY KEY,
    service_code text NOT NULL DEFAULT '',
    place        text NOT NULL DEFAULT '',
    has_contact  boolean NOT NULL DEFAULT false,
    merged_into  text                           -- a follower hears its lead's news
);
CREATE INDEX requests_merged ON {schema}.requests (merged_into) WHERE merged_into IS NOT NULL;

-- One row per (event, recipient, channel), committed with the consumer's
-- cursor before any attempt. key is the Idempotency-Key the channel sends.
-- state: queued (waiting for due_at), sending (leased until due_at: a
-- worker that died leaves it to be taken again), sent, failed (retried at
-- due_at), dead (given up: gzctl notify retry sends it again), skipped
-- (a resident with no contact: planned before intake's event said so).
CREATE TABLE {schema}.deliveries (
    id          bigserial PRIMARY KEY,
    key         text NOT NULL UNIQUE,
    stream      text NOT NULL,
    position    bigint NOT NULL,
    event       text NOT NULL,
    request_id  text NOT NULL DEFAULT '',
    audience    text NOT NULL,
    recipient   text NOT NULL,                  -- staff:<id> | resident:<request id>
    channel     text NOT NULL,
    template    text NOT NULL,
    vars        jsonb NOT NULL,                 -- no contact data, no status-link secret
    essential   boolean NOT NULL DEFAULT false,
    state       text NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'dead', 'skipped')),
    attempts    integer NOT NULL DEFAULT 0,
    due_at      timestamptz NOT NULL DEFAULT now(),
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX deliveries_due ON {schema}.deliveries (channel, due_at)
    WHERE state IN ('queued', 'sending', 'failed');
CREATE INDEX deliveries_request ON {schema}.deliveries (request_id, id);
CREATE INDEX deliveries_recipient ON {schema}.deliveries (recipient, id);
CREATE INDEX deliveries_dead ON {schema}.deliveries (id) WHERE state = 'dead';

-- A person's choices: the channels in the order they want them (empty:
-- the default order), and whether they take non-essential messages.
CREATE TABLE {schema}.preferences (
    person    text PRIMARY KEY,                 -- staff:<id> | resident:<request id>
    channels  text[] NOT NULL DEFAULT '{}',
    opt_out   boolean NOT NULL DEFAULT false
);
