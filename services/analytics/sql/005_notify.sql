-- What notify's stream adds to analytics (issue 11: "counts notify's
-- events too"): per node (grid, community, sub-district, district), the
-- China-time day a delivery ended and its channel, the deliveries sent,
-- given up on (dead) and skipped; moved in the transaction with the
-- cursor of stream notify.
CREATE TABLE {schema}.notify_daily (
    node    text NOT NULL,
    day     date NOT NULL,
    channel text NOT NULL,
    sent    bigint NOT NULL DEFAULT 0,
    dead    bigint NOT NULL DEFAULT 0,
    skipped bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (node, day, channel)
);
