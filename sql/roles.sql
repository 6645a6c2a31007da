-- Least privilege for the loader (the Lambda's database user).
--
--   psql -v ON_ERROR_STOP=1 -f sql/roles.sql          (or: loader init --roles)
--   then: ALTER ROLE loader_role PASSWORD '...';        (Secrets Manager)
--     or: GRANT rds_iam TO loader_role;                 (RDS IAM authentication)
--
-- Run as the owner of the schema, after db_initiation.sql and
-- db_transformation.sql, in the database the loader uses. Safe to re-run.
--
-- What loader_role can do: COPY into staging_table and its dimension
-- candidates, call normalize_load_dimensions (the candidates' fallback),
-- claim and complete its rows in load_ledger, write load_rejects. What it
-- cannot: read or change facts or any dimension, read staging, delete
-- anything. Facts and dimensions are written only by the trigger function,
-- which runs as its owner (SECURITY DEFINER) with its search_path pinned.

BEGIN;
SET LOCAL client_min_messages = warning;

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'loader_role') THEN
        CREATE ROLE loader_role LOGIN NOINHERIT;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO loader_role', current_database());
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO loader_role', current_schema());
END
$roles$;

REVOKE ALL ON staging_table, staging_dimension_candidates, facts, dim_stores, dim_products,
              dim_customers, dim_dates, load_ledger, load_rejects
    FROM loader_role;

-- COPY FROM needs INSERT only.
GRANT INSERT ON staging_table, staging_dimension_candidates TO loader_role;
-- The claim is INSERT ... ON CONFLICT DO UPDATE ... RETURNING, the
-- completion an UPDATE by load_id.
GRANT SELECT, INSERT, UPDATE ON load_ledger TO loader_role;
GRANT USAGE ON SEQUENCE load_ledger_load_id_seq TO loader_role;
GRANT SELECT, INSERT ON load_rejects TO loader_role;

-- Nobody but the owner calls the trigger function directly.
REVOKE ALL ON FUNCTION normalize_staging_batch() FROM PUBLIC;
-- The loader's fallback for dimensions (db_transformation.sql).
REVOKE ALL ON FUNCTION normalize_load_dimensions(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION normalize_load_dimensions(bigint) TO loader_role;

COMMIT;
