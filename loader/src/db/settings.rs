//! Where and how to connect: `DATABASE_URL` (a `postgres://` URL or
//! libpq's `key=value` form) or libpq's `PG*` variables.
//!
//! `sslmode` as in libpq: `disable`; `prefer` (TLS if offered, no checks);
//! `require` (TLS, no checks; with `sslrootcert` given it checks the chain,
//! as libpq does); `verify-ca` (chain checked against `sslrootcert`);
//! `verify-full` (chain and host name). `sslrootcert` is a PEM file (the RDS
//! CA bundle, say) or `system` for the operating system's store, which is
//! also the default for the verify modes when none is given. Both are
//! honoured alike in either form of `DATABASE_URL`: a setting is never
//! silently weakened.
//!
//! The password never appears in [`DbConfig::target`], logs or errors: it
//! is taken out of the string before anything else parses it.

use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode as PgSslMode};
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{describe_pg_error, Error, Result};

/// libpq's `sslmode`, all five values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, without checks.
    Prefer,
    /// TLS, without checks (unless a root certificate is given).
    Require,
    /// TLS, the chain checked.
    VerifyCa,
    /// TLS, the chain and the host name checked.
    VerifyFull,
}

impl SslMode {
    /// libpq's name for the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl FromStr for SslMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "disable" | "allow" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(Error::Config(format!(
                    "sslmode {other:?}: expected disable, prefer, require, verify-ca or verify-full"
                )))
            }
        })
    }
}

/// Where and how to connect.
#[derive(Clone)]
pub struct DbConfig {
    pg: tokio_postgres::Config,
    ssl_mode: SslMode,
    root_cert: Option<String>,
}

