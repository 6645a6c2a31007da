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
    -- A load writes facts into every shard, over a connection per shard;
    -- Citus keeps one per worker after the commit by default, so each small
    -- load opened the rest again (measured: ~0.5 s of a 10k-row load's
    -- 0.9 s, BENCHMARKS.md). Sessions of this database keep them. Each
    -- loader connection then holds up to (shards / workers) idle
    -- connections on every worker: size the workers' max_connections for
    -- it (deploy/README.md). Only the database's owner may set it.
    BEGIN
        EXECUTE format('ALTER DATABASE %I SET citus.max_cached_conns_per_worker = %s',
                       current_database(),
                       (SELECT count(*) FROM pg_dist_shard s
                        WHERE s.logicalrelid = 'public.facts'::regclass));
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE WARNING 'citus.max_cached_conns_per_worker is left as it is (only the database''s owner may set it): small loads open a connection per shard each'
            USING HINT = 'ALTER DATABASE ... SET citus.max_cached_conns_per_worker = <facts'' shard count>';
    END;
END
$citus$;

COMMIT;
