-- Tables of the star schema, the staging table and the load ledger.
--
-- Safe to run again on a database that already has them: every statement is
-- IF NOT EXISTS, nothing is dropped, no data is touched.
--   psql -v ON_ERROR_STOP=1 -f sql/db_initiation.sql
--
-- Names follow the original pipeline (staging_table, dim_*, facts) so its
-- users' queries keep working. The tables live in schema public (named in
-- every statement, whatever the caller's search_path); the loader's
-- functions live in schema loader, where only the owner may CREATE.
--
-- Immune to other roles' objects: the transaction's first statement pins
-- search_path to pg_catalog and pg_temp (lock_for_init.sql), so every
-- function and operator below resolves in pg_catalog only, and every
-- relation is named with its schema. Nothing another role creates, in
-- public or in a schema named after a role, at any moment, changes what
-- runs here (sql/README.md, "Who can do what").

BEGIN;
\ir lock_for_init.sql

-- The loader's own schema: only its owner may create objects in it, so a
-- call qualified with it cannot be redirected or made ambiguous by an
-- overload. Created by whoever installs the loader; one created by
-- another role first (CREATE on the database allows it) is refused.
CREATE SCHEMA IF NOT EXISTS loader;
DO $owner$
DECLARE
    foreign_owner text;
BEGIN
    SELECT r.rolname INTO foreign_owner
    FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
    WHERE n.nspname = 'loader' AND r.rolname <> current_user;
    IF foreign_owner IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'insufficient_privilege',
            MESSAGE = format('schema loader belongs to role %I, not to %I, who installs the loader: '
                             'whoever owns it can replace the loader''s functions', foreign_owner,
                             current_user),
            HINT = 'drop it or give it to this role (ALTER SCHEMA loader OWNER TO ...), then run init again';
    END IF;
    -- A table of ours that another role created first would be theirs.
    SELECT string_agg(format('%I (owner %I)', c.relname, r.rolname), ', ') INTO foreign_owner
    FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
    WHERE c.relnamespace = 'public'::regnamespace AND r.rolname <> current_user
      AND c.relname IN ('staging_table', 'dim_stores', 'dim_products', 'dim_customers',
                        'dim_dates', 'facts', 'load_ledger', 'load_rejects', 'loader_schema',
                        'load_ledger_load_id_seq');
    IF foreign_owner IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'insufficient_privilege',
            MESSAGE = format('tables the loader would use belong to other roles: %s', foreign_owner),
            HINT = 'the loader''s tables must belong to the role that runs init';
    END IF;
END
$owner$;
REVOKE ALL ON SCHEMA loader FROM PUBLIC;

-- The 17 CSV columns, typed, plus the load that brought each row (NULL for a
-- hand load with psql \copy). No primary key and no btree index: COPY appends
-- and nothing on the load path ever reads this table (the trigger reads only
-- the transition table). The BRIN index on load_id costs almost nothing to
-- maintain (load ids grow with time) and lets `loader prune` and `verify`
-- find one load's rows without scanning the whole table.
-- transaction_id and source_txn compare bytewise (COLLATE "C"): the
-- order the dimension rule uses, and measured ~20% cheaper for the facts
-- primary key than the database's default collation.
CREATE TABLE IF NOT EXISTS public.staging_table (
    transaction_id      text          COLLATE "C" NOT NULL,
    transaction_date    date          NOT NULL,
    transaction_time    time          NOT NULL,
    total_amount        numeric(15,2) NOT NULL,
    payment_method      text          NOT NULL,
    store_id            smallint      NOT NULL,
    store_name          text          NOT NULL,
    store_location      text          NOT NULL,
    product_id          integer       NOT NULL,
    product_name        text          NOT NULL,
    product_category    text          NOT NULL,
    product_price       numeric(15,2) NOT NULL,
    quantity_sold       smallint      NOT NULL,
    customer_id         integer,
    customer_age        smallint,
    customer_gender     text,
    customer_membership text,
    load_id             bigint
);

