//! Byte sources: an S3 object streamed through GetObject, a local file,
//! stdin; gzip and zstd recognised by their magic bytes and decompressed on
//! the fly, within [`ReadOptions`]' bounds (a small object that expands
//! without end is refused early, not read for minutes).
//!
//! Nothing here buffers an object: each source is an `AsyncRead` the load
//! pulls from in bounded chunks. Files, one per room:
//!
//! - `s3.rs`, `local.rs`: where the bytes come from;
//! - `decompress.rs`: the layers over them (count, decompress, decode);
//! - `transcode.rs`: other encodings to UTF-8;
//! - `fault.rs`: what a failed read means, decided by the layer it happens in.

use std::fmt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::AsyncRead;

mod decompress;
pub mod fault;
mod local;
mod s3;
pub mod transcode;

pub use decompress::{EXPANSION_SLACK, ZSTD_WINDOW_LOG_MAX};
pub use fault::{read_error, ReadFault};
pub use local::open_local;
pub use s3::{
    bare_etag, head_s3, open_s3, s3_client_from_config, s3_client_from_env, s3_error, ObjectHead,
    S3Open,
};
use transcode::Declared;

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

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_expansion_ratio: DEFAULT_MAX_EXPANSION_RATIO,
            max_expanded_bytes: None,
            encoding: None,
        }
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
        !matches!(self, Source::Stdin { .. }) || local::STDIN_READ.load(Ordering::Relaxed) == 0
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

/// Counts the bytes that pass through, shared with whoever watches; one
/// made [`ByteCounter::feeding`] another adds to that one too (an object's
/// raw bytes to a progress bar's total).
#[derive(Clone, Debug, Default)]
pub struct ByteCounter {
    own: Arc<AtomicU64>,
    total: Option<Arc<AtomicU64>>,
}

impl ByteCounter {
    /// A counter whose bytes are also added to `total`'s, when there is one.
    pub fn feeding(total: Option<&ByteCounter>) -> Self {
        ByteCounter {
            own: Arc::default(),
            total: total.map(|t| t.own.clone()),
        }
    }

    /// Bytes so far.
    pub fn get(&self) -> u64 {
        self.own.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) {
        self.own.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(total) = &self.total {
            total.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

/// Reads from `inner` into `buf`, with how many bytes that added: the one
/// step of every counting layer here.
pub(crate) fn read_counted<R: AsyncRead + ?Sized>(
    inner: Pin<&mut R>,
    cx: &mut std::task::Context<'_>,
    buf: &mut tokio::io::ReadBuf<'_>,
) -> (std::task::Poll<std::io::Result<()>>, usize) {
    let before = buf.filled().len();
    let res = inner.poll_read(cx, buf);
    (res, buf.filled().len() - before)
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
