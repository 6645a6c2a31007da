-- Reconciliation of staging, the star schema and the load ledger.
--
--   psql -v ON_ERROR_STOP=1 -f sql/verify.sql      (or: loader verify)
--
-- Prints one row per check and fails (non-zero exit from psql with
-- ON_ERROR_STOP, or from `loader verify`) when any check does not hold.
-- Read-only apart from a temporary table; runs in one REPEATABLE READ
-- snapshot so loads committing meanwhile cannot cause false alarms.
-- It scans whole tables: run it off the load path. Anti-joins are written
-- as LEFT JOIN ... IS NULL, which PostgreSQL plans as NOT EXISTS and Citus
-- can run over distributed tables (it refuses correlated subqueries there).
--
-- Loads whose staging rows were removed by `loader prune` are left out of
-- the checks that compare facts and dimensions with staging.

\set QUIET on
BEGIN ISOLATION LEVEL REPEATABLE READ;
-- First, before any expression: every function and operator below resolves
-- in pg_catalog only, and every table is named with its schema, so no
-- object another role creates, before or while this runs, takes part.
SET LOCAL search_path = pg_catalog, pg_temp;
SET LOCAL client_min_messages = warning;
SET LOCAL work_mem = '256MB';
-- Compiling these one-off queries costs more than running them.
SET LOCAL jit = off;

CREATE TEMPORARY TABLE pg_temp.verify_result (
    seq    int     NOT NULL,
    check_name text NOT NULL,
    detail text    NOT NULL,
    ok     boolean NOT NULL
) ON COMMIT DROP;

-- Staging rows that still have their source in reach: hand loads (load_id
-- NULL) and loads not pruned.
CREATE TEMPORARY VIEW pg_temp.verify_staging AS
SELECT s.*
FROM public.staging_table s
LEFT JOIN public.load_ledger l ON l.load_id = s.load_id AND l.staging_pruned_at IS NOT NULL
WHERE l.load_id IS NULL;

CREATE TEMPORARY VIEW pg_temp.verify_facts AS
SELECT f.*
FROM public.facts f
LEFT JOIN public.load_ledger l ON l.load_id = f.load_id AND l.staging_pruned_at IS NOT NULL
WHERE l.load_id IS NULL;

-- 1. Star-schema integrity: no fact without its dimension rows.
INSERT INTO pg_temp.verify_result
SELECT 1, 'facts without their store', n || ' facts', n = 0
FROM (SELECT count(*) AS n FROM public.facts f
      LEFT JOIN public.dim_stores d ON d.store_id = f.store_id
      WHERE d.store_id IS NULL) x;
INSERT INTO pg_temp.verify_result
SELECT 2, 'facts without their product', n || ' facts', n = 0
FROM (SELECT count(*) AS n FROM public.facts f
      LEFT JOIN public.dim_products d ON d.product_id = f.product_id
      WHERE d.product_id IS NULL) x;
INSERT INTO pg_temp.verify_result
SELECT 3, 'facts without their customer', n || ' facts', n = 0
FROM (SELECT count(*) AS n FROM public.facts f
      LEFT JOIN public.dim_customers d ON d.customer_id = f.customer_id
      WHERE f.customer_id IS NOT NULL AND d.customer_id IS NULL) x;
INSERT INTO pg_temp.verify_result
SELECT 4, 'facts without their date', n || ' facts', n = 0
FROM (SELECT count(*) AS n FROM public.facts f
      LEFT JOIN public.dim_dates d ON d.date = f.transaction_date
      WHERE d.date IS NULL) x;

-- 2. Nothing lost: every staged transaction is a fact.
INSERT INTO pg_temp.verify_result
SELECT 5, 'staged transactions missing from facts', n || ' rows', n = 0
FROM (SELECT count(*) AS n FROM pg_temp.verify_staging s
      LEFT JOIN public.facts f ON f.transaction_id = s.transaction_id
      WHERE f.transaction_id IS NULL) x;

-- 3. Nothing invented or altered: every fact is a staged row of its load.
INSERT INTO pg_temp.verify_result
SELECT 6, 'facts that differ from their staged row', n || ' facts', n = 0
FROM (SELECT count(*) AS n FROM pg_temp.verify_facts f
      LEFT JOIN pg_temp.verify_staging s
          ON s.transaction_id = f.transaction_id
            AND s.load_id IS NOT DISTINCT FROM f.load_id
            AND s.transaction_date = f.transaction_date
            AND s.transaction_time = f.transaction_time
            AND s.store_id = f.store_id
            AND s.product_id = f.product_id
            AND s.customer_id IS NOT DISTINCT FROM f.customer_id
            AND s.payment_method = f.payment_method
            AND s.quantity_sold = f.quantity_sold
            AND s.total_amount = f.total_amount
      WHERE s.transaction_id IS NULL) x;

