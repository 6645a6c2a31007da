//! Connections: `DATABASE_URL` or libpq's `PG*` variables, TLS through
//! rustls with libpq's `sslmode` values, and a reconnecting holder.
//!
//! `sslmode` as in libpq: `disable`; `prefer` (TLS if offered, no checks);
//! `require` (TLS, no checks; with `sslrootcert` given it checks the chain,
//! as libpq does); `verify-ca` (chain checked against `sslrootcert`);
//! `verify-full` (chain and host name). `sslrootcert` is a PEM file (the RDS
//! CA bundle, say) or `system` for the operating system's store, which is
//! also the default for the verify modes when none is given.
//!
//! The password never appears in [`DbConfig::target`], logs or errors.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
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

    /// A `postgres://user:password@host:port/db?sslmode=...` URL. `PGSSLMODE`
    /// and `PGSSLROOTCERT` apply when the URL does not say.
    ///
    /// # Errors
    /// A malformed URL or an unknown `sslmode`.
    pub fn from_url(url: &str) -> Result<Self> {
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, q),
            None => (url, ""),
        };
        let mut ssl_mode = env_nonempty("PGSSLMODE");
        let mut root_cert = env_nonempty("PGSSLROOTCERT");
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "sslmode" => ssl_mode = Some(percent_decode(v)),
                "sslrootcert" => root_cert = Some(percent_decode(v)),
                "sslcert" | "sslkey" => {
                    return Err(Error::Config(
                        "client certificates (sslcert/sslkey) are not supported".into(),
                    ))
                }
                _ => kept.push(pair),
            }
        }
        let rebuilt = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let pg = tokio_postgres::Config::from_str(&rebuilt).map_err(|e| {
            // The parse error may quote the URL; say only what is wrong.
            Error::Config(format!("DATABASE_URL is not a valid postgres:// URL: {e}"))
        })?;
        Self::finish(pg, ssl_mode, root_cert)
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
        Self::finish(pg, env_nonempty("PGSSLMODE"), env_nonempty("PGSSLROOTCERT"))
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

    /// Opens a connection and spawns its I/O task.
    ///
    /// # Errors
    /// [`Error::Connect`]: refused, timed out, authentication, TLS checks.
    pub async fn connect(&self) -> Result<Client> {
        let tls = MakeRustlsConnect::new(self.tls_config()?);
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

    fn tls_config(&self) -> Result<ClientConfig> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS setup: {e}")))?;
        let verify = match self.ssl_mode {
            SslMode::VerifyFull => Some(true),
            SslMode::VerifyCa => Some(false),
            SslMode::Require if self.root_cert.is_some() => Some(false),
            _ => None,
        };
        let config = match verify {
            None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
                .with_no_client_auth(),
            Some(check_name) => {
                let roots = Arc::new(self.root_store()?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| Error::Config(format!("TLS root certificates: {e}")))?;
                if check_name {
                    builder.with_webpki_verifier(webpki).with_no_client_auth()
                } else {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
                        .with_no_client_auth()
                }
            }
        };
        Ok(config)
    }

    fn root_store(&self) -> Result<RootCertStore> {
        let mut store = RootCertStore::empty();
        match self.root_cert.as_deref() {
            None | Some("system") => {
                let found = rustls_native_certs::load_native_certs();
                for cert in found.certs {
                    let _ = store.add(cert);
                }
            }
            Some(path) => {
                let path = PathBuf::from(path);
                let pem = std::fs::read(&path)
                    .map_err(|e| Error::Config(format!("sslrootcert {}: {e}", path.display())))?;
                let mut reader = std::io::BufReader::new(&pem[..]);
                for cert in rustls_pemfile::certs(&mut reader) {
                    let cert = cert.map_err(|e| {
                        Error::Config(format!("sslrootcert {}: {e}", path.display()))
                    })?;
                    store.add(cert).map_err(|e| {
                        Error::Config(format!("sslrootcert {}: {e}", path.display()))
                    })?;
                }
            }
        }
        if store.is_empty() {
            return Err(Error::Config(
                "sslrootcert: no CA certificates found to verify the server with".into(),
            ));
        }
        Ok(store)
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

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// `require` and `prefer` without a root certificate: encrypted, but the
/// server's identity is not checked (libpq's behaviour). Handshake
/// signatures are still verified, so the session key belongs to whoever
/// holds the presented certificate.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name may differ.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A connection that is opened on first use and replaced when broken.
pub struct Db {
    config: DbConfig,
    client: Option<Client>,
    iam: Option<crate::auth::IamAuth>,
}

impl Db {
    /// Not connected yet; see [`Db::client`].
    pub fn new(config: DbConfig) -> Self {
        Db {
            config,
            client: None,
            iam: None,
        }
    }

    /// Authenticates every new connection with a fresh RDS IAM token.
    pub fn with_iam_auth(mut self, iam: crate::auth::IamAuth) -> Self {
        self.iam = Some(iam);
        self
    }

    /// The settings.
    pub fn config(&self) -> &DbConfig {
        &self.config
    }

    /// Mutable settings (credentials refreshed); the next use reconnects.
    pub fn config_mut(&mut self) -> &mut DbConfig {
        self.client = None;
        &mut self.config
    }

    /// The open connection, connecting first when there is none or it broke.
    ///
    /// # Errors
    /// [`Error::Connect`].
    pub async fn client(&mut self) -> Result<&mut Client> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            if let Some(iam) = &self.iam {
                let (host, user, port) = self.config.host_user_port();
                let (Some(host), Some(user)) = (host, user) else {
                    return Err(Error::Config(
                        "IAM authentication needs a host name and a user".into(),
                    ));
                };
                let token = iam.token(&host, port, &user).await?;
                self.config.set_credentials(None, &token);
            }
            self.client = Some(self.config.connect().await?);
        }
        Ok(self.client.as_mut().expect("set just above"))
    }

    /// Drops the connection so the next use opens a new one.
    pub fn reset(&mut self) {
        self.client = None;
    }

    /// Asks the server to cancel whatever the connection is running, then
    /// drops it: used when a load is abandoned mid-statement (deadline), so
    /// its transaction rolls back now rather than when the server next
    /// notices the closed socket.
    pub async fn cancel_and_reset(&mut self) {
        if let Some(client) = self.client.take() {
            let token = client.cancel_token();
            drop(client);
            if let Ok(tls) = self.config.tls_config() {
                let cancel = token.cancel_query(MakeRustlsConnect::new(tls));
                let _ = tokio::time::timeout(Duration::from_secs(2), cancel).await;
            }
        }
    }
}
