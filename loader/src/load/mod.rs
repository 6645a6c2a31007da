//! One object's load, the protocol of `sql/db_transformation.sql` in one
//! transaction: claim -> COPY (the trigger writes dimensions and facts) ->
//! [identify] -> file rejects -> complete -> commit; retried from the start
//! on errors that retrying can fix, recorded with `loader_fail` when it
//! gives up.
//!
//! Invariant: the staged rows, the facts and dimensions the trigger derives
//! from them, the rejects and the ledger's `loaded` row commit together or
//! not at all (the database enforces it; this side only follows it).
//!
//! One room per step, outside in: `retry.rs` (tries, backoff, deadline, the
//! failure record), `attempt.rs` (one try: the protocol's calls in order),
//! `stage.rs` (the COPY of the object into staging), `work_mem.rs`.

use std::time::Duration;

use crate::db::Db;
use crate::encode::{CopyFormat, DEFAULT_MAX_RECORD_BYTES};
use crate::ledger::ObjectId;
use crate::source::{self, ByteCounter};

mod attempt;
mod retry;
mod stage;
mod work_mem;

pub use work_mem::{checked_work_mem, work_mem_for};

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
    /// How long before a deadline ([`Loader::load_by`]) a load stops, and
    /// the least time left for one to start.
    pub deadline_margin: Duration,
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
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff: Duration::from_millis(250),
            deadline_margin: DEFAULT_DEADLINE_MARGIN,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            contract: Default::default(),
            read: Default::default(),
        }
    }
}

/// Tries per object by default: a dropped connection or a deadlock
/// retried three times, re-reading the object each time.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;

/// How long before an invocation's deadline a load stops by default: time
/// to roll back, record the failure and answer.
pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// The default bound on one lock wait: far above the few milliseconds a
/// load holds contended rows, far below a Lambda's timeout.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// A report of an object that was not loaded now.
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

    /// The whole load's figures on this try's report: wall time since the
    /// first try, the tries, and the version loaded.
    fn finished(mut self, started: tokio::time::Instant, attempts: u32, id: &ObjectId) -> Self {
        self.duration = started.elapsed();
        self.attempts = attempts;
        self.etag.clone_from(&id.etag);
        self.version_id.clone_from(&id.version_id);
        self
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
    /// Where every object's raw bytes are also counted (a progress bar).
    progress: Option<ByteCounter>,
    /// Whether the database's schema version was checked (once per loader).
    schema_checked: bool,
}

impl Loader {
    /// A loader; `s3` is needed only for S3 sources.
    pub fn new(db: Db, s3: Option<aws_sdk_s3::Client>, options: LoadOptions) -> Self {
        Loader {
            db,
            s3,
            options,
            progress: None,
            schema_checked: false,
        }
    }

    /// Also counts every object's raw bytes into `total`, as they arrive.
    pub fn with_progress(mut self, total: ByteCounter) -> Self {
        self.progress = Some(total);
        self
    }

    /// The options it runs with.
    pub fn options(&self) -> &LoadOptions {
        &self.options
    }

    /// The connection holder.
    pub fn db_mut(&mut self) -> &mut Db {
        &mut self.db
    }
}
