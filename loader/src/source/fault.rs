//! Why reading an object's bytes failed, decided once, by the layer where
//! it happens, and carried up through `std::io::Error` to [`read_error`]:
//!
//! - the raw layer (`Counted`) knows the source: a failure of S3's body may
//!   be retried, one of a local file or stdin not; and it knows the size the
//!   source announced, so a body that ends short is [`ReadFault::Truncated`];
//! - the decompressor's and the charset decoder's layers know the content:
//!   what they refuse is [`ReadFault::Content`], never retried.

use crate::encode::EncodeFault;
use crate::error::Error;

/// A read failure's kind.
#[derive(Debug)]
pub enum ReadFault {
    /// The bytes are not a readable object (a corrupt gzip or zstd stream,
    /// a decompression bomb, text the declared charset cannot decode): bad
    /// data; the same bytes fail the same way.
    Content(String),
    /// The source failed under the object (the network, the disk).
    Transport {
        /// What the source said.
        message: String,
        /// S3's body can be read again; a file's or stdin's read error is final.
        retryable: bool,
    },
    /// The compressed stream ends early although the whole body arrived:
    /// the object itself is cut short. Final, but not bad data: the bytes
    /// that are there are sound.
    Ended(String),
    /// The body ended before the size its source announced: a cut
    /// connection, read again.
    Truncated {
        /// Bytes that arrived.
        got: u64,
        /// Bytes announced.
        expected: u64,
    },
}

impl std::fmt::Display for ReadFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadFault::Content(message)
            | ReadFault::Ended(message)
            | ReadFault::Transport { message, .. } => f.write_str(message),
            ReadFault::Truncated { got, expected } => {
                write!(f, "the body ended after {got} of {expected} bytes")
            }
        }
    }
}

impl std::error::Error for ReadFault {}

impl ReadFault {
    /// As an I/O error, to pass through the reader layers above.
    pub(crate) fn into_io(self) -> std::io::Error {
        let kind = match self {
            ReadFault::Content(_) => std::io::ErrorKind::InvalidData,
            ReadFault::Transport { .. } => std::io::ErrorKind::Other,
            ReadFault::Ended(_) | ReadFault::Truncated { .. } => std::io::ErrorKind::UnexpectedEof,
        };
        std::io::Error::new(kind, self)
    }

    /// The fault an I/O error carries, if a layer of this module made it.
    pub(crate) fn of(e: &std::io::Error) -> Option<&ReadFault> {
        e.get_ref().and_then(|inner| inner.downcast_ref())
    }
}

/// Bad content, as an I/O error (the charset decoder's refusals).
pub(crate) fn content_fault(message: String) -> std::io::Error {
    ReadFault::Content(message).into_io()
}

/// The load's error for a failed read of `object`: bad content is
/// [`Error::Data`]; the rest is [`Error::Read`], retryable as its layer
/// decided. An error no layer marked is final.
pub fn read_error(object: &str, e: std::io::Error) -> Error {
    let (message, retryable) = match ReadFault::of(&e) {
        Some(ReadFault::Content(message)) => {
            return Error::Data {
                object: object.to_string(),
                fault: Box::new(EncodeFault::Input(message.clone())),
            }
        }
        Some(ReadFault::Transport { message, retryable }) => (message.clone(), *retryable),
        Some(ReadFault::Ended(message)) => (message.clone(), false),
        Some(truncated @ ReadFault::Truncated { .. }) => (truncated.to_string(), true),
        None => (e.to_string(), false),
    };
    Error::Read {
        object: object.to_string(),
        message,
        retryable,
    }
}
