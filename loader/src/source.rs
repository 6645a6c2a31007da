//! Byte sources: an S3 object streamed through GetObject, a local file,
//! stdin; gzip and zstd recognised by their magic bytes and decompressed on
//! the fly, within [`ReadOptions`]' bounds (a small object that expands
//! without end is refused early, not read for minutes).
//!
//! Nothing here buffers an object: each source is an `AsyncRead` the load
//! pulls from in bounded chunks. A [`ByteCounter`] sits under any
//! decompression, so the load knows how many of the object's own bytes
//! arrived, which tells a cut connection (retry) from a corrupt file (don't).

use std::fmt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use async_compression::tokio::bufread::{GzipDecoder, ZstdDecoder};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use tokio::io::{AsyncRead, AsyncReadExt, BufReader, ReadBuf};

use crate::encode::EncodeFault;
use crate::error::{error_chain, Error, Result};
use crate::transcode::{self, Declared, Transcoded};

/// How an object's bytes are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// A compressed object fails once it has expanded to more than this
    /// many times the compressed bytes read so far (past the first
    /// [`EXPANSION_SLACK`] bytes).
    pub max_expansion_ratio: u64,
    /// A compressed object fails once it has expanded past this many bytes.
    pub max_expanded_bytes: Option<u64>,
    /// The encoding of objects that declare none (no byte-order mark, no
    /// Content-Type charset): `--encoding` / `SOURCE_ENCODING`. `None`: UTF-8.
    pub encoding: Option<Declared>,
}

/// Retail CSV shrinks ~6x under gzip and ~10x under zstd; highly repetitive
/// files a few times more. A run of zeros: ~1000x (gzip), far more (zstd).
pub const DEFAULT_MAX_EXPANSION_RATIO: u64 = 100;

/// Expanded bytes always allowed before the ratio is checked, so a small
/// object's header and first buffers never trip it.
pub const EXPANSION_SLACK: u64 = 64 << 20;

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_expansion_ratio: DEFAULT_MAX_EXPANSION_RATIO,
            max_expanded_bytes: None,
            encoding: None,
        }
    }
}

/// Why an object's bytes cannot be read as CSV, carried through
/// `std::io::Error` from the reader layers to [`read_error`].
#[derive(Debug)]
struct InputFault(String);

impl std::fmt::Display for InputFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputFault {}

/// An I/O error that [`read_error`] turns into bad data.
pub(crate) fn input_fault(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, InputFault(message))
}

/// A failure of the source itself (the file, stdin or the S3 body), as it
/// passes through a decompressor: what a decompressor reports without this
/// mark is about the content.
#[derive(Debug)]
struct TransportFault(std::io::Error);

impl std::fmt::Display for TransportFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for TransportFault {}

/// Maps a read failure of an opened object: bad content (a decompression
/// bomb, a corrupt gzip or zstd stream) is [`Error::Data`], never retried;
/// anything else is [`Error::Read`], retryable per `retryable`.
pub fn read_error(object: &str, e: std::io::Error, retryable: bool) -> Error {
    if let Some(fault) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<InputFault>())
    {
        return Error::Data {
            object: object.to_string(),
            fault: Box::new(EncodeFault::Input(fault.0.clone())),
        };
    }
    Error::Read {
        object: object.to_string(),
        message: e.to_string(),
        retryable,
    }
}

/// Where an object's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An S3 object. `etag` and `version_id` pin the version an event named.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Object key, already URL-decoded.
        key: String,
        /// The ETag from the event (quotes optional), if known.
        etag: Option<String>,
        /// The version from the event, if the bucket is versioned.
        version_id: Option<String>,
        /// The size from the event, if known.
        size: Option<u64>,
    },
    /// A local file.
    File(PathBuf),
    /// Standard input, with a name for the ledger and messages. It can be
    /// read once: a load that consumed some of it is not retried.
    Stdin {
        /// Recorded as the object key (default `-`).
        name: String,
    },
}

impl Source {
    /// An S3 object by bucket and key, version unpinned.
    pub fn s3(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Source::S3 {
            bucket: bucket.into(),
            key: key.into(),
            etag: None,
            version_id: None,
            size: None,
        }
    }

