//! Local sources: a file, stdin.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use super::decompress::{layer, Raw};
use super::fault::read_error;
use super::{read_counted, ByteCounter, Opened, ReadOptions, Source};
use crate::error::{Error, Result};

/// Opens a local file or stdin.
///
/// Its bytes are counted into `counter`. A local source's read error is
/// final: a retry would meet the same disk.
///
/// # Errors
/// [`Error::Read`] when the file cannot be opened.
pub async fn open_local(
    source: &Source,
    counter: ByteCounter,
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
            let raw = Raw {
                reader: Box::pin(file),
                size: file_size(path).await,
                retryable: false,
                counter,
            };
            layer(raw, read, read.encoding)
                .await
                .map_err(|e| read_error(&shown, e))
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
            let raw = Raw {
                reader: Box::pin(Stdin(tokio::io::stdin())),
                size: None,
                retryable: false,
                counter,
            };
            layer(raw, read, read.encoding)
                .await
                .map_err(|e| read_error(&shown, e))
        }
        Source::S3 { .. } => Err(Error::Config(format!(
            "{shown}: S3 objects are opened with open_s3"
        ))),
    }
}

/// A regular file's length; none for a pipe or a device, whose length says
/// nothing about what can be read.
async fn file_size(path: &std::path::Path) -> Option<u64> {
    let meta = tokio::fs::metadata(path).await.ok()?;
    meta.is_file().then_some(meta.len())
}

/// Bytes this process has read from stdin (see [`Source::can_retry`]).
pub(super) static STDIN_READ: AtomicU64 = AtomicU64::new(0);

/// stdin, counting into `STDIN_READ`.
struct Stdin(tokio::io::Stdin);

impl AsyncRead for Stdin {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let (res, n) = read_counted(Pin::new(&mut self.0), cx, buf);
        STDIN_READ.fetch_add(n as u64, Ordering::Relaxed);
        res
    }
}