CREATE INDEX IF NOT EXISTS staging_table_load_id_brin
    ON public.staging_table USING brin (load_id) WITH (pages_per_range = 32);

-- Dimensions are type 1: the newest transaction wins, ties broken by the
-- larger transaction_id, then by the attribute values (db_transformation.sql
-- has the order). source_ts/source_txn record which transaction set the row,
-- so an upsert only overwrites a lesser version and the final state does not
-- depend on the order or concurrency of loads.
CREATE TABLE IF NOT EXISTS public.dim_stores (
    store_id       smallint    PRIMARY KEY,
    store_name     text        NOT NULL,
    store_location text        NOT NULL,
    store_city     text,
    store_state    text,
    source_ts      timestamp   NOT NULL,
    source_txn     text        COLLATE "C" NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.dim_products (
    product_id       integer       PRIMARY KEY,
    product_name     text          NOT NULL,
    product_category text          NOT NULL,
    product_price    numeric(15,2) NOT NULL,
    source_ts        timestamp     NOT NULL,
    source_txn       text          COLLATE "C" NOT NULL,
    updated_at       timestamptz   NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.dim_customers (
    customer_id         integer     PRIMARY KEY,
    customer_age        smallint,
    customer_gender     text,
    customer_membership text,
    source_ts           timestamp   NOT NULL,
    source_txn          text        COLLATE "C" NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.dim_dates (
    date        date     PRIMARY KEY,
    year        smallint NOT NULL,
    quarter     smallint NOT NULL,
    month       smallint NOT NULL,
    day         smallint NOT NULL,
    day_of_week smallint NOT NULL, -- ISO: 1 = Monday .. 7 = Sunday
    is_weekend  boolean  NOT NULL
);

-- No foreign keys: measured ~5x slower batch loads (one row lock per fact).
-- Integrity is by construction (the trigger upserts dimensions before facts
-- in the same invocation, from the same rows; nobody but the owner may
-- write either, and dimension rows are never deleted) and proved by
-- sql/verify.sql.
CREATE TABLE IF NOT EXISTS public.facts (
    transaction_id   text          COLLATE "C" PRIMARY KEY,
    transaction_date date          NOT NULL,
    transaction_time time          NOT NULL,
    store_id         smallint      NOT NULL,
    product_id       integer       NOT NULL,
    customer_id      integer,
    payment_method   text          NOT NULL,
    quantity_sold    smallint      NOT NULL,
    total_amount     numeric(15,2) NOT NULL,
    load_id          bigint
);

-- One row per object version: (bucket, object_key, etag) is the identity that
-- makes S3's at-least-once delivery harmless. The loader claims the row inside
-- the load transaction (loader_claim), so a crash rolls the claim back with
-- the data; claimed_by is that transaction, which alone may stage rows under
-- the load id and complete it. Rows change only through the functions in
-- db_transformation.sql.
CREATE SEQUENCE IF NOT EXISTS public.load_ledger_load_id_seq;

CREATE TABLE IF NOT EXISTS public.load_ledger (
    load_id        bigint      PRIMARY KEY DEFAULT nextval('public.load_ledger_load_id_seq'),
    bucket         text        NOT NULL,
    object_key     text        NOT NULL,
    etag           text,
    version_id     text,
    status         text        NOT NULL
                   CHECK (status IN ('loading', 'loaded', 'failed', 'timed_out')),
    attempts       integer     NOT NULL DEFAULT 1,
    rows_loaded    bigint,
    rows_rejected  bigint,
    duplicates     bigint,
    facts_inserted bigint,
    bytes          bigint,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    duration_ms    bigint,
    error          text,
    staging_pruned_at timestamptz,
    claimed_by     xid8,
    UNIQUE (bucket, object_key, etag)
);

ALTER SEQUENCE public.load_ledger_load_id_seq OWNED BY public.load_ledger.load_id;

-- The rows a load refused (--max-rejects), each with its record exactly as
-- it was in the object: as text when its bytes are valid UTF-8 without NUL
-- (raw_record), as bytea otherwise (raw_bytes); one of the two, never both.
-- line is where the record starts (the header is line 1), byte_offset where
-- its first byte is (0-based, in the decompressed object).
CREATE TABLE IF NOT EXISTS public.load_rejects (
    load_id     bigint  NOT NULL,
    line        bigint  NOT NULL,
    column_name text,
    reason      text    NOT NULL,
    raw_record  text,
    byte_offset bigint,
    raw_bytes   bytea,
    PRIMARY KEY (load_id, line),
    CONSTRAINT load_rejects_one_raw CHECK ((raw_record IS NULL) <> (raw_bytes IS NULL))
);

-- Which version of these files the database holds (db_transformation.sql
-- writes it last); `loader load` refuses a database older than itself.
CREATE TABLE IF NOT EXISTS public.loader_schema (
    singleton    boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    version      integer     NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON public.loader_schema TO PUBLIC;

-- What the database accepts as a transaction's date, enforced by the batch
-- trigger for every staged row (the loader's role cannot stage a row
-- outside it, whatever it sends), and read by the loader, which applies
-- the stricter of these and its own --min-date/--max-date-ahead. Only the
-- owner may change them:
--   UPDATE loader.settings SET min_date = '2000-01-01', max_date_ahead = '2 days';
CREATE TABLE IF NOT EXISTS loader.settings (
    singleton      boolean  PRIMARY KEY DEFAULT true CHECK (singleton),
    min_date       date     NOT NULL DEFAULT '1900-01-01',
    max_date_ahead interval NOT NULL DEFAULT '1 day'
                   CHECK (max_date_ahead >= '0'::interval AND max_date_ahead <= '10 years'::interval)
);
INSERT INTO loader.settings DEFAULT VALUES ON CONFLICT (singleton) DO NOTHING;

-- Upgrades from the previous release (version 1), in place; no-ops on a
-- new database.
ALTER TABLE public.load_ledger ADD COLUMN IF NOT EXISTS claimed_by xid8;
-- One failure row per (bucket, key) while the content is unknown: fold the
-- older release's repeats into the newest.
WITH repeats AS (
    SELECT load_id, bucket, object_key,
           row_number() OVER (PARTITION BY bucket, object_key ORDER BY load_id DESC) AS nth,
           sum(attempts) OVER (PARTITION BY bucket, object_key) AS all_attempts
    FROM public.load_ledger
    WHERE etag IS NULL
),
dropped AS (
    DELETE FROM public.load_ledger l USING repeats r
    WHERE l.load_id = r.load_id AND r.nth > 1
)
UPDATE public.load_ledger l SET attempts = r.all_attempts
FROM repeats r
WHERE l.load_id = r.load_id AND r.nth = 1 AND l.attempts <> r.all_attempts;
CREATE UNIQUE INDEX IF NOT EXISTS load_ledger_unidentified
    ON public.load_ledger (bucket, object_key) WHERE etag IS NULL;

-- From version 4: how long each load's trigger spent writing the contended
-- dimension rows (the only rows loads wait for each other on), waits
-- included; attempts says how often it was retried.
ALTER TABLE public.load_ledger ADD COLUMN IF NOT EXISTS contended_ms bigint;

-- From version 2: rejects keep their bytes and offset.
ALTER TABLE public.load_rejects
    ADD COLUMN IF NOT EXISTS byte_offset bigint,
    ADD COLUMN IF NOT EXISTS raw_bytes bytea,
    ALTER COLUMN raw_record DROP NOT NULL;
-- (No comparison to find out whether it is there: an `oid = regclass` could
-- resolve to an operator another role put in a schema on the search path.)
DO $upgrade$
BEGIN
    ALTER TABLE public.load_rejects ADD CONSTRAINT load_rejects_one_raw
        CHECK ((raw_record IS NULL) <> (raw_bytes IS NULL));
EXCEPTION WHEN duplicate_object THEN
    NULL;
END
$upgrade$;

COMMIT;
