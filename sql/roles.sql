-- Least privilege for the loader (the Lambda's database user).
--
--   psql -v ON_ERROR_STOP=1 -f sql/roles.sql          (or: loader init --roles)
--   then: ALTER ROLE loader_role PASSWORD '...';        (Secrets Manager)
--     or: GRANT rds_iam TO loader_role;                 (RDS IAM authentication)
--
-- Run as the owner of the schema, after db_initiation.sql and
-- db_transformation.sql, in the database the loader uses. Safe to re-run.
--
-- The client is trusted only to stage rows. All loader_role may do:
--   * INSERT into staging_table (COPY FROM needs nothing else); the
--     statement trigger writes dimensions and facts from those rows, as the
--     owner, and refuses rows of a load this transaction did not claim;
--   * EXECUTE the protocol in schema loader (db_transformation.sql, top):
--     loader_claim, loader_identify, loader_file_rejects, loader_complete,
--     loader_fail;
--   * read public.loader_schema (its version) and loader.settings (the
--     database's date bounds).
-- Nothing else: no SELECT, INSERT, UPDATE, DELETE or TRUNCATE on facts, the
-- dimensions, staging, load_ledger or load_rejects, no sequence. The ledger
-- changes state only through the protocol's functions, and a commit that
-- leaves a claim of its own unfinished is refused. loader/tests/security.rs
-- checks these privileges with has_table_privilege and attacks them.

BEGIN;
-- Pinned first, as in the other files: nothing below resolves a name in a
-- schema another role may write.
SET LOCAL search_path = pg_catalog, pg_temp;
SET LOCAL client_min_messages = warning;

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'loader_role') THEN
        CREATE ROLE loader_role LOGIN NOINHERIT;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO loader_role', current_database());
END
$roles$;
-- public: to reach staging_table; loader: the protocol.
GRANT USAGE ON SCHEMA public, loader TO loader_role;

-- Whatever an earlier release granted.
REVOKE ALL ON public.staging_table, public.facts, public.dim_stores, public.dim_products,
              public.dim_customers, public.dim_dates, public.load_ledger, public.load_rejects
    FROM loader_role;
REVOKE ALL ON SEQUENCE public.load_ledger_load_id_seq FROM loader_role;

GRANT INSERT ON public.staging_table TO loader_role;
-- The database's date bounds, which the loader applies too.
GRANT SELECT ON loader.settings TO loader_role;

GRANT EXECUTE ON FUNCTION loader.loader_claim(text, text, text, text) TO loader_role;
GRANT EXECUTE ON FUNCTION loader.loader_identify(bigint, text) TO loader_role;
GRANT EXECUTE ON FUNCTION
    loader.loader_file_rejects(bigint, bigint[], bigint[], text[], text[], text[], bytea[])
    TO loader_role;
GRANT EXECUTE ON FUNCTION loader.loader_complete(bigint, bigint, bigint) TO loader_role;
GRANT EXECUTE ON FUNCTION
    loader.loader_fail(text, text, text, text, boolean, text, integer, bigint)
    TO loader_role;

COMMIT;
