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

    fn s3_record(name: &str, bucket: &str, key: &str, object: Value) -> Value {
        let mut object = object;
        object["key"] = Value::from(key);
        // What S3 sends, less what the loader does not read.
        serde_json::json!({
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "eu-west-1",
            "eventTime": "2026-12-03T00:00:00.000Z",
            "eventName": name,
            "userIdentity": {"principalId": "AWS:X"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "c",
                "bucket": {"name": bucket, "ownerIdentity": {"principalId": "X"}, "arn": "arn"},
                "object": object
            }
        })
    }

    fn direct(payload: &Value) -> Notification {
        match parse(payload).expect("parses") {
            Invocation::Direct(n) => n,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn s3_notifications_keep_created_objects_and_count_the_rest() {
        let payload = serde_json::json!({"Records": [
            s3_record("ObjectCreated:Put", "lake", "in/a+b%26c.csv",
                serde_json::json!({"eTag": "abc", "versionId": "v1", "size": 42})),
            s3_record("ObjectRemoved:Delete", "lake", "gone.csv", serde_json::json!({})),
            s3_record("ObjectCreated:Copy", "lake", "empty-etag.csv",
                serde_json::json!({"eTag": "", "versionId": "", "size": -1})),
            s3_record("ObjectCreated:Put", "", "no-bucket.csv", serde_json::json!({})),
        ]});
        let n = direct(&payload);
        assert_eq!(n.ignored, 1);
        assert_eq!(
            n.objects,
            vec![
                Ok(ObjectCreated {
                    bucket: "lake".into(),
                    key: "in/a b&c.csv".into(),
                    etag: Some("abc".into()),
                    version_id: Some("v1".into()),
                    size: Some(42),
                }),
                Ok(ObjectCreated {
                    bucket: "lake".into(),
                    key: "empty-etag.csv".into(),
                    etag: None,
                    version_id: None,
                    size: None,
                }),
                Err("S3 record without bucket name or object key".into()),
            ]
        );
        let Ok(first) = &n.objects[0] else {
            unreachable!()
        };
        assert_eq!(
            first.source(),
            Source::S3 {
                bucket: "lake".into(),
                key: "in/a b&c.csv".into(),
                etag: Some("abc".into()),
                version_id: Some("v1".into()),
                size: Some(42),
            }
        );
    }

    #[test]
    fn test_events_empty_records_and_unknown_shapes() {
        let test_event = serde_json::json!({"Event": "s3:TestEvent", "Bucket": "lake"});
        assert_eq!(
            direct(&test_event),
            Notification {
                objects: Vec::new(),
                ignored: 1
            }
        );
        assert_eq!(
            direct(&serde_json::json!({"Records": []})),
            Notification::default()
        );
        assert_eq!(
            parse(&serde_json::json!({"Records": [{"eventSource": "aws:dynamodb"}]})),
            Err("unsupported event source \"aws:dynamodb\"".into())
        );
        // Records that name no source are not an empty batch.
        assert_eq!(
            parse(&serde_json::json!({"Records": [{"s3": {}}]})),
            Err("unsupported event source \"\"".into())
        );
        assert_eq!(
            parse(&serde_json::json!({"hello": 1})),
            Err("not an S3, SQS or EventBridge event".into())
        );
        assert_eq!(
            parse(&serde_json::json!({"Event": "s3:Other"})),
            Err("not an S3, SQS or EventBridge event".into())
        );
    }

    #[test]
    fn sqs_bodies_are_notifications_direct_or_through_sns() {
        let notification = serde_json::json!({"Records": [s3_record(
            "ObjectCreated:Put", "lake", "k%20.csv", serde_json::json!({"size": 7}))]});
        let sns = serde_json::json!({
            "Type": "Notification",
            "Message": notification.to_string(),
        });
        let message = |id: Option<&str>, body: Option<String>| {
            let mut m = serde_json::json!({"eventSource": "aws:sqs"});
            if let Some(id) = id {
                m["messageId"] = Value::from(id);
            }
            if let Some(body) = body {
                m["body"] = Value::from(body);
            }
            m
        };
        let payload = serde_json::json!({"Records": [
            message(Some("m1"), Some(notification.to_string())),
            message(Some("m2"), Some(sns.to_string())),
            message(Some("m3"), Some("not json".into())),
            message(None, None),
            message(Some("m5"), Some(serde_json::json!({"Type": "Notification"}).to_string())),
            message(Some("m6"), Some(serde_json::json!({"Event": "s3:TestEvent"}).to_string())),
        ]});
        let Invocation::Sqs(items) = parse(&payload).expect("parses") else {
            panic!("not SQS")
        };
        let ids: Vec<&str> = items.iter().map(|i| i.message_id.as_str()).collect();
        assert_eq!(ids, ["m1", "m2", "m3", "#3", "m5", "m6"]);
        let object = ObjectCreated {
            bucket: "lake".into(),
            key: "k .csv".into(),
            etag: None,
            version_id: None,
            size: Some(7),
        };
        for item in &items[..2] {
            let n = item.notification.as_ref().expect("a notification");
            assert_eq!(n.objects, vec![Ok(object.clone())]);
        }
        let err = |i: usize| {
            items[i]
                .notification
                .as_ref()
                .expect_err("an error")
                .clone()
        };
        assert!(err(2).starts_with("SQS body is not JSON"), "{}", err(2));
        assert_eq!(err(3), "SQS message without a body");
        assert_eq!(err(4), "SNS notification without a Message");
        assert_eq!(
            items[5].notification,
            Ok(Notification {
                objects: Vec::new(),
                ignored: 1
            })
        );
    }

    #[test]
    fn eventbridge_object_created_keeps_the_key_as_is() {
        let event = |source: &str, detail_type: &str, detail: Value| {
            serde_json::json!({
                "version": "0", "id": "1", "detail-type": detail_type, "source": source,
                "account": "1", "time": "2026-12-03T00:00:00Z", "region": "eu-west-1",
                "resources": [], "detail": detail
            })
        };
        let detail = serde_json::json!({
            "bucket": {"name": "lake"},
            "object": {"key": "a+b%20c.csv", "etag": "e1", "version-id": "v9", "size": 5}
        });
        assert_eq!(
            direct(&event("aws.s3", "Object Created", detail.clone())).objects,
            vec![Ok(ObjectCreated {
                bucket: "lake".into(),
                key: "a+b%20c.csv".into(),
                etag: Some("e1".into()),
                version_id: Some("v9".into()),
                size: Some(5),
            })]
        );
        for ignored in [
            event("aws.s3", "Object Deleted", detail.clone()),
            event("custom.app", "Object Created", detail),
        ] {
            assert_eq!(
                direct(&ignored),
                Notification {
                    objects: Vec::new(),
                    ignored: 1
                }
            );
        }
        let no_key = serde_json::json!({"bucket": {"name": "lake"}, "object": {"key": ""}});
        assert_eq!(
            direct(&event("aws.s3", "Object Created", no_key)).objects,
            vec![Err(
                "EventBridge event without bucket name or object key".to_string()
            )]
        );
    }
}
