//! The layers over an object's raw bytes: a counter (which also decides
//! what a failure of the source means, see [`super::fault`]), a gzip or
//! zstd decoder when the first bytes are its magic number, bounded against
//! decompression bombs, and a decoder to UTF-8 when a byte-order mark or a
//! declaration says another encoding.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use async_compression::tokio::bufread::{GzipDecoder, ZstdDecoder};
use tokio::io::{AsyncRead, AsyncReadExt, BufReader, ReadBuf};

use super::fault::ReadFault;
use super::transcode::{self, Declared, Transcoded};
use super::{read_counted, ByteCounter, Opened, ReadOptions};

/// Expanded bytes always allowed before the ratio is checked, so a small
/// object's header and first buffers never trip it.
pub const EXPANSION_SLACK: u64 = 64 << 20;

/// The largest zstd window decoded: 2^25 = 32 MiB, which every level up to
/// 19 stays under (level 19: 8 MiB); `--ultra` levels and `--long` need up to
/// 128 MiB (libzstd's default limit), which would break the flat memory.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 25;

/// Size of the buffered reads under the gzip and zstd decoders.
const DECODER_READ_BUF: usize = 128 * 1024;

/// gzip's magic number.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// A zstd frame's magic number (little-endian 0xFD2FB528).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A zstd skippable frame's magic number (0x184D2A50 to 0x184D2A5F), which
/// may open a zstd file: `pzstd` starts every file with one.
fn is_skippable_frame(magic: [u8; 4]) -> bool {
    magic[0] & 0xf0 == 0x50 && magic[1..] == [0x2a, 0x4d, 0x18]
}

type Reader = Pin<Box<dyn AsyncRead + Send>>;

/// An object's bytes as its source gives them.
pub(super) struct Raw {
    /// The bytes.
    pub reader: Reader,
    /// The size the source announced (S3's Content-Length, a file's length).
    pub size: Option<u64>,
    /// Whether a failure of the source itself may be retried.
    pub retryable: bool,
    /// Counts the bytes (and whatever it feeds).
    pub counter: ByteCounter,
}