    /// Whether another attempt can read the object from its start: always,
    /// except stdin once any of its bytes were consumed (a retry would read
    /// from the middle and fail for the wrong reason).
    pub fn can_retry(&self) -> bool {
        !matches!(self, Source::Stdin { .. }) || STDIN_READ.load(Ordering::Relaxed) == 0
    }

    /// The (bucket, key) the ledger records: S3's own, or a pseudo-bucket
    /// (`file`, `stdin`) with the path or name.
    pub fn ledger_name(&self) -> (String, String) {
        match self {
            Source::S3 { bucket, key, .. } => (bucket.clone(), key.clone()),
            Source::File(path) => {
                // The file's real path (`..` and symbolic links resolved): one
                // file has one name however it was given.
                let real = std::fs::canonicalize(path)
                    .or_else(|_| std::path::absolute(path))
                    .unwrap_or_else(|_| path.clone());
                ("file".into(), path_key(&real))
            }
            Source::Stdin { name } => ("stdin".into(), name.clone()),
        }
    }
}

/// A path as the ledger's key: its text, with a backslash written `\\` and
/// each byte that is not UTF-8 written `\xe9`, so every path has its own key
/// (a file named `caf\xe9.csv` in ASCII and one named `caf` + byte 0xe9 +
/// `.csv` stay apart).
fn path_key(path: &std::path::Path) -> String {
    let mut key = String::new();
    for chunk in path.as_os_str().as_encoded_bytes().utf8_chunks() {
        key.push_str(&chunk.valid().replace('\\', "\\\\"));
        for b in chunk.invalid() {
            key.push_str(&format!("\\x{b:02x}"));
        }
    }
    key
}

impl fmt::Display for Source {
    /// `s3://bucket/key`, the path, or `stdin`; control characters in
    /// names are escaped so a hostile key cannot forge log lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = match self {
            Source::S3 { bucket, key, .. } => format!("s3://{bucket}/{key}"),
            // Escaped as in the ledger's key, not lossily.
            Source::File(path) => path_key(path),
            Source::Stdin { name } if name == "-" => "stdin".to_string(),
            Source::Stdin { name } => format!("stdin ({name})"),
        };
        for c in shown.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Bytes this process has read from stdin (see [`Source::can_retry`]).
static STDIN_READ: AtomicU64 = AtomicU64::new(0);

/// stdin, counting into `STDIN_READ`.
struct Stdin(tokio::io::Stdin);

impl AsyncRead for Stdin {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.0).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        STDIN_READ.fetch_add(n as u64, Ordering::Relaxed);
        res
    }
}

/// Counts the bytes that pass through, shared with whoever watches.
#[derive(Clone, Debug, Default)]
pub struct ByteCounter(Arc<AtomicU64>);

impl ByteCounter {
    /// Bytes so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }
}

struct Counted<R> {
    inner: R,
    counter: ByteCounter,
    progress: Option<ByteCounter>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counted<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.counter.add(n);
        if let Some(p) = &self.progress {
            p.add(n);
        }
        res.map_err(|e| std::io::Error::new(e.kind(), TransportFault(e)))
    }
}

/// An object opened for reading.
pub struct Opened {
    /// The decompressed bytes.
    pub reader: Pin<Box<dyn AsyncRead + Send>>,
    /// Counts the object's raw (possibly compressed) bytes as they arrive.
    pub raw_bytes: ByteCounter,
    /// The object's size, when the source knows it.
    pub size: Option<u64>,
    /// Whether the object turned out to be compressed (gzip or zstd).
    pub compressed: bool,
}

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

/// Size of the buffered reads under the gzip and zstd decoders.
const GZIP_READ_BUF: usize = 128 * 1024;

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
    progress: Option<ByteCounter>,
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
    let opened = wrap(Box::pin(body), size, shown, progress, read, declared).await?;
    Ok(S3Open::Opened(opened))
}