impl std::fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig")
            .field("target", &self.target())
            .field("ssl_mode", &self.ssl_mode)
            .finish()
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl DbConfig {
    /// `DATABASE_URL` when set, else libpq's `PG*` variables (`PGHOST`,
    /// `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`,
    /// `PGSSLROOTCERT`, `PGAPPNAME`, `PGCONNECT_TIMEOUT`) over libpq's
    /// defaults (localhost:5432, the OS user).
    ///
    /// # Errors
    /// A malformed URL or an unknown `sslmode`.
    pub fn from_env() -> Result<Self> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => Self::from_url(&url),
            _ => Self::from_pg_env(),
        }
    }

    /// `DATABASE_URL`'s two forms: a `postgres://user:password@host:port/db?sslmode=...`
    /// URL, or libpq's `host=... user=... sslmode=...` key=value string.
    /// `PGSSLMODE` and `PGSSLROOTCERT` apply when the string does not say.
    ///
    /// # Errors
    /// A malformed string, an unknown `sslmode`, client certificates, or
    /// credentials that cannot be told from the host (never quoted back).
    pub fn from_url(url: &str) -> Result<Self> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::from_uri(url)
        } else {
            Self::from_key_values(url)
        }
    }

    fn from_uri(url: &str) -> Result<Self> {
        let (scheme, rest) = url.split_once("://").expect("checked by the caller");
        // The host part never holds '@': credentials end at the last one. A
        // '/', '?' or '#' before it would make the split ambiguous (libpq
        // itself would cut the password there): refused, nothing quoted.
        let (credentials, location) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        if credentials.is_some_and(|c| c.contains(['/', '?', '#'])) {
            return Err(Error::Config(
                "DATABASE_URL: cannot tell the user name and password from the host: percent-encode \
                 '@', '/', '?' and '#' in them (%40, %2F, %3F, %23), or give the password in \
                 PGPASSWORD"
                    .into(),
            ));
        }
        let (base, query) = location.split_once('?').unwrap_or((location, ""));
        let mut ssl = SslSettings::from_env();
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if !ssl.take(k, percent_decode(v))? {
                kept.push(pair);
            }
        }
        let rebuilt = if kept.is_empty() {
            format!("{scheme}://{base}")
        } else {
            format!("{scheme}://{base}?{}", kept.join("&"))
        };
        let mut pg = tokio_postgres::Config::from_str(&rebuilt).map_err(|e| {
            Error::Config(format!("DATABASE_URL is not a valid postgres:// URL: {e}"))
        })?;
        if let Some(credentials) = credentials {
            let (user, password) = match credentials.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (credentials, None),
            };
            if !user.is_empty() {
                pg.user(percent_decode(user));
            }
            if let Some(password) = password {
                let password = percent_encoding::percent_decode_str(password).collect::<Vec<u8>>();
                pg.password(password);
            }
        }
        Self::finish(pg, ssl.mode, ssl.root_cert)
    }

    /// libpq's key=value form: `host=db.example port=5432 password='a b\'c'`.
    fn from_key_values(text: &str) -> Result<Self> {
        let pairs = parse_key_values(text)?;
        let mut ssl = SslSettings::from_env();
        let mut password = None;
        let mut kept = String::new();
        for (key, value) in pairs {
            if key == "password" {
                password = Some(value);
            } else if !ssl.take(&key, value.clone())? {
                let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
                kept.push_str(&format!("{key}='{quoted}' "));
            }
        }
        let mut pg = tokio_postgres::Config::from_str(kept.trim_end()).map_err(|e| {
            Error::Config(format!(
                "DATABASE_URL is not a valid key=value connection string: {e}"
            ))
        })?;
        if let Some(password) = password {
            pg.password(password);
        }
        Self::finish(pg, ssl.mode, ssl.root_cert)
    }

    fn from_pg_env() -> Result<Self> {
        let mut pg = tokio_postgres::Config::new();
        let host = env_nonempty("PGHOST").unwrap_or_else(|| "localhost".into());
        for h in host.split(',') {
            pg.host(h);
        }
        if let Some(port) = env_nonempty("PGPORT") {
            let port = port
                .parse::<u16>()
                .map_err(|_| Error::Config(format!("PGPORT {port:?} is not a port number")))?;
            pg.port(port);
        }
        let user = env_nonempty("PGUSER")
            .or_else(|| env_nonempty("USER"))
            .unwrap_or_else(|| "postgres".into());
        pg.user(&user);
        if let Some(pw) = env_nonempty("PGPASSWORD") {
            pg.password(pw);
        }
        pg.dbname(env_nonempty("PGDATABASE").unwrap_or(user));
        if let Some(secs) = env_nonempty("PGCONNECT_TIMEOUT").and_then(|s| s.parse().ok()) {
            pg.connect_timeout(Duration::from_secs(secs));
        }
        let ssl = SslSettings::from_env();
        Self::finish(pg, ssl.mode, ssl.root_cert)
    }

    fn finish(
        mut pg: tokio_postgres::Config,
        ssl_mode: Option<String>,
        root_cert: Option<String>,
    ) -> Result<Self> {
        let ssl_mode = match ssl_mode {
            Some(m) => m.parse()?,
            None => SslMode::Prefer,
        };
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(CONNECT_TIMEOUT);
        }
        if pg.get_application_name().is_none() {
            pg.application_name(
                env_nonempty("PGAPPNAME").unwrap_or_else(|| "s3-star-loader".into()),
            );
        }
        if pg.get_user().is_none() {
            pg.user(env_nonempty("PGUSER").unwrap_or_else(|| "postgres".into()));
        }
        if pg.get_hosts().is_empty() {
            pg.host("localhost");
        }
        pg.ssl_mode(match ssl_mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            _ => PgSslMode::Require,
        });
        Ok(DbConfig {
            pg,
            ssl_mode,
            root_cert,
        })
    }

    /// Replaces user and password (from Secrets Manager or an IAM token).
    pub fn set_credentials(&mut self, user: Option<&str>, password: &str) {
        if let Some(user) = user {
            self.pg.user(user);
        }
        self.pg.password(password);
    }

    /// Replaces host, port and database name.
    pub fn set_target(&mut self, host: Option<&str>, port: Option<u16>, dbname: Option<&str>) {
        if host.is_some() || port.is_some() {
            // Config can only append hosts and ports; rebuild it.
            self.pg = rebuild(&self.pg, host, port);
        }
        if let Some(db) = dbname {
            self.pg.dbname(db);
        }
    }

    /// The first host name, the user and the port (for IAM tokens).
    pub fn host_user_port(&self) -> (Option<String>, Option<String>, u16) {
        let host = self.pg.get_hosts().iter().find_map(|h| match h {
            Host::Tcp(name) => Some(name.clone()),
            #[allow(unreachable_patterns)]
            _ => None,
        });
        let port = self.pg.get_ports().first().copied().unwrap_or(5432);
        (host, self.pg.get_user().map(str::to_string), port)
    }

    /// Whether the settings hold a password (a flag on the command line
    /// with one is visible to every user of the machine).
    pub fn has_password(&self) -> bool {
        self.pg.get_password().is_some()
    }

    /// Refuses to send `what` (a Secrets Manager password, an RDS IAM
    /// token) to a server whose identity is not checked: only `verify-full`
    /// or `verify-ca` do, unless `allow_unverified` says the operator
    /// accepts that (`DATABASE_ALLOW_UNVERIFIED_TLS=true`).
    ///
    /// # Errors
    /// [`Error::Config`] saying what to set.
    pub fn require_verified_tls(&self, what: &str, allow_unverified: bool) -> Result<()> {
        if allow_unverified || matches!(self.ssl_mode, SslMode::VerifyFull | SslMode::VerifyCa) {
            return Ok(());
        }
        Err(Error::Config(format!(
            "{what}: the credentials would go to a server whose identity is not checked \
             (sslmode {}): set PGSSLMODE=verify-full and PGSSLROOTCERT to the CA bundle (the RDS \
             one in AWS), or DATABASE_ALLOW_UNVERIFIED_TLS=true to accept the risk",
            self.ssl_mode.as_str()
        )))
    }

    /// The TLS mode in effect.
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// `host:port/db as user` for messages. Never includes the password.
    pub fn target(&self) -> String {
        let hosts: Vec<String> = self
            .pg
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(name) => name.clone(),
                #[allow(unreachable_patterns)]
                other => format!("{other:?}"),
            })
            .collect();
        let port = self.pg.get_ports().first().copied().unwrap_or(5432);
        format!(
            "{}:{}/{} as {}",
            hosts.join(","),
            port,
            self.pg.get_dbname().unwrap_or("?"),
            self.pg.get_user().unwrap_or("?")
        )
    }

    /// The rustls configuration for this `sslmode` and `sslrootcert`.
    ///
    /// # Errors
    /// [`Error::Config`]: the root certificates cannot be read.
    pub fn tls_client_config(&self) -> Result<rustls::ClientConfig> {
        super::tls::client_config(self.ssl_mode, self.root_cert.as_deref())
    }

    /// Opens a connection and spawns its I/O task.
    ///
    /// # Errors
    /// [`Error::Connect`]: refused, timed out, authentication, TLS checks.
    pub async fn connect(&self) -> Result<Client> {
        let tls = MakeRustlsConnect::new(self.tls_client_config()?);
        let (client, connection) = self.pg.connect(tls).await.map_err(|e| {
            let retryable = e.as_db_error().is_none_or(|db| {
                let code = db.code().code();
                code.starts_with("57P") || code.starts_with("53") || code.starts_with("08")
            });
            Error::Connect {
                target: self.target(),
                message: describe_pg_error(&e),
                retryable,
            }
        })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %describe_pg_error(&e), "database connection ended");
            }
        });
        Ok(client)
    }
}

