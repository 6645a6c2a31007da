//! The original design, reproduced to measure what this project replaced: a Lambda that
//! INSERTs each row on its own (autocommit), and a FOR EACH ROW trigger that re-runs
//! `INSERT ... SELECT DISTINCT ... FROM staging_table ON CONFLICT DO NOTHING` into every
//! dimension and the facts over the WHOLE staging table after every row. Each row costs a
//! scan of everything loaded before it, so a load is O(n²): only ever run it small.
//!
//! It gets its own database and tables (same names, its own shapes); nothing of the
//! project's schema is used.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use standins::LocalPostgres;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use crate::data;

/// The original's tables and its row trigger.
const SCHEMA: &str = r#"
CREATE TABLE staging_table (
    transaction_id      text,
    transaction_date    date,
    transaction_time    time,
    total_amount        numeric(15,2),
    payment_method      text,
    store_id            smallint,
    store_name          text,
    store_location      text,
    product_id          integer,
    product_name        text,
    product_category    text,
    product_price       numeric(15,2),
    quantity_sold       smallint,
    customer_id         integer,
    customer_age        smallint,
    customer_gender     text,
    customer_membership text
);
CREATE TABLE dim_stores (store_id smallint PRIMARY KEY, store_name text, store_location text);
CREATE TABLE dim_products (product_id integer PRIMARY KEY, product_name text,
                           product_category text, product_price numeric(15,2));
CREATE TABLE dim_customers (customer_id integer PRIMARY KEY, customer_age smallint,
                            customer_gender text, customer_membership text);
CREATE TABLE dim_dates (date date PRIMARY KEY, year smallint, quarter smallint,
                        month smallint, day smallint, day_of_week smallint, is_weekend boolean);
CREATE TABLE facts (transaction_id text PRIMARY KEY, transaction_date date,
                    transaction_time time, store_id smallint, product_id integer,
                    customer_id integer, payment_method text, quantity_sold smallint,
                    total_amount numeric(15,2));

-- The trigger's work, also callable on its own to fast-forward (see `fast_forward`).
CREATE FUNCTION normalize_everything_now() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dim_stores (store_id, store_name, store_location)
    SELECT DISTINCT store_id, store_name, store_location FROM staging_table
    ON CONFLICT DO NOTHING;

    INSERT INTO dim_products (product_id, product_name, product_category, product_price)
    SELECT DISTINCT product_id, product_name, product_category, product_price FROM staging_table
    ON CONFLICT DO NOTHING;

    INSERT INTO dim_customers (customer_id, customer_age, customer_gender, customer_membership)
    SELECT DISTINCT customer_id, customer_age, customer_gender, customer_membership
    FROM staging_table WHERE customer_id IS NOT NULL
    ON CONFLICT DO NOTHING;

    INSERT INTO dim_dates (date, year, quarter, month, day, day_of_week, is_weekend)
    SELECT DISTINCT transaction_date,
           extract(year FROM transaction_date), extract(quarter FROM transaction_date),
           extract(month FROM transaction_date), extract(day FROM transaction_date),
           extract(isodow FROM transaction_date), extract(isodow FROM transaction_date) >= 6
    FROM staging_table
    ON CONFLICT DO NOTHING;

    INSERT INTO facts (transaction_id, transaction_date, transaction_time, store_id, product_id,
                       customer_id, payment_method, quantity_sold, total_amount)
    SELECT DISTINCT transaction_id, transaction_date, transaction_time, store_id, product_id,
           customer_id, payment_method, quantity_sold, total_amount
    FROM staging_table
    ON CONFLICT DO NOTHING;
END
$$;

CREATE FUNCTION normalize_everything() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM normalize_everything_now();
    RETURN NEW;
END
$$;

CREATE TRIGGER staging_table_normalize AFTER INSERT ON staging_table
    FOR EACH ROW EXECUTE FUNCTION normalize_everything();
"#;

