//! [`TestDb`]: a fresh database per test, dropped afterwards.
//!
//! Names are `<prefix>_<pid>_<counter>_<random>`: the counter keeps one process's databases
//! apart, the pid concurrent processes, the random part a later process that got a reused pid
//! while an old database was left behind. Names are always quoted as identifiers; no caller
//! text reaches SQL unquoted.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use super::conninfo;
use crate::blocking::block_on_helper;

/// PostgreSQL truncates identifiers longer than this many bytes.
const MAX_IDENTIFIER_LEN: usize = 63;
/// Room kept for the prefix, so the unique suffix always fits.
const MAX_PREFIX_LEN: usize = 28;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A database created for one test. Dropping it drops the database (`WITH (FORCE)`, so open
/// connections do not block it); that is best effort, never panics, and blocks the dropping
/// thread briefly. Call [`TestDb::cleanup`] instead to see errors.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
    admin_url: String,
    dropped: bool,
}

impl TestDb {
    pub(crate) async fn create(admin_url: &str, server_url: &str, prefix: &str) -> Result<Self> {
        let name = unique_name(prefix);
        let admin = connect(admin_url).await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name)))
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        Ok(Self {
            url: conninfo::with_dbname(server_url, &name),
            admin_url: admin_url.to_owned(),
            name,
            dropped: false,
        })
    }

    /// The database's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A connection string for this database (same server and credentials as the server's).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connects to this database; the connection task is spawned on the current runtime.
    ///
    /// # Errors
    ///
    /// The server cannot be reached or refuses the connection.
    ///
    /// # Panics
    ///
    /// Called outside a tokio runtime.
    pub async fn connect(&self) -> Result<Client> {
        connect(&self.url).await
    }

    /// Drops the database now and reports any error.
    ///
    /// # Errors
    ///
    /// The server cannot be reached or refuses `DROP DATABASE`.
    pub async fn cleanup(mut self) -> Result<()> {
        self.dropped = true;
        drop_database(&self.admin_url, &self.name).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (admin_url, name) = (&self.admin_url, &self.name);
        if let Err(err) = block_on_helper(|| drop_database(admin_url, name)) {
            tracing::warn!(database = %name, error = %format!("{err:#}"), "cannot drop test database");
        }
    }
}

async fn connect(url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("cannot connect to {}", conninfo::describe(url)))?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(%err, "test database connection ended with an error");
        }
    });
    Ok(client)
}

async fn drop_database(admin_url: &str, name: &str) -> Result<()> {
    let admin = connect(admin_url).await?;
    let ident = quote_ident(name);
    let forced = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {ident} WITH (FORCE)"))
        .await;
    match forced {
        // Before PostgreSQL 13 there is no FORCE.
        Err(err) if err.code() == Some(&SqlState::SYNTAX_ERROR) => admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {ident}"))
            .await
            .with_context(|| format!("cannot drop database {name}")),
        other => other.with_context(|| format!("cannot drop database {name}")),
    }
}

/// `prefix` reduced to `[a-z0-9_]`, then `_<pid>_<counter>_<random>`.
fn unique_name(prefix: &str) -> String {
    let mut clean: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(MAX_PREFIX_LEN)
        .collect();
    if clean.is_empty() || clean.starts_with(|c: char| c.is_ascii_digit()) {
        clean.insert_str(0, "t_");
    }
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos()),
    );
    hasher.write_u64(count);
    let random = hasher.finish() & 0xffff_ffff;
    let mut name = format!("{clean}_{}_{count}_{random:08x}", std::process::id());
    name.truncate(MAX_IDENTIFIER_LEN);
    name
}

/// `name` as a quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_clean_unique_and_short() {
        let a = unique_name("Copy Sink; DROP TABLE x --");
        let b = unique_name("Copy Sink; DROP TABLE x --");
        assert_ne!(a, b);
        assert!(a.len() <= MAX_IDENTIFIER_LEN);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        assert!(a.starts_with("copy_sink__drop_table_x"));
        assert!(unique_name("").starts_with("t__"));
        assert!(unique_name("9lives").starts_with("t_9lives_"));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
    }
}
