//! What the encoder writes and how: the COPY format, the limits, the
//! header contract.

use crate::contract::Contract;

use super::MaxRejects;

/// The COPY wire format the encoder writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CopyFormat {
    /// `COPY ... (FORMAT binary)`: typed values, no escaping. The default:
    /// measured cheaper for the server (see BENCHMARKS.md).
    #[default]
    Binary,
    /// `COPY ... (FORMAT text)`: tab-separated, backslash-escaped.
    Text,
}

impl CopyFormat {
    /// The `FORMAT` option of the COPY statement.
    pub fn sql_option(self) -> &'static str {
        match self {
            CopyFormat::Binary => "binary",
            CopyFormat::Text => "text",
        }
    }
}

/// What the encoder does, beyond parsing.
#[derive(Clone, Debug)]
pub struct EncodeOptions {
    /// Output format.
    pub format: CopyFormat,
    /// Appended to every row as the `load_id` column when set.
    pub load_id: Option<i64>,
    /// Bad rows tolerated (and reported in [`Summary::rejects`]) before the
    /// object fails.
    pub max_rejects: MaxRejects,
    /// A record whose unescaped fields are longer than this is a bad row.
    /// Bounds memory: no staging column legitimately holds megabytes.
    /// With `max_rejects` 0 it fails the object as soon as it is passed.
    pub max_record_bytes: usize,
    /// Which header columns are required, their aliases, plausible dates.
    pub contract: Contract,
}

/// Chosen generously above any real retail row (a few hundred bytes) while
/// keeping a hostile 100 MB field from being buffered.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

/// Headers wider than this are refused before anything is mapped.
pub const MAX_HEADER_FIELDS: usize = 1024;

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            format: CopyFormat::Binary,
            load_id: None,
            max_rejects: MaxRejects::NONE,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            contract: Contract::default(),
        }
    }
}
