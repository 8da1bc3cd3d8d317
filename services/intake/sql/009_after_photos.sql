-- Staff photos (issue 14, the workbench's part): a worker's 处置 photos
-- are stored here too (POST /internal/v1/photos, from routing), and a
-- resolution's are linked to the request as kind 'after' when routing's
-- RequestResolved arrives, so the status page shows them to the holder of
-- the status-link secret. A filing keeps at most three (idx 0-2); after
-- photos are numbered on from 0 across resolutions (a reopened request
-- resolved again adds its own).
ALTER TABLE {schema}.request_photos
    ADD COLUMN kind text NOT NULL DEFAULT 'filing' CHECK (kind IN ('filing', 'after'));
ALTER TABLE {schema}.request_photos DROP CONSTRAINT request_photos_idx_check;
ALTER TABLE {schema}.request_photos DROP CONSTRAINT request_photos_pkey;
ALTER TABLE {schema}.request_photos ADD PRIMARY KEY (request_id, kind, idx);
ALTER TABLE {schema}.request_photos
    ADD CONSTRAINT request_photos_idx_range CHECK (idx >= 0 AND (kind = 'after' OR idx <= 2));
