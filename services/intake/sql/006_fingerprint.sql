-- An idempotency key names one request: a submission that reuses a key
-- (for the same client) with different content is refused, not answered
-- with the first request's id while its own content is dropped. So each
-- request filed with a key keeps the SHA-256 of its canonical form
-- (intake_fingerprint.c), and a later submission with the key is compared
-- with it. Rows filed before this column existed have none (NULL): a
-- retry of one of those is answered as a duplicate, as before.
ALTER TABLE {schema}.requests ADD COLUMN IF NOT EXISTS fingerprint bytea;
