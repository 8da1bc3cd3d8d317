-- The submission path writes one requests row, maybe one contacts row and
-- one outbox row per request, in the same statement; nothing else writes
-- contacts, and timeline rows come from routing updates of requests that
-- exist. So the foreign keys only cost a trigger query per row (about a
-- fifth of the database's time per submission, measured), and the
-- 'submitted' entry of the timeline repeats requests.submitted_at: the
-- status page reads it from there. Requests are never deleted; a future
-- retention job deletes a request's contacts and timeline with it.
ALTER TABLE {schema}.contacts DROP CONSTRAINT IF EXISTS contacts_request_id_fkey;
ALTER TABLE {schema}.timeline DROP CONSTRAINT IF EXISTS timeline_request_id_fkey;
DELETE FROM {schema}.timeline WHERE kind = 'submitted';
