//! The load ledger: exactly one committed load per object version.
//!
//! The identity is (bucket, object_key, etag), unique in `load_ledger`. A
//! load claims it inside its own transaction, so:
//! - a second delivery of the same object blocks on the first one's
//!   uncommitted claim, then sees `loaded` and skips;
//! - a crash or error rolls the claim back together with the data, and
//!   the next delivery claims again;
//! - a failure is written after the rollback, in its own statement, and
//!   never over a `loaded` row.
//!
//! Every value is a bound parameter; object keys never become SQL text.

use std::time::Duration;

use tokio_postgres::{Client, GenericClient, Transaction};

use crate::encode::Reject;
use crate::error::{Error, Result};

/// The identity of one object version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectId {
    /// S3 bucket, or `file` / `stdin`.
    pub bucket: String,
    /// Key, path or name.
    pub key: String,
    /// ETag without quotes, or a content hash for local sources; `None`
    /// when unknown (a failure before the content was read).
    pub etag: Option<String>,
    /// S3 version id, when the bucket is versioned.
    pub version_id: Option<String>,
}

/// The outcome of a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This transaction owns the load.
    Claimed {
        /// The load id stamped on every staged row.
        load_id: i64,
    },
    /// Already loaded and committed by an earlier load.
    AlreadyLoaded {
        /// The earlier load.
        load_id: i64,
    },
}

/// The figures recorded when a load completes.
#[derive(Clone, Debug, Default)]
pub struct Completion {
    /// Rows copied into staging.
    pub rows: i64,
    /// Rows refused and written to `load_rejects`.
    pub rejected: i64,
    /// Staged rows whose transaction_id was already a fact.
    pub duplicates: i64,
    /// Facts this load inserted.
    pub facts_inserted: i64,
    /// Raw bytes read from the object.
    pub bytes: i64,
    /// Wall time of the load.
    pub duration: Duration,
}

/// A fresh load id from the ledger's sequence (for loads that claim at the
/// end, once their content hash is known).
///
/// # Errors
/// [`Error::Database`].
pub async fn next_load_id(tx: &Transaction<'_>, object: &str) -> Result<i64> {
    let row = tx
        .query_one("SELECT nextval('load_ledger_load_id_seq')", &[])
        .await
        .map_err(|e| Error::db(object, "allocating a load id", e))?;
    Ok(row.get(0))
}

/// Claims the object in the transaction. Blocks while another transaction
/// holds an uncommitted claim on the same identity. With `load_id` given the
/// claim uses it; otherwise a failed earlier attempt's row keeps its id, a new
/// row takes the next one from the sequence.
///
/// # Errors
/// [`Error::Database`].
pub async fn claim(
    tx: &Transaction<'_>,
    id: &ObjectId,
    load_id: Option<i64>,
    object: &str,
) -> Result<Claim> {
    let claimed = tx
        .query_opt(
            "INSERT INTO load_ledger AS l (load_id, bucket, object_key, etag, version_id, status)
             VALUES (coalesce($1, nextval('load_ledger_load_id_seq')), $2, $3, $4, $5, 'loading')
             ON CONFLICT (bucket, object_key, etag) DO UPDATE
                 SET status = 'loading',
                     load_id = coalesce($1, l.load_id),
                     version_id = EXCLUDED.version_id,
                     attempts = l.attempts + 1,
                     started_at = now(),
                     finished_at = NULL,
                     error = NULL
                 WHERE l.status <> 'loaded'
             RETURNING load_id",
            &[&load_id, &id.bucket, &id.key, &id.etag, &id.version_id],
        )
        .await
        .map_err(|e| Error::db(object, "claiming the object in load_ledger", e))?;
    if let Some(row) = claimed {
        return Ok(Claim::Claimed {
            load_id: row.get(0),
        });
    }
    let row = tx
        .query_one(
            "SELECT load_id FROM load_ledger
             WHERE bucket = $1 AND object_key = $2 AND etag = $3",
            &[&id.bucket, &id.key, &id.etag],
        )
        .await
        .map_err(|e| Error::db(object, "reading load_ledger", e))?;
    Ok(Claim::AlreadyLoaded {
        load_id: row.get(0),
    })
}

