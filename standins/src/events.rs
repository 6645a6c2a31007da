//! The notification JSON S3 would send for a PUT, since the local endpoint
//! sends none: the shapes AWS documents, with the key form-urlencoded the way
//! S3 encodes it (`+` for a space, `%XX` for the rest).

use serde_json::{json, Value};

/// A key as S3 writes it into notification records.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// The S3 notification for one object created by a PUT (`event_name`
/// `ObjectCreated:Put`) or a multipart upload (`ObjectCreated:CompleteMultipartUpload`).
pub fn s3_object_created(
    bucket: &str,
    key: &str,
    size: u64,
    etag: &str,
    event_name: &str,
) -> Value {
    let etag = etag.trim_matches('"');
    json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": crate::s3::REGION,
            "eventTime": "2026-11-25T12:00:00.000Z",
            "eventName": event_name,
            "userIdentity": { "principalId": "AWS:AIDAEXAMPLELOCAL" },
            "requestParameters": { "sourceIPAddress": "127.0.0.1" },
            "responseElements": {
                "x-amz-request-id": "LOCAL0000000001",
                "x-amz-id-2": "local/standins"
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "csv-upload",
                "bucket": {
                    "name": bucket,
                    "ownerIdentity": { "principalId": "A3LOCALOWNER" },
                    "arn": format!("arn:aws:s3:::{bucket}")
                },
                "object": {
                    "key": encode_key(key),
                    "size": size,
                    "eTag": etag,
                    "sequencer": "0067A1B2C3D4E5F600"
                }
            }
        }]
    })
}

/// An SQS event whose message bodies are the given JSON documents (S3
/// notifications), as Lambda's SQS event source delivers them.
pub fn sqs_batch(messages: &[(&str, &Value)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id,
                "receiptHandle": format!("handle-{id}"),
                "body": body.to_string(),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1764072000000",
                    "SenderId": "AIDAEXAMPLELOCAL",
                    "ApproximateFirstReceiveTimestamp": "1764072000001"
                },
                "messageAttributes": {},
                "md5OfBody": "00000000000000000000000000000000",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:csv-uploads",
                "awsRegion": crate::s3::REGION
            })
        })
        .collect();
    json!({ "Records": records })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_like_s3_does() {
        assert_eq!(encode_key("in/a b+c.csv"), "in/a+b%2Bc.csv");
        assert_eq!(encode_key("Zürich=1.csv"), "Z%C3%BCrich%3D1.csv");
    }
}
