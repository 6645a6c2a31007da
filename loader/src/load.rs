//! One object's load, the protocol of `sql/db_transformation.sql` in one
//! transaction: claim -> COPY (the trigger writes dimensions and facts) ->
//! [identify] -> file rejects -> complete -> commit; retried from the start
//! on errors that retrying can fix, recorded with `loader_fail` when it
//! gives up.
//!
//! Invariant: the staged rows, the facts and dimensions the trigger derives
//! from them, the rejects and the ledger's `loaded` row commit together or
//! not at all (the database enforces it; this side only follows it).

use std::time::Duration;

use tokio::time::Instant;
use tokio_postgres::Transaction;

use crate::copy::{stream_into, CopySink, Streamed};
use crate::db::Db;
use crate::encode::{CopyFormat, EncodeOptions, DEFAULT_MAX_RECORD_BYTES};
use crate::error::{Error, Result};
use crate::ledger::{self, Claim, ObjectId};
use crate::source::{self, bare_etag, ByteCounter, Opened, S3Open, Source};

/// How loads run.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// COPY wire format.
    pub format: CopyFormat,
    /// Bad rows tolerated per object (see `EncodeOptions::max_rejects`).
    pub max_rejects: crate::encode::MaxRejects,
    /// Longest record accepted.
    pub max_record_bytes: usize,
    /// `work_mem` for the load transaction: a PostgreSQL size such as
    /// `256MB`, or `auto` to size it from the object (see [`work_mem_for`]).
    pub work_mem: String,
    /// Tries per object for retryable errors (1 = no retry).
    pub max_attempts: u32,
    /// First retry delay; doubled each time, with jitter, capped at 20 s.
    pub backoff: Duration,
    /// Stop this long before `deadline`.
    pub deadline_margin: Duration,
    /// Hard stop for the whole load, retries included (Lambda's deadline).
    pub deadline: Option<Instant>,
    /// The longest any one lock wait of a load may last (`lock_timeout`,
    /// set for each load transaction); past it the load fails naming the
    /// sessions that hold the lock, and is retried.
    pub lock_timeout: Duration,
    /// Required header columns, aliases, plausible dates (issue 16).
    pub contract: crate::contract::Contract,
    /// Decompression bounds (issue 16).
    pub read: source::ReadOptions,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            format: CopyFormat::Binary,
            max_rejects: crate::encode::MaxRejects::NONE,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            work_mem: "auto".into(),
            max_attempts: 4,
            backoff: Duration::from_millis(250),
            deadline_margin: Duration::from_secs(5),
            deadline: None,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            contract: Default::default(),
            read: Default::default(),
        }
    }
}

/// The default bound on one lock wait: far above the few milliseconds a
/// load holds contended rows, far below a Lambda's timeout.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// `lock_timeout` as PostgreSQL reads it: whole milliseconds, at least 1
/// (0 would mean no bound).
pub fn lock_timeout_setting(timeout: Duration) -> String {
    format!("{}ms", timeout.as_millis().clamp(1, i32::MAX as u128))
}

/// `work_mem` when none is given and the object's size is unknown (stdin).
const WORK_MEM_UNKNOWN_KB: u64 = 256 * 1024;
/// Bounds of `auto`: PostgreSQL's memory per load stays under the upper one.
const WORK_MEM_MIN_KB: u64 = 64 * 1024;
const WORK_MEM_MAX_KB: u64 = 1024 * 1024;
/// How much bigger than the CSV the transition table's tuple store grows in
/// the server's memory (1M rows: 148 MB of CSV, ~300 MB in memory).
const WORK_MEM_PER_CSV_BYTE: u64 = 3;
/// How much a gzip'd retail CSV shrinks (generator output: ~6x).
const GZIP_RATIO: u64 = 6;

