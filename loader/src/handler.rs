//! The Lambda's handler: an ordinary async function of (payload, deadline),
//! used by the `bootstrap` binary and by `loader demo`, tested with the
//! captured event shapes in `tests/fixtures/`.
//!
//! Never a silent success: any object that fails makes a direct invocation
//! fail (so Lambda retries it, then sends it to the on-failure destination),
//! and makes its SQS message a `batchItemFailures` entry.

use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::event::{self, Invocation, Notification};
use crate::load::{LoadReport, Loader, Outcome};

/// The invocation failed; the message lists every failed object.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HandlerError(pub String);

/// Owns the loader (one database connection, reused across invocations).
pub struct Handler {
    loader: Mutex<Loader>,
}

/// What happened to one object, for the response.
fn describe(report: &LoadReport) -> Value {
    json!({
        "object": report.object,
        "outcome": report.outcome.as_str(),
        "load_id": report.load_id,
        "rows": report.rows,
        "rejected": report.rejected,
        "duplicates": report.duplicates,
        "seconds": report.duration.as_secs_f64(),
    })
}

impl Handler {
    /// A handler around a loader built once at init.
    pub fn new(loader: Loader) -> Self {
        Handler {
            loader: Mutex::new(loader),
        }
    }

    /// Opens the database connection now (at Lambda init) so the first
    /// invocation does not pay for it; a failure is logged and retried on use.
    pub async fn warm_up(&self) {
        let mut loader = self.loader.lock().await;
        if let Err(e) = loader.db_mut().client().await {
            tracing::warn!(error = %e, "could not connect at init; will retry on the first event");
        }
    }

    /// Handles one invocation. `deadline` is when the invocation is killed;
    /// loads stop cleanly before it.
    ///
    /// # Errors
    /// [`HandlerError`] when the payload is unreadable or, for direct
    /// invocations, when any object failed.
    pub async fn handle(
        &self,
        payload: &Value,
        deadline: Option<Instant>,
    ) -> Result<Value, HandlerError> {
        let invocation = event::parse(payload).map_err(HandlerError)?;
        let mut loader = self.loader.lock().await;
        loader.options_mut().deadline = deadline;
        match invocation {
            Invocation::Direct(notification) => {
                let (done, failed) = run(&mut loader, &notification).await;
                if failed.is_empty() {
                    Ok(json!({ "objects": done, "ignored": notification.ignored }))
                } else {
                    Err(HandlerError(format!(
                        "{} of {} objects failed: {}",
                        failed.len(),
                        notification.objects.len(),
                        failed.join("; ")
                    )))
                }
            }
            Invocation::Sqs(items) => {
                let mut failures = Vec::new();
                let mut done_all = Vec::new();
                for item in &items {
                    let ok = match &item.notification {
                        Ok(notification) => {
                            let (done, failed) = run(&mut loader, notification).await;
                            done_all.extend(done);
                            failed.is_empty()
                        }
                        Err(why) => {
                            tracing::error!(message_id = %item.message_id, error = %why, "unreadable SQS message");
                            false
                        }
                    };
                    if !ok {
                        failures.push(json!({ "itemIdentifier": item.message_id }));
                    }
                }
                Ok(json!({ "batchItemFailures": failures, "objects": done_all }))
            }
        }
    }
}

/// Loads every object of a notification, in order; returns the reports and
/// the failures as messages.
async fn run(loader: &mut Loader, notification: &Notification) -> (Vec<Value>, Vec<String>) {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for object in &notification.objects {
        let object = match object {
            Ok(o) => o,
            Err(why) => {
                tracing::error!(error = %why, "unreadable event record");
                failed.push(why.clone());
                continue;
            }
        };
        let source = object.source();
        match loader.load(&source, None).await {
            Ok(report) => {
                if report.outcome != Outcome::Loaded {
                    tracing::info!(object = %report.object, outcome = report.outcome.as_str(), load_id = report.load_id, "not loaded again");
                }
                done.push(describe(&report));
            }
            Err(e) => {
                tracing::error!(object = %source, error = %e, retryable = e.is_retryable(), kind = e.kind(), "load failed");
                failed.push(e.to_string());
            }
        }
    }
    (done, failed)
}
