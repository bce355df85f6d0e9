-- Fuzzy search on contact and deal names with pg_trgm, when it is available.
--
-- CREATE EXTENSION needs privileges the migrating role may not have
-- (pg_trgm is a trusted extension: CREATE on the database suffices, no
-- superuser needed), and the contrib package may be missing. So this
-- migration tries, and when the extension cannot be created it records a
-- NOTICE and succeeds without the trigram indexes: searches with ILIKE still
-- work (unindexed), similarity() and % do not. An extension installed
-- beforehand by an administrator, in any schema, is used as is. See
-- docs/migrations.md for adding the indexes later.

-- +goose Up

-- +goose StatementBegin
DO $$
DECLARE
    trgm_schema name;
BEGIN
    SELECT n.nspname INTO trgm_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_trgm';
    IF trgm_schema IS NULL THEN
        BEGIN
            CREATE EXTENSION pg_trgm;
        EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
            RAISE NOTICE 'pg_trgm is not available (%): fuzzy search indexes skipped', SQLERRM;
            RETURN;
        END;
        SELECT n.nspname INTO trgm_schema
          FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'pg_trgm';
    END IF;
    EXECUTE format('CREATE INDEX contacts_name_trgm ON contacts USING gin (name %I.gin_trgm_ops)', trgm_schema);
    EXECUTE format('CREATE INDEX deals_name_trgm ON deals USING gin (name %I.gin_trgm_ops)', trgm_schema);
END
$$;
-- +goose StatementEnd