/// Checks a `work_mem` setting before any load: `auto`, or a PostgreSQL
/// memory size (a whole number, optionally `B`, `kB`, `MB`, `GB` or `TB`;
/// none means kB) of at least PostgreSQL's minimum, 64kB. Returns it.
///
/// # Errors
/// [`Error::Config`] naming `setting` and what it may be.
pub fn checked_work_mem(value: &str, setting: &str) -> Result<String> {
    if value.eq_ignore_ascii_case("auto") {
        return Ok(value.to_string());
    }
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &value[digits.len()..];
    let kb = digits.trim().parse::<u64>().ok().and_then(|n| match unit {
        "B" => Some(n / 1024),
        "" | "kB" => Some(n),
        "MB" => n.checked_mul(1 << 10),
        "GB" => n.checked_mul(1 << 20),
        "TB" => n.checked_mul(1 << 30),
        _ => None,
    });
    match kb {
        Some(kb) if (64..=i32::MAX as u64).contains(&kb) => Ok(value.to_string()),
        _ => Err(Error::Config(format!(
            "{setting} {value:?} is not auto or a PostgreSQL size from 64kB to 2TB (e.g. 256MB)"
        ))),
    }
}

/// The `work_mem` one load runs with. `auto` sizes it so the trigger's
/// transition table stays in memory: spilled to a temporary file, each of
/// the trigger's passes over it reads the file again (1M rows: ~1 s of a
/// 8 s load, BENCHMARKS.md). It is a limit, not an allocation: the server
/// uses what the batch needs, at most 1 GB per load.
pub fn work_mem_for(setting: &str, size: Option<u64>, compressed: bool) -> String {
    if !setting.eq_ignore_ascii_case("auto") {
        return setting.to_string();
    }
    let kb = match size {
        None => WORK_MEM_UNKNOWN_KB,
        Some(bytes) => {
            let csv = if compressed {
                bytes.saturating_mul(GZIP_RATIO)
            } else {
                bytes
            };
            (csv.saturating_mul(WORK_MEM_PER_CSV_BYTE) / 1024)
                .clamp(WORK_MEM_MIN_KB, WORK_MEM_MAX_KB)
        }
    };
    format!("{kb}kB")
}

/// What happened to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Committed now.
    Loaded,
    /// Committed before, by an earlier delivery; nothing done.
    Skipped,
    /// The object was replaced since its event; its newer version has its
    /// own event, so this one is not loaded.
    Superseded,
}

impl Outcome {
    /// `loaded`, `skipped` or `superseded`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Loaded => "loaded",
            Outcome::Skipped => "skipped",
            Outcome::Superseded => "superseded",
        }
    }
}

/// The figures of one object's load.
#[derive(Clone, Debug)]
pub struct LoadReport {
    /// The object as shown in messages.
    pub object: String,
    /// What happened.
    pub outcome: Outcome,
    /// The ledger's load id (the earlier one when skipped).
    pub load_id: Option<i64>,
    /// Rows staged.
    pub rows: u64,
    /// Rows refused (written to `load_rejects`).
    pub rejected: u64,
    /// Staged rows whose transaction_id already was a fact.
    pub duplicates: u64,
    /// Raw bytes read.
    pub bytes: u64,
    /// Wall time, retries included.
    pub duration: Duration,
    /// Tries it took.
    pub attempts: u32,
    /// Time its trigger spent writing the dimension rows other loads
    /// contend for, waits for their locks included (the ledger's
    /// `contended_ms`).
    pub contended: Duration,
    /// The object version's ETag (for files and stdin, the content hash the
    /// ledger keys them by), when known.
    pub etag: Option<String>,
    /// The S3 version id, on versioned buckets.
    pub version_id: Option<String>,
}

impl LoadReport {
    fn empty(object: &str, outcome: Outcome, load_id: Option<i64>) -> Self {
        LoadReport {
            object: object.to_string(),
            outcome,
            load_id,
            rows: 0,
            rejected: 0,
            duplicates: 0,
            bytes: 0,
            duration: Duration::ZERO,
            attempts: 1,
            contended: Duration::ZERO,
            etag: None,
            version_id: None,
        }
    }

    /// Rows per second of wall time.
    pub fn rows_per_sec(&self) -> f64 {
        let secs = self.duration.as_secs_f64();
        if secs > 0.0 {
            self.rows as f64 / secs
        } else {
            0.0
        }
    }
}

/// Loads objects, one at a time, over one database connection.
pub struct Loader {
    db: Db,
    s3: Option<aws_sdk_s3::Client>,
    options: LoadOptions,
    /// Whether the database's schema version was checked (once per loader).
    schema_checked: bool,
}

