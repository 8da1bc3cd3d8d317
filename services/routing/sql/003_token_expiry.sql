-- Staff and operator tokens expire (hardening): a token is refused after
-- expires_at. gzctl token issue sets it (90 days unless --days N); a
-- token installed by the service (the demo operator token, at each
-- start) gets 90 days from its install. Tokens issued before this
-- migration get 90 days from now.
ALTER TABLE {schema}.tokens ADD COLUMN expires_at timestamptz;
UPDATE {schema}.tokens SET expires_at = now() + interval '90 days';
ALTER TABLE {schema}.tokens ALTER COLUMN expires_at SET NOT NULL;
ALTER TABLE {schema}.tokens ALTER COLUMN expires_at SET DEFAULT now() + interval '90 days';
