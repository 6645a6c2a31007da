//! The Lambda's handler: an ordinary async function of (payload, deadline),
//! used by the `bootstrap` binary and by `loader demo`, tested with the
//! captured event shapes in `tests/fixtures/`.
//!
//! Never a silent success: any object that fails makes a direct invocation
//! fail (so Lambda retries it, then sends it to the on-failure destination),
//! and makes its SQS message a `batchItemFailures` entry.
//!
//! Deadline: before each object the handler checks the time left. With less
//! than the margin left, the object is not started (`not_attempted`, no
//! statement sent for it), so the ledger holds only attempts, and the answer
//! always goes out before the deadline: a late answer is lost, and SQS would
//! then deliver the whole batch again.
//!
//! The answer lists every object (see [`ObjectOutcome`]); a failed direct
//! invocation carries the same answer as its error message (JSON text).
//! An answer is kept under [`ANSWER_LIMIT`] (see [`fit`]): past it, Lambda
//! would drop an asynchronous invocation's destination record, or fail a
//! synchronous one, and SQS would deliver the whole batch again.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::event::{self, Invocation, Notification};
use crate::load::Loader;
use crate::metrics::Emf;
use crate::outcome::{ObjectOutcome, Status};

/// Time kept for the answer itself after the last load stops: a load
/// still running this close to the deadline is abandoned (its transaction
/// dies with the connection, nothing is committed).
pub const ANSWER_RESERVE: Duration = Duration::from_millis(500);

/// The most an answer takes as JSON. An asynchronous invocation's
/// destination record (direct S3 notifications) holds at most 256 KB with
/// its envelope; a synchronous answer (SQS) may take 6 MB, which a batch of
/// 10,000 messages with long keys and errors could pass.
pub const ANSWER_LIMIT: usize = 192 * 1024;

/// The most of one object's error an answer carries once it is too long.
const OBJECT_ERROR_LIMIT: usize = 1024;

/// The most of a failed direct invocation's message (every failure joined).
const MESSAGE_LIMIT: usize = 8 * 1024;

/// The invocation failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    /// `LoadFailed` (an object failed), `DeadlineReached` (objects not
    /// attempted, none failed) or `UnreadableEvent`.
    pub kind: &'static str,
    /// Human-readable: every failed object with its error.
    pub message: String,
    /// The answer a success would have given (`objects`, `ignored`), with
    /// `error` set to `message`; null for an unreadable payload.
    pub answer: Value,
}

impl HandlerError {
    /// The text for the Runtime API's `errorMessage`: the answer as JSON,
    /// or the message when there is no answer.
    pub fn error_message(&self) -> String {
        if self.answer.is_null() {
            self.message.clone()
        } else {
            self.answer.to_string()
        }
    }
}

/// Owns the loader (one database connection, reused across invocations).
pub struct Handler {
    loader: Mutex<Loader>,
    metrics: Option<Emf>,
}

impl Handler {
    /// A handler around a loader built once at init; no metrics.
    pub fn new(loader: Loader) -> Self {
        Handler {
            loader: Mutex::new(loader),
            metrics: None,
        }
    }

