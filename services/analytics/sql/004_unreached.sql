-- The overdue count of the recent days (analytics_store.c, s_overdue_sql)
-- reads one node's requests not reached: one partial index per level, led
-- by the node, instead of one by day that every node's count walked whole
-- (at 10 M requests a grid's call read the district's thousands of rows).
DROP INDEX IF EXISTS {schema}.facts_unreached_day_idx;
CREATE INDEX facts_unreached_grid_idx ON {schema}.facts (grid, day) INCLUDE (response_due_us)
    WHERE reached_us = 0 AND NOT merged AND NOT invalid AND submitted_us > 0;
CREATE INDEX facts_unreached_community_idx ON {schema}.facts (community, day)
    INCLUDE (response_due_us)
    WHERE reached_us = 0 AND NOT merged AND NOT invalid AND submitted_us > 0;
CREATE INDEX facts_unreached_subdistrict_idx ON {schema}.facts (subdistrict, day)
    INCLUDE (response_due_us)
    WHERE reached_us = 0 AND NOT merged AND NOT invalid AND submitted_us > 0;
CREATE INDEX facts_unreached_district_idx ON {schema}.facts (district, day)
    INCLUDE (response_due_us)
    WHERE reached_us = 0 AND NOT merged AND NOT invalid AND submitted_us > 0;
CREATE INDEX facts_unreached_department_idx ON {schema}.facts (department, day)
    INCLUDE (response_due_us)
    WHERE reached_us = 0 AND NOT merged AND NOT invalid AND submitted_us > 0;