/// Opens a local file or stdin.
///
/// # Errors
/// [`Error::Read`] when the file cannot be opened.
pub async fn open_local(
    source: &Source,
    progress: Option<ByteCounter>,
    read: &ReadOptions,
) -> Result<Opened> {
    let shown = source.to_string();
    match source {
        Source::File(path) => {
            let file = tokio::fs::File::open(path).await.map_err(|e| Error::Read {
                object: shown.clone(),
                message: e.to_string(),
                retryable: false,
            })?;
            let size = file.metadata().await.ok().map(|m| m.len());
            wrap(Box::pin(file), size, &shown, progress, read, read.encoding).await
        }
        Source::Stdin { .. } => {
            if !source.can_retry() {
                return Err(Error::Read {
                    object: shown,
                    message: "stdin was partly read by an earlier attempt and cannot be read again"
                        .into(),
                    retryable: false,
                });
            }
            let stdin = Box::pin(Stdin(tokio::io::stdin()));
            wrap(stdin, None, &shown, progress, read, read.encoding).await
        }
        Source::S3 { .. } => Err(Error::Config(format!(
            "{shown}: S3 objects are opened with open_s3"
        ))),
    }
}

/// gzip's magic number.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// A zstd frame's magic number (little-endian 0xFD2FB528).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// A zstd skippable frame's magic number (0x184D2A50 to 0x184D2A5F), which
/// may open a zstd file: `pzstd` starts every file with one.
fn is_skippable_frame(magic: [u8; 4]) -> bool {
    magic[0] & 0xf0 == 0x50 && magic[1..] == [0x2a, 0x4d, 0x18]
}
/// The largest zstd window decoded: 2^25 = 32 MiB, which every level up to
/// 19 stays under (level 19: 8 MiB); `--ultra` levels and `--long` need up to
/// 128 MiB (libzstd's default limit), which would break the flat memory.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 25;