-- 4. Per load: staging rows = ledger rows = facts inserted + duplicates.
INSERT INTO pg_temp.verify_result
SELECT 7, 'loads whose staging, facts and ledger counts disagree',
       count(*) FILTER (WHERE NOT agree) || ' of ' || count(*) || ' loads'
           || coalesce(' (first: load ' || min(load_id) FILTER (WHERE NOT agree) || ')', ''),
       count(*) FILTER (WHERE NOT agree) = 0
FROM (
    SELECT l.load_id,
           coalesce(s.n, 0) = l.rows_loaded
           AND coalesce(f.n, 0) = l.facts_inserted
           AND l.rows_loaded = l.facts_inserted + l.duplicates AS agree
    FROM public.load_ledger l
    LEFT JOIN (SELECT load_id, count(*) AS n FROM public.staging_table
               WHERE load_id IS NOT NULL GROUP BY load_id) s USING (load_id)
    LEFT JOIN (SELECT load_id, count(*) AS n FROM public.facts
               WHERE load_id IS NOT NULL GROUP BY load_id) f USING (load_id)
    WHERE l.status = 'loaded' AND l.staging_pruned_at IS NULL
) per_load;

-- 5. Nothing partial: staged rows belong to loads the ledger says are loaded.
INSERT INTO pg_temp.verify_result
SELECT 8, 'staged rows of loads not marked loaded', n || ' rows', n = 0
FROM (SELECT count(*) AS n FROM public.staging_table s
      WHERE s.load_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM public.load_ledger l
                        WHERE l.load_id = s.load_id AND l.status = 'loaded')) x;

-- 5b. Every refused row is filed: a loaded load's rejects are the ledger's
--     rows_rejected, and no reject belongs to a load that is not loaded.
INSERT INTO pg_temp.verify_result
SELECT 12, 'loads whose rejects and ledger disagree',
       n || ' loads' || coalesce(' (first: load ' || first || ')', ''), n = 0
FROM (SELECT count(*) AS n, min(load_id) AS first
      FROM (SELECT l.load_id
            FROM public.load_ledger l
            LEFT JOIN (SELECT load_id, count(*) AS n FROM public.load_rejects
                       GROUP BY load_id) r USING (load_id)
            WHERE l.status = 'loaded'
              AND coalesce(r.n, 0) <> coalesce(l.rows_rejected, 0)
            UNION
            SELECT DISTINCT r.load_id
            FROM public.load_rejects r
            WHERE NOT EXISTS (SELECT 1 FROM public.load_ledger l
                              WHERE l.load_id = r.load_id AND l.status = 'loaded')) bad) x;

-- 6. Dimensions hold the attributes of their newest staged transaction,
--    newest in the dimension's total order (loader.*_newness, the order
--    the trigger writes by: timestamp, transaction_id, then the attribute
--    values). A dimension row may come from a transaction newer than what
--    staging still holds (pruned loads), never an older one, nor another
--    copy of the same one. Same two hashed passes as the trigger: newest
--    timestamp per id, then the rows at it; only those are sorted.
INSERT INTO pg_temp.verify_result
SELECT 9, 'stores not matching their newest transaction', n || ' stores', n = 0
FROM (SELECT count(*) AS n
      FROM (SELECT DISTINCT ON (v.store_id) v.store_id,
                   loader.store_newness(newest.ts, v.transaction_id, v.store_name,
                                        v.store_location) AS k
            FROM pg_temp.verify_staging v
            JOIN (SELECT store_id, max(transaction_date + transaction_time) AS ts
                  FROM pg_temp.verify_staging GROUP BY store_id) newest
              ON v.store_id = newest.store_id
             AND v.transaction_date + v.transaction_time = newest.ts
            ORDER BY v.store_id,
                     loader.store_newness(newest.ts, v.transaction_id, v.store_name,
                                          v.store_location) DESC) s
      JOIN public.dim_stores d USING (store_id)
      WHERE loader.store_newness(d.source_ts, d.source_txn, d.store_name, d.store_location) <> s.k
        AND (d.source_ts, d.source_txn) <= ((s.k).source_ts, (s.k).source_txn)) x;
