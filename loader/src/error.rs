//! The one error type. Every variant knows whether retrying can help, and
//! names the object (and for bad data the line, column and value).

use std::time::Duration;

use tokio_postgres::error::SqlState;

use crate::encode::fault::EncodeFault;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a load.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object's content is wrong. Never retried: the same bytes fail
    /// the same way.
    #[error("{object}: {fault}")]
    Data {
        /// The object, e.g. `s3://bucket/key`.
        object: String,
        /// What and where (boxed: it is large and errors travel by value).
        fault: Box<EncodeFault>,
    },

    /// PostgreSQL refused or lost a statement.
    #[error("{object}: {context}: {message}")]
    Database {
        /// The object being loaded, or `-` outside a load.
        object: String,
        /// What was being done.
        context: &'static str,
        /// The server's message with SQLSTATE, detail and hint.
        message: String,
        /// The SQLSTATE, when the server sent one.
        code: Option<SqlState>,
        /// The client's error, for `source()`.
        #[source]
        source: tokio_postgres::Error,
    },

    /// Could not open a connection.
    #[error("connecting to PostgreSQL at {target}: {message}")]
    Connect {
        /// Host, port, database and user (never the password).
        target: String,
        /// Why.
        message: String,
        /// Whether another try may work (network, server starting up).
        retryable: bool,
    },

    /// An S3 request failed.
    #[error("{object}: S3 {operation} failed: {message}")]
    S3 {
        /// The object.
        object: String,
        /// `GetObject`, `ListObjectsV2`, ...
        operation: &'static str,
        /// The service's code and message.
        message: String,
        /// HTTP status, when a response came back.
        status: Option<u16>,
        /// 5xx, throttling, timeouts and dropped connections are.
        retryable: bool,
    },

    /// Reading the object's bytes failed after the request succeeded.
    #[error("{object}: reading the object: {message}")]
    Read {
        /// The object.
        object: String,
        /// Why.
        message: String,
        /// A cut connection is; a corrupt gzip stream is not.
        retryable: bool,
    },

    /// The refused rows could not be set aside in, or read back from, their
    /// temporary file (the machine's temporary directory: full, missing or
    /// not writable). Retried: the space may be free again.
    #[error("{object}: setting the rejects aside in a temporary file: {message}")]
    Rejects {
        /// The object.
        object: String,
        /// Why.
        message: String,
    },

    /// The load was stopped to leave the invocation time to report.
    #[error("{object}: stopped {margin:?} before the invocation deadline; nothing was committed")]
    Deadline {
        /// The object.
        object: String,
        /// How long before the deadline it stopped.
        margin: Duration,
    },

    /// Settings are missing or wrong.
    #[error("configuration: {0}")]
    Config(String),

    /// The database's schema is missing or older than this loader.
    #[error("{0}: run `loader init` (as the schema's owner) to install or upgrade it")]
    Schema(String),

    /// The database and the loader disagree about what happened (a count,
    /// a claim): something other than this loader changed the load.
    #[error("{object}: {message}")]
    Protocol {
        /// The object.
        object: String,
        /// What disagreed.
        message: String,
    },
}

/// The context of a COPY FROM STDIN refused at its start.
pub(crate) const STARTING_COPY: &str = "starting COPY";

