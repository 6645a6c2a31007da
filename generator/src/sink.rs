//! Output sinks: one writer type for local files and S3 objects, so the same row-writing code
//! feeds both, and the optional gzip layer in front of it.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use aws_sdk_s3::Client;
use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use tokio::runtime::Handle;

use crate::dataset::CHUNK_BYTES;
use crate::error::GenerateError;
use crate::output::Output;
use crate::s3::{put_object, s3_client_from_env, PartWriter};

/// A resolved destination: the directory exists, or the S3 client is built.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    Dir(PathBuf),
    S3 {
        client: Client,
        bucket: String,
        prefix: String,
        /// The runtime the upload tasks run on (writers run on blocking threads).
        runtime: Handle,
    },
}

impl Target {
    /// Creates the directory, or builds the S3 client when the output has none.
    pub(crate) async fn connect(out: &Output) -> Result<Target, GenerateError> {
        match out {
            Output::Dir(dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|source| GenerateError::Write {
                        target: dir.display().to_string(),
                        source,
                    })?;
                Ok(Target::Dir(dir.clone()))
            }
            Output::S3 {
                bucket,
                prefix,
                client,
            } => {
                let client = match client {
                    Some(client) => client.clone(),
                    None => s3_client_from_env().await,
                };
                Ok(Target::S3 {
                    client,
                    bucket: bucket.clone(),
                    prefix: prefix.clone(),
                    runtime: Handle::current(),
                })
            }
        }
    }

    /// A path or `s3://` URL for messages.
    pub(crate) fn locate(&self, name: &str) -> String {
        match self {
            Target::Dir(dir) => dir.join(name).display().to_string(),
            Target::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}{name}"),
        }
    }

    /// Starts writing the file `name`. Blocking: call from a blocking thread.
    pub(crate) fn open(&self, name: &str) -> Result<ObjectWriter, GenerateError> {
        match self {
            Target::Dir(dir) => {
                let path = dir.join(name);
                let file = File::create(&path).map_err(|source| GenerateError::Write {
                    target: path.display().to_string(),
                    source,
                })?;
                Ok(ObjectWriter::Local {
                    file: BufWriter::with_capacity(CHUNK_BYTES, file),
                    path,
                    bytes: 0,
                })
            }
            Target::S3 {
                client,
                bucket,
                prefix,
                runtime,
            } => Ok(ObjectWriter::S3(PartWriter::start(
                runtime,
                client.clone(),
                bucket.clone(),
                format!("{prefix}{name}"),
                content_type(name),
            ))),
        }
    }

    /// Removes what a failed write left behind (S3 uploads abort themselves). Blocking.
    pub(crate) fn discard(&self, name: &str) {
        if let Target::Dir(dir) = self {
            // Best effort: the write error is what the caller reports.
            let _ = std::fs::remove_file(dir.join(name));
        }
    }

    /// Writes a small object (a JSON document) in one request.
    pub(crate) async fn put(&self, name: &str, body: Vec<u8>) -> Result<(), GenerateError> {
        match self {
            Target::Dir(dir) => {
                let path = dir.join(name);
                tokio::fs::write(&path, body)
                    .await
                    .map_err(|source| GenerateError::Write {
                        target: path.display().to_string(),
                        source,
                    })
            }
            Target::S3 {
                client,
                bucket,
                prefix,
                ..
            } => {
                let key = format!("{prefix}{name}");
                put_object(client, bucket, &key, content_type(name), Bytes::from(body)).await
            }
        }
    }
}

fn content_type(name: &str) -> &'static str {
    if name.ends_with(".gz") {
        "application/gzip"
    } else if name.ends_with(".json") {
        "application/json"
    } else {
        "text/csv"
    }
}

/// The bytes of one file on their way to a local file or an S3 object.
pub(crate) enum ObjectWriter {
    Local {
        file: BufWriter<File>,
        path: PathBuf,
        bytes: u64,
    },
    S3(PartWriter),
}

impl ObjectWriter {
    /// Completes the file (flush, or the last part and the upload's end) and returns its
    /// stored size. Blocking.
    pub(crate) fn finish(self) -> Result<u64, GenerateError> {
        match self {
            ObjectWriter::Local {
                mut file,
                path,
                bytes,
            } => {
                file.flush().map_err(|source| GenerateError::Write {
                    target: path.display().to_string(),
                    source,
                })?;
                Ok(bytes)
            }
            ObjectWriter::S3(parts) => parts.finish(),
        }
    }
}

impl Write for ObjectWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            ObjectWriter::Local { file, bytes, .. } => {
                let written = file.write(data)?;
                *bytes += written as u64;
                Ok(written)
            }
            ObjectWriter::S3(parts) => parts.write(data),
        }
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            ObjectWriter::Local { file, bytes, .. } => {
                file.write_all(data)?;
                *bytes += data.len() as u64;
                Ok(())
            }
            ObjectWriter::S3(parts) => parts.write_all(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            ObjectWriter::Local { file, .. } => file.flush(),
            ObjectWriter::S3(parts) => parts.flush(),
        }
    }
}

/// Plain bytes, or gzip at the fastest level (the loader's tests want `.csv.gz` objects, not
/// small ones).
pub(crate) enum Encoder<W: Write> {
    Plain(W),
    Gzip(GzEncoder<W>),
}

impl<W: Write> Encoder<W> {
    pub(crate) fn new(inner: W, gzip: bool) -> Encoder<W> {
        if gzip {
            Encoder::Gzip(GzEncoder::new(inner, Compression::fast()))
        } else {
            Encoder::Plain(inner)
        }
    }

    /// Writes the gzip trailer, if any, and returns the inner writer.
    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Plain(inner) => Ok(inner),
            Encoder::Gzip(gz) => gz.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Plain(inner) => inner.write(data),
            Encoder::Gzip(gz) => gz.write(data),
        }
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Plain(inner) => inner.write_all(data),
            Encoder::Gzip(gz) => gz.write_all(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Plain(inner) => inner.flush(),
            Encoder::Gzip(gz) => gz.flush(),
        }
    }
}
