-- The batch trigger and the loader's protocol: the only code that writes the
-- star schema and the ledger.
--
-- Safe to run again: CREATE OR REPLACE for the functions, the trigger dropped
-- and re-created inside one transaction (no window without it). Data is kept.
-- Run after db_initiation.sql, as the owner of the tables:
--   psql -v ON_ERROR_STOP=1 -f sql/db_transformation.sql
--
-- One object, one direction:
--
--   loader_claim(bucket, key, etag, version)  -> load_id, or "already loaded"
--   COPY staging_table (..., load_id) FROM STDIN
--        the trigger, once per statement: dimensions, facts, ledger counts
--   [loader_identify(load_id, content hash)]   local files and stdin, whose
--                                              identity is known only now
--   [loader_file_rejects(load_id, ...)]        the rows the loader refused
--   loader_complete(load_id, bytes, ms)        -> the figures; NOTIFY
--   COMMIT                                     refused while a load claimed
--                                              in this transaction is not
--                                              complete
--   after a ROLLBACK: loader_fail(...)         never over a loaded row
--
-- The trigger has one mode; what it does depends only on the batch:
--
--   batch's load_id              | the trigger
--   -----------------------------+----------------------------------------------
--   NULL in every row (\copy)    | dimensions, then facts
--   one id, claimed by this      | dimensions, then facts, then the counts on
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
--    NULL above any value). The upsert's condition and verify.sql use the
--    same order, so the same objects give the same dimensions in any order
--    or concurrency.
--  * Locks are taken in one global order, so concurrent loads cannot
--    deadlock, whatever ids they share: the dimensions are written in key
--    order (an upsert locks the row even when it does not replace it), and
--    the facts under one transaction-level advisory lock per schema (keyed
--    by staging_table's oid), taken before the first fact row: at most one
--    transaction at a time holds uncommitted facts, so no insert ever waits
--    on another's fact key. Batches that share any store, product or
--    customer wait for each other at the dimensions already, so the lock
--    costs concurrency only to batches with no dimension row in common.
--    Sorting the batch by transaction_id for the lock order instead cost
--    ~0.5-1 s per 1M rows (BENCHMARKS.md); the facts are sorted only when
--    their ids come in no order, for speed (the facts' INSERT says when).
--  * A repeated transaction_id is kept once: the copy loaded first wins
--    (within one object: the least copy in the order of its columns).
--  * The cost depends only on the batch: the transition table is scanned,
--    the existing tables are touched only through their primary keys.
--
-- Security: every function runs as its owner (SECURITY DEFINER) with
-- search_path = pg_catalog, pg_temp and every table named with its schema,
-- so no object created by another role (a table in pg_temp, an operator or
-- function in a schema PUBLIC may CREATE in) can change what they resolve
-- to: operators and functions are looked up in pg_catalog only. The schema
-- is spliced into the bodies below when they are installed (@schema@).
-- EXECUTE is revoked from PUBLIC; roles.sql grants the protocol's functions
-- to loader_role, which cannot touch the tables otherwise.

\ir refuse_foreign_code.sql

BEGIN;
SET LOCAL client_min_messages = warning;

\ir lock_for_init.sql

-- The previous release's dimension candidates are gone (the trigger takes
-- the dimensions from the whole batch in two passes).
DROP FUNCTION IF EXISTS normalize_load_dimensions(bigint);
DROP TABLE IF EXISTS staging_dimension_candidates;
-- Version 2's signature (rejects without their bytes and offset).
DROP FUNCTION IF EXISTS loader_file_rejects(bigint, bigint[], text[], text[], text[]);

DO $install$
DECLARE
    schema_name text := quote_ident(current_schema());
    body text;
BEGIN
    FOREACH body IN ARRAY ARRAY[

-- The batch trigger.
$sql$
CREATE OR REPLACE FUNCTION @schema@.normalize_staging_batch() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- JIT compiles for longer than these statements run.
SET jit = off
-- Enough for the hashed passes over 100k+ distinct ids without spilling
-- (the server's default, 4MB, sorts the customers instead: ~0.4 s per 1M
-- rows). The transition table is already built by then, under the
-- session's work_mem (the loader raises it per load).
SET work_mem = '64MB'
AS $fn$
DECLARE
    batch record;
    inserted bigint;
    shuffled boolean;
    -- The facts' INSERT, written once; each way below adds its order (and
    -- the fallback its ON CONFLICT). Constant text, run with EXECUTE: the
    -- transition table is visible to it, and nothing else is spliced in.
    facts_from_batch constant text := $insert$
        INSERT INTO @schema@.facts
            (transaction_id, transaction_date, transaction_time, store_id, product_id,
             customer_id, payment_method, quantity_sold, total_amount, load_id)
        SELECT transaction_id, transaction_date, transaction_time, store_id, product_id,
               customer_id, payment_method, quantity_sold, total_amount, load_id
        FROM new_rows$insert$;
BEGIN
    -- Dimensions, in one statement that reads the batch twice.
    -- Pass 1 (newest): one hashed pass of grouping sets finds, per store,
    -- product and customer id, the newest timestamp, the distinct dates,
    -- and the batch's totals (the empty set: rows, load ids). GROUPING()
    -- tells the sets apart: 7 stores, 11 products, 13 customers, 14 dates,
    -- 15 the totals.
    -- Pass 2 (candidates): the rows that are at the newest timestamp of
    -- their store, product or customer, usually one per id. Only these few
    -- are sorted, per dimension, in the total order (the tie-breaks).
    -- Sorting the whole batch (one DISTINCT ON per dimension) was ~10x
    -- slower; a pass per dimension cost two more passes (BENCHMARKS.md).
    -- The data-modifying CTEs run in a fixed order, the same in every load,
    -- and each writes in key order (the lock order).
    WITH newest AS MATERIALIZED (
        SELECT GROUPING(store_id, product_id, customer_id, transaction_date) AS g,
               store_id, product_id, customer_id, transaction_date,
               max(transaction_date + transaction_time) AS ts,
               count(*) AS n_rows,
               count(load_id) AS n_load_ids,
               min(load_id) AS first_load,
               max(load_id) AS last_load
        FROM new_rows
        GROUP BY GROUPING SETS ((store_id), (product_id), (customer_id), (transaction_date), ())
    ),
    candidates AS MATERIALIZED (
        SELECT n.*, n.transaction_date + n.transaction_time AS ts
        FROM new_rows n
        WHERE (n.store_id, n.transaction_date + n.transaction_time)
                  IN (SELECT w.store_id, w.ts FROM newest w WHERE w.g = 7)
           OR (n.product_id, n.transaction_date + n.transaction_time)
                  IN (SELECT w.product_id, w.ts FROM newest w WHERE w.g = 11)
           OR (n.customer_id, n.transaction_date + n.transaction_time)
                  IN (SELECT w.customer_id, w.ts FROM newest w WHERE w.g = 13)
    ),
    stores AS (
        INSERT INTO @schema@.dim_stores AS d
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
            SELECT DISTINCT ON (c.store_id)
                   c.store_id, c.store_name, c.store_location, c.ts, c.transaction_id
            FROM candidates c
            WHERE (c.store_id, c.ts) IN (SELECT w.store_id, w.ts FROM newest w WHERE w.g = 7)
            ORDER BY c.store_id, c.ts DESC, c.transaction_id COLLATE "C" DESC,
                     c.store_name COLLATE "C" DESC, c.store_location COLLATE "C" DESC
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
            WHERE (d.source_ts, d.source_txn COLLATE "C",
                   d.store_name COLLATE "C", d.store_location COLLATE "C")
                < (EXCLUDED.source_ts, EXCLUDED.source_txn COLLATE "C",
                   EXCLUDED.store_name COLLATE "C", EXCLUDED.store_location COLLATE "C")
    ),
    products AS (
        INSERT INTO @schema@.dim_products AS d
            (product_id, product_name, product_category, product_price, source_ts, source_txn)
        SELECT p.product_id, p.product_name, p.product_category, p.product_price,
               p.ts, p.transaction_id
        FROM (
            SELECT DISTINCT ON (c.product_id)
                   c.product_id, c.product_name, c.product_category, c.product_price,
                   c.ts, c.transaction_id
            FROM candidates c
            WHERE (c.product_id, c.ts) IN (SELECT w.product_id, w.ts FROM newest w WHERE w.g = 11)
            ORDER BY c.product_id, c.ts DESC, c.transaction_id COLLATE "C" DESC,
                     c.product_name COLLATE "C" DESC, c.product_category COLLATE "C" DESC,
                     c.product_price DESC
        ) p
        ORDER BY p.product_id
        ON CONFLICT (product_id) DO UPDATE
            SET product_name = EXCLUDED.product_name,
                product_category = EXCLUDED.product_category,
                product_price = EXCLUDED.product_price,
                source_ts = EXCLUDED.source_ts,
                source_txn = EXCLUDED.source_txn,
                updated_at = now()
            WHERE (d.source_ts, d.source_txn COLLATE "C", d.product_name COLLATE "C",
                   d.product_category COLLATE "C", d.product_price)
                < (EXCLUDED.source_ts, EXCLUDED.source_txn COLLATE "C",
                   EXCLUDED.product_name COLLATE "C", EXCLUDED.product_category COLLATE "C",
                   EXCLUDED.product_price)
    ),
    customers AS (
        INSERT INTO @schema@.dim_customers AS d
            (customer_id, customer_age, customer_gender, customer_membership, source_ts, source_txn)
        SELECT c.customer_id, c.customer_age, c.customer_gender, c.customer_membership,
               c.ts, c.transaction_id
        FROM (
            -- (x IS NULL, coalesce(x, ...)): NULL above any value, in the
            -- sort and in the upsert's comparison alike.
            SELECT DISTINCT ON (c.customer_id)
                   c.customer_id, c.customer_age, c.customer_gender, c.customer_membership,
                   c.ts, c.transaction_id
            FROM candidates c
            WHERE (c.customer_id, c.ts) IN (SELECT w.customer_id, w.ts FROM newest w WHERE w.g = 13)
            ORDER BY c.customer_id, c.ts DESC, c.transaction_id COLLATE "C" DESC,
                     c.customer_age IS NULL DESC, coalesce(c.customer_age, 0) DESC,
                     c.customer_gender IS NULL DESC,
                     coalesce(c.customer_gender, '') COLLATE "C" DESC,
                     c.customer_membership IS NULL DESC,
                     coalesce(c.customer_membership, '') COLLATE "C" DESC
        ) c
        ORDER BY c.customer_id
        ON CONFLICT (customer_id) DO UPDATE
            SET customer_age = EXCLUDED.customer_age,
                customer_gender = EXCLUDED.customer_gender,
                customer_membership = EXCLUDED.customer_membership,
                source_ts = EXCLUDED.source_ts,
                source_txn = EXCLUDED.source_txn,
                updated_at = now()
            WHERE (d.source_ts, d.source_txn COLLATE "C",
                   d.customer_age IS NULL, coalesce(d.customer_age, 0),
                   d.customer_gender IS NULL, coalesce(d.customer_gender, '') COLLATE "C",
                   d.customer_membership IS NULL,
                   coalesce(d.customer_membership, '') COLLATE "C")
                < (EXCLUDED.source_ts, EXCLUDED.source_txn COLLATE "C",
                   EXCLUDED.customer_age IS NULL, coalesce(EXCLUDED.customer_age, 0),
                   EXCLUDED.customer_gender IS NULL,
                   coalesce(EXCLUDED.customer_gender, '') COLLATE "C",
                   EXCLUDED.customer_membership IS NULL,
                   coalesce(EXCLUDED.customer_membership, '') COLLATE "C")
    ),
    dates AS (
        INSERT INTO @schema@.dim_dates (date, year, quarter, month, day, day_of_week, is_weekend)
        SELECT w.transaction_date,
               extract(year FROM w.transaction_date)::smallint,
               extract(quarter FROM w.transaction_date)::smallint,
               extract(month FROM w.transaction_date)::smallint,
               extract(day FROM w.transaction_date)::smallint,
               extract(isodow FROM w.transaction_date)::smallint,
               extract(isodow FROM w.transaction_date)::smallint >= 6::smallint
        FROM newest w
        WHERE w.g = 14
        ORDER BY w.transaction_date
        ON CONFLICT (date) DO NOTHING
    )
    SELECT w.n_rows, w.n_load_ids, w.first_load, w.last_load INTO batch
    FROM newest w
    WHERE w.g = 15;

    -- Whose rows these are: a hand load's (no load id) or one load that
    -- this transaction claimed. Checked after the dimensions only because
    -- the same pass counts them; an error undoes the whole statement.
    IF batch.n_load_ids > 0 THEN
        IF batch.n_load_ids < batch.n_rows OR batch.first_load <> batch.last_load THEN
            RAISE EXCEPTION 'one statement stages the rows of one load: this one has load ids % to % and % rows without one',
                batch.first_load, batch.last_load, batch.n_rows - batch.n_load_ids
                USING ERRCODE = 'check_violation';
        END IF;
        PERFORM 1 FROM @schema@.load_ledger l
        WHERE l.load_id = batch.first_load
          AND l.status = 'loading'
          AND l.claimed_by = pg_current_xact_id()
        FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'load % is not claimed by this transaction: call loader_claim first',
                batch.first_load
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;

    -- Facts, one transaction at a time (the header: lock order), held to
    -- the end of the transaction. A plain INSERT first: almost every batch
    -- is all new ids, and a plain INSERT skips ON CONFLICT's extra index
    -- probe per row (measured ~20% of this statement). When some
    -- transaction_id is already a fact, or repeats within the batch, the
    -- unique index refuses it, the block rolls back to its savepoint, and
    -- the INSERT runs again keeping the first of each (within the batch,
    -- the least copy in the order of its columns).
    --
    -- In copy order when the batch already comes (about) in key order, as
    -- sequential ids do; in key order otherwise. Ids in no order (UUIDs,
    -- hashes) put each index entry on a random leaf page, which costs twice
    -- the sort (1M rows: ~5 s of CPU unsorted, ~2.5 s sorted), while sorting
    -- ids that are already in order only adds ~0.5 s. The first 10,000
    -- staged rows decide: sorted when more than 1% of their steps go down.
    -- Either way the same rows are inserted; only the speed differs.
    SELECT count(*) FILTER (WHERE s.transaction_id < s.previous) > 100 INTO shuffled
    FROM (SELECT f.transaction_id, lag(f.transaction_id) OVER () AS previous
          FROM (SELECT n.transaction_id FROM new_rows n LIMIT 10000) f) s;
    PERFORM pg_advisory_xact_lock(TG_RELID::bigint);
    BEGIN
        EXECUTE facts_from_batch
            || CASE WHEN shuffled THEN ' ORDER BY transaction_id' ELSE '' END;
        GET DIAGNOSTICS inserted = ROW_COUNT;
    EXCEPTION WHEN unique_violation THEN
        EXECUTE facts_from_batch
            || ' ORDER BY transaction_id, transaction_date, transaction_time, store_id,'
            || ' product_id, customer_id, payment_method COLLATE "C", quantity_sold,'
            || ' total_amount ON CONFLICT (transaction_id) DO NOTHING';
        GET DIAGNOSTICS inserted = ROW_COUNT;
    END;

    IF batch.n_load_ids > 0 THEN
        UPDATE @schema@.load_ledger
        SET rows_loaded = coalesce(rows_loaded, 0) + batch.n_rows,
            facts_inserted = coalesce(facts_inserted, 0) + inserted
        WHERE load_id = batch.first_load;
    ELSIF batch.n_rows > inserted THEN
        -- A hand load has no ledger to record its duplicates in: say it.
        RAISE NOTICE '% of % rows repeat a transaction_id already loaded: kept the first, skipped these',
            batch.n_rows - inserted, batch.n_rows;
    END IF;
    RETURN NULL;
END
$fn$
$sql$,

-- Claims an object version for this transaction. With its identity known
-- (S3: the ETag), one row per (bucket, key, etag): a second delivery blocks
-- on the first one's uncommitted claim, then sees it loaded and skips; an
-- earlier failure is claimed again. Without it (p_etag NULL: a local file
-- or stdin, hashed while it streams), one row per (bucket, key) until
-- loader_identify names the content. The claim is rolled back with the
-- data when the transaction fails.
$sql$
CREATE OR REPLACE FUNCTION @schema@.loader_claim(
    p_bucket text, p_key text, p_etag text, p_version_id text,
    OUT load_id bigint, OUT claimed boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF p_bucket IS NULL OR p_key IS NULL THEN
        RAISE EXCEPTION 'loader_claim: bucket and key are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_etag IS NULL THEN
        INSERT INTO @schema@.load_ledger AS l
            (bucket, object_key, etag, version_id, status, claimed_by, rows_loaded, facts_inserted)
        VALUES (p_bucket, p_key, NULL, p_version_id, 'loading', pg_current_xact_id(), 0, 0)
        ON CONFLICT (bucket, object_key) WHERE etag IS NULL DO UPDATE
            SET status = 'loading',
                version_id = EXCLUDED.version_id,
                attempts = l.attempts + 1,
                claimed_by = EXCLUDED.claimed_by,
                rows_loaded = 0,
                facts_inserted = 0,
                started_at = now(),
                finished_at = NULL,
                error = NULL
        RETURNING l.load_id INTO load_id;
        claimed := true;
        RETURN;
    END IF;
    INSERT INTO @schema@.load_ledger AS l
        (bucket, object_key, etag, version_id, status, claimed_by, rows_loaded, facts_inserted)
    VALUES (p_bucket, p_key, p_etag, p_version_id, 'loading', pg_current_xact_id(), 0, 0)
    ON CONFLICT (bucket, object_key, etag) DO UPDATE
        SET status = 'loading',
            version_id = EXCLUDED.version_id,
            attempts = l.attempts + 1,
            claimed_by = EXCLUDED.claimed_by,
            rows_loaded = 0,
            facts_inserted = 0,
            started_at = now(),
            finished_at = NULL,
            error = NULL
        WHERE l.status <> 'loaded'
    RETURNING l.load_id INTO load_id;
    IF FOUND THEN
        claimed := true;
        RETURN;
    END IF;
    SELECT l.load_id INTO load_id
    FROM @schema@.load_ledger l
    WHERE l.bucket = p_bucket AND l.object_key = p_key AND l.etag = p_etag;
    claimed := false;
END
$fn$
$sql$,

-- Names the content of a load claimed without it. When that content was
-- loaded before, returns that load (claimed = false) and leaves this one
-- unfinished: the transaction must roll back. An earlier failure of the
-- same content is folded into this row (one row per content).
$sql$
CREATE OR REPLACE FUNCTION @schema@.loader_identify(
    p_load_id bigint, p_etag text, OUT load_id bigint, OUT claimed boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    mine @schema@.load_ledger%ROWTYPE;
    other @schema@.load_ledger%ROWTYPE;
BEGIN
    SELECT * INTO mine FROM @schema@.load_ledger l
    WHERE l.load_id = p_load_id AND l.status = 'loading'
      AND l.claimed_by = pg_current_xact_id() AND l.etag IS NULL
    FOR UPDATE;
    IF NOT FOUND OR p_etag IS NULL THEN
        RAISE EXCEPTION 'load % is not claimed by this transaction without an identity', p_load_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT * INTO other FROM @schema@.load_ledger l
    WHERE l.bucket = mine.bucket AND l.object_key = mine.object_key AND l.etag = p_etag
    FOR UPDATE;
    IF FOUND AND other.status = 'loaded' THEN
        load_id := other.load_id;
        claimed := false;
        RETURN;
    END IF;
    IF FOUND THEN
        DELETE FROM @schema@.load_ledger l WHERE l.load_id = other.load_id;
    END IF;
    UPDATE @schema@.load_ledger l
    SET etag = p_etag, attempts = l.attempts + coalesce(other.attempts, 0)
    WHERE l.load_id = p_load_id;
    load_id := p_load_id;
    claimed := true;
END
$fn$
$sql$,

-- Files the rows the loader refused, for a load claimed by this
-- transaction. Called in bounded batches.
$sql$
CREATE OR REPLACE FUNCTION @schema@.loader_file_rejects(
    p_load_id bigint, p_lines bigint[], p_offsets bigint[], p_columns text[],
    p_reasons text[], p_raw_records text[], p_raw_bytes bytea[])
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM 1 FROM @schema@.load_ledger l
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
    -- A NULL line or reason, or a row with both or neither of the raw
    -- forms, breaks the table's constraints and fails the load.
    INSERT INTO @schema@.load_rejects
        (load_id, line, byte_offset, column_name, reason, raw_record, raw_bytes)
    SELECT p_load_id, r.line, r.byte_offset, r.column_name, r.reason, r.raw_record, r.raw_bytes
    FROM unnest(p_lines, p_offsets, p_columns, p_reasons, p_raw_records, p_raw_bytes)
         AS r(line, byte_offset, column_name, reason, raw_record, raw_bytes)
    ON CONFLICT ON CONSTRAINT load_rejects_pkey DO NOTHING;
END
$fn$
$sql$,

-- Completes a load claimed by this transaction. The figures are the
-- database's own: rows and facts as the trigger counted them, rejects as
-- filed; bytes and time are the loader's. Announces the load to LISTEN
-- loader_loads (delivered only if the transaction commits).
$sql$
CREATE OR REPLACE FUNCTION @schema@.loader_complete(
    p_load_id bigint, p_bytes bigint, p_duration_ms bigint,
    OUT rows_loaded bigint, OUT facts_inserted bigint, OUT duplicates bigint,
    OUT rows_rejected bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    done @schema@.load_ledger%ROWTYPE;
BEGIN
    UPDATE @schema@.load_ledger l
    SET status = 'loaded',
        rows_loaded = coalesce(l.rows_loaded, 0),
        facts_inserted = coalesce(l.facts_inserted, 0),
        duplicates = coalesce(l.rows_loaded, 0) - coalesce(l.facts_inserted, 0),
        rows_rejected = (SELECT count(*) FROM @schema@.load_rejects r
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
    PERFORM pg_notify('loader_loads', json_build_object(
        'load_id', done.load_id,
        'bucket', done.bucket,
        'key', done.object_key,
        'etag', done.etag,
        'version_id', done.version_id,
        'rows', done.rows_loaded,
        'facts_inserted', done.facts_inserted,
        'duplicates', done.duplicates,
        'rejects', done.rows_rejected)::text);
    rows_loaded := done.rows_loaded;
    facts_inserted := done.facts_inserted;
    duplicates := done.duplicates;
    rows_rejected := done.rows_rejected;
END
$fn$
$sql$,

-- Records a failed (or timed-out) load after its transaction rolled back,
-- in a transaction of its own. Never over a loaded row (a concurrent
-- delivery may have won), never over a claim of the calling transaction.
$sql$
CREATE OR REPLACE FUNCTION @schema@.loader_fail(
    p_bucket text, p_key text, p_etag text, p_version_id text, p_timed_out boolean,
    p_error text, p_attempts integer, p_duration_ms bigint)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    failed text := CASE WHEN p_timed_out THEN 'timed_out' ELSE 'failed' END;
    message text := left(coalesce(p_error, ''), 4000);
BEGIN
    IF p_bucket IS NULL OR p_key IS NULL THEN
        RAISE EXCEPTION 'loader_fail: bucket and key are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_etag IS NULL THEN
        INSERT INTO @schema@.load_ledger AS l
            (bucket, object_key, etag, version_id, status, attempts, error, finished_at, duration_ms)
        VALUES (p_bucket, p_key, NULL, p_version_id, failed, greatest(p_attempts, 1), message,
                clock_timestamp(), p_duration_ms)
        ON CONFLICT (bucket, object_key) WHERE etag IS NULL DO UPDATE
            SET status = EXCLUDED.status,
                attempts = l.attempts + EXCLUDED.attempts,
                error = EXCLUDED.error,
                finished_at = clock_timestamp(),
                duration_ms = EXCLUDED.duration_ms
            WHERE l.status <> 'loaded' AND l.claimed_by IS DISTINCT FROM pg_current_xact_id();
    ELSE
        INSERT INTO @schema@.load_ledger AS l
            (bucket, object_key, etag, version_id, status, attempts, error, finished_at, duration_ms)
        VALUES (p_bucket, p_key, p_etag, p_version_id, failed, greatest(p_attempts, 1), message,
                clock_timestamp(), p_duration_ms)
        ON CONFLICT (bucket, object_key, etag) DO UPDATE
            SET status = EXCLUDED.status,
                attempts = l.attempts + EXCLUDED.attempts,
                error = EXCLUDED.error,
                finished_at = clock_timestamp(),
                duration_ms = EXCLUDED.duration_ms
            WHERE l.status <> 'loaded' AND l.claimed_by IS DISTINCT FROM pg_current_xact_id();
    END IF;
END
$fn$
$sql$,

-- At commit (deferred): a load claimed in this transaction must be
-- complete. A transaction cannot keep staged rows, facts or a claim of a
-- load it did not finish.
$sql$
CREATE OR REPLACE FUNCTION @schema@.load_ledger_commit_check() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM 1 FROM @schema@.load_ledger l
    WHERE l.load_id = NEW.load_id
      AND l.claimed_by = pg_current_xact_id()
      AND l.status <> 'loaded';
    IF FOUND THEN
        RAISE EXCEPTION 'load % was claimed in this transaction but not completed: roll back, or call loader_complete',
            NEW.load_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END
$fn$
$sql$,

-- The ledger's states: a loaded row stays loaded.
$sql$
CREATE OR REPLACE FUNCTION @schema@.load_ledger_states() RETURNS trigger
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
$fn$
$sql$
    ] LOOP
        EXECUTE replace(body, '@schema@', schema_name);
    END LOOP;
END
$install$;

-- Nobody calls these unless granted (roles.sql grants the protocol to
-- loader_role). Functions are executable by PUBLIC by default.
REVOKE ALL ON FUNCTION normalize_staging_batch() FROM PUBLIC;
REVOKE ALL ON FUNCTION loader_claim(text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION loader_identify(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION
    loader_file_rejects(bigint, bigint[], bigint[], text[], text[], text[], bytea[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION loader_complete(bigint, bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION loader_fail(text, text, text, text, boolean, text, integer, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION load_ledger_commit_check() FROM PUBLIC;
REVOKE ALL ON FUNCTION load_ledger_states() FROM PUBLIC;

DROP TRIGGER IF EXISTS staging_table_normalize ON staging_table;
CREATE TRIGGER staging_table_normalize
    AFTER INSERT ON staging_table
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION normalize_staging_batch();

DROP TRIGGER IF EXISTS load_ledger_commit_check ON load_ledger;
CREATE CONSTRAINT TRIGGER load_ledger_commit_check
    AFTER INSERT OR UPDATE ON load_ledger
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    EXECUTE FUNCTION load_ledger_commit_check();

DROP TRIGGER IF EXISTS load_ledger_states ON load_ledger;
CREATE TRIGGER load_ledger_states
    BEFORE UPDATE OF status ON load_ledger
    FOR EACH ROW
    EXECUTE FUNCTION load_ledger_states();

-- The version this file installs; `loader load` refuses an older one.
INSERT INTO loader_schema (singleton, version) VALUES (true, 3)
ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version, installed_at = now();

COMMIT;