impl Error {
    /// Whether the same load may succeed if tried again (after a backoff and,
    /// for connection errors, a new connection).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Data { .. } | Error::Config(_) | Error::Schema(_) | Error::Protocol { .. } => {
                false
            }
            Error::Database { code, source, .. } => match code {
                Some(code) => is_retryable_sqlstate(code),
                // No SQLSTATE: the connection broke or a socket error.
                None => source.is_closed() || source.as_db_error().is_none(),
            },
            Error::Connect { retryable, .. }
            | Error::S3 { retryable, .. }
            | Error::Read { retryable, .. } => *retryable,
            Error::Rejects { .. } => true,
            // Retrying would run into the same deadline.
            Error::Deadline { .. } => false,
        }
    }

    /// Another session holds a claim on the same object and did not end
    /// within the lock timeout: the object is being loaded elsewhere. Its
    /// outcome is that load's; this one is retried by the usual policy but
    /// not recorded as a failure.
    pub fn being_loaded_elsewhere(&self) -> bool {
        matches!(
            self,
            Error::Database { context, code: Some(code), .. }
                if *context == CLAIMING && *code == SqlState::LOCK_NOT_AVAILABLE
        )
    }

    /// The SQLSTATE of a database error.
    pub fn sqlstate(&self) -> Option<&SqlState> {
        match self {
            Error::Database { code, .. } => code.as_ref(),
            _ => None,
        }
    }

    /// Whether the database connection should be replaced before going on.
    pub fn breaks_connection(&self) -> bool {
        match self {
            Error::Database {
                source,
                code,
                context,
                ..
            } => {
                source.is_closed()
                    // A COPY FROM STDIN that the server refuses at its start
                    // (a lock timeout, a deadlock) leaves tokio-postgres's
                    // connection out of step: the next statement on it gets
                    // "unexpected message from server" (faults.rs).
                    || *context == STARTING_COPY
                    || code.is_none()
                    || code.as_ref().is_some_and(|c| c.code().starts_with("08"))
                    || code.as_ref() == Some(&SqlState::ADMIN_SHUTDOWN)
            }
            Error::Connect { .. } => true,
            // A COPY stopped midway by the content or the source: the sink
            // sent CopyFail and the transaction its ROLLBACK back to back.
            // Through PgBouncer in transaction mode the next statement on
            // that connection sometimes never got an answer (pooler.rs).
            Error::Data { .. } | Error::Read { .. } | Error::Rejects { .. } => true,
            _ => false,
        }
    }

    /// Wraps a PostgreSQL error with what was being done.
    pub fn db(object: &str, context: &'static str, source: tokio_postgres::Error) -> Self {
        Error::Database {
            object: object.to_string(),
            context,
            message: describe_pg_error(&source),
            code: source.code().cloned(),
            source,
        }
    }

    /// A short label for logs and the ledger's `status`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Data { .. } => "bad_data",
            Error::Database { .. } => "database",
            Error::Connect { .. } => "connect",
            Error::S3 { .. } => "s3",
            Error::Read { .. } => "read",
            Error::Rejects { .. } => "rejects",
            Error::Deadline { .. } => "deadline",
            Error::Config(_) => "config",
            Error::Schema(_) => "schema",
            Error::Protocol { .. } => "protocol",
        }
    }
}

/// Deadlocks, serialization failures, lock timeouts, shutdowns and
/// resource exhaustion pass; data, constraint and permission errors do not.
fn is_retryable_sqlstate(code: &SqlState) -> bool {
    let c = code.code();
    c.starts_with("08") // connection exception
        || c.starts_with("53") // insufficient resources
        || c.starts_with("57P") // operator intervention: shutdown, cannot connect now
        || matches!(c, "40001" | "40P01" | "55P03" | "55006" | "58000" | "58030")
}

/// What a claim is doing, for its errors ([`Error::being_loaded_elsewhere`]).
pub const CLAIMING: &str = "claiming the object in load_ledger";

/// The server's message with its SQLSTATE, detail and hint, or the client's
/// own description when the error did not come from the server.
pub fn describe_pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                s.push_str(&format!(" (detail: {detail})"));
            }
            if let Some(hint) = db.hint() {
                s.push_str(&format!(" (hint: {hint})"));
            }
            s
        }
        None => error_chain(e),
    }
}

/// An error and its causes as one line of their own messages, e.g. "dispatch failure: io
/// error: client error (Connect): tcp connect error: Connection refused (os error 111)",
/// instead of a `Debug` dump (the AWS SDK's is a page of nested structs). A cause whose
/// message the line already ends with is not repeated.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    for cause in std::iter::successors(e.source(), |c| c.source()) {
        let text = cause.to_string();
        if !text.is_empty() && !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates() {
        assert!(is_retryable_sqlstate(&SqlState::T_R_DEADLOCK_DETECTED));
        assert!(is_retryable_sqlstate(&SqlState::T_R_SERIALIZATION_FAILURE));
        assert!(is_retryable_sqlstate(&SqlState::ADMIN_SHUTDOWN));
        assert!(is_retryable_sqlstate(&SqlState::CONNECTION_FAILURE));
        assert!(is_retryable_sqlstate(&SqlState::TOO_MANY_CONNECTIONS));
        assert!(!is_retryable_sqlstate(&SqlState::UNIQUE_VIOLATION));
        assert!(!is_retryable_sqlstate(
            &SqlState::INVALID_TEXT_REPRESENTATION
        ));
        assert!(!is_retryable_sqlstate(&SqlState::INSUFFICIENT_PRIVILEGE));
        assert!(!is_retryable_sqlstate(&SqlState::QUERY_CANCELED));
    }
}
