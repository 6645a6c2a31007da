//! S3 output: a blocking `Write` that cuts a file into 8 MiB parts, and the async task that
//! uploads them (CreateMultipartUpload, UploadPart, CompleteMultipartUpload), or sends the whole
//! file in one PutObject when it fits in one part.
//!
//! Memory per object stays bounded: the part being filled, at most one queued part and the part
//! being uploaded. If the writer stops before the end of the file (error or panic), the upload
//! task sees its channel close without a last part and aborts the multipart upload, so no
//! half-written object ever appears.

use std::io::{self, Write};

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::Bytes;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use crate::error::GenerateError;

/// Size of every multipart part but the last (S3's minimum is 5 MiB).
pub const PART_BYTES: usize = 8 << 20;
/// S3's limit on parts per upload.
const MAX_PARTS: u32 = 10_000;
/// Parts waiting for the upload task while the writer fills the next one.
const QUEUED_PARTS: usize = 1;

/// Builds an S3 client from the environment (`aws_config` defaults). When `AWS_ENDPOINT_URL`
/// is set, the client uses path-style addressing, which local S3 endpoints need.
pub async fn s3_client_from_env() -> Client {
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let mut config = aws_sdk_s3::config::Builder::from(&shared);
    if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        config = config.force_path_style(true);
    }
    Client::from_conf(config.build())
}

/// Uploads `body` as one object with PutObject.
pub(crate) async fn put_object(
    client: &Client,
    bucket: &str,
    key: &str,
    content_type: &str,
    body: Bytes,
) -> Result<(), GenerateError> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| s3_error("PutObject", bucket, key, &e))?;
    Ok(())
}

/// A piece of the file on its way to the upload task.
enum Chunk {
    /// A full part; more follows.
    Part(Bytes),
    /// The end of the file (possibly empty).
    Last(Bytes),
}

/// The writing end of one object's upload. Call [`PartWriter::finish`] from a blocking thread
/// (it waits for the upload); dropping it instead aborts the upload.
pub(crate) struct PartWriter {
    buf: Vec<u8>,
    parts: Option<mpsc::Sender<Chunk>>,
    outcome: Option<oneshot::Receiver<Result<(), GenerateError>>>,
    bytes: u64,
}

impl PartWriter {
    /// Spawns the upload task of `bucket`/`key` on `runtime` and returns its writer.
    pub(crate) fn start(
        runtime: &Handle,
        client: Client,
        bucket: String,
        key: String,
        content_type: &'static str,
    ) -> PartWriter {
        let (parts, receiver) = mpsc::channel(QUEUED_PARTS);
        let (report, outcome) = oneshot::channel();
        runtime.spawn(async move {
            let result = upload(&client, &bucket, &key, content_type, receiver).await;
            // The writer may be gone already (it failed first); its error is the one reported.
            let _ = report.send(result);
        });
        PartWriter {
            buf: Vec::with_capacity(PART_BYTES),
            parts: Some(parts),
            outcome: Some(outcome),
            bytes: 0,
        }
    }

    /// Sends the last part and waits for the object to be complete; returns its size.
    ///
    /// # Errors
    ///
    /// The upload's error, if any request failed.
    pub(crate) fn finish(mut self) -> Result<u64, GenerateError> {
        let last = Bytes::from(std::mem::take(&mut self.buf));
        if let Some(parts) = self.parts.take() {
            // A failed send means the task already ended with an error; the outcome has it.
            let _ = parts.blocking_send(Chunk::Last(last));
        }
        match self.outcome.take().map(oneshot::Receiver::blocking_recv) {
            Some(Ok(result)) => result.map(|()| self.bytes),
            _ => Err(GenerateError::Task(
                "the S3 upload task ended without a result".into(),
            )),
        }
    }

