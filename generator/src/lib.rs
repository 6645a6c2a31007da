//! Deterministic mock retail transaction CSVs, written to a local directory or an S3 prefix.
//!
//! The files have the 17 columns of the original pipeline ([`HEADER`]) and exercise what a
//! loader must handle: RFC 4180 quoting (product names with commas and double quotes), guests
//! with empty customer fields, dimension attributes that disagree across rows ([`Spec::drift`])
//! and bad rows of known kinds listed in a manifest ([`Spec::dirty`], [`Manifest`]).
//!
//! Output is a pure function of the [`Spec`]: the same spec gives byte-identical files. Each
//! file draws from its own stream keyed by (seed, file index), so files are written in
//! parallel; a store's, product's or customer's attributes derive from (seed, id) only, so runs
//! with the same seed agree on them. The random generators are implemented in this crate, so a
//! dependency update never changes the output.
//!
//! - [`generate`] (async) writes all files, `manifest.json`, and returns a [`Summary`] whose
//!   figures (rows, sums in cents, distinct ids) are exact, for comparing with a database.
//! - [`Dataset::write_file`] (sync, no I/O of its own) writes one file's bytes into any
//!   `std::io::Write`, for benches and tests.
//!
//! # Example
//!
//! ```
//! use generator::{Dataset, Spec, HEADER};
//!
//! # fn main() -> Result<(), generator::GenerateError> {
//! let spec = Spec { rows: 1_000, files: 2, ..Spec::default() };
//! let dataset = Dataset::new(&spec)?;
//! let mut csv = Vec::new();
//! let outcome = dataset.write_file(1, &mut csv, None)?;
//! assert!(csv.starts_with(HEADER.as_bytes()));
//! assert_eq!(outcome.summary.file, "part-00002.csv");
//! assert_eq!(outcome.summary.figures.rows, 500);
//! // File 2 continues the ids of file 1.
//! assert_eq!(outcome.summary.figures.min_transaction_id, Some(501));
//! # Ok(())
//! # }
//! ```
//!
//! Writing a whole run from async code:
//!
//! ```no_run
//! # async fn run() -> Result<(), generator::GenerateError> {
//! use generator::{generate, write_summary, Output, Spec};
//!
//! let spec = Spec { rows: 1_000_000, files: 4, dirty: 0.001, ..Spec::default() };
//! let out: Output = "s3://lake/incoming/".parse().expect("valid output");
//! let summary = generate(&spec, &out, None).await?;
//! write_summary(&out, &summary).await?;
//! println!("{summary}");
//! # Ok(())
//! # }
//! ```

mod calendar;
mod catalog;
mod columns;
mod dataset;
mod dirty;
mod error;
mod fields;
mod generate;
mod output;
mod rng;
mod row;
mod s3;
mod sink;
mod spec;
mod summary;
mod words;

pub use calendar::Date;
pub use columns::{COLUMNS, HEADER};
pub use dataset::{Dataset, FileOutcome, CHUNK_BYTES};
pub use dirty::{BadKind, BadRow, Manifest};
pub use error::{GenerateError, ParseError};
pub use generate::{generate, write_summary, MANIFEST_NAME, SUMMARY_NAME};
pub use output::Output;
pub use s3::{s3_client_from_env, PART_BYTES};
pub use spec::{Spec, MAX_CUSTOMERS, MAX_DAYS, MAX_PRODUCTS, MAX_STORES};
pub use summary::{Figures, FileSummary, Summary};
