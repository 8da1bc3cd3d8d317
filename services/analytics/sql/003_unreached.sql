-- The response rate's "overdue and not reached" looks at the facts of the
-- last ANALYTICS_RESPONSE_MAX_DAYS days only (older days come from the
-- rollup): this index finds them by day.
CREATE INDEX facts_unreached_day_idx ON {schema}.facts (day)
    WHERE reached_us = 0 AND NOT merged AND NOT invalid AND submitted_us > 0;
