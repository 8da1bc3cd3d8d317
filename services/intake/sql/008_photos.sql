-- Residents' photos (issue 14), re-encoded by intake_photo.c: never the
-- upload, always a metadata-free JPEG and its thumbnail. Named by the
-- SHA-256 of the stored JPEG (content address): the same photo filed
-- twice is stored once. In PostgreSQL rather than a directory, so the
-- backups and replicas that carry the requests carry their photos
-- (docs/photos.md). A request refers to at most three, in order (idx);
-- public: the resident allowed anyone to see it (Open311 media_url).
CREATE TABLE IF NOT EXISTS {schema}.photos (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    bytes       bytea NOT NULL,
    thumb       bytea NOT NULL,
    width       integer NOT NULL,
    height      integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {schema}.request_photos (
    request_id  bigint NOT NULL REFERENCES {schema}.requests (id),
    sha256      text NOT NULL REFERENCES {schema}.photos (sha256),
    idx         smallint NOT NULL CHECK (idx BETWEEN 0 AND 2),
    public      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (request_id, idx)
);
CREATE INDEX IF NOT EXISTS request_photos_sha256 ON {schema}.request_photos (sha256);
