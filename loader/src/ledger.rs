//! The loader's side of the protocol in `sql/db_transformation.sql`: one
//! call per step, each a SECURITY DEFINER function, the only thing
//! `loader_role` may do besides staging rows.
//!
//! - [`claim`] before the rows: the (bucket, key, etag) identity is unique,
//!   so a second delivery blocks on the first one's uncommitted claim, then
//!   sees it loaded and skips; a crash rolls the claim back with the data.
//!   A local file or stdin claims without its identity and names it with
//!   [`identify`] once its content hash is known.
//! - [`file_rejects`] and [`complete`] in the same transaction; the
//!   database counts the rows and facts itself.
//! - [`record_failure`] after a rollback, in its own statement, never over
//!   a loaded row.
//!
//! Every value is a bound parameter; object keys never become SQL text.
//! Every function is called with its schema (`loader`, where only the
//! owner may create objects), so no overload or same-named schema another
//! role creates can redirect a call or make it ambiguous.

use std::time::Duration;

use tokio_postgres::{Client, GenericClient, Transaction};

use crate::contract::DateWindow;
use crate::error::{Error, Result};
use crate::rejects::Rejects;

/// The schema version this loader speaks: the one `sql/db_transformation.sql`
/// writes to `loader_schema`, read from that file when the loader is built,
/// so it is written down once.
pub const SCHEMA_VERSION: i32 = version_written_by(crate::schema::TRANSFORMATION_SQL);

/// The number in the file's `INSERT INTO public.loader_schema (singleton,
/// version) VALUES (true, N)`; the build fails when there is none.
const fn version_written_by(sql: &str) -> i32 {
    let text = sql.as_bytes();
    let marker = b"INSERT INTO public.loader_schema (singleton, version) VALUES (true, ";
    let mut at = 0;
    while at + marker.len() <= text.len() {
        let mut matched = 0;
        while matched < marker.len() && text[at + matched] == marker[matched] {
            matched += 1;
        }
        if matched == marker.len() {
            let (mut digit, mut version) = (at + matched, 0i32);
            while digit < text.len() && text[digit].is_ascii_digit() {
                version = version * 10 + (text[digit] - b'0') as i32;
                digit += 1;
            }
            if version > 0 {
                return version;
            }
        }
        at += 1;
    }
    panic!("sql/db_transformation.sql writes no loader_schema version");
}

/// Rejects sent per call of `loader_file_rejects`.
const REJECTS_PER_CALL: usize = 1000;
/// And about this many bytes of records.
const REJECT_BYTES_PER_CALL: usize = 4 << 20;

/// The identity of one object version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectId {
    /// S3 bucket, or `file` / `stdin`.
    pub bucket: String,
    /// Key, path or name.
    pub key: String,
    /// ETag without quotes, or a content hash for local sources; `None`
    /// until known (a local source is hashed while it streams).
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

impl Claim {
    fn from_row(row: &tokio_postgres::Row) -> Claim {
        let load_id = row.get(0);
        if row.get(1) {
            Claim::Claimed { load_id }
        } else {
            Claim::AlreadyLoaded { load_id }
        }
    }
}

/// The figures of a completed load, as the database counted them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Completion {
    /// Rows staged under the load.
    pub rows: i64,
    /// Facts the load inserted.
    pub facts_inserted: i64,
    /// Staged rows whose transaction_id was already a fact.
    pub duplicates: i64,
    /// Rows refused and filed in `load_rejects`.
    pub rejected: i64,
    /// Time the trigger spent writing the dimension rows other loads
    /// contend for, waiting for their locks included.
    pub contended: Duration,
}