    fn send_full_part(&mut self) -> io::Result<()> {
        let part = std::mem::replace(&mut self.buf, Vec::with_capacity(PART_BYTES));
        let sent = match &self.parts {
            Some(parts) => parts.blocking_send(Chunk::Part(Bytes::from(part))).is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The task stopped early, so it failed: surface its error through the writer.
        self.parts = None;
        match self.outcome.take().map(oneshot::Receiver::blocking_recv) {
            Some(Ok(Err(error))) => Err(io::Error::other(error)),
            _ => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the S3 upload task stopped",
            )),
        }
    }
}

impl Write for PartWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // A full part is sent only once more data arrives, so the last part is always known
        // to be last (and a file of at most one part goes out as a single PutObject).
        if self.buf.len() == PART_BYTES {
            self.send_full_part()?;
        }
        let take = (PART_BYTES - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..take]);
        self.bytes += take as u64;
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The upload task: PutObject for a one-part file, else a multipart upload aborted on error.
async fn upload(
    client: &Client,
    bucket: &str,
    key: &str,
    content_type: &str,
    mut parts: mpsc::Receiver<Chunk>,
) -> Result<(), GenerateError> {
    let first = match parts.recv().await {
        None => return Err(incomplete(bucket, key)),
        Some(Chunk::Last(body)) => {
            return put_object(client, bucket, key, content_type, body).await
        }
        Some(Chunk::Part(body)) => body,
    };
    let created = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .map_err(|e| s3_error("CreateMultipartUpload", bucket, key, &e))?;
    let Some(upload_id) = created.upload_id() else {
        return Err(GenerateError::S3 {
            operation: "CreateMultipartUpload",
            bucket: bucket.into(),
            key: key.into(),
            message: "the response has no upload id".into(),
        });
    };
    let result = upload_parts(client, bucket, key, upload_id, first, parts).await;
    if result.is_err() {
        // Best effort: the upload's own error is the one worth reporting, and an upload left
        // behind is removed by the bucket's lifecycle rules at worst.
        let _ = client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await;
    }
    result
}

async fn upload_parts(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    first: Bytes,
    mut parts: mpsc::Receiver<Chunk>,
) -> Result<(), GenerateError> {
    let mut completed = Vec::new();
    let mut next = Some(Chunk::Part(first));
    loop {
        let (body, last) = match next.take() {
            Some(Chunk::Part(body)) => (body, false),
            Some(Chunk::Last(body)) => (body, true),
            None => return Err(incomplete(bucket, key)),
        };
        // A file that ends exactly on a part boundary has an empty last chunk: nothing to send.
        if !body.is_empty() {
            let number = completed.len() as u32 + 1;
            if number > MAX_PARTS {
                return Err(GenerateError::TooManyParts {
                    bucket: bucket.into(),
                    key: key.into(),
                    max_parts: MAX_PARTS,
                });
            }
            let part_number = number as i32;
            let sent = client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(part_number)
                .checksum_algorithm(ChecksumAlgorithm::Crc32)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| s3_error("UploadPart", bucket, key, &e))?;
            completed.push(
                CompletedPart::builder()
                    .part_number(part_number)
                    .set_e_tag(sent.e_tag().map(str::to_string))
                    .set_checksum_crc32(sent.checksum_crc32().map(str::to_string))
                    .build(),
            );
        }
        if last {
            break;
        }
        next = parts.recv().await;
    }
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .map_err(|e| s3_error("CompleteMultipartUpload", bucket, key, &e))?;
    Ok(())
}

fn incomplete(bucket: &str, key: &str) -> GenerateError {
    GenerateError::Incomplete {
        bucket: bucket.into(),
        key: key.into(),
    }
}

fn s3_error<E>(
    operation: &'static str,
    bucket: &str,
    key: &str,
    error: &SdkError<E>,
) -> GenerateError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    // The service's code and message say it all (`NoSuchBucket: ...`); the SDK's full context
    // is only worth its length when there was no service answer (timeouts, connections).
    let message = match error.code() {
        Some(code) => format!("{code}: {}", error.message().unwrap_or("(no message)")),
        None => DisplayErrorContext(error).to_string(),
    };
    GenerateError::S3 {
        operation,
        bucket: bucket.into(),
        key: key.into(),
        message,
    }
}
