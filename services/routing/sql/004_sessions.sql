-- The staff's workbench (/w/, docs/workbench.md): one-time sign-in codes
-- (gzctl token issue prints a link holding one) and browser sessions.
-- Only the SHA-256 (hex) of a code or a session id is stored: a copy of
-- the table signs no one in.
CREATE TABLE {schema}.login_codes (
    code_sha256 text PRIMARY KEY,
    staff_id    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz          -- NULL until it signed someone in: usable once
);
CREATE INDEX login_codes_expires ON {schema}.login_codes (expires_at);

CREATE TABLE {schema}.sessions (
    session_sha256 text PRIMARY KEY,
    staff_id       text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX sessions_staff ON {schema}.sessions (staff_id);
CREATE INDEX sessions_expires ON {schema}.sessions (expires_at);