/// The compression the first bytes announce.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    fn of(magic: &[u8]) -> Self {
        if magic.len() >= 2 && magic[..2] == GZIP_MAGIC {
            Compression::Gzip
        } else if let Ok(four) = <[u8; 4]>::try_from(magic) {
            if four == ZSTD_MAGIC || is_skippable_frame(four) {
                Compression::Zstd
            } else {
                Compression::None
            }
        } else {
            Compression::None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Compression::None => "plain",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// Puts the layers on `raw`; `declared` is the encoding its source or the
/// settings name (a byte-order mark wins over it).
///
/// # Errors
/// The first bytes' read failure, marked as in [`super::fault`].
pub(super) async fn layer(
    raw: Raw,
    read: &ReadOptions,
    declared: Option<Declared>,
) -> std::io::Result<Opened> {
    let raw_bytes = raw.counter.clone();
    let size = raw.size;
    let mut counted: Reader = Box::pin(Counted {
        inner: raw.reader,
        counter: raw.counter,
        expected: raw.size,
        retryable: raw.retryable,
    });
    let magic = peek(&mut counted, 4).await?;
    let compression = Compression::of(&magic);
    let unread: Reader = Box::pin(std::io::Cursor::new(magic).chain(counted));
    let mut decoded = match compression {
        Compression::None => unread,
        _ => decompressed(unread, compression, raw_bytes.clone(), read),
    };
    let head = peek(&mut decoded, 3).await?;
    let declared = by_bom(&head).or(declared);
    let unread: Reader = Box::pin(std::io::Cursor::new(head).chain(decoded));
    let reader: Reader = match declared.filter(|d| transcode::needs_decoding(Some(*d))) {
        Some(declared) => Box::pin(Transcoded::new(unread, declared)),
        None => unread,
    };
    Ok(Opened {
        reader,
        raw_bytes,
        size,
        compressed: compression != Compression::None,
    })
}

/// Up to `n` first bytes (fewer at the end of the stream), to put back in
/// front of the rest.
async fn peek(reader: &mut Reader, n: usize) -> std::io::Result<Vec<u8>> {
    let mut head = vec![0u8; n];
    let mut have = 0;
    while have < n {
        let got = reader.read(&mut head[have..]).await?;
        if got == 0 {
            break;
        }
        have += got;
    }
    head.truncate(have);
    Ok(head)
}

/// The decoder for `compression` over `raw`, bounded by `read`.
fn decompressed(
    raw: Reader,
    compression: Compression,
    raw_bytes: ByteCounter,
    read: &ReadOptions,
) -> Reader {
    let buffered = BufReader::with_capacity(DECODER_READ_BUF, raw);
    let inner: Reader = if compression == Compression::Gzip {
        let mut decoder = GzipDecoder::new(buffered);
        // `cat a.gz b.gz` is a valid gzip file of both.
        decoder.multiple_members(true);
        Box::pin(decoder)
    } else {
        let mut decoder = ZstdDecoder::with_params(
            buffered,
            &[async_compression::zstd::DParameter::window_log_max(
                ZSTD_WINDOW_LOG_MAX,
            )],
        );
        // Likewise concatenated zstd frames.
        decoder.multiple_members(true);
        Box::pin(decoder)
    };
    Box::pin(Bounded {
        inner,
        raw: raw_bytes,
        expanded: 0,
        limits: read.clone(),
        format: compression.name(),
    })
}

/// The encoding a byte-order mark at the start of `head` announces.
fn by_bom(head: &[u8]) -> Option<Declared> {
    transcode::bom_encoding(head).map(|encoding| Declared {
        encoding,
        by: "its byte-order mark",
    })
}

/// The raw layer: counts the bytes, and marks the source's failures
/// ([`ReadFault::Transport`]) and a body shorter than its announced size
/// ([`ReadFault::Truncated`]).
struct Counted {
    inner: Reader,
    counter: ByteCounter,
    expected: Option<u64>,
    retryable: bool,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let wanted = buf.remaining() > 0;
        let (res, n) = read_counted(self.inner.as_mut(), cx, buf);
        if let Err(e) = ready!(res) {
            let fault = ReadFault::Transport {
                message: e.to_string(),
                retryable: self.retryable,
            };
            return Poll::Ready(Err(fault.into_io()));
        }
        self.counter.add(n);
        // Only at the end of the body: the announced size is checked once.
        if let Some(expected) = self.expected.filter(|_| n == 0 && wanted) {
            let got = self.counter.get();
            if got < expected {
                return Poll::Ready(Err(ReadFault::Truncated { got, expected }.into_io()));
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// A decompressed stream that fails once it expands past its limits.
struct Bounded {
    inner: Reader,
    /// The compressed bytes read so far (read ahead of the decoder by at
    /// most one buffer, which the slack covers).
    raw: ByteCounter,
    expanded: u64,
    limits: ReadOptions,
    format: &'static str,
}

impl Bounded {
    /// The decompressor's own errors are the content's (a corrupt header or
    /// stream, a window too large): bad data, not retried. A stream that
    /// ends early although the whole body arrived (a short body is marked
    /// below) is a cut object: final too. The layers below have marked
    /// their own errors already; those pass as they are.
    fn content_fault(&self, e: std::io::Error) -> std::io::Error {
        if ReadFault::of(&e).is_some() {
            return e;
        }
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            return ReadFault::Ended(e.to_string()).into_io();
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
        ReadFault::Content(format!(
            "corrupt {} data (within its first {} compressed bytes): {e}{hint}",
            self.format,
            self.raw.get()
        ))
        .into_io()
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
            Some(message) => Err(ReadFault::Content(message).into_io()),
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
        let (res, n) = read_counted(self.inner.as_mut(), cx, buf);
        self.expanded += n as u64;
        if n > 0 {
            self.check()?;
        }
        res.map_err(|e| self.content_fault(e))
    }
}
