//! Streams retail transaction CSVs from S3 (or files, stdin) into a
//! PostgreSQL star schema.
//!
//! The path of one object, left to right:
//! [`source`] (S3 GetObject stream, file, stdin; gzip, zstd, charsets) ->
//! [`encode`] (csv-core push parser -> validated COPY rows) ->
//! [`copy`] (COPY FROM STDIN into `staging_table`, whose statement-level
//! trigger normalizes the batch into the star schema) ->
//! [`ledger`] (exactly once per object version), all in the one transaction
//! of [`load`].
//!
//! ```no_run
//! # async fn run() -> loader::Result<()> {
//! use loader::{Db, DbConfig, LoadOptions, Loader, Source};
//!
//! let db = Db::new(DbConfig::from_env()?);
//! let mut loader = Loader::new(db, None, LoadOptions::default());
//! let report = loader.load(&Source::File("part-00001.csv".into())).await?;
//! println!("{} rows in {:?}", report.rows, report.duration);
//! # Ok(()) }
//! ```

pub mod alloc;
pub mod auth;
pub mod columns;
pub mod contract;
pub mod copy;
pub mod db;
pub mod decode;
pub mod encode;
pub mod error;
pub mod event;
pub mod handler;
pub mod init_error;
pub mod lambda;
pub mod ledger;
pub mod load;
pub mod metrics;
pub mod outcome;
pub mod rejects;
pub mod schema;
pub mod settings;
pub mod source;
pub mod value;

pub use contract::{Contract, DateWindow, HeaderContract};
pub use db::{Db, DbConfig, SslMode};
pub use encode::{CopyFormat, EncodeFault, EncodeOptions, Encoder, MaxRejects, Reject, Summary};
pub use error::{Error, Result};
pub use load::{LoadOptions, LoadReport, Loader, Outcome};
pub use settings::{InputSettings, LoadSettings};
pub use source::{transcode, ByteCounter, ReadOptions, Source, ZSTD_WINDOW_LOG_MAX};