/// How an object's identity is learned, chosen once from its kind.
enum Identity {
    /// S3: the ETag (from the event, or a HEAD) before any byte is read;
    /// the load claims it first, so a second delivery waits and skips.
    Known(ObjectId),
    /// A local file or stdin: the hash of its content, known once it has
    /// streamed; the load claims anonymously, then names the content.
    ByContent(ObjectId),
}

impl Identity {
    fn id(&self) -> &ObjectId {
        match self {
            Identity::Known(id) | Identity::ByContent(id) => id,
        }
    }
}

/// What the COPY staged.
struct Staged {
    streamed: Streamed,
    /// Raw bytes read from the source.
    bytes: u64,
}

impl Loader {
    /// A loader; `s3` is needed only for S3 sources.
    pub fn new(db: Db, s3: Option<aws_sdk_s3::Client>, options: LoadOptions) -> Self {
        Loader {
            db,
            s3,
            options,
            schema_checked: false,
        }
    }

    /// The options, to change the deadline per invocation.
    pub fn options_mut(&mut self) -> &mut LoadOptions {
        &mut self.options
    }

    /// The connection holder.
    pub fn db_mut(&mut self) -> &mut Db {
        &mut self.db
    }

    /// Loads one object exactly once: retries retryable errors with jittered
    /// backoff (re-reading the object from its start), records a failure in
    /// the ledger when it gives up.
    ///
    /// # Errors
    /// The last attempt's error.
    pub async fn load(
        &mut self,
        source: &Source,
        progress: Option<&ByteCounter>,
    ) -> Result<LoadReport> {
        let started = Instant::now();
        let shown = source.to_string();
        let mut identity = None;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let stop_at = self
                .options
                .deadline
                .map(|d| d.checked_sub(self.options.deadline_margin).unwrap_or(d));
            let result = match stop_at {
                Some(at) => {
                    let run = self.attempt(source, progress, &mut identity);
                    match tokio::time::timeout_at(at, run).await {
                        Ok(result) => result,
                        Err(_) => Err(Error::Deadline {
                            object: shown.clone(),
                            margin: self.options.deadline_margin,
                        }),
                    }
                }
                None => self.attempt(source, progress, &mut identity).await,
            };
            let error = match result {
                Ok(mut report) => {
                    report.duration = started.elapsed();
                    report.attempts = attempt;
                    if let Some(id) = &identity {
                        report.etag.clone_from(&id.etag);
                        report.version_id.clone_from(&id.version_id);
                    }
                    return Ok(report);
                }
                Err(e) => e,
            };
            if matches!(error, Error::Deadline { .. }) {
                // The connection may be mid-statement: cancel it and start over.
                self.db.cancel_and_reset().await;
            } else if error.breaks_connection() {
                self.db.reset();
            }
            let delay = backoff(self.options.backoff, attempt);
            let time_left = stop_at.is_none_or(|at| Instant::now() + delay < at);
            if error.is_retryable()
                && attempt < self.options.max_attempts
                && time_left
                && source.can_retry()
            {
                tracing::warn!(object = %shown, attempt, error = %error, retry_in_ms = delay.as_millis() as u64, "load failed; retrying");
                tokio::time::sleep(delay).await;
                continue;
            }
            if !matches!(error, Error::Schema(_)) && !error.being_loaded_elsewhere() {
                let id = identity.unwrap_or_else(|| anonymous(source));
                self.record_failure(&id, &error, attempt, started.elapsed(), &shown)
                    .await;
            }
            return Err(error);
        }
    }

    async fn record_failure(
        &mut self,
        id: &ObjectId,
        error: &Error,
        attempts: u32,
        duration: Duration,
        shown: &str,
    ) {
        let timed_out = matches!(error, Error::Deadline { .. });
        let message = error.to_string();
        let write = async {
            let client = self.db.client().await?;
            ledger::record_failure(client, id, timed_out, &message, attempts, duration, shown).await
        };
        // Bounded: a Lambda must still answer before its deadline.
        match tokio::time::timeout(Duration::from_secs(4), write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(object = %shown, error = %e, "could not record the failure in load_ledger")
            }
            Err(_) => {
                tracing::error!(object = %shown, "timed out recording the failure in load_ledger")
            }
        }
    }

    /// One try, the protocol's steps in order. `identity` keeps what was
    /// learned about the object (its ETag or content hash) for the failure
    /// record.
    async fn attempt(
        &mut self,
        source: &Source,
        progress: Option<&ByteCounter>,
        identity: &mut Option<ObjectId>,
    ) -> Result<LoadReport> {
        let started = Instant::now();
        let shown = source.to_string();
        self.check_schema().await?;
        let mut known = self.identity(source, &shown).await?;
        *identity = Some(known.id().clone());

        let Loader {
            db, s3, options, ..
        } = self;
        let client = db.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| Error::db(&shown, "beginning the transaction", e))?;
        pin(&tx, options.lock_timeout, &shown).await?;
        let load_id = match ledger::claim(&tx, known.id(), &shown).await? {
            Claim::Claimed { load_id } => load_id,
            Claim::AlreadyLoaded { load_id } => {
                return Ok(LoadReport::empty(&shown, Outcome::Skipped, Some(load_id)));
            }
        };
        let Some(opened) = open(source, s3.as_ref(), known.id(), progress, options, &shown).await?
        else {
            return Ok(LoadReport::empty(&shown, Outcome::Superseded, None));
        };
        let staged = stage(&tx, opened, options, load_id, source, &shown).await?;

        if let Identity::ByContent(id) = &mut known {
            id.etag = Some(format!("xxh3-{:032x}", staged.streamed.content_hash));
            *identity = Some(id.clone());
            let etag = id.etag.as_deref().unwrap_or_default();
            if let Claim::AlreadyLoaded { load_id } =
                ledger::identify(&tx, load_id, etag, &shown).await?
            {
                // Same content loaded before: roll everything back.
                drop(tx);
                return Ok(LoadReport::empty(&shown, Outcome::Skipped, Some(load_id)));
            }
        }
        let rows = staged.streamed.summary.rows;
        let rejected = staged.streamed.rejects.len();
        ledger::file_rejects(&tx, load_id, staged.streamed.rejects, &shown).await?;
        let done = ledger::complete(&tx, load_id, staged.bytes, started.elapsed(), &shown).await?;
        if u64::try_from(done.rows).ok() != Some(rows)
            || u64::try_from(done.rejected).ok() != Some(rejected)
        {
            return Err(Error::Protocol {
                object: shown,
                message: format!(
                    "the ledger counted {} rows and {} rejects, the encoder sent {} and {}",
                    done.rows, done.rejected, rows, rejected
                ),
            });
        }
        tx.commit()
            .await
            .map_err(|e| Error::db(&shown, "committing", e))?;
        tracing::info!(
            object = %shown,
            load_id,
            rows = done.rows,
            rejected = done.rejected,
            duplicates = done.duplicates,
            bytes = staged.bytes,
            seconds = started.elapsed().as_secs_f64(),
            "loaded"
        );
        Ok(LoadReport {
            object: shown,
            outcome: Outcome::Loaded,
            load_id: Some(load_id),
            rows,
            rejected: done.rejected as u64,
            duplicates: done.duplicates as u64,
            bytes: staged.bytes,
            duration: started.elapsed(),
            attempts: 1,
            contended: done.contended,
            etag: None,
            version_id: None,
        })
    }

    /// Refuses a database whose schema is older than this loader, once.
    /// Applies the database's date bounds where they are stricter than
    /// the loader's own, so no row the database would refuse is sent.
    async fn check_schema(&mut self) -> Result<()> {
        if !self.schema_checked {
            let database = ledger::check_schema(self.db.client().await?).await?;
            let dates = &mut self.options.contract.dates;
            *dates = dates.narrowest(database);
            self.schema_checked = true;
        }
        Ok(())
    }

    /// The object's identity strategy; for S3 the ETag, from the event or
    /// a HEAD.
    async fn identity(&self, source: &Source, shown: &str) -> Result<Identity> {
        let mut id = anonymous(source);
        let Source::S3 {
            bucket,
            key,
            etag,
            version_id,
            ..
        } = source
        else {
            return Ok(Identity::ByContent(id));
        };
        match etag {
            Some(etag) => {
                id.etag = Some(bare_etag(etag));
                id.version_id = version_id.clone();
            }
            None => {
                let client = self.s3_client()?;
                let head =
                    source::head_s3(client, bucket, key, version_id.as_deref(), shown).await?;
                id.etag = Some(head.etag);
                id.version_id = head.version_id.or_else(|| version_id.clone());
            }
        }
        Ok(Identity::Known(id))
    }

    fn s3_client(&self) -> Result<&aws_sdk_s3::Client> {
        self.s3
            .as_ref()
            .ok_or_else(|| Error::Config("S3 source given but no S3 client".into()))
    }
}

