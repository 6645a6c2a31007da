//! Why the encoder refused a row, or stopped.

use super::MaxRejects;

/// One refused row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// 1-based line where the record starts (the header is line 1).
    pub line: u64,
    /// Where the record's first byte is in the object (0-based; after
    /// decompression, and after transcoding for a non-UTF-8 encoding).
    pub offset: u64,
    /// The staging column, when one field is at fault.
    pub column: Option<&'static str>,
    /// Why.
    pub reason: String,
    /// The offending value, shortened and escaped for display.
    pub value: Option<String>,
    /// The record's bytes exactly as read, without its line terminator
    /// (the first `max_record_bytes` of a longer one), for `load_rejects`.
    pub raw: Vec<u8>,
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(c) = self.column {
            write!(f, ", column {c}")?;
        }
        write!(f, ": {}", self.reason)?;
        if let Some(v) = &self.value {
            write!(f, " (value {v})")?;
        }
        Ok(())
    }
}

/// Why the encoder stopped. The caller adds the object's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeFault {
    /// The header row cannot be mapped onto the staging columns.
    Header(String),
    /// The object has no header row at all.
    Empty,
    /// A bad row with `max_rejects` 0.
    Row(Reject),
    /// More bad rows than `max_rejects`: `rejected` of the `read` data rows
    /// read so far (all of them for a share); the last one is given.
    TooManyRejects {
        max: MaxRejects,
        rejected: u64,
        read: u64,
        last: Box<Reject>,
    },
    /// The bytes cannot be read as CSV at all: a decompression limit, an
    /// undecodable byte sequence.
    Input(String),
}

impl std::fmt::Display for EncodeFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeFault::Header(why) => write!(f, "line 1 (header): {why}"),
            EncodeFault::Empty => write!(f, "empty object: no header row"),
            EncodeFault::Input(why) => write!(f, "{why}"),
            EncodeFault::Row(r) => write!(f, "{r}"),
            EncodeFault::TooManyRejects {
                max,
                rejected,
                read,
                last,
            } => {
                write!(
                    f,
                    "more than {max} bad rows (--max-rejects): {rejected} of {read} rows \
                     read; the last: {last}"
                )
            }
        }
    }
}