    /// Prints one EMF line per object on stdout.
    pub fn with_metrics(mut self, metrics: Option<Emf>) -> Self {
        self.metrics = metrics;
        self
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
    /// loads stop cleanly before it, and objects are not started when less
    /// than the loader's deadline margin is left.
    ///
    /// # Errors
    /// [`HandlerError`] when the payload is unreadable or, for direct
    /// invocations, when any object failed or was not attempted.
    pub async fn handle(
        &self,
        payload: &Value,
        deadline: Option<Instant>,
    ) -> Result<Value, HandlerError> {
        let invocation = event::parse(payload).map_err(|why| HandlerError {
            kind: "UnreadableEvent",
            message: why,
            answer: Value::Null,
        })?;
        let mut loader = self.loader.lock().await;
        let mut run = Run {
            loader: &mut loader,
            metrics: self.metrics.as_ref(),
            deadline,
        };
        match invocation {
            Invocation::Direct(notification) => {
                let outcomes = run.notification(&notification, None).await;
                direct_answer(outcomes, notification.ignored)
            }
            Invocation::Sqs(items) => {
                let mut failures = Vec::new();
                let mut outcomes = Vec::new();
                let mut ignored = 0;
                for item in &items {
                    let id = &item.message_id;
                    let done = match &item.notification {
                        Ok(notification) => {
                            ignored += notification.ignored;
                            run.notification(notification, Some(id)).await
                        }
                        Err(why) => {
                            tracing::error!(message_id = %id, error = %why, "unreadable SQS message");
                            let mut o = ObjectOutcome::unreadable(why.clone());
                            o.message_id = Some(id.clone());
                            run.emit(&o);
                            vec![o]
                        }
                    };
                    if done.iter().any(|o| o.status.needs_retry()) {
                        failures.push(json!({ "itemIdentifier": id }));
                    }
                    outcomes.extend(done);
                }
                let mut answer = json!({
                    "batchItemFailures": failures,
                    "objects": outcomes,
                    "ignored": ignored,
                });
                fit(&mut answer);
                Ok(answer)
            }
        }
    }
}

/// A direct invocation's answer: success only when no object needs another
/// delivery.
fn direct_answer(outcomes: Vec<ObjectOutcome>, ignored: usize) -> Result<Value, HandlerError> {
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.status == Status::Failed)
        .map(|o| o.error.clone().unwrap_or_else(|| o.shown()))
        .collect();
    let skipped: Vec<String> = outcomes
        .iter()
        .filter(|o| o.status == Status::NotAttempted)
        .map(ObjectOutcome::shown)
        .collect();
    let mut answer = json!({ "objects": outcomes, "ignored": ignored });
    if failed.is_empty() && skipped.is_empty() {
        fit(&mut answer);
        return Ok(answer);
    }
    let total = outcomes_len(&answer);
    let mut parts = Vec::new();
    if !failed.is_empty() {
        parts.push(format!(
            "{} of {total} objects failed: {}",
            failed.len(),
            failed.join("; ")
        ));
    }
    if !skipped.is_empty() {
        parts.push(format!(
            "{} of {total} objects not attempted before the deadline: {}",
            skipped.len(),
            skipped.join(", ")
        ));
    }
    let mut message = parts.join("; ");
    cut(&mut message, MESSAGE_LIMIT);
    answer["error"] = message.clone().into();
    fit(&mut answer);
    Err(HandlerError {
        kind: if failed.is_empty() {
            "DeadlineReached"
        } else {
            "LoadFailed"
        },
        message,
        answer,
    })
}

fn outcomes_len(answer: &Value) -> usize {
    answer["objects"].as_array().map_or(0, Vec::len)
}

fn json_len(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |v| v.len())
}

/// Shortens `text` to at most `limit` bytes (at a character boundary),
/// marking the cut.
fn cut(text: &mut String, limit: usize) {
    if text.len() <= limit {
        return;
    }
    let mut end = limit.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
}

/// Keeps `answer` within [`ANSWER_LIMIT`]. First each object's error is cut
/// to [`OBJECT_ERROR_LIMIT`]; if that is not enough, the objects that need
/// another delivery are listed first, then the others, each group in its
/// order, as many as fit, and `omitted` counts the rest. The first loaded
/// objects stay listed, so a rule matching `objects[].status` still sees a
/// load. `batchItemFailures`, `ignored` and `error` stay whole: SQS acts on
/// the first, and every object is also in the logs and the metrics.
fn fit(answer: &mut Value) {
    if json_len(answer) <= ANSWER_LIMIT {
        return;
    }
    let Some(Value::Array(listed)) = answer.get_mut("objects") else {
        return;
    };
    let mut objects = std::mem::take(listed);
    let all = objects.len();
    for object in &mut objects {
        if let Some(Value::String(error)) = object.get_mut("error") {
            cut(error, OBJECT_ERROR_LIMIT);
        }
    }
    let mut room = ANSWER_LIMIT.saturating_sub(json_len(answer) + r#","omitted":"#.len() + 20);
    let sized: Vec<(usize, Value)> = objects.into_iter().map(|o| (json_len(&o) + 1, o)).collect();
    if sized.iter().map(|(length, _)| length).sum::<usize>() <= room {
        objects = sized.into_iter().map(|(_, o)| o).collect();
    } else {
        let needs_retry = |(_, o): &(usize, Value)| {
            let status = o["status"].as_str();
            status == Some(Status::Failed.as_str()) || status == Some(Status::NotAttempted.as_str())
        };
        let (mut kept, rest): (Vec<_>, Vec<_>) = sized.into_iter().partition(needs_retry);
        kept.extend(rest);
        objects = kept
            .into_iter()
            .take_while(|(length, _)| {
                let fits = *length <= room;
                room = room.saturating_sub(*length);
                fits
            })
            .map(|(_, o)| o)
            .collect();
        answer["omitted"] = (all - objects.len()).into();
    }
    answer["objects"] = Value::Array(objects);
}

/// One invocation's loads.
struct Run<'a> {
    loader: &'a mut Loader,
    metrics: Option<&'a Emf>,
    deadline: Option<Instant>,
}

