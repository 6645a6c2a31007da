//! Connection strings: swapping the database name, and describing one without its password.
//!
//! Both forms libpq accepts are handled: URLs (`postgres://user@host:port/db?opts`) and
//! key/value strings (`host=... dbname=...`).

use std::str::FromStr;

use tokio_postgres::config::Host;
use tokio_postgres::Config;

/// Returns `conn` pointing at database `dbname`, every other setting unchanged.
pub(crate) fn with_dbname(conn: &str, dbname: &str) -> String {
    let conn = conn.trim();
    let Some(scheme_end) = ["postgres://", "postgresql://"]
        .iter()
        .find(|scheme| conn.starts_with(*scheme))
        .map(|scheme| scheme.len())
    else {
        // Key/value form: a later setting overrides an earlier one.
        return format!("{conn} dbname={}", quote_keyword_value(dbname));
    };
    let rest = &conn[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(authority_end);
    let query = match after.find(['?', '#']) {
        Some(at) => &after[at..],
        None => "",
    };
    format!(
        "{}{authority}/{}{query}",
        &conn[..scheme_end],
        percent_encode(dbname)
    )
}

/// `user@host:port/dbname` for `conn`, never its password.
pub(crate) fn describe(conn: &str) -> String {
    let Ok(config) = Config::from_str(conn) else {
        return "an unparsable connection string".to_owned();
    };
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("(default user)");
    let dbname = config.get_dbname().unwrap_or("(default database)");
    format!("{user}@{host}:{port}/{dbname}")
}

/// A URL for a server on `host:port`, as `user` (no password), database `dbname`.
pub(crate) fn url(host: &str, port: u16, user: &str, dbname: &str) -> String {
    format!(
        "postgres://{}@{host}:{port}/{}",
        percent_encode(user),
        percent_encode(dbname)
    )
}

/// Percent-encodes everything but unreserved URL characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Quotes a value for a key/value connection string.
fn quote_keyword_value(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
    format!("'{escaped}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_the_database_of_a_url() {
        assert_eq!(
            with_dbname("postgres://u:p@h:5433/old?sslmode=disable", "new_1"),
            "postgres://u:p@h:5433/new_1?sslmode=disable"
        );
        assert_eq!(with_dbname("postgresql://u@h", "n"), "postgresql://u@h/n");
        assert_eq!(
            with_dbname("postgres://u@h?application_name=x", "n"),
            "postgres://u@h/n?application_name=x"
        );
    }

    #[test]
    fn swaps_the_database_of_a_keyword_string() {
        let conn = with_dbname("host=h user=u dbname=old", "new");
        let config = Config::from_str(&conn).expect("valid");
        assert_eq!(config.get_dbname(), Some("new"));
    }

    #[test]
    fn describe_leaves_out_the_password() {
        let text = describe("postgres://alice:secret@db.example:6543/app");
        assert_eq!(text, "alice@db.example:6543/app");
        assert!(!text.contains("secret"));
    }

    #[test]
    fn url_encodes_odd_user_names() {
        assert_eq!(
            url("127.0.0.1", 5432, "a b", "postgres"),
            "postgres://a%20b@127.0.0.1:5432/postgres"
        );
    }
}
