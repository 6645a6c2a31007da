-- Past one server: the star schema on Citus (distributed PostgreSQL), after
-- db_initiation.sql and db_transformation.sql, on the coordinator of a
-- database where the citus extension is installed and workers are
-- registered. `loader init` runs it itself when it finds such a database.
--   psql -v ON_ERROR_STOP=1 -f sql/citus.sql
--
-- facts is distributed by transaction_id (its primary key), the four
-- dimensions are reference tables (a copy on every node), and staging, the
-- ledger and the rejects stay on the coordinator with the trigger. Safe to
-- run again: a table already distributed is left as it is. Converting a
-- database that already holds data moves that data to the workers (Citus
-- copies it when a table is distributed).

BEGIN;
SET LOCAL search_path = pg_catalog, pg_temp;
SET LOCAL client_min_messages = warning;

DO $citus$
DECLARE
    t text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'the citus extension is not installed in this database'
            USING HINT = 'CREATE EXTENSION citus on the coordinator and every worker, then register the workers (citus_add_node)';
    END IF;
    FOREACH t IN ARRAY ARRAY['public.dim_stores', 'public.dim_products', 'public.dim_customers',
                             'public.dim_dates'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = t::regclass) THEN
            PERFORM create_reference_table(t::regclass);
        END IF;
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM pg_dist_partition p
                   WHERE p.logicalrelid = 'public.facts'::regclass) THEN
        PERFORM create_distributed_table('public.facts'::regclass, 'transaction_id');
    END IF;
END
$citus$;

COMMIT;
