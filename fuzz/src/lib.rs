//! The loader's encoder, compiled from the loader's own source files.
//!
//! `encode.rs` and `decode.rs` are pure (CSV bytes in, COPY bytes out) and
//! depend only on `columns.rs`, `value.rs`, `bytes` and `csv-core`. Building
//! the whole `loader` crate for fuzzing would also compile the AWS SDK,
//! rustls and the PostgreSQL client with coverage instrumentation (many
//! minutes on a 2-core machine, for code the target never calls); including
//! the same files by path keeps the fuzz build to a few seconds while
//! fuzzing exactly the code that ships. If `encode.rs` ever starts using
//! another loader module, this file fails to compile and must include it
//! (`contract.rs` came with the header contract; `error` below stands in for
//! the loader's error type). `transcode.rs`, the decoder of declared
//! encodings that runs before the encoder, comes with `encoding_rs`, tokio's
//! reader trait (no runtime) and a stand-in for the one function it uses
//! from `source/fault.rs`.

#[path = "../../loader/src/columns.rs"]
pub mod columns;
#[path = "../../loader/src/contract.rs"]
pub mod contract;
#[path = "../../loader/src/decode.rs"]
pub mod decode;
#[path = "../../loader/src/encode/mod.rs"]
pub mod encode;
#[path = "../../loader/src/source/transcode.rs"]
pub mod transcode;
#[path = "../../loader/src/value.rs"]
pub mod value;

pub use encode::{CopyFormat, EncodeFault, EncodeOptions, Encoder, MaxRejects, Reject, Summary};

/// What `contract.rs` needs of the loader's error type: the real one also
/// carries database and S3 errors, which would bring their crates here.
pub mod error {
    /// The loader's error, as far as the header contract uses it.
    #[derive(Debug)]
    pub enum Error {
        /// Settings are missing or wrong.
        Config(String),
        /// Stands for the loader's other variants.
        Other,
    }

    impl std::fmt::Display for Error {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Error::Config(m) => write!(f, "configuration: {m}"),
                Error::Other => write!(f, "other"),
            }
        }
    }

    /// Result with [`Error`].
    pub type Result<T, E = Error> = std::result::Result<T, E>;
}

/// What `transcode.rs` needs of its sibling `source/fault.rs`: its mark
/// for bytes that are bad data.
pub mod fault {
    /// An I/O error saying the bytes are not what they were declared to be.
    pub(crate) fn content_fault(message: String) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, message)
    }
}