/// Marks the claimed load `loaded` with its figures (same transaction).
///
/// # Errors
/// [`Error::Database`].
pub async fn complete(
    tx: &Transaction<'_>,
    load_id: i64,
    done: &Completion,
    object: &str,
) -> Result<()> {
    let duration_ms = done.duration.as_millis() as i64;
    tx.execute(
        "UPDATE load_ledger
         SET status = 'loaded', rows_loaded = $2, rows_rejected = $3, duplicates = $4,
             facts_inserted = $5, bytes = $6, duration_ms = $7, finished_at = now(), error = NULL
         WHERE load_id = $1",
        &[
            &load_id,
            &done.rows,
            &done.rejected,
            &done.duplicates,
            &done.facts_inserted,
            &done.bytes,
            &duration_ms,
        ],
    )
    .await
    .map_err(|e| Error::db(object, "completing load_ledger", e))?;
    Ok(())
}

/// Writes the refused rows of a load (same transaction), in one statement.
///
/// # Errors
/// [`Error::Database`].
pub async fn insert_rejects(
    tx: &Transaction<'_>,
    load_id: i64,
    rejects: &[Reject],
    object: &str,
) -> Result<()> {
    if rejects.is_empty() {
        return Ok(());
    }
    let lines: Vec<i64> = rejects.iter().map(|r| r.line as i64).collect();
    let columns: Vec<Option<&str>> = rejects.iter().map(|r| r.column).collect();
    let reasons: Vec<String> = rejects
        .iter()
        .map(|r| match &r.value {
            Some(v) => format!("{} (value {v})", r.reason),
            None => r.reason.clone(),
        })
        .collect();
    let raws: Vec<&str> = rejects.iter().map(|r| r.raw.as_str()).collect();
    tx.execute(
        "INSERT INTO load_rejects (load_id, line, column_name, reason, raw_record)
         SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[])
         ON CONFLICT (load_id, line) DO NOTHING",
        &[&load_id, &lines, &columns, &reasons, &raws],
    )
    .await
    .map_err(|e| Error::db(object, "writing load_rejects", e))?;
    Ok(())
}

/// Records a failed (or timed-out) load after its transaction rolled back.
/// Never overwrites a `loaded` row: a concurrent delivery may have won.
///
/// # Errors
/// [`Error::Database`].
pub async fn record_failure(
    client: &Client,
    id: &ObjectId,
    timed_out: bool,
    error: &str,
    attempts: i32,
    duration: Duration,
    object: &str,
) -> Result<()> {
    let status = if timed_out { "timed_out" } else { "failed" };
    let duration_ms = duration.as_millis() as i64;
    // Keep the stored message bounded; the full one is in the logs.
    let error: String = error.chars().take(4000).collect();
    client
        .execute(
            "INSERT INTO load_ledger AS l
                 (bucket, object_key, etag, version_id, status, attempts, error,
                  finished_at, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, now(), $8)
             ON CONFLICT (bucket, object_key, etag) DO UPDATE
                 SET status = EXCLUDED.status,
                     attempts = l.attempts + EXCLUDED.attempts,
                     error = EXCLUDED.error,
                     finished_at = now(),
                     duration_ms = EXCLUDED.duration_ms
                 WHERE l.status <> 'loaded'",
            &[
                &id.bucket,
                &id.key,
                &id.etag,
                &id.version_id,
                &status,
                &attempts,
                &error,
                &duration_ms,
            ],
        )
        .await
        .map_err(|e| Error::db(object, "recording the failure in load_ledger", e))?;
    Ok(())
}

/// How many facts the batch trigger inserted in this transaction's last
/// COPY (the trigger publishes it with `set_config(..., true)`).
///
/// # Errors
/// [`Error::Database`], or [`Error::Config`] when the trigger did not run
/// (schema not installed with `loader init`).
pub async fn facts_inserted<C: GenericClient>(tx: &C, object: &str) -> Result<i64> {
    let row = tx
        .query_one("SELECT current_setting('loader.facts_inserted', true)", &[])
        .await
        .map_err(|e| Error::db(object, "reading the trigger's result", e))?;
    let value: Option<String> = row.get(0);
    value
        .as_deref()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            Error::Config(
                "the staging trigger did not run: install the schema with `loader init`".into(),
            )
        })
}
