-- The batch trigger and the loader's protocol: the only code that writes the
-- star schema and the ledger.
--
-- Safe to run again: CREATE OR REPLACE for the functions, the trigger dropped
-- and re-created inside one transaction (no window without it). Data is kept.
-- Run after db_initiation.sql, as the owner of the tables:
--   psql -v ON_ERROR_STOP=1 -f sql/db_transformation.sql
--
-- One object, one direction (every function in schema loader, called by
-- the client schema-qualified with its search_path pinned):
--
--   loader.loader_claim(bucket, key, etag, version) -> load_id, or "already loaded"
--   COPY public.staging_table (..., load_id) FROM STDIN
--        the trigger, once per statement: facts, dimensions, ledger counts
--   [loader.loader_identify(load_id, content hash)]  local files and stdin,
--                                                    whose identity is known
--                                                    only now
--   [loader.loader_file_rejects(load_id, ...)]       the rows the loader refused
--   loader.loader_complete(load_id, bytes, ms)       -> the figures; NOTIFY
--   COMMIT                                           refused while a load
--                                                    claimed in this
--                                                    transaction is not complete
--   after a ROLLBACK: loader.loader_fail(...)        never over a loaded row
--
-- The trigger has one mode; what it does depends only on the batch:
--
--   batch's load_id              | the trigger
--   -----------------------------+----------------------------------------------
--   NULL in every row (\copy)    | facts, then dimensions
--   one id, claimed by this      | facts, then dimensions, then the counts on
--     transaction (loader_claim) |   that ledger row (rows, facts inserted)
--   anything else                | error: nothing of the statement is kept
--
-- So no sequence of statements commits a fact without its store, product,
-- customer and date rows: both are written by the same trigger invocation,
-- from the same staged rows. No session setting steers anything.
--
-- Invariants the rest of the system relies on:
--  * Dimension values come only from staged rows. A dimension row is
--    replaced only by a row that is greater in one total order: timestamp
--    (date + time), then transaction_id, then the attribute values (bytewise;
--    NULL above any value), written once per dimension (loader.*_newness)
--    and used by the candidates' sort, the upsert's condition and
--    verify.sql alike, so the same objects give the same dimensions in any
--    order or concurrency. Rows are never deleted, and a stored row only ever
--    moves up in that order, so a candidate found not to win against the
--    stored row without a lock can be skipped: nothing can make it win
--    later.
--  * Many loads at once (the normal case: one Lambda per S3 PUT). Hot rows
--    are locked last and briefly: the batch is read without locks first
--    (each dimension's newest candidate per key, minus the keys whose
--    stored row already wins), then the facts are inserted, then the few
--    dimension rows that change are written in key order (stores,
--    products, customers, dates), the last writes before commit. Loads
--    that share stores wait for each other only for those writes. Two
--    loads wait on each other's facts only when they share a
--    transaction_id (a re-upload under another key); such a cycle is a
--    deadlock that PostgreSQL breaks and the loader retries (40P01), with
--    the same result. No advisory lock: any role with CONNECT could take
--    its key. Every wait is bounded by the client's lock_timeout; past it
--    the error names the sessions holding the table (loader.lock_holders).
--  * A repeated transaction_id is kept once: the copy loaded first wins
--    (within one object: the least copy in the order of its columns).
--  * The cost depends only on the batch: the transition table is scanned,
--    the existing tables are touched only through their primary keys.
--  * Every staged row's transaction_date is within loader.settings
--    (min_date, today + max_date_ahead): the database's own bound, not the
--    client's.
--
-- Security: every function runs as its owner (SECURITY DEFINER) with
-- search_path = pg_catalog, pg_temp and every table named with its schema
-- (but the three *_newness keys: inlined expressions that name nothing),
-- so no object created by another role (a table in pg_temp, an operator or
-- function in a schema PUBLIC may CREATE in) can change what they resolve
-- to: operators and functions are looked up in pg_catalog only. This
-- file's own transaction pins the same search_path first
-- (lock_for_init.sql). EXECUTE is revoked from PUBLIC; roles.sql grants the
-- protocol's functions to loader_role, which cannot touch the tables
-- otherwise.

BEGIN;
\ir lock_for_init.sql

-- Versions 3 and before kept the trigger and the protocol in public. The
-- triggers are re-created below on the new functions.
DROP FUNCTION IF EXISTS public.normalize_load_dimensions(bigint);
DROP TABLE IF EXISTS public.staging_dimension_candidates;
DROP TRIGGER IF EXISTS staging_table_normalize ON public.staging_table;
DROP TRIGGER IF EXISTS load_ledger_commit_check ON public.load_ledger;
DROP TRIGGER IF EXISTS load_ledger_states ON public.load_ledger;
DROP FUNCTION IF EXISTS public.normalize_staging_batch();
DROP FUNCTION IF EXISTS public.load_ledger_commit_check();
DROP FUNCTION IF EXISTS public.load_ledger_states();
DROP FUNCTION IF EXISTS public.loader_file_rejects(bigint, bigint[], text[], text[], text[]);

-- Who holds a lock on `rel` that a statement of this session waited for
-- until lock_timeout: the other sessions holding any lock on it whose
-- transaction is at least that old (a row lock's holder holds the table
-- too), oldest first. Role and application_name are visible to every
-- role; the transaction's age where the caller may see it (superuser,
-- pg_read_all_stats, or the same role).
CREATE OR REPLACE FUNCTION loader.lock_holders(rel regclass) RETURNS text
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT coalesce(
        string_agg(format('pid %s (role %s, application_name %L%s)', h.pid,
                          coalesce(h.usename::text, '?'), coalesce(h.application_name, ''),
                          CASE WHEN h.xact_start IS NOT NULL
                               THEN format(', in a transaction for %s s',
                                           round(extract(epoch FROM clock_timestamp()
                                                                   - h.xact_start)::numeric, 1))
                               ELSE '' END),
                   '; ' ORDER BY h.xact_start NULLS LAST, h.pid),
        'no session holds it any more')
    FROM (SELECT DISTINCT a.pid, a.usename, a.application_name, a.xact_start
          FROM pg_locks l
          JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'relation' AND l.relation = rel AND l.granted
            AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
            AND l.pid <> pg_backend_pid()
            AND (a.xact_start IS NULL
                 OR a.xact_start <= clock_timestamp()
                                    - current_setting('lock_timeout')::interval)) h