INSERT INTO pg_temp.verify_result
SELECT 10, 'products not matching their newest transaction', n || ' products', n = 0
FROM (SELECT count(*) AS n
      FROM (SELECT DISTINCT ON (v.product_id) v.product_id,
                   loader.product_newness(newest.ts, v.transaction_id, v.product_name,
                                          v.product_category, v.product_price) AS k
            FROM pg_temp.verify_staging v
            JOIN (SELECT product_id, max(transaction_date + transaction_time) AS ts
                  FROM pg_temp.verify_staging GROUP BY product_id) newest
              ON v.product_id = newest.product_id
             AND v.transaction_date + v.transaction_time = newest.ts
            ORDER BY v.product_id,
                     loader.product_newness(newest.ts, v.transaction_id, v.product_name,
                                            v.product_category, v.product_price) DESC) s
      JOIN public.dim_products d USING (product_id)
      WHERE loader.product_newness(d.source_ts, d.source_txn, d.product_name,
                                   d.product_category, d.product_price) <> s.k
        AND (d.source_ts, d.source_txn) <= ((s.k).source_ts, (s.k).source_txn)) x;
INSERT INTO pg_temp.verify_result
SELECT 11, 'customers not matching their newest transaction', n || ' customers', n = 0
FROM (SELECT count(*) AS n
      FROM (SELECT DISTINCT ON (v.customer_id) v.customer_id,
                   loader.customer_newness(newest.ts, v.transaction_id, v.customer_age,
                                           v.customer_gender, v.customer_membership) AS k
            FROM pg_temp.verify_staging v
            JOIN (SELECT customer_id, max(transaction_date + transaction_time) AS ts
                  FROM pg_temp.verify_staging WHERE customer_id IS NOT NULL
                  GROUP BY customer_id) newest
              ON v.customer_id = newest.customer_id
             AND v.transaction_date + v.transaction_time = newest.ts
            ORDER BY v.customer_id,
                     loader.customer_newness(newest.ts, v.transaction_id, v.customer_age,
                                             v.customer_gender, v.customer_membership) DESC) s
      JOIN public.dim_customers d USING (customer_id)
      WHERE loader.customer_newness(d.source_ts, d.source_txn, d.customer_age,
                                    d.customer_gender, d.customer_membership) <> s.k
        AND (d.source_ts, d.source_txn) <= ((s.k).source_ts, (s.k).source_txn)) x;

-- 7. Totals, for the reader (always ok).
INSERT INTO pg_temp.verify_result
SELECT 20, 'facts', count(*) || ' rows, total_amount ' || coalesce(sum(total_amount), 0), true
FROM public.facts;
INSERT INTO pg_temp.verify_result
SELECT 21, 'staged rows', count(*) || ' rows, '
       || count(*) FILTER (WHERE load_id IS NULL) || ' from hand loads', true
FROM public.staging_table;
INSERT INTO pg_temp.verify_result
SELECT 22, 'dimensions',
       (SELECT count(*) FROM public.dim_stores) || ' stores, '
       || (SELECT count(*) FROM public.dim_products) || ' products, '
       || (SELECT count(*) FROM public.dim_customers) || ' customers, '
       || (SELECT count(*) FROM public.dim_dates) || ' dates', true;
INSERT INTO pg_temp.verify_result
SELECT 23, 'ledger',
       count(*) FILTER (WHERE status = 'loaded') || ' loaded, '
       || count(*) FILTER (WHERE status = 'failed') || ' failed, '
       || count(*) FILTER (WHERE status = 'timed_out') || ' timed out, '
       || coalesce(sum(duplicates) FILTER (WHERE status = 'loaded'), 0) || ' duplicate rows, '
       || coalesce(sum(rows_rejected) FILTER (WHERE status = 'loaded'), 0) || ' rejected rows',
       true
FROM public.load_ledger;

SELECT check_name AS "check", detail, CASE WHEN ok THEN 'ok' ELSE 'FAILED' END AS result
FROM pg_temp.verify_result ORDER BY seq;

DO $verify$
DECLARE
    failed text;
BEGIN
    SELECT string_agg(check_name, '; ' ORDER BY seq) INTO failed
    FROM pg_temp.verify_result WHERE NOT ok;
    IF failed IS NOT NULL THEN
        RAISE EXCEPTION 'verify failed: %', failed;
    END IF;
END
$verify$;

COMMIT;
