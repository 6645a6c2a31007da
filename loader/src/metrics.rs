//! CloudWatch Embedded Metric Format: one JSON line per object on stdout.
//! In Lambda, CloudWatch Logs turns each line into metrics, with no API call
//! and no SDK; `loader load --metrics emf` prints the same lines for an
//! agent to ship.
//!
//! Dimensions stay low-cardinality: the function name, and the function
//! name with the bucket. The key, status and load id ride along as
//! properties (searchable in Logs Insights, not metrics).

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::outcome::{ObjectOutcome, Status};

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "S3StarLoader";

/// The metrics of each line, with their units.
const METRICS: [(&str, &str); 11] = [
    ("Rows", "Count"),
    ("RejectedRows", "Count"),
    ("DuplicateRows", "Count"),
    ("Bytes", "Bytes"),
    ("LoadSeconds", "Seconds"),
    ("Attempts", "Count"),
    ("ContendedSeconds", "Seconds"),
    ("ObjectsLoaded", "Count"),
    ("ObjectsSkipped", "Count"),
    ("ObjectsFailed", "Count"),
    ("ObjectsNotAttempted", "Count"),
];

/// Where the metrics go in CloudWatch.
#[derive(Clone, Debug)]
pub struct Emf {
    /// CloudWatch namespace.
    pub namespace: String,
    /// The `FunctionName` dimension.
    pub function_name: String,
}

impl Emf {
    /// The EMF document for one object, stamped `timestamp_ms`.
    pub fn document(&self, o: &ObjectOutcome, timestamp_ms: u64) -> Value {
        let count = |s: &[Status]| u64::from(s.contains(&o.status));
        let mut doc = json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["FunctionName"], ["FunctionName", "Bucket"]],
                    "Metrics": METRICS
                        .iter()
                        .map(|(name, unit)| json!({ "Name": name, "Unit": unit }))
                        .collect::<Vec<_>>(),
                }],
            },
            "FunctionName": self.function_name,
            "Bucket": o.bucket,
            "Rows": o.rows,
            "RejectedRows": o.rejects,
            "DuplicateRows": o.duplicates,
            "Bytes": o.bytes,
            "LoadSeconds": o.seconds,
            "Attempts": o.attempts,
            "ContendedSeconds": o.contended_seconds,
            "ObjectsLoaded": count(&[Status::Loaded]),
            "ObjectsSkipped": count(&[Status::Skipped, Status::Superseded]),
            "ObjectsFailed": count(&[Status::Failed]),
            "ObjectsNotAttempted": count(&[Status::NotAttempted]),
            "key": o.key,
            "status": o.status.as_str(),
            "load_id": o.load_id,
        });
        if let Some(etag) = &o.etag {
            doc["etag"] = etag.clone().into();
        }
        doc
    }

    /// The line for one object, stamped now.
    pub fn line(&self, o: &ObjectOutcome) -> String {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.document(o, now_ms).to_string()
    }

    /// Writes the line to stdout in one write, so that log lines written
    /// meanwhile cannot split it.
    pub fn emit(&self, o: &ObjectOutcome) {
        let mut line = self.line(o);
        line.push('\n');
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
            tracing::warn!(error = %e, "could not write the metrics line");
        }
    }
}
