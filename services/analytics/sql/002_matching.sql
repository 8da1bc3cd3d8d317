-- What matching's stream adds to analytics (issue 11: "once matching
-- exists, needs, matches, service hours, points earned and redeemed"):
-- per node (grid, community, sub-district, district) and China-time day
-- of the event, sums moved in the transaction with the cursor.
CREATE TABLE {schema}.matching_daily (
    node            text NOT NULL,
    day             date NOT NULL,
    needs           bigint NOT NULL DEFAULT 0,
    offers          bigint NOT NULL DEFAULT 0,
    accepted        bigint NOT NULL DEFAULT 0,
    declined        bigint NOT NULL DEFAULT 0,
    expired         bigint NOT NULL DEFAULT 0,
    services        bigint NOT NULL DEFAULT 0,
    minutes         bigint NOT NULL DEFAULT 0,
    points_earned   bigint NOT NULL DEFAULT 0,
    points_redeemed bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (node, day)
);