/// Checks that the database holds the schema this loader speaks, and
/// returns the dates it accepts (`loader.settings`). In a transaction of
/// its own, as every statement of the loader, so it also works through a
/// transaction-mode pooler (a statement prepared outside a transaction may
/// run on another server connection there).
///
/// # Errors
/// [`Error::Schema`] when it is missing or older, [`Error::Database`].
pub async fn check_schema(client: &mut Client) -> Result<DateWindow> {
    let checking = |e| Error::db("-", "checking the schema version", e);
    let tx = client.transaction().await.map_err(checking)?;
    // No row may outlive the transaction: a row holds its prepared
    // statement, which is closed when the last row goes, and closed after
    // the COMMIT it would stay behind on a pooler's server connection.
    let tables: (bool, bool) = tx
        .query_one(
            "SELECT pg_catalog.to_regclass('public.loader_schema') IS NOT NULL,
                    pg_catalog.to_regclass('public.load_ledger') IS NOT NULL",
            &[],
        )
        .await
        .map(|row| (row.get(0), row.get(1)))
        .map_err(checking)?;
    let found = match tables {
        (true, _) => tx
            .query_opt("SELECT version FROM public.loader_schema", &[])
            .await
            .map_err(checking)?
            .map(|r| r.get::<_, i32>(0)),
        // Before version 2 there was no version table.
        (false, true) => Some(1),
        (false, false) => None,
    };
    let window = match found {
        Some(v) if v == SCHEMA_VERSION => date_window(&tx).await?,
        Some(v) if v > SCHEMA_VERSION => {
            return Err(Error::Config(format!(
                "the database's loader schema is version {v}, newer than this loader \
                 (version {SCHEMA_VERSION}): use a newer loader"
            )))
        }
        Some(v) => {
            return Err(Error::Schema(format!(
                "the database's loader schema is version {v}, this loader needs version \
                 {SCHEMA_VERSION}"
            )))
        }
        None => {
            return Err(Error::Schema(
                "the database has no loader schema (no load_ledger)".into(),
            ))
        }
    };
    tx.commit().await.map_err(checking)?;
    Ok(window)
}

/// The transaction dates the database accepts (`loader.settings`, which
/// only its owner may change; the batch trigger enforces them).
async fn date_window<C: GenericClient>(client: &C) -> Result<DateWindow> {
    let row = client
        .query_one(
            "SELECT min_date::text, extract(epoch FROM max_date_ahead)::bigint
             FROM loader.settings",
            &[],
        )
        .await
        .map_err(|e| Error::db("-", "reading loader.settings", e))?;
    let min_date: String = row.get(0);
    let ahead = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
    DateWindow::new(Duration::from_secs(ahead), &min_date).map_err(|_| {
        Error::Schema(format!(
            "loader.settings holds min_date {min_date:?}, which this loader cannot read"
        ))
    })
}

/// Claims the object in the transaction (`loader_claim`). Blocks while
/// another transaction holds an uncommitted claim on the same identity.
/// Without an ETag the claim is anonymous until [`identify`].
///
/// # Errors
/// [`Error::Database`].
pub async fn claim(tx: &Transaction<'_>, id: &ObjectId, object: &str) -> Result<Claim> {
    let row = tx
        .query_one(
            "SELECT load_id, claimed FROM loader.loader_claim($1, $2, $3, $4)",
            &[&id.bucket, &id.key, &id.etag, &id.version_id],
        )
        .await
        .map_err(|e| Error::db(object, crate::error::CLAIMING, e))?;
    Ok(Claim::from_row(&row))
}

/// Names the content of an anonymous claim (`loader_identify`). When that
/// content was loaded before, the answer is [`Claim::AlreadyLoaded`] and the
/// transaction must be rolled back (the database refuses to commit it).
///
/// # Errors
/// [`Error::Database`].
pub async fn identify(
    tx: &Transaction<'_>,
    load_id: i64,
    etag: &str,
    object: &str,
) -> Result<Claim> {
    let row = tx
        .query_one(
            "SELECT load_id, claimed FROM loader.loader_identify($1, $2)",
            &[&load_id, &etag],
        )
        .await
        .map_err(|e| Error::db(object, "naming the content in load_ledger", e))?;
    Ok(Claim::from_row(&row))
}

