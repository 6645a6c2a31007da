-- The star schema from raw rows, as the user of a raw loader (psql \copy, pgloader, Sling,
-- DuckDB, psycopg) would write it: the raw rows are in staging_raw, an untriggered copy of
-- staging_table; the targets are the loader's own tables (sql/db_initiation.sql), empty.
--
--   psql -v ON_ERROR_STOP=1 -f benches/peers/star.sql
--
-- The rule is the loader's (sql/verify.sql checks it): each dimension keeps the attributes of
-- its id's newest transaction (transaction_date + transaction_time), ties broken by the larger
-- transaction_id; a repeated transaction_id makes one fact. The loader's extra tie-breaks on
-- the attribute values themselves (copies of one transaction that disagree) are left out, as
-- a user would. One transaction, as a load is.

\set ON_ERROR_STOP on
BEGIN;
-- What a user tuning this would set: the sorts below fit in memory, JIT costs more than it saves.
SET LOCAL work_mem = '256MB';
SET LOCAL jit = off;

INSERT INTO dim_stores
    (store_id, store_name, store_location, store_city, store_state, source_ts, source_txn)
SELECT DISTINCT ON (store_id)
       store_id, store_name, store_location,
       -- "City- State", split at the last hyphen (a city may hold one: Winston-Salem- NC).
       CASE WHEN strpos(store_location, '-') > 0
            THEN btrim(substring(store_location FROM '^(.*)-'))
            ELSE btrim(store_location) END,
       CASE WHEN strpos(store_location, '-') > 0
            THEN NULLIF(btrim(substring(store_location FROM '-([^-]*)$')), '') END,
       transaction_date + transaction_time, transaction_id
FROM staging_raw
ORDER BY store_id, transaction_date + transaction_time DESC, transaction_id COLLATE "C" DESC;

INSERT INTO dim_products
    (product_id, product_name, product_category, product_price, source_ts, source_txn)
SELECT DISTINCT ON (product_id)
       product_id, product_name, product_category, product_price,
       transaction_date + transaction_time, transaction_id
FROM staging_raw
ORDER BY product_id, transaction_date + transaction_time DESC, transaction_id COLLATE "C" DESC;

INSERT INTO dim_customers
    (customer_id, customer_age, customer_gender, customer_membership, source_ts, source_txn)
SELECT DISTINCT ON (customer_id)
       customer_id, customer_age, customer_gender, customer_membership,
       transaction_date + transaction_time, transaction_id
FROM staging_raw
WHERE customer_id IS NOT NULL
ORDER BY customer_id, transaction_date + transaction_time DESC, transaction_id COLLATE "C" DESC;

INSERT INTO dim_dates (date, year, quarter, month, day, day_of_week, is_weekend)
SELECT d,
       extract(year FROM d)::smallint,
       extract(quarter FROM d)::smallint,
       extract(month FROM d)::smallint,
       extract(day FROM d)::smallint,
       extract(isodow FROM d)::smallint,
       extract(isodow FROM d) >= 6
FROM (SELECT DISTINCT transaction_date AS d FROM staging_raw) dates;

INSERT INTO facts
    (transaction_id, transaction_date, transaction_time, store_id, product_id, customer_id,
     payment_method, quantity_sold, total_amount)
SELECT transaction_id, transaction_date, transaction_time, store_id, product_id, customer_id,
       payment_method, quantity_sold, total_amount
FROM staging_raw
ON CONFLICT (transaction_id) DO NOTHING;

COMMIT;
