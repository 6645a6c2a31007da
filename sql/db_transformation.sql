-- The batch trigger: normalizes each COPY (or INSERT) into staging_table into
-- the star schema, once per statement, reading only the transition table.
--
-- Safe to run again: CREATE OR REPLACE for the function, the trigger dropped
-- and re-created inside one transaction (no window without it). Data is kept.
--   psql -v ON_ERROR_STOP=1 -f sql/db_transformation.sql
--
-- Invariants the rest of the system relies on:
--  * Dimensions and facts are written in the same transaction (the same
--    statement for a hand load), so every committed fact has its dimension
--    rows (no foreign keys needed; verify.sql proves it).
--  * Each dimension batch is written in key order, so concurrent loads take
--    row locks in one global order and cannot deadlock on dimensions.
--  * A dimension row is only overwritten by a newer (source_ts, source_txn),
--    compared bytewise (COLLATE "C"), so the final state is the same whatever
--    order the objects load in.
--  * A repeated transaction_id is kept once: the first one inserted wins.
--    If its copies disagree on dimension attributes, the tie is broken by the
--    attribute values themselves, so the result is still deterministic.
--  * The cost depends only on the batch: the transition table is scanned,
--    the existing tables are touched only through their primary keys.
--
-- The loader's shortcut for dimensions. Finding each id's newest rows takes
-- the trigger four passes over a big batch; the loader finds them while it
-- encodes, for almost nothing. So a loader batch (one whose transaction set
-- loader.defer_dimensions = 'on') gets only its facts written here; the
-- loader then copies its candidates -- for every store, product and
-- customer id all the rows at its newest timestamp, and one row per date --
-- into staging_dimension_candidates, in the same transaction, and the same
-- function, fired by that table's trigger, runs the same dimension statement
-- over them. The newest rows of an id are among its candidates, so the
-- result is the one the whole batch would give; the tie-breaks stay here.
-- loader.dimensions_pending is set while a deferred batch waits for its
-- candidates; the loader refuses to commit unless it is clear again. When
-- the loader cannot keep the candidates in its memory budget, it calls
-- normalize_load_dimensions(load_id), which feeds the load's staged rows
-- through the same trigger instead.

BEGIN;

-- Pin the function's search_path to the schema it is installed in, with
-- pg_temp last, so neither the caller's search_path nor a temporary table can
-- redirect what the SECURITY DEFINER function writes.
SET LOCAL client_min_messages = warning;
DO $pin$
BEGIN
    PERFORM set_config('search_path', quote_ident(current_schema()) || ', pg_temp', true);
END
$pin$;

CREATE OR REPLACE FUNCTION normalize_staging_batch() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
-- JIT compiles for longer than these statements run.
SET jit = off
AS $fn$
DECLARE
    inserted_facts bigint;
    batch_rows bigint;
    candidates boolean := TG_RELID = 'staging_dimension_candidates'::regclass;
    -- normalize_load_dimensions copies whole batches into the candidates.
    just_candidates boolean := candidates
        AND coalesce(current_setting('loader.whole_batch', true), '') <> 'on';
    -- (coalesce: an unset setting reads as NULL, and NOT NULL is not true.)
    deferred boolean := TG_RELID = 'staging_table'::regclass
        AND coalesce(current_setting('loader.defer_dimensions', true), '') = 'on';