/// Files the refused rows of a load (same transaction), in bounded calls:
/// at most 1,000 rows and about 4 MiB each, read back from the store in
/// order. A record's bytes go as text when they are valid UTF-8 without
/// NUL, as bytea otherwise.
///
/// # Errors
/// [`Error::Database`]; [`Error::Rejects`] when the rejects' temporary
/// file cannot be read back.
pub async fn file_rejects(
    tx: &Transaction<'_>,
    load_id: i64,
    rejects: Rejects,
    object: &str,
) -> Result<()> {
    let unreadable = |e: std::io::Error| Error::Rejects {
        object: object.to_string(),
        message: format!("reading them back: {e}"),
    };
    for batch in rejects
        .into_batches(REJECTS_PER_CALL, REJECT_BYTES_PER_CALL)
        .map_err(unreadable)?
    {
        let batch = batch.map_err(unreadable)?;
        let lines: Vec<i64> = batch.iter().map(|r| clamp(r.line)).collect();
        let offsets: Vec<i64> = batch.iter().map(|r| clamp(r.offset)).collect();
        let columns: Vec<Option<&str>> = batch.iter().map(|r| r.column).collect();
        let reasons: Vec<String> = batch
            .iter()
            .map(|r| match &r.value {
                Some(v) => format!("{} (value {v})", r.reason),
                None => r.reason.clone(),
            })
            .collect();
        let texts: Vec<Option<&str>> = batch.iter().map(|r| as_text(&r.raw)).collect();
        let bytes: Vec<Option<&[u8]>> = batch
            .iter()
            .zip(&texts)
            .map(|(r, text)| text.is_none().then_some(r.raw.as_slice()))
            .collect();
        tx.execute(
            "SELECT loader.loader_file_rejects($1, $2, $3, $4, $5, $6, $7)",
            &[
                &load_id, &lines, &offsets, &columns, &reasons, &texts, &bytes,
            ],
        )
        .await
        .map_err(|e| Error::db(object, "filing load_rejects", e))?;
    }
    Ok(())
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The bytes as PostgreSQL text, when they can be: UTF-8 without NUL.
fn as_text(raw: &[u8]) -> Option<&str> {
    std::str::from_utf8(raw).ok().filter(|t| !t.contains('\0'))
}

/// Marks the claimed load `loaded` (`loader_complete`, same transaction)
/// and returns the database's figures for it.
///
/// # Errors
/// [`Error::Database`].
pub async fn complete(
    tx: &Transaction<'_>,
    load_id: i64,
    bytes: u64,
    duration: Duration,
    object: &str,
) -> Result<Completion> {
    let row = tx
        .query_one(
            "SELECT rows_loaded, facts_inserted, duplicates, rows_rejected, contended_ms
             FROM loader.loader_complete($1, $2, $3)",
            &[
                &load_id,
                &i64::try_from(bytes).unwrap_or(i64::MAX),
                &i64::try_from(duration.as_millis()).unwrap_or(i64::MAX),
            ],
        )
        .await
        .map_err(|e| Error::db(object, "completing load_ledger", e))?;
    Ok(Completion {
        rows: row.get(0),
        facts_inserted: row.get(1),
        duplicates: row.get(2),
        rejected: row.get(3),
        contended: Duration::from_millis(u64::try_from(row.get::<_, i64>(4)).unwrap_or(0)),
    })
}

/// Records a failed (or timed-out) load after its transaction rolled back
/// (`loader_fail`). Never overwrites a `loaded` row: a concurrent delivery
/// may have won.
///
/// # Errors
/// [`Error::Database`].
pub async fn record_failure(
    client: &mut Client,
    id: &ObjectId,
    timed_out: bool,
    error: &str,
    attempts: u32,
    duration: Duration,
    object: &str,
) -> Result<()> {
    // The database keeps the first 4,000 characters (loader_fail); the
    // whole message is in the logs.
    let recording = |e| Error::db(object, "recording the failure in load_ledger", e);
    let tx = client.transaction().await.map_err(recording)?;
    tx.execute(
        "SELECT loader.loader_fail($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &id.bucket,
            &id.key,
            &id.etag,
            &id.version_id,
            &timed_out,
            &error,
            // The database takes 1 to 1000 per call.
            &i32::try_from(attempts.clamp(1, 1000)).unwrap_or(1000),
            &i64::try_from(duration.as_millis()).unwrap_or(i64::MAX),
        ],
    )
    .await
    .map_err(recording)?;
    tx.commit()
        .await
        .map_err(|e| Error::db(object, "recording the failure in load_ledger", e))?;
    Ok(())
}
