//! The COPY FROM STDIN sink, and the pipeline that feeds it.
//!
//! Contract (the same as tokio-postgres' `CopyInSink`): [`CopySink::finish`]
//! ends the COPY statement successfully, which fires the batch trigger;
//! dropping a `CopySink` without finishing aborts the COPY (the server gets
//! `CopyFail`), and nothing of it is inserted. The transaction around it
//! decides whether anything is committed.
//!
//! [`stream_into`] runs the encoder on its own task and sends its output
//! through a bounded channel, so parsing and sending overlap while memory
//! stays bounded: a slow database slows the reads, never grows a buffer.

use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures_util::SinkExt;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_postgres::{CopyInSink, Transaction};

use crate::columns::{COLUMNS, LOAD_ID_COLUMN, STAGING_TABLE};
use crate::encode::{CopyFormat, EncodeFault, EncodeOptions, Encoder, Reject, Summary};
use crate::error::{Error, Result};
use crate::rejects::Rejects;
use crate::source::Opened;

/// Bytes asked of the source per read. The `chunk_size` criterion run
/// (BENCHMARKS.md) found the encoder's speed flat from 16 KiB to 1 MiB; 64 KiB
/// keeps the pipeline's buffers small (peak RSS, BENCHMARKS.md).
pub const READ_CHUNK: usize = 64 * 1024;

/// Encoded bytes gathered before one CopyData message goes to the channel.
/// With [`CHANNEL_DEPTH`] and the recycled buffers, this sets the pipeline's
/// memory: about 13 buffers of 1.5x this size at most.
pub const FLUSH_BYTES: usize = 64 * 1024;

/// Messages in flight between the encoder task and the COPY task.
pub const CHANNEL_DEPTH: usize = 4;

/// Buffers kept for reuse between the two tasks.
const RECYCLED_BUFFERS: usize = 8;

/// The error for bad data (`fault`) in the object `reader` was reading. A
/// flipped byte in a gzip stream decodes to garbage, and gzip's checksum
/// comes only at the end: so a compressed object is read on, and when the
/// rest fails the decompressor's check, that is the cause and the error
/// says both. Otherwise (a sound stream, or one that cannot be read on) the
/// CSV fault stands.
async fn bad_data(
    reader: &mut Pin<Box<dyn AsyncRead + Send>>,
    compressed: bool,
    object: &str,
    fault: EncodeFault,
) -> Error {
    if compressed {
        let rest = tokio::io::copy(reader, &mut tokio::io::sink()).await;
        if let Err(e) = rest {
            if let Error::Data {
                object,
                fault: corrupt,
            } = crate::source::read_error(object, e)
            {
                return Error::Data {
                    object,
                    fault: Box::new(EncodeFault::Input(format!(
                        "{corrupt}; read before the check failed, its bytes gave: {fault}"
                    ))),
                };
            }
        }
    }
    Error::Data {
        object: object.to_string(),
        fault: Box::new(fault),
    }
}

/// `"name"` with embedded quotes doubled: the one way identifiers reach SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The COPY statement for `table` (`schema.table`: staging, or a table
/// with its columns) in the given format; each part is quoted.
pub fn copy_statement(table: &str, format: CopyFormat, with_load_id: bool) -> String {
    let mut cols: Vec<String> = COLUMNS.iter().map(|c| quote_ident(c.name)).collect();
    if with_load_id {
        cols.push(quote_ident(LOAD_ID_COLUMN));
    }
    format!(
        "COPY {} ({}) FROM STDIN (FORMAT {})",
        table
            .split('.')
            .map(quote_ident)
            .collect::<Vec<_>>()
            .join("."),
        cols.join(", "),
        format.sql_option()
    )
}

/// An open COPY into `staging_table` (or a table with its columns).
pub struct CopySink {
    inner: Pin<Box<CopyInSink<Bytes>>>,
    object: String,
}