/// One row's INSERT into `{table}`, every value sent as text as the Python Lambda did; empty
/// customer fields (a guest) become NULL.
const INSERT: &str = "INSERT INTO {table} VALUES (
    $1::text, $2::text::date, $3::text::time, $4::text::numeric, $5::text,
    $6::text::smallint, $7::text, $8::text, $9::text::integer, $10::text, $11::text,
    $12::text::numeric, $13::text::smallint, NULLIF($14::text, '')::integer,
    NULLIF($15::text, '')::smallint, NULLIF($16::text, ''), NULLIF($17::text, ''))";

/// Bulk rows with the trigger off, cast as [`INSERT`] casts them.
const FAST_FORWARD: &str = "INSERT INTO staging_table
    SELECT c1, c2::date, c3::time, c4::numeric, c5, c6::smallint, c7, c8, c9::integer, c10,
           c11, c12::numeric, c13::smallint, NULLIF(c14, '')::integer,
           NULLIF(c15, '')::smallint, NULLIF(c16, ''), NULLIF(c17, '')
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                $13::text[], $14::text[], $15::text[], $16::text[], $17::text[])
         AS u(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17)";

/// Rows of the untriggered baseline: enough to time the per-row commit, no more.
const BASELINE_ROWS: usize = 500;

/// One file's load, or the timed sample of it.
#[derive(Clone, Debug, Serialize)]
pub struct FileLoad {
    /// 1-based, in load order; 0 for the baseline without the trigger.
    pub file: u32,
    /// Rows inserted one by one and timed.
    pub rows: u64,
    /// Rows already in staging when the timed rows started.
    pub staged_before: u64,
    pub secs: f64,
    pub rows_per_sec: f64,
}

/// What the original design did with its files.
#[derive(Clone, Debug, Serialize)]
pub struct LegacyLoads {
    /// The same row-by-row INSERTs into a table without the trigger: what per-row commits
    /// alone allow on this server (each autocommit waits for a WAL flush).
    pub without_trigger: FileLoad,
    /// The files, with the trigger, in load order.
    pub files: Vec<FileLoad>,
}

/// How much of each file is timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// Every row of every file, one by one.
    Whole,
    /// Only this many rows from the middle of each file, one by one; the rows before them
    /// are bulk-inserted with the trigger off and normalized once, which leaves the tables as
    /// the row trigger would have. A row's cost grows linearly with the rows staged before
    /// it, so the middle rows' rate is the whole file's average rate.
    MidFile(u64),
}

/// Seconds `run` is expected to take on a busy 2-core machine (a WAL flush ~5 ms per
/// commit, ~20 µs per staged row rescanned per row), for the time budget.
pub fn estimate_secs(files: u32, rows_per_file: u64, timing: Timing) -> f64 {
    let per_row = |staged: f64| 0.005 + 20e-6 * staged;
    let baseline = BASELINE_ROWS as f64 * per_row(0.0);
    let rows = rows_per_file as f64;
    let timed: f64 = (0..files)
        .map(|k| {
            let middle = f64::from(k) * rows + rows / 2.0;
            match timing {
                Timing::Whole => rows * per_row(middle),
                Timing::MidFile(n) => n as f64 * per_row(middle),
            }
        })
        .sum();
    baseline + timed
}

