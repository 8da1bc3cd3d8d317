-- Monthly rollups: the sum of a node's days per month, written with the
-- days (analytics_store.c), so a long period reads a row per month and
-- only its partial months by day (docs/analytics.md, "How it is kept").
CREATE AGGREGATE {schema}.array_sum (bigint[]) (
    SFUNC = {schema}.array_add,
    STYPE = bigint[],
    INITCOND = '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}'
);
CREATE TABLE {schema}.rollup_month (LIKE {schema}.rollup INCLUDING ALL);
INSERT INTO {schema}.rollup_month
    SELECT node, date_trunc('month', day)::date, sum(requests), sum(reached),
           sum(reached_on_time), sum(resolved), sum(resolved_on_time), sum(rated),
           sum(satisfied), sum(escalated), sum(reopened), sum(merged), sum(invalid),
           sum(disputes), sum(disputes_resolved), {schema}.array_sum(contact_hist),
           {schema}.array_sum(resolve_hist)
    FROM {schema}.rollup GROUP BY 1, 2;
