//! Connections, one concern per file: [`settings`] reads where and how to
//! connect (`DATABASE_URL` as a URL or libpq's key=value form, or the `PG*`
//! variables), [`tls`] makes the rustls configuration for libpq's
//! `sslmode`, and [`holder`] keeps one connection, replacing it when broken.
//!
//! The password never appears in [`DbConfig::target`], logs or errors.

pub mod holder;
pub mod settings;
pub mod tls;

pub use holder::Db;
pub use settings::{DbConfig, SslMode};
