-- Installed by deploy/local/stack into FerretDB's PostgreSQL database (as the superuser; event
-- triggers need it), again at every start of FerretDB.
--
-- FerretDB 1.24 creates a collection in steps that are not one transaction: CREATE TABLE, then
-- INSERT of the collection's metadata row (and CREATE INDEX, then UPDATE of that row). When the
-- step after the DDL fails — PostgreSQL stopped or restarted at that moment, FerretDB killed, the
-- client connection closed — FerretDB's own clean-up (a DROP) usually fails too and the table or
-- index stays behind without metadata. FerretDB then tries to create the same name again on the
-- next write to that collection and fails with "relation ... already exists" (SQLSTATE 42P07),
-- for good: seen in outage_readiness_chaostest when PostgreSQL was stopped during the first
-- write of `transcripts`.
--
-- This trigger runs before every CREATE TABLE / CREATE INDEX that FerretDB sends. When the table
-- or index to be created already exists and no metadata row of its schema names it, it is such a
-- leftover: it is dropped first (with a WARNING in PostgreSQL's log) and FerretDB's CREATE
-- succeeds. A leftover never holds acknowledged data: FerretDB writes documents only into
-- collections whose metadata row was committed.
SET client_min_messages = warning;

CREATE OR REPLACE FUNCTION chansum_ferretdb_drop_leftover() RETURNS event_trigger
LANGUAGE plpgsql AS $fn$
DECLARE
  m text[];
  meta regclass;
  referenced boolean;
BEGIN
  IF tg_tag = 'CREATE TABLE' THEN
    -- FerretDB: CREATE TABLE "<schema>"."<table>" (_jsonb jsonb)
    m := regexp_match(current_query(), '^\s*CREATE TABLE "([^"]+)"\."([^"]+)" \(');
    IF m IS NULL OR m[2] LIKE '\_ferretdb\_%' OR to_regclass(format('%I.%I', m[1], m[2])) IS NULL THEN
      RETURN;
    END IF;
    meta := to_regclass(format('%I.%I', m[1], '_ferretdb_database_metadata'));
    IF meta IS NULL THEN
      RETURN;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE _jsonb->>''table'' = $1)', meta)
      INTO referenced USING m[2];
    IF NOT referenced THEN
      RAISE WARNING 'chansum: dropping table %.%, left over from an interrupted FerretDB collection creation', m[1], m[2];
      EXECUTE format('DROP TABLE %I.%I', m[1], m[2]);
    END IF;
  ELSIF tg_tag = 'CREATE INDEX' THEN
    -- FerretDB: CREATE [UNIQUE ]INDEX "<index>" ON "<schema>"."<table>" (...)
    m := regexp_match(current_query(), '^\s*CREATE (?:UNIQUE )?INDEX "([^"]+)" ON "([^"]+)"\."([^"]+)" ');
    IF m IS NULL OR m[1] LIKE '\_ferretdb\_%' OR to_regclass(format('%I.%I', m[2], m[1])) IS NULL THEN
      RETURN;
    END IF;
    meta := to_regclass(format('%I.%I', m[2], '_ferretdb_database_metadata'));
    IF meta IS NULL THEN
      RETURN;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE jsonb_path_exists(_jsonb, '
                   '''$.indexes[*] ? (@.pgindex == $n)'', jsonb_build_object(''n'', $1::text)))',
                   meta)
      INTO referenced USING m[1];
    IF NOT referenced THEN
      RAISE WARNING 'chansum: dropping index %.%, left over from an interrupted FerretDB index creation', m[2], m[1];
      EXECUTE format('DROP INDEX %I.%I', m[2], m[1]);
    END IF;
  END IF;
EXCEPTION WHEN OTHERS THEN
  -- Never stand in FerretDB's way: without the clean-up its CREATE fails as it would anyway.
  RAISE WARNING 'chansum_ferretdb_drop_leftover: %', SQLERRM;
END
$fn$;

DROP EVENT TRIGGER IF EXISTS chansum_ferretdb_drop_leftover;
CREATE EVENT TRIGGER chansum_ferretdb_drop_leftover ON ddl_command_start
  WHEN TAG IN ('CREATE TABLE', 'CREATE INDEX')
  EXECUTE FUNCTION chansum_ferretdb_drop_leftover();