/// The identity before anything is known: the ledger's name for the source.
fn anonymous(source: &Source) -> ObjectId {
    let (bucket, key) = source.ledger_name();
    ObjectId {
        bucket,
        key,
        etag: None,
        version_id: None,
    }
}

/// Opens the source for reading; `None` when the S3 object was replaced
/// since its event (superseded).
async fn open(
    source: &Source,
    s3: Option<&aws_sdk_s3::Client>,
    id: &ObjectId,
    progress: Option<&ByteCounter>,
    options: &LoadOptions,
    shown: &str,
) -> Result<Option<Opened>> {
    let Source::S3 {
        bucket,
        key,
        etag: pinned,
        size: event_size,
        ..
    } = source
    else {
        return source::open_local(source, progress.cloned(), &options.read)
            .await
            .map(Some);
    };
    let client = s3.ok_or_else(|| Error::Config("S3 source given but no S3 client".into()))?;
    let etag = id.etag.as_deref().unwrap_or_default();
    let version = id.version_id.as_deref();
    let opened = source::open_s3(
        client,
        bucket,
        key,
        etag,
        version,
        shown,
        progress.cloned(),
        &options.read,
    )
    .await?;
    match opened {
        S3Open::Opened(mut opened) => {
            opened.size = opened.size.or(*event_size);
            Ok(Some(opened))
        }
        // An event's version was replaced since: that version is gone, and
        // the newer one loads on its own event.
        S3Open::Superseded if pinned.is_some() => Ok(None),
        // A source that names no version (`loader load s3://bucket/key`, a
        // prefix) means the object as it is: replaced between the HEAD and
        // the GET, it is looked at again by the next attempt.
        S3Open::Superseded => Err(Error::S3 {
            object: shown.to_string(),
            operation: "GetObject",
            message: "the object was replaced between its HEAD and its GET".into(),
            status: Some(412),
            retryable: true,
        }),
    }
}

