-- The request's place in the ladder, from intake's RequestSubmitted, so
-- that the events notify publishes (stream notify, NotifyEvent) say under
-- which grid, community and sub-district a message was owed.
ALTER TABLE {schema}.requests
    ADD COLUMN grid_code text NOT NULL DEFAULT '',
    ADD COLUMN community_code text NOT NULL DEFAULT '',
    ADD COLUMN subdistrict_code text NOT NULL DEFAULT '';
