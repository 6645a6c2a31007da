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
--   * EXECUTE the protocol (db_transformation.sql, top): loader_claim,
--     loader_identify, loader_file_rejects, loader_complete, loader_fail;
--   * read loader_schema (its version).
-- Nothing else: no SELECT, INSERT, UPDATE, DELETE or TRUNCATE on facts, the
-- dimensions, staging, load_ledger or load_rejects, no sequence. The ledger
-- changes state only through the protocol's functions, and a commit that
-- leaves a claim of its own unfinished is refused. loader/tests/security.rs
-- checks these privileges with has_table_privilege and attacks them.

\ir refuse_foreign_code.sql

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

-- Whatever an earlier release granted.
REVOKE ALL ON staging_table, facts, dim_stores, dim_products, dim_customers, dim_dates,
              load_ledger, load_rejects
    FROM loader_role;
REVOKE ALL ON SEQUENCE load_ledger_load_id_seq FROM loader_role;

GRANT INSERT ON staging_table TO loader_role;

GRANT EXECUTE ON FUNCTION loader_claim(text, text, text, text) TO loader_role;
GRANT EXECUTE ON FUNCTION loader_identify(bigint, text) TO loader_role;
GRANT EXECUTE ON FUNCTION
    loader_file_rejects(bigint, bigint[], bigint[], text[], text[], text[], bytea[])
    TO loader_role;
GRANT EXECUTE ON FUNCTION loader_complete(bigint, bigint, bigint) TO loader_role;
GRANT EXECUTE ON FUNCTION loader_fail(text, text, text, text, boolean, text, integer, bigint)
    TO loader_role;

COMMIT;