BEGIN
    IF NOT deferred THEN
        -- All four dimensions in one statement, so the batch is read four times
        -- instead of seven. One pass of hashed grouping sets finds, per store,
        -- product and customer id, the newest timestamp, and the distinct dates
        -- (GROUPING() tells the sets apart: 7 stores, 11 products, 13 customers,
        -- 14 dates). Then, per dimension, one hashed pass picks the rows at that
        -- timestamp; only those few candidates are sorted, to break ties by
        -- transaction_id and then by the attributes. Sorting the whole batch
        -- (one DISTINCT ON per dimension) was ~10x slower; a separate statement
        -- per dimension cost three more passes (BENCHMARKS.md).
        -- The loader's candidates are already the rows at each id's newest
        -- timestamp (the other dimensions' columns NULL): for them
        -- (just_candidates) the grouping pass is never run and each
        -- dimension sorts its own candidates directly. The sort's order is
        -- the rule either way: newest timestamp, then the tie-breaks.
        -- The data-modifying CTEs run in a fixed order (the main INSERT, then
        -- the CTEs), the same in every load, and each writes in key order, so
        -- concurrent loads take dimension row locks in one global order.
        WITH newest AS MATERIALIZED (
            SELECT GROUPING(store_id, product_id, customer_id, transaction_date) AS g,
                   store_id, product_id, customer_id, transaction_date,
                   max(transaction_date + transaction_time) AS ts
            FROM new_rows
            GROUP BY GROUPING SETS ((store_id), (product_id), (customer_id), (transaction_date))
        ),
        stores AS (
            INSERT INTO dim_stores AS d
                (store_id, store_name, store_location, store_city, store_state, source_ts, source_txn)
            SELECT s.store_id,
                   s.store_name,
                   s.store_location,
                   -- "City- State": split at the last hyphen, as the original did;
                   -- a city may itself contain one (Winston-Salem- NC).
                   CASE WHEN strpos(s.store_location, '-') > 0
                        THEN btrim(substring(s.store_location FROM '^(.*)-'))
                        ELSE btrim(s.store_location) END,
                   CASE WHEN strpos(s.store_location, '-') > 0
                        THEN NULLIF(btrim(substring(s.store_location FROM '-([^-]*)$')), '') END,
                   s.ts,
                   s.transaction_id
            FROM (
                SELECT DISTINCT ON (n.store_id)
                       n.store_id, n.store_name, n.store_location,
                       n.transaction_date + n.transaction_time AS ts, n.transaction_id
                FROM new_rows n
                WHERE n.store_id IS NOT NULL
                  AND (just_candidates
                       OR (n.store_id, n.transaction_date + n.transaction_time)
                          IN (SELECT w.store_id, w.ts FROM newest w WHERE w.g = 7))
                ORDER BY n.store_id, ts DESC, n.transaction_id COLLATE "C" DESC,
                         n.store_name COLLATE "C" DESC, n.store_location COLLATE "C" DESC
            ) s
            ORDER BY s.store_id
            ON CONFLICT (store_id) DO UPDATE
                SET store_name = EXCLUDED.store_name,
                    store_location = EXCLUDED.store_location,
                    store_city = EXCLUDED.store_city,
                    store_state = EXCLUDED.store_state,
                    source_ts = EXCLUDED.source_ts,
                    source_txn = EXCLUDED.source_txn,
                    updated_at = now()
                WHERE (d.source_ts, d.source_txn COLLATE "C")
                    < (EXCLUDED.source_ts, EXCLUDED.source_txn COLLATE "C")
        ),
        products AS (
            INSERT INTO dim_products AS d
                (product_id, product_name, product_category, product_price, source_ts, source_txn)
            SELECT p.product_id, p.product_name, p.product_category, p.product_price,
                   p.ts, p.transaction_id
            FROM (
                SELECT DISTINCT ON (n.product_id)
                       n.product_id, n.product_name, n.product_category, n.product_price,
                       n.transaction_date + n.transaction_time AS ts, n.transaction_id
                FROM new_rows n
                WHERE n.product_id IS NOT NULL
                  AND (just_candidates
                       OR (n.product_id, n.transaction_date + n.transaction_time)
                          IN (SELECT w.product_id, w.ts FROM newest w WHERE w.g = 11))
                ORDER BY n.product_id, ts DESC, n.transaction_id COLLATE "C" DESC,
                         n.product_name COLLATE "C" DESC, n.product_category COLLATE "C" DESC,
                         n.product_price DESC
            ) p
            ORDER BY p.product_id
            ON CONFLICT (product_id) DO UPDATE
                SET product_name = EXCLUDED.product_name,
                    product_category = EXCLUDED.product_category,
                    product_price = EXCLUDED.product_price,
                    source_ts = EXCLUDED.source_ts,
                    source_txn = EXCLUDED.source_txn,
                    updated_at = now()
                WHERE (d.source_ts, d.source_txn COLLATE "C")
                    < (EXCLUDED.source_ts, EXCLUDED.source_txn COLLATE "C")
        ),
        customers AS (
            INSERT INTO dim_customers AS d
                (customer_id, customer_age, customer_gender, customer_membership, source_ts, source_txn)
            SELECT c.customer_id, c.customer_age, c.customer_gender, c.customer_membership,
                   c.ts, c.transaction_id
            FROM (
                SELECT DISTINCT ON (n.customer_id)
                       n.customer_id, n.customer_age, n.customer_gender, n.customer_membership,
                       n.transaction_date + n.transaction_time AS ts, n.transaction_id
                FROM new_rows n
                WHERE n.customer_id IS NOT NULL
                  AND (just_candidates
                       OR (n.customer_id, n.transaction_date + n.transaction_time)
                          IN (SELECT w.customer_id, w.ts FROM newest w WHERE w.g = 13))
                ORDER BY n.customer_id, ts DESC, n.transaction_id COLLATE "C" DESC,
                         n.customer_age DESC, n.customer_gender COLLATE "C" DESC,
                         n.customer_membership COLLATE "C" DESC
            ) c
            ORDER BY c.customer_id
            ON CONFLICT (customer_id) DO UPDATE
                SET customer_age = EXCLUDED.customer_age,
                    customer_gender = EXCLUDED.customer_gender,
                    customer_membership = EXCLUDED.customer_membership,
                    source_ts = EXCLUDED.source_ts,
                    source_txn = EXCLUDED.source_txn,
                    updated_at = now()
                WHERE (d.source_ts, d.source_txn COLLATE "C")
                    < (EXCLUDED.source_ts, EXCLUDED.source_txn COLLATE "C")
        )
        INSERT INTO dim_dates (date, year, quarter, month, day, day_of_week, is_weekend)
        SELECT w.transaction_date,
               extract(year FROM w.transaction_date)::smallint,
               extract(quarter FROM w.transaction_date)::smallint,
               extract(month FROM w.transaction_date)::smallint,
               extract(day FROM w.transaction_date)::smallint,
               extract(isodow FROM w.transaction_date)::smallint,
               extract(isodow FROM w.transaction_date) >= 6
        FROM (SELECT w.transaction_date FROM newest w WHERE w.g = 14 AND NOT just_candidates
              UNION ALL
              SELECT DISTINCT n.transaction_date FROM new_rows n WHERE just_candidates) w
        ORDER BY w.transaction_date
        ON CONFLICT (date) DO NOTHING;
    END IF;

    IF candidates THEN
        -- Candidates never outlive their load's transaction. The loader
        -- copies one load's at a time (verify.sql checks none are left).
        DELETE FROM staging_dimension_candidates
        WHERE load_id = (SELECT load_id FROM new_rows LIMIT 1);
        PERFORM set_config('loader.dimensions_pending', '', true);
        RETURN NULL;
    END IF;

    -- Facts: a plain INSERT first. Almost every batch is all new ids, and a
    -- plain INSERT skips ON CONFLICT's extra index probe per row (measured
    -- ~20% of this statement). When some transaction_id is already a fact,
    -- or repeats within the batch, the unique index refuses it, the block
    -- rolls back to its savepoint, and the INSERT runs again keeping the
    -- first of each. Scan order of the transition table is the order rows
    -- were copied, so within a batch the first occurrence wins too.
    BEGIN
        INSERT INTO facts
            (transaction_id, transaction_date, transaction_time, store_id, product_id,
             customer_id, payment_method, quantity_sold, total_amount, load_id)
        SELECT transaction_id, transaction_date, transaction_time, store_id, product_id,
               customer_id, payment_method, quantity_sold, total_amount, load_id
        FROM new_rows;
        GET DIAGNOSTICS inserted_facts = ROW_COUNT;
    EXCEPTION WHEN unique_violation THEN
        INSERT INTO facts
            (transaction_id, transaction_date, transaction_time, store_id, product_id,
             customer_id, payment_method, quantity_sold, total_amount, load_id)
        SELECT transaction_id, transaction_date, transaction_time, store_id, product_id,
               customer_id, payment_method, quantity_sold, total_amount, load_id
        FROM new_rows
        ON CONFLICT (transaction_id) DO NOTHING;
        GET DIAGNOSTICS inserted_facts = ROW_COUNT;
    END;

    -- A hand load (psql \copy, no load_id) has no ledger to record its
    -- duplicates in: say it. Loader batches skip the extra count.
    IF (SELECT load_id FROM new_rows LIMIT 1) IS NULL THEN
        SELECT count(*) INTO batch_rows FROM new_rows;
        IF batch_rows > inserted_facts THEN
            RAISE NOTICE '% of % rows repeat a transaction_id already loaded: kept the first, skipped these',
                batch_rows - inserted_facts, batch_rows;
        END IF;
    END IF;

    -- The loader reads this after its COPY, in the same transaction, to
    -- record duplicates in the ledger without another pass over anything.
    PERFORM set_config('loader.facts_inserted', inserted_facts::text, true);
    IF deferred THEN
        PERFORM set_config('loader.dimensions_pending', 'on', true);
    END IF;
    RETURN NULL;
END
$fn$;

-- The fallback when the loader could not keep a batch's candidates: every
-- staged row of the load becomes a candidate (found through the BRIN index
-- on load_id), so the dimensions come from the whole batch, as for a hand
-- load. Only meaningful inside the load's own transaction; for a committed
-- load it changes nothing (a dimension row is only replaced by a newer one).
CREATE OR REPLACE FUNCTION normalize_load_dimensions(p_load_id bigint) RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path FROM CURRENT
SET jit = off
AS $fn$
    SELECT set_config('loader.whole_batch', 'on', true);
    INSERT INTO staging_dimension_candidates
    SELECT * FROM staging_table WHERE load_id = p_load_id;
    SELECT set_config('loader.whole_batch', '', true);
$fn$;

DROP TRIGGER IF EXISTS staging_table_normalize ON staging_table;
CREATE TRIGGER staging_table_normalize
    AFTER INSERT ON staging_table
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION normalize_staging_batch();

DROP TRIGGER IF EXISTS staging_dimension_candidates_normalize ON staging_dimension_candidates;
CREATE TRIGGER staging_dimension_candidates_normalize
    AFTER INSERT ON staging_dimension_candidates
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION normalize_staging_batch();

COMMIT;
