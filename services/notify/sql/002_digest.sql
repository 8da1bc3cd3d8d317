-- Digests: a staff member's non-essential messages that come within the
-- plan's digest window of the last one sent go out together, as one.
-- digest: the row may be carried in a digest. digest_of: the row that
-- carries it (set on the carrier itself too, when its group is formed
-- at its first claim; the group never changes after that, so every
-- attempt sends the same digest under the carrier's key).
ALTER TABLE {schema}.deliveries ADD COLUMN digest boolean NOT NULL DEFAULT false;
ALTER TABLE {schema}.deliveries ADD COLUMN digest_of bigint;
CREATE INDEX deliveries_digest ON {schema}.deliveries (recipient, channel)
    WHERE digest AND digest_of IS NULL AND state IN ('queued', 'sending', 'failed');
CREATE INDEX deliveries_group ON {schema}.deliveries (digest_of) WHERE digest_of IS NOT NULL;
CREATE INDEX deliveries_sent ON {schema}.deliveries (recipient, channel, sent_at)
    WHERE state = 'sent';
