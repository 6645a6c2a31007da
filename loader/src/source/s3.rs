//! S3: HeadObject for an object's identity, GetObject for exactly that
//! version, streaming; the SDK's errors told as retryable or not.

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use super::decompress::{layer, Raw};
use super::fault::read_error;
use super::transcode::{self, Declared};
use super::{ByteCounter, Opened, ReadOptions};
use crate::encode::EncodeFault;
use crate::error::{error_chain, Error, Result};

/// What S3 says about an object before it is read.
#[derive(Clone, Debug)]
pub struct ObjectHead {
    /// ETag without quotes.
    pub etag: String,
    /// Size in bytes.
    pub size: Option<u64>,
    /// Version, on a versioned bucket.
    pub version_id: Option<String>,
}

/// The result of opening an S3 object that must be a given version.
pub enum S3Open {
    /// The body is streaming.
    Opened(Opened),
    /// The object was replaced since the event (ETag no longer matches):
    /// the newer version has an event of its own.
    Superseded,
}

/// Removes surrounding quotes: S3 events carry ETags bare, responses quoted.
pub fn bare_etag(etag: &str) -> String {
    etag.trim().trim_matches('"').to_string()
}

/// HeadObject: the current ETag, size and version.
///
/// # Errors
/// [`Error::S3`], retryable for 5xx, throttling and network failures.
pub async fn head_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    shown: &str,
) -> Result<ObjectHead> {
    let head = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_string))
        .send()
        .await
        .map_err(|e| s3_error(shown, "HeadObject", e))?;
    // Without an ETag every version of the key would have one identity in
    // the ledger, and a new version would be skipped as loaded.
    let etag = head
        .e_tag()
        .map(bare_etag)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| Error::S3 {
            object: shown.to_string(),
            operation: "HeadObject",
            message: "the response has no ETag, so this version of the object cannot be \
                      told from another; is the endpoint S3-compatible?"
                .into(),
            status: None,
            retryable: false,
        })?;
    Ok(ObjectHead {
        etag,
        size: head.content_length().and_then(|n| u64::try_from(n).ok()),
        version_id: head.version_id().map(str::to_string),
    })
}

/// GetObject for exactly the version with `etag`, streaming.
///
/// # Errors
/// [`Error::S3`], retryable for 5xx, throttling and network failures.
// One argument per thing the caller knows; a struct for them would only
// move the list.
#[allow(clippy::too_many_arguments)]
pub async fn open_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    etag: &str,
    version_id: Option<&str>,
    shown: &str,
    counter: ByteCounter,
    read: &ReadOptions,
) -> Result<S3Open> {
    let response = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .if_match(format!("\"{}\"", bare_etag(etag)))
        .set_version_id(version_id.map(str::to_string))
        .send()
        .await;
    let object = match response {
        Ok(object) => object,
        Err(e) if http_status(&e) == Some(412) => return Ok(S3Open::Superseded),
        Err(e) => return Err(s3_error(shown, "GetObject", e)),
    };
    // Checked again on the response: some S3-compatible stores ignore If-Match.
    if object
        .e_tag()
        .is_some_and(|got| bare_etag(got) != bare_etag(etag))
    {
        return Ok(S3Open::Superseded);
    }
    let size = object.content_length().and_then(|n| u64::try_from(n).ok());
    let charset = object
        .content_type()
        .and_then(transcode::content_type_charset);
    let declared = match charset {
        Some(label) => Some(Declared {
            encoding: transcode::encoding_for_label(&label, "the Content-Type charset").map_err(
                |e| Error::Data {
                    object: shown.to_string(),
                    fault: Box::new(EncodeFault::Input(e.to_string())),
                },
            )?,
            by: "the object's Content-Type charset",
        }),
        None => read.encoding,
    };
    let body = object.body.into_async_read();
    let raw = Raw {
        reader: Box::pin(body),
        size,
        // A cut connection: the next attempt reads the object again.
        retryable: true,
        counter,
    };
    let opened = layer(raw, read, declared)
        .await
        .map_err(|e| read_error(shown, e))?;
    Ok(S3Open::Opened(opened))
}

fn http_status<E>(e: &SdkError<E, aws_smithy_runtime_api_shim::HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// Maps an SDK error to [`Error::S3`], deciding whether a retry can help.
pub fn s3_error<E>(
    shown: &str,
    operation: &'static str,
    e: SdkError<E, aws_smithy_runtime_api_shim::HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = http_status(&e);
    let (retryable, message) = match &e {
        SdkError::TimeoutError(_) => (true, "timed out".to_string()),
        SdkError::DispatchFailure(_) => match credentials_fault(&e) {
            Some(CredentialsError::CredentialsNotLoaded(_)) => (
                false,
                "no AWS credentials: none of the standard sources (environment, \
                 AWS_PROFILE's profile, SSO, web identity, container or instance role) \
                 has any; set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                    .to_string(),
            ),
            // A provider that timed out (the instance metadata service under load) may
            // answer on the next try; one that answered with an error will answer the same.
            Some(fault) => (
                matches!(fault, CredentialsError::ProviderTimedOut(_)),
                format!("AWS credentials: {}", error_chain(fault)),
            ),
            None => (true, format!("request not sent: {}", error_chain(&e))),
        },
        SdkError::ResponseError(_) => (
            true,
            format!("response could not be read: {}", error_chain(&e)),
        ),
        SdkError::ServiceError(service) => {
            let err = service.err();
            // A HEAD response has no body, so its errors come without a code.
            let code = err.code().unwrap_or(match status {
                Some(301 | 307) => "the bucket is in another region (set AWS_REGION to its region)",
                Some(403) => "AccessDenied (wrong credentials, or not allowed to read it)",
                Some(404) => "NotFound",
                _ => "unknown",
            });
            let retryable = status.is_some_and(|s| s >= 500 || s == 429)
                || matches!(
                    code,
                    "SlowDown" | "RequestTimeout" | "InternalError" | "Throttling"
                );
            let message = match err.message() {
                Some(m) => format!("{code}: {m}"),
                None => code.to_string(),
            };
            (retryable, message)
        }
        _ => (false, error_chain(&e)),
    };
    let message = match status {
        Some(s) => format!("{message} (HTTP {s})"),
        None => message,
    };
    Error::S3 {
        object: shown.to_string(),
        operation,
        message,
        status,
        retryable,
    }
}

/// The credentials error under an SDK error, if that is what stopped the request.
fn credentials_fault<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a CredentialsError> {
    std::iter::successors(e.source(), |c| c.source()).find_map(|c| c.downcast_ref())
}

/// The SDK's HTTP response type, named once.
mod aws_smithy_runtime_api_shim {
    pub type HttpResponse = aws_sdk_s3::config::http::HttpResponse;
}

/// An S3 client from the standard AWS chain (environment, profile, SSO,
/// container or instance role); see [`s3_client_from_config`].
pub async fn s3_client_from_env() -> aws_sdk_s3::Client {
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    s3_client_from_config(&shared)
}

/// An S3 client from loaded AWS settings. When `AWS_ENDPOINT_URL` (or
/// `AWS_ENDPOINT_URL_S3`) points at a non-AWS endpoint, path-style
/// addressing is used, which local S3 implementations need.
pub fn s3_client_from_config(shared: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let custom_endpoint = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    let config = aws_sdk_s3::config::Builder::from(shared)
        .force_path_style(custom_endpoint)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