impl CopySink {
    /// Starts `COPY staging_table (...) FROM STDIN` in the transaction.
    ///
    /// # Errors
    /// [`Error::Database`] when the server refuses the statement.
    pub async fn start(
        tx: &Transaction<'_>,
        format: CopyFormat,
        with_load_id: bool,
        object: &str,
    ) -> Result<Self> {
        Self::start_into(tx, STAGING_TABLE, format, with_load_id, object).await
    }

    /// Starts `COPY table (...) FROM STDIN` for a table with the staging
    /// columns.
    ///
    /// # Errors
    /// [`Error::Database`] when the server refuses the statement.
    pub async fn start_into(
        tx: &Transaction<'_>,
        table: &str,
        format: CopyFormat,
        with_load_id: bool,
        object: &str,
    ) -> Result<Self> {
        let sink = tx
            .copy_in(&copy_statement(table, format, with_load_id))
            .await
            .map_err(|e| Error::db(object, crate::error::STARTING_COPY, e))?;
        Ok(CopySink {
            inner: Box::pin(sink),
            object: object.to_string(),
        })
    }

    /// Sends encoded rows; waits while the connection's buffer is full.
    ///
    /// # Errors
    /// [`Error::Database`]: the server ended the COPY or the connection broke.
    pub async fn send(&mut self, chunk: Bytes) -> Result<()> {
        self.inner
            .send(chunk)
            .await
            .map_err(|e| Error::db(&self.object, "sending COPY data", e))
    }

    /// Ends the COPY successfully (the trigger runs now) and returns the
    /// number of rows the server inserted.
    ///
    /// # Errors
    /// [`Error::Database`]: a row or the trigger failed, or the connection broke.
    pub async fn finish(mut self) -> Result<u64> {
        self.inner
            .as_mut()
            .finish()
            .await
            .map_err(|e| Error::db(&self.object, "finishing COPY", e))
    }
}

/// What [`stream_into`] saw.
#[derive(Debug)]
pub struct Streamed {
    /// The encoder's totals (its rejects moved to `rejects`).
    pub summary: Summary,
    /// Every refused row, in order, with bounded memory.
    pub rejects: Rejects,
    /// xxh3-128 of the decompressed bytes: a local source's identity
    /// (hashing costs ~1% of a load, so it is always done).
    pub content_hash: u128,
}

/// Reads the opened object to its end through the encoder into `sink`, the
/// encoder on its own task. On any error the COPY is left unfinished (the
/// caller drops the sink, which aborts it).
///
/// # Errors
/// Bad data ([`Error::Data`]), a read failure ([`Error::Read`], retryable
/// as the source's reader decided), or the sink's database error. Bad data
/// in a compressed object is reported as corrupt compressed data when the
/// rest of the object fails its check (`bad_data`).
pub async fn stream_into(
    sink: &mut CopySink,
    opened: Opened,
    options: EncodeOptions,
    object: &str,
) -> Result<Streamed> {
    let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL_DEPTH);
    // Buffers come back from the COPY side once the connection has copied
    // them out, so a load cycles through a handful of buffers instead of
    // allocating one per message: memory stays flat and the allocator never
    // holds freed-but-resident pages (see BENCHMARKS.md, peak RSS).
    let (spare_tx, spare_rx) = mpsc::channel::<BytesMut>(RECYCLED_BUFFERS);
    let encoding = Encoding {
        opened,
        options,
        object: object.to_string(),
        full: tx,
        spare: spare_rx,
    };
    let parse = AbortOnDrop(tokio::spawn(encoding.run()));
    send_all(sink, rx, spare_tx).await?;
    match parse.join().await? {
        Some(streamed) => Ok(streamed),
        None => Err(Error::Read {
            object: object.to_string(),
            message: "the COPY stopped receiving rows".into(),
            retryable: true,
        }),
    }
}

/// The encoder's side of [`stream_into`]: reads, hashes, encodes, sets the
/// rejects aside and hands full buffers to the COPY side.
struct Encoding {
    opened: Opened,
    options: EncodeOptions,
    object: String,
    full: mpsc::Sender<Bytes>,
    spare: mpsc::Receiver<BytesMut>,
}