/// A copy of `old` with its hosts and/or ports replaced.
fn rebuild(
    old: &tokio_postgres::Config,
    host: Option<&str>,
    port: Option<u16>,
) -> tokio_postgres::Config {
    let mut pg = tokio_postgres::Config::new();
    match host {
        Some(h) => {
            pg.host(h);
        }
        None => {
            for h in old.get_hosts() {
                match h {
                    Host::Tcp(name) => pg.host(name),
                    #[cfg(unix)]
                    Host::Unix(path) => pg.host_path(path),
                };
            }
        }
    }
    match port {
        Some(p) => {
            pg.port(p);
        }
        None => {
            for p in old.get_ports() {
                pg.port(*p);
            }
        }
    }
    if let Some(u) = old.get_user() {
        pg.user(u);
    }
    if let Some(p) = old.get_password() {
        pg.password(p);
    }
    if let Some(d) = old.get_dbname() {
        pg.dbname(d);
    }
    if let Some(a) = old.get_application_name() {
        pg.application_name(a);
    }
    if let Some(t) = old.get_connect_timeout() {
        pg.connect_timeout(*t);
    }
    pg.ssl_mode(old.get_ssl_mode());
    pg
}

/// `sslmode` and `sslrootcert` as the connection string or `PG*` gives them.
struct SslSettings {
    mode: Option<String>,
    root_cert: Option<String>,
}

impl SslSettings {
    fn from_env() -> Self {
        SslSettings {
            mode: env_nonempty("PGSSLMODE"),
            root_cert: env_nonempty("PGSSLROOTCERT"),
        }
    }

    /// Takes a TLS setting of the connection string; false for any other.
    fn take(&mut self, key: &str, value: String) -> Result<bool> {
        match key {
            "sslmode" => self.mode = Some(value),
            "sslrootcert" => self.root_cert = Some(value),
            "sslcert" | "sslkey" => {
                return Err(Error::Config(
                    "client certificates (sslcert/sslkey) are not supported".into(),
                ))
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Splits libpq's key=value form: pairs separated by white space, `=`
/// optionally surrounded by it, a value bare or in single quotes, with `\`
/// escaping the next character in either.
fn parse_key_values(text: &str) -> Result<Vec<(String, String)>> {
    let malformed = |why: &str| {
        Error::Config(format!(
            "DATABASE_URL is neither a postgres:// URL nor a valid key=value string: {why}"
        ))
    };
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(malformed(&format!("{key:?} has no '='")));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => {
                        return Err(malformed(&format!(
                            "the value of {key} has no closing quote"
                        )))
                    }
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}
