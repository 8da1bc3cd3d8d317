-- One counter that every change to the directory moves, in the changing
-- transaction, whoever makes it (gzctl org import, gzctl seed, an operator
-- in psql). A service remembers the value its copy was loaded at
-- (gz_org_generation) and loads the directory again when the counter has
-- moved (gz_org_generation_now, on its tick): no restart, no SIGHUP.

CREATE TABLE {schema}.generation (
    only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    value       bigint NOT NULL DEFAULT 0,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO {schema}.generation DEFAULT VALUES;

CREATE FUNCTION {schema}.bump_generation () RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {schema}.generation SET value = value + 1, changed_at = now();
    RETURN NULL;
END
$$;

CREATE TRIGGER units_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON {schema}.units FOR EACH STATEMENT EXECUTE FUNCTION {schema}.bump_generation ();
CREATE TRIGGER buildings_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON {schema}.buildings FOR EACH STATEMENT EXECUTE FUNCTION {schema}.bump_generation ();
CREATE TRIGGER staff_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON {schema}.staff FOR EACH STATEMENT EXECUTE FUNCTION {schema}.bump_generation ();
CREATE TRIGGER pairings_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON {schema}.pairings FOR EACH STATEMENT EXECUTE FUNCTION {schema}.bump_generation ();
