-- The routing state of each request as intake last heard it (assigned,
-- accepted, verified, in_progress, resolved, rated, closed, rejected,
-- merged), so the resident's page can offer rating and reopening.
ALTER TABLE {schema}.requests ADD COLUMN state text NOT NULL DEFAULT 'submitted';