$fn$;

-- Each dimension's total order, the one "newest wins" means: the source
-- timestamp, then the transaction_id, then the attribute values; text
-- bytewise, NULL above any value ((x IS NULL, coalesce(x, ..)): the key
-- holds no NULL, so a whole key and a row of its fields compare alike).
-- Written once: a composite type per dimension (compared column by
-- column, text in its columns' collation, "C") and a function that makes
-- the key. The trigger's candidates, its filter against the stored rows,
-- the upsert's condition and verify.sql all compare these keys, so they
-- cannot disagree. The functions are plain IMMUTABLE SQL expressions, so
-- the planner inlines them where they are used (no call per row); a SET
-- clause or SECURITY DEFINER would stop that, and they need neither: they
-- name nothing another role could shadow. A sort takes the whole key.
-- A comparison takes its fields, ROW((k).*) < ROW((k').*), which the
-- planner reduces to the plain row comparison of the columns: comparing
-- two whole keys builds two tuples per row (measured 0.3 s instead of 0.1
-- s for 100k customers). dim_dates has no order: a date's row is a
-- function of the date.
DO $order_types$
BEGIN
    IF to_regtype('loader.store_order') IS NULL THEN
        CREATE TYPE loader.store_order AS (
            source_ts timestamp, source_txn text COLLATE "C",
            store_name text COLLATE "C", store_location text COLLATE "C");
    END IF;
    IF to_regtype('loader.product_order') IS NULL THEN
        CREATE TYPE loader.product_order AS (
            source_ts timestamp, source_txn text COLLATE "C", product_name text COLLATE "C",
            product_category text COLLATE "C", product_price numeric);
    END IF;
    IF to_regtype('loader.customer_order') IS NULL THEN
        CREATE TYPE loader.customer_order AS (
            source_ts timestamp, source_txn text COLLATE "C",
            no_age boolean, customer_age smallint,
            no_gender boolean, customer_gender text COLLATE "C",
            no_membership boolean, customer_membership text COLLATE "C");
    END IF;
END
$order_types$;

CREATE OR REPLACE FUNCTION loader.store_newness(
    source_ts timestamp, source_txn text, store_name text, store_location text)
RETURNS loader.store_order
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT ROW(source_ts, source_txn COLLATE pg_catalog."C", store_name COLLATE pg_catalog."C",
               store_location COLLATE pg_catalog."C")::loader.store_order
$fn$;

CREATE OR REPLACE FUNCTION loader.product_newness(
    source_ts timestamp, source_txn text, product_name text, product_category text,
    product_price numeric)
RETURNS loader.product_order
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT ROW(source_ts, source_txn COLLATE pg_catalog."C", product_name COLLATE pg_catalog."C",
               product_category COLLATE pg_catalog."C", product_price)::loader.product_order
$fn$;

CREATE OR REPLACE FUNCTION loader.customer_newness(
    source_ts timestamp, source_txn text, customer_age smallint, customer_gender text,
    customer_membership text)
RETURNS loader.customer_order
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT ROW(source_ts, source_txn COLLATE pg_catalog."C",
               customer_age IS NULL, coalesce(customer_age, 0::smallint),
               customer_gender IS NULL, coalesce(customer_gender, '') COLLATE pg_catalog."C",
               customer_membership IS NULL,
               coalesce(customer_membership, '') COLLATE pg_catalog."C")::loader.customer_order
$fn$;

-- A store's dimension row from a staged row. "City- State" is split at
-- the last hyphen, as the original did; a city may itself contain one
-- (Winston-Salem- NC). Called once per store of a batch (its winning
-- candidate), so it need not be inlined.
CREATE OR REPLACE FUNCTION loader.store_row(
    store_id smallint, store_name text, store_location text, source_ts timestamp,
    source_txn text)
RETURNS public.dim_stores
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT ROW(store_id, store_name, store_location,
               CASE WHEN strpos(store_location, '-') > 0
                    THEN btrim(substring(store_location FROM '^(.*)-'))
                    ELSE btrim(store_location) END,
               CASE WHEN strpos(store_location, '-') > 0
                    THEN NULLIF(btrim(substring(store_location FROM '-([^-]*)$')), '') END,
               source_ts, source_txn, statement_timestamp())::public.dim_stores
$fn$;

-- Raised for a write of the trigger that waited past lock_timeout: names
-- the sessions holding the table.
CREATE OR REPLACE FUNCTION loader.raise_lock_timeout(writing regclass) RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'lock_not_available',
        MESSAGE = format('waited lock_timeout (%s) to write %s, held by %s',
                         current_setting('lock_timeout'), writing,
                         loader.lock_holders(writing)),
        HINT = 'a session holding rows of it open blocks every load that writes them; '
               'see pg_stat_activity for that pid';
END
$fn$;

-- Of a batch's newest row per key, those that would replace the stored
-- row (or have none), read without a lock, in key order. Usually few once
-- a dimension has seen a few loads. It reads no transition table: on
-- Citus the dimensions are reference tables, and Citus's planner cannot
-- read a transition table. PL/pgSQL, not SQL: its statement is planned
-- for the arrays it is given (how many rows) as before, where a SQL
-- function's would guess a few and probe the index per row (measured
-- 0.37 s instead of 0.11 s for 100k customers).
CREATE OR REPLACE FUNCTION loader.dimension_rows_to_write(
    INOUT stores public.dim_stores[], INOUT products public.dim_products[],
    INOUT customers public.dim_customers[], INOUT dates date[])
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    SELECT (SELECT array_agg(s ORDER BY s.store_id)
            FROM unnest(stores) s
            LEFT JOIN public.dim_stores d ON d.store_id = s.store_id
            WHERE d.store_id IS NULL
               OR ROW((loader.store_newness(d.source_ts, d.source_txn, d.store_name,
                                            d.store_location)).*)
                < ROW((loader.store_newness(s.source_ts, s.source_txn, s.store_name,
                                            s.store_location)).*)),
           (SELECT array_agg(p ORDER BY p.product_id)
            FROM unnest(products) p
            LEFT JOIN public.dim_products d ON d.product_id = p.product_id
            WHERE d.product_id IS NULL
               OR ROW((loader.product_newness(d.source_ts, d.source_txn, d.product_name,
                                              d.product_category, d.product_price)).*)
                < ROW((loader.product_newness(p.source_ts, p.source_txn, p.product_name,
                                              p.product_category, p.product_price)).*)),
           (SELECT array_agg(c ORDER BY c.customer_id)
            FROM unnest(customers) c
            LEFT JOIN public.dim_customers d ON d.customer_id = c.customer_id
            WHERE d.customer_id IS NULL
               OR ROW((loader.customer_newness(d.source_ts, d.source_txn, d.customer_age,
                                               d.customer_gender, d.customer_membership)).*)
                < ROW((loader.customer_newness(c.source_ts, c.source_txn, c.customer_age,
                                               c.customer_gender, c.customer_membership)).*)),
           (SELECT array_agg(x.x ORDER BY x.x)
            FROM unnest(dates) AS x(x)
            LEFT JOIN public.dim_dates d ON d.date = x.x
            WHERE d.date IS NULL)
    INTO stores, products, customers, dates;
END
$fn$;

-- Whose rows a batch is: a hand load's (no load id) or one load that this
-- transaction claimed (its ledger row locked, for the counts); and dated
-- within the database's bound. An error undoes the whole statement.
CREATE OR REPLACE FUNCTION loader.check_batch(
    n_rows bigint, n_load_ids bigint, first_load bigint, last_load bigint, dates date[])
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    limits loader.settings%ROWTYPE;
    first_date date;
    last_date date;
    newest_allowed date;
BEGIN
    IF n_load_ids > 0 THEN
        IF n_load_ids < n_rows OR first_load <> last_load THEN
            RAISE EXCEPTION 'one statement stages the rows of one load: this one has load ids % to % and % rows without one',
                first_load, last_load, n_rows - n_load_ids
                USING ERRCODE = 'check_violation';
        END IF;
        PERFORM 1 FROM public.load_ledger l
        WHERE l.load_id = first_load
          AND l.status = 'loading'
          AND l.claimed_by = pg_current_xact_id()
        FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'load % is not claimed by this transaction: call loader.loader_claim first',
                first_load
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    SELECT * INTO limits FROM loader.settings;
    SELECT min(d.d), max(d.d) INTO first_date, last_date FROM unnest(dates) AS d(d);
    newest_allowed := ((now() AT TIME ZONE 'UTC') + limits.max_date_ahead)::date;
    IF first_date < limits.min_date OR last_date > newest_allowed THEN
        RAISE EXCEPTION 'a staged row is dated % (transaction_date): this database accepts % to % (loader.settings: min_date, today in UTC + max_date_ahead)',
            CASE WHEN first_date < limits.min_date THEN first_date ELSE last_date END,
            limits.min_date, newest_allowed
            USING ERRCODE = 'check_violation';
    END IF;
END
$fn$;

-- The dimension rows that change, in one order for every load (stores,
-- products, customers, dates; each in key order), the last writes before
-- the ledger's and the commit. The condition is the same order as the
-- filter's: a row stored meanwhile by another load wins when it is
-- greater. Returns the time spent (waits included): the only rows loads
-- wait for each other on.
CREATE OR REPLACE FUNCTION loader.write_dimensions(
    stores public.dim_stores[], products public.dim_products[],
    customers public.dim_customers[], dates date[])
RETURNS interval
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    started timestamptz := clock_timestamp();
    writing regclass;
BEGIN
    IF stores IS NOT NULL THEN
        writing := 'public.dim_stores';
        INSERT INTO public.dim_stores AS d
        SELECT * FROM unnest(stores) s ORDER BY s.store_id
        ON CONFLICT (store_id) DO UPDATE
            SET store_name = EXCLUDED.store_name,
                store_location = EXCLUDED.store_location,
                store_city = EXCLUDED.store_city,
                store_state = EXCLUDED.store_state,
                source_ts = EXCLUDED.source_ts,
                source_txn = EXCLUDED.source_txn,
                updated_at = EXCLUDED.updated_at
            WHERE ROW((loader.store_newness(d.source_ts, d.source_txn, d.store_name,
                                            d.store_location)).*)
                < ROW((loader.store_newness(EXCLUDED.source_ts, EXCLUDED.source_txn,
                                            EXCLUDED.store_name, EXCLUDED.store_location)).*);
    END IF;
    IF products IS NOT NULL THEN
        writing := 'public.dim_products';
        INSERT INTO public.dim_products AS d
        SELECT * FROM unnest(products) p ORDER BY p.product_id
        ON CONFLICT (product_id) DO UPDATE
            SET product_name = EXCLUDED.product_name,
                product_category = EXCLUDED.product_category,
                product_price = EXCLUDED.product_price,
                source_ts = EXCLUDED.source_ts,
                source_txn = EXCLUDED.source_txn,
                updated_at = EXCLUDED.updated_at
            WHERE ROW((loader.product_newness(d.source_ts, d.source_txn, d.product_name,
                                              d.product_category, d.product_price)).*)
                < ROW((loader.product_newness(EXCLUDED.source_ts, EXCLUDED.source_txn,
                                              EXCLUDED.product_name, EXCLUDED.product_category,
                                              EXCLUDED.product_price)).*);
    END IF;
    IF customers IS NOT NULL THEN
        writing := 'public.dim_customers';
        INSERT INTO public.dim_customers AS d
        SELECT * FROM unnest(customers) c ORDER BY c.customer_id
        ON CONFLICT (customer_id) DO UPDATE
            SET customer_age = EXCLUDED.customer_age,
                customer_gender = EXCLUDED.customer_gender,
                customer_membership = EXCLUDED.customer_membership,
                source_ts = EXCLUDED.source_ts,
                source_txn = EXCLUDED.source_txn,
                updated_at = EXCLUDED.updated_at
            WHERE ROW((loader.customer_newness(d.source_ts, d.source_txn, d.customer_age,
                                               d.customer_gender, d.customer_membership)).*)
                < ROW((loader.customer_newness(EXCLUDED.source_ts, EXCLUDED.source_txn,
                                               EXCLUDED.customer_age, EXCLUDED.customer_gender,
                                               EXCLUDED.customer_membership)).*);
    END IF;
    IF dates IS NOT NULL THEN
        writing := 'public.dim_dates';
        INSERT INTO public.dim_dates (date, year, quarter, month, day, day_of_week, is_weekend)
        SELECT d.d,
               extract(year FROM d.d)::smallint,
               extract(quarter FROM d.d)::smallint,
               extract(month FROM d.d)::smallint,
               extract(day FROM d.d)::smallint,
               extract(isodow FROM d.d)::smallint,
               extract(isodow FROM d.d)::smallint >= 6::smallint
        FROM unnest(dates) AS d(d)
        ORDER BY d.d
        ON CONFLICT (date) DO NOTHING;
    END IF;
    RETURN clock_timestamp() - started;
EXCEPTION WHEN lock_not_available THEN
    PERFORM loader.raise_lock_timeout(writing);
END
$fn$;

-- The facts' INSERT from `source` (the transition table, or a copy of
-- it), written once: in copy order, or `sorted` by key; or, to keep the
-- first copy of each id (within the batch, the least in the order of its
-- columns), with ON CONFLICT DO NOTHING, counted by what it returns
-- (Citus reports the rows it was given as the row count, not the rows it
-- inserted). Text for the trigger to EXECUTE: only the trigger function
-- sees the transition table. `source` is the trigger's own constant or a
-- quoted name.
CREATE OR REPLACE FUNCTION loader.facts_insert(
    source text, keep_first boolean, sorted boolean DEFAULT true)
RETURNS text
LANGUAGE sql IMMUTABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE WHEN keep_first THEN 'WITH kept AS (' ELSE '' END
        || 'INSERT INTO public.facts
                (transaction_id, transaction_date, transaction_time, store_id, product_id,
                 customer_id, payment_method, quantity_sold, total_amount, load_id)
            SELECT transaction_id, transaction_date, transaction_time, store_id, product_id,
                   customer_id, payment_method, quantity_sold, total_amount, load_id
            FROM ' || source
        || CASE WHEN keep_first
                THEN ' ORDER BY transaction_id, transaction_date, transaction_time, store_id,'
                     ' product_id, customer_id, payment_method COLLATE "C", quantity_sold,'
                     ' total_amount ON CONFLICT (transaction_id) DO NOTHING'
                     ' RETURNING 1) SELECT count(*) FROM kept'
                WHEN sorted THEN ' ORDER BY transaction_id'
                ELSE '' END
$fn$;

-- The facts from the batch's temporary copy, where Citus cannot read the
-- transition table (the trigger's step 3), then the copy dropped. Plain
-- first, as from the transition table: Citus streams a plain INSERT ...
-- SELECT into the shards, while keeping the first copy goes through
-- intermediate results and a second INSERT on every shard (measured ~50 ms
-- more per load). A worker's unique violation arrives as 23505 or XX000.
-- Returns the facts inserted.
CREATE OR REPLACE FUNCTION loader.facts_from_copy(copy_name text, shuffled boolean)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    source text := format('pg_temp.%I', copy_name);
    inserted bigint;
BEGIN
    BEGIN
        EXECUTE loader.facts_insert(source, keep_first => false, sorted => shuffled);
        GET DIAGNOSTICS inserted = ROW_COUNT;
    EXCEPTION WHEN unique_violation OR deadlock_detected OR internal_error THEN
        EXECUTE loader.facts_insert(source, keep_first => true) INTO inserted;
    END;
    EXECUTE format('DROP TABLE %s', source);
    RETURN inserted;
END
$fn$;

-- The batch's counts on its ledger row (locked by check_batch: this
-- load's own row, no other load waits for it).
CREATE OR REPLACE FUNCTION loader.count_batch(
    load bigint, n_rows bigint, n_load_ids bigint, inserted bigint, contended interval)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF n_load_ids > 0 THEN
        UPDATE public.load_ledger l
        SET rows_loaded = coalesce(l.rows_loaded, 0) + n_rows,
            facts_inserted = coalesce(l.facts_inserted, 0) + inserted,
            contended_ms = coalesce(l.contended_ms, 0)
                           + (extract(epoch FROM contended) * 1000)::bigint
        WHERE l.load_id = load;
    ELSIF n_rows > inserted THEN
        -- A hand load has no ledger to record its duplicates in: say it.
        RAISE NOTICE '% of % rows repeat a transaction_id already loaded: kept the first, skipped these',
            n_rows - inserted, n_rows;
    END IF;
END
$fn$;

-- The batch trigger: a short list of steps (the header says why in this
-- order). Reads only the transition table and the existing rows' keys;
-- the statements that read the transition table are here, since no other
-- function can see it.
--
-- Step 1, without locks: what the batch holds, in one statement of two
-- passes. Pass 1 (newest): one hashed pass of grouping sets finds, per
-- store, product and customer id, the newest timestamp, the distinct
-- dates, and the batch's totals (the empty set: rows, load ids). Pass 2
-- (candidates): the rows that are at the newest timestamp of their store,
-- product or customer, usually one per id. Only these few are sorted, per
-- dimension, in its total order (the tie-breaks). Sorting the whole batch
-- (one DISTINCT ON per dimension) was ~10x slower; a pass per dimension
-- cost two more passes (BENCHMARKS.md). Then only the candidates that
-- beat the stored row are kept, as arrays of the dimension's row type.
--
-- Step 3, the facts. A plain INSERT first: almost every batch is all new
-- ids, and a plain INSERT skips ON CONFLICT's extra index probe per row
-- (measured ~20% of this statement). When some transaction_id is already
-- a fact, or repeats within the batch, the unique index refuses it, the
-- block rolls back to its savepoint, and the INSERT runs again keeping
-- the first of each (within the batch, the least copy in the order of its
-- columns). Also when this batch and another one in progress hold some
-- of each other's ids (re-uploads, hand loads in other orders) and
-- PostgreSQL chose this one to break the cycle: rolling back to the
-- savepoint lets the other go on, and the sorted INSERT then waits for
-- its ids and keeps them. On Citus a worker's unique violation arrives as
-- XX000. In copy order when the batch already comes (about) in key order,
-- as sequential ids do; in key order otherwise. Ids in no order (UUIDs,
-- hashes) put each index entry on a random leaf page, which costs twice
-- the sort (1M rows: ~5 s of CPU unsorted, ~2.5 s sorted), while sorting
-- ids that are already in order only adds ~0.5 s. The first 10,000 staged
-- rows decide: sorted when more than 1% of their steps go down. Either
-- way the same rows are inserted; only the speed differs. Citus cannot
-- read a transition table in a statement that writes a distributed table
-- (XX000 at planning, nothing written): there the keep-the-first INSERT
-- runs from a temporary copy of the batch. Plain PostgreSQL never comes
-- to that copy, so it pays nothing for it.
--
-- jit is off: JIT compiles for longer than these statements run. work_mem
-- 64MB is enough for the hashed passes over 100k+ distinct ids without
-- spilling (the server's default, 4MB, sorts the customers instead: ~0.4 s
-- per 1M rows). The transition table is already built by then, under the
-- session's work_mem (the loader raises it per load).
CREATE OR REPLACE FUNCTION loader.normalize_staging_batch() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
SET work_mem = '64MB'
AS $fn$
DECLARE
    batch record;
    changed record;
    inserted bigint;
    shuffled boolean;
    contended interval;
    copy_name text;
BEGIN
    -- Step 1, without locks: what the batch holds (above).
    WITH newest AS MATERIALIZED (
        SELECT CASE WHEN GROUPING(store_id) = 0 THEN 'store'  -- the set's one column
                    WHEN GROUPING(product_id) = 0 THEN 'product'
                    WHEN GROUPING(customer_id) = 0 THEN 'customer'
                    WHEN GROUPING(transaction_date) = 0 THEN 'date'
                    ELSE 'batch' END AS grouped_by,
               store_id, product_id, customer_id, transaction_date,
               max(transaction_date + transaction_time) AS ts,
               count(*) AS n_rows, count(load_id) AS n_load_ids,
               min(load_id) AS first_load, max(load_id) AS last_load
        FROM new_rows
        GROUP BY GROUPING SETS ((store_id), (product_id), (customer_id), (transaction_date), ())
    ),
    candidates AS MATERIALIZED (
        SELECT n.*, n.transaction_date + n.transaction_time AS ts
        FROM new_rows n
        WHERE (n.store_id, n.transaction_date + n.transaction_time)
                  IN (SELECT w.store_id, w.ts FROM newest w WHERE w.grouped_by = 'store')
           OR (n.product_id, n.transaction_date + n.transaction_time)
                  IN (SELECT w.product_id, w.ts FROM newest w WHERE w.grouped_by = 'product')
           OR (n.customer_id, n.transaction_date + n.transaction_time)
                  IN (SELECT w.customer_id, w.ts FROM newest w WHERE w.grouped_by = 'customer')
    ),
    stores AS (
        SELECT DISTINCT ON (c.store_id)
               c.store_id, c.store_name, c.store_location, c.ts, c.transaction_id
        FROM candidates c
        WHERE (c.store_id, c.ts)
              IN (SELECT w.store_id, w.ts FROM newest w WHERE w.grouped_by = 'store')
        ORDER BY c.store_id,
                 loader.store_newness(c.ts, c.transaction_id, c.store_name, c.store_location) DESC
    ),
    products AS (
        SELECT DISTINCT ON (c.product_id)
               ROW(c.product_id, c.product_name, c.product_category, c.product_price,
                   c.ts, c.transaction_id, statement_timestamp())::public.dim_products AS r
        FROM candidates c
        WHERE (c.product_id, c.ts)
              IN (SELECT w.product_id, w.ts FROM newest w WHERE w.grouped_by = 'product')
        ORDER BY c.product_id,
                 loader.product_newness(c.ts, c.transaction_id, c.product_name,
                                        c.product_category, c.product_price) DESC
    ),
    customers AS (
        SELECT DISTINCT ON (c.customer_id)
               ROW(c.customer_id, c.customer_age, c.customer_gender, c.customer_membership,
                   c.ts, c.transaction_id, statement_timestamp())::public.dim_customers AS r
        FROM candidates c
        WHERE (c.customer_id, c.ts)
              IN (SELECT w.customer_id, w.ts FROM newest w WHERE w.grouped_by = 'customer')
        ORDER BY c.customer_id,
                 loader.customer_newness(c.ts, c.transaction_id, c.customer_age,
                                         c.customer_gender, c.customer_membership) DESC
    )
    SELECT t.n_rows, t.n_load_ids, t.first_load, t.last_load,
           (SELECT array_agg(loader.store_row(s.store_id, s.store_name, s.store_location, s.ts,
                                              s.transaction_id)) FROM stores s) AS stores,
           (SELECT array_agg(p.r) FROM products p) AS products,
           (SELECT array_agg(c.r) FROM customers c WHERE (c.r).customer_id IS NOT NULL)
               AS customers,
           (SELECT array_agg(w.transaction_date) FROM newest w WHERE w.grouped_by = 'date')
               AS dates
    INTO batch
    FROM newest t
    WHERE t.grouped_by = 'batch';
    changed := loader.dimension_rows_to_write(batch.stores, batch.products, batch.customers,
                                              batch.dates);  -- those that beat the stored rows

    -- Step 2: whose rows these are, and their dates.
    PERFORM loader.check_batch(batch.n_rows, batch.n_load_ids, batch.first_load, batch.last_load,
                               batch.dates);

    -- Step 3: the facts (above), here: they read the transition table.
    BEGIN
        SELECT count(*) FILTER (WHERE s.transaction_id < s.previous) > 100 INTO shuffled
        FROM (SELECT f.transaction_id, lag(f.transaction_id) OVER () AS previous
              FROM (SELECT n.transaction_id FROM new_rows n LIMIT 10000) f) s;
        BEGIN
            EXECUTE loader.facts_insert('new_rows', keep_first => false, sorted => shuffled);
            GET DIAGNOSTICS inserted = ROW_COUNT;
        EXCEPTION WHEN unique_violation OR deadlock_detected OR internal_error THEN
            BEGIN
                EXECUTE loader.facts_insert('new_rows', keep_first => true) INTO inserted;
            EXCEPTION WHEN internal_error THEN
                -- Citus, at planning: the same INSERTs from a copy (above).
                copy_name := format('loader_batch_%s', pg_current_xact_id());
                EXECUTE format('CREATE TEMPORARY TABLE %I AS SELECT * FROM new_rows', copy_name);
                inserted := loader.facts_from_copy(copy_name, shuffled);
            END;
        END;
    EXCEPTION WHEN lock_not_available THEN
        PERFORM loader.raise_lock_timeout('public.facts');
    END;

    -- Step 4: the dimension rows that change, the last writes. Step 5: the counts.
    contended := loader.write_dimensions(changed.stores, changed.products, changed.customers,
                                         changed.dates);
    PERFORM loader.count_batch(batch.first_load, batch.n_rows, batch.n_load_ids, inserted,
                               contended);
    RETURN NULL;
END
$fn$;

-- The one write of loader_claim and loader_fail: the object's ledger row,
-- one per (bucket, key, etag), or per (bucket, key) while the etag is
-- NULL. Inserted, or, when it exists, updated unless it is loaded or
-- claimed by this transaction. A claim (status 'loading') takes the row:
-- this transaction's claim, its version, counters at 0, started now, no
-- error. A failure records only its outcome: status, error, when, how
-- long. Attempts add up saturating. Returns the row's load_id, or NULL
-- when it was left as it is. A claim of an object without an etag never
-- checked for a loaded row (loader_complete needs an etag, so there is
-- none); kept so. The conflict target is one of two constants, spliced:
-- nothing else is.
CREATE OR REPLACE FUNCTION loader.write_ledger_row(
    p_bucket text, p_key text, p_etag text, p_version_id text, p_status text,
    p_attempts integer, p_error text, p_duration_ms bigint)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    claim boolean := p_status = 'loading';
    written bigint;
BEGIN
    EXECUTE format($upsert$
        INSERT INTO public.load_ledger AS l
            (bucket, object_key, etag, version_id, status, claimed_by, attempts, rows_loaded,
             facts_inserted, contended_ms, error, finished_at, duration_ms)
        VALUES ($1, $2, $3, $4, $5, CASE WHEN $9 THEN pg_current_xact_id() END, $6,
                CASE WHEN $9 THEN 0 END, CASE WHEN $9 THEN 0 END, CASE WHEN $9 THEN 0 END,
                $7, CASE WHEN NOT $9 THEN clock_timestamp() END, $8)
        ON CONFLICT %s DO UPDATE
            SET status = EXCLUDED.status,
                attempts = least(l.attempts::bigint + EXCLUDED.attempts, 2147483647)::integer,
                error = EXCLUDED.error,
                finished_at = EXCLUDED.finished_at,
                version_id = CASE WHEN $9 THEN EXCLUDED.version_id ELSE l.version_id END,
                claimed_by = CASE WHEN $9 THEN EXCLUDED.claimed_by ELSE l.claimed_by END,
                rows_loaded = CASE WHEN $9 THEN 0 ELSE l.rows_loaded END,
                facts_inserted = CASE WHEN $9 THEN 0 ELSE l.facts_inserted END,
                contended_ms = CASE WHEN $9 THEN 0 ELSE l.contended_ms END,
                started_at = CASE WHEN $9 THEN now() ELSE l.started_at END,
                duration_ms = CASE WHEN $9 THEN l.duration_ms ELSE EXCLUDED.duration_ms END
            WHERE l.claimed_by IS DISTINCT FROM pg_current_xact_id()
              AND (l.status <> 'loaded' OR ($9 AND l.etag IS NULL))
        RETURNING l.load_id$upsert$,
        CASE WHEN p_etag IS NULL THEN '(bucket, object_key) WHERE etag IS NULL'
             ELSE '(bucket, object_key, etag)' END)
    INTO written
    USING p_bucket, p_key, p_etag, p_version_id, p_status, p_attempts, p_error,
          p_duration_ms, claim;
    RETURN written;
END
$fn$;

-- Claims an object version for this transaction. With its identity known
-- (S3: the ETag), one row per (bucket, key, etag): a second delivery blocks
-- on the first one's uncommitted claim, then sees it loaded and skips; an
-- earlier failure is claimed again. Without it (p_etag NULL: a local file
-- or stdin, hashed while it streams), one row per (bucket, key) until
-- loader_identify names the content. The claim is rolled back with the
-- data when the transaction fails. A second claim of the same object in
-- one transaction is refused (it would reset the first one's counts). A
-- wait past lock_timeout on another transaction's claim is a retryable
-- error that names it ("being loaded by").
CREATE OR REPLACE FUNCTION loader.loader_claim(
    p_bucket text, p_key text, p_etag text, p_version_id text,
    OUT load_id bigint, OUT claimed boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    mine xid8 := pg_current_xact_id();
    again boolean;
BEGIN
    IF p_bucket IS NULL OR p_key IS NULL THEN
        RAISE EXCEPTION 'loader_claim: bucket and key are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    BEGIN
        load_id := loader.write_ledger_row(p_bucket, p_key, p_etag, p_version_id, 'loading', 1,
                                           NULL, NULL);
    EXCEPTION WHEN lock_not_available THEN
        RAISE EXCEPTION USING
            ERRCODE = 'lock_not_available',
            MESSAGE = format('being loaded by another session: waited lock_timeout (%s) for its '
                             'claim; holders of load_ledger: %s', current_setting('lock_timeout'),
                             loader.lock_holders('public.load_ledger')),
            HINT = 'retry later: that load either commits (and this one skips) or rolls back';
    END;
    IF load_id IS NOT NULL THEN
        claimed := true;
        RETURN;
    END IF;
    -- Not claimed: loaded already, or claimed by this transaction before.
    SELECT l.load_id, l.claimed_by = mine AND l.status = 'loading' INTO load_id, again
    FROM public.load_ledger l
    WHERE l.bucket = p_bucket AND l.object_key = p_key
      AND (l.etag = p_etag OR (p_etag IS NULL AND l.etag IS NULL));
    IF again THEN
        RAISE EXCEPTION 'load % of this object is already claimed in this transaction', load_id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    claimed := false;
END
$fn$;

-- Names the content of a load claimed without it. When that content was
-- loaded before, returns that load (claimed = false) and leaves this one
-- unfinished: the transaction must roll back. An earlier failure of the
-- same content is folded into this row (one row per content); a claim
-- that is not finished (this transaction's own) is never folded away.
CREATE OR REPLACE FUNCTION loader.loader_identify(
    p_load_id bigint, p_etag text, OUT load_id bigint, OUT claimed boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    mine public.load_ledger%ROWTYPE;
    other public.load_ledger%ROWTYPE;
BEGIN
    SELECT * INTO mine FROM public.load_ledger l
    WHERE l.load_id = p_load_id AND l.status = 'loading'
      AND l.claimed_by = pg_current_xact_id() AND l.etag IS NULL
    FOR UPDATE;
    IF NOT FOUND OR p_etag IS NULL THEN
        RAISE EXCEPTION 'load % is not claimed by this transaction without an identity', p_load_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT * INTO other FROM public.load_ledger l
    WHERE l.bucket = mine.bucket AND l.object_key = mine.object_key AND l.etag = p_etag
    FOR UPDATE;
    IF FOUND AND other.status = 'loaded' THEN
        load_id := other.load_id;
        claimed := false;
        RETURN;
    END IF;
    IF FOUND AND other.status = 'loading' THEN
        RAISE EXCEPTION 'load % of the same content is claimed in this transaction and not finished',
            other.load_id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF FOUND THEN
        DELETE FROM public.load_ledger l WHERE l.load_id = other.load_id;
    END IF;
    UPDATE public.load_ledger l
    SET etag = p_etag,
        attempts = least(l.attempts::bigint + coalesce(other.attempts, 0), 2147483647)::integer
    WHERE l.load_id = p_load_id;
    load_id := p_load_id;
    claimed := true;
END
$fn$;

-- Files the rows the loader refused, for a load claimed by this
-- transaction, at most 1,000 rows and 16 MiB of records per call (the
-- loader sends ~4 MiB): the server's memory per call is bounded.
CREATE OR REPLACE FUNCTION loader.loader_file_rejects(
    p_load_id bigint, p_lines bigint[], p_offsets bigint[], p_columns text[],
    p_reasons text[], p_raw_records text[], p_raw_bytes bytea[])
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM 1 FROM public.load_ledger l
    WHERE l.load_id = p_load_id AND l.status = 'loading'
      AND l.claimed_by = pg_current_xact_id();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'load % is not claimed by this transaction', p_load_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF cardinality(p_lines) IS DISTINCT FROM cardinality(p_offsets)
       OR cardinality(p_lines) IS DISTINCT FROM cardinality(p_columns)
       OR cardinality(p_lines) IS DISTINCT FROM cardinality(p_reasons)
       OR cardinality(p_lines) IS DISTINCT FROM cardinality(p_raw_records)
       OR cardinality(p_lines) IS DISTINCT FROM cardinality(p_raw_bytes) THEN
        RAISE EXCEPTION 'loader_file_rejects: the arrays must all have one element per reject'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(p_lines) > 1000
       OR coalesce(pg_column_size(p_raw_records), 0) + coalesce(pg_column_size(p_raw_bytes), 0)
          + coalesce(pg_column_size(p_reasons), 0) + coalesce(pg_column_size(p_columns), 0)
          > 16777216 THEN
        RAISE EXCEPTION 'loader_file_rejects: at most 1000 rejects and 16 MiB per call (got % rejects)',
            cardinality(p_lines)
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    -- A NULL line or reason, or a row with both or neither of the raw
    -- forms, breaks the table's constraints and fails the load.
    INSERT INTO public.load_rejects
        (load_id, line, byte_offset, column_name, reason, raw_record, raw_bytes)
    SELECT p_load_id, r.line, r.byte_offset, r.column_name, r.reason, r.raw_record, r.raw_bytes
    FROM unnest(p_lines, p_offsets, p_columns, p_reasons, p_raw_records, p_raw_bytes)
         AS r(line, byte_offset, column_name, reason, raw_record, raw_bytes)
    ON CONFLICT ON CONSTRAINT load_rejects_pkey DO NOTHING;
END
$fn$;

-- Completes a load claimed by this transaction. The figures are the
-- database's own: rows and facts as the trigger counted them, rejects as
-- filed; bytes and time are the loader's (range-checked). Sends the load
-- id (nothing else) to LISTEN loader_loads when the transaction commits:
-- a hint, since any role may NOTIFY that channel; a consumer reads the
-- outcome from loader.load_outcomes.
CREATE OR REPLACE FUNCTION loader.loader_complete(
    p_load_id bigint, p_bytes bigint, p_duration_ms bigint,
    OUT rows_loaded bigint, OUT facts_inserted bigint, OUT duplicates bigint,
    OUT rows_rejected bigint, OUT contended_ms bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    done public.load_ledger%ROWTYPE;
BEGIN
    IF p_bytes < 0 OR p_duration_ms < 0 THEN
        RAISE EXCEPTION 'loader_complete: bytes and duration cannot be negative'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE public.load_ledger l
    SET status = 'loaded',
        rows_loaded = coalesce(l.rows_loaded, 0),
        facts_inserted = coalesce(l.facts_inserted, 0),
        duplicates = coalesce(l.rows_loaded, 0) - coalesce(l.facts_inserted, 0),
        rows_rejected = (SELECT count(*) FROM public.load_rejects r
                         WHERE r.load_id = p_load_id),
        bytes = p_bytes,
        duration_ms = p_duration_ms,
        finished_at = clock_timestamp(),  -- now, not the transaction's start (prune's cutoff)
        error = NULL
    WHERE l.load_id = p_load_id AND l.status = 'loading'
      AND l.claimed_by = pg_current_xact_id() AND l.etag IS NOT NULL
    RETURNING l.* INTO done;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'load % is not claimed by this transaction (or has no identity yet)', p_load_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM pg_notify('loader_loads', done.load_id::text);
    rows_loaded := done.rows_loaded;
    facts_inserted := done.facts_inserted;
    duplicates := done.duplicates;
    rows_rejected := done.rows_rejected;
    contended_ms := coalesce(done.contended_ms, 0);
END
$fn$;

-- Records a failed (or timed-out) load after its transaction rolled back,
-- in a transaction of its own: only while no claim of it is live. Never
-- over a loaded row (a concurrent delivery may have won); another
-- transaction's uncommitted claim is waited for (bounded by lock_timeout),
-- and a claim of the calling transaction is left alone. Attempts are
-- 1..1000 per call and add up saturating.
CREATE OR REPLACE FUNCTION loader.loader_fail(
    p_bucket text, p_key text, p_etag text, p_version_id text, p_timed_out boolean,
    p_error text, p_attempts integer, p_duration_ms bigint)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF p_bucket IS NULL OR p_key IS NULL THEN
        RAISE EXCEPTION 'loader_fail: bucket and key are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_attempts IS NULL OR p_attempts NOT BETWEEN 1 AND 1000
       OR p_duration_ms IS NULL OR p_duration_ms < 0 THEN
        RAISE EXCEPTION 'loader_fail: attempts must be 1 to 1000 and the duration not negative (got %, %)',
            p_attempts, p_duration_ms
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM loader.write_ledger_row(p_bucket, p_key, p_etag, p_version_id,
                                    CASE WHEN p_timed_out THEN 'timed_out' ELSE 'failed' END,
                                    p_attempts, left(coalesce(p_error, ''), 4000), p_duration_ms);
END
$fn$;

-- At commit (deferred): a load claimed in this transaction must be
-- complete. A transaction cannot keep staged rows, facts or a claim of a
-- load it did not finish.
CREATE OR REPLACE FUNCTION loader.load_ledger_commit_check() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM 1 FROM public.load_ledger l
    WHERE l.load_id = NEW.load_id
      AND l.claimed_by = pg_current_xact_id()
      AND l.status <> 'loaded';
    IF FOUND THEN
        RAISE EXCEPTION 'load % was claimed in this transaction but not completed: roll back, or call loader.loader_complete',
            NEW.load_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END
$fn$;

-- The ledger's states: a loaded row stays loaded.
CREATE OR REPLACE FUNCTION loader.load_ledger_states() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF OLD.status = 'loaded' AND NEW.status <> 'loaded' THEN
        RAISE EXCEPTION 'load % is loaded; it cannot become %', OLD.load_id, NEW.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$fn$;

-- What a consumer of NOTIFY loader_loads reads: the ledger's word on a
-- load id (a notification's payload is only a hint: any role may send
-- one). GRANT USAGE ON SCHEMA loader and SELECT on this view to a reader.
CREATE OR REPLACE VIEW loader.load_outcomes AS
SELECT l.load_id, l.bucket, l.object_key, l.etag, l.version_id, l.status, l.attempts,
       l.rows_loaded, l.rows_rejected, l.duplicates, l.facts_inserted, l.bytes,
       l.started_at, l.finished_at, l.duration_ms, l.error, l.contended_ms
FROM public.load_ledger l;

-- Version 3's clients call the protocol in public: they get a retryable
-- error (55006) that says what happened, until the new loader is deployed
-- (deploy/README.md, "Upgrades"). Only where version 3 left them.
DO $previous$
DECLARE
    old text[];
BEGIN
    FOREACH old SLICE 1 IN ARRAY ARRAY[
        ['public.loader_claim(text, text, text, text)',
         'p_bucket text, p_key text, p_etag text, p_version_id text, OUT load_id bigint, OUT claimed boolean'],
        ['public.loader_identify(bigint, text)',
         'p_load_id bigint, p_etag text, OUT load_id bigint, OUT claimed boolean'],
        ['public.loader_file_rejects(bigint, bigint[], bigint[], text[], text[], text[], bytea[])',
         'p_load_id bigint, p_lines bigint[], p_offsets bigint[], p_columns text[], p_reasons text[], p_raw_records text[], p_raw_bytes bytea[]'],
        ['public.loader_complete(bigint, bigint, bigint)',
         'p_load_id bigint, p_bytes bigint, p_duration_ms bigint, OUT rows_loaded bigint, OUT facts_inserted bigint, OUT duplicates bigint, OUT rows_rejected bigint'],
        ['public.loader_fail(text, text, text, text, boolean, text, integer, bigint)',
         'p_bucket text, p_key text, p_etag text, p_version_id text, p_timed_out boolean, p_error text, p_attempts integer, p_duration_ms bigint']
    ] LOOP
        IF to_regprocedure(old[1]) IS NOT NULL THEN
            EXECUTE format('CREATE OR REPLACE FUNCTION %s(%s) %s', split_part(old[1], '(', 1),
                           old[2], CASE WHEN old[2] LIKE '%OUT %' THEN '' ELSE 'RETURNS void' END)
                || $shim$
                LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
                BEGIN
                    RAISE EXCEPTION USING
                        ERRCODE = 'object_in_use',
                        MESSAGE = 'this database''s loader schema was upgraded to version 4, '
                                  'whose protocol is in schema loader: this loader is older; '
                                  'deploy the new one (retry: a new loader will load it)';
                END
                $body$$shim$;
        END IF;
    END LOOP;
END
$previous$;

-- Nobody calls these unless granted (roles.sql grants the protocol to
-- loader_role). Functions are executable by PUBLIC by default.
REVOKE ALL ON FUNCTION loader.lock_holders(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION loader.store_newness(timestamp, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION loader.product_newness(timestamp, text, text, text, numeric) FROM PUBLIC;
REVOKE ALL ON FUNCTION loader.customer_newness(timestamp, text, smallint, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION loader.store_row(smallint, text, text, timestamp, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION loader.raise_lock_timeout(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION
    loader.dimension_rows_to_write(public.dim_stores[], public.dim_products[],
                                   public.dim_customers[], date[])
    FROM PUBLIC;
REVOKE ALL ON FUNCTION loader.check_batch(bigint, bigint, bigint, bigint, date[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION
    loader.write_dimensions(public.dim_stores[], public.dim_products[], public.dim_customers[],
                            date[])
    FROM PUBLIC;
REVOKE ALL ON FUNCTION loader.facts_insert(text, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION loader.facts_from_copy(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION loader.count_batch(bigint, bigint, bigint, bigint, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION loader.normalize_staging_batch() FROM PUBLIC;
REVOKE ALL ON FUNCTION
    loader.write_ledger_row(text, text, text, text, text, integer, text, bigint)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION loader.loader_claim(text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION loader.loader_identify(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION
    loader.loader_file_rejects(bigint, bigint[], bigint[], text[], text[], text[], bytea[])
    FROM PUBLIC;
REVOKE ALL ON FUNCTION loader.loader_complete(bigint, bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION loader.loader_fail(text, text, text, text, boolean, text, integer, bigint)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION loader.load_ledger_commit_check() FROM PUBLIC;
REVOKE ALL ON FUNCTION loader.load_ledger_states() FROM PUBLIC;

CREATE TRIGGER staging_table_normalize
    AFTER INSERT ON public.staging_table
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION loader.normalize_staging_batch();

CREATE CONSTRAINT TRIGGER load_ledger_commit_check
    AFTER INSERT OR UPDATE ON public.load_ledger
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    EXECUTE FUNCTION loader.load_ledger_commit_check();

CREATE TRIGGER load_ledger_states
    BEFORE UPDATE OF status ON public.load_ledger
    FOR EACH ROW
    EXECUTE FUNCTION loader.load_ledger_states();

-- The version this file installs; `loader load` refuses any other.
INSERT INTO public.loader_schema (singleton, version) VALUES (true, 4)
ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version, installed_at = now();

COMMIT;