impl Run<'_> {
    fn emit(&self, outcome: &ObjectOutcome) {
        if let Some(m) = self.metrics {
            m.emit(outcome);
        }
    }

    /// Whether there is too little time left to start an object.
    fn too_late(&mut self) -> bool {
        let margin = self.loader.options().deadline_margin.max(ANSWER_RESERVE);
        self.deadline
            .is_some_and(|d| d.saturating_duration_since(Instant::now()) <= margin)
    }

    /// Loads every object of a notification, in order.
    async fn notification(
        &mut self,
        notification: &Notification,
        message_id: Option<&String>,
    ) -> Vec<ObjectOutcome> {
        let mut done = Vec::new();
        for object in &notification.objects {
            let mut outcome = match object {
                Ok(object) => self.object(&object.source()).await,
                Err(why) => {
                    tracing::error!(error = %why, "unreadable event record");
                    ObjectOutcome::unreadable(why.clone())
                }
            };
            outcome.message_id = message_id.cloned();
            self.emit(&outcome);
            done.push(outcome);
        }
        done
    }

    async fn object(&mut self, source: &crate::source::Source) -> ObjectOutcome {
        if self.too_late() {
            tracing::warn!(object = %source, "not attempted: too close to the deadline");
            return ObjectOutcome::not_attempted(
                source,
                "too little time left before the invocation's deadline".into(),
            );
        }
        let started = Instant::now();
        let result = match self.deadline {
            Some(d) => {
                let stop = d.checked_sub(ANSWER_RESERVE).unwrap_or(d);
                tokio::time::timeout_at(stop, self.loader.load_by(source, d)).await
            }
            None => Ok(self.loader.load(source).await),
        };
        let outcome = match result {
            Ok(result) => {
                if let Err(e) = &result {
                    tracing::error!(object = %source, error = %e, retryable = e.is_retryable(), kind = e.kind(), "load failed");
                }
                ObjectOutcome::of_load(source, &result, started.elapsed())
            }
            Err(_) => {
                // The load (or recording its failure) outlived the margin:
                // drop its connection, so its transaction rolls back.
                self.loader.db_mut().reset();
                let why = format!(
                    "{source}: still running {} ms before the deadline; abandoned, nothing committed",
                    ANSWER_RESERVE.as_millis()
                );
                tracing::error!(object = %source, error = %why, "load failed");
                ObjectOutcome::failed(source, why, started.elapsed())
            }
        };
        match outcome.status {
            Status::Skipped | Status::Superseded => {
                tracing::info!(object = %source, outcome = outcome.status.as_str(), load_id = outcome.load_id, "not loaded again")
            }
            _ => {}
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Source;

    /// An object with a ~900-byte name; failed ones carry a 5,000-byte error.
    fn outcome(i: usize, status: Status) -> ObjectOutcome {
        let source = Source::Stdin {
            name: format!("{i:05}-{}", "k".repeat(900)),
        };
        let mut o = ObjectOutcome::failed(&source, "e".repeat(5_000), Duration::ZERO);
        o.status = status;
        if !status.needs_retry() {
            o.error = None;
        }
        o
    }

    fn keys(answer: &Value) -> Vec<String> {
        answer["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .map(|o| o["key"].as_str().expect("key")[..5].to_string())
            .collect()
    }

    #[test]
    fn a_small_answer_is_left_whole() {
        let outcomes = vec![outcome(1, Status::Loaded), outcome(2, Status::Failed)];
        let err = direct_answer(outcomes.clone(), 0).expect_err("one failed");
        assert_eq!(
            err.answer["objects"],
            serde_json::to_value(&outcomes).unwrap()
        );
        assert!(err.answer.get("omitted").is_none());
        assert_eq!(
            err.answer["objects"][1]["error"].as_str().unwrap().len(),
            5_000
        );
    }

    #[test]
    fn a_large_answer_keeps_the_objects_that_need_another_delivery() {
        let mut outcomes: Vec<_> = (0..3_000).map(|i| outcome(i, Status::Loaded)).collect();
        for i in [7, 1_500, 2_999] {
            outcomes[i] = outcome(i, Status::Failed);
        }
        outcomes[42] = outcome(42, Status::NotAttempted);
        let err = direct_answer(outcomes, 0).expect_err("three failed");
        assert!(json_len(&err.answer) <= ANSWER_LIMIT);
        // The four that need another delivery first, then the loaded ones
        // from the start, as many as fit.
        let listed = keys(&err.answer);
        assert_eq!(listed[..4], ["00007", "00042", "01500", "02999"]);
        let loaded: Vec<String> = (0..3_000)
            .filter(|i| ![7, 42, 1_500, 2_999].contains(i))
            .take(listed.len() - 4)
            .map(|i| format!("{i:05}"))
            .collect();
        assert!(loaded.len() > 50, "{} loaded listed", loaded.len());
        assert_eq!(listed[4..], loaded);
        assert_eq!(err.answer["omitted"], 3_000 - listed.len());
        for o in &err.answer["objects"].as_array().unwrap()[..4] {
            let error = o["error"].as_str().unwrap();
            assert!(
                error.len() <= OBJECT_ERROR_LIMIT && error.ends_with('…'),
                "{error}"
            );
        }
        assert!(err.message.len() <= MESSAGE_LIMIT && err.message.ends_with('…'));
        assert_eq!(err.error_message(), err.answer.to_string());
    }

    #[test]
    fn too_many_failures_are_listed_from_the_first_and_counted() {
        let outcomes: Vec<_> = (0..2_000).map(|i| outcome(i, Status::Failed)).collect();
        let err = direct_answer(outcomes, 0).expect_err("all failed");
        assert!(json_len(&err.answer) <= ANSWER_LIMIT);
        let listed = keys(&err.answer);
        assert!(listed.len() > 50, "{} listed", listed.len());
        let expected: Vec<String> = (0..listed.len()).map(|i| format!("{i:05}")).collect();
        assert_eq!(listed, expected);
        assert_eq!(err.answer["omitted"], 2_000 - listed.len());
    }

    #[test]
    fn a_large_success_still_lists_its_first_loads() {
        let outcomes: Vec<_> = (0..3_000).map(|i| outcome(i, Status::Loaded)).collect();
        let answer = direct_answer(outcomes, 0).expect("all loaded");
        assert!(json_len(&answer) <= ANSWER_LIMIT);
        let listed = keys(&answer);
        assert!(listed.len() > 50, "{} listed", listed.len());
        let expected: Vec<String> = (0..listed.len()).map(|i| format!("{i:05}")).collect();
        assert_eq!(listed, expected);
        assert_eq!(answer["omitted"], 3_000 - listed.len());
    }

    #[test]
    fn batch_item_failures_are_never_cut() {
        let failures: Vec<Value> = (0..3_000)
            .map(|i| json!({ "itemIdentifier": format!("message-{i}") }))
            .collect();
        let outcomes: Vec<_> = (0..3_000).map(|i| outcome(i, Status::Failed)).collect();
        let mut answer =
            json!({ "batchItemFailures": failures, "objects": outcomes, "ignored": 0 });
        fit(&mut answer);
        assert!(json_len(&answer) <= ANSWER_LIMIT);
        assert_eq!(answer["batchItemFailures"].as_array().unwrap().len(), 3_000);
        assert_eq!(
            outcomes_len(&answer) + answer["omitted"].as_u64().unwrap() as usize,
            3_000
        );
    }

    #[test]
    fn cuts_fall_on_character_boundaries() {
        let mut text = "é".repeat(100);
        cut(&mut text, 11);
        assert!(text.len() <= 11 && text.ends_with('…'), "{text}");
        let mut short = "ok".to_string();
        cut(&mut short, 11);
        assert_eq!(short, "ok");
    }
}
