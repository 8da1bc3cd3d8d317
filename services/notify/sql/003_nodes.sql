-- Where a delivery was owed: the grid, community and sub-district of the
-- event that planned it (routing's RequestUpdate, matching's offer), so
-- that the events notify publishes (stream notify, NotifyEvent) say under
-- which nodes a message ended. Empty when the event did not say.
ALTER TABLE {schema}.deliveries
    ADD COLUMN grid_code text NOT NULL DEFAULT '',
    ADD COLUMN community_code text NOT NULL DEFAULT '',
    ADD COLUMN subdistrict_code text NOT NULL DEFAULT '';