/// The load transaction's first statement. For this transaction only (SET
/// LOCAL, so it holds through a transaction-mode pooler too): names resolve
/// in pg_catalog alone, and no lock wait outlasts `lock_timeout`, also on
/// Citus's workers (which get a SET LOCAL statement, not a set_config
/// call, when told to; a placeholder setting elsewhere). SET takes no
/// parameters: the timeout is a number this code formats.
async fn pin(tx: &Transaction<'_>, lock_timeout: Duration, shown: &str) -> Result<()> {
    tx.batch_execute(&format!(
        "SET LOCAL search_path = pg_catalog, pg_temp; \
         SET LOCAL citus.propagate_set_commands = 'local'; \
         SET LOCAL lock_timeout = '{}'",
        lock_timeout_setting(lock_timeout)
    ))
    .await
    .map_err(|e| Error::db(shown, "setting search_path and lock_timeout", e))
}

/// Streams the object through the encoder into `COPY staging_table` under
/// `load_id` (the trigger runs when it finishes), and checks that every
/// byte arrived and the server took every row the encoder sent.
async fn stage(
    tx: &Transaction<'_>,
    opened: Opened,
    options: &LoadOptions,
    load_id: i64,
    source: &Source,
    shown: &str,
) -> Result<Staged> {
    // S3 can be read again; a local file's or stdin's read error is final.
    let is_s3 = matches!(source, Source::S3 { .. });
    let raw_bytes = opened.raw_bytes.clone();
    let expected_size = opened.size;

    // Before the COPY starts: the transition table's tuple store takes its
    // memory limit from work_mem when it is created. JIT would spend longer
    // compiling the trigger's statements than running them.
    let work_mem = work_mem_for(&options.work_mem, expected_size, opened.compressed);
    tx.execute(
        "SELECT pg_catalog.set_config('work_mem', $1, true),
                pg_catalog.set_config('jit', 'off', true)",
        &[&work_mem],
    )
    .await
    .map_err(|e| Error::db(shown, "setting work_mem", e))?;

    let mut sink = CopySink::start(tx, options.format, true, shown).await?;
    let encode = EncodeOptions {
        format: options.format,
        load_id: Some(load_id),
        max_rejects: options.max_rejects,
        max_record_bytes: options.max_record_bytes,
        contract: options.contract.clone(),
    };
    let streamed = match stream_into(&mut sink, opened, encode, shown).await {
        // A read error after the whole body arrived is the content's fault
        // (a truncated gzip stream), not the network's.
        Err(Error::Read {
            object, message, ..
        }) => {
            let whole = expected_size.is_some_and(|n| raw_bytes.get() >= n);
            return Err(Error::Read {
                object,
                message,
                retryable: is_s3 && !whole,
            });
        }
        other => other?,
    };
    if let Some(size) = expected_size.filter(|_| is_s3) {
        let got = raw_bytes.get();
        if got != size {
            return Err(Error::Read {
                object: shown.to_string(),
                message: format!("the body ended after {got} of {size} bytes"),
                retryable: true,
            });
        }
    }
    let rows = sink.finish().await?;
    if rows != streamed.summary.rows {
        return Err(Error::Protocol {
            object: shown.to_string(),
            message: format!(
                "the server counted {rows} rows, the encoder sent {}",
                streamed.summary.rows
            ),
        });
    }
    Ok(Staged {
        streamed,
        bytes: raw_bytes.get(),
    })
}