/// Loads `files` files of `rows_per_file` rows, one after the other, into a fresh database
/// with the original design, after timing the same INSERTs without the trigger.
///
/// # Errors
/// A statement fails, or the facts do not add up.
pub async fn run(
    pg: &LocalPostgres,
    files: u32,
    rows_per_file: u64,
    timing: Timing,
) -> Result<LegacyLoads> {
    let spec = data::spec(u64::from(files) * rows_per_file, files);
    let mut all = Vec::new();
    for index in 0..files {
        all.extend(records(&data::in_memory(&spec, index)?)?);
    }
    let db = pg.create_database("e2e_legacy").await?;
    let client = db.connect().await?;
    client
        .batch_execute(SCHEMA)
        .await
        .context("creating the original schema")?;
    client
        .batch_execute("CREATE TABLE no_trigger (LIKE staging_table)")
        .await?;
    let sample = &all[..all.len().min(BASELINE_ROWS)];
    let plain = client
        .prepare(&INSERT.replace("{table}", "no_trigger"))
        .await?;
    let secs = insert_each(&client, &plain, sample).await?;
    let without_trigger = FileLoad {
        file: 0,
        rows: sample.len() as u64,
        staged_before: 0,
        secs,
        rows_per_sec: sample.len() as f64 / secs,
    };

    let insert = client
        .prepare(&INSERT.replace("{table}", "staging_table"))
        .await?;
    let per_file = rows_per_file as usize;
    let mut loads = Vec::new();
    let mut staged = 0usize;
    for (index, file) in (1..=files).zip(all.chunks(per_file.max(1))) {
        let first = staged;
        let timed = match timing {
            Timing::Whole => file,
            Timing::MidFile(n) => {
                let n = (n as usize).min(file.len());
                let skip = (file.len() - n) / 2;
                fast_forward(&client, &file[..skip]).await?;
                staged += skip;
                &file[skip..skip + n]
            }
        };
        let secs = insert_each(&client, &insert, timed).await?;
        loads.push(FileLoad {
            file: index,
            rows: timed.len() as u64,
            staged_before: staged as u64,
            secs,
            rows_per_sec: timed.len() as f64 / secs,
        });
        staged += timed.len();
        fast_forward(&client, &file[staged - first..]).await?;
        staged = first + file.len();
    }
    let facts: i64 = client
        .query_one("SELECT count(*) FROM facts", &[])
        .await?
        .get(0);
    if facts as u64 != staged as u64 {
        bail!("the original design made {facts} facts of {staged} rows");
    }
    drop(client);
    db.cleanup().await?;
    Ok(LegacyLoads {
        without_trigger,
        files: loads,
    })
}

/// Stages `records` at once with the trigger off, then does the trigger's work once: the
/// tables end as if each row had gone through the trigger.
async fn fast_forward(client: &Client, records: &[csv::StringRecord]) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let columns: Vec<Vec<&str>> = (0..17)
        .map(|c| records.iter().map(|r| &r[c]).collect())
        .collect();
    let params: Vec<&(dyn ToSql + Sync)> =
        columns.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
    client
        .batch_execute("ALTER TABLE staging_table DISABLE TRIGGER staging_table_normalize")
        .await?;
    client.execute(FAST_FORWARD, &params).await?;
    client
        .batch_execute(
            "ALTER TABLE staging_table ENABLE TRIGGER staging_table_normalize;
             SELECT normalize_everything_now();",
        )
        .await
        .context("fast-forwarding the original design")?;
    Ok(())
}

/// The data rows of a CSV file.
fn records(csv: &[u8]) -> Result<Vec<csv::StringRecord>> {
    let records = csv::Reader::from_reader(csv)
        .into_records()
        .collect::<Result<Vec<_>, _>>()
        .context("reading the generated CSV")?;
    if let Some(bad) = records.iter().find(|r| r.len() != 17) {
        bail!("a generated row has {} fields", bad.len());
    }
    Ok(records)
}

/// One autocommitted INSERT per record; returns the seconds they took.
async fn insert_each(
    client: &Client,
    insert: &Statement,
    records: &[csv::StringRecord],
) -> Result<f64> {
    let started = Instant::now();
    for record in records {
        let fields: Vec<&str> = record.iter().collect();
        let params: Vec<&(dyn ToSql + Sync)> =
            fields.iter().map(|f| f as &(dyn ToSql + Sync)).collect();
        client.execute(insert, &params).await?;
    }
    Ok(started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_much_cheaper_than_whole_files() {
        let whole = estimate_secs(5, 2_000, Timing::Whole);
        let sampled = estimate_secs(5, 2_000, Timing::MidFile(100));
        assert!(whole > 10.0 * sampled, "{whole} vs {sampled}");
    }
}
