//! The SQL in `sql/`, embedded in the binary: `loader init` applies it and
//! `loader verify` runs the reconciliation, with no files to ship.

use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::error::{Error, Result};

/// Tables, sequence, ledger (`sql/db_initiation.sql`).
pub const INITIATION_SQL: &str = include_str!("../../sql/db_initiation.sql");
/// The batch trigger (`sql/db_transformation.sql`).
pub const TRANSFORMATION_SQL: &str = include_str!("../../sql/db_transformation.sql");
/// The reconciliation (`sql/verify.sql`).
pub const VERIFY_SQL: &str = include_str!("../../sql/verify.sql");
/// The distribution on Citus (`sql/citus.sql`), applied by init where the
/// extension is installed.
pub const CITUS_SQL: &str = include_str!("../../sql/citus.sql");
/// The least-privilege roles (`sql/roles.sql`), applied only on request.
pub const ROLES_SQL: &str = include_str!("../../sql/roles.sql");

/// The first statements of both schema files' transactions: the pinned
/// search_path, the lock timeout and the init lock (`sql/lock_for_init.sql`).
const LOCK_FOR_INIT_SQL: &str = include_str!("../../sql/lock_for_init.sql");

/// A file's transaction body as the loader runs it in a transaction of its
/// own: `\ir lock_for_init.sql` is inlined where it stands, the file's own
/// `BEGIN;` and `COMMIT;` and the other meta-commands only psql understands
/// are removed.
fn without_meta_commands(sql: &str) -> String {
    sql.lines()
        .filter_map(|l| match l.trim() {
            "\\ir lock_for_init.sql" => Some(LOCK_FOR_INIT_SQL),
            "BEGIN;" | "COMMIT;" => None,
            meta if meta.starts_with('\\') => None,
            _ => Some(l),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Tries of an init that lost a race with another one on an empty
/// database (both created the same catalog row; the loser's transaction
/// rolled back whole). The second try finds the tables and locks them.
const INIT_TRIES: u32 = 3;

/// How long `init` waits for running loads by default.
pub const DEFAULT_INIT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// Applies the schema and the trigger ([`init_waiting`] with the default
/// lock timeout, 30 s).
///
/// # Errors
/// [`Error::Database`].
pub async fn init(client: &mut Client) -> Result<()> {
    init_waiting(client, DEFAULT_INIT_LOCK_TIMEOUT).await
}

/// Applies the schema and the trigger. Idempotent: existing tables and
/// their data are kept, the trigger function is replaced. Each file runs
/// in one transaction (so also through a transaction-mode pooler) whose
/// statements after the lock timeout pin its search_path
/// (`sql/lock_for_init.sql`), so no object of another role takes part,
/// whenever it is created. Every lock wait is bounded by `lock_timeout`;
/// past it the error names who holds the table.
///
/// # Errors
/// [`Error::Database`].
pub async fn init_waiting(client: &mut Client, lock_timeout: Duration) -> Result<()> {
    for (name, sql) in [
        ("applying sql/db_initiation.sql", INITIATION_SQL),
        ("applying sql/db_transformation.sql", TRANSFORMATION_SQL),
    ] {
        let body = without_meta_commands(sql);
        let mut tries = 0;
        loop {
            tries += 1;
            match apply(client, &body, lock_timeout).await {
                Ok(()) => break,
                Err(e) if tries < INIT_TRIES && lost_a_race(&e) => {}
                Err(e) => return Err(Error::db("loader init", name, e)),
            }
        }
    }
    if citus_installed(client).await? {
        apply(client, &without_meta_commands(CITUS_SQL), lock_timeout)
            .await
            .map_err(|e| Error::db("loader init", "applying sql/citus.sql", e))?;
    }
    Ok(())
}

/// Whether the database has the citus extension: then init distributes
/// the star schema (`sql/citus.sql`). Nothing else differs.
async fn citus_installed(client: &mut Client) -> Result<bool> {
    let checking = |e| Error::db("loader init", "looking for the citus extension", e);
    let tx = client.transaction().await.map_err(checking)?;
    let installed = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension
                            WHERE extname OPERATOR(pg_catalog.=) 'citus')",
            &[],
        )
        .await
        .map(|row| row.get(0))
        .map_err(checking)?;
    tx.commit().await.map_err(checking)?;
    Ok(installed)
}

/// One file's body in a transaction of its own, with its lock timeout
/// (bound, transaction-local).
async fn apply(
    client: &mut Client,
    body: &str,
    lock_timeout: Duration,
) -> std::result::Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_catalog.set_config('lock_timeout', $1, true)",
        &[&crate::db::lock_timeout_setting(lock_timeout)],
    )
    .await?;
    tx.batch_execute(body).await?;
    tx.commit().await
}