/// Exponential backoff with jitter: a random delay in [d/2, d] where d
/// doubles per attempt from `base`, capped at 20 s.
fn backoff(base: Duration, attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let d = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(Duration::from_secs(20));
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    let unit = (h.finish() % 1000) as f64 / 1000.0;
    d.mul_f64(0.5 + 0.5 * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_mem_is_auto_or_a_size_postgresql_takes() {
        for ok in [
            "auto", "AUTO", "64kB", "64", "256MB", "1GB", "65536B", "1TB",
        ] {
            let checked = checked_work_mem(ok, "--work-mem").ok();
            assert_eq!(checked.as_deref(), Some(ok), "{ok}");
        }
        for bad in [
            "1kB", "63kB", "", "MB", "256mb", "1.5GB", "-1MB", "4TB", "lots",
        ] {
            let err = checked_work_mem(bad, "--work-mem").expect_err(bad);
            assert!(err.to_string().contains("--work-mem"), "{err}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        // (attempt, the full delay in ms): doubling from the base, then 20 s.
        let expected = [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (8, 12_800),
            (9, 20_000),
            (17, 20_000),
            (29, 20_000),
        ];
        for (attempt, full_ms) in expected {
            let full = Duration::from_millis(full_ms);
            for _ in 0..20 {
                let d = backoff(base, attempt);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
        // Jittered: 50 draws are not all the same delay.
        let draws: std::collections::BTreeSet<Duration> =
            (0..50).map(|_| backoff(base, 3)).collect();
        assert!(draws.len() > 1, "{draws:?}");
    }

    #[test]
    fn auto_work_mem_follows_the_object_size_within_bounds() {
        // A given size passes through untouched.
        assert_eq!(work_mem_for("512MB", Some(10), false), "512MB");
        // 148 MB of CSV (1M rows): 3x, in kB.
        assert_eq!(work_mem_for("auto", Some(148_000_000), false), "433593kB");
        // gzip: the CSV is ~6x the object.
        assert_eq!(work_mem_for("AUTO", Some(20_000_000), true), "351562kB");
        // Small objects get the floor, huge ones the ceiling, stdin the default.
        assert_eq!(work_mem_for("auto", Some(1000), false), "65536kB");
        assert_eq!(work_mem_for("auto", Some(u64::MAX), true), "1048576kB");
        assert_eq!(work_mem_for("auto", None, false), "262144kB");
    }
}
