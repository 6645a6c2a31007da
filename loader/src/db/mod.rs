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

/// `lock_timeout` as PostgreSQL reads it: whole milliseconds, at least 1
/// (0 would mean no bound).
pub fn lock_timeout_setting(timeout: std::time::Duration) -> String {
    format!("{}ms", timeout.as_millis().clamp(1, i32::MAX as u128))
}
