//! Local stand-ins for AWS, for tests, the demo and benchmarks. Real protocols throughout; the
//! Lambda binary never links this crate.
//!
//! - [`s3`]: [`LocalS3`], an S3 API endpoint on 127.0.0.1 (`s3s-fs` over a directory, SigV4
//!   with fixed local credentials), for the real `aws-sdk-s3` client. The `local-s3` binary
//!   runs one in the foreground.
//! - [`faults`]: [`FaultProxy`], a TCP proxy that cuts or throttles connections, for fault
//!   tests.
//! - [`events`]: the S3 and SQS event JSON that AWS would deliver for an upload.
//! - [`pg`]: [`LocalPostgres`] (`DATABASE_URL`, a server on 127.0.0.1:5432, or a throwaway
//!   cluster) and [`TestDb`], a fresh database per test.
//!
//! Servers run on their own threads and runtimes, and constructors are synchronous, so they work
//! from plain `#[test]`s, current-thread `#[tokio::test]`s and `static` initializers alike.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! let s3 = standins::LocalS3::builder().bucket("lake").start()?;
//! let pg = standins::LocalPostgres::shared()?;
//! let db = pg.create_database("example").await?;
//! let client = db.connect().await?;
//! client.batch_execute("CREATE TABLE t (x int)").await?;
//! println!("S3 at {}, database {} on {}", s3.endpoint(), db.name(), pg.describe());
//! # Ok(())
//! # }
//! ```

mod background;
mod blocking;
pub mod events;
pub mod faults;
pub mod pg;
pub mod s3;
mod s3_listing;

pub use faults::{FaultMode, FaultProxy};
pub use pg::{find_psql, psql_command, LocalPostgres, TestDb};
pub use s3::{LocalS3, LocalS3Builder};