/// Two first inits of an empty database, side by side: one creates a
/// catalog row the other created meanwhile.
fn lost_a_race(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::T_R_DEADLOCK_DETECTED
    ) || e
        .as_db_error()
        .is_some_and(|d| d.message().contains("tuple concurrently updated"))
}

/// Applies `sql/roles.sql` (`loader init --roles`): the least-privilege
/// role.
///
/// # Errors
/// [`Error::Database`].
pub async fn roles(client: &mut Client) -> Result<()> {
    apply(
        client,
        &without_meta_commands(ROLES_SQL),
        DEFAULT_INIT_LOCK_TIMEOUT,
    )
    .await
    .map_err(|e| Error::db("loader init --roles", "applying sql/roles.sql", e))
}

/// One line of the reconciliation report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What is checked.
    pub name: String,
    /// The figures.
    pub detail: String,
    /// Whether it holds.
    pub ok: bool,
}

/// Runs `sql/verify.sql`'s checks and returns every line of its report.
///
/// # Errors
/// [`Error::Database`] when the checks cannot run (schema missing).
pub async fn verify(client: &Client) -> Result<Vec<Check>> {
    let sql = without_meta_commands(VERIFY_SQL);
    // Read the report, then end the read-only snapshot ourselves: the
    // script's final assertion is for psql users.
    let report = match sql.find("DO $verify$") {
        Some(at) => &sql[..at],
        None => &sql[..],
    };
    let messages = client.simple_query(report).await;
    if messages.is_err() {
        let _ = client.batch_execute("ROLLBACK").await;
    }
    let messages = messages.map_err(|e| {
        if e.code() == Some(&SqlState::UNDEFINED_TABLE) {
            Error::Schema(format!(
                "loader verify: this database has no loader schema ({})",
                e.as_db_error().map_or("", |d| d.message())
            ))
        } else {
            Error::db("loader verify", "running sql/verify.sql", e)
        }
    })?;
    client
        .batch_execute("ROLLBACK")
        .await
        .map_err(|e| Error::db("loader verify", "ending verify", e))?;
    let checks = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(Check {
                name: row.get(0).unwrap_or_default().to_string(),
                detail: row.get(1).unwrap_or_default().to_string(),
                ok: row.get(2) == Some("ok"),
            }),
            _ => None,
        })
        .collect();
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_commands_are_stripped() {
        assert!(VERIFY_SQL.contains("\\set"));
        assert!(!without_meta_commands(VERIFY_SQL).contains("\\set"));
        assert!(VERIFY_SQL.contains("DO $verify$"));
        for file in [INITIATION_SQL, TRANSFORMATION_SQL] {
            let inlined = without_meta_commands(file);
            assert!(!inlined.lines().any(|l| l.trim_start().starts_with('\\')));
            assert!(!inlined.contains("\nBEGIN;") && !inlined.contains("\nCOMMIT;"));
            assert!(inlined.contains("\n-- The first statements"));
            assert!(inlined.contains("\nSET LOCAL search_path = pg_catalog, pg_temp;\n"));
        }
    }
}
