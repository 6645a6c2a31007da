-- One init at a time (a transaction-level advisory lock), and the tables
-- that exist locked up front in the order a load takes them (ledger,
-- staging, dimensions, facts, rejects): an init beside running loads waits
-- for them, then they wait for it, instead of deadlocking with them when a
-- statement below would lock a table a load holds. Included right after
-- BEGIN by db_initiation.sql and db_transformation.sql (`loader init` inlines
-- it the same way).
DO $lock$
DECLARE
    t text;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(8243124858765094258);
    FOREACH t IN ARRAY ARRAY['load_ledger', 'staging_table', 'dim_stores', 'dim_products',
                             'dim_customers', 'dim_dates', 'facts', 'load_rejects'] LOOP
        IF pg_catalog.to_regclass(t) IS NOT NULL THEN
            EXECUTE pg_catalog.format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', t);
        END IF;
    END LOOP;
END
$lock$;
