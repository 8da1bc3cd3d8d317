-- Who reported a request, for points (issue 10): "rider:<id>" or
-- "resident:<id>" as the client gave it (SubmitRequest.reporter_id, the
-- Open311 reporter_id parameter), checked by intake_validate.c. The
-- matching service reads it from the RequestSubmitted event; intake keeps
-- it with the request. Rows filed before this column, and requests sent
-- without a reporter, have none (NULL).
ALTER TABLE {schema}.requests ADD COLUMN IF NOT EXISTS reporter_id text;
