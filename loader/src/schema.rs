//! The SQL in `sql/`, embedded in the binary: `loader init` applies it and
//! `loader verify` runs the reconciliation, with no files to ship.

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::error::{Error, Result};

/// Tables, sequence, ledger (`sql/db_initiation.sql`).
pub const INITIATION_SQL: &str = include_str!("../../sql/db_initiation.sql");
/// The batch trigger (`sql/db_transformation.sql`).
pub const TRANSFORMATION_SQL: &str = include_str!("../../sql/db_transformation.sql");
/// The reconciliation (`sql/verify.sql`).
pub const VERIFY_SQL: &str = include_str!("../../sql/verify.sql");
/// The least-privilege roles (`sql/roles.sql`), applied only on request.
pub const ROLES_SQL: &str = include_str!("../../sql/roles.sql");

/// The init lock the two schema files include right after `BEGIN`
/// (`sql/lock_for_init.sql`).
const LOCK_FOR_INIT_SQL: &str = include_str!("../../sql/lock_for_init.sql");

/// A file as the server runs it without psql: `\ir lock_for_init.sql` is
/// inlined where it stands (it belongs inside the file's transaction); the
/// other meta-commands only psql understands are removed, among them the
/// `\ir` of the foreign-code guard, which [`refuse_foreign_code`] runs first.
fn without_meta_commands(sql: &str) -> String {
    sql.lines()
        .filter_map(|l| match l.trim() {
            "\\ir lock_for_init.sql" => Some(LOCK_FOR_INIT_SQL),
            meta if meta.starts_with('\\') => None,
            _ => Some(l),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Applies the schema and the trigger. Idempotent: existing tables and
/// their data are kept, the trigger function is replaced.
///
/// # Errors
/// [`Error::Database`].
pub async fn init(client: &Client) -> Result<()> {
    refuse_foreign_code(client, "loader init").await?;
    for (name, sql) in [
        ("applying sql/db_initiation.sql", INITIATION_SQL),
        ("applying sql/db_transformation.sql", TRANSFORMATION_SQL),
    ] {
        client
            .batch_execute(&without_meta_commands(sql))
            .await
            .map_err(|e| Error::db("loader init", name, e))?;
    }
    Ok(())
}

/// The guard the other files run first (`sql/refuse_foreign_code.sql`).
pub const REFUSE_FOREIGN_CODE_SQL: &str = include_str!("../../sql/refuse_foreign_code.sql");

/// Refuses to run the owner's SQL (`what`) where another role has put
/// functions, operators or tables in the schemas it resolves names in
/// (`sql/refuse_foreign_code.sql` says why). The files include the same
/// guard for psql (`\ir`); here it runs before them, and its refusal
/// becomes a configuration error naming `what` and each object.
///
/// # Errors
/// [`Error::Config`] naming each such object; [`Error::Database`].
pub async fn refuse_foreign_code(client: &Client, what: &str) -> Result<()> {
    let Err(e) = client.batch_execute(REFUSE_FOREIGN_CODE_SQL).await else {
        return Ok(());
    };
    match e.as_db_error() {
        Some(db)
            if db.code() == &SqlState::INSUFFICIENT_PRIVILEGE
                && db.message().starts_with("refuses to run") =>
        {
            Err(Error::Config(format!("{what} {}", db.message())))
        }
        _ => Err(Error::db("-", "looking for other roles' objects", e)),
    }
}

/// Applies `sql/roles.sql` (`loader init --roles`): the least-privilege
/// role, after the same guard as [`init`].
///
/// # Errors
/// [`Error::Config`] from the guard; [`Error::Database`].
pub async fn roles(client: &Client) -> Result<()> {
    refuse_foreign_code(client, "loader init --roles").await?;
    client
        .batch_execute(&without_meta_commands(ROLES_SQL))
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
    refuse_foreign_code(client, "loader verify").await?;
    let sql = without_meta_commands(VERIFY_SQL);
    // Read the report, then end the read-only snapshot ourselves: the
    // script's final assertion is for psql users.
    let report = match sql.find("DO $verify$") {
        Some(at) => &sql[..at],
        None => &sql[..],
    };
    let messages = client.simple_query(report).await.map_err(|e| {
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
            assert!(!inlined.contains("\\ir"));
            assert!(
                inlined.contains("BEGIN;\nSET LOCAL client_min_messages = warning;\n\n-- One init")
            );
        }
    }
}
