//! The crate's one error type.

use std::io;

/// Everything that can stop a generation run.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// An option is out of range; the message names the option and its limits.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),

    /// Writing a file (or the bytes for one) failed. The cause is the error's `source()`.
    #[error("writing {target}")]
    Write {
        /// Path, `s3://` URL or file name that was being written.
        target: String,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// An S3 request failed; `message` holds the service's error code and message, or the
    /// SDK's error chain when there was no service response.
    #[error("S3 {operation} s3://{bucket}/{key}: {message}")]
    S3 {
        /// The S3 operation, e.g. `UploadPart`.
        operation: &'static str,
        /// Target bucket.
        bucket: String,
        /// Target key.
        key: String,
        /// The SDK error with its causes, flattened to text.
        message: String,
    },

    /// The rows for an S3 object stopped before the end of the file, so the upload was aborted.
    #[error("upload of s3://{bucket}/{key} aborted: the file was not written to its end")]
    Incomplete {
        /// Target bucket.
        bucket: String,
        /// Target key.
        key: String,
    },

    /// A multipart upload would need more parts than S3 allows.
    #[error("s3://{bucket}/{key} needs more than {max_parts} parts; write more, smaller files")]
    TooManyParts {
        /// Target bucket.
        bucket: String,
        /// Target key.
        key: String,
        /// S3's limit on parts per upload.
        max_parts: u32,
    },

    /// Encoding the manifest or summary as JSON failed. The cause is the error's `source()`.
    #[error("encoding {name}")]
    Json {
        /// The JSON document being encoded.
        name: &'static str,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },

    /// A worker task panicked or was cancelled.
    #[error("generation task failed: {0}")]
    Task(String),
}

/// A command-line value (a date or an output location) that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub(crate) String);
