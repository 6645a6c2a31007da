-- The first statements of db_initiation.sql's and db_transformation.sql's
-- transaction (psql: \ir right after BEGIN; `loader init` inlines it the
-- same way). In this order, before anything else runs:
--
-- 1. search_path is pinned to pg_catalog, pg_temp for the transaction:
--    every function and operator after this resolves in pg_catalog only,
--    whatever another role creates in public or in a schema named after a
--    role, before or during the run (no check that could race with it).
--    pg_temp last: this session's own temporary objects, never functions.
-- 2. lock_timeout: the caller's when it set one (`loader init
--    --lock-timeout`), else 30 s. No wait of init is unbounded.
-- 3. The tables that exist are locked in ACCESS EXCLUSIVE mode, in the
--    order a load takes them (ledger, staging, dimensions, facts,
--    rejects): an init beside running loads waits for them, then they wait
--    for it, instead of deadlocking mid-way. This also makes inits one at a
--    time, with locks only the owner's tables' writers can hold (no
--    advisory key, which any role could take). Past the timeout the error
--    names who holds the table.
SET LOCAL search_path = pg_catalog, pg_temp;
SET LOCAL client_min_messages = warning;
DO $lock$
DECLARE
    t text;
    holders text;
BEGIN
    IF current_setting('lock_timeout') = '0' THEN
        PERFORM set_config('lock_timeout', '30s', true);
    END IF;
    FOREACH t IN ARRAY ARRAY['public.load_ledger', 'public.staging_table', 'public.dim_stores',
                             'public.dim_products', 'public.dim_customers', 'public.dim_dates',
                             'public.facts', 'public.load_rejects'] LOOP
        IF to_regclass(t) IS NOT NULL THEN
            BEGIN
                EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', t);
            EXCEPTION WHEN lock_not_available THEN
                IF to_regprocedure('loader.lock_holders(regclass)') IS NOT NULL THEN
                    EXECUTE 'SELECT loader.lock_holders($1)' INTO holders USING to_regclass(t);
                END IF;
                RAISE EXCEPTION USING
                    ERRCODE = 'lock_not_available',
                    MESSAGE = format('init waited lock_timeout (%s) for %s, which running loads or '
                                     'other sessions hold: %s', current_setting('lock_timeout'), t,
                                     coalesce(holders, 'see pg_locks')),
                    HINT = 'run init again when they are done, or with a longer --lock-timeout';
            END;
        END IF;
    END LOOP;
END
$lock$;