/// Counts the raw bytes, puts a gzip or zstd decoder on top when the first
/// bytes are its magic number (bounded by `read`), and a decoder to UTF-8
/// when a byte-order mark or `declared` says another encoding.
async fn wrap(
    mut raw: Pin<Box<dyn AsyncRead + Send>>,
    size: Option<u64>,
    shown: &str,
    progress: Option<ByteCounter>,
    read: &ReadOptions,
    declared: Option<Declared>,
) -> Result<Opened> {
    let mut magic = [0u8; 4];
    let mut have = 0;
    while have < magic.len() {
        let n = raw
            .read(&mut magic[have..])
            .await
            .map_err(|e| Error::Read {
                object: shown.to_string(),
                message: e.to_string(),
                retryable: true,
            })?;
        if n == 0 {
            break;
        }
        have += n;
    }
    let gzip = have >= 2 && magic[..2] == GZIP_MAGIC;
    let zstd = have == 4 && (magic == ZSTD_MAGIC || is_skippable_frame(magic));
    let raw_bytes = ByteCounter::default();
    let counted = Counted {
        inner: std::io::Cursor::new(magic[..have].to_vec()).chain(raw),
        counter: raw_bytes.clone(),
        progress,
    };
    let decoded: Pin<Box<dyn AsyncRead + Send>> = if gzip {
        let mut decoder = GzipDecoder::new(BufReader::with_capacity(GZIP_READ_BUF, counted));
        // `cat a.gz b.gz` is a valid gzip file of both.
        decoder.multiple_members(true);
        Box::pin(decoder)
    } else if zstd {
        let mut decoder = ZstdDecoder::with_params(
            BufReader::with_capacity(GZIP_READ_BUF, counted),
            &[async_compression::zstd::DParameter::window_log_max(
                ZSTD_WINDOW_LOG_MAX,
            )],
        );
        // Likewise concatenated zstd frames.
        decoder.multiple_members(true);
        Box::pin(decoder)
    } else {
        let declared = by_bom(&magic[..have]).or(declared);
        let reader: Pin<Box<dyn AsyncRead + Send>> = if transcode::needs_decoding(declared) {
            let declared = declared.expect("needs_decoding checked it");
            Box::pin(Transcoded::new(Box::pin(counted), declared))
        } else {
            Box::pin(counted)
        };
        return Ok(Opened {
            reader,
            raw_bytes,
            size,
            compressed: false,
        });
    };
    let mut bounded: Pin<Box<dyn AsyncRead + Send>> = Box::pin(Bounded {
        inner: decoded,
        raw: raw_bytes.clone(),
        expanded: 0,
        limits: read.clone(),
        format: if gzip { "gzip" } else { "zstd" },
    });
    // The decompressed object's first bytes, for a byte-order mark. An
    // error once every raw byte has arrived is the content's (a truncated
    // stream), not retried: the same rule as for the rest of the object.
    let mut head = [0u8; 3];
    let mut got = 0;
    while got < head.len() {
        let n = bounded.read(&mut head[got..]).await.map_err(|e| {
            let whole = size.is_some_and(|n| raw_bytes.get() >= n);
            read_error(shown, e, !whole)
        })?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let declared = by_bom(&head[..got]).or(declared);
    let unread: Pin<Box<dyn AsyncRead + Send>> =
        Box::pin(std::io::Cursor::new(head[..got].to_vec()).chain(bounded));
    let reader: Pin<Box<dyn AsyncRead + Send>> = if transcode::needs_decoding(declared) {
        let declared = declared.expect("needs_decoding checked it");
        Box::pin(Transcoded::new(unread, declared))
    } else {
        unread
    };
    Ok(Opened {
        reader,
        raw_bytes,
        size,
        compressed: true,
    })
}

/// The encoding a byte-order mark at the start of `head` announces.
fn by_bom(head: &[u8]) -> Option<Declared> {
    transcode::bom_encoding(head).map(|encoding| Declared {
        encoding,
        by: "its byte-order mark",
    })
}

/// A decompressed stream that fails once it expands past its limits.
struct Bounded {
    inner: Pin<Box<dyn AsyncRead + Send>>,
    /// The compressed bytes read so far (read ahead of the decoder by at
    /// most one buffer, which the slack covers).
    raw: ByteCounter,
    expanded: u64,
    limits: ReadOptions,
    format: &'static str,
}

impl Bounded {
    /// The decompressor's own errors are the content's (a corrupt header or
    /// stream, a window too large): bad data, not retried. The source's
    /// errors, and a stream that ends early (the body may have been cut
    /// short), pass as they are.
    fn content_fault(&self, e: std::io::Error) -> std::io::Error {
        let transport = e
            .get_ref()
            .is_some_and(|inner| inner.is::<TransportFault>() || inner.is::<InputFault>());
        if transport || e.kind() == std::io::ErrorKind::UnexpectedEof {
            return e;
        }
        let hint = if self.format == "zstd" {
            format!(
                " (windows up to {} MiB are decoded; `zstd --long` and `--ultra` levels \
                 write larger ones)",
                1u64 << (ZSTD_WINDOW_LOG_MAX - 20)
            )
        } else {
            String::new()
        };
        input_fault(format!(
            "corrupt {} data (within its first {} compressed bytes): {e}{hint}",
            self.format,
            self.raw.get()
        ))
    }

    fn check(&self) -> std::io::Result<()> {
        let raw = self.raw.get();
        let fault = if self
            .limits
            .max_expanded_bytes
            .is_some_and(|max| self.expanded > max)
        {
            Some(format!(
                "{} expanded past {} bytes (--max-expanded-bytes); the object is refused",
                self.format, self.expanded
            ))
        } else if self.expanded > EXPANSION_SLACK
            && self.expanded / raw.max(1) > self.limits.max_expansion_ratio
        {
            Some(format!(
                "{} expanded to {} bytes from {} compressed bytes, more than \
                 {}x (--max-expansion-ratio): refused as a decompression bomb",
                self.format, self.expanded, raw, self.limits.max_expansion_ratio
            ))
        } else {
            None
        };
        match fault {
            Some(message) => Err(input_fault(message)),
            None => Ok(()),
        }
    }
}

impl AsyncRead for Bounded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = self.inner.as_mut().poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.expanded += n as u64;
        if n > 0 {
            self.check()?;
        }
        res.map_err(|e| self.content_fault(e))
    }
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
