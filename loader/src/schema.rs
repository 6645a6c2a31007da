//! The SQL in `sql/`, embedded in the binary: `loader init` applies it and
//! `loader verify` runs the reconciliation, with no files to ship.

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

/// Removes psql meta-commands (`\set ...`), which only psql understands.
fn without_meta_commands(sql: &str) -> String {
    sql.lines()
        .filter(|l| !l.trim_start().starts_with('\\'))
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
            .map_err(|e| Error::db("-", name, e))?;
    }
    Ok(())
}

/// Functions, operators and relations in the session's schemas owned by a
/// role that is neither this one nor a superuser (an extension's objects
/// are its installer's: a superuser, or this role).
/// Every operator below is named with its schema, so the query itself
/// cannot be redirected.
const FOREIGN_CODE_SQL: &str = "
SELECT 'function', n.nspname::pg_catalog.text,
       p.proname::pg_catalog.text OPERATOR(pg_catalog.||) '('
           OPERATOR(pg_catalog.||) pg_catalog.pg_get_function_identity_arguments(p.oid)
           OPERATOR(pg_catalog.||) ')',
       r.rolname::pg_catalog.text, p.oid
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) p.proowner
WHERE n.nspname OPERATOR(pg_catalog.=) ANY (pg_catalog.current_schemas(false))
  AND NOT r.rolsuper AND r.rolname OPERATOR(pg_catalog.<>) CURRENT_USER
UNION ALL
SELECT 'operator', n.nspname::pg_catalog.text,
       o.oprname::pg_catalog.text OPERATOR(pg_catalog.||) '('
           OPERATOR(pg_catalog.||) pg_catalog.format_type(o.oprleft, NULL)
           OPERATOR(pg_catalog.||) ','
           OPERATOR(pg_catalog.||) pg_catalog.format_type(o.oprright, NULL)
           OPERATOR(pg_catalog.||) ')',
       r.rolname::pg_catalog.text, o.oid
FROM pg_catalog.pg_operator o
JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) o.oprnamespace
JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) o.oprowner
WHERE n.nspname OPERATOR(pg_catalog.=) ANY (pg_catalog.current_schemas(false))
  AND NOT r.rolsuper AND r.rolname OPERATOR(pg_catalog.<>) CURRENT_USER
UNION ALL
SELECT 'relation', n.nspname::pg_catalog.text, c.relname::pg_catalog.text,
       r.rolname::pg_catalog.text, c.oid
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) c.relowner
WHERE n.nspname OPERATOR(pg_catalog.=) ANY (pg_catalog.current_schemas(false))
  AND NOT r.rolsuper AND r.rolname OPERATOR(pg_catalog.<>) CURRENT_USER
ORDER BY 1, 2, 3";

/// Refuses to run the owner's SQL (`what`) where another role has put
/// functions, operators or tables in the schemas it resolves names in:
/// where PUBLIC may CREATE in `public` (every database from before
/// PostgreSQL 15), the loader's role could define an operator that matches
/// an expression of these files more exactly than the built-in one (say
/// `oid = regclass`) and have it run with the owner's rights. The
/// SECURITY DEFINER functions pin their search_path; the files themselves
/// run in the caller's session, so they are checked here, first.
///
/// # Errors
/// [`Error::Config`] naming each such object; [`Error::Database`].
pub async fn refuse_foreign_code(client: &Client, what: &str) -> Result<()> {
    let rows = client
        .query(FOREIGN_CODE_SQL, &[])
        .await
        .map_err(|e| Error::db("-", "looking for other roles' objects", e))?;
    if rows.is_empty() {
        return Ok(());
    }
    let found: Vec<String> = rows
        .iter()
        .map(|r| {
            let (kind, schema, name, owner): (String, String, String, String) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            format!("{kind} {schema}.{name} (owner {owner})")
        })
        .collect();
    Err(Error::Config(format!(
        "{what} refuses to run: other roles own objects in the schemas its SQL resolves \
         names in, which could take it over with this role's rights: {}. Drop them (and \
         REVOKE CREATE ON SCHEMA public FROM PUBLIC, PostgreSQL 15's default) and run it again",
        found.join(", ")
    )))
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
    let messages = client
        .simple_query(report)
        .await
        .map_err(|e| Error::db("-", "running sql/verify.sql", e))?;
    client
        .batch_execute("ROLLBACK")
        .await
        .map_err(|e| Error::db("-", "ending verify", e))?;
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
    }
}
