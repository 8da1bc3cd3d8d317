-- What routing did with each request, as intake shows it: the Open311
-- updates feed (servicerequestupdates, mySociety's extension) reads this.
-- update_id is routing's stream position, so it is unique and ordered.
CREATE TABLE {schema}.request_updates (
    update_id   bigint PRIMARY KEY,
    request_id  bigint NOT NULL,
    kind        text NOT NULL,
    status      text NOT NULL,
    note        text,
    media_url   text,
    at          timestamptz NOT NULL
);
CREATE INDEX request_updates_at ON {schema}.request_updates (at);
CREATE INDEX request_updates_request ON {schema}.request_updates (request_id, update_id);
