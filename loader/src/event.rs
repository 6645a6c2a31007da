//! Lambda payloads -> the objects to load.
//!
//! Accepted shapes, as AWS sends them:
//! - an S3 notification (`Records[].eventSource == "aws:s3"`), several
//!   records per event; keys arrive form-urlencoded (`+` is a space, then
//!   `%XX`) and are decoded here;
//! - an SQS batch whose message bodies are S3 notifications (directly, or
//!   wrapped in an SNS notification when S3 -> SNS -> SQS fans out);
//! - an EventBridge `Object Created` event (keys are not encoded there);
//! - S3's `s3:TestEvent`, sent when a notification is configured.
//!
//! Events that are not `ObjectCreated:*` are acknowledged and ignored.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::Value;

use crate::source::Source;

/// One object an event says was created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectCreated {
    /// Bucket name.
    pub bucket: String,
    /// Decoded key.
    pub key: String,
    /// ETag, when the event carries it.
    pub etag: Option<String>,
    /// Version id on versioned buckets.
    pub version_id: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
}

impl ObjectCreated {
    /// The source to load.
    pub fn source(&self) -> Source {
        Source::S3 {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            etag: self.etag.clone(),
            version_id: self.version_id.clone(),
            size: self.size,
        }
    }
}

/// The objects of one S3 notification (or EventBridge event).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Notification {
    /// Objects to load; a record that cannot be read is an error naming it.
    pub objects: Vec<Result<ObjectCreated, String>>,
    /// Records acknowledged without loading (other event names, test events).
    pub ignored: usize,
}

/// One SQS message of a batch.
#[derive(Debug, PartialEq, Eq)]
pub struct SqsItem {
    /// The message id to report in `batchItemFailures`.
    pub message_id: String,
    /// Its body read as a notification, or why it could not be.
    pub notification: Result<Notification, String>,
}

/// What an invocation asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// An S3 notification or EventBridge event: any failure fails the call.
    Direct(Notification),
    /// An SQS batch: failures are reported per message.
    Sqs(Vec<SqsItem>),
}

/// Reads a payload.
///
/// # Errors
/// A payload of no known shape, with a short description of why.
pub fn parse(payload: &Value) -> Result<Invocation, String> {
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        let source = records
            .first()
            .and_then(|r| r.get("eventSource").or_else(|| r.get("EventSource")))
            .and_then(Value::as_str)
            .unwrap_or_default();
        return match source {
            "aws:sqs" => parse_sqs(payload).map(Invocation::Sqs),
            "aws:s3" => parse_notification(payload).map(Invocation::Direct),
            "" if records.is_empty() => Ok(Invocation::Direct(Notification::default())),
            other => Err(format!("unsupported event source {other:?}")),
        };
    }
    if is_test_event(payload) {
        return Ok(Invocation::Direct(Notification {
            objects: Vec::new(),
            ignored: 1,
        }));
    }
    if payload.get("detail-type").is_some() {
        return parse_eventbridge(payload).map(Invocation::Direct);
    }
    Err("not an S3, SQS or EventBridge event".into())
}

fn is_test_event(v: &Value) -> bool {
    v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent")
}

/// Reads an S3 notification (also used for SQS bodies).
fn parse_notification(v: &Value) -> Result<Notification, String> {
    if is_test_event(v) {
        return Ok(Notification {
            objects: Vec::new(),
            ignored: 1,
        });
    }
    let event: S3Event =
        serde_json::from_value(v.clone()).map_err(|e| format!("malformed S3 event: {e}"))?;
    let mut out = Notification::default();
    for record in event.records {
        let name = record.event_name.as_deref().unwrap_or_default();
        if !name.starts_with("ObjectCreated:") {
            out.ignored += 1;
            continue;
        }
        let object = &record.s3.object;
        let item = match (record.s3.bucket.name.as_deref(), object.key.as_deref()) {
            (Some(bucket), Some(key)) if !bucket.is_empty() => {
                decode_key(key).map(|key| ObjectCreated {
                    bucket: bucket.to_string(),
                    key,
                    etag: object.e_tag.clone().filter(|e| !e.is_empty()),
                    version_id: object.version_id.clone().filter(|v| !v.is_empty()),
                    size: object.size.and_then(|n| u64::try_from(n).ok()),
                })
            }
            _ => Err("S3 record without bucket name or object key".to_string()),
        };
        out.objects.push(item);
    }
    Ok(out)
}

fn parse_sqs(v: &Value) -> Result<Vec<SqsItem>, String> {
    let event: SqsEvent =
        serde_json::from_value(v.clone()).map_err(|e| format!("malformed SQS event: {e}"))?;
    Ok(event
        .records
        .into_iter()
        .enumerate()
        .map(|(i, message)| {
            let message_id = message
                .message_id
                .clone()
                .unwrap_or_else(|| format!("#{i}"));
            let notification = message
                .body
                .as_deref()
                .ok_or_else(|| "SQS message without a body".to_string())
                .and_then(|body| {
                    serde_json::from_str::<Value>(body)
                        .map_err(|e| format!("SQS body is not JSON: {e}"))
                })
                .and_then(unwrap_sns)
                .and_then(|body| parse_notification(&body));
            SqsItem {
                message_id,
                notification,
            }
        })
        .collect())
}

/// S3 -> SNS -> SQS delivers the S3 event as the SNS message text.
fn unwrap_sns(body: Value) -> Result<Value, String> {
    if body.get("Type").and_then(Value::as_str) == Some("Notification") {
        let message = body
            .get("Message")
            .and_then(Value::as_str)
            .ok_or("SNS notification without a Message")?;
        return serde_json::from_str(message).map_err(|e| format!("SNS Message is not JSON: {e}"));
    }
    Ok(body)
}

fn parse_eventbridge(v: &Value) -> Result<Notification, String> {
    let event: EventBridgeEvent<Value> = serde_json::from_value(v.clone())
        .map_err(|e| format!("malformed EventBridge event: {e}"))?;
    if event.source != "aws.s3" || event.detail_type != "Object Created" {
        return Ok(Notification {
            objects: Vec::new(),
            ignored: 1,
        });
    }
    let detail = &event.detail;
    let text = |path: &[&str]| -> Option<String> {
        let mut at = detail;
        for p in path {
            at = at.get(p)?;
        }
        at.as_str().map(str::to_string).filter(|s| !s.is_empty())
    };
    let item = match (text(&["bucket", "name"]), text(&["object", "key"])) {
        (Some(bucket), Some(key)) => Ok(ObjectCreated {
            bucket,
            // EventBridge carries the key as is, not URL-encoded.
            key,
            etag: text(&["object", "etag"]),
            version_id: text(&["object", "version-id"]),
            size: detail
                .get("object")
                .and_then(|o| o.get("size"))
                .and_then(Value::as_u64),
        }),
        _ => Err("EventBridge event without bucket name or object key".to_string()),
    };
    Ok(Notification {
        objects: vec![item],
        ignored: 0,
    })
}

/// S3 notification keys are form-urlencoded: `+` is a space, then `%XX`.
///
/// # Errors
/// A key that does not decode to UTF-8.
pub fn decode_key(key: &str) -> Result<String, String> {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| format!("object key {key:?} does not decode to UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_plus_then_percent() {
        assert_eq!(decode_key("a+b").unwrap(), "a b");
        assert_eq!(decode_key("a%2Bb").unwrap(), "a+b");
        assert_eq!(decode_key("caf%C3%A9+%26+co.csv").unwrap(), "café & co.csv");
        assert_eq!(decode_key("100%25").unwrap(), "100%");
        assert!(decode_key("%FF%FE").is_err());
    }
}
