//! The loader's encoder, compiled from the loader's own source files.
//!
//! `encode.rs` and `decode.rs` are pure (CSV bytes in, COPY bytes out) and
//! depend only on `columns.rs`, `value.rs`, `bytes` and `csv-core`. Building
//! the whole `loader` crate for fuzzing would also compile the AWS SDK,
//! rustls and the PostgreSQL client with coverage instrumentation (many
//! minutes on a 2-core machine, for code the target never calls); including
//! the same files by path keeps the fuzz build to a few seconds while
//! fuzzing exactly the code that ships. If `encode.rs` ever starts using
//! another loader module, this file fails to compile and must include it.

#[path = "../../loader/src/columns.rs"]
pub mod columns;
#[path = "../../loader/src/decode.rs"]
pub mod decode;
#[path = "../../loader/src/encode.rs"]
pub mod encode;
#[path = "../../loader/src/value.rs"]
pub mod value;

pub use encode::{CopyFormat, EncodeFault, EncodeOptions, Encoder, Reject, Summary};
