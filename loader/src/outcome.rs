//! What happened to each object of an invocation (or of a `loader load`
//! run), in the one shape shared by the Lambda's answer, its completion
//! events and the metrics.

use std::time::Duration;

use serde::Serialize;

use crate::error::Error;
use crate::load::{LoadReport, Outcome};
use crate::source::{bare_etag, Source};

/// An object's status in the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Committed now.
    Loaded,
    /// That version was committed before; nothing done.
    Skipped,
    /// Replaced since its event; the newer version has its own event.
    Superseded,
    /// Tried and failed; nothing committed (the ledger says why).
    Failed,
    /// Not started: too little time was left before the deadline. The
    /// database was not touched for it.
    NotAttempted,
}

impl Status {
    /// `loaded`, `skipped`, `superseded`, `failed` or `not_attempted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Loaded => "loaded",
            Status::Skipped => "skipped",
            Status::Superseded => "superseded",
            Status::Failed => "failed",
            Status::NotAttempted => "not_attempted",
        }
    }

    /// Whether the object needs another delivery.
    pub fn needs_retry(self) -> bool {
        matches!(self, Status::Failed | Status::NotAttempted)
    }
}

impl From<Outcome> for Status {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Loaded => Status::Loaded,
            Outcome::Skipped => Status::Skipped,
            Outcome::Superseded => Status::Superseded,
        }
    }
}

/// One object's outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ObjectOutcome {
    /// Bucket (`file` or `stdin` for local sources, `-` when unreadable).
    pub bucket: String,
    /// Key (decoded), or the file's absolute path.
    pub key: String,
    /// ETag without quotes (files: their content hash), when known.
    pub etag: Option<String>,
    /// S3 version id on versioned buckets.
    pub version_id: Option<String>,
    /// What happened.
    pub status: Status,
    /// Rows staged.
    pub rows: u64,
    /// Rows set aside in `load_rejects`.
    pub rejects: u64,
    /// Rows whose transaction_id already was a fact.
    pub duplicates: u64,
    /// Bytes read.
    pub bytes: u64,
    /// The ledger's load id (the earlier one when skipped).
    pub load_id: Option<i64>,
    /// Wall time spent on the object, retries included.
    pub seconds: f64,
    /// Tries it took (0 when it failed or was not attempted: the error says).
    pub attempts: u32,
    /// Time its trigger spent writing the dimension rows other loads
    /// contend for, waiting for their locks included.
    pub contended_seconds: f64,
    /// Why it failed or was not attempted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The SQS message that carried it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl ObjectOutcome {
    fn bare(source: &Source, status: Status) -> Self {
        let (bucket, key) = source.ledger_name();
        let (etag, version_id) = match source {
            Source::S3 {
                etag, version_id, ..
            } => (etag.as_deref().map(bare_etag), version_id.clone()),
            _ => (None, None),
        };
        ObjectOutcome {
            bucket,
            key,
            etag,
            version_id,
            status,
            rows: 0,
            rejects: 0,
            duplicates: 0,
            bytes: 0,
            load_id: None,
            seconds: 0.0,
            attempts: 0,
            contended_seconds: 0.0,
            error: None,
            message_id: None,
        }
    }

    /// The outcome of a load that returned, or failed after `elapsed`.
    pub fn of_load(source: &Source, result: &Result<LoadReport, Error>, elapsed: Duration) -> Self {
        match result {
            Ok(report) => Self::of_report(source, report),
            Err(e) => Self::failed(source, e.to_string(), elapsed),
        }
    }

    /// The outcome of a load that returned.
    pub fn of_report(source: &Source, report: &LoadReport) -> Self {
        let mut out = Self::bare(source, report.outcome.into());
        if report.etag.is_some() {
            out.etag.clone_from(&report.etag);
        }
        if report.version_id.is_some() {
            out.version_id.clone_from(&report.version_id);
        }
        out.rows = report.rows;
        out.rejects = report.rejected;
        out.duplicates = report.duplicates;
        out.bytes = report.bytes;
        out.load_id = report.load_id;
        out.seconds = report.duration.as_secs_f64();
        out.attempts = report.attempts;
        out.contended_seconds = report.contended.as_secs_f64();
        out
    }

    /// A failed object.
    pub fn failed(source: &Source, error: String, elapsed: Duration) -> Self {
        let mut out = Self::bare(source, Status::Failed);
        out.error = Some(error);
        out.seconds = elapsed.as_secs_f64();
        out
    }

    /// An object left for the next delivery because of the deadline.
    pub fn not_attempted(source: &Source, why: String) -> Self {
        let mut out = Self::bare(source, Status::NotAttempted);
        out.error = Some(why);
        out
    }

    /// A record that could not be read as an object.
    pub fn unreadable(why: String) -> Self {
        ObjectOutcome {
            bucket: "-".into(),
            key: "-".into(),
            ..Self::failed(&Source::Stdin { name: "-".into() }, why, Duration::ZERO)
        }
    }

    /// `s3://bucket/key` (or the path), for messages.
    pub fn shown(&self) -> String {
        match self.bucket.as_str() {
            "file" | "stdin" | "-" => self.key.clone(),
            bucket => format!("s3://{bucket}/{}", self.key),
        }
    }
}