impl Encoding {
    /// `None` when the COPY side stopped first: its error is the one to report.
    async fn run(mut self) -> Result<Option<Streamed>> {
        let compressed = self.opened.compressed;
        let mut encoder = Encoder::new(self.options.clone());
        let mut input = BytesMut::with_capacity(READ_CHUNK);
        let mut out = fresh_buffer();
        let mut hasher = xxhash_rust::xxh3::Xxh3Default::new();
        let mut rejects = Rejects::default();
        loop {
            input.clear();
            input.reserve(READ_CHUNK);
            let n = self
                .opened
                .reader
                .read_buf(&mut input)
                .await
                .map_err(|e| crate::source::read_error(&self.object, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&input);
            if let Err(fault) = encoder.encode(&input, &mut out) {
                return Err(self.bad_data(compressed, fault).await);
            }
            self.set_aside(&mut rejects, encoder.take_rejects())?;
            if out.len() >= FLUSH_BYTES {
                let next = self.spare.try_recv().unwrap_or_else(|_| fresh_buffer());
                let full = std::mem::replace(&mut out, next);
                if self.full.send(full.freeze()).await.is_err() {
                    return Ok(None);
                }
            }
        }
        let mut summary = match encoder.finish(&mut out) {
            Ok(summary) => summary,
            Err(fault) => return Err(self.bad_data(compressed, fault).await),
        };
        self.set_aside(&mut rejects, std::mem::take(&mut summary.rejects))?;
        if !out.is_empty() && self.full.send(out.freeze()).await.is_err() {
            return Ok(None);
        }
        Ok(Some(Streamed {
            summary,
            rejects,
            content_hash: hasher.digest128(),
        }))
    }

    fn set_aside(&self, rejects: &mut Rejects, taken: Vec<Reject>) -> Result<()> {
        taken
            .into_iter()
            .try_for_each(|r| rejects.push(r))
            .map_err(|e| Error::Rejects {
                object: self.object.clone(),
                message: e.to_string(),
            })
    }

    async fn bad_data(&mut self, compressed: bool, fault: EncodeFault) -> Error {
        bad_data(&mut self.opened.reader, compressed, &self.object, fault).await
    }
}

/// An empty buffer for encoded rows.
fn fresh_buffer() -> BytesMut {
    BytesMut::with_capacity(FLUSH_BYTES + FLUSH_BYTES / 2)
}

/// The COPY side of [`stream_into`]: sends each buffer, and hands back
/// those the connection has copied out.
async fn send_all(
    sink: &mut CopySink,
    mut full: mpsc::Receiver<Bytes>,
    spare: mpsc::Sender<BytesMut>,
) -> Result<()> {
    let mut in_flight = std::collections::VecDeque::new();
    while let Some(chunk) = full.recv().await {
        in_flight.push_back(chunk.clone());
        sink.send(chunk).await?;
        // The connection copies each message into its own write buffer, so
        // older chunks become ours alone again soon; hand those back.
        while let Some(oldest) = in_flight.pop_front() {
            match oldest.try_into_mut() {
                Ok(mut buf) => {
                    buf.clear();
                    let _ = spare.try_send(buf);
                }
                Err(shared) if in_flight.len() < RECYCLED_BUFFERS => {
                    in_flight.push_front(shared);
                    break;
                }
                // Still shared after many messages: let it go.
                Err(_) => {}
            }
        }
    }
    Ok(())
}

/// Aborts the encoder task when the load is dropped (deadline, error).
struct AbortOnDrop(tokio::task::JoinHandle<Result<Option<Streamed>>>);

impl AbortOnDrop {
    async fn join(mut self) -> Result<Option<Streamed>> {
        let handle = &mut self.0;
        match handle.await {
            Ok(result) => result,
            Err(e) => Err(Error::Read {
                object: String::new(),
                message: format!("encoder task ended abnormally: {e}"),
                retryable: false,
            }),
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
